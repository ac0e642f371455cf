#!/bin/bash
# Build the cacheable artefacts of the IPVS test VM under tests/.cache/vm
# (gitignored):
#   out/vmlinuz        Debian kernel (what linux-image-amd64 depends on)
#   out/vmlinux        the same kernel, decompressed ELF (PVH boot, ~3 s faster under TCG)
#   out/base.cpio      busybox + ip_vs/netfilter modules + ipvsadm/nft/ip + /init
# The test binary is not in base.cpio: run.sh appends it as a second cpio
# segment per run, so base.cpio only changes with this script or init.sh.
#
# Needs a Debian host with apt-get update done (setup.sh installs qemu and
# cpio). Nothing is installed on the host: apt-get download + dpkg -x only.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IPVSVM_CACHE:-$HERE/../.cache/vm}   # debs + extracted trees (key: package versions)
mkdir -p "$CACHE"; CACHE=$(cd "$CACHE" && pwd)
OUT=$CACHE/out
STAGE=$CACHE/initramfs
mkdir -p "$CACHE/debs" "$OUT"

# Kernel package the linux-image-amd64 metapackage currently points at
# (override with KPKG=linux-image-6.1.0-NN-amd64 to pin).
KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')}
KVER=${KPKG#linux-image-}
# Modules to load in the guest; their modules.dep closure is copied.
MODS=${MODS:-"crc32c_generic ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_mh ip_vs_fo ip_vs_ovf ipip nf_conntrack nf_nat nf_tables nft_ct nft_nat nft_masq nft_chain_nat veth bridge"}
# Guest userspace (dynamically linked; libs resolved from the same debs).
USERPKGS="busybox-static ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0
 nftables libnftables1 libnftnl11 libjansson4 libedit2 libgmp10 libxtables12 libmnl0 libbsd0 libmd0 libtinfo6
 iproute2 libbpf1 libelf1 libcap2 libdb5.3 libselinux1 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1 libpcre2-8-0 zlib1g libc6"

# Cache key: the kernel package, the module list and the two scripts.
KEY=$(printf '%s\n' "$KPKG" "$MODS" | cat - "$HERE/build.sh" "$HERE/init.sh" | sha256sum | cut -c1-16)
if [ -z "${FORCE:-}" ] && [ -f "$OUT/key" ] && [ "$(cat "$OUT/key")" = "$KEY" ] && [ -f "$OUT/vmlinux" ] && [ -f "$OUT/base.cpio" ]; then
  echo "== up to date ($KEY): $OUT"; exit 0
fi
echo "== kernel package: $KPKG"
cd "$CACHE/debs"
need=""
for p in $KPKG $USERPKGS; do ls ${p}_*.deb >/dev/null 2>&1 || need="$need $p"; done
[ -z "$need" ] || apt-get download $need 2>&1 | grep -v '^W: Download is performed unsandboxed' || true

# --- kernel + full modules tree (cached) --------------------------------------
KROOT=$CACHE/kroot-$KVER
BB=$CACHE/sysroot/bin/busybox
if [ ! -d "$KROOT" ]; then
  dpkg -x ${KPKG}_*.deb "$KROOT.tmp" && mv "$KROOT.tmp" "$KROOT"
fi
# --- userspace sysroot (cached) -----------------------------------------------
if [ ! -x "$BB" ]; then
  rm -rf "$CACHE/sysroot"; mkdir -p "$CACHE/sysroot"
  for p in $USERPKGS; do dpkg -x ${p}_*.deb "$CACHE/sysroot"; done
fi
# No kmod on the host: busybox depmod generates modules.dep for the full tree.
[ -f "$KROOT/lib/modules/$KVER/modules.dep" ] || "$BB" depmod -b "$KROOT" "$KVER"
cp "$KROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
# Pre-decompress the bzImage (xz) into the ELF vmlinux: qemu boots it directly via
# the PVH entry point (CONFIG_PVH=y), saving ~3 s of xz decompression under TCG.
off=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$OUT/vmlinuz" | cut -d: -f1 | sed -n 1p)
(tail -c +$((off+1)) "$OUT/vmlinuz" || true) | xz -dc --single-stream > "$OUT/vmlinux"

# --- stage initramfs ----------------------------------------------------------
rm -rf "$STAGE"; mkdir -p "$STAGE"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/x86_64-linux-gnu,lib64}
cp "$BB" "$STAGE/bin/busybox"
MD=$KROOT/lib/modules/$KVER
dst=$STAGE/lib/modules/$KVER
mkdir -p "$dst"
declare -A seen=()
for m in $MODS; do
  line=$(grep -E "(^|/)$m\.ko:" "$MD/modules.dep") || { echo "module $m not found" >&2; exit 1; }
  for f in ${line/:/}; do
    [ -n "${seen[$f]:-}" ] && continue; seen[$f]=1
    mkdir -p "$dst/$(dirname "$f")"; cp "$MD/$f" "$dst/$f"
  done
done
cp "$MD/modules.builtin" "$MD/modules.order" "$dst/"
"$BB" depmod -b "$STAGE" "$KVER"
echo "== ${#seen[@]} modules staged"

# Userspace binaries + recursive NEEDED libs, resolved inside the sysroot only.
SR=$CACHE/sysroot
libdirs="$SR/lib/x86_64-linux-gnu $SR/usr/lib/x86_64-linux-gnu"
declare -A libseen=()
copylibs() {
  local n p d
  for n in $(readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -n "${libseen[$n]:-}" ] && continue; libseen[$n]=1
    p=""; for d in $libdirs; do [ -e "$d/$n" ] && { p=$d/$n; break; }; done
    [ -n "$p" ] || { echo "missing lib $n for $1" >&2; exit 1; }
    cp -L "$p" "$STAGE/lib/x86_64-linux-gnu/$n"; copylibs "$p"
  done
}
for b in sbin/ipvsadm usr/sbin/nft bin/ip; do
  cp "$SR/$b" "$STAGE/sbin/"; copylibs "$SR/$b"
done
cp -L "$SR/lib64/ld-linux-x86-64.so.2" "$STAGE/lib64/"
install -m 0755 "$HERE/init.sh" "$STAGE/init"

# Byte-reproducible archive (fixed mtimes, no inode numbers) so it can be a cache key.
find "$STAGE" -exec touch -h -d @0 {} +
( cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --reproducible --quiet ) > "$OUT/base.cpio"
# Left uncompressed: unpacking gzip under TCG costs ~0.3 s, 6 MB of disk does not.
# A cpio appended after a compressed one must start 4-byte aligned ("Initramfs
# unpacking failed: invalid magic" otherwise); the kernel skips zero padding.
truncate -s %512 "$OUT/base.cpio"
ls -la "$OUT/vmlinuz" "$OUT/vmlinux" "$OUT/base.cpio"
du -sh "$STAGE"
echo "$KEY" > "$OUT/key"
