#!/bin/bash
# Where the VM's threads run: --cpus N,affinity=, --vcpu-affinity and --io-affinity pin the
# vCPU threads (named vcpuN) and the I/O thread (vmon-io), as /proc/PID/task/TID/status
# shows in Cpus_allowed_list. The guest is exitloop.elf (its BSP loops at CPL3; a second
# vCPU waits for a SIPI that never comes, but its thread is there to be pinned).
set -uo pipefail
SUITE=sched
TESTS=(sched/affinity-per-vcpu sched/affinity-all-vcpus sched/affinity-bad-cpu sched/affinity-api sched/affinity-restore sched/cpu-weight sched/cpu-max)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"

GUEST=${VMON_BUILD:-build}/tests/guest/exitloop.elf
need_kvm
need_guest "$GUEST"
pid=
work=$(mktemp -d)
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$work"' EXIT

# allowed PID NAME: the Cpus_allowed_list of PID's thread called NAME.
allowed() {
	local t
	for t in /proc/$1/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$2" ] &&
			awk '/^Cpus_allowed_list:/ {print $2}' "$t/status" && return
	done
	echo none
}
# pinned TEST WANT VMON_ARGS...: WANT is "vcpu0=LIST vcpu1=LIST vmon-io=LIST".
pinned() {
	local name=$1 want=$2 got="" t
	shift 2
	"$VMON" run --testdev --memory 16M --console none --net none --kernel "$GUEST" \
		--cmdline count=1000000000 "$@" > "$LOGDIR/$name.log" 2>&1 < /dev/null &
	pid=$!
	for _ in $(seq 1 50); do [ "$(allowed $pid vcpu0)" != none ] && break; sleep 0.1; done
	sleep 0.2
	for t in $want; do got+="${t%%=*}=$(allowed $pid "${t%%=*}") "; done
	kill -9 $pid; wait $pid 2>/dev/null; pid=
	if [ "$got" = "$want " ]; then
		result PASS "sched/$name" "$got"
	else
		result FAIL "sched/$name" "got $got, want $want; see $LOGDIR/$name.log"
	fi
}

ncpu=$(nproc)
if [ "$ncpu" -lt 2 ]; then
	all_results SKIP "needs 2 host CPUs, this process may use $ncpu"
	exit 0
fi
pinned affinity-per-vcpu "vcpu0=1 vcpu1=0-1 vmon-io=0" \
	--cpus 2 --vcpu-affinity 0=1,1=0-1 --io-affinity 0
pinned affinity-all-vcpus "vcpu0=0 vcpu1=0" --cpus 2,affinity=0
# A CPU this process may not use is refused before the VM starts, in one sentence.
out=$("$VMON" run --testdev --memory 16M --console none --net none --kernel "$GUEST" \
	--vcpu-affinity 0=1000 2>&1 < /dev/null)
rc=$?
if [ "$rc" = 1 ] && [[ "$out" == *"vCPU 0's affinity names host CPU 1000, which vmon may not run on"* ]]; then
	result PASS sched/affinity-bad-cpu "status 1: $out"
else
	result FAIL sched/affinity-bad-cpu "status $rc (want 1): $out"
fi

# The same through the API: vmon's own machine-config fields, reported back by GET.
sock=$work/api.sock
"$VMON" --api-sock "$sock" > "$LOGDIR/sched-api.log" 2>&1 < /dev/null &
pid=$!
wait_sock "$sock"
codes="$(api "$sock" PUT /boot-source "{\"kernel_image_path\": \"$GUEST\", \"boot_args\": \"count=1000000000\"}")"
codes+=" $(api "$sock" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 16, "vmon_vcpu_affinity": "0=1,1=0-1", "vmon_io_affinity": "0"}')"
codes+=" $(api "$sock" GET /machine-config)"
cfg=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("vmon_vcpu_affinity"), d.get("vmon_io_affinity"))' "$work/body" 2>/dev/null)
codes+=" $(api "$sock" PUT /actions '{"action_type": "InstanceStart"}')"
for _ in $(seq 1 50); do [ "$(allowed $pid vcpu0)" != none ] && break; sleep 0.1; done
got="vcpu0=$(allowed $pid vcpu0) vcpu1=$(allowed $pid vcpu1) vmon-io=$(allowed $pid vmon-io)"
kill -9 $pid; wait $pid 2>/dev/null; pid=
if [ "$codes" = "204 204 200 204" ] && [ "$cfg" = "0=1,1=0-1 0" ] &&
   [ "$got" = "vcpu0=1 vcpu1=0-1 vmon-io=0" ]; then
	result PASS sched/affinity-api "$got; GET: $cfg"
else
	result FAIL sched/affinity-api "codes $codes, GET: $cfg, threads: $got; see $LOGDIR/sched-api.log"
fi

# A snapshot does not carry affinity: restored, the VM takes the destination's own.
"$VMON" run --testdev --memory 16M --console none --net none --kernel "$GUEST" \
	--cmdline count=1000000000 --vcpu-affinity 0=1 --api-sock "$work/src.sock" > "$LOGDIR/sched-src.log" 2>&1 < /dev/null &
pid=$!
wait_sock "$work/src.sock"
codes="$(api "$work/src.sock" PATCH /vm '{"state": "Paused"}')"
codes+=" $(api "$work/src.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/st\", \"mem_file_path\": \"$work/mem\"}")"
kill -9 $pid; wait $pid 2>/dev/null
restored() { # AFFINITY_ARGS...: vcpu0's list in the restored VM
	"$VMON" run --restore "$work/st" --mem "$work/mem" --resume "$@" > "$LOGDIR/sched-restore.log" 2>&1 < /dev/null &
	pid=$!
	for _ in $(seq 1 50); do [ "$(allowed $pid vcpu0)" != none ] && break; sleep 0.1; done
	allowed $pid vcpu0
	kill -9 $pid; wait $pid 2>/dev/null; pid=
}
mine=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
own=$(restored --vcpu-affinity 0=0) none=$(restored)
if [ "$codes" = "204 204" ] && [ "$own" = 0 ] && [ "$none" = "$mine" ]; then
	result PASS sched/affinity-restore "saved with 0=1; restored with 0=0: $own, with none: $none"
else
	result FAIL sched/affinity-restore "codes $codes; restored with 0=0: $own, with none: $none (want $mine)"
fi

# Weights and caps: the VM's own cpu cgroup. Two VMs on the same host CPU with weights 100
# and 300 make progress (exits, from GET /metrics over 5 s) in a ratio of 3 within 15%; a
# cpu.max of 25000/100000 holds one at 25% +- 5% of a core (utime+stime from /proc/PID/stat).
exits() { api "$1" GET /metrics > /dev/null
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(sum(v["exits"].values()) for v in d["vcpu"]))' "$work/body"; }
loop() { # SOCK ARGS...: a VM whose exit loop runs for good, in the background ($!)
	local sock=$1; shift
	"$VMON" run --testdev --memory 16M --console none --net none --kernel "$GUEST" \
		--cmdline count=100000000000 --api-sock "$sock" "$@" > "$LOGDIR/sched-$(basename "$sock").log" 2>&1 < /dev/null &
}
if [ ! -w /sys/fs/cgroup/cpu ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
	result SKIP sched/cpu-weight "no writable cpu cgroup"; result SKIP sched/cpu-max "no writable cpu cgroup"
	exit 0
fi
loop "$work/w1.sock" --cpus 1,affinity=1 --cpu-weight 100; p1=$!
loop "$work/w3.sock" --cpus 1,affinity=1 --cpu-weight 300; p3=$!
wait_sock "$work/w1.sock"; wait_sock "$work/w3.sock"; sleep 1
a0=$(exits "$work/w1.sock") b0=$(exits "$work/w3.sock"); sleep 5
a1=$(exits "$work/w1.sock") b1=$(exits "$work/w3.sock")
groups=$(ls -d /sys/fs/cgroup/cpu/vmon-$p1 /sys/fs/cgroup/cpu/vmon-$p3 /sys/fs/cgroup/vmon-$p1 /sys/fs/cgroup/vmon-$p3 2>/dev/null | wc -l)
kill $p1 $p3; wait $p1 $p3 2>/dev/null
left=$(ls -d /sys/fs/cgroup/cpu/vmon-$p1 /sys/fs/cgroup/cpu/vmon-$p3 /sys/fs/cgroup/vmon-$p1 /sys/fs/cgroup/vmon-$p3 2>/dev/null | wc -l)
ratio=$(python3 -c "print('%.2f' % (($b1 - $b0) / max($a1 - $a0, 1)))")
if [ "$groups" = 2 ] && [ "$left" = 0 ] && python3 -c "import sys; sys.exit(not 2.55 <= $ratio <= 3.45)"; then
	result PASS sched/cpu-weight "exits in 5 s: weight 100 $((a1 - a0)), weight 300 $((b1 - b0)), ratio $ratio; groups removed"
else
	result FAIL sched/cpu-weight "ratio $ratio ($((a1 - a0)) vs $((b1 - b0)) exits), want 3 +- 15%; groups $groups, left $left"
fi
loop "$work/cap.sock" --cpus 1,affinity=1 --cpu-max 25000/100000; pc=$!
wait_sock "$work/cap.sock"; sleep 1
tick=$(getconf CLK_TCK)
t0=$(awk '{print $14 + $15}' /proc/$pc/stat) s0=$(date +%s.%N); sleep 4
t1=$(awk '{print $14 + $15}' /proc/$pc/stat) s1=$(date +%s.%N)
kill $pc; wait $pc 2>/dev/null
pct=$(python3 -c "print('%.1f' % (100 * ($t1 - $t0) / $tick / ($s1 - $s0)))")
if python3 -c "import sys; sys.exit(not 20 <= $pct <= 30)"; then
	result PASS sched/cpu-max "cpu.max 25000/100000: $pct% of a core over 4 s"
else
	result FAIL sched/cpu-max "$pct% of a core, want 25 +- 5"
fi
