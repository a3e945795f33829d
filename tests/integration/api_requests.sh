#!/bin/bash
# The management API's answers to bad requests, and Firecracker's schema, against the real
# server over its socket (curl). Needs no KVM: every request here comes before boot; only
# the last test runs a VM (a freestanding guest that idles) from `vmon run ... --api-sock`.
set -uo pipefail
SUITE=api_requests
TESTS=(api/bad-requests api/bad-requests-change-nothing api/mmds-store api/malformed-http api/schema-pre api/ctl-info api/limits
       api/fifo-sinks api/run-vm-config api/ctl-top)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"

SPEC=${VMON_FC_SPEC:-tests/data/firecracker.yaml}
work=$(mktemp -d)
sock=$work/api.sock
trap 'kill $pid 2>/dev/null; kill $run_pid 2>/dev/null; rm -rf "$work"' EXIT
run_pid=
curl_api() { curl -s --max-time 20 --unix-socket "$sock" -o "$work/body" -w '%{http_code}' -X "$1" \
	${3:+-H 'Content-Type: application/json' --data-binary "$3"} "http://localhost$2"; }
truncate -s 16M "$work/disk.img"
kernel=$work/kernel   # boot-source only checks that it opens
echo placeholder > "$kernel"

"$VMON" --api-sock "$sock" --level Info > "$LOGDIR/api-requests.out" 2> "$LOGDIR/api-requests.log" &
pid=$!
for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done

# A valid configuration first; the table must leave it as it is.
curl_api PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"boot_args\": \"console=ttyS0\"}" > /dev/null
curl_api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$work/disk.img\", \"is_root_device\": true}" > /dev/null
curl_api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}' > /dev/null
curl_api GET /vm/config > /dev/null
cp "$work/body" "$work/config-before"

# METHOD|PATH|BODY|STATUS|a piece of the fault_message
big=$(head -c 60000 /dev/zero | tr '\0' ' ')
bad=0
while IFS='|' read -r method path body status fault; do
	[ -z "$method" ] && continue
	[ "$body" = BIG ] && body="{\"level\": \"Info\"$big}"
	got=$(curl_api "$method" "$path" "$body")
	msg=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fault_message"])' "$work/body" 2>/dev/null)
	if [ "$got" != "$status" ] || [[ "$msg" != *"$fault"* ]]; then
		echo "  $method $path $body: got $got '$msg', want $status '$fault'"
		bad=$((bad + 1))
	fi
done <<'TABLE'
PUT|/boot-source|{"kernel_image_path": "/bin/true", "frobnicate": 1}|400|unknown field `frobnicate`
PUT|/boot-source|{"boot_args": "console=ttyS0"}|400|missing field `kernel_image_path`
PUT|/boot-source|{"kernel_image_path": 5}|400|invalid type for `kernel_image_path`
PUT|/boot-source|{"kernel_image_path": "/nonexistent/vmlinux"}|400|The kernel file cannot be opened
PUT|/boot-source|{"kernel_image_path": "/bin/true", "initrd_path": "/nonexistent"}|400|The initrd file cannot be opened
PUT|/boot-source|[]|400|expected a JSON object
PUT|/machine-config|{"vcpu_count": 0, "mem_size_mib": 128}|400|The vCPU number is invalid
PUT|/machine-config|{"vcpu_count": 33, "mem_size_mib": 128}|400|The vCPU number is invalid
PUT|/machine-config|{"vcpu_count": 3, "mem_size_mib": 128, "smt": true}|400|SMT
PUT|/machine-config|{"vcpu_count": "2", "mem_size_mib": 128}|400|invalid type for `vcpu_count`
PUT|/machine-config|{"vcpu_count": 2}|400|missing field `mem_size_mib`
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 1}|400|The memory size (MiB) is invalid
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 128, "cpu_template": "T2"}|400|CPU templates are not supported
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 128, "huge_pages": "1G"}|400|unknown variant `1G`
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 127, "huge_pages": "2M"}|400|multiple of 2
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 128, "vmon_vcpu_affinity": "0=1-x"}|400|vmon_vcpu_affinity '0=1-x': CPU list '1-x': cannot understand '1-x'
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 128, "vmon_vcpu_affinity": "2=0"}|400|an affinity is given for vCPU 2, but the VM has 2 vCPUs
PATCH|/machine-config|{"vcpu_count": 1, "vmon_vcpu_affinity": "1=0"}|400|an affinity is given for vCPU 1, but the VM has 1 vCPU.
PUT|/machine-config|{"vcpu_count": 1, "mem_size_mib": 128, "vmon_vcpu_affinity": "0=1023"}|400|vCPU 0's affinity names host CPU 1023, which vmon may not run on
PUT|/machine-config|{"vcpu_count": 1, "mem_size_mib": 128, "vmon_io_affinity": "9-8"}|400|vmon_io_affinity: CPU list '9-8': the range 9-8 runs backwards
PUT|/machine-config|{"vcpu_count": 1, "mem_size_mib": 128, "vmon_io_affinity": 0}|400|invalid type for `vmon_io_affinity`
PATCH|/machine-config|{"vcpu_count": -1}|400|invalid type for `vcpu_count`
PATCH|/machine-config|{"vcpu_count": 1.5}|400|invalid type for `vcpu_count`
PUT|/drives/rootfs|{"drive_id": "other", "path_on_host": "/bin/true", "is_root_device": false}|400|does not match
PUT|/drives/data|{"drive_id": "data", "path_on_host": "/bin/true"}|400|missing field `is_root_device`
PUT|/drives/data|{"drive_id": "data", "path_on_host": "/nonexistent.img", "is_root_device": false}|400|cannot open '/nonexistent.img'
PUT|/drives/data|{"drive_id": "data", "path_on_host": "/dev", "is_root_device": false, "is_read_only": true}|400|not a regular file
PUT|/drives/data|{"drive_id": "data", "path_on_host": "/etc/hostname", "is_root_device": true, "is_read_only": true}|400|A root block device already exists
PUT|/drives/data|{"drive_id": "data", "path_on_host": "/etc/hostname", "is_root_device": false, "io_engine": "Fast"}|400|unknown variant `Fast`
PUT|/drives/data|{"drive_id": "data", "path_on_host": "/etc/hostname", "is_root_device": false, "socket": "/tmp/vhost"}|400|vhost-user
PUT|/drives/data|{"drive_id": "data", "path_on_host": "/etc/hostname", "is_root_device": false, "rate_limiter": {"bandwidth": {"size": 1}}}|400|missing field `refill_time`
PATCH|/drives/rootfs|{"drive_id": "rootfs", "path_on_host": "/etc/hostname"}|400|not supported before starting
PUT|/network-interfaces/eth0|{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "zz:00:00:00:00:00"}|400|Invalid guest MAC
PUT|/network-interfaces/eth0|{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "01:00:00:00:00:01"}|400|Invalid guest MAC
PUT|/network-interfaces/eth0|{"iface_id": "eth0"}|400|missing field `host_dev_name`
PUT|/network-interfaces/eth0|{"iface_id": "eth0", "host_dev_name": "a-name-far-too-long-for-linux"}|400|invalid TAP device name
PUT|/network-interfaces/eth0|{"iface_id": "eth0", "host_dev_name": "tap0", "mtu": 20}|400|Invalid MTU
PUT|/actions|{"action_type": "Reboot"}|400|unknown variant `Reboot`
PUT|/actions|{}|400|missing field `action_type`
PUT|/actions|{"action_type": "SendCtrlAltDel"}|400|not supported before starting
PUT|/actions|{"action_type": "FlushMetrics"}|400|metrics system was not initialized
PATCH|/vm|{"state": "Paused"}|400|not supported before starting
PATCH|/vm|{"state": "Paused", "state": "Resumed"}|400|duplicate object key
PATCH|/vm|{"state": "Sleeping"}|400|unknown variant `Sleeping`
PUT|/logger|{"level": "Loud"}|400|Invalid log level
PUT|/logger|{"level": "Info", "log_path": "/nonexistent/dir/log"}|400|Failed to open the log file
PUT|/logger|{"level": |400|deserializing
PUT|/logger||400|Empty PUT request
PUT|/logger|BIG|400|larger than the limit of 51200
PUT|/metrics|{"emit_id": true}|400|missing field `metrics_path`
PUT|/vsock|{"guest_cid": 3, "uds_path": "/tmp/v.sock"}|400|vsock devices are not supported
PUT|/snapshot/create|{"mem_file_path": "m", "snapshot_path": "s"}|400|not supported before starting
PUT|/snapshot/load|{"snapshot_path": "s"}|400|Exactly one of mem_file_path and mem_backend
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "mem_backend": {"backend_type": "File", "backend_path": "m"}}|400|Exactly one of mem_file_path and mem_backend
PUT|/snapshot/load|{"snapshot_path": "s", "mem_backend": {"backend_type": "Zip", "backend_path": "m"}}|400|unknown variant `Zip`
PUT|/snapshot/load|{"snapshot_path": "/nonexistent/s", "mem_file_path": "m"}|400|not allowed after configuring boot-specific resources
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "huge_pages": "2M"}|400|the snapshot's own setting
PUT|/balloon|{"amount_mib": 1}|400|missing field `deflate_on_oom`
PUT|/balloon|{"amount_mib": -1, "deflate_on_oom": true}|400|invalid type for `amount_mib`
PUT|/balloon|{"amount_mib": 1, "deflate_on_oom": true, "frobnicate": 1}|400|unknown field `frobnicate`
PUT|/balloon|{"amount_mib": 512, "deflate_on_oom": false}|400|too large: 512 MiB of a 256 MiB guest
PUT|/balloon|{"amount_mib": 1, "deflate_on_oom": true, "free_page_reporting": true}|400|Free page hinting and reporting are not supported
PUT|/balloon|{"amount_mib": 1, "deflate_on_oom": true, "free_page_hinting": true}|400|Free page hinting and reporting are not supported
GET|/balloon||400|The balloon device is not configured
PATCH|/balloon|{"amount_mib": 1}|400|The balloon device is not configured
GET|/balloon/statistics||400|The balloon device is not configured
PATCH|/balloon/statistics|{"stats_polling_interval_s": 1}|400|The balloon device is not configured
PATCH|/balloon/hinting/start|{}|400|Balloon free page hinting is not supported
GET|/balloon/hinting/status||400|Balloon free page hinting is not supported
PATCH|/mmds|{"latest": {"a": "b"}}|400|The MMDS data store is not initialized
PUT|/mmds|{"a": |400|An error occurred when deserializing the json body
PUT|/mmds/config|{}|400|missing field `network_interfaces`
PUT|/mmds/config|{"network_interfaces": "eth0"}|400|invalid type for `network_interfaces`
PUT|/mmds/config|{"network_interfaces": []}|400|IDs that allow forwarding MMDS requests is empty
PUT|/mmds/config|{"network_interfaces": ["nope"]}|400|does not correspond to any existing network interface
PUT|/mmds/config|{"network_interfaces": [5]}|400|expected a string
PUT|/mmds/config|{"network_interfaces": ["eth0"], "version": "V3"}|400|unknown variant `V3`, expected `V1` or `V2`
PUT|/mmds/config|{"network_interfaces": ["eth0"], "ipv4_address": "169.254.1"}|400|invalid IPv4 address syntax
PUT|/mmds/config|{"network_interfaces": ["eth0"], "ipv4_address": "10.0.0.1"}|400|The MMDS IPv4 address is not link local
PUT|/mmds/config|{"network_interfaces": ["eth0"], "imds_compat": "yes"}|400|invalid type for `imds_compat`
PUT|/mmds/config|{"network_interfaces": ["eth0"], "frobnicate": 1}|400|unknown field `frobnicate`
PATCH|/mmds/config|{"network_interfaces": ["eth0"]}|400|Invalid request method and/or path: PATCH /mmds/config
GET|/nonexistent||400|Invalid request method and/or path: GET /nonexistent
DELETE|/||400|Invalid request method and/or path: DELETE /
POST|/actions|{"action_type": "InstanceStart"}|400|Invalid request method and/or path
PUT|/serial|{"rate_limiter": {"size": 1, "refill_time": 1}}|400|Rate-limiting the serial console
PUT|/migration/send|{"url": "unix:/tmp/vmon-nowhere.mig"}|400|not supported before starting
PUT|/migration/receive|{"url": "unix:/tmp/vmon-nowhere.mig"}|400|An incoming migration needs a fresh vmon
PUT|/migration/cancel|{}|400|No migration is under way
PUT|/migration/status|{}|400|Invalid request method and/or path: PUT /migration/status
PUT|/gdb|{"url": "http://localhost:1234"}|400|tcp:[HOST:]PORT or unix:PATH
PUT|/gdb|{}|400|missing field `url`
GET|/gdb||400|Invalid request method and/or path: GET /gdb
PATCH|/machine-config|{"gdb_socket_path": 5}|400|invalid type for `gdb_socket_path`
PATCH|/vmon/cpu|{"weight": 0}|400|weight 0: use 1 to 10000
PATCH|/vmon/cpu|{"weight": "300"}|400|invalid type for `weight`
PATCH|/vmon/cpu|{"max": "500/100000"}|400|max '500/100000': use QUOTA/PERIOD in µs
PATCH|/vmon/cpu|{"max": "25000/2000000"}|400|period 1000 to 1000000
PATCH|/vmon/cpu|{"vcpu_weights": "2=100"}|400|vcpu_weights names vCPU 2, but the machine has 2 vCPUs
PATCH|/vmon/cpu|{"vcpu_weights": "0=100,1=x"}|400|vCPU 1's weight 'x' is not a number from 1 to 10000
PATCH|/vmon/cpu|{}|400|Nothing to change: give weight, max or vcpu_weights
PUT|/vmon/cpu|{"weight": 100}|400|Invalid request method and/or path: PUT /vmon/cpu
PUT|/profile|{"seconds": 5}|400|not supported before starting
PUT|/profile|{"hz": 1000}|400|missing field `seconds`
PUT|/profile|{"seconds": "5"}|400|invalid type for `seconds`
PUT|/profile|{"seconds": 5, "hz": -1}|400|invalid type for `hz`
PUT|/profile|{"seconds": 5, "frames": 8}|400|unknown field `frames`
PUT|/profile|{"seconds": 5, "hz": 0}|400|hz must be from 1 to 5000 per second, not 0
PUT|/profile|{"seconds": 0}|400|seconds must be from 1 to 300, not 0
PUT|/profile|{"seconds": 100000}|400|seconds must be from 1 to 300, not 100000
PUT|/profile|{"seconds": 300, "hz": 1000}|400|at most 100000 samples per vCPU
PATCH|/profile|{"seconds": 5}|400|Invalid request method and/or path: PATCH /profile
TABLE
if [ "$bad" = 0 ]; then result PASS api/bad-requests; else result FAIL api/bad-requests "$bad answers differ"; fi

curl_api GET /vm/config > /dev/null
cp "$work/body" "$work/config-after"
curl_api GET /vmon/cpu > /dev/null
if cmp -s "$work/config-after" "$work/config-before" && [ "$(cat "$work/body")" = "{}" ]; then
	result PASS api/bad-requests-change-nothing
else
	result FAIL api/bad-requests-change-nothing "GET /vm/config changed: $(cat "$work/config-after"); GET /vmon/cpu: $(cat "$work/body")"
fi

# MMDS's data store: PUT, PATCH (RFC 7396), GET; a PATCH that would pass the 51200-byte
# limit is a 413 and leaves the store as it was; PUT {} empties it again for the schema test.
fill=$(head -c 30000 /dev/zero | tr '\0' x)
keys() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join(sorted(d)), ",".join(sorted(d["latest"]["meta-data"])))' "$work/body"; }
m=$(curl_api PUT /mmds "{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-1\", \"fill\": \"$fill\"}}}")
m+=" $(curl_api PATCH /mmds '{"latest": {"meta-data": {"ami-id": null, "zone": "z1"}}}')"
m+=" $(curl_api GET /mmds) $(keys)"
m+=" $(curl_api PATCH /mmds "{\"more\": \"${fill:0:25000}\"}")"
m+=" $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fault_message"])' "$work/body")"
m+=" $(curl_api GET /mmds) $(keys) $(curl_api PUT /mmds '{}')"
want="204 204 200 latest fill,zone 413 The MMDS patch request doesn't fit. 200 latest fill,zone 204"
if [ "$m" = "$want" ]; then
	result PASS api/mmds-store
else
	result FAIL api/mmds-store "got '$m'"
fi

# Malformed HTTP: libmicrohttpd answers 400 and the server keeps serving.
reply=$(python3 - "$sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GARBAGE\x00\xff /\r\n\r\n"); s.settimeout(5)
print(s.recv(200).decode("latin-1").splitlines()[0])
PY
)
status=$(curl_api GET /)
if [[ "$reply" == "HTTP/1."?" 400"* ]] && [ "$status" = 200 ]; then
	result PASS api/malformed-http
else
	result FAIL api/malformed-http "reply '$reply', then GET / gave $status"
fi

if python3 -c 'import yaml' 2> /dev/null && [ -f "$SPEC" ]; then
	if python3 tests/integration/api_schema.py "$SPEC" "$sock" pre "$work/disk.img" > "$LOGDIR/api-schema-pre.log" 2>&1; then
		result PASS api/schema-pre "$(grep -c PASS "$LOGDIR/api-schema-pre.log") requests"
	else
		result FAIL api/schema-pre "$(grep FAIL "$LOGDIR/api-schema-pre.log" | head -3)"
	fi
else
	result SKIP api/schema-pre "python3-yaml or $SPEC missing"
fi

if "$VMON" ctl --api-sock "$sock" info > "$work/ctl-info.out" 2>&1 && grep -q '"state": "Not started"' "$work/ctl-info.out"; then
	result PASS api/ctl-info
else
	result FAIL api/ctl-info "vmon ctl info: $("$VMON" ctl --api-sock "$sock" info 2>&1 | head -3)"
fi

# Limits: 1500 requests (a third of them bad, some oversized) and 40 clients that connect and
# send nothing must not grow vmon's memory or threads without bound.
rss() { awk '/^VmRSS/ {print $2}' /proc/$pid/status; }
threads() { awk '/^Threads/ {print $2}' /proc/$pid/status; }
rss0=$(rss) threads0=$(threads)
# Growth allowed: 8 MiB; under AddressSanitizer its allocator and shadow take more.
slack=$([ -n "${VMON_BUILD:-}" ] && [ "$VMON_BUILD" != build ] && echo 65536 || echo 8192)
answered=$(python3 tests/integration/api_flood.py "$sock")
sleep 1
rss1=$(rss) threads1=$(threads)
status=$(curl_api GET /)
if [ "$answered" = 1500 ] && [ "$status" = 200 ] && [ "$threads1" -le "$threads0" ] && [ "$rss1" -le $((rss0 + slack)) ]; then
	result PASS api/limits "RSS ${rss0} -> ${rss1} KiB, threads ${threads0} -> ${threads1} after 1500 requests, all answered"
else
	result FAIL api/limits "RSS ${rss0} -> ${rss1} KiB, threads ${threads0} -> ${threads1}, $answered of 1500 answered, GET / $status"
fi

# Log and metrics FIFOs nobody reads yet are accepted (as Firecracker accepts them, and as
# firecracker-go-sdk sets them up); a reader that comes later gets the lines.
fsock=$work/fifo.sock
mkfifo "$work/log.fifo" "$work/metrics.fifo"
"$VMON" --api-sock "$fsock" > /dev/null 2> "$LOGDIR/api-fifo.log" &
fpid=$!
wait_sock "$fsock"
codes=$(sock=$fsock curl_api PUT /logger "{\"log_path\": \"$work/log.fifo\", \"level\": \"Info\"}")
codes+=" $(sock=$fsock curl_api PUT /metrics "{\"metrics_path\": \"$work/metrics.fifo\"}")"
timeout 10 head -n 1 "$work/metrics.fifo" > "$work/metrics.line" &
reader=$!
sleep 0.5
codes+=" $(sock=$fsock curl_api PUT /actions '{"action_type": "FlushMetrics"}')"
wait $reader
kill $fpid 2>/dev/null
wait $fpid 2>/dev/null
if [ "$codes" = "204 204 204" ] && python3 -c 'import json,sys; json.loads(open(sys.argv[1]).readline())["utc_timestamp_ms"]' "$work/metrics.line" 2>/dev/null; then
	result PASS api/fifo-sinks "a metrics line of $(wc -c < "$work/metrics.line") bytes read from the FIFO"
else
	result FAIL api/fifo-sinks "PUT /logger, /metrics, FlushMetrics: $codes; read: $(head -c 200 "$work/metrics.line")"
fi

# vmon run ... --api-sock: GET /vm/config reports what the command line set (the MTU too)
# and what PATCH changed since (rate limiters); SIGTERM then ends it with status 6.
guest=${VMON_BUILD:-build}/tests/guest/exitloop.elf
if ! [ -c "$KVM_DEV" ] || ! { exec 9<>"$KVM_DEV"; } 2>/dev/null; then
	result SKIP api/run-vm-config "cannot open $KVM_DEV"
elif [ ! -f "$guest" ]; then
	result SKIP api/run-vm-config "$guest is not built (make guests)"
else
	exec 9>&-
	sock=$work/run.sock # curl_api talks to $sock: from here on, the run's
	"$VMON" run --kernel "$guest" --testdev --memory 16M --console none --cmdline idle \
		--disk "path=$work/disk.img,serial=data" --net user,mtu=1400,mac=52:54:00:12:34:99 \
		--api-sock "$sock" > "$LOGDIR/api-run.out" 2> "$LOGDIR/api-run.log" < /dev/null &
	run_pid=$!
	for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
	curl_api GET /vm/config > /dev/null
	cp "$work/body" "$work/run-config-before"
	limit='{"bandwidth": {"size": 1000, "refill_time": 100}, "ops": null}'
	codes=$(curl_api PATCH /network-interfaces/net0 "{\"iface_id\": \"net0\", \"rx_rate_limiter\": $limit}")
	codes+=" $(curl_api PATCH /drives/data "{\"drive_id\": \"data\", \"rate_limiter\": $limit}")"
	curl_api GET /vm/config > /dev/null
	kill -TERM $run_pid
	wait $run_pid
	rc=$?
	if [ "$codes $rc" = "204 204 6" ] && python3 - "$work/run-config-before" "$work/body" "$guest" <<'PY'
import json, sys
before, after = (json.load(open(f)) for f in sys.argv[1:3])
assert before["boot-source"] == {"kernel_image_path": sys.argv[3], "boot_args": "idle"}, before
assert before["machine-config"]["mem_size_mib"] == 16, before["machine-config"]
n = before["network-interfaces"]
assert n == [{"iface_id": "net0", "host_dev_name": "", "guest_mac": "52:54:00:12:34:99", "mtu": 1400,
              "rx_rate_limiter": None, "tx_rate_limiter": None}], n
assert [d["drive_id"] for d in before["drives"]] == ["data"] and before["drives"][0]["rate_limiter"] is None
rl = {"bandwidth": {"size": 1000, "one_time_burst": 0, "refill_time": 100}, "ops": None}
n = after["network-interfaces"][0]
assert n["mtu"] == 1400 and n["rx_rate_limiter"] == rl and n["tx_rate_limiter"] is None, n
assert after["drives"][0]["rate_limiter"] == rl, after["drives"]
PY
	then
		result PASS api/run-vm-config "net0 mtu 1400, rate limiters after PATCH, exit status 6"
	else
		result FAIL api/run-vm-config "PATCH $codes, exit status $rc (want 204 204 6), see $LOGDIR/api-run.log"
	fi
	# vmon ctl top on a guest whose CPL3 loop writes port 0x80: the io reason and the port's
	# range lead, at a rate above zero, with percentiles; the view ends when the VM does.
	sock=$work/top.sock
	"$VMON" run --kernel "$guest" --testdev --memory 16M --console none --cmdline count=2000000000 \
		--api-sock "$sock" > /dev/null 2> "$LOGDIR/api-top.log" < /dev/null &
	run_pid=$!
	for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
	"$VMON" ctl --api-sock "$sock" top --interval 0.5 --count 3 > "$work/top.out" 2>&1
	trc=$?
	kill -TERM $run_pid; wait $run_pid
	io=$(awk '$1 == "io" { print $2; exit }' "$work/top.out")
	if [ "$trc" = 0 ] && [ "$(grep -c '^vmon top: VM Running' "$work/top.out")" = 3 ] &&
	   [ "${io:-0}" -gt 100 ] && grep -q '^pio accesses/s: [a-z0-9-]*@0x80 [1-9]' "$work/top.out"; then
		result PASS api/ctl-top "3 refreshes; $(grep -m1 '^vCPU exits' "$work/top.out"); $(grep -m1 '^pio' "$work/top.out")"
	else
		result FAIL api/ctl-top "status $trc, io ${io:-none}/s: $(head -c 400 "$work/top.out")"
	fi
fi
