# Shared by the Linux guest suites: results file, the /dev/kvm check, the guest build.
# A suite sets SUITE and TESTS, then sources this file; afterwards $dir holds the guest.
cd "$(dirname "$0")/../.."
VMON=${VMON_BUILD:-build}/vmon
LOGDIR=${VMON_TEST_LOGS:-build/test-logs}
RESULTS=$LOGDIR/$SUITE.results
KVM_DEV=${VMON_KVM_DEV:-/dev/kvm}
mkdir -p "$LOGDIR"
: > "$RESULTS"

result() { echo "$1: $2" >> "$RESULTS"; echo "$1: $2${3:+ ($3)}"; }

# wait_for FILE PATTERN PID: until FILE shows PATTERN, PID exits, or 5 minutes pass.
wait_for() {
	for _ in $(seq 1 600); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
all_results() { for t in "${TESTS[@]}"; do result "$1" "$t" "$2"; done; }
# ---- for the suites that drive several VMMs (snapshot, migration) ----------------------------
# api SOCKET METHOD PATH [BODY]: prints the HTTP status; the body lands in $work/body.
api() {
	curl -s --max-time 60 --unix-socket "$1" -o "$work/body" -w '%{http_code}' -X "$2" \
		${4:+-H 'Content-Type: application/json' --data-binary "$4"} "http://localhost$3"
}
wait_sock() { for _ in $(seq 1 100); do [ -S "$1" ] && return 0; sleep 0.1; done; return 1; }
# The highest and the first tick-N on a console log.
last_tick() { grep -ao 'tick-[0-9]*' "$1" | tail -n 1 | cut -d- -f2; }
first_tick() { grep -ao 'tick-[0-9]*' "$1" | head -n 1 | cut -d- -f2; }
# wait_tick LOG N PID: until the console shows a tick of N or more (PID still alive).
wait_tick() {
	for _ in $(seq 1 240); do
		local t
		t=$(last_tick "$1")
		[ -n "$t" ] && [ "$t" -ge "$2" ] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
# need_kvm: unless KVM opens for real (not just test permissions: KVM may refuse, e.g.
# inside some containers), every result is SKIP and the suite ends.
need_kvm() {
	if ! [ -c "$KVM_DEV" ] || ! { exec 9<>"$KVM_DEV"; } 2>/dev/null; then
		all_results SKIP "cannot open $KVM_DEV"
		exit 0
	fi
	exec 9>&-
}
# need_guest FILE: a freestanding test guest, or every result is FAIL and the suite ends.
need_guest() { [ -f "$1" ] || { all_results FAIL "$1 missing (make guests)"; exit 0; }; }
# A suite that needs neither KVM nor the Linux guest sets LIB_NO_GUEST=1.
[ -n "${LIB_NO_GUEST:-}" ] && return 0

need_kvm
echo "building the Linux test guest (cached after the first build)..."
if ! dir=$(guest/linux/build.sh 2> "$LOGDIR/guest-build.log" | tail -n 1) || [ ! -f "$dir/.done" ]; then
	tail -n 20 "$LOGDIR/guest-build.log"
	all_results FAIL "guest build failed, see $LOGDIR/guest-build.log"
	exit 0
fi
