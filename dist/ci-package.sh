#!/usr/bin/env bash
# dist/ci-package.sh: CI's package stage. Builds the Debian package with
# dist/mkdeb, installs it with dpkg, runs the installed algd (check on the
# shipped /etc/algd/algd.toml, version, -h), renders both man pages with
# man -l, runs lintian when apt can install it, then purges the package.
#
# It changes the system while it runs (the package, and the algd system
# user its postinst creates); at the end it purges the package and, unless
# ALGD_KEEP_USER=1, deletes the algd user when this run created it, so a
# developer machine is left as it was (lintian, once installed, stays).
# Run as root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=$(mktemp -d /tmp/algd-deb.XXXXXX)
user_existed=0
getent passwd algd >/dev/null && user_existed=1
if dpkg-query -W -f='${Status}' algd 2>/dev/null | grep -q installed; then
	echo "ci-package: an algd package is installed already; not touching it" >&2
	exit 1
fi

cleanup() {
	local rc=$?
	dpkg --purge algd >/dev/null 2>&1 || true
	if [ "$user_existed" = 0 ] && [ "${ALGD_KEEP_USER:-0}" != 1 ] && getent passwd algd >/dev/null; then
		userdel algd 2>/dev/null || true
		getent group algd >/dev/null && groupdel algd 2>/dev/null || true
	fi
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
getent passwd algd

/usr/sbin/algd check -c /etc/algd/algd.toml
v=$(/usr/sbin/algd version)
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
/usr/sbin/algd check -h >/dev/null

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
if [ -e /usr/sbin/algd ] || [ -e /etc/algd/algd.toml ]; then
	echo "ci-package: files left after dpkg --purge" >&2
	exit 1
fi
echo "ci-package: passed"
