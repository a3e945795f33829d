#!/bin/bash
# MMDS from inside the Linux guest, in one boot inside a network namespace this suite makes:
# eth on a TAP device and eth on user-mode networking (libslirp), both named for MMDS (V2,
# --metadata FILE). Over each interface in turn the guest routes 169.254.169.254 there and
# uses busybox: wget without a token (401), nc for PUT /latest/api/token (busybox wget has
# no PUT), wget with the token (200, text), with Accept: application/json (JSON), the
# IMDS listing of an object, a wrong token (401), a token with a 1 s TTL after 2 s (401).
# Then the host PATCHes /mmds over the API and the guest sees the new value.
set -uo pipefail
SUITE=mmds
TESTS=(mmds/v2-no-token mmds/v2-token mmds/v2-json mmds/imds-list mmds/wrong-token
       mmds/expired-token mmds/tap mmds/user mmds/patch-live)
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

nsx "$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 128M \
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
wait_for "$con" 'PATCHED-' $vm
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
if [ "$patch" = 204 ]; then
	check mmds/patch-live 'PATCHED-yes'
else
	result FAIL mmds/patch-live "PATCH /mmds answered $patch"
fi
