# moex-report: figure exp1_err_vs_D. Reads exp1_err_vs_D.tsv; draws exp1_err_vs_D.png and exp1_err_vs_D.svg.
# Points: mean over seeds; error bars: min to max over seeds. Slopes fitted by moex (C), not here.
set datafile separator "\t"
set logscale xy
set format y "%g"
set grid
set key outside below noenhanced
set title "exp1_err_vs_D" noenhanced
set xlabel "D" noenhanced
set ylabel "test_mse (mean over seeds, bars min-max)" noenhanced
set xrange [12.800000000000001:80]
set yrange [0.00021133333333333334:1.9081864943606148]
set xtics (16, 64)
$ref0 << EOD
16	0.10394007125486564
64	0.10394007125486564
EOD
$ref1 << EOD
16	1.164317945556423
64	1.164317945556423
EOD
$ref4 << EOD
16	0.011848399821104198
64	0.011848399821104198
EOD
$ref5 << EOD
16	1.1222150552779715
64	1.1222150552779715
EOD
set terminal pngcairo size 1100,800 noenhanced
set output "exp1_err_vs_D.png"
plot \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "moe adam axis" ? $3 : NaN):5:6 with yerrorlines lc 1 lw 2 pt 7 title "moe adam axis: slope n/a (2 usable x)", \
  $ref0 using 1:2 with lines dt 2 lc 1 lw 1.5 title "moe adam axis: flat slope 0", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "moe adam axis" ? $8 : NaN) with points lc 1 pt 6 ps 2 title "moe adam axis: paper", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "moe bfgs2 axis" ? $3 : NaN):5:6 with yerrorlines lc 2 lw 2 pt 7 title "moe bfgs2 axis: slope n/a (2 usable x)", \
  $ref1 using 1:2 with lines dt 2 lc 2 lw 1.5 title "moe bfgs2 axis: flat slope 0", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "dense adam axis" ? $3 : NaN):5:6 with yerrorlines lc 3 lw 2 pt 7 title "dense adam axis: slope n/a (2 usable x)", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "dense bfgs2 axis" ? $3 : NaN):5:6 with yerrorlines lc 4 lw 2 pt 7 title "dense bfgs2 axis: slope n/a (2 usable x)", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "moe adam rotated" ? $3 : NaN):5:6 with yerrorlines lc 5 lw 2 pt 7 title "moe adam rotated: slope n/a (2 usable x)", \
  $ref4 using 1:2 with lines dt 2 lc 5 lw 1.5 title "moe adam rotated: flat slope 0", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "moe bfgs2 rotated" ? $3 : NaN):5:6 with yerrorlines lc 6 lw 2 pt 7 title "moe bfgs2 rotated: slope n/a (2 usable x)", \
  $ref5 using 1:2 with lines dt 2 lc 6 lw 1.5 title "moe bfgs2 rotated: flat slope 0", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "dense adam rotated" ? $3 : NaN):5:6 with yerrorlines lc 7 lw 2 pt 7 title "dense adam rotated: slope n/a (2 usable x)", \
  "exp1_err_vs_D.tsv" skip 1 using 2:(strcol(1) eq "dense bfgs2 rotated" ? $3 : NaN):5:6 with yerrorlines lc 8 lw 2 pt 7 title "dense bfgs2 rotated: slope n/a (2 usable x)"
set terminal svg size 1100,800 noenhanced
set output "exp1_err_vs_D.svg"
replot
unset output
