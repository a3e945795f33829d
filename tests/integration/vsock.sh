#!/bin/bash
# virtio-vsock with the Linux guest, in one boot (--vsock cid=3,uds=SOCK; the guest runs
# guest/linux/tools/vsock.c, the host side is tests/integration/vsock_peer.py):
# Firecracker's handshake (CONNECT <port> / OK <host port>) with data echoed back; bogus
# handshakes, a client that sends no CONNECT line (closed after 2 s) and a guest port nobody
# listens on refused; 64 host connections open at once;
# 16 MiB each way with matching CRC-32s; a guest connection to a host port nobody listens
# on refused; the host closing mid-stream resets the guest's stream; GET /vm/config; a
# snapshot restored in a fresh vmon with vsock_override (another uds_path): the guest's open
# connection is reset by the transport reset event and new connections work on the new path. VSOCK_TRANSPORT=pci runs it all on virtio-pci.
set -uo pipefail
SUITE=vsock
TESTS=(vsock/handshake vsock/host-refused vsock/concurrent-64 vsock/stream-host-to-guest
	vsock/stream-guest-to-host vsock/guest-refused vsock/host-close vsock/api-config
	vsock/snapshot-reset)
. "$(dirname "$0")/lib.sh"

if ! tools=$(guest/linux/tools.sh 2> "$LOGDIR/guest-tools.log" | tail -n 1) || [ ! -f "$tools/.done" ]; then
	all_results FAIL "guest tools build failed, see $LOGDIR/guest-tools.log"
	exit 0
fi
work=$(mktemp -d)
pid= peer=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "$peer" ] && kill $peer 2>/dev/null; rm -rf "$work"' EXIT
con=$work/console.log
sock=$work/api.sock
uds=$work/v.sock
P="python3 tests/integration/vsock_peer.py"
# wait_file FILE: until it exists (2 minutes).
wait_file() { for _ in $(seq 1 240); do [ -s "$1" ] && return 0; sleep 0.5; done; return 1; }
# line PATTERN: the last console line matching it.
line() { grep -a "$1" "$con" | tail -n 1 | tr -d '\r'; }
MIB16=16777216

$P serve "$work" "$uds" > "$LOGDIR/vsock-peer.log" 2>&1 &
peer=$!
wait_file "$work/serving"

cmd='vsock server 5000 & vsock sink 5001 & sleep 1; echo VSOCK-READY;'
cmd+=' vsock connect 2 7777; vsock source 2 6000 16777216; vsock source 2 6001 16777216;'
cmd+=' echo GUEST-DONE; vsock hold 2 6002; while :; do sleep 1; done'
"$VMON" run --kernel "$dir/vmlinux" --initrd "$tools/initramfs-tools.cpio" --memory 256M \
	--vsock "cid=3,uds=$uds" ${VSOCK_TRANSPORT:+--virtio-transport $VSOCK_TRANSPORT} --console "file:$con" --api-sock "$sock" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$LOGDIR/vsock.log" &
pid=$!
if ! wait_sock "$sock" || ! wait_for "$con" VSOCK-READY $pid; then
	all_results FAIL "the guest did not start its servers, see $LOGDIR/vsock.log"
	exit 0
fi

out=$($P handshake "$uds" 5000)
if [[ $out == OK* ]]; then result PASS vsock/handshake "$out"; else result FAIL vsock/handshake "$out"; fi

out="$($P refused "$uds" 5999) / $($P bad "$uds") / $($P idle "$uds")"
secs=$(sed -n 's/.*CLOSED after \([0-9]*\)\..*/\1/p' <<< "$out")
if [[ $out == REFUSED*" / REFUSED"*" / CLOSED"* ]] && [ "$secs" -ge 1 ] && [ "$secs" -le 4 ]; then
	result PASS vsock/host-refused "$out"
else
	result FAIL vsock/host-refused "$out"
fi

out=$($P concurrent "$uds" 5000 64 16384)
if [[ $out == OK* ]]; then result PASS vsock/concurrent-64 "$out"; else result FAIL vsock/concurrent-64 "$out"; fi

out=$($P stream "$uds" 5001 $MIB16)
wait_for "$con" "SINK port=5001" $pid
sink=$(line "SINK port=5001")
read -r _ sent crc _ <<< "$out"
if [ "$sent" = $MIB16 ] && [[ $sink == *"bytes=$MIB16 crc=$crc"* ]]; then
	result PASS vsock/stream-host-to-guest "host sent $out; guest: $sink"
else
	result FAIL vsock/stream-host-to-guest "host: $out; guest: '$sink'"
fi

wait_for "$con" GUEST-DONE $pid
wait_file "$work/sink6000"
src=$(line "SOURCE port=6000")
host=$(cat "$work/sink6000" 2>/dev/null)
if [[ $src == *"sent=$MIB16 crc=${host#* }"* ]] && [ "${host% *}" = $MIB16 ]; then
	result PASS vsock/stream-guest-to-host "guest: $src; host got $host"
else
	result FAIL vsock/stream-guest-to-host "guest: '$src'; host got '$host'"
fi

ref=$(line "CONNECT port=7777")
if [[ $ref == *"error=Connection reset by peer"* ]]; then
	result PASS vsock/guest-refused "$ref"
else
	result FAIL vsock/guest-refused "'$ref'"
fi

cut=$(line "SOURCE port=6001")
wait_file "$work/cut6001"
after=$(sed -n 's/.*after=\([0-9]*\).*/\1/p' <<< "$cut")
if [[ $cut == *error=* ]] && [ "$(cat "$work/cut6001" 2>/dev/null)" = 1048576 ] &&
   [ -n "$after" ] && [ "$after" -ge 1048576 ] && [ "$after" -lt $MIB16 ]; then
	result PASS vsock/host-close "host read $(cat "$work/cut6001") and closed; guest: $cut"
else
	result FAIL vsock/host-close "guest: '$cut'; host read '$(cat "$work/cut6001" 2>/dev/null)'"
fi

st=$(api "$sock" GET /vm/config)
cfg=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["vsock"], sort_keys=True))' "$work/body" 2>/dev/null)
st+=" $(api "$sock" PUT /vsock "{\"guest_cid\": 4, \"uds_path\": \"$work/other.sock\"}")"
if [ "$st" = "200 400" ] && [ "$cfg" = "{\"guest_cid\": 3, \"uds_path\": \"$uds\"}" ]; then
	result PASS vsock/api-config "$cfg; PUT after boot refused"
else
	result FAIL vsock/api-config "statuses $st, vsock section '$cfg'"
fi

# The guest holds a connection open; a snapshot restored in a fresh vmon resets it.
wait_file "$work/hold6002"
wait_for "$con" "HOLD port=6002 connected" $pid
s=$(api "$sock" PATCH /vm '{"state": "Paused"}')
s+=" $(api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/state\", \"mem_file_path\": \"$work/mem\"}")"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
sock=$work/restored.sock
"$VMON" --api-sock "$sock" < /dev/null > /dev/null 2> "$LOGDIR/vsock-restored.log" &
pid=$!
wait_sock "$sock"
uds=$work/restored-v.sock # vsock_override: the restored device listens there
s+=" $(api "$sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/state\", \"mem_file_path\": \"$work/mem\", \"resume_vm\": true, \"vsock_override\": {\"uds_path\": \"$uds\"}}")"
wait_for "$con" "HOLD port=6002 ended" $pid
held=$(line "HOLD port=6002 ended")
out=$($P handshake "$uds" 5000)
if [ "$s" = "204 204 204" ] && [[ $held == *"ended=Connection reset by peer"* ]] && [[ $out == OK* ]]; then
	result PASS vsock/snapshot-reset "guest: $held; new connection at the overriding uds_path: $out"
else
	result FAIL vsock/snapshot-reset "requests $s, guest: '$held', new connection: $out"
fi
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
