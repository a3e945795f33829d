#!/bin/bash
# vmon jail: the jailed vmon boots the test guest, sees only its jail, runs as the
# unprivileged uid without capabilities under seccomp, in its cgroup with the limits set.
set -uo pipefail
SUITE=security
TESTS=(jail/boot jail/unprivileged jail/cannot-see-host jail/cgroup jail/seccomp)
. "$(dirname "$0")/lib.sh"

id=test-$$
base=$(mktemp -d)
uid=65534 gid=65534
trap 'kill -9 $jail 2>/dev/null; rm -rf "$base"' EXIT
chmod 755 "$base"
out=$LOGDIR/jail.console
"$VMON" jail --id "$id" --uid $uid --gid $gid --chroot-base "$base" \
	--file "$dir/vmlinux" --file "$dir/initramfs.cpio" \
	--cgroup memory.max=536870912 --cgroup "cpu.max=100000 100000" -- \
	run --kernel /vmlinux --initrd /initramfs.cpio --memory 96M --net none --api-sock /api.sock \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"sleep 5\"" \
	< /dev/null > "$out" 2> "$LOGDIR/jail.log" &
jail=$!
root=$base/vmon/$id/root
for _ in $(seq 1 100); do [ -S "$root/api.sock" ] && break; sleep 0.1; done
vmon=$(pgrep -P $jail | head -n 1)
status=/proc/$vmon/status

wait_for "$out" VMON-CHECK $jail
if grep -q "^Uid:.*$uid.*$uid" "$status" 2>/dev/null && grep -q "^Gid:.*$gid" "$status" &&
   grep -q "^CapEff:.*0000000000000000" "$status" && grep -q "^CapBnd:.*0000000000000000" "$status" &&
   grep -q "^NoNewPrivs:.*1" "$status"; then
	result PASS jail/unprivileged
else
	result FAIL jail/unprivileged "$(grep -E '^(Uid|Gid|CapEff|CapBnd|NoNewPrivs)' "$status" 2>&1 | tr '\n' ' ')"
fi
# The jailed process's root is the jail: no /etc, no /home, only what it was given.
listing=$(ls "/proc/$vmon/root/" 2>&1 | tr '\n' ' ')
if [ "$listing" = "api.sock dev initramfs.cpio lib lib64 proc vmlinux vmon " ] &&
   [ ! -e "/proc/$vmon/root/etc/passwd" ] && [ "$(ls "/proc/$vmon/root/proc" | grep -c '^[0-9]')" -le 2 ]; then
	result PASS jail/cannot-see-host "/ holds: $listing"
else
	result FAIL jail/cannot-see-host "/ holds: $listing"
fi
cg=$(cat "/proc/$vmon/cgroup" 2>/dev/null)
if [[ "$cg" == *"vmon/$id"* ]]; then
	result PASS jail/cgroup "$(echo "$cg" | grep "vmon/$id" | tr '\n' ' ')"
else
	result FAIL jail/cgroup "$cg"
fi
if grep -q "^Seccomp:.*2" "$status" && curl -s --unix-socket "$root/api.sock" http://localhost/ | grep -q Running; then
	result PASS jail/seccomp "filter mode 2 on the main thread; the API answers from inside the jail"
else
	result FAIL jail/seccomp "$(grep Seccomp "$status")"
fi
wait $jail
rc=$?
if [ "$rc" = 0 ] && grep -q 'VMON-CHECK-END rc=0' "$out"; then
	result PASS jail/boot
else
	result FAIL jail/boot "status $rc, see $out and $LOGDIR/jail.log"
fi
