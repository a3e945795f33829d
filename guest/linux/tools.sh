#!/bin/bash
# Builds the test guest's tools -- tools/ticker.c, tools/dirtier.c and tools/vsock.c, static
# CPL3 programs for migration tests and benchmarks -- and an initramfs that is
# the default guest's initramfs.cpio with those tools added in /bin,
# into a cache directory named after a hash of every input.
#
#   dir=$(guest/linux/tools.sh | tail -n 1)
#   vmon run --kernel "$(guest/linux/build.sh --print-dir)/vmlinux" \
#       --initrd "$dir/initramfs-tools.cpio" ...
#
# Output: ${VMON_CACHE:-$HOME/.cache/vmon}/guest-tools-<hash>/{ticker,dirtier,
# initramfs-tools.cpio,.done}. The base guest (guest/linux/build.sh) must have
# been built; this script does not build a kernel. The last line on stdout is
# the directory; everything else goes to stderr.
set -euo pipefail

export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${VMON_CACHE:-$HOME/.cache/vmon}
tools=(ticker dirtier vsock)

log() { echo "vmon guest/linux/tools: $*" >&2; }
die() { log "error: $*"; exit 1; }

# sha256 over the sources, this script, the compiler and the base initramfs
# (its path and its contents), first 16 hex digits.
input_hash() {
	local base=$1 t
	{
		echo "== base $base/initramfs.cpio"
		sha256sum <"$base/initramfs.cpio"
		gcc --version | head -n 1
		for t in "${tools[@]}"; do
			echo "== tools/$t.c"
			cat "$here/tools/$t.c"
		done
		echo "== tools.sh"
		cat "$here/tools.sh"
	} | sha256sum | cut -c1-16
}

# The base archive, then a second newc archive with bin/<tool>: Linux unpacks
# concatenated archives in order (the existing /bin is kept). The tools are
# stripped: every byte of the initramfs is copied by emulated kernel code.
build() {
	local base=$1 out=$2 stage="$2.tmp.$$" t
	rm -rf "$stage"
	mkdir -p "$stage/root/bin"
	for t in "${tools[@]}"; do
		gcc -static -O2 -s -Wall -Wextra -Werror -o "$stage/root/bin/$t" "$here/tools/$t.c" ||
			die "gcc failed on tools/$t.c"
		cp "$stage/root/bin/$t" "$stage/$t"
	done
	(cd "$stage/root" && find bin -type f -exec touch -h -d @0 {} + &&
		find bin -type f | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) >"$stage/tools.cpio" ||
		die "cpio failed"
	cat "$base/initramfs.cpio" "$stage/tools.cpio" >"$stage/initramfs-tools.cpio"
	rm -rf "$stage/root" "$stage/tools.cpio"
	touch "$stage/.done"
	rm -rf "$out"
	mv "$stage" "$out"
	log "built $out: $(cd "$out" && du -h "${tools[@]}" initramfs-tools.cpio | tr '\t\n' ': ')"
}

main() {
	local base hash out t
	[ $# = 0 ] || die "usage: $0 (no arguments)"
	for t in gcc cpio sha256sum flock; do
		command -v "$t" >/dev/null || die "$t is needed"
	done
	base=$("$here/build.sh" --print-dir)
	[ -e "$base/.done" ] && [ -r "$base/initramfs.cpio" ] ||
		die "the base guest $base is not built (run guest/linux/build.sh first)"
	[[ $(gcc -print-file-name=libc.a) == /* ]] ||
		die "no static libc (apt-get install libc6-dev)"
	hash=$(input_hash "$base")
	out="$cache_root/guest-tools-$hash"
	if [ ! -e "$out/.done" ]; then
		mkdir -p "$cache_root"
		exec 9>"$cache_root/guest-tools-$hash.lock"
		flock 9
		[ -e "$out/.done" ] || build "$base" "$out"
	fi
	echo "$out"
}

# One line, so that bash has read all of it before running (see build.sh).
main "$@"; exit
