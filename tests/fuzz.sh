#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target of the module for a while each
# (default 10s; FUZZTIME overrides). New crashers are written by go test
# under the package's testdata/fuzz and fail the run; kept crashers there
# are replayed by plain `go test` as regression cases.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime="${FUZZTIME:-10s}"
n=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target ($fuzztime)"
		# The fuzz engine itself sometimes fails a run with "context
		# deadline exceeded" when its time runs out mid-input; that writes
		# no crasher ("Failing input written to"), so such a run is tried
		# once more. A real crasher always fails.
		run() { go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "$pkg" >/tmp/fuzz.$$.out 2>&1; }
		run || { ! grep -q 'Failing input written to' /tmp/fuzz.$$.out && grep -q 'context deadline exceeded' /tmp/fuzz.$$.out && echo "fuzz: $target: engine deadline, no crasher; once more" && run; } || {
			cat /tmp/fuzz.$$.out
			rm -f /tmp/fuzz.$$.out
			echo "fuzz: $pkg $target FAILED"
			exit 1
		}
		n=$((n + 1))
	done
done
rm -f /tmp/fuzz.$$.out
echo "fuzz: $n targets, $fuzztime each, no crasher"
