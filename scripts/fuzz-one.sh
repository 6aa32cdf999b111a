#!/bin/sh
# fuzz-one.sh PACKAGE TARGET FUZZTIME: fuzzes one target for FUZZTIME (make fuzz).
#
# Go 1.26's fuzzing coordinator can end a run at its -fuzztime deadline with
# a bare "context deadline exceeded" and a non-zero exit, having found
# nothing (golang/go#75804, fixed in Go 1.27): a race of its own deadline
# with a busy worker. Such a run (no failing input written) is run once
# more; a finding, or any other failure, fails at once.
set -u
go=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
attempt=1
while :; do
	if "$go" test -run '^$' -fuzz "^$2\$" -fuzztime "$3" -fuzzminimizetime 2s "$1" >"$out" 2>&1; then
		cat "$out"
		exit 0
	fi
	cat "$out"
	if [ "$attempt" -ge 2 ] || grep -q "Failing input written" "$out" || ! grep -q "context deadline exceeded" "$out"; then
		exit 1
	fi
	echo "fuzz-one: $2 ended at its -fuzztime deadline without a finding (Go's coordinator race, golang/go#75804): running it once more"
	attempt=$((attempt + 1))
done
