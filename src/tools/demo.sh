#!/bin/bash
# make demo: the paper's scorecard at quick sizes. Runs the five theorem verifiers (the networks
# of the proofs), Tables 3 and 4 under the paper's protocol (adam) and under the best protocol
# moex has for each (Table 4's: adam+polish with LM for the one-layer MoE's experts, lbfgs for
# the stacks', results/FINDINGS.md), the deep MoE's pieces and the Sec. 4.3 studies,
# MOEX_DEMO_JOBS at a time (default: the core count), then moex-report, which writes
# results/quick/REPORT.md (opening on the scorecard) and SCORECARD.md and prints the scorecard as
# a table.
#
#   bash src/tools/demo.sh [BIN_DIR] [OUT_DIR]     (MOEX_DEMO_SMALL=1: the test suite's reduced grid)
set -euo pipefail
bin=${1:-build/bin}
out=${2:-results/quick}
jobs=${MOEX_DEMO_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in ''|*[!0-9]*|0) echo "demo: MOEX_DEMO_JOBS='$jobs' must be a positive whole number" >&2; exit 2 ;; esac
small=${MOEX_DEMO_SMALL:-0}
mkdir -p "$out/logs"
# a demo writes its records anew: --resume would keep runs of another grid
rm -f "$out"/*.h5 "$out/logs/broken"

# name|command (records to $out/name.h5, output to $out/logs/name.log), longest first so that the
# pool stays full; the sizes are chosen so that each slope has at least 3 sizes and the verdicts
# can be decided (results/FINDINGS.md says what the full sizes show)
# Cor 4.9 on the circle (d = 1): its quick sphere (d = 2, E = 8) takes 40 s and stays undecided
if [ "$small" = 1 ]; then
  p1="--seeds 2 --iters 300 --set model=moe;D=16,64,128;embed=axis"
  p2="--seeds 2 --iters 500 --set model=2-3-moe,1-6-moe;m=16,32,64"
  best="--compute 2x"
  twice="adam"
  pieces="--quick"
  rates="--quick --set model=moe2-3l,moe2-2l,dense-active"
else
  p1="--seeds 3 --set model=moe;D=16,32,64,128;embed=axis,rotated"
  p2="--seeds 3 --set model=2-3-moe,1-6-moe;m=16,32,64,128"
  best="--compute 10x"
  twice="adam,adam+polish"
  # the deep MoE at Table 4's 5000 Adam steps, 2 seeds (at --quick's 300 it learns nothing)
  pieces="--quick --seeds 2 --iters 5000"
  # the paper's 2000 Adam steps (--quick's 300 learn little) on 4 widths and 4 ambient D, 3 seeds
  rates="--quick --seeds 3 --iters 2000 --set point=rate-d1-m4,rate-d1-m8,rate-d1-m16,rate-d1-m32,amb-d1-D4,amb-d1-D16,amb-d1-D64,amb-d1-D256;model=moe2-3l,moe2-2l,dense-active"
fi
specs=(
  "paper_exp2_best|paper_exp2 $p2 --protocol adam+polish:polish=lm-or-lbfgs $best"
  "paper_exp1_best|paper_exp1 $p1 --protocol alt:init=kmeans $best"
  "piecewise_depth|piecewise_depth $pieces --set model=construction,deep-2L --protocol $twice"
  "manifold_rates|manifold_rates $rates --protocol $twice"
  "paper_exp2|paper_exp2 $p2 --protocol adam"
  "thm_4_8|thm_4_8 --quick"
  "autoenc|autoenc --quick"
  "thm_5_2|thm_5_2 --quick"
  "paper_exp1|paper_exp1 $p1 --protocol adam"
  "gating|gating --quick"
  "variants|variants --quick"
  "thm_3_1|thm_3_1 --quick --seeds 3"
  "thm_5_3|thm_5_3 --quick"
  "cor_4_9|cor_4_9 --quick --kind circle --D 16 --E 4"
)

start=$(date +%s)
failed=""
running=0
# one job: its exit status 1 (a check or verdict failed) is a result, not an error of the demo
run_job() {
  local name=$1 cmd=$2 t0 rc=0
  t0=$(date +%s)
  # shellcheck disable=SC2086
  set -f; "$bin"/$cmd --out "$out/$name.h5" > "$out/logs/$name.log" 2>&1 || rc=$?; set +f
  echo "== $name: exit $rc in $(( $(date +%s) - t0 )) s (log: $out/logs/$name.log)"
  # 1 is a failed check or verdict (a result); anything else is a broken run
  [ "$rc" -le 1 ] || echo "$name" >> "$out/logs/broken"
}
for spec in "${specs[@]}"; do
  name=${spec%%|*}
  cmd=${spec#*|}
  exe=${cmd%% *}
  [ -x "$bin/$exe" ] || { echo "demo: $bin/$exe not built" >&2; exit 2; }
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_job "$name" "$cmd" &
  running=$((running + 1))
done
wait || true
for spec in "${specs[@]}"; do
  name=${spec%%|*}
  [ -s "$out/$name.h5" ] || failed="$failed $name"
done
[ -f "$out/logs/broken" ] && failed="$failed $(tr '\n' ' ' < "$out/logs/broken")"
if [ -n "$failed" ]; then
  echo "demo: no records, or a broken run, from:$failed (see $out/logs/)" >&2
  exit 1
fi
echo "demo: runs took $(( $(date +%s) - start )) s; records in $out/"
echo "== moex-report"
rc=0
"$bin/moex-report" "$out"/*.h5 --out "$out" --scorecard || rc=$?
echo "demo: report $out/REPORT.md (scorecard also in $out/SCORECARD.md)"
exit $rc
