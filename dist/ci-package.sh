#!/usr/bin/env bash
# dist/ci-package.sh: CI's package stage. Builds the Debian package with
# dist/mkdeb, installs it with dpkg, runs the installed algd (check on the
# shipped /etc/algd/algd.toml, version, -h), renders both man pages with
# man -l, runs lintian when apt can install it, then purges the package.
#
# It changes the system only while it runs: at the end (also on failure)
# it purges the package, so a developer machine is left as it was
# (lintian, once installed, stays). Run as root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=$(mktemp -d /tmp/algd-deb.XXXXXX)
if dpkg-query -W -f='${Status}' algd 2>/dev/null | grep -q installed; then
	echo "ci-package: an algd package is installed already; not touching it" >&2
	exit 1
fi

cleanup() {
	local rc=$?
	dpkg --purge algd >/dev/null 2>&1 || true
	rm -rf "$out"
	exit "$rc"
}
trap cleanup EXIT

deb=$(go run ./dist/mkdeb -o "$out")
echo "built $deb"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"

dpkg -i "$deb"
dpkg-query -W -f='${Package} ${Version} ${Status}\n' algd
cat /var/lib/dpkg/info/algd.conffiles

/usr/bin/algd check -c /etc/algd/algd.toml
v=$(/usr/bin/algd version)
echo "$v"
case $v in
"algd dev"*)
	echo "ci-package: algd version prints dev" >&2
	exit 1
	;;
"algd $(dpkg-query -W -f='${Version}' algd) ("*) ;;
*)
	echo "ci-package: algd version does not name the package version" >&2
	exit 1
	;;
esac
/usr/bin/algd check -h >/dev/null

if command -v man >/dev/null; then
	for page in /usr/share/man/man8/algd.8.gz /usr/share/man/man5/algd.toml.5.gz; do
		# -ww: groff warnings to stderr; a page that does not render fails.
		warn=$(MANROFFOPT=-ww MANWIDTH=80 man -l "$page" 2>&1 >/dev/null)
		if [ -n "$warn" ]; then
			echo "ci-package: man -l $page warns:" >&2
			echo "$warn" >&2
			exit 1
		fi
		MANWIDTH=80 man -l "$page" | head -5
	done
else
	echo "ci-package: man is not installed; man pages not rendered"
fi

if ! command -v lintian >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends lintian >/dev/null ||
		echo "ci-package: lintian could not be installed"
fi
if command -v lintian >/dev/null; then
	# --fail-on warning: an error or a warning fails the stage.
	lintian --pedantic -E --tag-display-limit 0 --fail-on error,warning "$deb"
	echo "lintian: clean at warning level"
fi

dpkg --purge algd
if [ -e /usr/bin/algd ] || [ -e /etc/algd/algd.toml ]; then
	echo "ci-package: files left after dpkg --purge" >&2
	exit 1
fi
echo "ci-package: passed"
