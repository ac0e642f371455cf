#!/bin/bash
# go test -exec adapter: boots the IPVS VM, runs the test binary (which
# must be static: CGO_ENABLED=0) inside, prints the test's own output and
# exits with its status. From the repository root:
#   CGO_ENABLED=0 go test -tags ipvsvm -exec "$PWD/tests/vm/go-exec.sh" ./pool/ipvs
HERE=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp /tmp/ipvsvm-exec.XXXXXX)
bin=$(mktemp -d /tmp/ipvsvm-algd.XXXXXX)
trap 'rm -rf "$log" "$bin"' EXIT
# The scale-out test runs algd itself in the guest's namespaces: a static
# build of this tree's cmd/algd goes in as /algd.
( cd "$HERE/../.." && CGO_ENABLED=0 go build -o "$bin/algd" ./cmd/algd ) || { echo "ipvsvm: go build ./cmd/algd failed" >&2; exit 1; }
EXTRA="$bin/algd" QUIET=1 LOG=$log "$HERE/run.sh" "$@"
out=$(tr -d '\r' < "$log")
rc=$(sed -n 's/^IPVSVM-TEST-END rc=\([0-9]*\).*/\1/p' <<<"$out")
if [ -z "$rc" ]; then
  echo "ipvsvm: the guest reported no test result; console:" >&2
  cat <<<"$out" >&2
  exit 1
fi
sed -n '/^IPVSVM-TEST-BEGIN$/,/^IPVSVM-TEST-END/{/^IPVSVM-TEST-/d;p}' <<<"$out"
exit "$rc"
