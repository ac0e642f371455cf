#!/bin/busybox sh
# PID 1 of the IPVS test guest (tests/vm). It loads IPVS and netfilter,
# runs /ipvs.test (appended by run.sh) with the arguments in
# /ipvs.test.args and reports on the serial console:
#   IPVSVM-TEST-BEGIN ... IPVSVM-TEST-END rc=N, then IPVSVM-RESULT: PASS|FAIL.
# Every exit path powers the guest off.
/bin/busybox mkdir -p /usr/bin /usr/sbin /proc /sys /dev /run /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/tmp TMPDIR=/tmp
# The kernel loads schedulers and nft expressions on demand through this.
echo /sbin/modprobe > /proc/sys/kernel/modprobe

fails=0
finish() {
  if [ $fails -eq 0 ]; then echo "IPVSVM-RESULT: PASS"; else echo "IPVSVM-RESULT: FAIL ($fails)"; fi
  sync; poweroff -f; sleep 5; echo o > /proc/sysrq-trigger
}
trap finish EXIT

echo "IPVSVM-BOOT uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
# libcrc32c only soft-depends on crc32c, which busybox modprobe ignores:
# load crc32c_generic first.
for m in crc32c_generic ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh ip_vs_wlc nf_conntrack nf_tables veth bridge ipip; do
  modprobe $m || { echo "IPVSVM-STEP modprobe-$m FAIL"; fails=$((fails+1)); }
done
# With lo down the root namespace has no local IPv4 address, and the kernel
# refuses IPv4 destinations with EINVAL ("address not unicast").
/sbin/ip link set lo up

if [ ! -x /ipvs.test ]; then
  echo "IPVSVM: no /ipvs.test appended"; fails=1; exit 1
fi
ARGS="-test.v"; [ -f /ipvs.test.args ] && ARGS=$(cat /ipvs.test.args)
echo "IPVSVM-TEST-BEGIN"
cd /tmp && /ipvs.test $ARGS; trc=$?
echo "IPVSVM-TEST-END rc=$trc"
[ $trc = 0 ] || fails=$((fails+1))
exit 0
