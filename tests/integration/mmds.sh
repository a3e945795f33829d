#!/bin/bash
# MMDS from inside the Linux guest, in one boot inside a network namespace this suite makes:
# eth on a TAP device and eth on user-mode networking (libslirp), both named for MMDS (V2,
# --metadata FILE). Over each interface in turn the guest routes 169.254.169.254 there and
# uses busybox: wget without a token (401), nc for PUT /latest/api/token (busybox wget has
# no PUT), wget with the token (200, text), with Accept: application/json (JSON), the
# IMDS listing of an object, a wrong token (401), a token with a 1 s TTL after 2 s (401).
# Then the host PATCHes /mmds over the API and the guest sees the new value, and PUT
# /mmds/config is refused after boot. A second boot is configured over the API instead
# (TAP interface, PUT /mmds/config V1 at 169.254.170.2 with imds_compat, PUT /mmds): no
# token needed, a bogus one ignored, text whatever Accept says. That VM is paused, snapshotted
# and loaded in a fresh vmon: MMDS's configuration comes back, its data store empty (as with
# Firecracker); PUT /mmds there and the resumed guest reads the new document.
set -uo pipefail
SUITE=mmds
TESTS=(mmds/v2-no-token mmds/v2-token mmds/v2-json mmds/imds-list mmds/wrong-token
       mmds/expired-token mmds/tap mmds/user mmds/patch-live mmds/config-post-boot
       mmds/v1-no-token mmds/v1-any-token mmds/v1-imds-compat mmds/snapshot-config
       mmds/snapshot-restored)
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
NS=vmon-mmds-$$
if ! command -v ip > /dev/null || ! ip netns add $NS 2> /dev/null; then
	all_results SKIP "cannot create a network namespace"
	exit 0
fi
vm=
trap '[ -n "$vm" ] && kill -9 $vm 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf "$work"' EXIT
nsx() { ip netns exec $NS "$@"; }
nsx ip link set lo up
nsx ip tuntap add mtap0 mode tap
nsx ip addr add 192.168.78.1/24 dev mtap0
nsx ip link set mtap0 up
con=$LOGDIR/mmds.console
sock=$work/api.sock
cat > "$work/meta.json" <<'EOF'
{"latest": {"meta-data": {"ami-id": "ami-12345", "tags": {"role": "test"}}}}
EOF

# What the guest runs over interface $ifc; every answer on one line after a marker.
U=http://169.254.169.254
put_token() { echo "printf 'PUT /latest/api/token HTTP/1.0\\r\\nX-metadata-token-ttl-seconds: $1\\r\\n\\r\\n' | nc 169.254.169.254 80 | tail -n 1"; }
cmd='tap=$(grep -l aa:bb:cc /sys/class/net/*/address | cut -d/ -f5);'
cmd+=' usr=$(grep -l 34:57 /sys/class/net/*/address | cut -d/ -f5);'
cmd+=' ip link set $tap up; ip addr add 192.168.78.2/24 dev $tap;'
cmd+=' ip link set $usr up; ip addr add 10.0.2.15/24 dev $usr;'
cmd+=' for ifc in $tap $usr; do kind=tap; [ $ifc = $usr ] && kind=user;'
cmd+=' ip route replace 169.254.169.254 dev $ifc;'
cmd+=" echo NOTOKEN-\$kind \$(wget -q -O - $U/latest/meta-data/ami-id 2>&1);"
cmd+=" tok=\$($(put_token 600)); echo TOKEN-\$kind \${#tok};"
cmd+=" echo AMI-\$kind \$(wget -q -O - --header X-metadata-token:\$tok $U/latest/meta-data/ami-id 2>&1);"
cmd+=" echo JSON-\$kind \$(wget -q -O - --header X-metadata-token:\$tok --header Accept:application/json $U/latest/meta-data/tags 2>&1);"
cmd+=" echo LIST-\$kind \$(wget -q -O - --header X-metadata-token:\$tok $U/latest/meta-data/ 2>&1);"
cmd+=" echo WRONG-\$kind \$(wget -q -O - --header X-metadata-token:AAAA\$tok $U/latest/meta-data/ami-id 2>&1);"
cmd+=" t1=\$($(put_token 1)); echo T1-\$kind \${#t1}; sleep 2;"
cmd+=" echo EXPIRED-\$kind \$(wget -q -O - --header X-metadata-token:\$t1 $U/latest/meta-data/ami-id 2>&1);"
cmd+=' done; echo READY-PATCH;'
cmd+=" for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do v=\$(wget -q -O - --header X-metadata-token:\$tok $U/patched 2>/dev/null) && break; sleep 1; done;"
cmd+=' echo PATCHED-$v'

ip netns exec $NS "$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 128M \
	--net tap=mtap0,mac=52:54:00:aa:bb:cc,mmds --net user,mmds \
	--mmds version=V2 --metadata "$work/meta.json" --api-sock "$sock" --console "file:$con" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > /dev/null 2> "$LOGDIR/mmds.log" &
vm=$!
if ! wait_sock "$sock" || ! wait_for "$con" READY-PATCH $vm; then
	all_results FAIL "the guest did not get through its requests, see $con and $LOGDIR/mmds.log"
	exit 0
fi
patch=$(api "$sock" PATCH /mmds '{"patched": "yes"}')
late=$(api "$sock" PUT /mmds/config '{"network_interfaces": ["net0"]}')
late_msg=$(cat "$work/body")
# The guest powers off after its last line; ip netns exec has exec'd vmon, so $vm is vmon.
wait_for "$con" VMON-CHECK-END $vm
kill $vm 2>/dev/null
wait $vm 2>/dev/null
vm=
tr -d '\r' < "$con" > "$work/console"

# check NAME PATTERN...: every pattern (a whole console line, both interfaces) is there.
check() {
	local name=$1 miss=""
	shift
	for p in "$@"; do grep -aqxF "$p" "$work/console" || miss+=" '$p'"; done
	if [ -z "$miss" ]; then result PASS "$name"; else result FAIL "$name" "missing$miss in $con"; fi
}
e401='wget: server returned error: HTTP/1.1 401 Unauthorized'
check mmds/v2-no-token "NOTOKEN-tap $e401" "NOTOKEN-user $e401"
check mmds/v2-token 'TOKEN-tap 44' 'TOKEN-user 44' 'AMI-tap ami-12345' 'AMI-user ami-12345'
check mmds/v2-json 'JSON-tap {"role":"test"}' 'JSON-user {"role":"test"}'
check mmds/imds-list 'LIST-tap ami-id tags/' 'LIST-user ami-id tags/'
check mmds/wrong-token "WRONG-tap $e401" "WRONG-user $e401"
check mmds/expired-token 'T1-tap 44' 'T1-user 44' "EXPIRED-tap $e401" "EXPIRED-user $e401"
check mmds/tap 'AMI-tap ami-12345' "EXPIRED-tap $e401"
check mmds/user 'AMI-user ami-12345' "EXPIRED-user $e401"
if [ "$late" = 400 ] && [[ "$late_msg" == *"not supported after starting"* ]]; then
	result PASS mmds/config-post-boot
else
	result FAIL mmds/config-post-boot "PUT /mmds/config after boot: $late $late_msg"
fi
if [ "$patch" = 204 ]; then
	check mmds/patch-live 'PATCHED-yes'
else
	result FAIL mmds/patch-live "PATCH /mmds answered $patch"
fi

# Boot 2: everything over the API; MMDS V1 on the TAP interface at another address.
con2=$LOGDIR/mmds-2.console
sock2=$work/api2.sock
U2=http://169.254.170.2
cmd2='ip link set eth0 up; ip addr add 192.168.78.2/24 dev eth0; ip route add 169.254.170.2 dev eth0;'
cmd2+=" echo V1-NOTOKEN \$(wget -q -O - $U2/latest/meta-data/ami-id 2>&1);"
cmd2+=" echo V1-BOGUS \$(wget -q -O - --header X-metadata-token:bogus $U2/latest/meta-data/ami-id 2>&1);"
cmd2+=" echo V1-COMPAT \$(wget -q -O - --header Accept:application/json $U2/latest/meta-data/tags 2>&1);"
cmd2+=" for i in \$(seq 1 120); do v=\$(wget -q -O - $U2/restored 2>/dev/null) && break; sleep 1; done;"
cmd2+=' echo RESTORED-$v'
ip netns exec $NS "$VMON" --api-sock "$sock2" < /dev/null > "$con2" 2> "$LOGDIR/mmds-2.log" &
vm=$!
wait_sock "$sock2"
st=$(api "$sock2" PUT /boot-source "{\"kernel_image_path\": \"$dir/vmlinux\", \"initrd_path\": \"$dir/initramfs.cpio\", \"boot_args\": \"console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\\\"$cmd2\\\"\"}")
st+=" $(api "$sock2" PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "mtap0"}')"
st+=" $(api "$sock2" PUT /mmds/config '{"version": "V1", "network_interfaces": ["eth0"], "ipv4_address": "169.254.170.2", "imds_compat": true}')"
st+=" $(api "$sock2" PUT /mmds "$(cat "$work/meta.json")")"
st+=" $(api "$sock2" PUT /actions '{"action_type": "InstanceStart"}')"
if [ "$st" != "204 204 204 204 204" ] || ! wait_for "$con2" V1-COMPAT $vm; then
	for t in mmds/v1-no-token mmds/v1-any-token mmds/v1-imds-compat mmds/snapshot-config mmds/snapshot-restored; do
		result FAIL $t "API configuration answered '$st' ($(cat "$work/body")), see $con2 and $LOGDIR/mmds-2.log"
	done
	exit 0
fi
sleep 1
tr -d '\r' < "$con2" > "$work/console"
check mmds/v1-no-token 'V1-NOTOKEN ami-12345'
check mmds/v1-any-token 'V1-BOGUS ami-12345'
check mmds/v1-imds-compat 'V1-COMPAT role'

# The snapshot, and its load in a fresh vmon (the first one gone: it holds the TAP).
snap=$(api "$sock2" PATCH /vm '{"state": "Paused"}')
snap+=" $(api "$sock2" PUT /snapshot/create "{\"snapshot_path\": \"$work/s.state\", \"mem_file_path\": \"$work/s.mem\"}")"
kill -9 $vm 2>/dev/null
wait $vm 2>/dev/null
con3=$LOGDIR/mmds-3.console
sock3=$work/api3.sock
ip netns exec $NS "$VMON" --api-sock "$sock3" < /dev/null > "$con3" 2> "$LOGDIR/mmds-3.log" &
vm=$!
wait_sock "$sock3"
snap+=" $(api "$sock3" PUT /snapshot/load "{\"snapshot_path\": \"$work/s.state\", \"mem_file_path\": \"$work/s.mem\"}")"
api "$sock3" GET /vm/config > /dev/null
mcfg=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["mmds-config"], sort_keys=True))' "$work/body" 2>&1)
snap+=" $(api "$sock3" GET /mmds) $(cat "$work/body")"
snap+=" $(api "$sock3" PUT /mmds '{"restored": "yes"}') $(api "$sock3" PATCH /vm '{"state": "Resumed"}')"
want='{"imds_compat": true, "ipv4_address": "169.254.170.2", "network_interfaces": ["eth0"], "version": "V1"}'
if [ "$mcfg" = "$want" ]; then
	result PASS mmds/snapshot-config
else
	result FAIL mmds/snapshot-config "after the load: '$mcfg'; the requests answered '$snap'"
fi
if [ "$snap" = "204 204 204 200 {} 204 204" ] && wait_for "$con3" RESTORED- $vm &&
   tr -d '\r' < "$con3" | grep -aqx RESTORED-yes; then
	result PASS mmds/snapshot-restored
else
	result FAIL mmds/snapshot-restored "the requests answered '$snap'; see $con3 and $LOGDIR/mmds-3.log"
fi
kill $vm 2>/dev/null
wait $vm 2>/dev/null
vm=
