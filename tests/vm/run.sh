#!/bin/bash
# Boot the IPVS test VM (tests/.cache/vm/out, made by build.sh) with a
# static test binary appended as a second cpio segment, and exit 0 iff the
# guest prints IPVSVM-RESULT: PASS.
#
#   tests/vm/run.sh path/to/static-test-binary [test args...]
# env: MEM=512M SMP=2 TIMEOUT=300 LOG=<cache>/out/console.log QUIET=1 (no console echo)
#      EXTRA="file..." more files for the guest's / (static binaries such as algd)
# TCG only: KVM on these hosts is PVM-only and the stock kernel hangs under it.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IPVSVM_CACHE:-$HERE/../.cache/vm}
OUT=$CACHE/out
MEM=${MEM:-512M}; SMP=${SMP:-2}; TIMEOUT=${TIMEOUT:-300}
LOG=${LOG:-$OUT/console.log}
[ -f "$OUT/vmlinux" ] && [ -f "$OUT/base.cpio" ] || { echo "run.sh: no VM image: run tests/vm/build.sh" >&2; exit 2; }
[ $# -ge 1 ] || { echo "usage: run.sh static-test-binary [args...]" >&2; exit 2; }
WORK=$(mktemp -d /tmp/ipvsvm.XXXXXX); trap 'rm -rf "$WORK"' EXIT

bin=$1; shift
mkdir -p "$WORK/seg"; cp "$bin" "$WORK/seg/ipvs.test"; chmod 755 "$WORK/seg/ipvs.test"
for f in ${EXTRA:-}; do cp "$f" "$WORK/seg/"; done
# Arguments with spaces are not kept (the guest splits on blanks).
[ $# -ge 1 ] && echo "$*" > "$WORK/seg/ipvs.test.args"
# The kernel unpacks concatenated cpio archives in order (base.cpio is
# padded to 512 bytes so this one starts aligned).
( cd "$WORK/seg" && find . | cpio -o -H newc --owner=0:0 --quiet ) > "$WORK/test.cpio"
cat "$OUT/base.cpio" "$WORK/test.cpio" > "$WORK/initrd"

start=$(date +%s%N)
timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -M q35 \
  -smp "$SMP" -m "$MEM" -nographic -no-reboot -nodefaults -serial stdio -display none -net none \
  -kernel "$OUT/vmlinux" -initrd "$WORK/initrd" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off tsc=reliable" \
  </dev/null >"$LOG" 2>&1
rc=$?
end=$(date +%s%N)
if [ -z "${QUIET:-}" ]; then
  tr -d '\r' < "$LOG" | grep -vE '^\s*$' | sed 's/^/  | /'
  echo "qemu rc=$rc wall=$(( (end - start) / 1000000 ))ms"
fi
grep -q 'IPVSVM-RESULT: PASS' "$LOG"
