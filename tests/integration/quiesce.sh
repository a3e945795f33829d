#!/bin/bash
# Fails on a pause that stops only the vCPUs (as vmon's did before vm_pause()): the I/O
# thread then goes on completing the requests the rate limiter held back, into guest RAM.
#
# While paused, nothing writes guest RAM. tests/guest/quiesce.c keeps 64 virtio-blk WRITEs in
# flight (request n writes sector n with a payload holding n); the drive's rate limiter (10
# ops per 100 ms) makes the I/O thread the bottleneck, so requests are queued in the device
# when the pause lands. Paused, two checksums of all guest RAM (the "vmon-guest-ram" memfd,
# read through /proc/PID/fd) taken 200 ms apart must be equal. Resumed, the guest finishes
# and every sector 0..N-1 holds its own number: none lost, none doubled or misplaced.
set -uo pipefail
SUITE=quiesce
TESTS=(quiesce/paused-ram-unchanged quiesce/every-write-once)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"

GUEST=${VMON_BUILD:-build}/tests/guest/quiesce.elf
# 1000 writes, 64 in flight, 100 per second: at the pause the device holds 0.6 s of queued
# requests, so the unfixed I/O thread is still completing them at the second checksum.
# (With 8 in flight and 200 per second it drained them within 40 ms of the pause, before
# the first checksum, and the unfixed code passed.)
COUNT=1000 QD=64 OPS=10
need_kvm
need_guest "$GUEST"

work=$(mktemp -d)
sock=$work/api.sock disk=$work/disk.img out=$LOGDIR/quiesce.console
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$work"' EXIT
curl_api() { curl -s --max-time 10 --unix-socket "$sock" -o /dev/null -w '%{http_code}' -X "$1" \
	-H 'Content-Type: application/json' --data-binary "$3" "http://localhost$2"; }
# Lines "quiesce: N written" so far, as the last N.
progress() { grep -o '[0-9]* written' "$out" 2>/dev/null | tail -n 1 | cut -d' ' -f1; }
# wait_line PATTERN SECONDS: until the console shows PATTERN, vmon exits, or time is up.
wait_line() {
	for _ in $(seq 1 $(($2 * 10))); do
		grep -q "$1" "$out" 2>/dev/null && return 0
		kill -0 $pid 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# Guest RAM's memfd in the vmon process, as /proc/PID/fd/N (looked up once: it stays).
ram_fd() {
	local f
	for f in /proc/$pid/fd/*; do
		[[ "$(readlink "$f" 2>/dev/null)" == *"memfd:vmon-guest-ram"* ]] && { echo "$f"; return; }
	done
}
ram=
ram_sum() { [ -n "$ram" ] && md5sum < "$ram" | cut -d' ' -f1 || echo no-memfd; }
# The used ring's idx, read from guest RAM (RAM starts at offset 0 of the memfd): how many
# completions the device has handed the guest.
used_gpa=$(nm "$GUEST" | awk '$3 == "used" {print $1}')
used_idx() { od -An -tu2 -j $((0x$used_gpa + 2)) -N2 "$ram" 2>/dev/null | tr -d ' '; }

# 1 MiB: 2048 sectors, the last one the start gate.
truncate -s 1M "$disk"
"$VMON" run --testdev --memory 16M --net none --console "file:$out" --kernel "$GUEST" \
	--disk "path=$disk,serial=qdisk" --api-sock "$sock" --cmdline "count=$COUNT qd=$QD" \
	< /dev/null > "$LOGDIR/quiesce.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
ram=$(ram_fd)
limit=$(curl_api PATCH /drives/qdisk \
	"{\"drive_id\": \"qdisk\", \"rate_limiter\": {\"ops\": {\"size\": $OPS, \"refill_time\": 100}}}")
if ! wait_line "waiting for GO" 10; then
	all_results FAIL "the guest never asked for GO (status $(wait $pid; echo $?)), see $out and $LOGDIR/quiesce.log"
	exit 0
fi
printf GO | dd of="$disk" bs=512 seek=2047 conv=notrunc status=none

# A few hundred done: the stream runs at the limiter's pace with $QD requests queued behind it.
if ! wait_line "300 written" 30; then
	all_results FAIL "the guest did not get to 300 writes (rate limit: $limit), see $out"
	exit 0
fi
seen=$(progress)
paused=$(curl_api PATCH /vm '{"state": "Paused"}')
sum1=$(ram_sum) idx1=$(used_idx)
sleep 0.2
sum2=$(ram_sum) idx2=$(used_idx)
echo "  paused after ${seen:-0}+ completions: guest RAM md5 $sum1, then $sum2 200 ms later"
echo "  the used ring's idx in guest RAM: $idx1, then $idx2 (requests completed while paused:" \
	"$((${idx2:-0} - ${idx1:-0})); the idx also counts the guest's reads of the gate)"
resumed=$(curl_api PATCH /vm '{"state": "Resumed"}')
if [ "$limit $paused $resumed" = "204 204 204" ] && [ "$sum1" != no-memfd ] && [ "$sum1" = "$sum2" ]; then
	result PASS quiesce/paused-ram-unchanged "md5 $sum1 twice, 200 ms apart, after ${seen}+ completions"
else
	result FAIL quiesce/paused-ram-unchanged "limit/pause/resume $limit $paused $resumed; md5 $sum1 then $sum2; used.idx $idx1 then $idx2 while paused"
fi

for _ in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -9 $pid 2>/dev/null
wait $pid
rc=$?
pid=
bad=$(python3 - "$disk" "$COUNT" <<'PY'
import struct, sys
d, n = open(sys.argv[1], 'rb').read(), int(sys.argv[2])
bad = [k for k in range(n) if struct.unpack_from('<128I', d, k * 512) != (0x51455351,) + (k,) * 127]
# Past the last request and before the gate, nothing was written.
bad += [k for k in range(n, len(d) // 512 - 1) if any(d[k * 512:(k + 1) * 512])]
print(len(bad), *bad[:5])
PY
)
want=$(printf 'testdev: report 0x%x' $((0x51000000 | COUNT)))
if [ "$rc" = 0 ] && grep -q "$want" "$LOGDIR/quiesce.log" && [ "$bad" = 0 ]; then
	result PASS quiesce/every-write-once "$COUNT sectors, each its own number; status 0"
else
	result FAIL quiesce/every-write-once "status $rc (want 0 and '$want'), wrong sectors: ${bad:-?} (how many, the first ones); see $LOGDIR/quiesce.log"
fi
