#!/bin/bash
# Live migration with the Linux guest. A counts on the console and keeps a tmpfs buffer
# copy changing; it migrates to B over a Unix socket, B to C over TCP through a veth
# pair into a network namespace (a stand-in for a second host). Each destination continues
# the counter and the buffer's checksum still holds; each source exits 0. Faults leave the
# source running: a destination refusing (its disk absent), a destination killed mid-
# transfer, a cancel; destinations fed garbage or half a stream exit non-zero, no guest run.
set -uo pipefail
SUITE=migration
TESTS=(migration/unix migration/tcp-veth migration/refused migration/dest-killed migration/cancel
       migration/buffer-intact migration/garbage)
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
pids=()
NS=vmon-mig-$$
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; ip netns del $NS 2>/dev/null; ip link del vmig$$ 2>/dev/null; rm -rf "$work"' EXIT
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2],""))' "$work/body" "$1" 2>/dev/null; }
mig_state() { api "$1" GET /migration > /dev/null; field state; }
wait_state() { # SOCKET STATE
	for _ in $(seq 1 120); do [ "$(mig_state "$1")" = "$2" ] && return 0; sleep 0.5; done; return 1
}
dest() { # NAME [ip netns exec NS]: a fresh vmon --api-sock
	local name=$1; shift
	"$@" "$VMON" --api-sock "$work/$name.sock" < /dev/null > "$LOGDIR/migration-$name.out" 2> "$LOGDIR/migration-$name.log" &
	eval "pid_$name=$!"; pids+=($!)
	wait_sock "$work/$name.sock"
}

truncate -s 32M "$work/disk.ext4"
mkfs.ext4 -q "$work/disk.ext4"
# The guest: a 4 MiB buffer in tmpfs copied over and over (its md5 printed), and a counter.
# (Random bytes are slow to make in this host's emulated guest kernel: 256 KiB, repeated.)
cmd='mkdir /mnt; mount -t ext4 /dev/vda /mnt; dd if=/dev/urandom of=/tmp/seed bs=64k count=4 2>/dev/null;'
cmd+=' for k in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat /tmp/seed >> /tmp/buf; done;'
cmd+=' (while true; do dd if=/tmp/buf of=/tmp/buf2 bs=1M 2>/dev/null; done) &'
cmd+=' i=0; while true; do echo tick-$i; echo $i >> /mnt/log; i=$((i+1)); sleep 1;'
cmd+=' [ $((i % 6)) = 1 ] && echo buf-md5 $(md5sum < /tmp/buf); done'
console=file:$work/console.log

"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 256M --net none \
	--disk path="$work/disk.ext4" --console "$console" --api-sock "$work/a.sock" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$LOGDIR/migration-a.log" &
a=$!; pids+=($a)
if ! wait_sock "$work/a.sock" || ! wait_tick "$work/console.log" 2 $a; then
	all_results FAIL "boot A did not tick, see $LOGDIR/migration-a.log"
	exit 0
fi

# --- faults first, on A: each must leave A running --------------------------------------------
still_ticking() { local t; t=$(last_tick "$work/console.log"); wait_tick "$work/console.log" $((t + 2)) $a; }
# A destination that cannot host the VM (the disk it names is absent there) refuses.
dest r
api "$work/r.sock" PUT /migration/receive "{\"url\": \"unix:$work/r.mig\"}" > /dev/null
mv "$work/disk.ext4" "$work/disk.moved"
api "$work/a.sock" PUT /migration/send "{\"url\": \"unix:$work/r.mig\"}" > /dev/null
wait_state "$work/a.sock" failed
err=$(field error)
mv "$work/disk.moved" "$work/disk.ext4"
if echo "$err" | grep -q "refused.*disk" && still_ticking; then
	result PASS migration/refused "$err"
else
	result FAIL migration/refused "state $(mig_state "$work/a.sock"): $err"
fi
kill -9 $pid_r 2>/dev/null; wait $pid_r 2>/dev/null
# A destination killed mid-transfer (the link capped at 40 Mbit/s keeps it in flight).
dest k
api "$work/k.sock" PUT /migration/receive "{\"url\": \"unix:$work/k.mig\"}" > /dev/null
api "$work/a.sock" PUT /migration/send "{\"url\": \"unix:$work/k.mig\", \"max_bandwidth_mbps\": 40}" > /dev/null
sleep 1.5
sent=$(api "$work/a.sock" GET /migration > /dev/null; field ram_sent)
kill -9 $pid_k; wait $pid_k 2>/dev/null
if wait_state "$work/a.sock" failed && [ "${sent:-0}" -gt 0 ] && still_ticking; then
	result PASS migration/dest-killed "after $sent bytes: $(field error)"
else
	result FAIL migration/dest-killed "state $(mig_state "$work/a.sock") after ${sent:-0} bytes"
fi
# Cancel.
dest c0
api "$work/c0.sock" PUT /migration/receive "{\"url\": \"unix:$work/c0.mig\"}" > /dev/null
api "$work/a.sock" PUT /migration/send "{\"url\": \"unix:$work/c0.mig\", \"max_bandwidth_mbps\": 40}" > /dev/null
sleep 1
code=$(api "$work/a.sock" PUT /migration/cancel '{}')
if [ "$code" = 204 ] && wait_state "$work/a.sock" cancelled && still_ticking; then
	result PASS migration/cancel
else
	result FAIL migration/cancel "status $code, state $(mig_state "$work/a.sock")"
fi
kill -9 $pid_c0 2>/dev/null; wait $pid_c0 2>/dev/null

# --- A -> B over a Unix socket ------------------------------------------------------------------
dest b
api "$work/b.sock" PUT /migration/receive "{\"url\": \"unix:$work/b.mig\"}" > /dev/null
before=$(last_tick "$work/console.log")
api "$work/a.sock" PUT /migration/send "{\"url\": \"unix:$work/b.mig\"}" > /dev/null
wait $a
arc=$?
if [ "$arc" = 0 ] && grep -q "migrated to unix:$work/b.mig" "$LOGDIR/migration-a.log" &&
   wait_tick "$work/console.log" $((before + 3)) $pid_b; then
	result PASS migration/unix "$(grep -o 'migrated to .*' "$LOGDIR/migration-a.log")"
else
	result FAIL migration/unix "A exited $arc; ticks up to $(last_tick "$work/console.log") after $before"
fi

# --- B -> C over TCP, C in a network namespace behind a veth pair ---------------------------------
ip netns add $NS && ip link add vmig$$ type veth peer name vmigp$$ && ip link set vmigp$$ netns $NS &&
	ip addr add 10.79.0.1/24 dev vmig$$ && ip link set vmig$$ up &&
	ip netns exec $NS ip addr add 10.79.0.2/24 dev vmigp$$ && ip netns exec $NS ip link set vmigp$$ up &&
	ip netns exec $NS ip link set lo up
# C listens from its command line (--incoming); B is sent with `vmon ctl migrate`.
ip netns exec $NS "$VMON" --api-sock "$work/c.sock" --incoming tcp:10.79.0.2:4444 \
	< /dev/null > "$LOGDIR/migration-c.out" 2> "$LOGDIR/migration-c.log" &
pid_c=$!; pids+=($pid_c)
wait_sock "$work/c.sock"
before=$(last_tick "$work/console.log")
"$VMON" ctl --api-sock "$work/b.sock" migrate --to tcp:10.79.0.2:4444 --downtime-limit 300 \
	> "$LOGDIR/migration-ctl.out" 2>&1
crc=$?
wait $pid_b
brc=$?
if [ "$brc" = 0 ] && [ "$crc" = 0 ] && grep -q '^migration: pass' "$LOGDIR/migration-ctl.out" &&
   wait_tick "$work/console.log" $((before + 3)) $pid_c; then
	result PASS migration/tcp-veth "$(grep -o 'migrated to .*' "$LOGDIR/migration-b.log"); vmon ctl printed $(grep -c '^migration: pass' "$LOGDIR/migration-ctl.out") progress lines"
else
	result FAIL migration/tcp-veth "B exited $brc, vmon ctl $crc ($(tail -n 1 "$LOGDIR/migration-ctl.out")); ticks up to $(last_tick "$work/console.log") after $before"
fi
# The buffer the guest wrote before any migration still has its checksum on C.
for _ in $(seq 1 60); do
	[ "$(grep -ao 'buf-md5 [0-9a-f]*' "$work/console.log" | wc -l)" -ge 2 ] && break
	sleep 0.5
done
sums=$(grep -ao 'buf-md5 [0-9a-f]*' "$work/console.log" | cut -d' ' -f2 | sort -u)
if [ -n "$sums" ] && [ "$(echo "$sums" | wc -l)" = 1 ] && [ "$(grep -ac 'buf-md5' "$work/console.log")" -ge 2 ]; then
	result PASS migration/buffer-intact "md5 $sums before and after two migrations"
else
	result FAIL migration/buffer-intact "checksums: $(echo $sums)"
fi
kill $pid_c 2>/dev/null
wait $pid_c 2>/dev/null

# --- destinations fed garbage and half a stream ---------------------------------------------------
bad=0
for kind in garbage half; do
	dest g$kind
	api "$work/g$kind.sock" PUT /migration/receive "{\"url\": \"unix:$work/g$kind.mig\"}" > /dev/null
	python3 - "$work/g$kind.mig" "$kind" <<'EOF'
import socket, struct, sys, zlib, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
if sys.argv[2] == "garbage":
    s.sendall(b"\x00garbage-not-a-migration-stream" * 64)
else:  # a HELLO frame cut in the middle of its payload
    payload = struct.pack("<IQI", 1, 256 << 20, 0) + b"x" * 64
    hdr = struct.pack("<IHHII", 0x47494d56, 1, 0, len(payload), zlib.crc32(payload))
    s.sendall(hdr + payload[:20])
time.sleep(0.5); s.close()
EOF
	v="pid_g$kind"
	wait ${!v} 2>/dev/null
	rc=$?
	if [ "$rc" = 1 ] && grep -q "incoming migration failed" "$LOGDIR/migration-g$kind.log"; then :; else
		echo "  $kind: status $rc, $(tail -n 1 "$LOGDIR/migration-g$kind.log")"; bad=$((bad + 1)); fi
done
if [ "$bad" = 0 ]; then
	result PASS migration/garbage "garbage and a cut stream: each destination exited 1 without running a guest"
else
	result FAIL migration/garbage "$bad destinations did not exit 1"
fi
exit 0
