#!/bin/bash
# Builds vmon's default test guest -- Linux 6.1 (vmlinux + bzImage) from
# Debian's linux-source-6.1 and a busybox initramfs -- into a cache directory
# named after a hash of every input, outside the repository.
#
#   dir=$(guest/linux/build.sh | tail -1)     # build if needed, print the dir
#   dir=$(guest/linux/build.sh --print-dir)   # only print the dir
#
# Output: ${VMON_CACHE:-$HOME/.cache/vmon}/linux-<hash>/{vmlinux,bzImage,
# initramfs.cpio,config,System.map,.done}. The last line on stdout is the
# directory; everything else goes to stderr. VMON_JOBS overrides make's -j
# (default: nproc); VMON_VERBOSE=1 streams the kernel build log to stderr.
set -euo pipefail

export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kernel_pkg=linux-source-6.1
kernel_tarball=/usr/src/linux-source-6.1.tar.xz
busybox_pkg=busybox-static
busybox_bin=/bin/busybox
cache_root=${VMON_CACHE:-$HOME/.cache/vmon}
jobs=${VMON_JOBS:-$(nproc)}
kmake=(make ARCH=x86_64 KBUILD_BUILD_USER=vmon KBUILD_BUILD_HOST=vmon)

# Options whose absence breaks booting or user space on the development host
# (PLATFORM.md); any other option of config.fragment that does not take
# effect is only reported.
required_options=(
	64BIT SMP KVM_GUEST PVH PRINTK TTY SERIAL_8250 SERIAL_8250_CONSOLE
	BLK_DEV_INITRD BINFMT_ELF BINFMT_SCRIPT DEVTMPFS PROC_FS SYSFS TMPFS
	FUTEX VIRTIO_MMIO VIRTIO_BLK VIRTIO_NET VIRTIO_CONSOLE KERNEL_LZ4
	PTP_1588_CLOCK_KVM LEGACY_PTYS MODULES RANDOMIZE_BASE
	CC_OPTIMIZE_FOR_PERFORMANCE LIBNVDIMM BLK_DEV_PMEM VIRTIO_PMEM
)

log() { echo "vmon guest/linux: $*" >&2; }
die() { log "error: $*"; exit 1; }

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null ||
		die "package $1 is not installed (apt-get install $1)"
}

# sha256 over everything that determines the output, first 16 hex digits.
input_hash() {
	local f files
	files=(config.fragment "$here"/patches/*.patch init build.sh)
	files=("${files[@]#"$here/"}")
	for f in "${files[@]}"; do
		[ -f "$here/$f" ] || die "missing input $here/$f"
	done
	{
		echo "$kernel_pkg $kernel_version"
		echo "$busybox_pkg $busybox_version"
		for f in "${files[@]}"; do
			echo "== $f"
			cat "$here/$f"
		done
	} | sha256sum | cut -c1-16
}

check_tools() {
	local t missing=()
	for t in make gcc flex bison bc lz4 patch cpio flock sha256sum tar xz; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	[ -r /usr/include/libelf.h ] || missing+=("libelf-dev")
	((${#missing[@]} == 0)) || die "missing build tools: ${missing[*]}"
	[ -r "$kernel_tarball" ] || die "$kernel_tarball not found (apt-get install $kernel_pkg)"
	[ -x "$busybox_bin" ] || die "$busybox_bin not found (apt-get install $busybox_pkg)"
}

# Run a build step with its output in $build_log (or on stderr if verbose).
run() {
	if [ "${VMON_VERBOSE:-0}" = 1 ]; then
		"$@" >&2 || die "'$*' failed"
	elif ! "$@" >>"$build_log" 2>&1; then
		tail -n 40 "$build_log" >&2
		die "'$*' failed; full log: $build_log"
	fi
}

configure_kernel() {
	local src=$1 line sym want have missed=() fatal=()

	run "${kmake[@]}" -C "$src" tinyconfig
	(cd "$src" && run scripts/kconfig/merge_config.sh -m .config "$here/config.fragment")
	run "${kmake[@]}" -C "$src" olddefconfig

	while read -r line; do
		case $line in
		CONFIG_*=*) sym=${line%%=*}; want=$line ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *}; want="" ;;
		*) continue ;;
		esac
		have=$(grep -E "^$sym=" "$src/.config" || true)
		[ "$have" = "$want" ] && continue
		missed+=("$line (got: ${have:-not set})")
		if [[ " ${required_options[*]} " == *" ${sym#CONFIG_} "* ]]; then
			fatal+=("$sym")
		fi
	done <"$here/config.fragment"

	if ((${#missed[@]})); then
		log "warning: config.fragment lines that did not take effect:"
		printf '    %s\n' "${missed[@]}" >&2
	fi
	((${#fatal[@]} == 0)) || die "required options did not take effect: ${fatal[*]}"
}

# Busybox applets that get a link in the initramfs: the ones /init runs
# before /proc is mounted or by exec(), and shebang targets. Each cpio entry
# costs ~20 ms of emulated kernel code to unpack on the development host;
# links for all ~270 applets made the boot 6 s slower. Busybox's standalone
# shell runs every other applet by name.
initramfs_applets=(sh mount poweroff reboot setsid cttyhack env)

# An uncompressed newc cpio: busybox, a few applet links, /init, /etc.
build_initramfs() {
	local root=$1 cpio=$2 applet path

	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,root}
	cp "$busybox_bin" "$root/bin/busybox"
	for applet in "${initramfs_applets[@]}"; do
		path=$("$busybox_bin" --list-full | grep -E "(^|/)$applet\$") ||
			die "$busybox_bin has no applet $applet"
		ln -s /bin/busybox "$root/$path"
	done
	install -m 0755 "$here/init" "$root/init"
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	cat >"$root/etc/fstab" <<-EOF
		proc     /proc proc     defaults  0 0
		sysfs    /sys  sysfs    defaults  0 0
		devtmpfs /dev  devtmpfs defaults  0 0
		tmpfs    /tmp  tmpfs    mode=1777 0 0
	EOF
	# udhcpc's hook (init's vmon_dhcp): $ip, $mask (prefix length), $router, $dns.
	mkdir -p "$root/etc/udhcpc"
	cat >"$root/etc/udhcpc/default.script" <<-'EOF'
		#!/bin/sh
		case $1 in
		deconfig) ip -4 addr flush dev "$interface" ;;
		bound|renew)
			ip -4 addr flush dev "$interface"
			ip addr add "$ip/${mask:-24}" dev "$interface"
			[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
			: >/etc/resolv.conf
			for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done ;;
		esac
		exit 0
	EOF
	chmod 0755 "$root/etc/udhcpc/default.script"
	chmod 1777 "$root/tmp"
	chmod 0700 "$root/root"
	# The kernel opens /dev/console for init before /init mounts devtmpfs.
	# As non-root, fakeroot supplies the device nodes and root ownership.
	local pack="mknod -m 600 dev/console c 5 1 && mknod -m 666 dev/null c 1 3 &&
		find . -exec touch -h -d @0 {} + &&
		find . | sort | cpio -o -H newc -R 0:0 --reproducible --quiet"
	if [ "$(id -u)" = 0 ]; then
		(cd "$root" && sh -c "$pack") >"$cpio"
	else
		command -v fakeroot >/dev/null || die "fakeroot is needed when not root"
		(cd "$root" && fakeroot sh -c "$pack") >"$cpio"
	fi
}

build() {
	local out=$1 hash=$2 start=$SECONDS
	local work="$cache_root/build-$hash"
	local src="$work/linux" stage="$work/out"
	build_log="$cache_root/linux-$hash.log"

	rm -rf "$work" "$out"
	mkdir -p "$src" "$stage"
	: >"$build_log"

	log "unpacking $kernel_tarball ($kernel_pkg $kernel_version)"
	tar -xf "$kernel_tarball" -C "$src" --strip-components=1
	log "kernel $(make -s --no-print-directory -C "$src" kernelversion)"

	local p
	for p in "$here"/patches/*.patch; do
		log "applying patches/${p##*/}"
		run patch -p1 -d "$src" -i "$p"
	done

	log "configuring: tinyconfig + config.fragment"
	configure_kernel "$src"

	log "building vmlinux bzImage with -j$jobs (several minutes; log: $build_log)"
	run "${kmake[@]}" -C "$src" -j"$jobs" vmlinux bzImage

	log "building initramfs.cpio from $busybox_bin ($busybox_pkg $busybox_version)"
	build_initramfs "$work/initramfs" "$stage/initramfs.cpio"

	cp "$src/vmlinux" "$src/arch/x86/boot/bzImage" "$src/System.map" "$stage/"
	cp "$src/.config" "$stage/config"
	touch "$stage/.done"
	mv "$stage" "$out"
	rm -rf "$work"
	log "done in $((SECONDS - start)) s: $(cd "$out" && du -h vmlinux bzImage initramfs.cpio | tr '\t\n' ': ')"
}

main() {
	local hash out
	kernel_version=$(pkg_version "$kernel_pkg")
	busybox_version=$(pkg_version "$busybox_pkg")
	hash=$(input_hash)
	out="$cache_root/linux-$hash"

	case "${1:-}" in
	--print-dir) echo "$out"; return ;;
	"") ;;
	*) die "usage: $0 [--print-dir]" ;;
	esac

	if [ ! -e "$out/.done" ]; then
		check_tools
		mkdir -p "$cache_root"
		# A caller's make must not leak jobserver fds or variables into ours.
		unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES O KBUILD_OUTPUT \
			KCONFIG_CONFIG CROSS_COMPILE LLVM
		exec 9>"$cache_root/linux-$hash.lock"
		if ! flock -n 9; then
			log "another build of linux-$hash is running; waiting"
			flock 9
		fi
		if [ -e "$out/.done" ]; then
			log "built meanwhile by another process"
		else
			build "$out" "$hash"
		fi
	fi
	echo "$out"
}

# One line, so that bash has read all of it before running: editing this file
# during a build must not change what the running build executes.
main "$@"; exit
