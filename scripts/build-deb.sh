#!/usr/bin/env bash
# Builds the Debian package (build/deb/greenshim_VERSION_ARCH.deb) from an existing
# release build (`cargo build --release`; `make deb` does both), with dpkg-deb alone:
#
#   /usr/bin/greenshim                        the launcher
#   /usr/lib/<multiarch>/libgreenshim.so      the library, where the launcher looks
#                                             (../lib/<multiarch> from /usr/bin)
#   /usr/share/doc/greenshim/{copyright,README.md.gz}
#   /usr/share/greenshim/greenshim-gdb.py     the gdb extension (`greenshim dump` uses it),
#   /usr/share/gdb/auto-load/usr/lib/<multiarch>/libgreenshim.so-gdb.py
#                                             and gdb loads it by itself for the library
#
# Version from Cargo.toml, architecture from dpkg, libc6 dependency from the newest
# GLIBC_x.y symbol version the two files import. The binaries keep their symbols and
# line tables (backtraces and debuggers use them).
set -euo pipefail
cd "$(dirname "$0")/.."

lib=target/release/libgreenshim.so
bin=target/release/greenshim
for f in "$lib" "$bin"; do
	[ -f "$f" ] || { echo "build-deb: $f missing; run cargo build --release (or make deb)" >&2; exit 1; }
done

# Cargo.toml's [package] version; a semver pre-release (1.0.0-rc.1) sorts before the
# release in Debian only when spelled with '~'.
version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
version=${version//-/\~}
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
glibc=$(objdump -T "$lib" "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
[ -n "$version" ] && [ -n "$arch" ] && [ -n "$multiarch" ] && [ -n "$glibc" ] || {
	echo "build-deb: cannot tell version ($version), architecture ($arch), multiarch ($multiarch) or glibc ($glibc)" >&2
	exit 1
}

name=greenshim_${version}_${arch}
stage=build/deb/$name
rm -rf build/deb
install -D -m 0755 "$bin" "$stage/usr/bin/greenshim"
install -D -m 0644 "$lib" "$stage/usr/lib/$multiarch/libgreenshim.so"
install -D -m 0644 scripts/greenshim-gdb.py "$stage/usr/share/greenshim/greenshim-gdb.py"
install -d "$stage/usr/share/gdb/auto-load/usr/lib/$multiarch"
ln -s /usr/share/greenshim/greenshim-gdb.py "$stage/usr/share/gdb/auto-load/usr/lib/$multiarch/libgreenshim.so-gdb.py"
doc=$stage/usr/share/doc/greenshim
install -d "$doc"
gzip -9n <README.md >"$doc/README.md.gz"
chmod 0644 "$doc/README.md.gz"
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: greenshim

Files: *
Copyright: the greenshim authors
License: MIT or Apache-2.0
COPYRIGHT
chmod 0644 "$doc/copyright"

install -d "$stage/DEBIAN"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
installed_kb=$(du -sk --apparent-size "$stage/usr" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: greenshim
Version: $version
Architecture: $arch
Maintainer: greenshim developers <dev@greenshim.invalid>
Installed-Size: $installed_kb
Depends: libc6 (>= $glibc)
Suggests: gdb
Section: utils
Priority: optional
Description: run any threaded program on green threads (LD_PRELOAD)
 greenshim turns every pthread of an unmodified, dynamically linked program
 into a green thread on one epoll hub OS thread: blocking libc calls (socket
 and pipe I/O, sleeps, poll/select, mutex and condvar waits, waitpid) park
 the calling green thread instead of blocking the OS thread. Output, errors,
 child processes and signals stay as without it.
 .
 Usage: greenshim -- COMMAND [ARGS...]; greenshim doctor PROGRAM;
 greenshim dump PID (with gdb).
CONTROL
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
# Directories 0755 whatever the umask was.
find "$stage" -type d -exec chmod 0755 {} +

dpkg-deb --root-owner-group -Zgzip --build "$stage" "build/deb/$name.deb" >&2
echo "build/deb/$name.deb"
