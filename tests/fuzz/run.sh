#!/bin/bash
# Run each libFuzzer harness for SECONDS from its seed corpus (new inputs go to a scratch
# corpus, not into the repo). Prints "PASS: fuzz/<target> (N runs)" or "FAIL: ..." with the
# crashing input kept under build-fuzz/crashes/.
#   tests/fuzz/run.sh SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=$1
shift
mkdir -p build-fuzz/crashes
status=0
for t in "$@"; do
	bin=build-fuzz/fuzz_$t
	scratch=$(mktemp -d)
	log=build-fuzz/fuzz_$t.log
	if [ ! -x "$bin" ]; then
		echo "FAIL: fuzz/$t (not built: make fuzz-build)"
		status=1
		continue
	fi
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix=build-fuzz/crashes/"$t"- \
		"$scratch" tests/fuzz/corpus/"$t" > "$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" = 0 ]; then
		echo "PASS: fuzz/$t (${runs:-?} runs in ${secs} s, corpus $(ls "$scratch" | wc -l) new inputs)"
	else
		echo "FAIL: fuzz/$t (status $rc after ${runs:-?} runs: $(grep -m1 -E 'ERROR|runtime error|deadly' "$log"); see $log)"
		status=1
	fi
	rm -rf "$scratch"
done
exit $status
