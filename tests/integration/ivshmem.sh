#!/bin/bash
# ivshmem between VMs: `vmon shm-server`, one freestanding guest under vmon (role a) and the
# same guest under QEMU with -device ivshmem-doorbell (role b) exchange a 4 KiB buffer through
# the shared memory and wake each other by doorbell (MSI-X); a third vmon peer (role c) joins,
# rings both and leaves, and a fourth (bye) rings them after it left. vmon's side is watched
# through GET /vmon/shm and its log, the server's through its own. ivshmem-plain: a vmon guest
# and a QEMU guest (ivshmem-plain, memdev on the same file) see the host's bytes in a file and
# leave theirs there. No Linux boot; one vmon and one QEMU guest at a time besides the peers.
set -uo pipefail
SUITE=ivshmem
TESTS=(ivshmem/server-cli ivshmem/server-stuck-peer ivshmem/exchange-vmon-qemu ivshmem/third-peer-joins-and-leaves
       ivshmem/api-live ivshmem/snapshot-refused ivshmem/hostile-guest ivshmem/plain-snapshot
       ivshmem/config-file ivshmem/plain-file)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"

GUEST=${VMON_BUILD:-build}/tests/guest/ivshmem.elf
QEMU=$(command -v qemu-system-x86_64 || true)
need_kvm
need_guest "$GUEST"

work=$(mktemp -d)
srv_pid= a_pid= b_pid=
trap 'for p in $a_pid $b_pid $srv_pid; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
s=$work/ivshmem.sock asock=$work/a.sock
cons() { cat "$LOGDIR/ivshmem-$1.console" 2>/dev/null; }
# wait_line ROLE PATTERN PID: until ROLE's console shows PATTERN (30 s), or PID is gone.
wait_line() {
	for _ in $(seq 1 300); do
		grep -q "$2" "$LOGDIR/ivshmem-$1.console" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
vmon_peer() { # ROLE [ARGS...]: a freestanding vmon peer, console and log in $LOGDIR
	local role=$1
	shift
	# BG=1 for a peer put in the background: exec, so that $! is timeout itself (which passes
	# a TERM on to its child) rather than a subshell around it.
	${BG:+exec} timeout 60 "$VMON" run --testdev --memory 16M --net none --kernel "$GUEST" --cmdline "role=$role" \
		--console "file:$LOGDIR/ivshmem-$role.console" "$@" > "$LOGDIR/ivshmem-$role.log" 2>&1 < /dev/null
}
qemu_peer() { # ROLE DEVICE-ARGS...: the same guest under QEMU (exit status 1 is the guest's 0)
	local role=$1
	shift
	${BG:+exec} timeout 60 "$QEMU" -accel kvm -M q35 -m 64 -cpu host -display none -nodefaults \
		-serial "file:$LOGDIR/ivshmem-$role.console" -device isa-debug-exit,iobase=0xf4,iosize=4 \
		"$@" -kernel "$GUEST" -append "role=$role" > "$LOGDIR/ivshmem-$role.log" 2>&1 < /dev/null
}
rm -f "$LOGDIR"/ivshmem-*.console

# ---- the server's command line --------------------------------------------------------------
bad=
for args in "--size 1M" "--socket $s" "--socket $s --size 1000" "--socket $s --size 1M --vectors 0" \
	    "--socket $s --size 1M --vectors 17" "--socket $s --size 1M extra"; do
	out=$("$VMON" shm-server $args 2>&1); rc=$?
	[ "$rc" = 2 ] && [[ "$out" == "vmon shm-server: "* ]] || bad="$bad [$args: $rc $out]"
done
touch "$work/file"
out=$("$VMON" shm-server --socket "$work/file" --size 1M 2>&1); rc=$?
[ "$rc" = 1 ] && [[ "$out" == *"exists and is no socket"* ]] && [ -f "$work/file" ] || bad="$bad [file: $rc $out]"
if [ -z "$bad" ]; then result PASS ivshmem/server-cli "6 bad command lines, a file in the socket's place kept"
else result FAIL ivshmem/server-cli "$bad"; fi

# A peer that never reads cannot stall the server: once its socket is full it is dropped,
# and 1500 peers joining and leaving later are all served.
"$VMON" shm-server --socket "$s" --size 64K > "$LOGDIR/ivshmem-server-stuck.log" 2>&1 &
srv_pid=$!
wait_sock "$s"
answer=$(timeout 60 python3 - "$s" <<'PY'
import socket, sys
stuck = socket.socket(socket.AF_UNIX); stuck.connect(sys.argv[1])
for i in range(1500):
    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.recv(8); c.close()
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.settimeout(5)
print(len(c.recv(8)))
PY
)
kill $srv_pid; wait $srv_pid 2>/dev/null; srv_pid=
if [ "$answer" = 8 ] && grep -q "cannot send to peer 0 (Resource temporarily unavailable); dropping it" \
	"$LOGDIR/ivshmem-server-stuck.log" && grep -q "peer 1501 joined" "$LOGDIR/ivshmem-server-stuck.log"; then
	result PASS ivshmem/server-stuck-peer "the silent peer dropped, 1501 more served"
else
	result FAIL ivshmem/server-stuck-peer "answer '$answer': $(grep -v 'joined\|left' "$LOGDIR/ivshmem-server-stuck.log" | head -3)"
fi

# A hostile guest alone on a server: bad doorbells, registers, MSI-X entries, BAR2 over RAM,
# over BAR0, far above 4 GiB; vmon refuses each with a warning, and the device still works.
"$VMON" shm-server --socket "$s" --size 1M > "$LOGDIR/ivshmem-server-hostile.log" 2>&1 &
srv_pid=$!
wait_sock "$s"
vmon_peer hostile --shm "socket=$s" -v
h_rc=$?
kill $srv_pid; wait $srv_pid 2>/dev/null; srv_pid=
hl=$LOGDIR/ivshmem-hostile.log
if [ "$h_rc" = 0 ] && grep -q "hostile guest done, woken by its own doorbell" "$LOGDIR/ivshmem-hostile.console" &&
   grep -q "cannot make the shared memory at 0x400000 guest memory (File exists)" "$hl" &&
   grep -q "BAR2 at 0xe0000000 overlaps another device; left unmapped" "$hl" &&
   ! grep -q "KVM_SET_USER_MEMORY_REGION failed" "$hl"; then
	result PASS ivshmem/hostile-guest "3 dead doorbells, odd accesses, BAR2 over RAM/BAR0/2^52 refused; then rang itself"
else
	result FAIL ivshmem/hostile-guest "status $h_rc: $(tail -n 3 "$hl" | tr '\n' '/')"
fi

# ivshmem-plain on a file is saved: a snapshot of the paused guest, kill -9, a restore in a
# fresh vmon that maps the same file at the same guest address; the host's word written after
# the restore reaches the guest, whose answer reaches the file.
f2=$work/snap.bin psock=$work/p.sock rsock=$work/r.sock
python3 -c "import struct,sys; open(sys.argv[1],'wb').write(b'host'+struct.pack('<I',0x12345678))" "$f2"
# vmon itself in the background (not through vmon_peer's timeout), so kill -9 reaches it.
"$VMON" run --testdev --memory 16M --net none --kernel "$GUEST" --cmdline role=plain-snap \
	--console "file:$LOGDIR/ivshmem-plain-snap.console" --shm "path=$f2,size=64K" --api-sock "$psock" \
	> "$LOGDIR/ivshmem-plain-snap.log" 2>&1 < /dev/null &
a_pid=$!
ok=
if wait_line plain-snap "waiting for the host" $a_pid; then
	api "$psock" GET /vmon/shm > /dev/null
	where=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; print(hex(d["guest_address"]), d["mapped"])' "$work/body")
	p=$(api "$psock" PATCH /vm '{"state": "Paused"}')
	c=$(api "$psock" PUT /snapshot/create "{\"snapshot_path\": \"$work/p.state\", \"mem_file_path\": \"$work/p.mem\"}")
	kill -9 $a_pid; wait $a_pid 2>/dev/null
	timeout 60 "$VMON" run --restore "$work/p.state" --mem "$work/p.mem" --resume --api-sock "$rsock" \
		> "$LOGDIR/ivshmem-restored.log" 2>&1 < /dev/null &
	a_pid=$!
	wait_sock "$rsock"
	api "$rsock" GET /vmon/shm > /dev/null
	where2=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; print(hex(d["guest_address"]), d["mapped"])' "$work/body")
	python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(12); f.write(b'rest')" "$f2"
	wait $a_pid; r_rc=$?
	a_pid=
	done_word=$(python3 -c "import sys; d=open(sys.argv[1],'rb').read(); print(d[16:20].decode('latin-1'))" "$f2")
	[ "$p$c" = 204204 ] && [ "$where" = "$where2" ] && [[ "$where" == *" True" ]] && [ "$r_rc" = 0 ] &&
		[ "$done_word" = done ] && grep -q "the host wrote after the restore" "$LOGDIR/ivshmem-plain-snap.console" && ok=1
fi
if [ -n "$ok" ]; then
	result PASS ivshmem/plain-snapshot "restored at the same guest address ($where), the host's word read and answered after kill -9 and restore"
else
	[ -n "$a_pid" ] && kill $a_pid 2>/dev/null
	result FAIL ivshmem/plain-snapshot "pause ${p:-} create ${c:-} ($(cat "$work/body" 2>/dev/null | head -c 200)), BAR ${where:-} -> ${where2:-}, restored status ${r_rc:-}, word '${done_word:-}': $(tail -n 2 "$LOGDIR/ivshmem-restored.log" 2>/dev/null | tr '\n' '/')"
fi

# The config file's "vmon-shm" section, as PUT /vmon/shm/{shm_id}: a plain device the guest
# writes through (the process has no test device: it is stopped once the file shows the write),
# and a bad entry refused before boot.
f3=$work/cf.bin
python3 -c "import struct,sys; open(sys.argv[1],'wb').write(b'host'+struct.pack('<I',0x12345678))" "$f3"
cfg() { # SHM-ENTRY
	cat <<JSON
{ "boot-source": { "kernel_image_path": "$GUEST", "boot_args": "role=plain" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 16 },
  "vmon-shm": [ $1 ] }
JSON
}
cfg "{ \"shm_id\": \"fromfile\", \"path\": \"$f3\", \"size_bytes\": 65536 }" > "$work/cf.json"
timeout 30 "$VMON" --config-file "$work/cf.json" --no-api < /dev/null > "$LOGDIR/ivshmem-config-file.console" \
	2> "$LOGDIR/ivshmem-config-file.log" &
a_pid=$!
wrote=
for _ in $(seq 1 200); do
	python3 -c "import sys; sys.exit(open(sys.argv[1],'rb').read()[8:12] != b'uest')" "$f3" && { wrote=1; break; }
	kill -0 $a_pid 2>/dev/null || break
	sleep 0.1
done
kill $a_pid 2>/dev/null; wait $a_pid 2>/dev/null; a_pid=
cfg '{ "shm_id": "bad", "memfd": true, "size_bytes": 5000 }' > "$work/cf-bad.json"
bad_out=$("$VMON" --config-file "$work/cf-bad.json" --no-api 2>&1 < /dev/null); bad_rc=$?
if [ -n "$wrote" ] && [ "$bad_rc" != 0 ] && [[ "$bad_out" == *'config file, "vmon-shm": shm: a plain device needs size=SIZE'* ]]; then
	result PASS ivshmem/config-file "the guest wrote through a \"vmon-shm\" device; a bad entry refused (status $bad_rc)"
else
	result FAIL ivshmem/config-file "wrote '${wrote}', bad entry: status $bad_rc, $bad_out"
fi

if [ -z "$QEMU" ]; then
	for t in exchange-vmon-qemu third-peer-joins-and-leaves api-live snapshot-refused plain-file; do
		result SKIP "ivshmem/$t" "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
	done
	exit 0
fi

# ---- a (vmon) and b (QEMU) through vmon shm-server ----------------------------------------
"$VMON" shm-server --socket "$s" --size 1M > "$LOGDIR/ivshmem-server.log" 2>&1 &
srv_pid=$!
wait_sock "$s"
BG=1 vmon_peer a --shm "socket=$s" --api-sock "$asock" -v &
a_pid=$!
wait_line a "IVPosition" $a_pid
BG=1 qemu_peer b -chardev "socket,path=$s,id=ivs" -device ivshmem-doorbell,chardev=ivs,vectors=1 &
b_pid=$!
if wait_line a "waiting for the third peer" $a_pid && wait_line b "waiting for the third peer" $b_pid &&
   grep -q "exchange done with 0x00000001" "$LOGDIR/ivshmem-a.console" &&
   grep -q "exchange done with 0x00000000" "$LOGDIR/ivshmem-b.console"; then
	result PASS ivshmem/exchange-vmon-qemu "vmon peer 0 and QEMU peer 1: 4 KiB each way, woken by MSI-X"
else
	result FAIL ivshmem/exchange-vmon-qemu "a: $(cons a | tr '\n' '/') b: $(cons b | tr '\n' '/')"
fi

# GET /vmon/shm while a runs: peer 0, knows peer 1, the memory in a slot in the PCI window.
code=$(api "$asock" GET /vmon/shm)
live=$(python3 - "$work/body" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))[0]
ok = (d["shm_id"] == "shm0" and d["kind"] == "ivshmem-doorbell" and d["position"] == 0 and
      d["peers"] == [1] and d["mapped"] is True and d["size_bytes"] == 1 << 20 and
      0xe0000000 <= d["guest_address"] < 0xfec00000 and d["doorbells_rung"] == 1 and
      d["interrupts"] == 1 and d["doorbells_dropped"] == 0)
print("ok" if ok else "bad: %s" % d)
PY
)
put=$(api "$asock" PUT /vmon/shm/x '{"shm_id": "x", "memfd": true, "size_bytes": 4096}')
putmsg=$(cat "$work/body")
if [ "$code" = 200 ] && [ "$live" = ok ] && [ "$put" = 400 ] && [[ "$putmsg" == *"not supported after starting"* ]]; then
	result PASS ivshmem/api-live "position 0, peers [1], mapped in the PCI window, 1 doorbell each way; PUT after boot 400"
else
	result FAIL ivshmem/api-live "GET $code $live; PUT $put $putmsg"
fi

# A snapshot of a, paused: refused with a sentence, and a runs on after the resume.
p=$(api "$asock" PATCH /vm '{"state": "Paused"}')
c=$(api "$asock" PUT /snapshot/create "{\"snapshot_path\": \"$work/a.state\", \"mem_file_path\": \"$work/a.mem\"}")
msg=$(cat "$work/body")
r=$(api "$asock" PATCH /vm '{"state": "Resumed"}')
if [ "$p$c$r" = 204400204 ] && [[ "$msg" == *"shm0 shares memory with other VMs through an ivshmem server"* ]] &&
   [ ! -e "$work/a.state" ]; then
	result PASS ivshmem/snapshot-refused "400: $(echo "$msg" | cut -c1-90)..."
else
	result FAIL ivshmem/snapshot-refused "pause $p, create $c ($msg), resume $r"
fi

# c joins, rings a and b, leaves; a sees it come and go (its log, GET /vmon/shm); then bye.
vmon_peer c --shm "socket=$s"
c_rc=$?
peers_after=
for _ in $(seq 1 50); do
	grep -q "shm0: peer 2 left" "$LOGDIR/ivshmem-a.log" && break
	sleep 0.1
done
api "$asock" GET /vmon/shm > /dev/null
peers_after=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["peers"])' "$work/body")
vmon_peer bye --shm "socket=$s"
bye_rc=$?
wait $a_pid; a_rc=$?
wait $b_pid; b_rc=$?
a_pid= b_pid=
if [ "$c_rc$bye_rc$a_rc$b_rc" = 0001 ] &&
   grep -q "third peer rang, id 0x00000002" "$LOGDIR/ivshmem-a.console" &&
   grep -q "third peer rang, id 0x00000002" "$LOGDIR/ivshmem-b.console" &&
   grep -q "bye rang, id 0x00000003" "$LOGDIR/ivshmem-a.console" &&
   grep -q "bye rang, id 0x00000003" "$LOGDIR/ivshmem-b.console" &&
   grep -q "shm0: peer 2 joined" "$LOGDIR/ivshmem-a.log" && grep -q "shm0: peer 2 left" "$LOGDIR/ivshmem-a.log" &&
   [ "$peers_after" = "[1]" ] &&
   grep -q "peer 2 joined (3 connected)" "$LOGDIR/ivshmem-server.log" &&
   grep -q "peer 2 left (2 connected)" "$LOGDIR/ivshmem-server.log"; then
	result PASS ivshmem/third-peer-joins-and-leaves "peer 2 rang a and b and left (a's peers [1] again), peer 3 rang after it; a and b powered off"
else
	result FAIL ivshmem/third-peer-joins-and-leaves "status c $c_rc bye $bye_rc a $a_rc b $b_rc (want 0 0 0 1), a's peers after c: $peers_after; a: $(cons a | tail -n 2 | tr '\n' '/') b: $(cons b | tail -n 2 | tr '\n' '/')"
fi
kill $srv_pid 2>/dev/null; wait $srv_pid 2>/dev/null; srv_pid=

# ---- ivshmem-plain on a file: the host's bytes in, the guests' bytes out ---------------------
f=$work/plain.bin
python3 -c "import struct,sys; open(sys.argv[1],'wb').write(b'host'+struct.pack('<I',0x12345678))" "$f"
vmon_peer plain --shm "path=$f,size=64K"
v_rc=$?
vmon_ok=$(python3 - "$f" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
ok = len(d) == 65536 and d[8:12] == b'uest' and all(
    struct.unpack_from('<I', d, 0x1000 + 4 * i)[0] == (7 * 0x9e3779b1 + i) & 0xffffffff for i in range(1024))
print("ok" if ok else "bad")
PY
)
# QEMU's ivshmem-plain on the same file sees the host's words too.
qemu_peer plain -object "memory-backend-file,id=m,share=on,mem-path=$f,size=64K" -device ivshmem-plain,memdev=m
q_rc=$?
if [ "$v_rc" = 0 ] && [ "$vmon_ok" = ok ] && [ "$q_rc" = 1 ]; then
	result PASS ivshmem/plain-file "vmon's guest read the host's bytes and wrote 4 KiB into the file, grown to 64K; QEMU's guest read the same file"
else
	result FAIL ivshmem/plain-file "vmon status $v_rc, file $vmon_ok, QEMU status $q_rc: $(cons plain | tr '\n' '/')"
fi
