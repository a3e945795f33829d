#!/bin/bash
# Live migration with the Linux guest. A counts on the console, keeps a tmpfs buffer copy
# changing, rewrites memory at CPL3 (/bin/dirtier: its pages and a constant region are
# checked) and logs the counter to an ext4 disk. It moves A -> L locally (the memfd passed,
# no page copied), L -> B over a Unix socket with the bandwidth capped below the guest's
# dirty rate (auto-converge must throttle it), and B -> C over TCP through a veth pair into
# a network namespace (a stand-in for a second host), where C announces the guest's MAC on
# its TAP. Each destination continues the counter, the memory checks still hold, each
# source exits 0, and the disk checks clean at the end. Faults leave the source running: a
# destination refusing (its disk absent), a destination killed mid-transfer, the link cut
# mid-transfer (veth deleted), a cancel; destinations fed garbage or half a stream exit
# non-zero without running a guest.
set -uo pipefail
SUITE=migration
TESTS=(migration/refused migration/dest-killed migration/cancel migration/link-cut
       migration/metrics migration/local migration/auto-converge migration/tcp-veth migration/announce
       migration/memory-intact migration/disk-clean migration/garbage)
. "$(dirname "$0")/lib.sh"

if ! tools=$(guest/linux/tools.sh 2> "$LOGDIR/guest-tools.log" | tail -n 1) || [ ! -f "$tools/.done" ]; then
	all_results FAIL "guest tools build failed, see $LOGDIR/guest-tools.log"
	exit 0
fi
work=$(mktemp -d)
pids=()
NS=vmon-mig-$$
CUT=vmon-cut-$$
TAP=vmigt$$
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; ip netns del $NS 2>/dev/null; ip netns del $CUT 2>/dev/null; ip link del vmig$$ 2>/dev/null; ip link del vcut$$ 2>/dev/null; ip link del $TAP 2>/dev/null; rm -rf "$work"' EXIT
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
# The guest: a 4 MiB buffer in tmpfs copied over and over (its md5 printed), the dirtier
# (16 MiB rewritten as fast as the vCPU goes, 4 MiB constant), and a counter logged to disk.
# (Random bytes are slow to make in this host's emulated guest kernel: 256 KiB, repeated.)
cmd='mkdir /mnt; mount -t ext4 /dev/vda /mnt; dd if=/dev/urandom of=/tmp/seed bs=64k count=4 2>/dev/null;'
cmd+=' for k in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat /tmp/seed >> /tmp/buf; done;'
cmd+=' (while true; do dd if=/tmp/buf of=/tmp/buf2 bs=1M 2>/dev/null; done) & /bin/dirtier 16 4 &'
cmd+=' i=0; while true; do echo tick-$i; echo $i >> /mnt/log; i=$((i+1)); sleep 1;'
cmd+=' [ $((i % 6)) = 1 ] && echo buf-md5 $(md5sum < /tmp/buf) && sync; done'
console=file:$work/console.log
# The TAP (multi-queue, as vmon creates its own, so that L can attach while A holds it).
ip tuntap add dev $TAP mode tap multi_queue vnet_hdr 2>/dev/null

"$VMON" run --kernel "$dir/vmlinux" --initrd "$tools/initramfs-tools.cpio" --memory 256M \
	--net tap=$TAP --disk path="$work/disk.ext4" --console "$console" --api-sock "$work/a.sock" \
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
# The link cut mid-transfer: the veth to the destination's namespace deleted, no reset sent.
# The source gives up once the peer has taken nothing for 10 s.
ip netns add $CUT && ip link add vcut$$ type veth peer name vcutp$$ && ip link set vcutp$$ netns $CUT &&
	ip addr add 10.79.1.1/24 dev vcut$$ && ip link set vcut$$ up &&
	ip netns exec $CUT ip addr add 10.79.1.2/24 dev vcutp$$ && ip netns exec $CUT ip link set vcutp$$ up
ip netns exec $CUT "$VMON" --api-sock "$work/x.sock" --incoming tcp:10.79.1.2:4445 \
	< /dev/null > /dev/null 2> "$LOGDIR/migration-x.log" &
pid_x=$!; pids+=($pid_x)
wait_sock "$work/x.sock"
api "$work/a.sock" PUT /migration/send '{"url": "tcp:10.79.1.2:4445", "max_bandwidth_mbps": 40}' > /dev/null
sleep 1.5
sent=$(api "$work/a.sock" GET /migration > /dev/null; field ram_sent)
ip link del vcut$$
t0=$SECONDS
if wait_state "$work/a.sock" failed && [ "${sent:-0}" -gt 0 ] && still_ticking; then
	result PASS migration/link-cut "failed $((SECONDS - t0)) s after the cut, $sent bytes sent: $(field error)"
else
	result FAIL migration/link-cut "state $(mig_state "$work/a.sock") after ${sent:-0} bytes"
fi
kill -9 $pid_x 2>/dev/null; wait $pid_x 2>/dev/null
ip netns del $CUT 2>/dev/null
# The metrics line carries the last migration's figures.
if "$VMON" ctl --api-sock "$work/a.sock" metrics > "$work/metrics.json" 2>&1 &&
   m=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["migration"]; assert m["state"] == "failed" and m["bytes_sent"] > 0 and m["ram_sent"] > 0 and "timed out" in m["error"]; print("state %s, %d bytes sent, pass %d" % (m["state"], m["bytes_sent"], m["pass"]))' "$work/metrics.json" 2>&1); then
	result PASS migration/metrics "$m"
else
	result FAIL migration/metrics "$m $(head -c 300 "$work/metrics.json")"
fi

# --- A -> L: local, the memfd passed -----------------------------------------------------------
dest l
api "$work/l.sock" PUT /migration/receive "{\"url\": \"unix:$work/l.mig\"}" > /dev/null
before=$(last_tick "$work/console.log")
before_any=$before
api "$work/a.sock" PUT /migration/send "{\"url\": \"unix:$work/l.mig\", \"local\": true}" > /dev/null
wait $a
arc=$?
line=$(grep -o 'migrated to .*' "$LOGDIR/migration-a.log")
if [ "$arc" = 0 ] && echo "$line" | grep -q "unix:$work/l.mig: 0 pages in 0 passes" &&
   wait_tick "$work/console.log" $((before + 3)) $pid_l; then
	result PASS migration/local "$line"
else
	result FAIL migration/local "A exited $arc ($line); ticks up to $(last_tick "$work/console.log") after $before"
fi

# --- L -> B over a Unix socket at 80 Mbit/s: the dirtier outruns it until throttled ----------------
dest b
api "$work/b.sock" PUT /migration/receive "{\"url\": \"unix:$work/b.mig\"}" > /dev/null
before=$(last_tick "$work/console.log")
"$VMON" ctl --api-sock "$work/l.sock" migrate --to "unix:$work/b.mig" --max-bandwidth 80 \
	> "$LOGDIR/migration-ctl-l.out" 2>&1
crc=$?
wait $pid_l
lrc=$?
throttled=$(grep -o 'vCPUs throttled [0-9]*%' "$LOGDIR/migration-ctl-l.out" | tail -n 1)
if [ "$lrc" = 0 ] && [ "$crc" = 0 ] && [ -n "$throttled" ] &&
   wait_tick "$work/console.log" $((before + 3)) $pid_b; then
	result PASS migration/auto-converge "$(grep -c '^migration: pass' "$LOGDIR/migration-ctl-l.out") passes, $throttled at the end; $(grep -o 'migrated to .*' "$LOGDIR/migration-l.log")"
else
	result FAIL migration/auto-converge "L exited $lrc, vmon ctl $crc, '${throttled:-never throttled}' ($(tail -n 1 "$LOGDIR/migration-ctl-l.out")); ticks up to $(last_tick "$work/console.log") after $before"
fi

# --- B -> C over TCP, C in a network namespace behind a veth pair ---------------------------------
ip netns add $NS && ip link add vmig$$ type veth peer name vmigp$$ && ip link set vmigp$$ netns $NS &&
	ip addr add 10.79.0.1/24 dev vmig$$ && ip link set vmig$$ up &&
	ip netns exec $NS ip addr add 10.79.0.2/24 dev vmigp$$ && ip netns exec $NS ip link set vmigp$$ up &&
	ip netns exec $NS ip link set lo up &&
	ip netns exec $NS ip tuntap add dev $TAP mode tap multi_queue vnet_hdr &&
	ip netns exec $NS ip link set $TAP up
# What C's TAP carries of the guest's MAC as RARP (QEMU's announce), caught on the host side.
ip netns exec $NS python3 - "$TAP" > "$work/announce.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind((sys.argv[1], 0)); s.settimeout(1.0)
print("listening", flush=True)
seen, t0, first = 0, time.monotonic(), None
while time.monotonic() - t0 < 120 and seen < 5:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if f[6:12] == bytes.fromhex("525400123456") and f[20:22] == b"\x00\x03":
        seen += 1
        first = first or time.monotonic()
        print(f"rarp {seen} at +{(time.monotonic() - first) * 1000:.0f} ms", flush=True)
EOF
sniff=$!; pids+=($sniff)
# C listens from its command line (--incoming); B is sent with `vmon ctl migrate`.
ip netns exec $NS "$VMON" --api-sock "$work/c.sock" --incoming tcp:10.79.0.2:4444 \
	< /dev/null > "$LOGDIR/migration-c.out" 2> "$LOGDIR/migration-c.log" &
pid_c=$!; pids+=($pid_c)
wait_sock "$work/c.sock"
before=$(last_tick "$work/console.log")
dsums_before=$(grep -ac 'dirty-sum' "$work/console.log")
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
for _ in $(seq 1 20); do [ "$(grep -c '^rarp' "$work/announce.out")" -ge 5 ] && break; sleep 0.5; done
if [ "$(grep -c '^rarp' "$work/announce.out")" = 5 ]; then
	result PASS migration/announce "C's TAP carried 5 RARP frames from 52:54:00:12:34:56 ($(grep '^rarp 5' "$work/announce.out"))"
else
	result FAIL migration/announce "$(tr '\n' ' ' < "$work/announce.out")"
fi
kill $sniff 2>/dev/null

# The buffer the guest wrote before any migration still has its checksum on C; the dirtier's
# constant region sums as it did and no page it rewrote came back stale.
for _ in $(seq 1 60); do
	[ "$(grep -ao 'buf-md5 [0-9a-f]*' "$work/console.log" | wc -l)" -ge 2 ] &&
		[ "$(grep -ac 'dirty-sum' "$work/console.log")" -gt "$dsums_before" ] && break
	sleep 0.5
done
sums=$(grep -ao 'buf-md5 [0-9a-f]*' "$work/console.log" | cut -d' ' -f2 | sort -u)
dsums=$(grep -ao 'dirty-sum [0-9a-f]* ok' "$work/console.log" | cut -d' ' -f2 | sort -u)
bad=$(grep -ac 'BAD' "$work/console.log")
if [ -n "$sums" ] && [ "$(echo "$sums" | wc -l)" = 1 ] && [ "$(grep -ac 'buf-md5' "$work/console.log")" -ge 2 ] &&
   [ -n "$dsums" ] && [ "$(echo "$dsums" | wc -l)" = 1 ] && [ "$bad" = 0 ]; then
	result PASS migration/memory-intact "md5 $sums, dirtier sum $dsums ($(grep -ac 'dirty-sum' "$work/console.log") checks), no stale page, across three migrations"
else
	result FAIL migration/memory-intact "checksums: $(echo $sums) / $(echo $dsums), $bad BAD lines"
fi
kill -9 $pid_c 2>/dev/null
wait $pid_c 2>/dev/null
# The disk after three moves and a hard stop: the journal replays and the file system is
# clean; the counter's log on it runs without a gap from the first tick.
cp "$work/disk.ext4" "$work/disk.check"
e2fsck -fy "$work/disk.check" > "$LOGDIR/migration-fsck1.log" 2>&1
e2fsck -fn "$work/disk.check" > "$LOGDIR/migration-fsck2.log" 2>&1
frc=$?
debugfs -R 'cat /log' "$work/disk.check" 2>/dev/null > "$work/log.txt"
n=$(wc -l < "$work/log.txt")
gaps=$(awk 'NR == 1 { prev = $1; next } $1 != prev + 1 { g++ } { prev = $1 } END { print g + 0 }' "$work/log.txt")
if [ "$frc" = 0 ] && [ "$n" -gt "$before_any" ] && [ "$gaps" = 0 ]; then
	result PASS migration/disk-clean "e2fsck clean; the log holds ticks $(head -n 1 "$work/log.txt")..$(tail -n 1 "$work/log.txt") without a gap"
else
	result FAIL migration/disk-clean "e2fsck -fn exited $frc, $n lines in the log (the first migration began at tick $before_any), $gaps gaps"
fi

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
