#!/bin/bash
# Snapshots with the Linux guest, one boot and several restores. The guest counts on the
# console, appends each count to a file on an ext4 virtio-blk disk (fsync'd), serves HTTP
# on a port forwarded by libslirp, has a virtio-rng, and answers lines typed on hvc0.
# Boot A is paused and snapshotted (vmon snapshot create), then killed -9. Restores, each
# in a fresh vmon: B over the API (counter continues, disk appends continue, hvc0 echoes,
# rng reads, the forwarded port answers; stopped through hvc0, the disk checks clean);
# three clones side by side, each with its own disk copy (in its own mount and network
# namespace, as a jailer would place them); a Diff merged onto its base; the userfaultfd
# backend with vmon-uffd-handler; and bad inputs, each refused with the VMM left fresh.
set -uo pipefail
SUITE=snapshot
TESTS=(snapshot/create-needs-pause snapshot/create snapshot/restore-continues snapshot/restore-devices
       snapshot/disk-clean snapshot/clones snapshot/diff-merge snapshot/uffd snapshot/bad-inputs
       snapshot/cli-restore snapshot/serial-input)
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf "$work"' EXIT
port=$((20000 + $$ % 20000))
fault() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("fault_message",""))' "$work/body" 2>/dev/null; }
# A console: vmon's stdin is a FIFO the test writes lines into (they go to hvc0).
open_console() { mkfifo "$work/$1.in"; exec {fd}<>"$work/$1.in"; eval "fd_$1=$fd"; }
say() { local v="fd_$1"; printf '%s\n' "$2" >&"${!v}"; }

truncate -s 32M "$work/data.ext4"
mkfs.ext4 -q "$work/data.ext4"

# The guest: tick loop (console + disk), httpd behind the forwarded port, an hvc0 reader.
cmd='mkdir /mnt; mount -t ext4 /dev/vda /mnt || echo mount-failed;'
cmd+=' ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2;'
cmd+=' mkdir /www; echo served-by-guest > /www/index.html; httpd -p 8000 -h /www;'
cmd+=' (i=0; while true; do echo tick-$i; echo $i >> /mnt/log; sync; i=$((i+1)); sleep 1; done) & t=$!;'
cmd+=' while read -r l; do case $l in'
cmd+=' rng) echo rng-bytes $(head -c 16 /dev/hwrng | od -An -tx1);;'
cmd+=' stop) kill $t; wait $t; umount /mnt && echo unmounted; break;;'
cmd+=' *) echo hvc0-echo:$l;; esac; done < /dev/hvc0 > /dev/hvc0'
args="console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\""

# --- boot A ----------------------------------------------------------------------------
open_console a
"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 256M \
	--disk path="$work/data.ext4" --net user,hostfwd=tcp:127.0.0.1:$port-:8000 --rng \
	--virtio-console --track-dirty-pages --api-sock "$work/a.sock" --cmdline "$args" \
	< "$work/a.in" > "$LOGDIR/snapshot-a.console" 2> "$LOGDIR/snapshot-a.log" &
a=$!; pids+=($a)
if ! wait_sock "$work/a.sock" || ! wait_tick "$LOGDIR/snapshot-a.console" 3 $a; then
	all_results FAIL "boot A did not tick, see $LOGDIR/snapshot-a.console"
	exit 0
fi
code=$(api "$work/a.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/s.state\", \"mem_file_path\": \"$work/s.mem\"}")
if [ "$code" = 400 ] && fault | grep -q "pause it first" && [ ! -e "$work/s.state" ]; then
	result PASS snapshot/create-needs-pause
else
	result FAIL snapshot/create-needs-pause "status $code: $(fault)"
fi
api "$work/a.sock" PATCH /vm '{"state": "Paused"}' > /dev/null
t0=$(date +%s%N)
"$VMON" snapshot create --api-sock "$work/a.sock" --state "$work/s.state" --mem "$work/s.mem" \
	> "$LOGDIR/snapshot-create.log" 2>&1
rc=$?
create_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
at_snap=$(last_tick "$LOGDIR/snapshot-a.console")
kill -9 $a; wait $a 2>/dev/null
mem_kib=$(du -k "$work/s.mem" | cut -f1)
if [ "$rc" = 0 ] && [ -s "$work/s.state" ] && [ "$(stat -c %s "$work/s.mem")" = $((256 << 20)) ] &&
   [ "$mem_kib" -lt $((256 << 10)) ]; then
	result PASS snapshot/create "${create_ms} ms, state $(stat -c %s "$work/s.state") bytes, memory file ${mem_kib} KiB of 256 MiB allocated"
else
	result FAIL snapshot/create "status $rc, see $LOGDIR/snapshot-create.log"
fi
cp --sparse=always "$work/s.mem" "$work/base.mem"
cp "$work/data.ext4" "$work/data-at-snap.ext4"

# --- restore B over the API, resumed ---------------------------------------------------------
open_console b
"$VMON" --api-sock "$work/b.sock" < "$work/b.in" > "$LOGDIR/snapshot-b.console" 2> "$LOGDIR/snapshot-b.log" &
b=$!; pids+=($b)
wait_sock "$work/b.sock"
t0=$(date +%s%N)
code=$(api "$work/b.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/s.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$work/s.mem\"}, \"track_dirty_pages\": true, \"resume_vm\": true}")
load_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$code" = 204 ] && wait_tick "$LOGDIR/snapshot-b.console" $((at_snap + 3)) $b &&
   [ "$(first_tick "$LOGDIR/snapshot-b.console")" -ge "$at_snap" ]; then
	result PASS snapshot/restore-continues "load ${load_ms} ms; ticks resumed at $(first_tick "$LOGDIR/snapshot-b.console") after $at_snap"
else
	result FAIL snapshot/restore-continues "status $code ($(fault)), ticks $(first_tick "$LOGDIR/snapshot-b.console")..$(last_tick "$LOGDIR/snapshot-b.console") after $at_snap"
fi
say b "hello-after-restore"
say b rng
fwd=$(curl -s -m 20 "http://127.0.0.1:$port/index.html")
for _ in $(seq 1 40); do
	grep -q rng-bytes "$LOGDIR/snapshot-b.console" && break
	sleep 0.5
done
cfg=$(api "$work/b.sock" GET /vm/config)
if grep -q 'hvc0-echo:hello-after-restore' "$LOGDIR/snapshot-b.console" &&
   grep -Eq 'rng-bytes( [0-9a-f]{2}){16}' "$LOGDIR/snapshot-b.console" && [ "$fwd" = served-by-guest ] &&
   grep -q '"mem_size_mib":256' "$work/body" && grep -q '"boot-source":{"kernel_image_path":"","initrd_path":null,"boot_args":null}' "$work/body"; then
	result PASS snapshot/restore-devices "hvc0 echoes, rng reads, the forwarded port answers, GET /vm/config reports the snapshot's VM"
else
	result FAIL snapshot/restore-devices "hvc0/rng/hostfwd ('$fwd') or /vm/config ($cfg), see $LOGDIR/snapshot-b.console"
fi

# --- a Diff on top of B's base, merged, restored as C ----------------------------------------
api "$work/b.sock" PATCH /vm '{"state": "Paused"}' > /dev/null
c1=$(api "$work/b.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/base2.state\", \"mem_file_path\": \"$work/base2.mem\"}")
api "$work/b.sock" PATCH /vm '{"state": "Resumed"}' > /dev/null
wait_tick "$LOGDIR/snapshot-b.console" $(( $(last_tick "$LOGDIR/snapshot-b.console") + 3 )) $b
api "$work/b.sock" PATCH /vm '{"state": "Paused"}' > /dev/null
c2=$(api "$work/b.sock" PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$work/diff.state\", \"mem_file_path\": \"$work/diff.mem\"}")
at_diff=$(last_tick "$LOGDIR/snapshot-b.console")
diff_kib=$(du -k "$work/diff.mem" | cut -f1)
api "$work/b.sock" PATCH /vm '{"state": "Resumed"}' > /dev/null

# B ends through hvc0: the tick loop stops, the disk is unmounted, the guest powers off.
say b stop
for _ in $(seq 1 60); do kill -0 $b 2>/dev/null || break; sleep 0.5; done
kill -9 $b 2>/dev/null
wait $b
brc=$?
logs=$(debugfs -R "cat /log" "$work/data.ext4" 2>/dev/null | tr '\n' ' ')
seq_ok=$(echo "$logs" | awk '{ for (i = 1; i <= NF; i++) if ($i != i - 1) { print "no"; exit } print "yes" }')
if [ "$brc" = 0 ] && grep -q unmounted "$LOGDIR/snapshot-b.console" &&
   e2fsck -fn "$work/data.ext4" > "$LOGDIR/snapshot-fsck.log" 2>&1 && [ "$seq_ok" = yes ] &&
   [ "$(echo "$logs" | wc -w)" -gt "$((at_snap + 3))" ]; then
	result PASS snapshot/disk-clean "/log holds 0..$(( $(echo "$logs" | wc -w) - 1 )) without a gap; e2fsck clean"
else
	result FAIL snapshot/disk-clean "status $brc, sequence ok: $seq_ok, see $LOGDIR/snapshot-fsck.log"
fi

cp --sparse=always "$work/base2.mem" "$work/merged.mem"
"$VMON" snapshot merge "$work/merged.mem" "$work/diff.mem" > "$LOGDIR/snapshot-merge.log" 2>&1
mrc=$?
cp "$work/data-at-snap.ext4" "$work/data.ext4" # C's disk: any consistent one will do
open_console c
"$VMON" --api-sock "$work/c.sock" < "$work/c.in" > "$LOGDIR/snapshot-c.console" 2> "$LOGDIR/snapshot-c.log" &
c=$!; pids+=($c)
wait_sock "$work/c.sock"
code=$(api "$work/c.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/diff.state\", \"mem_file_path\": \"$work/merged.mem\", \"resume_vm\": true}")
if [ "$c1$c2$mrc" = 2042040 ] && [ "$code" = 204 ] && wait_tick "$LOGDIR/snapshot-c.console" $((at_diff + 2)) $c &&
   [ "$(first_tick "$LOGDIR/snapshot-c.console")" -ge "$at_diff" ]; then
	result PASS snapshot/diff-merge "diff ${diff_kib} KiB; the merged restore resumed at tick $(first_tick "$LOGDIR/snapshot-c.console") after $at_diff"
else
	result FAIL snapshot/diff-merge "create $c1 $c2, merge $mrc, load $code ($(fault)), ticks from $(first_tick "$LOGDIR/snapshot-c.console") (want >= $at_diff)"
fi
kill -9 $c 2>/dev/null; wait $c 2>/dev/null

# --- three clones of A side by side, each with its own disk in its own namespaces -------------
ok=0
for n in 1 2 3; do
	cp "$work/data-at-snap.ext4" "$work/clone$n.ext4"
	open_console clone$n
	# As a jailer would: the snapshot's disk path shows this clone's copy, its own loopback.
	unshare -m -n sh -c "mount --bind '$work/clone$n.ext4' '$work/data.ext4' && ip link set lo up &&
		exec '$VMON' run --restore '$work/s.state' --mem '$work/s.mem' --resume" \
		< "$work/clone$n.in" > "$LOGDIR/snapshot-clone$n.console" 2> "$LOGDIR/snapshot-clone$n.log" &
	cl[$n]=$!; pids+=(${cl[$n]})
done
for n in 1 2 3; do
	wait_tick "$LOGDIR/snapshot-clone$n.console" $((at_snap + 3)) ${cl[$n]} && ok=$((ok + 1))
	say clone$n "clone-$n-here"
done
sleep 2
for n in 1 2 3; do say clone$n stop; done
for n in 1 2 3; do
	for _ in $(seq 1 60); do kill -0 ${cl[$n]} 2>/dev/null || break; sleep 0.5; done
	kill -9 ${cl[$n]} 2>/dev/null
	wait ${cl[$n]} && grep -q "hvc0-echo:clone-$n-here" "$LOGDIR/snapshot-clone$n.console" &&
		e2fsck -fn "$work/clone$n.ext4" > /dev/null 2>&1 && ok=$((ok + 1))
done
if [ "$ok" = 6 ]; then
	result PASS snapshot/clones "3 clones ran side by side, each stopped cleanly with a clean disk"
else
	result FAIL snapshot/clones "$ok of 6 checks, see $LOGDIR/snapshot-clone*.console"
fi

# --- the userfaultfd backend, pages served by vmon-uffd-handler -----------------------------------
cp "$work/data-at-snap.ext4" "$work/data.ext4"
"$(dirname "$VMON")/vmon-uffd-handler" "$work/uffd.sock" "$work/s.mem" > "$LOGDIR/snapshot-uffd-handler.log" 2>&1 &
h=$!; pids+=($h)
wait_sock "$work/uffd.sock"
open_console d
"$VMON" --api-sock "$work/d.sock" < "$work/d.in" > "$LOGDIR/snapshot-d.console" 2> "$LOGDIR/snapshot-d.log" &
d=$!; pids+=($d)
wait_sock "$work/d.sock"
code=$(api "$work/d.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/s.state\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"$work/uffd.sock\"}, \"resume_vm\": true}")
if [ "$code" = 204 ] && wait_tick "$LOGDIR/snapshot-d.console" $((at_snap + 2)) $d; then
	kill $d; wait $d 2>/dev/null
	sleep 0.5
	result PASS snapshot/uffd "$(grep -o 'served [0-9]* pages' "$LOGDIR/snapshot-uffd-handler.log" || echo handler running)"
else
	result FAIL snapshot/uffd "status $code ($(fault)), see $LOGDIR/snapshot-d.console and snapshot-uffd-handler.log"
fi
kill -9 $d $h 2>/dev/null

# --- bad inputs: each a 400 naming the problem, and the VMM still fresh afterwards ----------------
bad=0
check_bad() { # NAME BODY FAULT-REGEX
	local sock=$work/bad-$1.sock p code
	"$VMON" --api-sock "$sock" > /dev/null 2> "$LOGDIR/snapshot-bad-$1.log" &
	p=$!; pids+=($p)
	wait_sock "$sock"
	code=$(api "$sock" PUT /snapshot/load "$2")
	if [ "$code" != 400 ] || ! fault | grep -Eq "$3"; then
		echo "  $1: status $code, '$(fault)', want 400 /$3/"
		bad=$((bad + 1))
	elif [ "$(api "$sock" GET /)" != 200 ] || ! grep -q '"Not started"' "$work/body"; then
		echo "  $1: the VMM is not fresh after the refusal"
		bad=$((bad + 1))
	fi
	kill $p; wait $p 2>/dev/null
}
load_body() { echo "{\"snapshot_path\": \"$1\", \"mem_file_path\": \"${2:-$work/s.mem}\"}"; }
head -c 1000 "$work/s.state" > "$work/trunc.state"
cp "$work/s.state" "$work/flip.state"
printf '\xff' | dd of="$work/flip.state" bs=1 seek=4000 conv=notrunc 2> /dev/null
cp "$work/s.state" "$work/major.state"
printf '\x63\x00' | dd of="$work/major.state" bs=1 seek=8 conv=notrunc 2> /dev/null
truncate -s 64M "$work/short.mem"
head -c 4096 /dev/urandom > "$work/junk.state"
check_bad truncated "$(load_body "$work/trunc.state")" "trunc"
check_bad flipped "$(load_body "$work/flip.state")" "CRC"
check_bad newer-major "$(load_body "$work/major.state")" "format 99.0 is newer"
check_bad short-memory "$(load_body "$work/s.state" "$work/short.mem")" "memory file .*short.mem.* holds"
check_bad not-a-snapshot "$(load_body "$work/junk.state")" "not a vmon snapshot"
check_bad override-unknown "{\"snapshot_path\": \"$work/s.state\", \"mem_file_path\": \"$work/s.mem\", \"network_overrides\": [{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap9\"}]}" "no TAP interface 'eth9'"
mv "$work/data.ext4" "$work/data.moved"
check_bad missing-disk "$(load_body "$work/s.state")" "disk '.*data.ext4'"
mv "$work/data.moved" "$work/data.ext4"
# Load after configuration, create while running.
"$VMON" --api-sock "$work/e.sock" > /dev/null 2> "$LOGDIR/snapshot-bad-e.log" &
e=$!; pids+=($e)
wait_sock "$work/e.sock"
api "$work/e.sock" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}' > /dev/null
code=$(api "$work/e.sock" PUT /snapshot/load "$(load_body "$work/s.state")")
fault | grep -q "not allowed after configuring" && [ "$code" = 400 ] || { echo "  after-config: $code '$(fault)'"; bad=$((bad + 1)); }
kill $e; wait $e 2>/dev/null
if [ "$bad" = 0 ]; then
	result PASS snapshot/bad-inputs "truncated, flipped byte, newer major, short memory file, not a snapshot, unknown network override, missing disk, after configuration"
else
	result FAIL snapshot/bad-inputs "$bad refusals wrong (see above)"
fi

# --- the command line: vmon run --restore, then the API resumes it -------------------------------
cp "$work/data-at-snap.ext4" "$work/data.ext4"
open_console f
"$VMON" run --restore "$work/s.state" --mem "$work/s.mem" --api-sock "$work/f.sock" \
	< "$work/f.in" > "$LOGDIR/snapshot-f.console" 2> "$LOGDIR/snapshot-f.log" &
f=$!; pids+=($f)
wait_sock "$work/f.sock"
sleep 2
paused_ticks=$(grep -c tick- "$LOGDIR/snapshot-f.console")
state=$(api "$work/f.sock" GET / > /dev/null; python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$work/body")
api "$work/f.sock" PATCH /vm '{"state": "Resumed"}' > /dev/null
if [ "$paused_ticks" = 0 ] && [ "$state" = Paused ] && wait_tick "$LOGDIR/snapshot-f.console" $((at_snap + 2)) $f; then
	result PASS snapshot/cli-restore "restored paused (no tick for 2 s), resumed over the API"
else
	result FAIL snapshot/cli-restore "state $state, $paused_ticks ticks while paused, see $LOGDIR/snapshot-f.log"
fi
kill -9 $f 2>/dev/null
wait $f 2>/dev/null

# --- the UART across a snapshot: without virtio-console, input reaches ttyS0 -----------------------
# The shell reads the serial console; a line typed after the restore comes back through the
# restored 16550 (its FIFOs, interrupt enables and line state) and the guest's tty.
open_console g
echo_cmd='echo serial-ready; while read -r l; do echo ttyS0-echo:$l; done'
"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 128M --net none \
	--api-sock "$work/g.sock" --cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$echo_cmd\"" \
	< "$work/g.in" > "$LOGDIR/snapshot-g.console" 2> "$LOGDIR/snapshot-g.log" &
g=$!; pids+=($g)
wait_sock "$work/g.sock"
wait_for "$LOGDIR/snapshot-g.console" serial-ready $g
say g "before-snapshot"
for _ in $(seq 1 40); do grep -q 'ttyS0-echo:before-snapshot' "$LOGDIR/snapshot-g.console" && break; sleep 0.5; done
api "$work/g.sock" PATCH /vm '{"state": "Paused"}' > /dev/null
code=$(api "$work/g.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/g.state\", \"mem_file_path\": \"$work/g.mem\"}")
kill -9 $g; wait $g 2>/dev/null
open_console h
"$VMON" run --restore "$work/g.state" --mem "$work/g.mem" < "$work/h.in" > "$LOGDIR/snapshot-h.console" 2> "$LOGDIR/snapshot-h.log" &
h2=$!; pids+=($h2)
sleep 1
say h "after-restore"
for _ in $(seq 1 40); do grep -q 'ttyS0-echo:after-restore' "$LOGDIR/snapshot-h.console" && break; sleep 0.5; done
if [ "$code" = 204 ] && grep -q 'ttyS0-echo:before-snapshot' "$LOGDIR/snapshot-g.console" &&
   grep -q 'ttyS0-echo:after-restore' "$LOGDIR/snapshot-h.console"; then
	result PASS snapshot/serial-input "a line typed on ttyS0 after the restore is echoed"
else
	result FAIL snapshot/serial-input "create $code, see $LOGDIR/snapshot-g.console and snapshot-h.console"
fi
kill -9 $h2 2>/dev/null
wait $h2 2>/dev/null
exit 0
