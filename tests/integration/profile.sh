#!/bin/bash
# The guest profiler (PUT/GET /profile, vmon ctl profile). First with a freestanding guest
# whose hot loop runs at CPL3 (exitloop.elf spin=N; no Linux boot): bad input to the client
# and to the API, user-mode samples as leaf-only [user] samples at the loop's addresses,
# nothing recorded while the VM is paused and a snapshot taken in the middle of a profile,
# a VM stopped in the middle of one exiting cleanly, the sampler's own seccomp filter. Then one boot of the Linux test guest
# (2 vCPUs) reading /dev/urandom with dd: the top functions name the kernel's RNG code,
# stacks.folded holds kernel stacks many frames deep (the guest kernel has frame pointers),
# flamegraph.svg is well-formed XML, and a kallsyms listing (System.map) serves as well.
set -uo pipefail
SUITE=profile
TESTS=(profile/bad-input profile/api-bad-input profile/user-leaf profile/paused-snapshot
       profile/vm-stop profile/seccomp profile/linux-top profile/linux-stacks profile/flamegraph profile/kallsyms)
. "$(dirname "$0")/lib.sh"

GUEST=${VMON_BUILD:-build}/tests/guest/exitloop.elf
CTL=(timeout 120 "$VMON" ctl)
need_guest "$GUEST"
work=$(mktemp -d)
vm=
trap '[ -n "$vm" ] && kill -9 $vm 2>/dev/null; rm -rf "$work"' EXIT
sock=$work/api.sock
check() { if eval "$2"; then result PASS "$1" "$3"; else result FAIL "$1" "$3"; fi; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/body" "$1" 2>/dev/null; }
# wait_profile SOCK: until GET /profile says it is no longer running (30 s at most).
wait_profile() {
	for _ in $(seq 1 300); do
		api "$1" GET /profile > /dev/null
		[ "$(jget 'd["state"]')" != running ] && return 0
		sleep 0.1
	done
	return 1
}
# spin_vm SOCK: the CPL3 loop (an exit every ~1M iterations), its API on SOCK; pid in $vm.
spin_vm() {
	rm -f "$1"
	"$VMON" run --testdev --memory 16M --console none --net none --kernel "$GUEST" \
		--cmdline "count=1000000000000 spin=1000000" --api-sock "$1" \
		> "$LOGDIR/profile-spin.log" 2>&1 < /dev/null &
	vm=$!
	wait_sock "$1"
}

# ---- the client's checks, before it talks to any VMM ----------------------------------------
bad=
ctl_bad() { # WANT_TEXT ARGS...: status 2 and the sentence
	local want=$1 out rc
	shift
	out=$("${CTL[@]}" --api-sock "$work/none.sock" profile "$@" --out "$work/bad" 2>&1)
	rc=$?
	[ "$rc" = 2 ] && [[ "$out" == *"$want"* ]] || bad+=" [$* -> $rc: $(echo "$out" | head -n 1)]"
}
ctl_bad "hz must be from 1 to 5000 per second, not 0" --seconds 5 --hz 0
ctl_bad "seconds must be from 1 to 300, not 0" --seconds 0
ctl_bad "seconds must be from 1 to 300, not 100000" --seconds 100000
ctl_bad "at most 100000 samples per vCPU" --seconds 200 --hz 1000
ctl_bad "cannot open the vmlinux '/nonexistent/vmlinux': No such file" --seconds 2 --vmlinux /nonexistent/vmlinux
ctl_bad "is not an ELF file" --seconds 2 --vmlinux "$dir/initramfs.cpio"
ctl_bad "cannot open the kallsyms file '/nonexistent/kallsyms'" --seconds 2 --kallsyms /nonexistent/kallsyms
ctl_bad "give --vmlinux or --kallsyms, not both" --seconds 2 --vmlinux "$dir/vmlinux" --kallsyms "$dir/System.map"
ctl_bad "--seconds N is needed" --hz 100
ctl_bad "cannot understand '--seconds five'" --seconds five
check profile/bad-input '[ -z "$bad" ]' "${bad:-hz 0, seconds 0 and 100000, hz*seconds, missing and non-ELF vmlinux, kallsyms, both, no seconds: status 2 and one sentence}"

# ---- a CPL3 loop ----------------------------------------------------------------------------
spin_vm "$sock"
codes="$(api "$sock" GET /profile) $(jget 'd["state"]')"
codes+=" $(api "$sock" PUT /profile '{"hz": 0, "seconds": 5}'):$(jget 'd["fault_message"]')"
codes+=" $(api "$sock" PUT /profile '{"seconds": 2}')"
codes+=" $(api "$sock" PUT /profile '{"seconds": 2}'):$(jget 'd["fault_message"]')"
check profile/api-bad-input '[[ "$codes" == "200 none 400:The sampling rate hz must be from 1 to 5000 per second, not 0. 204 400:A profile is running already"* ]]' \
	"GET before any, hz 0, a second while one runs: $codes"
wait_profile "$sock"

# User-mode samples: leaf only, [user], at user_pio's addresses (nm), 100% user.
read -r lo size < <(nm -S "$GUEST" | awk '$4 == "user_pio" {print $1, $2}')
"${CTL[@]}" profile --api-sock "$sock" --seconds 2 --out "$work/user" > "$work/user.out" 2> "$work/user.err"
rc=$?
cp "$work/user.out" "$LOGDIR/profile-user.out" 2>/dev/null
addrs=$(grep -o '\[user\] 0x[0-9a-f]*' "$work/user/top.txt" | awk '{print $2}')
inside=0 outside=0
for a in $addrs; do
	if (( a >= 0x$lo && a < 0x$lo + 0x$size )); then inside=$((inside + 1)); else outside=$((outside + 1)); fi
done
folded=$(cat "$work/user/stacks.folded" 2>/dev/null)
check profile/user-leaf '[ "$rc" = 0 ] && grep -q "user [0-9]* (100.0%)" "$work/user.out" &&
	grep -q "user-mode samples are leaf only" "$work/user.out" && [[ "$folded" =~ ^\[user\]\ [0-9]+$ ]] &&
	[ "$inside" -ge 1 ] && [ "$outside" = 0 ]' \
	"status $rc; $(grep -m1 '^samples:' "$work/user.out"); folded: ${folded:0:40}; hottest addresses in user_pio: $inside, elsewhere: $outside"

# Paused for ~2 s of a 4 s profile, with a snapshot taken meanwhile: nothing sampled then.
codes=$(api "$sock" PUT /profile '{"hz": 1000, "seconds": 4}')
sleep 1
codes+=" $(api "$sock" PATCH /vm '{"state": "Paused"}')"
codes+=" $(api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/st\", \"mem_file_path\": \"$work/mem\"}")"
sleep 2
codes+=" $(api "$sock" PATCH /vm '{"state": "Resumed"}')"
wait_profile "$sock"
paused=$(jget 'd["paused_ticks"]') taken=$(jget 'sum(v["samples"] for v in d["per_vcpu"])') state=$(jget 'd["state"]')
check profile/paused-snapshot '[ "$codes" = "204 204 204 204" ] && [ "$state" = completed ] &&
	[ "${paused:-0}" -ge 1500 ] && [ "${taken:-0}" -ge 500 ] && [ "${taken:-0}" -le 2600 ] && [ -s "$work/st" ]' \
	"codes $codes; $state: $taken samples, $paused ticks paused of 4000"

# A VM stopped in the middle of a profile exits as it would without one (SIGTERM: 6).
codes=$(api "$sock" PUT /profile '{"hz": 1000, "seconds": 60}')
sleep 0.5
kill -TERM $vm
t0=$(date +%s.%N)
for _ in $(seq 1 200); do kill -0 $vm 2>/dev/null || break; sleep 0.1; done
kill -9 $vm 2>/dev/null # (a hang: the status below is then not 6)
wait $vm
rc=$? vm=
secs=$(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))")
check profile/vm-stop '[ "$codes" = 204 ] && [ "$rc" = 6 ]' "PUT $codes, SIGTERM mid-profile: status $rc after $secs s"

# The sampler thread has a seccomp filter of its own: a forbidden call there is caught.
rm -f "$sock"
VMON_SECCOMP_SELFTEST=profile "$VMON" run --testdev --memory 16M --console none --net none \
	--kernel "$GUEST" --cmdline "count=1000000000000 spin=1000000" --api-sock "$sock" \
	> "$LOGDIR/profile-seccomp.log" 2>&1 < /dev/null &
vm=$!
wait_sock "$sock"
code=$(api "$sock" PUT /profile '{"seconds": 5}')
for _ in $(seq 1 100); do kill -0 $vm 2>/dev/null || break; sleep 0.1; done
kill -9 $vm 2>/dev/null
wait $vm
rc=$? vm=
check profile/seccomp '[ "$rc" = 7 ] && grep -q "thread '"'"'vmon-profile'"'"' made a forbidden system call: ptrace" "$LOGDIR/profile-seccomp.log"' \
	"PUT $code, then status $rc: $(grep -m1 -o "seccomp: thread .*" "$LOGDIR/profile-seccomp.log")"

# ---- the Linux guest: dd from /dev/urandom, its CPU time in the kernel's RNG ----------------
con=$work/console.log
cmd='echo dd-start; dd if=/dev/urandom of=/dev/null bs=64k count=100000'
rm -f "$sock" # the seccomp test's vmon died without removing it
"$VMON" run --kernel "$dir/vmlinux" --initrd "$dir/initramfs.cpio" --memory 256M --cpus 2 \
	--net none --console "file:$con" --api-sock "$sock" \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmon_check=1 vmon_cmd=\"$cmd\"" \
	< /dev/null > "$LOGDIR/profile-linux.log" 2>&1 &
vm=$!
if ! wait_for "$con" dd-start $vm; then
	for t in linux-top linux-stacks flamegraph kallsyms; do
		result FAIL "profile/$t" "the guest did not start dd; see $LOGDIR/profile-linux.log"
	done
	exit 0
fi
sleep 1
out=$work/linux
"${CTL[@]}" profile --api-sock "$sock" --seconds 4 --vmlinux "$dir/vmlinux" --out "$out" \
	> "$LOGDIR/profile-linux.out" 2> "$LOGDIR/profile-linux.err"
rc=$?
rng='chacha_permute|chacha_block_generic|get_random_bytes_user|urandom_read_iter|_copy_to_iter|crng_make_state'
top10=$(sed -n '/ function$/,/^$/p' "$LOGDIR/profile-linux.out" | sed '1d')
hits=$(echo "$top10" | grep -cwE "$rng")
check profile/linux-top '[ "$rc" = 0 ] && [ "$hits" -ge 2 ] && grep -q " vcpu1 " "$LOGDIR/profile-linux.out"' \
	"status $rc; RNG functions in the top 10: $hits ($(echo "$top10" | grep -wE "$rng" | awk '{print $NF}' | tr '\n' ' '))"
# A kernel stack through the read(2) path: urandom_read_iter's callers and callees, deep.
deep=$(grep -E '(^|;)urandom_read_iter;get_random_bytes_user(;|$| )' "$out/stacks.folded" 2>/dev/null |
	awk '{n = split($1, f, ";"); if (n > max) max = n} END {print max + 0}')
lines=$(grep -c ';' "$out/stacks.folded" 2>/dev/null)
check profile/linux-stacks '[ "${deep:-0}" -ge 6 ] && grep -q "kernel stacks walked by frame pointer" "$out/top.txt"' \
	"the deepest urandom_read_iter;get_random_bytes_user stack: $deep frames; $lines multi-frame stacks; $(grep -m1 -o '[0-9.]* frames deep on average' "$out/top.txt")"
if command -v xmllint > /dev/null; then
	wf=$(xmllint --noout "$out/flamegraph.svg" 2>&1 && echo well-formed)
else
	wf=$(python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1]); print("well-formed")' "$out/flamegraph.svg" 2>&1)
fi
check profile/flamegraph '[ "$wf" = well-formed ] && grep -qE "<title>($rng) \([0-9]+ samples" "$out/flamegraph.svg" && ! grep -q "<script" "$out/flamegraph.svg"' \
	"$(echo "$wf" | tail -n 1); $(grep -c '<rect' "$out/flamegraph.svg") rects, $(wc -c < "$out/flamegraph.svg") bytes"
# The same kernel's symbols from a kallsyms listing (System.map has its format).
"${CTL[@]}" profile --api-sock "$sock" --seconds 1 --kallsyms "$dir/System.map" --out "$work/ks" \
	> "$LOGDIR/profile-kallsyms.out" 2>&1
rc=$?
hits=$(sed -n '/ function$/,/^$/p' "$LOGDIR/profile-kallsyms.out" | grep -cwE "$rng")
check profile/kallsyms '[ "$rc" = 0 ] && [ "$hits" -ge 1 ]' "status $rc; RNG functions in the top 10: $hits"
kill -9 $vm 2>/dev/null
wait $vm 2>/dev/null
vm=
