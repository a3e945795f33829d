#!/bin/bash
# virtio-balloon with the Linux guest, in one boot (256 MiB, --balloon amount_mib=0,stats=1,
# deflate_on_oom=on,free_page_reporting=on): the guest fills a 100 MiB tmpfs file, holds it a
# few seconds, then deletes it: free page reporting gives it back, and vmon's RSS drops by
# most of it. PATCH /balloon inflates to 128 MiB: the guest's MemFree drops by about that
# (with deflate_on_oom Linux leaves inflated pages in MemTotal) and vmon's RSS stays down (the guest's free RAM was already reported, so the inflate itself
# cannot show a drop here; compared with the RSS while the file was held); GET
# /balloon/statistics shows the guest's numbers; a snapshot restored in a fresh vmon keeps
# the balloon; deflating the restored VM to 0 gives the guest its free memory back. Then the
# balloon takes 160 MiB, and a 100 MiB allocation in the guest, more than it has free,
# succeeds: the driver deflates on OOM and vmon sees `actual` drop.
set -uo pipefail
SUITE=balloon
TESTS=(balloon/free-page-reporting balloon/stats balloon/inflate balloon/host-rss balloon/snapshot
       balloon/deflate balloon/deflate-on-oom)
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
con=$work/console.log
sock=$work/api.sock
# The last MemTotal (kB) the guest printed, and a stats field.
memfree() { grep -a '^MemFree:' "$con" | tail -n 1 | awk '{print $2}'; }
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
# wait_memfree CMP KB: until the guest's last MemFree compares so (-lt, -ge) with KB.
wait_memfree() {
	for _ in $(seq 1 60); do
		local m; m=$(memfree)
		[ -n "$m" ] && [ "$m" "$1" "$2" ] && return 0
		sleep 1
	done
	return 1
}

# The guest's MemFree (kB) on a console line starting with $1 (OOM-BEFORE, OOM-AFTER).
memfree_at() { grep -a "^$1" "$con" | tail -n 1 | awk '{print $3}'; }
# The guest: the 100 MiB file held 8 s, then freed; MemTotal and MemFree every 2 s; once the
# balloon holds about 155 MiB or more (MemFree that far below its value after the file went),
# one 100 MiB allocation (a tmpfs file) with MemFree before and after.
cmd='oom=0; dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null; echo FILLED; sleep 8;'
cmd+=' rm /tmp/fill; echo FREED; set -- $(grep ^MemFree: /proc/meminfo); f0=$2;'
cmd+=' while :; do grep -E ^Mem[TF][a-z]*: /proc/meminfo; set -- $(grep ^MemFree: /proc/meminfo);'
cmd+=' if [ $oom = 0 ] && [ $2 -le $((f0 - 155 * 1024)) ]; then oom=1;'
cmd+=' echo OOM-BEFORE $(grep ^MemFree: /proc/meminfo);'
cmd+=' if dd if=/dev/zero of=/tmp/oom bs=1M count=100 2>/dev/null; then echo OOM-OK; else echo OOM-FAIL; fi;'
cmd+=' echo OOM-AFTER $(grep ^MemFree: /proc/meminfo); fi; sleep 2; done'
"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 256M \
	--balloon amount_mib=0,stats=1,deflate_on_oom=on,free_page_reporting=on \
	--console "file:$con" --api-sock "$sock" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$LOGDIR/balloon.log" &
pid=$!
if ! wait_sock "$sock" || ! wait_for "$con" ^FILLED $pid; then
	all_results FAIL "the guest did not fill its file, see $LOGDIR/balloon.log"
	exit 0
fi
sleep 1
rss_held=$(rss_kb)
# Linux reports free blocks of 2 MiB and more about 2 s after they are freed, a part of
# each free list at a time: give it 20 s.
freed=
if wait_for "$con" ^FREED $pid; then
	for i in $(seq 1 40); do
		rss_freed=$(rss_kb)
		[ "$rss_freed" -lt $((rss_held - 64 * 1024)) ] && freed=$i && break
		sleep 0.5
	done
fi
if [ -n "$freed" ]; then
	result PASS balloon/free-page-reporting "VmRSS $rss_held kB with the 100 MiB held -> $rss_freed kB $((freed / 2)) s after the guest freed it"
else
	result FAIL balloon/free-page-reporting "VmRSS $rss_held kB with the 100 MiB held -> ${rss_freed:-?} kB 20 s after the guest freed it"
fi
if ! wait_memfree -gt 0; then
	all_results FAIL "the guest did not start its loop, see $LOGDIR/balloon.log"
	exit 0
fi
sleep 3
free0=$(memfree)
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
if [ "$st" = 204 ] && wait_actual 128 && wait_memfree -lt $((free0 - 120 * 1024)); then
	result PASS balloon/inflate "MemFree $free0 -> $(memfree) kB, actual_mib 128"
else
	result FAIL balloon/inflate "PATCH $st, actual_mib '$(stat_field actual_mib)', MemFree $free0 -> $(memfree) kB"
fi
sleep 1
rss1=$(rss_kb)
# Reporting already gave the guest's free RAM back, so the inflate takes pages that are not
# resident: vmon's RSS must stay below what it was with the file held, and not grow.
if [ -n "$rss0" ] && [ -n "$rss1" ] && [ "$rss1" -lt $((rss_held - 64 * 1024)) ] &&
   [ "$rss1" -le $((rss0 + 8 * 1024)) ]; then
	result PASS balloon/host-rss "VmRSS $rss_held kB (file held) -> $rss0 (reported) -> $rss1 kB (inflated)"
else
	result FAIL balloon/host-rss "VmRSS $rss_held kB (file held) -> $rss0 (reported) -> $rss1 kB (inflated)"
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
if [ "$s" = "204 204 204 200" ] && echo "$cfg" | grep -q '"amount_mib": *128' &&
   echo "$cfg" | grep -q '"free_page_reporting": *true' && wait_actual 128; then
	result PASS balloon/snapshot "restored: $cfg"
else
	result FAIL balloon/snapshot "requests $s, GET /balloon $cfg, actual_mib '$(stat_field actual_mib)'"
fi

st=$(api "$sock" PATCH /balloon '{"amount_mib": 0}')
if [ "$st" = 204 ] && wait_actual 0 && wait_memfree -ge $((free0 - 16 * 1024)); then
	result PASS balloon/deflate "MemFree back to $(memfree) kB (was $free0)"
else
	result FAIL balloon/deflate "PATCH $st, actual_mib '$(stat_field actual_mib)', MemFree $(memfree) kB (was $free0)"
fi

# 160 MiB in the balloon leaves the guest less than the 100 MiB it then allocates.
st=$(api "$sock" PATCH /balloon '{"amount_mib": 160}')
# The most the balloon held before the guest's allocation (it deflates as that goes on).
act0=0
for _ in $(seq 1 480); do
	a=$(stat_field actual_mib)
	[ -n "$a" ] && [ "$a" -gt "$act0" ] && act0=$a
	grep -aq ^OOM-BEFORE "$con" && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
if [ "$st" = 204 ] && grep -aq ^OOM-BEFORE "$con"; then
	wait_for "$con" '^OOM-\(OK\|FAIL\)' $pid
	sleep 1
	act1=$(stat_field actual_mib)
	why="MemFree $(memfree_at OOM-BEFORE) -> $(memfree_at OOM-AFTER) kB, actual_mib $act0 -> $act1"
	if grep -aq ^OOM-OK "$con" && [ -n "$act0" ] && [ -n "$act1" ] && [ "$act1" -lt "$act0" ] &&
	   [ "$(memfree_at OOM-BEFORE)" -lt $((100 * 1024)) ]; then
		result PASS balloon/deflate-on-oom "$why"
	else
		result FAIL balloon/deflate-on-oom "$(grep -ao '^OOM-[A-Z]*' "$con" | tr '\n' ' ')$why"
	fi
else
	result FAIL balloon/deflate-on-oom "PATCH $st, actual_mib '$(stat_field actual_mib)', MemFree $(memfree) kB"
fi
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
