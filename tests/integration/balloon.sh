#!/bin/bash
# virtio-balloon with the Linux guest, in one boot (256 MiB, --balloon amount_mib=0,stats=1):
# the guest fills and empties a 100 MiB tmpfs file so its RAM is touched, then PATCH /balloon
# inflates to 128 MiB: the guest's MemTotal drops by about that and vmon's RSS by a good part
# of it (the pages are punched out of the memfd); GET /balloon/statistics shows the guest's
# numbers; a snapshot restored in a fresh vmon keeps the balloon; deflating the restored VM
# to 0 gives the guest its memory back.
set -uo pipefail
SUITE=balloon
TESTS=(balloon/stats balloon/inflate balloon/host-rss balloon/snapshot balloon/deflate)
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
con=$work/console.log
sock=$work/api.sock
# The last MemTotal (kB) the guest printed, and a stats field.
memtotal() { grep -a '^MemTotal:' "$con" | tail -n 1 | awk '{print $2}'; }
stat_field() {
	api "$sock" GET /balloon/statistics > /dev/null
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2],""))' \
		"$work/body" "$1" 2>/dev/null
}
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/$pid/status; }
# wait_actual MIB: until the guest reports that many MiB in the balloon (2 minutes).
wait_actual() {
	for _ in $(seq 1 240); do [ "$(stat_field actual_mib)" = "$1" ] && return 0; sleep 0.5; done
	return 1
}
# wait_memtotal CMP KB: until the guest's last MemTotal compares so (-lt, -gt) with KB.
wait_memtotal() {
	for _ in $(seq 1 60); do
		local m; m=$(memtotal)
		[ -n "$m" ] && [ "$m" "$1" "$2" ] && return 0
		sleep 1
	done
	return 1
}

cmd='dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null; rm /tmp/fill; echo FILLED;'
cmd+=' while :; do grep -E ^MemTotal: /proc/meminfo; sleep 2; done'
"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 256M \
	--balloon amount_mib=0,stats=1 --console "file:$con" --api-sock "$sock" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$LOGDIR/balloon.log" &
pid=$!
if ! wait_sock "$sock" || ! wait_for "$con" FILLED $pid || ! wait_memtotal -gt 0; then
	all_results FAIL "the guest did not start its loop, see $LOGDIR/balloon.log"
	exit 0
fi
sleep 3
total0=$(memtotal)
rss0=$(rss_kb)

free=$(stat_field free_memory) total=$(stat_field total_memory)
# After boot: the interval changes, statistics cannot be turned off, PUT is pre-boot only.
p=$(api "$sock" PATCH /balloon/statistics '{"stats_polling_interval_s": 2}')
p+=" $(api "$sock" PATCH /balloon/statistics '{"stats_polling_interval_s": 0}')"
p+=" $(api "$sock" PUT /balloon '{"amount_mib": 0, "deflate_on_oom": false}')"
p+=" $(api "$sock" GET /balloon)"
got=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(b["amount_mib"], b["stats_polling_interval_s"])' "$work/body" 2>/dev/null)
if [ -n "$free" ] && [ "$free" -gt 0 ] && [ -n "$total" ] && [ "$total" -gt 0 ] &&
   [ "$p" = "204 400 400 200" ] && [ "$got" = "0 2" ]; then
	result PASS balloon/stats "free_memory $free, total_memory $total"
else
	result FAIL balloon/stats "free '$free' total '$total', requests $p, GET /balloon '$got'"
fi

st=$(api "$sock" PATCH /balloon '{"amount_mib": 128}')
if [ "$st" = 204 ] && wait_actual 128 && wait_memtotal -lt $((total0 - 120 * 1024)); then
	total1=$(memtotal)
	result PASS balloon/inflate "MemTotal $total0 -> $total1 kB, actual_mib 128"
else
	result FAIL balloon/inflate "PATCH $st, actual_mib '$(stat_field actual_mib)', MemTotal $total0 -> $(memtotal) kB"
fi
sleep 1
rss1=$(rss_kb)
if [ -n "$rss0" ] && [ -n "$rss1" ] && [ "$rss1" -lt $((rss0 - 64 * 1024)) ]; then
	result PASS balloon/host-rss "VmRSS $rss0 -> $rss1 kB"
else
	result FAIL balloon/host-rss "VmRSS $rss0 -> $rss1 kB"
fi

# Paused, snapshotted, killed; restored in a fresh process that goes on with the balloon.
s=$(api "$sock" PATCH /vm '{"state": "Paused"}')
s+=" $(api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/state\", \"mem_file_path\": \"$work/mem\"}")"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
sock=$work/restored.sock
"$VMON" --api-sock "$sock" < /dev/null > /dev/null 2> "$LOGDIR/balloon-restored.log" &
pid=$!
wait_sock "$sock"
s+=" $(api "$sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/state\", \"mem_file_path\": \"$work/mem\", \"resume_vm\": true}")"
s+=" $(api "$sock" GET /balloon)"
cfg=$(cat "$work/body")
if [ "$s" = "204 204 204 200" ] && echo "$cfg" | grep -q '"amount_mib": *128' && wait_actual 128; then
	result PASS balloon/snapshot "restored: $cfg"
else
	result FAIL balloon/snapshot "requests $s, GET /balloon $cfg, actual_mib '$(stat_field actual_mib)'"
fi

st=$(api "$sock" PATCH /balloon '{"amount_mib": 0}')
if [ "$st" = 204 ] && wait_actual 0 && wait_memtotal -ge $((total0 - 1024)); then
	result PASS balloon/deflate "MemTotal back to $(memtotal) kB"
else
	result FAIL balloon/deflate "PATCH $st, actual_mib '$(stat_field actual_mib)', MemTotal $(memtotal) kB"
fi
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
