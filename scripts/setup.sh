#!/usr/bin/env bash
# Install what vmon needs to build and test, from Debian's packages (idempotent), and
# fetch Debian's stock kernel for the loader test. Safe to run on every `make test`.
set -euo pipefail

PKGS=(gcc make libc6-dev pkg-config
      zlib1g-dev liblzma-dev liblz4-dev libzstd-dev libcmocka-dev
      linux-source-6.1 busybox-static flex bison bc libelf-dev libssl-dev cpio xz-utils lz4 patch util-linux
      python3 qemu-system-x86 gnuplot-nox binutils liburing-dev libslirp-dev e2fsprogs iproute2 curl
      libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libseccomp-dev python3-yaml
      clang libclang-rt-14-dev gdb libxml2-utils
      dpkg-dev debhelper debootstrap man-db groff-base systemd)
CACHE=${VMON_CACHE:-$HOME/.cache/vmon}

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2
fi

# Debian's stock kernel: the loaders must accept it (tests/unit/test_boot.c), though this
# host's nested KVM cannot boot it. Cached; one download per machine.
deb_dir=$CACHE/debian-kernel
if [ ! -s "$deb_dir/vmlinuz" ]; then
	mkdir -p "$deb_dir"
	(
		cd "$deb_dir"
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		if [ -z "$pkg" ]; then
			as_root apt-get update -qq
			pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		fi
		echo "setup: fetching $pkg for the loader test" >&2
		apt-get download -qq "$pkg" >&2 || as_root apt-get download -qq "$pkg" >&2
		deb=$(ls -1 ./*.deb | head -n 1)
		dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './boot/vmlinuz-*' > vmlinuz.tmp
		mv vmlinuz.tmp vmlinuz
		rm -f ./*.deb
	) || echo "setup: warning: could not fetch Debian's kernel; its loader test will be skipped" >&2
fi
