#!/usr/bin/env bash
# virtio tests with the Linux guest (MMIO transport): few boots, many checks each.
# Results go to $LOGDIR/virtio.results as "PASS: name" / "FAIL: name" / "SKIP: name".
set -uo pipefail
SUITE=virtio
TESTS=()
for t in mmio pci; do
	TESTS+=(virtio-$t/blk-ext4 virtio-$t/blk-checksum virtio-$t/blk-readonly virtio-$t/rng
		virtio-$t/console-hvc0)
done
TESTS+=(virtio/blk-persist virtio-pci/intx virtio/blk-kill9 virtio/hvc0-shell virtio/net-tap virtio/net-user)
. "$(dirname "$0")/lib.sh"

for tool in mkfs.ext4 debugfs e2fsck; do
	if ! command -v $tool > /dev/null; then
		all_results SKIP "$tool not installed (e2fsprogs)"
		exit 0
	fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
disk=$work/root.ext4
truncate -s 64M "$disk"
mkfs.ext4 -q -F "$disk"
echo "hello-from-host" > "$work/hello.txt"
debugfs -w -R "write $work/hello.txt hello.txt" "$disk" > /dev/null 2>&1
python3 -c "
import sys
with open(sys.argv[1], 'wb') as f:
    for i in range(2048): f.write(('S%07d' % i).encode() * 64)" "$work/pattern.img"
pattern_md5=$(md5sum < "$work/pattern.img" | cut -d' ' -f1)

KARGS=(--kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 128M)
BASE="reboot=k panic=-1 quiet vmon_check=1"

# Boot 1 (once per transport): console on hvc0; ext4 disk, a read-only pattern disk, rng.
devices_boot() {
	local t=$1 out=$LOGDIR/virtio-$1.console rc guest_md5 host_md5
	local cmd='mkdir /mnt; mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt;'
	cmd+=' dd if=/dev/urandom of=/mnt/big bs=64k count=32 2>/dev/null; echo big-md5 $(md5sum < /mnt/big);'
	cmd+=' echo written-by-guest > /mnt/guest.txt; sync; umount /mnt;'
	cmd+=' echo ro-md5 $(md5sum < /dev/vdb); dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>/dev/null || echo ro-write-refused;'
	cmd+=' echo rng-bytes; head -c 32 /dev/hwrng | od -An -tx1 -w32; cat /sys/class/misc/hw_random/rng_current;'
	# Counted with shell builtins: the host's nested KVM sometimes hands a new process a TLS
	# page that reads back as zeros (SIGSEGV; see guest/linux/init), and this was the
	# boot's last pipeline of three.
	cmd+=' set -- /sys/bus/pci/drivers/virtio-pci/0000:*; [ -e $1 ] || shift $#; echo pci-devices-$#'
	timeout 300 "$VMON" run "${KARGS[@]}" --virtio-transport "$t" --net none \
		--disk "path=$disk,serial=vmon-root" --disk "path=$work/pattern.img,readonly" \
		--rng --virtio-console --cmdline "console=hvc0 $BASE vmon_cmd=\"$cmd\"" \
		< /dev/null > "$out" 2> "$LOGDIR/virtio-$t.log"
	rc=$?
	if [ "$rc" = 0 ] && grep -q hello-from-host "$out" && grep -q 'VMON-CHECK-END' "$out"; then
		result PASS virtio-$t/blk-ext4
	else
		result FAIL virtio-$t/blk-ext4 "status $rc, see $out"
	fi
	debugfs -R "dump big $work/big.out" "$disk" > /dev/null 2>&1
	guest_md5=$(sed -n 's/^big-md5 \([0-9a-f]*\).*/\1/p' "$out")
	host_md5=$(md5sum < "$work/big.out" 2>/dev/null | cut -d' ' -f1)
	if [ -n "$guest_md5" ] && [ "$guest_md5" = "$host_md5" ]; then
		result PASS virtio-$t/blk-checksum
	else
		result FAIL virtio-$t/blk-checksum "guest $guest_md5, host $host_md5"
	fi
	if grep -q "ro-md5 $pattern_md5" "$out" && grep -q ro-write-refused "$out" &&
	   [ "$(md5sum < "$work/pattern.img" | cut -d' ' -f1)" = "$pattern_md5" ]; then
		result PASS virtio-$t/blk-readonly
	else
		result FAIL virtio-$t/blk-readonly "read-only disk read wrong or was written"
	fi
	# The kernel command line cannot carry double quotes inside vmon_cmd: count the bytes here.
	if [ "$(grep -A1 '^rng-bytes' "$out" | tail -n 1 | grep -oE '[0-9a-f]{2}' | wc -l)" = 32 ] &&
	   grep -q virtio_rng "$out"; then
		result PASS virtio-$t/rng
	else
		result FAIL virtio-$t/rng "no bytes from /dev/hwrng"
	fi
	# The console itself was hvc0: the check lines above came through virtio-console; on PCI
	# all four devices must sit on the bus.
	if grep -q 'VMON-CHECK cpus=' "$out" &&
	   { [ "$t" = mmio ] || grep -q '^pci-devices-4' "$out"; }; then
		result PASS virtio-$t/console-hvc0
	else
		result FAIL virtio-$t/console-hvc0 "nothing on hvc0 (or devices missing from PCI)"
	fi
}
devices_boot mmio
devices_boot pci

# Boot 2: the file written in boot 1 survived the VM; then write + fsync and get killed -9.
# On PCI with MSI off (pci=nomsi): the disk interrupts through INTA# and the _PRT's GSI.
# Shell builtins, not a three-process pipeline (see the pci-devices count above).
cmd='n=0; while read -r l; do case $l in *IO-APIC*virtio*) n=$((n+1));; esac; done < /proc/interrupts; echo intx-lines-$n;'
cmd+=' mkdir /mnt; mount -t ext4 /dev/vda /mnt && cat /mnt/guest.txt;'
cmd+=' dd if=/dev/urandom of=/mnt/k9 bs=64k count=16 conv=fsync 2>/dev/null; echo k9-md5 $(md5sum < /mnt/k9); echo fsync-done; sleep 600'
# vmon itself runs in the background (no timeout(1) in between): kill -9 must hit vmon.
"$VMON" run "${KARGS[@]}" --net none --disk "path=$disk,transport=pci" \
	--cmdline "console=ttyS0 $BASE pci=nomsi vmon_cmd=\"$cmd\"" \
	< /dev/null > "$LOGDIR/virtio-2.console" 2> "$LOGDIR/virtio-2.log" &
pid=$!
wait_for "$LOGDIR/virtio-2.console" fsync-done $pid
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
killed=$?
out=$LOGDIR/virtio-2.console
if grep -q written-by-guest "$out"; then
	result PASS virtio/blk-persist
else
	result FAIL virtio/blk-persist "file from the first boot missing"
fi
if grep -q '^intx-lines-1' "$out" && grep -q written-by-guest "$out"; then
	result PASS virtio-pci/intx
else
	result FAIL virtio-pci/intx "the disk did not work through INTx"
fi
# The guest never unmounted: replay ext4's journal (as its next mount would) on a copy.
cp "$disk" "$work/after-kill.ext4"
e2fsck -fy "$work/after-kill.ext4" > "$LOGDIR/virtio-e2fsck.log" 2>&1
debugfs -R "dump k9 $work/k9.out" "$work/after-kill.ext4" > /dev/null 2>&1
guest_md5=$(sed -n 's/^k9-md5 \([0-9a-f]*\).*/\1/p' "$out")
host_md5=$(md5sum < "$work/k9.out" 2>/dev/null | cut -d' ' -f1)
if [ "$killed" = 137 ] && grep -q fsync-done "$out" && [ -n "$guest_md5" ] &&
   [ "$guest_md5" = "$host_md5" ]; then
	result PASS virtio/blk-kill9
else
	result FAIL virtio/blk-kill9 "status $killed (want 137), after kill -9: guest $guest_md5, host ${host_md5:-missing}"
fi

# Boot 2b: an interactive shell on hvc0: input travels through virtio-console's receive queue.
fifo=$work/hvc0.in
mkfifo "$fifo"
exec 8<>"$fifo"
"$VMON" run "${KARGS[@]}" --net none --virtio-console --cmdline "console=hvc0 reboot=k panic=-1 quiet" \
	< "$fifo" > "$LOGDIR/virtio-hvc0.console" 2> "$LOGDIR/virtio-hvc0.log" &
pid=$!
wait_for "$LOGDIR/virtio-hvc0.console" 'vmon-guest: init started' $pid
sleep 2
printf 'echo "hvc-$((6 * 7))"; tty\n' >&8
for _ in $(seq 1 60); do
	grep -q 'hvc-42' "$LOGDIR/virtio-hvc0.console" && break
	sleep 0.5
done
printf 'poweroff -f\n' >&8
for _ in $(seq 1 60); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
kill -9 $pid 2>/dev/null
wait $pid
rc=$?
exec 8>&-
if [ "$rc" = 0 ] && grep -q 'hvc-42' "$LOGDIR/virtio-hvc0.console" &&
   grep -q '/dev/hvc0' "$LOGDIR/virtio-hvc0.console"; then
	result PASS virtio/hvc0-shell
else
	result FAIL virtio/hvc0-shell "status $rc, no answer from the shell on hvc0"
fi

# Boot 3, inside a network namespace this test creates: eth0 on a TAP device (a server on
# the namespace's side of it), eth1 user-mode (libslirp, on virtio-pci) with a port
# forwarded into the guest.
NS=vmon-test-$$
if ! command -v ip > /dev/null || ! ip netns add $NS 2> /dev/null; then
	result SKIP virtio/net-tap "cannot create a network namespace"
	result SKIP virtio/net-user "cannot create a network namespace"
	exit 0
fi
trap 'ip netns del $NS 2>/dev/null; rm -rf "$work"' EXIT
nsx() { ip netns exec $NS "$@"; }
nsx ip link set lo up
nsx ip tuntap add vtap0 mode tap
nsx ip addr add 192.168.77.1/24 dev vtap0
nsx ip link set vtap0 up
mkdir -p "$work/www"
head -c 100000 /dev/urandom > "$work/www/blob"
blob_md5=$(md5sum < "$work/www/blob" | cut -d' ' -f1)
# One server, reachable through the TAP (192.168.77.1) and, for slirp, the netns loopback.
ip netns exec $NS timeout 300 python3 -m http.server 8080 --directory "$work/www" \
	> "$LOGDIR/virtio-http.log" 2>&1 &
http=$!
# Interfaces are found by MAC: MMIO and PCI devices may probe in either order.
cmd='tap=$(grep -l aa:bb:cc /sys/class/net/*/address | cut -d/ -f5);'
cmd+=' usr=$(grep -l 34:57 /sys/class/net/*/address | cut -d/ -f5);'
cmd+=' ip link set $tap up; ip addr add 192.168.77.2/24 dev $tap;'
cmd+=' wget -q -O /tmp/blob http://192.168.77.1:8080/blob; echo tap-md5 $(md5sum < /tmp/blob);'
# The user-mode interface is configured by DHCP from libslirp, as the default guest does.
cmd+=' vmon_dhcp $usr; echo dhcp-lease $(ip -4 -o addr show dev $usr) $(ip route show default) $(cat /etc/resolv.conf);'
cmd+=' wget -q -O /tmp/blob2 http://10.0.2.2:8080/blob; echo user-md5 $(md5sum < /tmp/blob2);'
cmd+=' mkdir /www; echo served-by-guest > /www/index.html; httpd -p 8000 -h /www; echo httpd-up; sleep 60'
ip netns exec $NS "$VMON" run "${KARGS[@]}" --net tap=vtap0,mac=52:54:00:aa:bb:cc \
	--net user,hostfwd=tcp:127.0.0.1:18080-:8000,transport=pci \
	--cmdline "console=ttyS0 $BASE vmon_cmd=\"$cmd\"" \
	< /dev/null > "$LOGDIR/virtio-3.console" 2> "$LOGDIR/virtio-3.log" &
vm=$!
wait_for "$LOGDIR/virtio-3.console" httpd-up $vm
fwd=$(nsx curl -s -m 20 http://127.0.0.1:18080/index.html)
# $vm is ip-netns-exec, which exec'd vmon, and $http timeout(1), which passes SIGTERM on.
kill $vm $http 2>/dev/null
wait $vm 2>/dev/null
out=$LOGDIR/virtio-3.console
if grep -q "tap-md5 $blob_md5" "$out"; then
	result PASS virtio/net-tap
else
	result FAIL virtio/net-tap "the file did not arrive intact over TAP, see $out"
fi
lease=$(grep -m1 '^dhcp-lease' "$out")
if grep -q "user-md5 $blob_md5" "$out" && [ "$fwd" = served-by-guest ] &&
   [[ $lease == *"inet 10.0.2.15/24"* && $lease == *"default via 10.0.2.2"* && $lease == *"nameserver 10.0.2.3"* ]]; then
	result PASS virtio/net-user
else
	result FAIL virtio/net-user "DHCP lease '$lease', slirp download or hostfwd failed (got '$fwd'), see $out"
fi
