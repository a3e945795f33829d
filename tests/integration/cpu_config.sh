#!/bin/bash
# PUT /cpu-config (Firecracker's custom CPU template) as the guest sees it. A freestanding
# guest (tests/guest/cpuid_probe.c) prints CPUID leaves 1, 0x40000001, 0x80000001, 0x80000008
# and MSR SYSENTER_CS: booted once without a template and once with one that clears
# 0x80000001 ECX bits 0 and 8 and 0x40000001 EAX bit 0 and sets the MSR to 0x10, exactly
# those bits change. Then templates this host cannot honour (a feature bit KVM does not
# offer, a leaf it does not have, an MSR it cannot read) make InstanceStart a 400 that says
# which, and a VM with a template refuses a snapshot.
set -uo pipefail
SUITE=cpu_config
TESTS=(cpu-config/guest-sees-template cpu-config/host-cannot-honour cpu-config/snapshot-refused
       cpu-config/config-file)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"
need_kvm
guest=${VMON_BUILD:-build}/tests/guest/cpuid_probe.elf
need_guest "$guest"

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT

TEMPLATE='{"cpuid_modifiers": [
  {"leaf": "0x80000001", "subleaf": "0x0", "flags": 0, "modifiers": [
    {"register": "ecx", "bitmap": "0bxxxxxxxxxxxxxxxxxxxxxxx0xxxxxxx0"}]},
  {"leaf": "0x40000001", "subleaf": "0x0", "flags": 0, "modifiers": [
    {"register": "eax", "bitmap": "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0"}]}],
 "msr_modifiers": [{"addr": "0x174", "bitmap": "0b10000"}]}'

# start NAME [TEMPLATE]: a fresh vmon configured for the probe; leaves $sock and $pid.
start() {
	sock=$work/$1.sock
	"$VMON" --api-sock "$sock" > /dev/null 2> "$LOGDIR/cpu-config-$1.log" &
	pid=$!
	wait_sock "$sock"
	codes=$(api "$sock" PUT /boot-source "{\"kernel_image_path\": \"$guest\", \"boot_args\": \"probe\"}")
	codes+=" $(api "$sock" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 32}')"
	codes+=" $(api "$sock" PUT /serial "{\"serial_out_path\": \"$work/$1.console\"}")"
	[ -n "${2:-}" ] && codes+=" $(api "$sock" PUT /cpu-config "$2")"
}
stop() { kill $pid 2>/dev/null; wait $pid 2>/dev/null; pid=; }
# boot NAME [TEMPLATE]: the probe's lines, in $work/NAME.console.
boot() {
	start "$@"
	codes+=" $(api "$sock" PUT /actions '{"action_type": "InstanceStart"}')"
	wait_for "$work/$1.console" 'cpuid-probe done' $pid
}

boot plain
plain_codes=$codes
stop
boot tmpl "$TEMPLATE"
tmpl_codes=$codes
snap=$(api "$sock" PATCH /vm '{"state": "Paused"}')
snap+=" $(api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/s\", \"mem_file_path\": \"$work/m\"}")"
snap_msg=$(cat "$work/body")
stop

if [ "$plain_codes" = "204 204 204 204" ] && [ "$tmpl_codes" = "204 204 204 204 204" ] &&
   python3 - "$work/plain.console" "$work/tmpl.console" > "$work/why" 2>&1 <<'PY'
import sys
def lines(f):
    out = {}
    for l in open(f, errors="replace"):
        w = l.split()
        if w and w[0] in ("cpuid", "msr"):
            out[w[0] + " " + w[1].rstrip(":")] = [int(x, 16) for x in w[2:]]
    return out
a, b = lines(sys.argv[1]), lines(sys.argv[2])
assert sorted(a) == sorted(b) and len(a) == 5, (a, b)
want = {k: list(v) for k, v in a.items()}
want["cpuid 80000001"][2] &= ~0x101
want["cpuid 40000001"][0] &= ~0x1
want["msr 00000174"] = [0x10]
assert b == want, f"with the template {b}, want {want}"
print("0x80000001 ecx %08x -> %08x, 0x40000001 eax %08x -> %08x, MSR 0x174 %x -> %x" % (
    a["cpuid 80000001"][2], b["cpuid 80000001"][2], a["cpuid 40000001"][0], b["cpuid 40000001"][0],
    a["msr 00000174"][0], b["msr 00000174"][0]))
PY
then
	result PASS cpu-config/guest-sees-template "$(cat "$work/why")"
else
	result FAIL cpu-config/guest-sees-template "requests $plain_codes / $tmpl_codes; $(tail -1 "$work/why")"
fi

if [ "$snap" = "204 400" ] && grep -q 'custom CPU template' <<< "$snap_msg"; then
	result PASS cpu-config/snapshot-refused "$snap_msg"
else
	result FAIL cpu-config/snapshot-refused "pause, snapshot: $snap $snap_msg"
fi

# The config file's "cpu-config" (Firecracker's CustomCpuTemplateOrPath): here the path of
# a file holding the template.
echo "$TEMPLATE" > "$work/template.json"
cat > "$work/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$guest", "boot_args": "probe"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$work/file.console"},
 "cpu-config": "$work/template.json"}
JSON
"$VMON" --config-file "$work/vm.json" --no-api > /dev/null 2> "$LOGDIR/cpu-config-file.log" &
pid=$!
wait_for "$work/file.console" 'cpuid-probe done' $pid
stop
if [ -s "$work/file.console" ] && diff <(grep -E '^(cpuid|msr)' "$work/tmpl.console") <(grep -E '^(cpuid|msr)' "$work/file.console") > "$work/file.diff"; then
	result PASS cpu-config/config-file "the guest saw what PUT /cpu-config gave: $(grep -c . "$work/file.console") lines alike"
else
	result FAIL cpu-config/config-file "$(head -c 300 "$work/file.diff") $(tail -2 "$LOGDIR/cpu-config-file.log")"
fi

# A feature bit the guest did not see without a template: KVM does not offer it here.
ecx=$(awk '$2 == "80000001:" { print $5 }' "$work/plain.console")
bit=
for b in $(seq 31 -1 2); do (( (0x${ecx:-ffffffff} >> b) & 1 )) || { bit=$b; break; }; done
map=$(python3 -c "import sys; b=int(sys.argv[1]); print('0b' + ''.join('1' if i == b else 'x' for i in range(31, -1, -1)))" "${bit:-0}")
why=""
start bad
check_start() { # TEMPLATE PIECE-OF-FAULT
	local c
	c=$(api "$sock" PUT /cpu-config "$1")
	c+=" $(api "$sock" PUT /actions '{"action_type": "InstanceStart"}')"
	if [ "$c" != "204 400" ] || ! grep -qF "$2" "$work/body"; then
		why+=" [$2] $c $(cat "$work/body");"
	else
		echo "  $(cat "$work/body")"
	fi
}
[ -n "$bit" ] || why+=" no clear bit in 0x80000001 ECX ($ecx);"
check_start "{\"cpuid_modifiers\": [{\"leaf\": \"0x80000001\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": [{\"register\": \"ecx\", \"bitmap\": \"$map\"}]}]}" \
	"CPUID leaf 0x80000001 subleaf 0x0 ecx bit $bit cannot be set: this host's KVM does not support that feature"
check_start '{"cpuid_modifiers": [{"leaf": "0x4fffffff", "subleaf": "0x0", "flags": 0, "modifiers": [{"register": "eax", "bitmap": "0b1"}]}]}' \
	"CPUID leaf 0x4fffffff subleaf 0x0 is not in this host's CPUID"
check_start '{"msr_modifiers": [{"addr": "0xdeadbeef", "bitmap": "0b1"}]}' \
	"MSR 0xdeadbeef is not supported by this host's KVM"
# Still fresh: the same vmon boots once the template is one the host can honour.
codes=$(api "$sock" PUT /cpu-config "$TEMPLATE")
codes+=" $(api "$sock" PUT /actions '{"action_type": "InstanceStart"}')"
wait_for "$work/bad.console" 'cpuid-probe done' $pid || why+=" the good template did not boot after the refusals ($codes);"
stop
if [ -z "$why" ] && [ "$codes" = "204 204" ]; then
	result PASS cpu-config/host-cannot-honour "3 templates refused at InstanceStart (ecx bit $bit, leaf 0x4fffffff, MSR 0xdeadbeef), then a good one booted"
else
	result FAIL cpu-config/host-cannot-honour "$why"
fi
