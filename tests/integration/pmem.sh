#!/bin/bash
# virtio-pmem with the Linux guest, in one boot: pmem0 on a 4 MiB file the host filled with a
# pattern, pmem1 read-only on a 2 MiB one. The guest sees /dev/pmem0 and /dev/pmem1 of the
# files' sizes, reads the host's pattern (md5), writes its own with an fsync (a flush request)
# that the host then finds in the file; on the read-only device the guest's write and flush
# fail and the file keeps its bytes. GET /vm/config lists both, PUT /pmem after boot and a
# migration are refused.
set -uo pipefail
SUITE=pmem
TESTS=(pmem/size pmem/host-to-guest pmem/guest-to-host pmem/read-only pmem/api)
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
con=$work/console.log
sock=$work/api.sock
head -c $((4 << 20)) /dev/urandom > "$work/rw.img"
head -c $((2 << 20)) /dev/urandom > "$work/ro.img"
host_md5=$(head -c $((1 << 20)) "$work/rw.img" | md5sum | cut -d' ' -f1)
ro_md5=$(md5sum < "$work/ro.img" | cut -d' ' -f1)
# field NAME: the value the guest printed after "NAME=" on the console.
field() { grep -ao "$1=[^ ]*" "$con" | tail -n 1 | cut -d= -f2 | tr -d '\r'; }

cmd='echo S0=$(cat /sys/block/pmem0/size) S1=$(cat /sys/block/pmem1/size);'
cmd+=' echo R0=$(dd if=/dev/pmem0 bs=1M count=1 2>/dev/null | md5sum);'
cmd+=' dd if=/dev/urandom of=/tmp/p bs=1M count=1 2>/dev/null;'
cmd+=' dd if=/tmp/p of=/dev/pmem0 bs=1M seek=2 conv=fsync 2>/dev/null; echo W0=$?;'
cmd+=' echo G0=$(md5sum < /tmp/p);'
cmd+=' dd if=/dev/zero of=/dev/pmem1 bs=4k count=1 conv=fsync 2>/dev/null; echo W1=$?;'
cmd+=' echo 3 > /proc/sys/vm/drop_caches; echo R1=$(md5sum < /dev/pmem1); echo PMEMDONE; sleep 600'
"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 128M \
	--pmem "path=$work/rw.img" --pmem "path=$work/ro.img,readonly" \
	--console "file:$con" --api-sock "$sock" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$LOGDIR/pmem.log" &
pid=$!
if ! wait_sock "$sock" || ! wait_for "$con" PMEMDONE $pid; then
	all_results FAIL "the guest did not finish, see $con / $LOGDIR/pmem.log: $(tail -c 600 "$con" 2>/dev/null | tr '\n' ' ')"
	exit 0
fi

s0=$(field S0) s1=$(field S1)
if [ "$s0" = $((4 << 11)) ] && [ "$s1" = $((2 << 11)) ]; then
	result PASS pmem/size "pmem0 $s0 sectors, pmem1 $s1 sectors"
else
	result FAIL pmem/size "pmem0 '$s0' pmem1 '$s1' sectors; dmesg: $(grep -a -i 'pmem\|nd_\|nvdimm' "$con" | head -5 | tr '\n' ' ')"
fi
r0=$(field R0)
if [ -n "$r0" ] && [ "$r0" = "$host_md5" ]; then
	result PASS pmem/host-to-guest "md5 $r0"
else
	result FAIL pmem/host-to-guest "guest read '$r0', host wrote $host_md5"
fi
g0=$(field G0) w0=$(field W0)
file_md5=$(tail -c +$(((2 << 20) + 1)) "$work/rw.img" | head -c $((1 << 20)) | md5sum | cut -d' ' -f1)
if [ "$w0" = 0 ] && [ -n "$g0" ] && [ "$g0" = "$file_md5" ]; then
	result PASS pmem/guest-to-host "write+fsync rc 0, md5 $g0 in the host file"
else
	result FAIL pmem/guest-to-host "write rc '$w0', guest md5 '$g0', host file $file_md5"
fi
w1=$(field W1) r1=$(field R1)
now_md5=$(md5sum < "$work/ro.img" | cut -d' ' -f1)
if [ -n "$w1" ] && [ "$w1" != 0 ] && [ "$now_md5" = "$ro_md5" ] && [ "$r1" = "$ro_md5" ]; then
	result PASS pmem/read-only "write+fsync rc $w1, file and guest view unchanged"
else
	result FAIL pmem/read-only "write rc '$w1', file $ro_md5 -> $now_md5, guest reads '$r1'"
fi

a=$(api "$sock" GET /vm/config)
cfg=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["pmem"]))' "$work/body" 2>/dev/null)
a+=" $(api "$sock" PUT /pmem/pmem2 "{\"id\": \"pmem2\", \"path_on_host\": \"$work/rw.img\"}")"
fault=$(cat "$work/body")
a+=" $(api "$sock" PUT /migration/send "{\"url\": \"unix:$work/nobody.mig\"}")"
mig=$(cat "$work/body")
if [ "$a" = "200 400 400" ] && echo "$cfg" | grep -q "\"id\": \"pmem1\", \"path_on_host\": \"$work/ro.img\", \"root_device\": false, \"read_only\": true" &&
   echo "$fault" | grep -q "not supported after starting" && echo "$mig" | grep -q "cannot be migrated while it has a pmem"; then
	result PASS pmem/api "GET /vm/config pmem $cfg; PUT after boot: 400; migration refused: $mig"
else
	result FAIL pmem/api "requests $a, pmem $cfg, fault $fault, migration $mig"
fi
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
