#!/usr/bin/env bash
# make deb: build vmon's Debian package from a copy of the tracked sources (dpkg-buildpackage
# writes beside the source tree, so it must not be the checkout itself). The .deb and the
# build log end up in build/deb/; the last line on stdout is the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/build/deb
version=$(dpkg-parsechangelog -S Version)
for t in dpkg-buildpackage dh; do
	command -v $t >/dev/null || { echo "make deb: $t is missing (apt-get install dpkg-dev debhelper)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/vmon-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/vmon-$version
mkdir -p "$src" "$out"
# The tracked files (a fresh clone's), or without git everything but the build trees.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src"
else
	tar -c --exclude='./build*' --exclude=./.git . | tar -x -C "$src"
fi
rm -f "$out"/*.deb
echo "make deb: dpkg-buildpackage in $src (log: $out/build.log)" >&2
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1; then
	tail -n 30 "$out/build.log" >&2
	echo "make deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
fi
cp "$work"/*.deb "$out/"
ls -1 "$out"/*.deb | tail -n 1
