#!/usr/bin/python3
"""records_close: do two records (or two sets of records) of the same study tell the same science?

Usage: records_close.py [--bin DIR] [--slack F] OLD.h5 NEW.h5
       records_close.py [--bin DIR] [--slack F] --old A.h5 [--old B.h5]... --new C.h5 [--new D.h5]...
       (exit 0: close; 1: some series moved, one line printed per series; 2: bad input, one line)

Where records_same.py asks for the same bits, this asks whether a deliberate change of numerics
(another kernel, a fused update, another order of summation) moved the science. It reads the runs
with src/tools/moex_records.py (every checksum verified) and groups them as moex-report does
(results/SCHEMA.md, "Report conventions"): a series is (experiment, figure, series), a point of it
one x, its values the plotted error column (`y_name`, default `test_mse`) of the runs with
status "ok" and a finite error, one per seed. Runs from several files of one experiment pool.

The rule, per point of every series of OLD:
  - the spread of OLD is the closed range [min, max] of its seeds' values (the range the report's
    error bars draw), widened by --slack F to [min - F|min|, max + F|max|] (default F = 0);
  - the median of NEW's seeds at that point must lie in that range; a point that one side has and
    the other lacks (or where only one side has an ok seed) has moved too.
With one seed the range is that seed's value: only the same value (within F) passes.
And every verdict the same: moex-report (--bin DIR, default $MOEX_BIN or build/bin) judges OLD's
files and NEW's, each set in one report (gnuplot is not run: MOEX_GNUPLOT=false); the verdict lines
(`- verdict: <word> — <figure> / <series>: ...`, the second one of a rate claim's construction
exponent included) must name the same verdict for each (experiment, figure, series) in both.

Prints one line per series that moved: its points outside the range (x, NEW's median, OLD's range)
and its verdicts that changed (OLD -> NEW)."""
import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tools"))
try:
    import moex_records as mr  # noqa: E402
except ImportError as _e:  # a missing module is not "moved" (exit 1): bad setup, exit 2
    print("records_close: %s (Debian's python3-h5py and python3-pandas; run with /usr/bin/python3)" % _e, file=sys.stderr)
    sys.exit(2)


class BadInput(Exception):
    """A file that cannot be compared: missing, damaged, not a moex record."""


def points(paths):
    """{(experiment, figure, series): {x: [errors of the ok seeds]}} over the files."""
    out = {}
    for p in paths:
        try:
            exp = mr.provenance(p)["experiment"]
            df = mr.runs(p)
        except (mr.RecordError, OSError, KeyError) as e:
            raise BadInput(str(e)) from None
        if "figure" not in df.columns:
            continue
        for _, r in df.iterrows():
            fig = r.get("figure")
            if not isinstance(fig, str) or not fig:
                continue
            y = r.get("y_name") if isinstance(r.get("y_name"), str) and r.get("y_name") else "test_mse"
            ser = out.setdefault((exp, fig, str(r.get("series"))), {})
            vals = ser.setdefault(float(r["x"]), [])
            v = r.get(y)
            if r.get("status") == "ok" and v is not None and isinstance(v, (int, float)) and math.isfinite(v):
                vals.append(float(v))
    return out


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def moved_points(old, new, slack):
    """The points of one series outside OLD's range, as text."""
    bad = []
    for x in sorted(set(old) | set(new)):
        o, n = old.get(x, []), new.get(x, [])
        if not o and not n:  # no ok seed on either side: failed alike (the report lists them)
            continue
        if not o or not n:
            bad.append("x=%g: %d old seed(s), %d new" % (x, len(o), len(n)))
            continue
        lo, hi = min(o), max(o)
        lo, hi, m = lo - slack * abs(lo), hi + slack * abs(hi), median(n)
        if not lo <= m <= hi:
            bad.append("x=%g: median %.6g outside [%.6g, %.6g] (%d seeds)" % (x, m, min(o), max(o), len(o)))
    return bad


VERDICT = re.compile(r"^- verdict: (holds|fails|inconclusive|not learned) — (.*)$")


def verdicts(paths, keys, bindir):
    """{(experiment, figure, series[, "construction"]): [verdicts]} from moex-report's REPORT.md."""
    exe = os.path.join(bindir, "moex-report")
    if not os.access(exe, os.X_OK):
        raise BadInput("%s is missing (build it: make all)" % exe)
    tmp = tempfile.mkdtemp(prefix="moex-close-")
    try:
        out = os.path.join(tmp, "rep")
        env = dict(os.environ, MOEX_GNUPLOT="false")
        p = subprocess.run([exe, *paths, "--out", out], env=env, capture_output=True, text=True)
        if p.returncode not in (0, 1):
            last = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
            raise BadInput("moex-report refused %s: %s" % (" ".join(paths), last))
        with open(os.path.join(out, "REPORT.md"), encoding="utf-8") as f:
            text = f.read().splitlines()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    got, exp = {}, None
    for line in text:
        m = re.match(r"^## Experiment `(.*)`$", line)
        if m:
            exp = m.group(1)
            continue
        m = VERDICT.match(line)
        if not m:
            continue
        for (e, fig, ser) in keys:  # the series the runs name, so that names with ": " parse
            if e == exp and m.group(2).startswith("%s / %s: " % (fig, ser)):
                k = (e, fig, ser, "construction") if "the construction's exponent" in m.group(2) else (e, fig, ser)
                got.setdefault(k, []).append(m.group(1))
                break
    return {k: sorted(v) for k, v in got.items()}


def compare(old_paths, new_paths, bindir, slack):
    """One line per series that moved."""
    old, new = points(old_paths), points(new_paths)
    keys = set(old) | set(new)
    vo, vn = verdicts(old_paths, keys, bindir), verdicts(new_paths, keys, bindir)
    lines = []
    for k in sorted(keys):
        why = moved_points(old.get(k, {}), new.get(k, {}), slack)
        for vk in sorted(v for v in set(vo) | set(vn) if v[:3] == k):
            a, b = vo.get(vk, ["none"]), vn.get(vk, ["none"])
            if a != b:
                what = "construction verdict" if len(vk) == 4 else "verdict"
                why.append("%s %s -> %s" % (what, ",".join(a), ",".join(b)))
        if why:
            lines.append("records_close: moved: %s / %s / %s: %s" % (k[0], k[1], k[2], "; ".join(why)))
    return lines


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # the project's bad-input contract: one line, exit 2
        print("records_close: %s" % message, file=sys.stderr)
        sys.exit(2)


def parse(argv):
    ap = _Parser(prog="records_close.py", description="Do two records tell the same science?")
    ap.add_argument("--bin", default=os.environ.get("MOEX_BIN", "build/bin"), help="folder of moex-report")
    ap.add_argument("--slack", type=float, default=0.0, help="widen the old range by this fraction")
    ap.add_argument("--old", action="append", default=[], help="a file of the old set")
    ap.add_argument("--new", action="append", default=[], help="a file of the new set")
    ap.add_argument("pair", nargs="*", help="OLD.h5 NEW.h5")
    a = ap.parse_args(argv)
    if a.pair:
        if len(a.pair) != 2 or a.old or a.new:
            ap.error("give OLD.h5 NEW.h5, or --old and --new, not both")
        a.old, a.new = [a.pair[0]], [a.pair[1]]
    if not a.old or not a.new:
        ap.error("nothing to compare: give OLD.h5 NEW.h5")
    if not (math.isfinite(a.slack) and a.slack >= 0):
        ap.error("--slack %r: must be finite and >= 0" % a.slack)
    return a


def main(argv):
    a = parse(argv)
    try:
        lines = compare(a.old, a.new, a.bin, a.slack)
    except BadInput as e:
        print("records_close: %s" % e, file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
