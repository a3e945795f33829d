#!/bin/bash
# The management API with a real guest: Firecracker's getting-started sequence over the
# socket (curl) boots the test kernel from an ext4 root drive; then GET /vm/config, pause
# and resume against a counter in the guest, post-boot requests, metrics, `vmon ctl`,
# and SendCtrlAltDel. A second boot comes from a --config-file.
set -uo pipefail
SUITE=api
TESTS=(api/getting-started-boot api/vm-config api/pause-resume api/post-boot-requests api/schema-post
       api/drive-patch api/metrics api/ctl api/ctrl-alt-del api/config-file)
. "$(dirname "$0")/lib.sh"

SPEC=${VMON_FC_SPEC:-tests/data/firecracker.yaml}
work=$(mktemp -d)
sock=$work/api.sock
pid=
trap 'kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
curl_api() { curl -s --max-time 30 --unix-socket "$sock" -o "$work/body" -w '%{http_code}' -X "$1" \
	${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://localhost$2"; }
fault() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("fault_message",""))' "$work/body" 2>/dev/null; }

# The root file system: the test initramfs's files in an ext4 image (mkfs.ext4 -d).
mkdir "$work/root"
(cd "$work/root" && cpio -id --quiet < "$dir/initramfs.cpio")
echo "root-drive-ok" > "$work/root/etc/vmon-root"
truncate -s 32M "$work/rootfs.ext4"
mkfs.ext4 -q -d "$work/root" "$work/rootfs.ext4"
cp "$work/rootfs.ext4" "$work/rootfs-clean.ext4" # boot 1 ends without unmounting its root
truncate -s 8M "$work/data.img"
truncate -s 16M "$work/data2.img"

# --- boot 1: the getting-started sequence ------------------------------------------------
out=$LOGDIR/api-boot.console
"$VMON" --api-sock "$sock" --level Info < /dev/null > "$out" 2> "$LOGDIR/api-boot.log" &
pid=$!
for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
# The guest counts once a second; tick lines show whether it runs.
cmd="cat /etc/vmon-root; grep ' / ' /proc/mounts;"
cmd+=' i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done'
args="console=ttyS0 reboot=k panic=1 pci=off init=/init vmon_check=1 vmon_cmd=\\\"$cmd\\\""
codes=$(curl_api PUT /boot-source "{\"kernel_image_path\": \"$dir/vmlinux\", \"boot_args\": \"$args\"}")
codes+=" $(curl_api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$work/rootfs.ext4\", \"is_root_device\": true, \"is_read_only\": false}")"
codes+=" $(curl_api PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$work/data.img\", \"is_root_device\": false, \"io_engine\": \"Async\"}")"
codes+=" $(curl_api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128}')"
codes+=" $(curl_api PUT /metrics "{\"metrics_path\": \"$work/metrics.json\"}")"
codes+=" $(curl_api PUT /entropy '{}')"
# A TAP device (vmon creates it) so that the interface's post-boot PATCH has something to act on.
tap=vmontap$$
if [ -c /dev/net/tun ]; then
	codes+=" $(curl_api PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"$tap\", \"guest_mac\": \"06:00:ac:10:00:02\"}")"
else
	codes+=" 204"
fi
codes+=" $(curl_api PUT /actions '{"action_type": "InstanceStart"}')"
if [ "$codes" = "204 204 204 204 204 204 204 204" ] && wait_for "$out" tick-2 $pid &&
   grep -q root-drive-ok "$out" && grep -q '^/dev/root / ext4 rw' "$out"; then
	result PASS api/getting-started-boot
else
	result FAIL api/getting-started-boot "codes $codes ($(fault)), see $out"
fi

curl_api GET /vm/config > /dev/null
if python3 - "$work/body" "$dir/vmlinux" "$work/rootfs.ext4" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["boot-source"]["kernel_image_path"] == sys.argv[2], c["boot-source"]
assert "vmon_check=1" in c["boot-source"]["boot_args"]
assert c["machine-config"]["vcpu_count"] == 2 and c["machine-config"]["mem_size_mib"] == 128
d = {x["drive_id"]: x for x in c["drives"]}
assert d["rootfs"]["path_on_host"] == sys.argv[3] and d["rootfs"]["is_root_device"] is True
assert d["rootfs"]["is_read_only"] is False and d["data"]["io_engine"] == "Async"
assert c["entropy"] is not None and c["metrics"]["metrics_path"].endswith("metrics.json")
PY
then
	result PASS api/vm-config
else
	result FAIL api/vm-config "$(cat "$work/body")"
fi

# Pause: no tick for 3 s, GET / says Paused; resume: the count goes on from where it was.
last_tick() { grep -o 'tick-[0-9]*' "$out" | tail -n 1 | cut -d- -f2; }
c1=$(curl_api PATCH /vm '{"state": "Paused"}')
state=$(curl_api GET / > /dev/null; python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$work/body")
t1=$(last_tick); sleep 3; t2=$(last_tick)
c2=$(curl_api PATCH /vm '{"state": "Resumed"}')
wait_for "$out" "tick-$((t2 + 2))" $pid
t3=$(last_tick)
if [ "$c1 $c2" = "204 204" ] && [ "$state" = Paused ] && [ "$t1" = "$t2" ] && [ "${t3:-0}" -ge $((t2 + 2)) ]; then
	result PASS api/pause-resume "ticks $t1 -> $t2 while paused, $t3 after"
else
	result FAIL api/pause-resume "codes $c1 $c2, state $state, ticks $t1 $t2 $t3"
fi

# After boot: pre-boot resources are closed; InstanceStart a second time too.
bad=0
for req in "PUT|/boot-source|{\"kernel_image_path\": \"$dir/vmlinux\"}|after starting" \
	   'PUT|/machine-config|{"vcpu_count": 1, "mem_size_mib": 64}|after starting' \
	   "PUT|/drives/new|{\"drive_id\": \"new\", \"path_on_host\": \"$work/data2.img\", \"is_root_device\": false}|after starting" \
	   'PUT|/network-interfaces/eth0|{"iface_id": "eth0", "host_dev_name": "tap0"}|after starting' \
	   'PUT|/actions|{"action_type": "InstanceStart"}|after starting' \
	   'PATCH|/drives/nope|{"drive_id": "nope", "path_on_host": "/etc/hostname"}|no drive' \
	   'PUT|/migration/send|{"url": "tcp:127.0.0.1:9", "local": true}|use a unix:PATH URL' \
	   'PUT|/migration/send|{"url": "tcp:127.0.0.1:9"}|cannot connect to tcp:127.0.0.1:9' \
	   'PUT|/migration/send|{"url": "ftp:host"}|use tcp:ADDR:PORT or unix:PATH' \
	   'PUT|/migration/send|{"url": "unix:/x", "downtime": 3}|unknown field `downtime`' \
	   'PUT|/migration/receive|{"url": "unix:/tmp/x"}|needs a fresh vmon' \
	   'PUT|/migration/cancel|{}|No migration is under way'; do
	IFS='|' read -r m p b want <<< "$req"
	code=$(curl_api "$m" "$p" "$b")
	[ "$code" = 400 ] && [[ "$(fault)" == *"$want"* ]] || { echo "  $m $p: $code $(fault)"; bad=$((bad + 1)); }
done
# GET /migration before any: only the state.
code=$(curl_api GET /migration)
[ "$code" = 200 ] && [ "$(cat "$work/body")" = '{"state":"none"}' ] ||
	{ echo "  GET /migration: $code $(cat "$work/body")"; bad=$((bad + 1)); }
if [ $bad = 0 ]; then result PASS api/post-boot-requests; else result FAIL api/post-boot-requests "$bad wrong"; fi

if python3 -c 'import yaml' 2> /dev/null; then
	if python3 tests/integration/api_schema.py "$SPEC" "$sock" post "$work/data.img" > "$LOGDIR/api-schema-post.log" 2>&1; then
		result PASS api/schema-post "$(grep -c PASS "$LOGDIR/api-schema-post.log") requests"
	else
		result FAIL api/schema-post "$(grep FAIL "$LOGDIR/api-schema-post.log" | head -3)"
	fi
else
	result SKIP api/schema-post "python3-yaml missing"
fi

# A new backing file for the data drive: the guest sees the new size (16 MiB = 32768 sectors).
code=$(curl_api PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$work/data2.img\"}")
curl_api GET /vm/config > /dev/null
if [ "$code" = 204 ] && grep -q "data2.img" "$work/body" && wait_for "$out" "new size: 32768" $pid; then
	result PASS api/drive-patch
else
	result FAIL api/drive-patch "PATCH /drives/data: $code $(fault); no new size in the guest"
fi

code=$(curl_api PUT /actions '{"action_type": "FlushMetrics"}')
if [ "$code" = 204 ] && python3 - "$work/metrics.json" <<'PY'
import json, sys
line = [json.loads(l) for l in open(sys.argv[1])][-1]
assert line["vmm"]["rss_kib"] > 0 and line["api_server"]["requests"] > 5
assert len(line["vcpu"]) == 2 and line["vcpu"][0]["exits"]["io"] > 0
assert sum(line["vcpu"][0]["handling_us_log2_histogram"]["io"]) == line["vcpu"][0]["exits"]["io"]
blk = [d for n, d in line["devices"].items() if n.startswith("virtio-blk")]
assert blk and blk[0]["requests"] > 0 and blk[0]["bytes_to_guest"] > 0 and blk[0]["interrupts"] > 0
PY
then
	result PASS api/metrics
else
	result FAIL api/metrics "FlushMetrics $code; $(tail -c 300 "$work/metrics.json" 2>/dev/null)"
fi

# Into files, not `| grep -q`: under pipefail grep's early exit can fail the writer (SIGPIPE).
if "$VMON" ctl --api-sock "$sock" info > "$work/ctl-info.out" && grep -q '"state": "Running"' "$work/ctl-info.out" &&
   "$VMON" ctl --api-sock "$sock" metrics > "$work/ctl-metrics.out" && grep -q '"exits"' "$work/ctl-metrics.out" &&
   "$VMON" ctl --api-sock "$sock" pause && "$VMON" ctl --api-sock "$sock" resume &&
   ! "$VMON" ctl --api-sock "$sock" put /boot-source '{}' 2> "$work/ctl.err" &&
   grep -q "400" "$work/ctl.err"; then
	result PASS api/ctl
else
	result FAIL api/ctl "see vmon ctl --api-sock ... info/metrics/pause/resume"
fi

# Ctrl+Alt+Del on the i8042 keyboard: the kernel restarts, reboot=k resets, vmon exits 3.
code=$(curl_api PUT /actions '{"action_type": "SendCtrlAltDel"}')
for _ in $(seq 1 120); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
wait $pid
rc=$?
if [ "$code" = 204 ] && [ "$rc" = 3 ] && [ ! -e "$sock" ]; then
	result PASS api/ctrl-alt-del
else
	result FAIL api/ctrl-alt-del "code $code, exit status $rc (want 3), socket left: $([ -e "$sock" ] && echo yes || echo no)"
fi

# --- boot 2: the same guest from a Firecracker config file, no API ---------------------
cat > "$work/vm.json" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$dir/vmlinux",
    "boot_args": "console=ttyS0 reboot=k panic=1 pci=off init=/init vmon_check=1 vmon_cmd=\"cat /etc/vmon-root\""
  },
  "drives": [
    { "drive_id": "rootfs", "path_on_host": "$work/rootfs-clean.ext4", "is_root_device": true, "is_read_only": true }
  ],
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 96, "smt": false },
  "network-interfaces": [],
  "vsock": null,
  "balloon": null
}
JSON
timeout 300 "$VMON" --config-file "$work/vm.json" --no-api < /dev/null > "$LOGDIR/api-config-file.console" \
	2> "$LOGDIR/api-config-file.log"
rc=$?
if [ "$rc" = 0 ] && grep -q root-drive-ok "$LOGDIR/api-config-file.console" &&
   grep -q "memtotal_kb=" "$LOGDIR/api-config-file.console"; then
	result PASS api/config-file
else
	result FAIL api/config-file "status $rc, see $LOGDIR/api-config-file.console"
fi
