#!/bin/bash
# The GDB stub with real gdb (batch mode) and the Linux test guest's vmlinux symbols (no
# debug info: casts and addresses). One boot with 2 vCPUs, --gdb tcp --gdb-wait: gdb finds
# both vCPUs at the entry point, a hardware breakpoint on ksys_sync (the guest's loop runs
# `sync`), a backtrace, stepi, a software breakpoint on hrtimer_nanosleep (the loop's
# `sleep`), a watchpoint on jiffies, x/4gx of it, detach; the loop goes on. Then PUT /gdb
# starts a second stub on a Unix socket of the running VM, gdb continues and is stopped with
# Ctrl-C (SIGINT) and detaches. A third gdb continues until the guest finishes its loop and
# powers off: gdb hears the exit (W00), vmon's status is 0. Session 1 also pauses and resumes
# the VM (PATCH /vm) while gdb holds it. Then the freestanding gdb_smp guest: both vCPUs on
# one breakpoint and vCPU 1 writing a watched variable, no stop lost or doubled; a pause, a
# refused write and a snapshot while gdb holds it; its exit status through W. Last a tiny VM
# stopped by SIGTERM while gdb waits (X).
set -uo pipefail
SUITE=gdb
TESTS=(gdb/wait-entry gdb/threads gdb/registers gdb/hbreak gdb/bt gdb/stepi gdb/break gdb/watch
       gdb/pause-held gdb/examine gdb/detach gdb/runs-on gdb/api-attach gdb/ctrl-c gdb/exit-poweroff
       gdb/poweroff gdb/smp-break gdb/smp-watch gdb/smp-pause gdb/smp-exit-code gdb/sigterm)
. "$(dirname "$0")/lib.sh"
GUESTS=${VMON_BUILD:-build}/tests/guest
need_guest "$GUESTS/gdb_smp.elf"

if ! command -v gdb > /dev/null; then
	all_results SKIP "gdb is not installed (scripts/setup.sh installs it)"
	exit 0
fi
work=$(mktemp -d)
vm=
trap '[ -n "$vm" ] && kill -9 $vm 2>/dev/null; rm -rf "$work"' EXIT
port=$((30000 + $$ % 20000))
con=$work/console.log
log=$LOGDIR/gdb-vmon.log
out1=$LOGDIR/gdb-session1.out
out2=$LOGDIR/gdb-session2.out
# gdb's output after the line that echoes `marker NAME` (the scripts print markers).
section() { sed -n "/^marker $2\$/,/^marker /p" "$1" | sed '1d;$d'; }
check() { # NAME FUNCTION DETAIL: the function's status decides
	if "$2"; then result PASS "$1" "$3"; else result FAIL "$1" "$3"; fi
}
# A gdb line that makes an API request and prints "WORD STATUS SECONDS":
# api_line WORD SOCKET METHOD PATH BODY
api_line() {
	echo "shell curl -s --max-time 30 --unix-socket $2 -o /dev/null -w '$1 %{http_code} %{time_total}\\n'" \
		"-X $3 -H 'Content-Type: application/json' -d '$5' http://localhost$4"
}
# In section SECTION of gdb's OUTPUT, the status of request WORD; whether it took under 2 s.
req_status() { section "$1" "$2" | awk -v w="$3" '$1 == w {print $2}'; }
req_fast() { section "$1" "$2" | awk -v w="$3" '$1 == w {exit !($3 < 2)}'; }

cmd='i=0; while [ $i -lt 60 ]; do echo tick-$i; sync; i=$((i+1)); sleep 1; done'
"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 256M --cpus 2 \
	--net none --console "file:$con" --api-sock "$work/api.sock" -v \
	--gdb "tcp:127.0.0.1:$port" --gdb-wait \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$log" &
vm=$!
for _ in $(seq 1 50); do grep -q "gdb: listening" "$log" && break; sleep 0.1; done

# ---- session 1: at the entry point, then into the running kernel -----------------------------
cat > "$work/s1.gdb" <<EOF
set pagination off
set confirm off
target remote 127.0.0.1:$port
echo marker threads\n
info threads
echo marker registers\n
info registers
echo marker hbreak\n
hbreak ksys_sync
continue
echo marker bt\n
bt
echo marker stepi\n
print/x \$pc
stepi
print/x \$pc
delete
echo marker break\n
break hrtimer_nanosleep
continue
print/x \$pc
delete
echo marker watch\n
watch *(long *)&jiffies
continue
delete
echo marker pause\n
$(api_line paused "$work/api.sock" PATCH /vm '{"state": "Paused"}')
info registers rip
$(api_line resumed "$work/api.sock" PATCH /vm '{"state": "Resumed"}')
echo marker examine\n
x/4gx &jiffies
print (long)jiffies
echo marker detach\n
detach
echo marker end\n
EOF
timeout 240 gdb -batch -nx -x "$work/s1.gdb" "$dir/vmlinux" > "$out1" 2>&1
rc1=$?
tick_detach=$(last_tick "$con")

entry=$(grep -o 'via [^ ]* ([^)]*) at 0x[0-9a-f]*' "$log" | grep -o '0x[0-9a-f]*$')
rip=$(section "$out1" registers | awk '$1 == "rip" {print $2}')
t_entry() { [ -n "$entry" ] && [ -n "$rip" ] && [ $((rip)) = $((entry)) ]; }
check gdb/wait-entry t_entry "rip $rip at the first stop, the entry point ${entry:-not logged}"

threads=$(section "$out1" threads)
t_threads() { echo "$threads" | grep -q 'Thread 1 (vCPU 0)' && echo "$threads" | grep -q 'Thread 2 (vCPU 1)' &&
	[ "$(echo "$threads" | grep -c 'vCPU')" = 2 ]; }
check gdb/threads t_threads "$(echo "$threads" | grep -c vCPU) threads"

regs=$(section "$out1" registers)
t_regs() { for r in rip rsp eflags cs cr0 cr3 efer; do echo "$regs" | grep -q "^$r " || return 1; done; }
check gdb/registers t_regs "$(echo "$regs" | grep -E '^(cr3|efer) ' | awk '{print $1 "=" $2}' | tr '\n' ' ')"

hit=$(section "$out1" hbreak | grep -m1 'hit Breakpoint 1,')
t_hbreak() { section "$out1" hbreak | grep -q '^Hardware assisted breakpoint 1 at' &&
	echo "$hit" | grep -q 'in ksys_sync ()'; }
check gdb/hbreak t_hbreak "$hit"

frame0=$(section "$out1" bt | grep -m1 '^#0')
t_bt() { echo "$frame0" | grep -q ' ksys_sync ()'; }
check gdb/bt t_bt "$frame0"

pcs=$(section "$out1" stepi | grep -o '= 0x[0-9a-f]*' | cut -c3-)
pc_a=$(echo "$pcs" | sed -n 1p) pc_b=$(echo "$pcs" | sed -n 2p)
# The instruction after the breakpoint's, from the kernel's own disassembly.
next=$(objdump -d --start-address="${pc_a:-0}" --stop-address=$((${pc_a:-0} + 32)) "$dir/vmlinux" 2>/dev/null |
	grep -oE '^ *[0-9a-f]+:' | sed -n 2p | tr -d ' :')
t_stepi() { [ -n "$pc_b" ] && [ -n "$next" ] && [ $((pc_b)) = $((0x$next)) ]; }
check gdb/stepi t_stepi "pc $pc_a -> $pc_b, the next instruction at 0x${next:-?}"

hit=$(section "$out1" break | grep -m1 'hit Breakpoint')
t_break() { echo "$hit" | grep -q 'in hrtimer_nanosleep ()'; }
check gdb/break t_break "$hit"

watch=$(section "$out1" watch)
old=$(echo "$watch" | awk '/^Old value/ {print $4}') new=$(echo "$watch" | awk '/^New value/ {print $4}')
t_watch() { echo "$watch" | grep -q 'hit Hardware watchpoint 3: \*(long \*)&jiffies' &&
	[ -n "$old" ] && [ -n "$new" ] && [ "$new" -gt "$old" ]; }
check gdb/watch t_watch "jiffies $old -> $new"

# A pause used to wait 5 s for the vCPUs gdb holds and fail; now they count as parked.
t_pause() { [ "$(req_status "$out1" pause paused)" = 204 ] && req_fast "$out1" pause paused &&
	[ "$(req_status "$out1" pause resumed)" = 204 ] && section "$out1" pause | grep -q '^rip '; }
check gdb/pause-held t_pause "$(section "$out1" pause | grep -E '^(paused|resumed) ' | tr '\n' ' ')"

ex=$(section "$out1" examine)
t_examine() { echo "$ex" | grep -qE '^0x[0-9a-f]+ <jiffies(_64)?>:(\s+0x[0-9a-f]{16}){2}$' &&
	[ "$(echo "$ex" | grep -cE '(\s0x[0-9a-f]{16}){2}$')" = 2 ] && echo "$ex" | grep -qE '^\$[0-9]+ = [0-9]+$'; }
check gdb/examine t_examine "$(echo "$ex" | head -n 1 | tr -s '\t ' ' ')"

t_detach() { [ "$rc1" = 0 ] && grep -q 'Inferior 1 (Remote target) detached' "$out1" && grep -q '^marker end' "$out1"; }
check gdb/detach t_detach "gdb status $rc1, see $out1"

if wait_tick "$con" $((${tick_detach:-0} + 3)) $vm; then
	result PASS gdb/runs-on "tick-${tick_detach:-none} at detach, then tick-$(last_tick "$con")"
else
	result FAIL gdb/runs-on "tick-${tick_detach:-none} at detach, still tick-$(last_tick "$con")"
fi

# ---- session 2: PUT /gdb on the running VM, a Unix socket, Ctrl-C --------------------------
status=$(api "$work/api.sock" PUT /gdb "{\"url\": \"unix:$work/gdb.sock\"}")
cat > "$work/s2.gdb" <<EOF
set pagination off
set confirm off
target remote $work/gdb.sock
echo marker threads\n
info threads
echo marker continue\n
continue
echo marker detach\n
detach
echo marker end\n
EOF
timeout 120 gdb -batch -nx -x "$work/s2.gdb" "$dir/vmlinux" > "$out2" 2>&1 &
gdb2=$!
for _ in $(seq 1 100); do grep -q '^marker continue' "$out2" && break; sleep 0.1; done
sleep 2
# To gdb itself, not to `timeout`: timeout passes a signal on to the child and again to its
# whole process group, and a second SIGINT while gdb waits for the stop makes it give up and
# disconnect (seen in CI as a flaky gdb/ctrl-c).
kill -INT "$(pgrep -P $gdb2 -x gdb || echo $gdb2)" 2>/dev/null
wait $gdb2
rc2=$?
tick2=$(last_tick "$con")
t_api() { [ "$status" = 204 ] && [ "$(section "$out2" threads | grep -c vCPU)" = 2 ]; }
check gdb/api-attach t_api "PUT /gdb: $status; $(section "$out2" threads | grep -c vCPU) threads over unix:"
t_ctrl_c() { [ "$rc2" = 0 ] && section "$out2" continue | grep -q 'received signal SIGINT' && grep -q '^marker end' "$out2"; }
check gdb/ctrl-c t_ctrl_c "$(section "$out2" continue | grep -m1 SIGINT)"

# ---- session 3: gdb continues while the guest finishes its loop and powers off ------------
out3=$LOGDIR/gdb-session3.out
cat > "$work/s3.gdb" <<EOF
set pagination off
set confirm off
target remote $work/gdb.sock
echo marker continue\n
continue
echo marker end\n
EOF
timeout 240 gdb -batch -nx -x "$work/s3.gdb" "$dir/vmlinux" > "$out3" 2>&1
for _ in $(seq 1 240); do kill -0 $vm 2>/dev/null || break; sleep 0.5; done
wait $vm
rc=$?
vm=
exited=$(section "$out3" continue | grep -m1 '^\[Inferior 1')
t_exit() { [ "$rc" = 0 ] && [[ "$exited" == *"exited normally]" ]]; }
check gdb/exit-poweroff t_exit "${exited:-no exit seen, see $out3}"
t_poweroff() { [ "$rc" = 0 ] && grep -q 'VMON-CHECK-END rc=0' "$con" && [ "$(last_tick "$con")" = 59 ] &&
	[ -n "$tick2" ] && [ "$tick2" -gt "${tick_detach:-0}" ]; }
check gdb/poweroff t_poweroff "status $rc, tick-$(last_tick "$con") the last"

# ---- gdb_smp: two vCPUs on one breakpoint, a watchpoint beside it -------------------------
smp=$GUESTS/gdb_smp.elf
out4=$LOGDIR/gdb-smp.out
"$VMON" run --kernel "$smp" --testdev --cpus 2 --memory 32M --console none --net none \
	--api-sock "$work/smp-api.sock" --gdb "unix:$work/smp-gdb.sock" --gdb-wait -v \
	< /dev/null > /dev/null 2> "$LOGDIR/gdb-smp-vmon.log" &
vm=$!
wait_sock "$work/smp-gdb.sock"
# After each continue: the stopped thread, its pc and both vCPUs' call counts. Then, stopped:
# done = 3, a pause, a write refused while paused, a snapshot, the resume, the exit.
cat > "$work/smp.gdb" <<EOF
set pagination off
set confirm off
target remote $work/smp-gdb.sock
break *gdb_hit
watch *(long *)&watched
echo marker race\n
set \$i = 0
while \$i < 60
  continue
  printf "stop thread %d pc %lu hits %lu %lu watched %lu\n", \$_thread, \$pc, ((unsigned long *)&hits)[0], ((unsigned long *)&hits)[1], *(unsigned long *)&watched
  set \$i = \$i + 1
end
echo marker pause\n
delete
set var *(int *)&done = 3
$(api_line paused "$work/smp-api.sock" PATCH /vm '{"state": "Paused"}')
python
try:
    gdb.execute("set var *(int *)&done = 4")
    print("write went through")
except gdb.error as e:
    print("write refused: %s" % e)
end
$(api_line snapshot "$work/smp-api.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/smp.state\", \"mem_file_path\": \"$work/smp.mem\"}")
$(api_line resumed "$work/smp-api.sock" PATCH /vm '{"state": "Resumed"}')
printf "done %d\n", *(int *)&done
echo marker exit\n
continue
echo marker end\n
EOF
timeout 240 gdb -batch -nx -x "$work/smp.gdb" "$smp" > "$out4" 2>&1
wait $vm
rc_smp=$?
vm=

# Each thread's own count goes up by exactly one from one of its breakpoint stops to its
# next (a lost stop skips a call, a doubled one repeats it), at the breakpoint; the watch
# stops chain 0 -> 1 -> 2 ... with none skipped. Prints "STOPS THREADS WATCHES PROBLEMS".
race() {
	section "$out4" race | awk -v hit="$(($(nm "$smp" | awk '$3 == "gdb_hit" {print "0x" $1}')))" '
	/^Thread [0-9]+ hit Breakpoint/ { kind = "bp" }
	/^Thread [0-9]+ hit Hardware watchpoint/ { kind = "watch" }
	/^Old value = / { old = $4 }
	/^New value = / { new = $4 }
	/^stop thread / {
		t = $3; h = t == 1 ? $7 : $8
		if (kind == "bp") {
			nbp++; seen[t] = 1
			if ($5 != hit) { bad++; print "off the breakpoint: " $0 > "/dev/stderr" }
			if (t in last && h != last[t] + 1) { bad++; print "thread " t ": " last[t] " -> " h > "/dev/stderr" }
			last[t] = h
		} else if (kind == "watch") {
			nw++
			if (new != old + 1 || old != reported + 0) { bad++; print "watch " old " -> " new > "/dev/stderr" }
			reported = new
		} else { bad++; print "unexplained: " $0 > "/dev/stderr" }
		kind = ""; w = $10
	}
	END {
		if (w > reported + 1) { bad++; print "watched " w ", reported " reported + 0 > "/dev/stderr" }
		n = 0; for (t in seen) n++
		print nbp + 0, n, nw + 0, bad + 0
	}'
}
read -r n_bp n_threads n_watch n_bad < <(race 2> "$LOGDIR/gdb-smp-race.err")
why=$(head -c 200 "$LOGDIR/gdb-smp-race.err" | tr '\n' ';')
t_smp_break() { [ "${n_bp:-0}" -ge 20 ] && [ "$n_threads" = 2 ] && [ "$n_bad" = 0 ]; }
check gdb/smp-break t_smp_break "${n_bp:-0} breakpoint stops on ${n_threads:-0} threads, ${n_bad:-?} problems $why"
t_smp_watch() { [ "${n_watch:-0}" -ge 2 ] && [ "$n_bad" = 0 ]; }
check gdb/smp-watch t_smp_watch "${n_watch:-0} watchpoint stops among them, none lost"

# The snapshot taken while gdb held the VM is a working VM: done = 3 is in it, so it exits 3.
timeout 60 "$VMON" run --restore "$work/smp.state" --mem "$work/smp.mem" --resume \
	< /dev/null > "$LOGDIR/gdb-smp-restore.log" 2>&1
rc_restore=$?
t_smp_pause() { [ "$(req_status "$out4" pause paused)" = 204 ] && req_fast "$out4" pause paused &&
	section "$out4" pause | grep -q '^write refused: Cannot access memory' &&
	[ "$(req_status "$out4" pause snapshot)" = 204 ] && [ "$(req_status "$out4" pause resumed)" = 204 ] &&
	section "$out4" pause | grep -q '^done 3$' && [ "$rc_restore" = 3 ]; }
check gdb/smp-pause t_smp_pause "$(section "$out4" pause | grep -E '^(paused|snapshot|resumed|write|done) ' |
	cut -c1-30 | tr '\n' ';') restored: status $rc_restore"
exited=$(section "$out4" exit | grep -m1 '^\[Inferior 1')
t_smp_exit() { [ "$rc_smp" = 3 ] && [[ "$exited" == *"exited with code 03]" ]]; }
check gdb/smp-exit-code t_smp_exit "status $rc_smp; ${exited:-no exit seen, see $out4}"

# ---- SIGTERM while gdb waits for a stop: X --------------------------------------------------
out5=$LOGDIR/gdb-sigterm.out
"$VMON" run --kernel "$GUESTS/exitloop.elf" --testdev --memory 16M --console none --net none \
	--cmdline idle --gdb "unix:$work/term-gdb.sock" < /dev/null > /dev/null 2> "$LOGDIR/gdb-sigterm-vmon.log" &
vm=$!
wait_sock "$work/term-gdb.sock"
cat > "$work/term.gdb" <<EOF
set pagination off
set confirm off
target remote $work/term-gdb.sock
echo marker continue\n
continue
echo marker end\n
EOF
timeout 60 gdb -batch -nx -x "$work/term.gdb" "$GUESTS/exitloop.elf" > "$out5" 2>&1 &
gdb5=$!
for _ in $(seq 1 100); do grep -q '^marker continue' "$out5" && break; sleep 0.1; done
sleep 1
kill -TERM $vm
wait $vm
rc_term=$?
vm=
wait $gdb5
t_sigterm() { [ "$rc_term" = 6 ] && section "$out5" continue | grep -q 'Program terminated with signal SIGTERM'; }
check gdb/sigterm t_sigterm "status $rc_term; $(section "$out5" continue | grep -m1 terminated || echo "see $out5")"
