#!/usr/bin/env bash
# scripts/coverage.sh [--markdown] BINARY [EXTRA.so ...]
#
# Lists every imported libc symbol that can block, for BINARY, the libraries it links
# and any extra shared objects (for python3: every extension module in lib-dynload,
# scanned automatically), and whether greenshim covers it. Uses `greenshim doctor`.
set -euo pipefail
cd "$(dirname "$0")/.."
GS=${GREENSHIM_BIN:-target/release/greenshim}
[ -x "$GS" ] || { echo "coverage: $GS missing; run make" >&2; exit 2; }
md=0
if [ "${1:-}" = "--markdown" ]; then md=1; shift; fi
[ $# -ge 1 ] || { echo "usage: scripts/coverage.sh [--markdown] BINARY [EXTRA.so ...]" >&2; exit 2; }
bin=$1; shift
objs=("$@")
real=$(command -v "$bin" || echo "$bin")
# pyenv-style shims are scripts: ask the interpreter for its real path.
case "$(basename "$bin")" in
python*)
	real=$("$bin" -c 'import sys; print(sys.executable)')
	dyn=$("$bin" -c 'import sysconfig; print(sysconfig.get_config_var("DESTSHARED"))')
	for so in "$dyn"/*.so; do objs+=("$so"); done
	;;
esac
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for o in "$real" "${objs[@]}"; do
	"$GS" doctor "$o" 2>/dev/null | awk -v OFS='\t' '
		/^covered by greenshim/ {s="covered"; next}
		/^not covered/ {s="not covered"; next}
		/^[a-z]/ {s=""}
		s != "" && /^  [^ ]/ && $1 != "none" {
			sym=$1; rest=$0
			sub(/^  [^ ]+ +/, "", rest); sub(/ +\[.*$/, "", rest)
			n=split(rest, files, /, */)
			for (i=1; i<=n; i++) if (files[i] != "") print sym, s, files[i]
		}' >> "$tmp" || true
done
# symbol <TAB> status <TAB> where (joined)
table=$(sort -u "$tmp" | awk -F'\t' '$3 != "" {k=$1 FS $2; if (k in w) w[k]=w[k] ", " $3; else w[k]=$3} END {for (k in w) print k FS w[k]}' | sort -t$'\t' -k2,2 -k1,1)
if [ $md = 1 ]; then
	echo "| symbol | greenshim | imported by |"
	echo "|---|---|---|"
	echo "$table" | awk -F'\t' '{printf "| `%s` | %s | %s |\n", $1, $2, $3}'
else
	echo "$table" | awk -F'\t' '{printf "%-24s %-12s %s\n", $1, $2, $3}'
fi
echo
echo "$(echo "$table" | grep -c $'\tcovered\t') covered, $(echo "$table" | grep -c $'\tnot covered\t') not covered"
