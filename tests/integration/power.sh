#!/bin/bash
# ACPI power management with the Linux guest, in one boot (2 vCPUs): the guest suspends to
# RAM (echo mem > /sys/power/state) three times while a CPL3 ticker counts on the console,
# and is woken by `vmon ctl wake`, by the power button and by an RTC alarm it set itself.
# While it sleeps the API says Suspended, the ticks stop, a snapshot and a migration are
# refused, and a pause holds the VM across a wake. Last, with busybox acpid running, the
# power button becomes an orderly poweroff (vmon exits 0).
set -uo pipefail
SUITE=power
TESTS=(power/s3-suspend power/s3-refusals power/s3-pause-held power/s3-wake
       power/s3-powerbutton-wake power/s3-rtc-wake power/powerbutton-poweroff)
. "$(dirname "$0")/lib.sh"

if ! tools=$(guest/linux/tools.sh 2> "$LOGDIR/guest-tools.log" | tail -n 1) || [ ! -f "$tools/.done" ]; then
	all_results FAIL "guest tools build failed, see $LOGDIR/guest-tools.log"
	exit 0
fi
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
con=$work/console.log
sock=$work/api.sock
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2],""))' "$work/body" "$1" 2>/dev/null; }
state() { api "$sock" GET / > /dev/null; field state; }
# wait_state STATE [TRIES]: every 0.5 s.
wait_state() {
	for _ in $(seq 1 "${2:-120}"); do [ "$(state)" = "$1" ] && return 0; sleep 0.5; done; return 1
}
seen() { grep -aq "$1" "$con"; }
wait_seen() { wait_for "$con" "$1" $pid; }
# ticks_stand SECONDS: the last tick does not move for that long.
ticks_stand() {
	local t0 t1
	t0=$(last_tick "$con"); sleep "$1"; t1=$(last_tick "$con")
	[ -n "$t0" ] && [ "$t0" = "$t1" ]
}
ticks_run() { local t; t=$(last_tick "$con"); wait_tick "$con" $((t + 3)) $pid; }

# The guest: the ticker every 0.25 s; three suspends, the third with an RTC alarm 6 s
# ahead; then acpid with a PWRF handler that powers off.
cmd='/bin/ticker 250000 & sleep 2;'
cmd+=' for n in 1 2 3; do [ $n = 3 ] && echo +6 > /sys/class/rtc/rtc0/wakealarm;'
cmd+=' echo SUSPEND-$n; echo mem > /sys/power/state; echo RESUMED-$n rc=$?; sleep 2; done;'
# (No double quotes: the command travels inside the kernel command line's. acpid's default
# log is /var/log/acpid.log, which the guest lacks: without -l it exits at once.)
cmd+=" mkdir -p /etc/acpi/PWRF; h=/etc/acpi/PWRF/00000080; echo '#!/bin/sh' > \$h;"
cmd+=" echo 'echo VMON-POWERBUTTON > /dev/console; poweroff -f' >> \$h; chmod +x \$h;"
cmd+=' acpid -c /etc/acpi -l /tmp/acpid.log; sleep 2; echo ACPID-UP; sleep 600'
"$VMON" run --kernel "$dir/vmlinux" --initrd "$tools/initramfs-tools.cpio" --memory 256M --cpus 2 \
	--console "file:$con" --api-sock "$sock" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$LOGDIR/power.log" &
pid=$!
if ! wait_sock "$sock" || ! wait_tick "$con" 2 $pid; then
	all_results FAIL "the guest did not tick, see $LOGDIR/power.log"
	exit 0
fi

# --- 1: suspend; what a sleeping VM refuses; a pause across a wake; vmon ctl wake ----------
woke_early=$("$VMON-ctl" --api-sock "$sock" wake 2>&1)
if wait_seen SUSPEND-1 && wait_state Suspended && ticks_stand 3 && [ "$(state)" = Suspended ] &&
   echo "$woke_early" | grep -q "not suspended"; then
	result PASS power/s3-suspend "state Suspended, ticks stood at $(last_tick "$con")"
else
	result FAIL power/s3-suspend "state '$(state)', last tick $(last_tick "$con"), early wake: $woke_early"
fi

snap=$(api "$sock" PATCH /vm '{"state": "Paused"}')
snap+=" $(api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/s\", \"mem_file_path\": \"$work/m\"}")"
snap_err=$(field fault_message)
api "$sock" PATCH /vm '{"state": "Resumed"}' > /dev/null
mig=$(api "$sock" PUT /migration/send "{\"url\": \"unix:$work/nowhere.mig\"}")
mig_err=$(field fault_message)
if [ "$snap" = "204 400" ] && echo "$snap_err" | grep -q "suspended" && [ "$mig" = 400 ] &&
   echo "$mig_err" | grep -q "suspended" && [ ! -e "$work/s" ] && [ "$(state)" = Suspended ]; then
	result PASS power/s3-refusals "$snap_err"
else
	result FAIL power/s3-refusals "snapshot $snap ($snap_err), migration $mig ($mig_err), state '$(state)'"
fi

# Paused while asleep, then woken: it stays parked (Paused) until resumed.
p=$(api "$sock" PATCH /vm '{"state": "Paused"}')
p+=" $(api "$sock" PUT /actions '{"action_type": "Wake"}')"
held_state=$(state)
if [ "$p" = "204 204" ] && [ "$held_state" = Paused ] && ticks_stand 2 && ! seen RESUMED-1; then
	result PASS power/s3-pause-held
else
	result FAIL power/s3-pause-held "requests $p, state '$held_state', RESUMED-1 seen: $(seen RESUMED-1 && echo yes || echo no)"
fi
api "$sock" PATCH /vm '{"state": "Resumed"}' > /dev/null
# (Had the held wake not happened, this is the wake: the check above already failed.)
[ "$(state)" = Suspended ] && "$VMON-ctl" --api-sock "$sock" wake > /dev/null 2>&1
if wait_seen 'RESUMED-1 rc=0' && ticks_run && [ "$(state)" = Running ]; then
	result PASS power/s3-wake "ticks $(last_tick "$con") after the wake"
else
	result FAIL power/s3-wake "state '$(state)', $(grep -a RESUMED-1 "$con")"
fi

# --- 2: the power button wakes the guest (it does not power it off: acpid is not running) ---
if wait_seen SUSPEND-2 && wait_state Suspended && ticks_stand 2 &&
   "$VMON-ctl" --api-sock "$sock" powerdown > /dev/null 2>&1 && wait_seen 'RESUMED-2 rc=0' &&
   ticks_run && kill -0 $pid 2>/dev/null; then
	result PASS power/s3-powerbutton-wake
else
	result FAIL power/s3-powerbutton-wake "state '$(state)', $(grep -a 'RESUMED-2' "$con")"
fi

# --- 3: the guest's RTC alarm (6 s after it set it) wakes it, with nobody calling -------------
if wait_seen SUSPEND-3 && wait_state Suspended && t0=$(date +%s) && wait_seen 'RESUMED-3 rc=0' &&
   ticks_run; then
	result PASS power/s3-rtc-wake "woke $(( $(date +%s) - t0 )) s after the host saw it suspended"
else
	result FAIL power/s3-rtc-wake "state '$(state)', $(grep -a 'RESUMED-3' "$con")"
fi

# --- 4: acpid turns a press into a poweroff: vmon exits 0 ---------------------------------------
# `vmon ctl stop` (the systemd unit's ExecStop) presses the button and returns 0 only once
# the VMM is gone.
stop_rc=skipped
if wait_seen ACPID-UP; then
	"$VMON-ctl" --api-sock "$sock" stop --timeout 60 > "$LOGDIR/power-stop.log" 2>&1
	stop_rc=$?
fi
for _ in $(seq 1 20); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
wait $pid 2>/dev/null
rc=$?
pid=
if [ "$rc" = 0 ] && [ "$stop_rc" = 0 ] && seen VMON-POWERBUTTON; then
	result PASS power/powerbutton-poweroff "vmon ctl stop returned 0, vmon exited 0"
else
	result FAIL power/powerbutton-poweroff "status $rc, vmon ctl stop $stop_rc ($(cat "$LOGDIR/power-stop.log")), VMON-POWERBUTTON seen: $(seen VMON-POWERBUTTON && echo yes || echo no)"
fi
