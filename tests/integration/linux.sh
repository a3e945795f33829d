#!/usr/bin/env bash
# Linux guest tests: few boots (each costs 10-20 s on the nested-KVM host), several checks
# per boot. Results go to $LOGDIR/linux.results as "PASS: name" / "FAIL: name" / "SKIP: name".
set -uo pipefail
SUITE=linux
TESTS=(linux/bzimage-smp linux/vmlinux-reset linux/pvh-console linux/default-dhcp)
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

# 3. PVH entry, interactive shell on the serial console: input reaches the guest. As in
# `make run`, the default user-mode network is on and /init configures eth0 by DHCP; a web
# server in the guest is reached through a forwarded port.
fifo=$LOGDIR/pvh.in
rm -f "$fifo"
mkfifo "$fifo"
exec 8<>"$fifo"
start=$(date +%s)
fwd_port=$((20000 + $$ % 20000))
timeout 300 "$VMON" run --kernel "$dir/vmlinux" --boot pvh --initrd "$dir/initramfs.cpio" \
	--memory 128M --cmdline "$CMDLINE" --net "user,hostfwd=tcp:127.0.0.1:$fwd_port-:80" \
	< "$fifo" > "$LOGDIR/pvh-console.console" 2> "$LOGDIR/pvh-console.log" &
pid=$!
wait_for "$LOGDIR/pvh-console.console" 'vmon-guest: init started' $pid
sleep 2
printf 'echo "answer-$((6 * 7))"; cat /proc/cmdline\n' >&8
printf 'echo lease $(ip -4 -o addr show dev eth0) $(ip route show default) $(cat /etc/resolv.conf)\n' >&8
printf 'mkdir /www; echo "served-$((6 * 7))" > /www/index.html; httpd -p 80 -h /www && echo "httpd-$((1 + 1))"\n' >&8
wait_for "$LOGDIR/pvh-console.console" 'httpd-2' $pid
served=$(curl -s -m 20 "http://127.0.0.1:$fwd_port/index.html")
printf 'poweroff -f\n' >&8
wait $pid
rc=$?
exec 8>&-
rm -f "$fifo"
echo "  pvh-console: status $rc, $(($(date +%s) - start)) s"
lease=$(grep -a -m1 '^lease ' "$LOGDIR/pvh-console.console")
if [ "$rc" = 0 ] && grep -q 'answer-42' "$LOGDIR/pvh-console.console"; then
	result PASS linux/pvh-console
else
	result FAIL linux/pvh-console "status $rc, no 'answer-42' echoed back"
fi
if [[ $lease == *"inet 10.0.2.15/24"* && $lease == *"default via 10.0.2.2"* &&
      $lease == *"nameserver 10.0.2.3"* && $served == served-42 ]]; then
	result PASS linux/default-dhcp "eth0 10.0.2.15/24 by DHCP, a forwarded port reached the guest's httpd"
else
	result FAIL linux/default-dhcp "lease '$lease', forwarded port gave '$served'"
fi
