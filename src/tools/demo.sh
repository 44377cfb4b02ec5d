#!/bin/sh
# make demo: the quick version of every experiment binary, then its report (when moex-report
# is built). Prints where the HDF5 files, figures and REPORT.md are.
set -eu
bin=${1:-build/bin}
out=results/quick
mkdir -p "$out"
files=""
for exp in paper_exp1 paper_exp2 manifold_rates piecewise_depth gating variants; do
  [ -x "$bin/$exp" ] || continue
  echo "== $exp --quick"
  "$bin/$exp" --quick --out "$out/$exp.h5"
  files="$files $out/$exp.h5"
done
if [ -x "$bin/moex-report" ] && [ -n "$files" ]; then
  echo "== moex-report"
  # shellcheck disable=SC2086
  "$bin/moex-report" $files --out "$out"
  echo "demo: HDF5 records:$files"
  echo "demo: figures and report: $out/REPORT.md"
else
  echo "demo: HDF5 records:$files"
fi
