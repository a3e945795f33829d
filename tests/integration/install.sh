#!/usr/bin/env bash
# Installing vmon as a Debian user does: `make install`/`uninstall` with DESTDIR and PREFIX,
# the manual pages (rendered without warnings, every option of every --help described), bash
# completion, the systemd unit (systemd-analyze verify, and its stop command against a guest
# that ignores the power button), and `make deb`: its contents and dependencies, and the
# package installed with apt in a throw-away Debian root (debootstrap, cached) where vmon
# --version and a freestanding guest run.
set -uo pipefail
SUITE=install
TESTS=(install/layout install/uninstall man/render man/options completion/bash
       systemd/verify systemd/stop deb/contents deb/chroot-install)
LIB_NO_GUEST=1
. "$(dirname "$0")/lib.sh"

B=${VMON_BUILD:-build}
GUESTS=$B/tests/guest
CACHE=${VMON_CACHE:-$HOME/.cache/vmon}
work=$(mktemp -d /tmp/vmon-install.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 $pid 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
version=$("$VMON" --version | awk '{print $2}')

# ---- make install / uninstall ------------------------------------------------------------
want=(usr/bin/vmon usr/bin/vmon-ctl usr/bin/vmon-uffd-handler
      usr/lib/systemd/system/vmon@.service
      usr/share/bash-completion/completions/vmon usr/share/bash-completion/completions/vmon-ctl
      usr/share/doc/vmon/README.md usr/share/doc/vmon/examples/vm.json)
for m in man/*.1; do want+=("usr/share/man/man1/${m#man/}"); done
for d in docs/*.md; do [ -f "$d" ] && want+=("usr/share/doc/vmon/$d"); done
dest=$work/dest
make -s install DESTDIR="$dest" PREFIX=/usr > "$LOGDIR/install-make.log" 2>&1
rc=$?
got=$(cd "$dest" 2>/dev/null && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)
expect=$(printf '%s\n' "${want[@]}" | sort)
ver_out=$("$dest/usr/bin/vmon" --version 2>&1)
if [ "$rc" = 0 ] && [ "$got" = "$expect" ] && [ "$ver_out" = "vmon $version" ] &&
   ! grep -q '@BINDIR@' "$dest/usr/lib/systemd/system/vmon@.service" &&
   grep -q '^ExecStart=/usr/bin/vmon ' "$dest/usr/lib/systemd/system/vmon@.service" &&
   [ "$(readlink "$dest/usr/share/bash-completion/completions/vmon-ctl")" = vmon ]; then
	result PASS install/layout "$(echo "$got" | wc -l) files under PREFIX=/usr"
else
	result FAIL install/layout "make install rc $rc; files: $(diff <(echo "$expect") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')"
fi
make -s uninstall DESTDIR="$dest" PREFIX=/usr > "$LOGDIR/install-unmake.log" 2>&1
rc=$?
left=$(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\./||')
if [ "$rc" = 0 ] && [ -z "$left" ] && [ ! -e "$dest/usr/share/doc/vmon" ]; then
	result PASS install/uninstall
else
	result FAIL install/uninstall "rc $rc, left behind: $(echo $left)"
fi

# ---- manual pages --------------------------------------------------------------------------
# man-db's --warnings passes groff -ww: every warning (an unknown macro, a bad escape, a
# line that cannot be broken) is on stderr. A page with a planted bad macro must warn, or the
# check proves nothing.
render() { LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2> "$2"; }
bad=0 why=
for m in man/*.1; do
	# Words groff hyphenated at a line's end (U+2010) are joined again for the search.
	render "$m" "$work/warn" | sed -e ':a' -e '/\xe2\x80\x90$/{N;s/\xe2\x80\x90\n *//;ba}' > "$work/$(basename "$m").txt"
	if [ -s "$work/warn" ] || [ "$(wc -l < "$work/$(basename "$m").txt")" -lt 20 ]; then
		bad=1 why+="$m: $(head -c 300 "$work/warn") "
	fi
	grep -q "^\.TH [A-Z-]* 1 .*\"vmon $version\"" "$m" || bad=1 why+="$m: .TH does not say vmon $version "
done
{ cat man/vmon.1; echo '.BOGUSMACRO x'; } > "$work/planted.1"
render "$work/planted.1" > /dev/null "$work/planted.warn"
if [ "$bad" = 0 ] && [ -s "$work/planted.warn" ]; then
	result PASS man/render "$(ls man/*.1 | wc -l) pages, no warnings (a planted bad macro warns)"
else
	result FAIL man/render "${why:-a planted bad macro gave no warning}"
fi
# Each option a usage text prints, found in its page's rendered text as a word.
missing=()
documented() {	# PAGE: options read from stdin
	local opt
	while read -r opt; do
		grep -qE -- "(^|[^a-z-])$opt([^a-z-]|$)" "$work/$1.txt" || missing+=("$1:$opt")
	done
}
{ "$VMON" --help; "$VMON" --api-sock --help; "$VMON" snapshot --help; "$VMON" shm-server --help; } 2>&1 |
	grep -o -- '--[a-z][a-z0-9-]*' | sort -u > "$work/opts.vmon"
documented vmon.1 < "$work/opts.vmon"
"$VMON" jail --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u | documented vmon-jail.1
"$VMON" ctl --help > "$work/ctl.help" 2>&1
{ grep -o -- '--[a-z][a-z0-9-]*' "$work/ctl.help"
  sed -n 's/^  \([a-z][^ ].*\)/\1/p' "$work/ctl.help" | sed 's/   .*//' | tr '|,' '\n\n' |
	awk '{print $1}' | grep -E '^[a-z][a-z-]*$'; } | sort -u > "$work/words.ctl"
while read -r w; do
	grep -qE -- "(^|[^a-z-])$w([^a-z-]|$)" "$work/vmon-ctl.1.txt" || missing+=("vmon-ctl.1:$w")
done < "$work/words.ctl"
n=$(cat "$work/opts.vmon" "$work/words.ctl" | wc -l)
if [ ${#missing[@]} = 0 ] && [ "$n" -gt 50 ]; then
	result PASS man/options "$n options and commands of vmon, vmon ctl and vmon jail --help, each documented"
else
	result FAIL man/options "not in the man pages: ${missing[*]:-none} ($n words checked)"
fi

# ---- bash completion -------------------------------------------------------------------------
comp=$(PATH="$PWD/$B:$PATH" bash -c '
	. dist/bash-completion/vmon
	t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
	      f=_${COMP_WORDS[0]//-/_}; $f; echo "${COMPREPLY[*]}"; }
	t vmon ru; t vmon run --ball; t vmon run --boot ""; t vmon ctl --api-sock s mig
	t vmon-ctl --api-sock s migrate --dow; t vmon --api-sock s --conf; t vmon jail --new
	t vmon snapshot m; t vmon ctl --api-sock s st; t vmon shm-server --vec' 2>&1)
want_comp='run
--balloon
auto linux pvh
migrate
--downtime-limit
--config-file
--new-netns
merge
start stop
--vectors'
if [ "$comp" = "$want_comp" ]; then
	result PASS completion/bash "subcommands, options from --help, option values, ctl commands"
else
	result FAIL completion/bash "got: $(echo "$comp" | tr '\n' '|')"
fi

# ---- the systemd unit ------------------------------------------------------------------------
pfx=$work/prefix	# installed without DESTDIR so the unit's paths exist for verify
make -s install PREFIX="$pfx" > "$LOGDIR/install-prefix.log" 2>&1
unit=$pfx/lib/systemd/system
if ! command -v systemd-analyze > /dev/null; then
	result SKIP systemd/verify "systemd-analyze is not installed"
else
	cp "$unit/vmon@.service" "$unit/vmon@demo.service"
	systemd-analyze verify --man=no "$unit/vmon@demo.service" > "$work/verify.log" 2>&1
	vrc=$?
	sed 's|^ExecStart=.*|ExecStart=relative/vmon|; s|^Restart=.*|Restart=sometimes|' \
		"$unit/vmon@.service" > "$unit/vmon@broken.service"
	systemd-analyze verify --man=no "$unit/vmon@broken.service" > "$work/verify-broken.log" 2>&1
	brc=$?
	if [ "$vrc" = 0 ] && [ ! -s "$work/verify.log" ] && [ "$brc" != 0 ]; then
		result PASS systemd/verify "clean; a broken copy fails (rc $brc)"
	else
		result FAIL systemd/verify "rc $vrc: $(head -c 400 "$work/verify.log"); broken copy rc $brc"
	fi
fi
# The unit's own start and stop commands (%i = demo), run as systemd would, on a guest that
# ignores the power button: stop waits its timeout and says so (1); vmon is still running
# and leaves on SIGTERM with 6, a status the unit counts as success.
if ! [ -c "$KVM_DEV" ] || ! { exec 9<>"$KVM_DEV"; } 2>/dev/null; then
	result SKIP systemd/stop "cannot open $KVM_DEV"
else
	exec 9>&-
	run=$work/run && mkdir -p "$run" "$work/etc"
	cat > "$work/etc/demo.json" <<-EOF
	{"boot-source": {"kernel_image_path": "$PWD/$GUESTS/exitloop.elf", "boot_args": "idle"},
	 "machine-config": {"vcpu_count": 1, "mem_size_mib": 16}}
	EOF
	line() { sed -n "s|^$1=||p" "$unit/vmon@.service" | sed "s|/run/vmon|$run|g; s|/etc/vmon|$work/etc|g; s|%i|demo|g"; }
	start=$(line ExecStart) stop=$(line ExecStop)
	$start > "$LOGDIR/systemd-stop.log" 2>&1 &
	pid=$!
	wait_sock "$run/demo.sock"
	t0=$(date +%s.%N)
	${stop/--timeout 30/--timeout 2} > "$work/stop.out" 2>&1
	src=$?
	took=$(echo "$(date +%s.%N) - $t0" | bc)
	alive=no; kill -0 $pid 2>/dev/null && alive=yes
	kill -TERM $pid 2>/dev/null
	wait $pid
	vrc=$?
	pid=
	if [ "$src" = 1 ] && [ "$alive" = yes ] && [ "$vrc" = 6 ] && grep -q 'still runs 2 s' "$work/stop.out" &&
	   grep -q '^SuccessExitStatus=6' "$unit/vmon@.service" && (( $(echo "$took >= 2" | bc) )); then
		result PASS systemd/stop "ExecStop returned 1 after ${took%??????} s, SIGTERM then gave 6"
	else
		result FAIL systemd/stop "stop rc $src ($(cat "$work/stop.out")), alive $alive, vmon rc $vrc"
	fi
fi

# ---- the Debian package ----------------------------------------------------------------------
if ! command -v dpkg-buildpackage > /dev/null || ! command -v dh > /dev/null; then
	result SKIP deb/contents "dpkg-buildpackage or debhelper is not installed"
	result SKIP deb/chroot-install "no package"
	exit 0
fi
deb=$(make -s deb 2> "$LOGDIR/deb.log" | tail -n 1)
if [ ! -f "$deb" ]; then
	result FAIL deb/contents "make deb failed: $(tail -n 5 "$LOGDIR/deb.log")"
	result SKIP deb/chroot-install "no package"
	exit 0
fi
dpkg-deb -c "$deb" > "$LOGDIR/deb-contents.txt"
files=$(awk '{print $6}' "$LOGDIR/deb-contents.txt" | sed 's|^\./||; s|\.gz$||' | sort)
bad=()
for f in "${want[@]}"; do
	grep -qxF "$f" <<< "$files" || bad+=("missing $f")
done
# Every shared library the programs link comes from a package the .deb depends on.
depends=$(dpkg-deb -f "$deb" Depends)
mkdir -p "$work/x" && dpkg-deb -x "$deb" "$work/x"
for p in vmon vmon-ctl vmon-uffd-handler; do
	for lib in $(readelf -d "$work/x/usr/bin/$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
		# dpkg knows the file by its real name, under /lib or /usr/lib (merged /usr).
		pkg=$(dpkg -S "*/$(basename "$(readlink -f "$path")")" 2>/dev/null | grep -m1 ':amd64: ' | cut -d: -f1)
		[ -n "$pkg" ] && [[ ", $depends," == *", $pkg "* || ", $depends," == *", $pkg,"* ]] ||
			bad+=("$p needs $lib ($pkg), not in Depends")
	done
done
if [ ${#bad[@]} = 0 ]; then
	result PASS deb/contents "$(basename "$deb"): $(echo "$files" | wc -l) entries; Depends: $depends"
else
	result FAIL deb/contents "${bad[*]}"
fi

# A minimal Debian 12 root (debootstrap --variant=minbase, cached as a tarball): apt installs
# the package with its dependencies from the archive, then vmon runs a freestanding guest on
# the host's /dev/kvm inside it (private mounts, gone with the namespace).
root_tar=$CACHE/debian-root-bookworm-minbase-v1.tar
if [ ! -s "$root_tar" ]; then
	if ! command -v debootstrap > /dev/null; then
		result SKIP deb/chroot-install "debootstrap is not installed"
		exit 0
	fi
	echo "  making a Debian root for the package test (once; cached in $root_tar)"
	mkdir -p "$CACHE" "$work/mk"
	if debootstrap --variant=minbase bookworm "$work/mk/root" http://deb.debian.org/debian \
		> "$LOGDIR/debootstrap.log" 2>&1; then
		tar -C "$work/mk/root" -cf "$root_tar.tmp" . && mv "$root_tar.tmp" "$root_tar"
	fi
	rm -rf "$work/mk"
	if [ ! -s "$root_tar" ]; then
		result SKIP deb/chroot-install "debootstrap could not make a root: $(tail -n 1 "$LOGDIR/debootstrap.log")"
		exit 0
	fi
fi
if ! [ -c "$KVM_DEV" ]; then
	result SKIP deb/chroot-install "cannot open $KVM_DEV"
	exit 0
fi
root=$work/root
mkdir -p "$root" && tar -C "$root" -xf "$root_tar"
cp "$deb" "$root/tmp/vmon.deb"
cp "$GUESTS/pio_mmio.elf" "$root/tmp/guest.elf"
cp /etc/resolv.conf "$root/etc/resolv.conf"
unshare --mount --propagation private sh -c '
	root=$1 kvm=$2
	mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev" && mount -t sysfs sys "$root/sys" &&
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -c "
		set -e
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends /tmp/vmon.deb
		echo VERSION: \$(vmon --version)
		vmon-ctl --help | head -n 1
		dpkg -L vmon | grep -c . | sed s/^/FILES:\ /
		set +e
		vmon run --kernel /tmp/guest.elf --testdev --memory 16M --console none; echo GUEST-RC: \$?
	"' sh "$root" "$KVM_DEV" > "$LOGDIR/deb-chroot.log" 2>&1
crc=$?
if [ "$crc" = 0 ] && grep -qx "VERSION: vmon $version" "$LOGDIR/deb-chroot.log" &&
   grep -qx 'GUEST-RC: 0' "$LOGDIR/deb-chroot.log" && grep -q '^usage: vmon ctl' "$LOGDIR/deb-chroot.log"; then
	result PASS deb/chroot-install "apt installed it in a fresh Debian 12 root; vmon --version and a guest ran (status 0)"
elif grep -qE 'Temporary failure resolving|Could not resolve|Failed to fetch' "$LOGDIR/deb-chroot.log"; then
	result SKIP deb/chroot-install "the Debian archive cannot be reached for the dependencies (see $LOGDIR/deb-chroot.log)"
else
	result FAIL deb/chroot-install "rc $crc, see $LOGDIR/deb-chroot.log: $(tail -n 3 "$LOGDIR/deb-chroot.log" | tr '\n' ' ')"
fi
