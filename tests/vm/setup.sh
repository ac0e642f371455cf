#!/bin/bash
# Install what the IPVS test VM needs on a Debian host (qemu, cpio, xz,
# readelf) and build its image into tests/.cache/vm. Idempotent; the image
# is rebuilt only when the kernel package or the scripts change.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
command -v cpio >/dev/null || need="$need cpio"
command -v xz >/dev/null || need="$need xz-utils"
command -v readelf >/dev/null || need="$need binutils"
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
apt-cache depends linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
"$HERE/build.sh"
