#!/bin/sh
# tests/install.sh B: make install into a temporary prefix, then build the worked example
# (experiments/examples/width_sweep.c) outside the tree with `pkg-config --cflags --libs moex`
# alone, run it from another folder, read its record with the installed moex-report, and check
# that DESTDIR stages under its folder and that make uninstall leaves no file behind.
set -eu
B=${1:-build}
repo=$(pwd)
tmp=$(mktemp -d /tmp/moex-install-XXXXXX)
fail() { echo "install test: FAILED: $*" >&2; exit 1; }
make --no-print-directory -s B="$B" install PREFIX="$tmp/usr" > "$tmp/install.log" 2>&1 || fail "make install (see $tmp/install.log)"
for f in bin/moex-report bin/moex-thm_3_1 bin/moex-paper_exp1 lib/libmoex.a lib/libmoexexp.a lib/pkgconfig/moex.pc \
         include/moex/fit/fit.h include/moex/lib/driver.h include/moex/record/record.h; do
  [ -f "$tmp/usr/$f" ] || fail "$f not installed"
done
[ ! -e "$tmp/usr/include/moex/fit/fit_ctx.h" ] || fail "an internal header (fit_ctx.h) was installed"
for py in moex_torch.py moex_records.py moex_arith.py; do [ -n "$(find "$tmp/usr/lib" -name $py)" ] || fail "$py not installed"; done
export PKG_CONFIG_PATH="$tmp/usr/lib/pkgconfig"
flags=$(pkg-config --cflags --libs moex) || fail "pkg-config does not know moex"
case "$flags" in *"$repo"*|*"-Isrc"*) fail "moex.pc points into the source tree: $flags" ;; esac
mkdir "$tmp/run"
cp experiments/examples/width_sweep.c "$tmp/run/"
cd "$tmp/run"
# shellcheck disable=SC2086 # the flags are a word list
cc -std=c11 -D_POSIX_C_SOURCE=200809L width_sweep.c -o width_sweep $flags 2> cc.log || fail "the example does not build (see $tmp/run/cc.log)"
./width_sweep --quick --protocol bfgs2 --out ws.h5 > ws.log 2>&1 || fail "the example failed (see $tmp/run/ws.log)"
grep -q '4 runs done, 0 skipped (already recorded), 0 not ok' ws.log || fail "the example's runs (see $tmp/run/ws.log)"
"$tmp/usr/bin/moex-report" ws.h5 --out rep > rep.log 2>&1 || fail "moex-report on the example's record (see $tmp/run/rep.log)"
grep -q '^### Figure `width_sweep_m`: test_mse against m' rep/REPORT.md || fail "no figure of the example in its report"
[ -s rep/width_sweep_m.tsv ] || fail "no data of the example's figure"
# the fit learned: the widest expert's test MSE far below the best constant's (about 1)
awk -F'\t' 'NR > 1 && $2 == 16 { found = 1; if ($3 + 0 > 0.05) bad = 1 } END { exit !(found && !bad) }' rep/width_sweep_m.tsv ||
  fail "the example at m = 16 did not learn (rep/width_sweep_m.tsv)"
cd "$repo"
make --no-print-directory -s B="$B" uninstall PREFIX="$tmp/usr" > /dev/null
left=$(find "$tmp/usr" -type f | wc -l)
[ "$left" -eq 0 ] || fail "make uninstall left $left files in $tmp/usr"
make --no-print-directory -s B="$B" install PREFIX=/opt/moex DESTDIR="$tmp/stage" > /dev/null
[ -f "$tmp/stage/opt/moex/lib/pkgconfig/moex.pc" ] || fail "DESTDIR not honoured"
grep -qx 'prefix=/opt/moex' "$tmp/stage/opt/moex/lib/pkgconfig/moex.pc" || fail "moex.pc under DESTDIR names the staging folder"
rm -rf "$tmp"
echo "install test: make install, the example built with pkg-config alone and reported, DESTDIR and uninstall: ok"
