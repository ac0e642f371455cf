#!/usr/bin/env bash
# fetch.sh installs the real FTP peers that the interop and netns suites run.
#
# Clients and tools (lftp, curl, nftables, iproute2, python3) and the shared
# libraries the ftpds link against are installed with apt. The ftpds
# themselves (vsftpd, pure-ftpd, proftpd) conflict with each other in apt and
# a normal install starts a daemon on port 21, so they are only downloaded
# and unpacked with `dpkg -x`, each into its own folder under
# tests/.cache/peers/<package>; nothing under /etc is touched.
#
# Idempotent: a second run installs nothing and only prints the versions.
# Needs root (apt-get install). Used by .ci/run and by developers alike.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$(cd "$here/.." && pwd)/.cache/peers"
mkdir -p "$cache/debs"

# Tools the suites run, plus the libraries the unpacked ftpds need at run
# time (from the Depends of vsftpd, pure-ftpd, proftpd-core and
# proftpd-mod-crypto in Debian 12).
tools=(lftp curl nftables iproute2 python3 coreutils procps ffmpeg chromium
	python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
	gstreamer1.0-plugins-good gstreamer1.0-tools
	prometheus) # prometheus for promtool (check metrics) only
libs=(libc6 libcap2 libpam0g libpam-modules libssl3 libwrap0 libsodium23
	libcrypt1 libacl1 libhiredis0.14 libidn2-0 libmemcached11
	libmemcachedutil2 libncursesw6 libpcre2-8-0 libpcre2-posix3 libtinfo6
	zlib1g)
# Unpacked only, never installed.
ftpds=(vsftpd pure-ftpd pure-ftpd-common proftpd-core proftpd-mod-crypto)

export DEBIAN_FRONTEND=noninteractive

# candidates prints "package version" for each argument, from one
# apt-cache call ("(none)" or nothing when apt does not know it).
candidates() {
	apt-cache policy "$@" 2>/dev/null | awk '
		/^[^ ].*:$/ { sub(/:$/, ""); pkg = $0 }
		/^  Candidate:/ { print pkg, $2 }'
}
candidate() { awk -v p="$1" '$1 == p { print $2 }' <<<"$cands"; }

# apt-get update only when the package lists do not know one of our packages.
all=("${tools[@]}" "${libs[@]}" "${ftpds[@]}")
cands="$(candidates "${all[@]}")"
for p in "${all[@]}"; do
	c="$(candidate "$p")"
	if [ -z "$c" ] || [ "$c" = "(none)" ]; then
		echo "fetch.sh: apt-get update ($p unknown)"
		apt-get update -qq
		cands="$(candidates "${all[@]}")"
		break
	fi
done

# Install what dpkg does not list as installed, in one apt-get call.
missing=()
status="$(dpkg-query -W -f='${Package} ${Status}\n' "${tools[@]}" "${libs[@]}" 2>/dev/null || true)"
for p in "${tools[@]}" "${libs[@]}"; do
	grep -q "^$p install ok installed$" <<<"$status" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "fetch.sh: apt-get install ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "fetch.sh: tools and libraries already installed"
fi

# Download and unpack each ftpd at the candidate version; a stamp file per
# package records what is unpacked, so a rerun does nothing.
for p in "${ftpds[@]}"; do
	ver="$(candidate "$p")"
	stamp="$cache/$p/.version"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then
		continue
	fi
	echo "fetch.sh: download and unpack $p $ver"
	rm -rf "${cache:?}/$p"
	# Stale package lists name versions the mirror no longer has: update
	# once and retry with the new candidate.
	if ! (cd "$cache/debs" && rm -f "${p}"_*.deb && apt-get download -qq -o APT::Sandbox::User=root "$p=$ver"); then
		echo "fetch.sh: download of $p $ver failed; apt-get update and retry"
		apt-get update -qq
		cands="$(candidates "${all[@]}")"
		ver="$(candidate "$p")"
		(cd "$cache/debs" && apt-get download -qq -o APT::Sandbox::User=root "$p=$ver")
	fi
	deb="$(ls "$cache/debs/${p}"_*.deb | head -n1)"
	mkdir -p "$cache/$p"
	dpkg -x "$deb" "$cache/$p"
	printf '%s\n' "$ver" >"$stamp"
done

# The binaries the Go harness (tests/peers) looks for.
for b in vsftpd/usr/sbin/vsftpd pure-ftpd/usr/sbin/pure-ftpd proftpd-core/usr/sbin/proftpd; do
	if [ ! -x "$cache/$b" ]; then
		echo "fetch.sh: missing $cache/$b after unpacking" >&2
		exit 1
	fi
done
# proftpd's TLS module (the FTPS suite loads it with ModulePath).
if [ ! -f "$cache/proftpd-mod-crypto/usr/lib/proftpd/mod_tls.so" ]; then
	echo "fetch.sh: missing $cache/proftpd-mod-crypto/usr/lib/proftpd/mod_tls.so after unpacking" >&2
	exit 1
fi

echo "fetch.sh: peers in $cache"
for p in "${ftpds[@]}"; do
	printf '  %-20s %s (unpacked)\n' "$p" "$(cat "$cache/$p/.version")"
done
for p in "${tools[@]}"; do
	printf '  %-20s %s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p")"
done
printf '  %-20s %s\n' "python3 (PATH)" "$(command -v python3) $(python3 --version 2>&1)"
