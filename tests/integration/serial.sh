#!/bin/bash
# PUT /serial with a rate_limiter (Firecracker's TokenBucket on the serial output): a
# freestanding guest (tests/guest/cpuid_probe.c) prints its lines on COM1, once without a
# limit and once with a bucket of 100 bytes that refills over a minute. With the limit the
# console file holds the first 100 bytes of the same output (and at most a byte or two the
# slow refill lets through), and the metrics' uart.rate_limiter_dropped_bytes counts the
# rest, as Firecracker counts it; the guest is not slowed (it finishes either way).
set -uo pipefail
SUITE=serial
TESTS=(serial/rate-limiter)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"
need_kvm
guest=${VMON_BUILD:-build}/tests/guest/cpuid_probe.elf
need_guest "$guest"

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT

# boot NAME SERIAL-BODY: the probe with PUT /serial's body; leaves $sock, $pid and $codes.
boot() {
	sock=$work/$1.sock
	"$VMON" --api-sock "$sock" > /dev/null 2> "$LOGDIR/serial-$1.log" &
	pid=$!
	wait_sock "$sock"
	codes=$(api "$sock" PUT /boot-source "{\"kernel_image_path\": \"$guest\", \"boot_args\": \"probe\"}")
	codes+=" $(api "$sock" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 32}')"
	codes+=" $(api "$sock" PUT /serial "$2")"
	codes+=" $(api "$sock" PUT /actions '{"action_type": "InstanceStart"}')"
}
stop() { kill $pid 2>/dev/null; wait $pid 2>/dev/null; pid=; }

boot plain "{\"serial_out_path\": \"$work/plain.console\"}"
wait_for "$work/plain.console" 'cpuid-probe done' $pid
stop
plain_codes=$codes
total=$(wc -c < "$work/plain.console")

boot limited "{\"serial_out_path\": \"$work/limited.console\", \"rate_limiter\": {\"size\": 100, \"refill_time\": 60000}}"
# The guest is done once every byte it wrote was either written or dropped.
dropped=0
for _ in $(seq 1 100); do
	api "$sock" GET /metrics > /dev/null
	dropped=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uart"]["rate_limiter_dropped_bytes"])' "$work/body" 2>/dev/null || echo 0)
	[ $((dropped + $(wc -c < "$work/limited.console"))) -ge "$total" ] && break
	sleep 0.1
done
stop
written=$(wc -c < "$work/limited.console")
if [ "$plain_codes $codes" = "204 204 204 204 204 204 204 204" ] && [ "$total" -gt 200 ] &&
   [ "$written" -ge 100 ] && [ "$written" -le 105 ] && [ $((written + dropped)) = "$total" ] &&
   cmp -s <(head -c 100 "$work/plain.console") <(head -c 100 "$work/limited.console"); then
	result PASS serial/rate-limiter "$total bytes of output: $written written, $dropped dropped and counted"
else
	result FAIL serial/rate-limiter "requests $plain_codes / $codes; $total bytes unlimited, $written written, $dropped dropped"
fi
