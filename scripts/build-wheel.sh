#!/usr/bin/env bash
# Builds the Python wheel (build/wheel/greenshim-VERSION-py3-none-manylinux_*.whl) from
# an existing release build (`cargo build --release`; `make wheel` does both).
#
# maturin (pip-installed once into build/pkg-venv, never globally) packs the launcher
# as the wheel's `greenshim` script; the library goes in as a data file,
# data/lib/libgreenshim.so, which pip installs as PREFIX/lib/libgreenshim.so beside
# PREFIX/bin/greenshim: the launcher's own `../lib` search finds it, in a virtualenv,
# a --user install or a system one. The manylinux tag is the newest glibc symbol
# version either file needs.
set -euo pipefail
cd "$(dirname "$0")/.."

lib=target/release/libgreenshim.so
bin=target/release/greenshim
for f in "$lib" "$bin"; do
	[ -f "$f" ] || { echo "build-wheel: $f missing; run cargo build --release (or make wheel)" >&2; exit 1; }
done

venv=build/pkg-venv
if ! "$venv/bin/maturin" --version >/dev/null 2>&1; then
	echo "build-wheel: installing maturin into $venv" >&2
	rm -rf "$venv"
	# Exit status 75 (EX_TEMPFAIL): the tools, not the package, are missing.
	python3 -m venv "$venv" || { echo "build-wheel: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 75; }
	"$venv/bin/pip" install --quiet --retries 2 --timeout 30 'maturin>=1.5,<2' || { rm -rf "$venv"; echo "build-wheel: cannot install maturin from PyPI" >&2; exit 75; }
fi

# The newest GLIBC_x.y symbol version the two files import.
glibc=$(objdump -T "$lib" "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
tag="manylinux_${glibc//./_}"

rm -rf build/wheel-data build/wheel
mkdir -p build/wheel-data/data/lib build/wheel-data/data/share/greenshim build/wheel
cp "$lib" build/wheel-data/data/lib/libgreenshim.so
# The gdb extension, where `greenshim dump` looks: PREFIX/share/greenshim.
cp scripts/greenshim-gdb.py build/wheel-data/data/share/greenshim/greenshim-gdb.py

# A target directory of its own: maturin's cargo build of the launcher differs from
# `cargo build --release` (its own flags), and in target/ it would re-link
# target/release/greenshim while tests running beside it use that file.
"$venv/bin/maturin" build --quiet --release --target-dir build/wheel-target --compatibility "$tag" --out build/wheel >&2
ls build/wheel/*.whl
