# moex-report: figure exp2_err_vs_m. Reads exp2_err_vs_m.tsv; draws exp2_err_vs_m.png and exp2_err_vs_m.svg.
# Points: mean over seeds; error bars: min to max over seeds. Slopes fitted by moex (C), not here.
set datafile separator "\t"
set logscale xy
set format y "%g"
set grid
set key outside below noenhanced
set title "exp2_err_vs_m" noenhanced
set xlabel "m" noenhanced
set ylabel "test_mse (mean over seeds, bars min-max)" noenhanced
set xrange [12.800000000000001:40]
set yrange [9.3999999999999998e-06:0.0064022192694936763]
set xtics (16, 32)
$ref4 << EOD
16	0.0020005468329503612
32	0.0010002734164751806
EOD
$ref5 << EOD
16	0.0028164296432636035
32	0.0014082148216318017
EOD
set terminal pngcairo size 1100,800 noenhanced
set output "exp2_err_vs_m.png"
plot \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "2-3-moe adam" ? $3 : NaN):5:6 with yerrorlines lc 1 lw 2 pt 7 title "2-3-moe adam: slope n/a (2 usable x)", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "2-3-moe adam" ? $8 : NaN) with points lc 1 pt 6 ps 2 title "2-3-moe adam: paper", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "2-3-moe bfgs2" ? $3 : NaN):5:6 with yerrorlines lc 2 lw 2 pt 7 title "2-3-moe bfgs2: slope n/a (2 usable x)", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "1-6-moe adam" ? $3 : NaN):5:6 with yerrorlines lc 3 lw 2 pt 7 title "1-6-moe adam: slope n/a (2 usable x)", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "1-6-moe adam" ? $8 : NaN) with points lc 3 pt 6 ps 2 title "1-6-moe adam: paper", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "1-6-moe bfgs2" ? $3 : NaN):5:6 with yerrorlines lc 4 lw 2 pt 7 title "1-6-moe bfgs2: slope n/a (2 usable x)", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "4-3-moe adam" ? $3 : NaN):5:6 with yerrorlines lc 5 lw 2 pt 7 title "4-3-moe adam: slope n/a (2 usable x)", \
  $ref4 using 1:2 with lines dt 2 lc 5 lw 1.5 title "4-3-moe adam: bound slope -1", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "4-3-moe bfgs2" ? $3 : NaN):5:6 with yerrorlines lc 6 lw 2 pt 7 title "4-3-moe bfgs2: slope n/a (2 usable x)", \
  $ref5 using 1:2 with lines dt 2 lc 6 lw 1.5 title "4-3-moe bfgs2: bound slope -1", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "dense adam" ? $3 : NaN):5:6 with yerrorlines lc 7 lw 2 pt 7 title "dense adam: slope n/a (2 usable x)", \
  "exp2_err_vs_m.tsv" skip 1 using 2:(strcol(1) eq "dense bfgs2" ? $3 : NaN):5:6 with yerrorlines lc 8 lw 2 pt 7 title "dense bfgs2: slope n/a (2 usable x)"
set terminal svg size 1100,800 noenhanced
set output "exp2_err_vs_m.svg"
replot
unset output
