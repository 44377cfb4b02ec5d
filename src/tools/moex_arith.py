#!/usr/bin/python3
"""moex_arith: the arithmetic a set of records' fits could not do without, and the CPU time it
takes at a given rate: a floor under how fast the runs behind those records can be repeated.

    python3 src/tools/moex_arith.py [--rate GFLOPS] FILE.h5...

Per run: 4 x params_active x the per-sample gradients the fit used (`compute_used`, else
`iters` x `fit_batch`): the forward pass and the weight gradient, 2 flops a parameter a sample
each. Left out, so the floor stays below the real count: the input gradients of all but the
first layer, the evaluations (curve rows, the final loss, test and evaluation sets), the gates'
selection and the full-batch optimizers' line searches. Runs without a count (a construction,
no fit; a full-batch run that records neither) are listed as uncounted.

Prints one line per file (TFLOP, the seconds at --rate, default 50: one core's DGEMM rate on the
machine of results/PERFORMANCE.md, and the uncounted runs), then the total. Exit 0; 2 with one
line on bad input (no file, a damaged or unreadable record, a rate that is not a positive number).
Depends on moex_records.py (Debian's python3-h5py, python3-numpy, python3-pandas)."""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def num(v):
    """v as a finite float, or None (absent, NA, NaN, not a number)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def gradients(row):
    """The per-sample gradients a run's fit used, or None."""
    c = num(row.get("compute_used"))
    if c is not None:
        return c if 0 < c < 1e13 else None
    it, b = num(row.get("iters")), num(row.get("fit_batch"))
    return it * b if it is not None and b is not None and 0 < it < 1e9 and 0 < b < 1e7 else None


def file_flops(path):
    """(flops, runs counted, runs uncounted) of one records file."""
    import moex_records as mr

    df = mr.runs(path)
    flops, counted, uncounted = 0.0, 0, 0
    for row in df.to_dict("records"):
        p, g = num(row.get("params_active")), gradients(row)
        if p is None or p <= 0 or g is None:
            uncounted += 1
            continue
        flops += 4.0 * p * g
        counted += 1
    return flops, counted, uncounted


def main(argv):
    rate, paths, i = 50.0, [], 0
    while i < len(argv):
        if argv[i] == "--rate" and i + 1 < len(argv):
            try:
                rate = float(argv[i + 1])
            except ValueError:
                rate = float("nan")
            if not (math.isfinite(rate) and rate > 0):
                print("moex_arith: --rate '%s' must be a positive number of GFLOP/s" % argv[i + 1], file=sys.stderr)
                return 2
            i += 2
        elif argv[i].startswith("-"):
            print("moex_arith: unknown option '%s' (usage: moex_arith.py [--rate GFLOPS] FILE.h5...)" % argv[i],
                  file=sys.stderr)
            return 2
        else:
            paths.append(argv[i])
            i += 1
    if not paths:
        print("moex_arith: no records file (usage: moex_arith.py [--rate GFLOPS] FILE.h5...)", file=sys.stderr)
        return 2
    import moex_records as mr

    total, rows = 0.0, []
    for p in paths:
        try:
            rows.append((p,) + file_flops(p))
        except (OSError, mr.RecordError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print("moex_arith: " + (msg if p in msg else "'%s': %s" % (p, msg)), file=sys.stderr)
            return 2
    for p, f, n, u in rows:
        total += f
        print("%-44s %10.4g TFLOP %8.0f s at %g GFLOP/s  (%d runs, %d uncounted)" % (p, f / 1e12, f / rate / 1e9, rate, n, u))
    print("%-44s %10.4g TFLOP %8.0f s at %g GFLOP/s" % ("total", total / 1e12, total / rate / 1e9, rate))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
