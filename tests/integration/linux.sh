#!/usr/bin/env bash
# Linux guest tests: few boots (each costs 10-20 s on the nested-KVM host), several checks
# per boot. Results go to $LOGDIR/linux.results as "PASS: name" / "FAIL: name" / "SKIP: name".
set -uo pipefail
SUITE=linux
TESTS=(linux/bzimage-smp linux/vmlinux-reset linux/pvh-console)
. "$(dirname "$0")/lib.sh"

CMDLINE="console=ttyS0 reboot=k panic=-1 quiet"

# boot NAME ARGS...: run vmon, log its console with a timestamp per line.
boot() {
	local name=$1
	shift
	local start=$(date +%s.%N)
	timeout 300 "$VMON" run "$@" < /dev/null 2> "$LOGDIR/$name.log" |
		while IFS= read -r line; do
			printf '%6.2f %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$line"
		done > "$LOGDIR/$name.console"
	rc=${PIPESTATUS[0]}
	end=$(date +%s.%N)
	total=$(echo "$end - $start" | bc)
	init_at=$(awk '/vmon-guest: init started/ {print $1; exit}' "$LOGDIR/$name.console")
	echo "  $name: status $rc, /init at ${init_at:-never} s, total ${total%.*} s"
}

# 1. bzImage (payload decompressed by vmon), 2 vCPUs, 256 MiB: what the guest sees.
boot bzimage-smp --kernel "$dir/bzImage" --initrd "$dir/initramfs.cpio" --cpus 2 --memory 256M \
	--cmdline "$CMDLINE vmon_check=1"
check=$(grep -o 'VMON-CHECK cpus=.*' "$LOGDIR/bzimage-smp.console")
cpus=$(echo "$check" | sed -n 's/.*cpus=\([0-9]*\).*/\1/p')
online=$(echo "$check" | sed -n 's/.*nproc_online=\([0-9]*\).*/\1/p')
mem=$(echo "$check" | sed -n 's/.*memtotal_kb=\([0-9]*\).*/\1/p')
if [ "$rc" = 0 ] && [ "$cpus" = 2 ] && [ "$online" = 2 ] && [ -n "$mem" ] &&
   [ "$mem" -gt $((230 * 1024)) ] && [ "$mem" -le $((256 * 1024)) ]; then
	result PASS linux/bzimage-smp
else
	result FAIL linux/bzimage-smp "status $rc, '$check' (want cpus=2, ~256 MiB, status 0)"
fi

# 2. vmlinux through the 64-bit boot protocol; the guest reboots (i8042 reset) -> status 3.
boot vmlinux-reset --kernel "$dir/vmlinux" --boot linux --initrd "$dir/initramfs.cpio" \
	--memory 128M --cmdline "$CMDLINE vmon_reboot=1"
if [ "$rc" = 3 ] && grep -q 'VMON-CHECK cpus=1 ' "$LOGDIR/vmlinux-reset.console"; then
	result PASS linux/vmlinux-reset
else
	result FAIL linux/vmlinux-reset "status $rc (want 3 = reset)"
fi

# 3. PVH entry, interactive shell on the serial console: input reaches the guest.
fifo=$LOGDIR/pvh.in
rm -f "$fifo"
mkfifo "$fifo"
exec 8<>"$fifo"
start=$(date +%s)
timeout 300 "$VMON" run --kernel "$dir/vmlinux" --boot pvh --initrd "$dir/initramfs.cpio" \
	--memory 128M --cmdline "$CMDLINE" < "$fifo" > "$LOGDIR/pvh-console.console" \
	2> "$LOGDIR/pvh-console.log" &
pid=$!
wait_for "$LOGDIR/pvh-console.console" 'vmon-guest: init started' $pid
sleep 2
printf 'echo "answer-$((6 * 7))"; cat /proc/cmdline\n' >&8
sleep 3
printf 'poweroff -f\n' >&8
wait $pid
rc=$?
exec 8>&-
rm -f "$fifo"
echo "  pvh-console: status $rc, $(($(date +%s) - start)) s"
if [ "$rc" = 0 ] && grep -q 'answer-42' "$LOGDIR/pvh-console.console"; then
	result PASS linux/pvh-console
else
	result FAIL linux/pvh-console "status $rc, no 'answer-42' echoed back"
fi
