#!/bin/bash
# Before the fix each failed start leaked 5 eventfds (queue notifiers and irqfds).
#
# A failed start leaks nothing. Over the API: a boot source that is no kernel (4 KiB of
# zeros), a drive (a small raw image) and a network interface on a TAP device, so that the
# build gets past the virtio devices and fails at the kernel load. 50 InstanceStarts each
# answer 400 with the same fault_message, and vmon's open file descriptors and threads after
# the 50th failure are what they were after the 1st.
set -uo pipefail
SUITE=start_fail
TESTS=(api/failed-start-leaks-nothing)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"

STARTS=50
# The build opens KVM first: without it the start fails before any device exists.
need_kvm

work=$(mktemp -d)
sock=$work/api.sock
pid= ns=vmonleak$$ tap=vleak$$ nsx=()
cleanup() {
	[ -n "$pid" ] && kill -9 $pid 2>/dev/null && wait $pid 2>/dev/null
	if [ ${#nsx[@]} -gt 0 ]; then ip netns del $ns 2>/dev/null; else ip link del $tap 2>/dev/null; fi
	rm -rf "$work"
}
trap cleanup EXIT
# The TAP lives in a network namespace of its own (vmon runs there too); failing that, in
# this one under a name no one else uses.
if ! [ -c /dev/net/tun ] || ! command -v ip > /dev/null; then
	all_results SKIP "no /dev/net/tun or no ip(8) for the TAP device"
	exit 0
fi
if ip netns add $ns 2> /dev/null; then
	nsx=(ip netns exec $ns)
	ip -n $ns tuntap add dev $tap mode tap || { all_results SKIP "cannot create a TAP device in a netns"; exit 0; }
elif ! ip tuntap add dev $tap mode tap 2> /dev/null; then
	all_results SKIP "cannot create a TAP device (ip tuntap add)"
	exit 0
fi

curl_api() { curl -s --max-time 30 --unix-socket "$sock" -o "$work/body" -w '%{http_code}' -X "$1" \
	-H 'Content-Type: application/json' --data-binary "$3" "http://localhost$2"; }
fault() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("fault_message",""))' "$work/body" 2>/dev/null; }
fds() { ls /proc/$pid/fd | wc -l; }
threads() { awk '/^Threads:/ {print $2}' /proc/$pid/status; }

head -c 4096 /dev/zero > "$work/not-a-kernel"
truncate -s 1M "$work/disk.img"
# ip netns exec execs vmon: $! is vmon itself.
"${nsx[@]}" "$VMON" --api-sock "$sock" --level Info < /dev/null > "$LOGDIR/start-fail.out" \
	2> "$LOGDIR/start-fail.log" &
pid=$!
for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
codes=$(curl_api PUT /boot-source "{\"kernel_image_path\": \"$work/not-a-kernel\", \"boot_args\": \"console=ttyS0\"}")
codes+=" $(curl_api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$work/disk.img\", \"is_root_device\": true, \"is_read_only\": false}")"
codes+=" $(curl_api PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"$tap\", \"guest_mac\": \"06:00:ac:10:00:02\"}")"
codes+=" $(curl_api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')"
fds0=$(fds) threads0=$(threads)

bad=0 first= others=0
for i in $(seq 1 $STARTS); do
	code=$(curl_api PUT /actions '{"action_type": "InstanceStart"}')
	msg=$(fault)
	[ "$code" = 400 ] && [ -n "$msg" ] || bad=$((bad + 1))
	if [ "$i" = 1 ]; then
		first=$msg fds1=$(fds) threads1=$(threads)
	elif [ "$msg" != "$first" ]; then
		[ "$others" = 0 ] && echo "  start $i failed differently: $msg"
		others=$((others + 1))
	fi
done
fdsN=$(fds) threadsN=$(threads)
echo "  fault_message of start 1: $first"
echo "  before the 1st start: $fds0 fds, $threads0 threads; after the 1st failure: $fds1 fds," \
	"$threads1 threads; after the ${STARTS}th: $fdsN fds, $threadsN threads"
counts="fds $fds0/$fds1/$fdsN, threads $threads0/$threads1/$threadsN (before/after 1/after $STARTS)"
if [ "$codes" != "204 204 204 204" ]; then
	result FAIL api/failed-start-leaks-nothing "configuration answered $codes: $(fault)"
elif [ "$bad" = 0 ] && [ "$others" = 0 ] && [ "$fds1" = "$fdsN" ] && [ "$threads1" = "$threadsN" ]; then
	result PASS api/failed-start-leaks-nothing "$STARTS failed starts; $counts"
else
	result FAIL api/failed-start-leaks-nothing "$counts; $bad not 400 with a fault_message; $others failed unlike the 1st"
fi
