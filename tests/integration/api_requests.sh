#!/bin/bash
# The management API's answers to bad requests, and Firecracker's schema, against the real
# server over its socket (curl). Needs no KVM: every request here comes before boot; only
# the last test runs a VM (a freestanding guest that idles) from `vmon run ... --api-sock`.
set -uo pipefail
SUITE=api_requests
TESTS=(api/bad-requests api/bad-requests-change-nothing api/mmds-store api/malformed-http api/schema-pre api/ctl-info api/limits
       api/fifo-sinks api/fc-conformance api/fc-cli-flags api/run-vm-config api/ctl-top)
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
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 128, "cpu_template": "T2"}|400|The static CPU template T2 is not supported by vmon: it is Firecracker's fixed CPUID and MSR table for Intel
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 128, "cpu_template": "T2A"}|400|table for AMD Milan hosts
PUT|/machine-config|{"vcpu_count": 2, "mem_size_mib": 128, "cpu_template": "t2"}|400|unknown variant `t2`
PUT|/cpu-config|{"cpuid_modifiers": [{"leaf": 1, "subleaf": "0x0", "flags": 0, "modifiers": []}]}|400|`leaf`: give a string with a 0x (hex) or 0b (binary) prefix
PUT|/cpu-config|{"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers": [{"register": "eax", "bitmap": "0b012"}]}]}|400|bitmap '0b012': '2' is not 0, 1 or x
PUT|/cpu-config|{"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers": [{"register": "eax", "bitmap": "0b000000000000000000000000000000000"}]}]}|400|has more than 32 digits
PUT|/cpu-config|{"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers": [{"register": "esi", "bitmap": "0b1"}]}]}|400|`register` must be eax, ebx, ecx or edx
PUT|/cpu-config|{"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "modifiers": []}]}|400|`flags` must be 0 or 1
PUT|/cpu-config|{"cpuid_modifiers": [{"leaf": "0x100000000", "subleaf": "0x0", "flags": 0, "modifiers": []}]}|400|is not a 32-bit number
PUT|/cpu-config|{"msr_modifiers": [{"addr": "0x10a", "bitmap": "0bx"}, {"addr": "0x10a", "bitmap": "0b1"}]}|400|MSR 0x10a is modified twice
PUT|/cpu-config|{"msr_modifiers": [{"addr": "0x10a"}]}|400|`bitmap` must be a string
PUT|/cpu-config|{"reg_modifiers": [{"addr": "0x603000000013c020", "bitmap": "0bxxxxxxxxxxxx0000xxxxxxxxxxxx0000xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]}|400|`reg_modifiers` is for aarch64 guests
PUT|/cpu-config|{"vcpu_features": [{"index": 0, "bitmap": "0b1100000"}]}|400|`vcpu_features` is for aarch64 guests
PUT|/cpu-config|{"kvm_capabilities": ["!56"]}|400|`kvm_capabilities`: vmon checks the KVM capabilities it uses itself
PUT|/cpu-config|{"cpuid_modifier": []}|400|unknown field `cpuid_modifier`
PUT|/cpu-config|[]|400|a CPU template is a JSON object
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
PUT|/actions|{"action_type": "FlushMetrics"}|400|The requested operation is not supported before starting the microVM.
PATCH|/machine-config|{}|400|Empty PATCH request.
PATCH|/machine-config|{"vcpu_count": null, "smt": null}|400|Empty PATCH request.
PUT|/drives/root-fs|{"drive_id": "root-fs", "path_on_host": "/etc/hostname", "is_root_device": false}|400|API Resource IDs can only contain alphanumeric characters and underscores.
PUT|/network-interfaces/eth.0|{"iface_id": "eth.0", "host_dev_name": "tap0"}|400|API Resource IDs can only contain alphanumeric characters and underscores.
PUT|/logger|{"level": "Warnings"}|400|Invalid log level
PATCH|/vm|{"state": "Paused"}|400|not supported before starting
PATCH|/vm|{"state": "Paused", "state": "Resumed"}|400|duplicate object key
PATCH|/vm|{"state": "Sleeping"}|400|unknown variant `Sleeping`
PUT|/logger|{"level": "Loud"}|400|Invalid log level
PUT|/logger|{"level": "Info", "log_path": "/nonexistent/dir/log"}|400|Failed to open the log file
PUT|/logger|{"level": |400|deserializing
PUT|/logger||400|Empty PUT request
PUT|/logger|BIG|400|larger than the limit of 51200
PUT|/metrics|{"emit_id": true}|400|missing field `metrics_path`
PUT|/vsock|{"guest_cid": 2, "uds_path": "/tmp/v.sock"}|400|Invalid guest_cid 2: a guest CID is at least 3
PUT|/vsock|{"guest_cid": 0, "uds_path": "/tmp/v.sock"}|400|Invalid guest_cid 0
PUT|/vsock|{"guest_cid": 4294967296, "uds_path": "/tmp/v.sock"}|400|fits in 32 bits
PUT|/vsock|{"guest_cid": -3, "uds_path": "/tmp/v.sock"}|400|invalid type for `guest_cid`
PUT|/vsock|{"guest_cid": "3", "uds_path": "/tmp/v.sock"}|400|invalid type for `guest_cid`
PUT|/vsock|{"guest_cid": 3}|400|missing field `uds_path`
PUT|/vsock|{"uds_path": "/tmp/v.sock"}|400|missing field `guest_cid`
PUT|/vsock|{"guest_cid": 3, "uds_path": ""}|400|Invalid uds_path
PUT|/vsock|{"guest_cid": 3, "uds_path": "/tmp/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}|400|Invalid uds_path: it must be a non-empty path of at most 96 bytes
PUT|/vsock|{"guest_cid": 3, "uds_path": 7}|400|invalid type for `uds_path`
PUT|/vsock|{"guest_cid": 3, "uds_path": "/tmp/v.sock", "vsock_id": 1}|400|invalid type for `vsock_id`
PUT|/vsock|{"guest_cid": 3, "uds_path": "/tmp/v.sock", "cid": 3}|400|unknown field `cid`
GET|/vsock||400|Invalid request method and/or path: GET /vsock
PUT|/snapshot/create|{"mem_file_path": "m", "snapshot_path": "s"}|400|not supported before starting
PUT|/snapshot/load|{"snapshot_path": "s"}|400|Exactly one of mem_file_path and mem_backend
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "mem_backend": {"backend_type": "File", "backend_path": "m"}}|400|Exactly one of mem_file_path and mem_backend
PUT|/snapshot/load|{"snapshot_path": "s", "mem_backend": {"backend_type": "Zip", "backend_path": "m"}}|400|unknown variant `Zip`
PUT|/snapshot/load|{"snapshot_path": "/nonexistent/s", "mem_file_path": "m"}|400|not allowed after configuring boot-specific resources
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "huge_pages": "2M"}|400|the snapshot's own setting
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "vsock_override": {}}|400|missing field `uds_path`
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "vsock_override": {"uds_path": ""}}|400|vsock_override: uds_path must not be empty
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "vsock_override": {"uds_path": "/v", "cid": 3}}|400|unknown field `cid`
PUT|/snapshot/load|{"snapshot_path": "s", "mem_file_path": "m", "vsock_override": "/v"}|400|invalid type for `vsock_override`
PUT|/balloon|{"amount_mib": 1}|400|missing field `deflate_on_oom`
PUT|/balloon|{"amount_mib": -1, "deflate_on_oom": true}|400|invalid type for `amount_mib`
PUT|/balloon|{"amount_mib": 1, "deflate_on_oom": true, "frobnicate": 1}|400|unknown field `frobnicate`
PUT|/balloon|{"amount_mib": 512, "deflate_on_oom": false}|400|too large: 512 MiB of a 256 MiB guest
PUT|/balloon|{"amount_mib": 1, "deflate_on_oom": true, "free_page_reporting": 1}|400|invalid type for `free_page_reporting`
PUT|/balloon|{"amount_mib": 1, "deflate_on_oom": true, "free_page_reporting": true, "free_page_hinting": true}|400|Free page hinting is not supported by vmon
PUT|/balloon|{"amount_mib": 1, "deflate_on_oom": true, "free_page_hinting": true}|400|Free page hinting is not supported by vmon
GET|/balloon||400|The balloon device is not configured
PATCH|/balloon|{"amount_mib": 1}|400|The balloon device is not configured
GET|/balloon/statistics||400|The balloon device is not configured
PATCH|/balloon/statistics|{"stats_polling_interval_s": 1}|400|The balloon device is not configured
PUT|/hotplug/memory|{"total_size_mib": 1024, "slot_size_mib": 128, "block_size_mib": 2}|400|Memory hot-plug is not supported by vmon: it needs a virtio-mem device
PUT|/hotplug/memory|{"total_size_mib": "1G"}|400|invalid type for `total_size_mib`
PUT|/hotplug/memory|{"size": 1}|400|unknown field `size`
PATCH|/hotplug/memory|{"requested_size_mib": 512}|400|CONFIG_VIRTIO_MEM and CONFIG_MEMORY_HOTPLUG
GET|/hotplug/memory||400|Memory hot-plug is not supported by vmon
PUT|/pmem/pmem0|{"id": "pmem0", "path_on_host": "/etc/hostname", "root_device": true, "read_only": true}|400|drive rootfs is already the root device
PUT|/pmem/pmem0|{"id": "pmem0", "path_on_host": "/etc/hostname", "rate_limiter": {"ops": {"size": 1, "refill_time": 100}}}|400|virtio-pmem has no rate limiter
PUT|/pmem/pmem0|{"id": "pmem0", "path_on_host": ""}|400|path_on_host is empty
PUT|/pmem/pmem0|{"id": "pmem0", "path_on_host": "/etc/hostname", "read_only": "yes"}|400|invalid type for `read_only`
PATCH|/pmem/pmem0|{"id": "pmem0", "rate_limiter": {"ops": {"size": 1, "refill_time": 100}}}|400|No pmem device with id pmem0
PUT|/pmem/pmem0|{"id": "pmem1", "path_on_host": "/etc/hostname"}|400|does not match
PUT|/pmem/pmem0|{"id": "pmem0"}|400|missing field `path_on_host`
PUT|/pmem/pm-0|{"id": "pm-0", "path_on_host": "/etc/hostname"}|400|API Resource IDs can only contain
PATCH|/pmem/pmem0|{"id": "pmem0", "rate_limiter": {"ops": {"size": 1}}}|400|missing field `refill_time`
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
PUT|/serial|{"rate_limiter": {"size": 1}}|400|missing field `refill_time` (in rate_limiter)
PUT|/serial|{"rate_limiter": {"size": -1, "refill_time": 1}}|400|invalid type for `size`
PUT|/serial|{"rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}}|400|unknown field `bandwidth`
PUT|/serial|{"serial_out_path": "/nonexistent/dir/out"}|400|Cannot open the serial output
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
PUT|/vmon/shm/a|{"shm_id": "b", "memfd": true, "size_bytes": 4096}|400|does not match
PUT|/vmon/shm/a|{"memfd": true, "size_bytes": 4096}|400|missing field `shm_id`
PUT|/vmon/shm/a|{"shm_id": "a"}|400|give one of socket=PATH (doorbell), path=FILE or memfd (plain)
PUT|/vmon/shm/a|{"shm_id": "a", "socket": "/s", "path": "/p", "size_bytes": 4096}|400|give one of socket=PATH
PUT|/vmon/shm/a|{"shm_id": "a", "path": "", "size_bytes": 4096}|400|give one of socket=PATH
PUT|/vmon/shm/a|{"shm_id": "a", "memfd": true, "size_bytes": 5000}|400|a power of two from 4K to 64G
PUT|/vmon/shm/a|{"shm_id": "a", "memfd": true}|400|a plain device needs size=SIZE
PUT|/vmon/shm/a|{"shm_id": "a", "memfd": true, "size_bytes": 4096, "vectors": 1}|400|has no vectors
PUT|/vmon/shm/a|{"shm_id": "a", "socket": "/s", "vectors": 0}|400|vectors 0: use 1 to 16
PUT|/vmon/shm/a|{"shm_id": "a", "socket": "/s", "vectors": 17}|400|vectors 17: use 1 to 16
PUT|/vmon/shm/a|{"shm_id": "a", "socket": "/s", "size_bytes": 4096}|400|its size from the server
PUT|/vmon/shm/a|{"shm_id": "a", "socket": 5}|400|invalid type for `socket`
PUT|/vmon/shm/a|{"shm_id": "a", "socket": "/s", "ring": 1}|400|unknown field `ring`
PUT|/vmon/shm/a|{"shm_id": "a", "socket": "/s", "vectors": -1}|400|invalid type for `vectors`
PUT|/vmon/shm/a%20b|{"shm_id": "a b", "memfd": true, "size_bytes": 4096}|400|API Resource IDs can only contain alphanumeric characters and underscores.
PUT|/vmon/shm|{"shm_id": "a", "memfd": true, "size_bytes": 4096}|400|Invalid request method and/or path: PUT /vmon/shm
GET|/vmon/shm/a||400|Invalid request method and/or path: GET /vmon/shm/a
PATCH|/vmon/shm/a|{"shm_id": "a"}|400|Invalid request method and/or path: PATCH /vmon/shm/a
TABLE
if [ "$bad" = 0 ]; then result PASS api/bad-requests; else result FAIL api/bad-requests "$bad answers differ"; fi

curl_api GET /vm/config > /dev/null
cp "$work/body" "$work/config-after"
curl_api GET /vmon/shm > /dev/null
shms=$(cat "$work/body")
curl_api GET /vmon/cpu > /dev/null
if cmp -s "$work/config-after" "$work/config-before" && [ "$(cat "$work/body")" = "{}" ] && [ "$shms" = "[]" ]; then
	result PASS api/bad-requests-change-nothing
else
	result FAIL api/bad-requests-change-nothing "GET /vm/config changed: $(cat "$work/config-after"); GET /vmon/cpu: $(cat "$work/body"); GET /vmon/shm: $shms"
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
# firecracker-go-sdk sets them up); a reader that comes later gets the lines written before.
fsock=$work/fifo.sock
mkfifo "$work/log.fifo" "$work/metrics.fifo"
"$VMON" --api-sock "$fsock" > /dev/null 2> "$LOGDIR/api-fifo.log" &
fpid=$!
wait_sock "$fsock"
codes=$(sock=$fsock curl_api PUT /logger "{\"log_path\": \"$work/log.fifo\", \"level\": \"Warning\"}")
codes+=" $(sock=$fsock curl_api PUT /metrics "{\"metrics_path\": \"$work/metrics.fifo\"}")"
# A deprecated field: Firecracker's warning goes to the log.
codes+=" $(sock=$fsock curl_api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "None"}')"
timeout 10 head -n 1 "$work/log.fifo" > "$work/log.line"
kill $fpid 2>/dev/null
wait $fpid 2>/dev/null
if [ "$codes" = "204 204 204" ] && grep -q 'cpu_template field is deprecated' "$work/log.line"; then
	result PASS api/fifo-sinks "log line read from the FIFO: $(head -c 120 "$work/log.line")"
else
	result FAIL api/fifo-sinks "PUT /logger, /metrics, /machine-config: $codes; read: $(head -c 200 "$work/log.line")"
fi

# Firecracker's answers where vmon used to differ: log levels in any case, the Deprecation
# header, GET /vm/config's sections and their unset fields as null.
csock=$work/conf.sock
"$VMON" --api-sock "$csock" > /dev/null 2> "$LOGDIR/api-conformance.log" &
cpid=$!
wait_sock "$csock"
capi() { sock=$csock curl_api "$@"; }
chead() { curl -s --max-time 20 --unix-socket "$csock" -o /dev/null -D - -X "$1" \
	-H 'Content-Type: application/json' --data-binary "$3" "http://localhost$2" | tr -d '\r' | grep -ci '^Deprecation: true'; }
why=""
for lvl in debug warning Warn WARNING Trace off ERROR info; do
	c=$(capi PUT /logger "{\"level\": \"$lvl\"}")
	[ "$c" = 204 ] || why+=" level $lvl: $c $(cat "$work/body");"
done
[ "$(chead PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "None"}')" = 1 ] || why+=" no Deprecation header on cpu_template;"
[ "$(chead PATCH /machine-config '{"cpu_template": "None"}')" = 1 ] || why+=" no Deprecation header on PATCH cpu_template;"
[ "$(chead PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}')" = 0 ] || why+=" Deprecation header without a deprecated field;"
[ "$(chead PUT /snapshot/load '{"snapshot_path": "/nonexistent", "mem_file_path": "/nonexistent"}')" = 1 ] || why+=" no Deprecation header on mem_file_path;"
capi PUT /boot-source "{\"kernel_image_path\": \"$kernel\"}" > /dev/null
capi PUT /drives/root_1 "{\"drive_id\": \"root_1\", \"path_on_host\": \"$work/disk.img\", \"is_root_device\": true}" > /dev/null
capi PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "vmtap0"}' > /dev/null
st=$(capi PUT /balloon '{"amount_mib": 0, "deflate_on_oom": false, "free_page_reporting": true}')
[ "$st" = 204 ] || why+=" PUT /balloon with free_page_reporting: $st $(cat "$work/body");"
capi GET /balloon > /dev/null
grep -q '"free_page_reporting": *true' "$work/body" || why+=" GET /balloon: $(cat "$work/body");"
capi PUT /pmem/pmem0 "{\"id\": \"pmem0\", \"path_on_host\": \"$work/disk.img\", \"root_device\": false, \"read_only\": true}" > /dev/null
capi PUT /pmem/pmem1 "{\"id\": \"pmem1\", \"path_on_host\": \"$work/disk.img\"}" > /dev/null
capi GET /vm/config > /dev/null
if ! python3 - "$work/body" "$kernel" "$work/disk.img" > "$work/conf.why" 2>&1 <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
# resources.rs: VmmConfig as Firecracker serialises it (serial is serde(skip)).
want = ["balloon", "drives", "boot-source", "cpu-config", "logger", "machine-config", "metrics",
        "mmds-config", "network-interfaces", "vsock", "entropy", "pmem", "memory-hotplug"]
assert sorted(c) == sorted(want), sorted(c)
assert c["boot-source"] == {"kernel_image_path": sys.argv[2], "initrd_path": None, "boot_args": None}, c["boot-source"]
assert c["drives"] == [{"drive_id": "root_1", "partuuid": None, "is_root_device": True, "cache_type": "Unsafe",
                        "is_read_only": False, "path_on_host": sys.argv[3], "rate_limiter": None,
                        "io_engine": "Sync", "socket": None}], c["drives"]
assert c["network-interfaces"] == [{"iface_id": "eth0", "host_dev_name": "vmtap0", "guest_mac": None, "mtu": None,
                                    "rx_rate_limiter": None, "tx_rate_limiter": None}], c["network-interfaces"]
assert c["balloon"] == {"amount_mib": 0, "deflate_on_oom": False, "stats_polling_interval_s": 0,
                        "free_page_hinting": False, "free_page_reporting": True}, c["balloon"]
assert c["memory-hotplug"] is None and c["vsock"] is None, c
assert c["pmem"] == [{"id": "pmem0", "path_on_host": sys.argv[3], "root_device": False, "read_only": True, "rate_limiter": None},
                     {"id": "pmem1", "path_on_host": sys.argv[3], "root_device": False, "read_only": False, "rate_limiter": None}], c["pmem"]
assert c["machine-config"] == {"vcpu_count": 1, "mem_size_mib": 128, "smt": False, "track_dirty_pages": False,
                               "huge_pages": "None"}, c["machine-config"]
PY
then
	why+=" GET /vm/config: $(tail -1 "$work/conf.why")"
fi
# After the GET above, which wants no vsock yet: vsock_id is deprecated, uds_path is not.
[ "$(chead PUT /vsock '{"guest_cid": 3, "uds_path": "/nonexistent/v.sock"}')" = 0 ] || why+=" Deprecation header on a plain PUT /vsock;"
[ "$(chead PUT /vsock '{"vsock_id": "vsock0", "guest_cid": 3, "uds_path": "/nonexistent/v.sock"}')" = 1 ] || why+=" no Deprecation header on vsock_id;"
kill $cpid 2>/dev/null
wait $cpid 2>/dev/null
if [ -z "$why" ]; then
	result PASS api/fc-conformance "8 log level spellings, Deprecation headers, GET /vm/config's 13 sections"
else
	result FAIL api/fc-conformance "$why"
fi

# Firecracker's command-line flags (its getting-started guide starts it with --enable-pci).
psock=$work/pci.sock
"$VMON" --api-sock "$psock" --enable-pci --level debug --show-level --show-log-origin \
	--boot-timer --start-time-us 1 --start-time-cpu-us 2 --parent-cpu-time-us 3 \
	--http-api-max-payload-size 51200 > /dev/null 2> "$LOGDIR/api-cli-flags.log" &
ppid_=$!
wait_sock "$psock"
st=$(sock=$psock curl_api GET /)
kill $ppid_ 2>/dev/null
wait $ppid_ 2>/dev/null
"$VMON" --api-sock "$work/no.sock" --http-api-max-payload-size 99999 > /dev/null 2> "$work/payload.err"
prc=$?
"$VMON" --api-sock "$work/no.sock" --start-time-us soon > /dev/null 2> "$work/start.err"
src=$?
"$VMON" --api-sock "$work/no.sock" --seccomp-filter /tmp/filter.bpf > /dev/null 2> "$work/seccomp.err"
[ $? = 2 ] && grep -q 'seccomp-filter is not supported: vmon installs its own seccomp filter' "$work/seccomp.err" || src="seccomp-filter: $(cat "$work/seccomp.err")"
if [ "$st" = 200 ] && [ "$prc" = 2 ] && grep -q 'at most\|use 1 to 51200' "$work/payload.err" && [ "$src" = 2 ]; then
	result PASS api/fc-cli-flags "--enable-pci and the jailer's flags accepted; a payload limit above 51200 refused: $(cat "$work/payload.err")"
else
	result FAIL api/fc-cli-flags "GET / $st; payload limit status $prc '$(cat "$work/payload.err")'; --start-time-us soon status $src"
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
assert before["boot-source"] == {"kernel_image_path": sys.argv[3], "initrd_path": None, "boot_args": "idle"}, before
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
