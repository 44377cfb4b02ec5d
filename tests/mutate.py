#!/usr/bin/python3
"""Mutation score of the test suite, measured the way SQLite's authors measure theirs.

A scratch clone of the repository's committed HEAD is built once; then each mutation of the
table below is applied alone (one small change to one source file: an operator flipped, a
constant changed, a branch removed, a sign in a gradient, a tolerance widened), the tree rebuilt
incrementally and the test suites that cover the file run. A mutant is *killed* when a suite
fails or the time runs out; it *survives* when every suite passes; one that does not compile is
a broken mutation, listed and left out of the score. A survivor is
either an equivalent mutant (no test can tell it apart: say why in its `note`) or a gap in the
tests (its `note` says which assertion would kill it). tests/MUTATION.md is this script's
output (--write-md).

    make mutate                         every mutant (about 15 min on 2 busy cores)
    tests/mutate.py --list              the table, each snippet checked against HEAD
    tests/mutate.py --only M01,M17      some of them
    tests/mutate.py --write-md          every mutant, then tests/MUTATION.md

Exit status: 0 when at least 90% of the mutants are killed, 1 otherwise, 2 on bad usage (an
unknown option or mutant id, a snippet that does not occur exactly once, an unknown suite, a
scratch build or a baseline suite that fails before any mutation).
Standard library only (Debian's /usr/bin/python3).
"""

import argparse
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

THRESHOLD = 0.90  # the score `make mutate` requires


class Mutant:
    """One mutation: `orig` must occur exactly once in `path` (of HEAD); `suites` are run in
    order until one fails ("suite" or "suite:case", the case a Check test case of it)."""

    def __init__(self, mid, path, desc, orig, repl, suites, note=""):
        self.id, self.path, self.desc, self.orig, self.repl = mid, path, desc, orig, repl
        self.suites = suites
        self.note = note  # what a survival of this mutant means: "equivalent: ..." or "gap: ..."


# The table. Suites: the cheapest that cover the file first (tests/test_*.c: `Suite *NAME_suite`
# with `suite_create("name")`); a long suite is named by its test case where one case covers it.
MUTANTS = [
    # ---- src/model: routing, the experts' nets, the gradients -------------------------------
    Mutant("M01", "src/model/gate.c", "top-K selection (K >= 2 or a selection bias) keeps the lowest score, not the highest",
           ": sc[e] > sc[best])", ": sc[e] < sc[best])", ["model", "train"]),
    Mutant("M02", "src/model/gate.c", "top-K ties (K >= 2 or a selection bias) go to the highest index, not the lowest (> to >=)",
           ": sc[e] > sc[best])", ": sc[e] >= sc[best])", ["model", "router", "theorems:verifiers-b"]),
    Mutant("M03", "src/model/gate.c", "switch surrogate: sign of the softmax term of dS flipped",
           "ds[e] = -ps[e] * dot;", "ds[e] = ps[e] * dot;", ["model", "router"]),
    Mutant("M04", "src/model/gate.c", "paper surrogate: sign of the renormalisation term of dS flipped",
           "ws[k] * dws[k] - (sur == GATE_PAPER", "ws[k] * dws[k] + (sur == GATE_PAPER", ["model", "router"]),
    Mutant("M05", "src/model/moe.c", "backward: expert output gradient loses its gate weight w_sk",
           "L->dyg[r * dout + j] = wk * d[j];", "L->dyg[r * dout + j] = ((void)wk, d[j]);", ["model", "train"]),
    Mutant("M06", "src/model/moe.c", "load-balancing loss: sign of its gradient flipped",
           "cb * q[j] * (L->f[j] - fq)", "cb * q[j] * (fq - L->f[j])", ["router"]),
    Mutant("M07", "src/model/moe.c", "aux-free balancing: the bias rises for the overloaded expert",
           "double d = mean - L->load_acc[e];", "double d = L->load_acc[e] - mean;", ["router"]),
    Mutant("M08", "src/model/moe.c", "paths: the mixed radix dropped (path = sum of the layers' choices)",
           "p += L->idx[s * L->spec.top_k] * radix;", "p += L->idx[s * L->spec.top_k];",
           ["model", "metrics", "theorems:verifiers-b"]),
    Mutant("M09", "src/model/moe.c", "MSE gradient scale 2/N changed to 1/N",
           "scale = 2.0 / total;", "scale = 1.0 / total;", ["model", "train"]),
    Mutant("M10", "src/model/mlp.c", "forward: ReLU also on the output layer",
           "kern_mm(n, dout, din, in, W, 1, b, 0, j < net->n_layers, h);",
           "kern_mm(n, dout, din, in, W, 1, b, 0, j <= net->n_layers, h);", ["model"]),
    Mutant("M11", "src/model/mlp.c", "backward: the ReLU mask of the hidden layers removed",
           "kern_mm_mask(n, din, dout, dz, W, 0, in, dprev);",
           "kern_mm_mask(n, din, dout, dz, W, 0, NULL, dprev);", ["model"]),
    # ---- src/fit: the optimizers ---------------------------------------------------------------
    Mutant("M12", "src/fit/fit_adam.c", "Adam: bias correction of the second moment dropped",
           "1.0 / (1.0 - b2t), at_row", "1.0, at_row", ["fit", "fit_moe"]),
    Mutant("M13", "src/fit/fit_adam.c", "Adam: warm-up ends one step early (t <= warmup to t < warmup)",
           "if (t <= s->warmup) return", "if (t < s->warmup) return", ["fit", "router"]),
    Mutant("M14", "src/fit/fit_adam.c", "Adam: cosine schedule off by one step (t - 1 to t)",
           "cos(M_PI * (double)(t - 1) / (double)T)", "cos(M_PI * (double)t / (double)T)", ["fit", "router"]),
    Mutant("M15", "src/fit/fit_alternate.c", "alternating fit: each sample assigned its worst path (exhaustive search)",
           "        if (err[s] < best[s]) {\n          best[s] = err[s];\n          for (size_t l",
           "        if (err[s] > best[s] || best[s] == INFINITY) {\n          best[s] = err[s];\n          for (size_t l",
           ["fit_protocols"]),
    Mutant("M16", "src/fit/fit_ctx.c", "stop rules: the divergence stop removed",
           "if (s->diverge > 0 && f > s->diverge", "if (0 && s->diverge > 0 && f > s->diverge", ["fit", "fit_moe"]),
    # ---- src/analysis: rates, verdicts, bounds, errors -------------------------------------------
    Mutant("M17", "src/analysis/slope.c", "slope interval: 90% instead of 95% (t quantile 0.95)",
           "gsl_cdf_tdist_Pinv(0.975,", "gsl_cdf_tdist_Pinv(0.95,", ["slope", "verdict"]),
    Mutant("M18", "src/analysis/slope.c", "slope interval: n - 1 degrees of freedom instead of n - 2",
           "(double)(n - 2));", "(double)(n - 1));", ["slope", "verdict"]),
    Mutant("M19", "src/analysis/verdict.c", "upper bound holds when the interval's low end is below it",
           "if (f->ci_hi <= thr) return SLOPE_HOLDS;", "if (f->ci_lo <= thr) return SLOPE_HOLDS;",
           ["verdict", "slope"]),
    Mutant("M20", "src/analysis/verdict.c", "rate rule: the tolerance counted twice (bound + 2 tol)",
           "*v = upper(in->fit, in->bound + in->tol);\n  return MOEX_OK;\n}\n\nstatic int judge_growth",
           "*v = upper(in->fit, in->bound + 2 * in->tol);\n  return MOEX_OK;\n}\n\nstatic int judge_growth",
           ["verdict", "slope"]),
    Mutant("M21", "src/analysis/verdict.c", "lower rule: can no longer fail",
           "else if (above) *v = SLOPE_FAILS;", "else if (0) *v = SLOPE_FAILS;", ["verdict", "report"]),
    Mutant("M22", "src/analysis/verdict.c", "learned rule: error equal to 0.5 x the null error counts as learned",
           "return isfinite(err) && err < share * null_err;", "return isfinite(err) && err <= share * null_err;",
           ["verdict", "report", "scorecard:rows"]),
    Mutant("M23", "src/analysis/bounds.c", "rate exponents capped at 1 instead of 1/2",
           "return q < 0.5 ? q : 0.5;", "return q < 1.0 ? q : 1.0;", ["bounds"]),
    Mutant("M24", "src/analysis/bounds.c", "routing threshold 1/E instead of the proof's 1/(2E)",
           "*thr = 1.0 / (2.0 * (double)E);", "*thr = 1.0 / (double)E;", ["bounds", "theorems:faults"]),
    Mutant("M25", "src/analysis/metrics.c", "sup error of a run with a NaN output reported finite",
           "out->sup = nan_seen ? NAN : sup;  /*", "out->sup = sup;  /*", ["metrics"]),
    Mutant("M26", "src/analysis/metrics.c", "null sup error: the full range, not half of it",
           "if ((hi - lo) / 2 > sup) sup = (hi - lo) / 2;", "if (hi - lo > sup) sup = hi - lo;",
           ["metrics", "report", "scorecard:rows"]),
    # ---- src/record: integrity ------------------------------------------------------------------
    Mutant("M27", "src/record/record_checksum.c", "FNV-1a prime changed (another odd multiplier)",
           "h *= 0x100000001b3ULL;", "h *= 0x100000001b5ULL;", ["record", "fuzz", "records_py"]),
    Mutant("M28", "src/record/record_checksum.c", "dataset checksum covers only its first dims[0] values",
           "h_values(&s, a->data, a->dims[0] * a->dims[1]);", "h_values(&s, a->data, a->dims[0]);",
           ["record", "fuzz"]),
    Mutant("M29", "src/record/record_read.c", "a dataset that does not match its checksum is returned anyway",
           "if (!rc && *has_sum && got != *sum)", "if (!rc && *has_sum && got != *sum && 0)", ["record", "fuzz"]),
    Mutant("M30", "src/record/record_checksum.c", "root checksum leaves out the grid (5 of its 6 strings)",
           "for (int k = 0; k < 6; k++) h_str(&s, vals[k]);", "for (int k = 0; k < 5; k++) h_str(&s, vals[k]);",
           ["record", "fuzz", "records_py"]),
    # ---- src/report: judging and the scorecard ----------------------------------------------------
    Mutant("M31", "src/report/report_judge.c", "a series whose runs failed their checks is not turned into fails",
           "    s->verdict = SLOPE_FAILS;\n    if (isfinite(s->construct_slope)) s->construct_verdict = SLOPE_FAILS;",
           "    if (isfinite(s->construct_slope)) s->construct_verdict = SLOPE_FAILS;",
           ["report", "scorecard:rows", "theorems:faults-b"]),
    Mutant("M32", "src/report/report_judge.c", "learned judged at the worst size, not the best",
           "if (best == SIZE_MAX || s->mean[i] < s->mean[best]) best = i;",
           "if (best == SIZE_MAX || s->mean[i] > s->mean[best]) best = i;", ["report", "scorecard:rows"]),
    Mutant("M33", "src/report/report_load.c", "the seeds' min and max swapped",
           "gsl_stats_minmax(&s->min[k], &s->max[k], y, 1, n);", "gsl_stats_minmax(&s->max[k], &s->min[k], y, 1, n);",
           ["report", "scorecard:rows"]),
    Mutant("M34", "src/report/scorecard.c", "a cell shows its best series, not its worst",
           "rank(j.v) > rank(jw.v)", "rank(j.v) < rank(jw.v)", ["scorecard:rows", "scorecard:end-to-end"]),
    # ---- the verifiers: constructions and their checks --------------------------------------------
    Mutant("M35", "experiments/lib/thm53_net.c", "Thm 5.3: E + 1 routing knots instead of E^2 + 1 (tau too coarse)",
           "size_t w = E * E + 1;", "size_t w = E + 1;", ["theorems:verifiers"]),
    Mutant("M36", "experiments/lib/thm53_net.c", "Thm 5.3: the RHS sampling gap widened to 1",
           "N->gap = hf * hf * 2 * c2 / 8;", "N->gap = 1.0;", ["theorems:faults"]),
    Mutant("M37", "experiments/thm_5_3.c", "Thm 5.3: tau hypothesis checked against 2 x 1/(2E)",
           '"tau_hypothesis", mm->dev_max < mm->thr);', '"tau_hypothesis", mm->dev_max < 2 * mm->thr);', ["theorems:faults"]),
    Mutant("M38", "experiments/lib/theorem.c", "every verifier check passes (theorem_check ignores its result)",
           "if (!pass) {", "if (0 && !pass) {", ["theorems:faults-b"]),
    Mutant("M39", "experiments/lib/theorem.c", "a verifier exits 0 when a verdict fails but every check holds",
           "bad |= verdicts[i] == SLOPE_FAILS;", "bad |= verdicts[i] == SLOPE_FAILS && 0;",
           ["theorems:faults-b", "theorems:faults", "theorems:verifiers-b"]),
    Mutant("M40", "experiments/lib/theorem_shallow.c", "Thm 4.8 / Cor 4.9: the route check always passes",
           'theorem_check(ck, "route", mm->rt_bad == 0);', 'theorem_check(ck, "route", mm->rt_bad == 0 || 1);',
           ["theorems:faults-b", "theorems:faults"]),
    Mutant("M41", "experiments/thm_3_1.c", "Thm 3.1: the placement tolerance widened from 1e-9 to 1e9",
           "place_dev <= 1e-9 * (1 + ysc)", "place_dev <= 1e9 * (1 + ysc)", ["theorems:faults-b"]),
    Mutant("M42", "experiments/lib/thm52_net.c", "Thm 5.2: the RHS sampling gap 4 times wider",
           "b->gap = fmax(b->gap, step * (lip_l + b->c1[q] * lip_c));",
           "b->gap = fmax(b->gap, 4 * step * (lip_l + b->c1[q] * lip_c));", ["theorems:faults-b"]),
    Mutant("M43", "experiments/lib/thm52_net.c", "Thm 5.2: the RHS without its chart term ||g||_C1 * E(psi)",
           "bounds_rhs(b->err_local, b->err_chart, b->c1, L * E, &c->rhs)",
           "bounds_rhs(b->err_local, NULL, b->c1, L * E, &c->rhs)", ["theorems:verifiers-b"]),
    # ---- added with the first full score: more rules, counts, the runner and the records ---------
    Mutant("M44", "src/analysis/verdict.c", "flat rule: holds when either end of the interval is in the band",
           "f->ci_lo >= -in->tol && f->ci_hi <= in->tol", "f->ci_lo >= -in->tol || f->ci_hi <= in->tol",
           ["verdict", "report"]),
    Mutant("M45", "src/analysis/metrics.c", "paths used counted from 0 on the sorting branch (one too few)",
           "    used = 1;\n    for (size_t s = 1; s < N; s++) used += tmp[s] != tmp[s - 1];",
           "    used = 0;\n    for (size_t s = 1; s < N; s++) used += tmp[s] != tmp[s - 1];", ["metrics", "model"]),
    Mutant("M46", "src/sweep/sweep_grid.c", "a run's seed index read from the wrong end of its index (i / seeds)",
           "return g->seeds ? i % g->seeds : 0;", "return g->seeds ? i / g->seeds : 0;", ["sweep"]),
    Mutant("M47", "src/fit/fit_ctx.c", "stall stop one iteration late (>= window to > window)",
           "if (c->stall_count >= c->stall_window) {", "if (c->stall_count > c->stall_window) {", ["fit"]),
    Mutant("M48", "src/record/record_commit.c", "a commit's working copy renamed into place without its fsync",
           "  if (!rc) rc = rh5_fsync_path(w->tmp);\n  /* the second copy",
           "  if (0) rc = rh5_fsync_path(w->tmp);\n  /* the second copy", ["record", "sweep"],
           note="equivalent for any test short of a power cut: fsync orders the data on the disk before the "
                "rename, which only a crash of the machine (not of the process) can observe; the commit protocol's "
                "kill -9 tests pass either way, since the page cache survives a killed process. Kept in the table "
                "as the known limit of what a test in a process can show."),
    # ---- added with gate.c's top-1 path (argmax_first), which top-1 without a bias now takes ----
    Mutant("M49", "src/model/gate.c", "top-1 selection keeps the lowest score, not the highest",
           "if (sc[e] > sc[best]) best = e;", "if (sc[e] < sc[best]) best = e;", ["model", "train"]),
    Mutant("M50", "src/model/gate.c", "top-1 ties go to the highest index, not the lowest (> to >=)",
           "if (sc[e] > sc[best]) best = e;", "if (sc[e] >= sc[best]) best = e;", ["model", "router", "theorems:verifiers-b"]),
    # ---- added with the blocked path of wide one-hidden-layer nets (mlp_wide.c, kern_wide.c) ----
    Mutant("M51", "src/core/kern_wide.c", "blocked forward: a block's ReLU left out on its last unit",
           "    relu(m, h);", "    relu(m - 1, h);", ["mlp_wide"]),
    Mutant("M52", "src/model/mlp_wide.c", "blocked backward: every block's hidden bias gradient added at the first block's units",
           "kern_mtm(n, m, din, dz, x, dW1 + o * din, db1 + o);", "kern_mtm(n, m, din, dz, x, dW1 + o * din, db1);",
           ["mlp_wide"]),
    Mutant("M53", "src/model/mlp_wide.c", "the blocked path from above 2^18 activations, not from 2^18 (>= to >)",
           "(double)n * (double)net->dims[1] >= (double)MLP_WIDE_MIN_ACTS", "(double)n * (double)net->dims[1] > (double)MLP_WIDE_MIN_ACTS",
           ["mlp_wide"]),
]


def die(msg, code=2):
    print("mutate: " + msg, file=sys.stderr)
    sys.exit(code)


def git(repo, *args):
    return subprocess.run(["git", "-C", repo] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True).stdout


def head_text(repo, rev, path):
    try:
        return git(repo, "show", "%s:%s" % (rev, path))
    except subprocess.CalledProcessError:
        return None


def check_snippets(repo, rev, mutants):
    """Each snippet occurs exactly once in its file at rev, and the replacement differs."""
    bad = []
    for m in mutants:
        text = head_text(repo, rev, m.path)
        if text is None:
            bad.append("%s: %s is not in %s" % (m.id, m.path, rev[:10]))
            continue
        n = text.count(m.orig)
        if n != 1:
            bad.append("%s: the snippet occurs %d times in %s (must be once): %r" % (m.id, n, m.path, m.orig))
        if m.orig == m.repl:
            bad.append("%s: the replacement is the snippet itself" % m.id)
    return bad


def known_suites(repo, rev):
    """suite name -> its test case names, from tests/test_*.c at rev."""
    suites = {}
    for f in git(repo, "ls-tree", "--name-only", rev, "tests/").split():
        if not re.match(r"tests/test_\w+\.c$", f):
            continue
        text = head_text(repo, rev, f) or ""
        # Check's own calls, and tests/testutil.h's testutil_suite("name", TESTUTIL_CASE("case", ...))
        names = re.findall(r'suite_create\("(\w+)"\)', text) + re.findall(r'testutil_suite\(\s*"(\w+)"', text)
        cases = re.findall(r'tcase_create\("([\w-]+)"\)', text) + re.findall(r'TESTUTIL_CASE(?:_LOOPS|_FIXTURE)?\(\s*"([\w-]+)"', text)
        for s in names:
            suites.setdefault(s, set()).update(cases)
    return suites


def clean_env():
    """The environment of the scratch builds and tests: no make state of a calling make (its -j,
    its jobserver, its command-line variables such as B=) and no test selection of the caller."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR",
              "CK_RUN_SUITE", "CK_RUN_CASE", "CK_FORK", "CK_VERBOSITY", "MOEX_TEST_SELFFAIL", "MOEX_TEST_TIMES",
              "CFLAGS", "CPPFLAGS", "LDFLAGS", "OPT", "B", "BLAS", "MPI"):
        env.pop(k, None)
    return env


def run(cmd, cwd, env, timeout, log):
    """Runs cmd in its own process group, output appended to log; (status, seconds). A timeout
    kills the whole group (the test runner's workers and the binaries they start) and is status
    None."""
    t0 = time.monotonic()
    with open(log, "a") as out:
        out.write("$ %s\n" % " ".join(cmd))
        out.flush()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            rc = None
    return rc, time.monotonic() - t0


def suite_cmd_env(env, spec, jobs):
    e = dict(env)
    suite, _, case = spec.partition(":")
    e["CK_RUN_SUITE"] = suite
    if case:
        e["CK_RUN_CASE"] = case
    e["MOEX_BIN"] = "build/bin"
    e["MOEX_TEST_JOBS"] = str(jobs)
    # as `make unit`: the scratch build has no MPI build, so the sweep suite's MPI tests are skips
    e["MOEX_ALLOW_SKIP"] = ",".join(x for x in (env.get("MOEX_ALLOW_SKIP", ""), "mpi") if x)
    return e


def run_mutant(m, work, env, args, log):
    """Applies m, rebuilds, runs its suites until one fails, restores the file. Returns
    (killed, by, seconds)."""
    path = os.path.join(work, m.path)
    with open(path) as f:
        orig = f.read()
    t0 = time.monotonic()
    killed, by = False, ""
    try:
        with open(path, "w") as f:
            f.write(orig.replace(m.orig, m.repl, 1))
        with open(log, "a") as out:
            out.write("\n==== %s %s: %s\n" % (m.id, m.path, m.desc))
        left = args.timeout
        rc, dt = run(["make", "--no-print-directory", "-j%d" % args.make_jobs, "all", "build/moex_tests"],
                     work, env, left, log)
        left -= dt
        if rc is None:
            killed, by = True, "timeout (build)"
        elif rc != 0:
            killed, by = True, "build"
        else:
            for spec in m.suites:
                if left <= 0:
                    killed, by = True, "timeout (%s)" % spec
                    break
                rc, dt = run(["build/moex_tests"], work, suite_cmd_env(env, spec, args.jobs), left, log)
                left -= dt
                if rc is None:
                    killed, by = True, "timeout (%s)" % spec
                    break
                if rc != 0:
                    killed, by = True, spec
                    break
    finally:
        # restored with a new mtime: the next build remakes its object from the original
        with open(path, "w") as f:
            f.write(orig)
    return killed, by, time.monotonic() - t0


def score_of(results):
    """(killed, counted): a mutant that does not compile is a broken mutation, not a kill by the
    tests, so it is left out of both."""
    valid = [r for r in results if r[2] != "build"]
    return sum(1 for r in valid if r[1]), len(valid)


def write_md(path, results, rev, seconds, args):
    k, n = score_of(results)
    lines = [
        "# Mutation score of the tests",
        "",
        "Written by `tests/mutate.py --write-md` (`make mutate MUTATE_ARGS=--write-md`); do not edit by hand: "
        "a survivor's reading is the `note` of its entry in the script's table.",
        "",
        "How it is measured (after SQLite's authors): a scratch clone of the committed HEAD is built once; each "
        "mutation of the table in `tests/mutate.py` (one small change to one source file: an operator flipped, a "
        "constant changed, a branch removed, a sign in a gradient, a tolerance widened) is applied alone, the tree "
        "rebuilt incrementally and the suites that cover the file run (`CK_RUN_SUITE=<suite> [CK_RUN_CASE=<case>] "
        "MOEX_BIN=build/bin build/moex_tests`), in order, until one fails. Killed: a suite failed or the %d s "
        "per mutant ran out (a mutant that does not compile is a broken mutation, listed but not "
        "counted). Survived: every suite passed. The suites first pass unmutated (the baseline), so a kill is "
        "the mutation's." % args.timeout,
        "",
        "Commit `%s`, %s, %d test workers, %.0f s in all." % (
            rev[:12], datetime.date.today().isoformat(), args.jobs, seconds),
        "",
        "**mutation score: %d of %d killed (%.0f%%)** (`make mutate` requires %.0f%%)" % (
            k, n, 100.0 * k / n if n else 0, 100 * THRESHOLD),
        "",
        "| id | file | mutation | result | killed by | s |",
        "|----|------|----------|--------|-----------|---|",
    ]
    for m, killed, by, dt in results:
        lines.append("| %s | `%s` | %s | %s | %s | %.0f |" % (
            m.id, m.path, m.desc.replace("|", "\\|"),
            "not compiled" if by == "build" else "killed" if killed else "**survived**",
            by.replace("|", "\\|") if killed else "—", dt))
    surv = [(m, by) for m, killed, by, _ in results if not killed]
    lines += ["", "## Survivors", ""]
    if not surv:
        lines.append("None.")
    for m, _ in surv:
        lines += ["### %s: %s (`%s`)" % (m.id, m.desc, m.path), "",
                  "Mutation: `%s` → `%s`; suites run: %s." % (
                      m.orig.replace("\n", " ").replace("`", "'"), m.repl.replace("\n", " ").replace("`", "'"),
                      ", ".join(m.suites)),
                  "", m.note or "UNREAD: this survivor has no reading yet (equivalent, or a gap: which test would "
                  "kill it).", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


def main():
    ap = argparse.ArgumentParser(prog="mutate.py", description="The tests' mutation score (see the module docstring).")
    ap.add_argument("--only", metavar="ID[,ID]", help="only these mutants")
    ap.add_argument("--list", action="store_true", help="print the table (snippets checked against HEAD) and exit")
    ap.add_argument("--jobs", type=int, default=2, metavar="N", help="test runner workers, MOEX_TEST_JOBS (default 2)")
    ap.add_argument("--make-jobs", type=int, default=2, metavar="N", help="make -jN of the scratch builds (default 2)")
    ap.add_argument("--timeout", type=int, default=600, metavar="S", help="seconds per mutant, build and suites (default 600)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch clone (its path is printed)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the suites")
    ap.add_argument("--write-md", action="store_true", help="write tests/MUTATION.md (every mutant: not with --only)")
    args = ap.parse_args()
    if not 1 <= args.jobs <= 64:
        ap.error("--jobs %d: must be in 1..64" % args.jobs)
    if not 1 <= args.make_jobs <= 64:
        ap.error("--make-jobs %d: must be in 1..64" % args.make_jobs)
    if args.timeout < 1:
        ap.error("--timeout %d: must be >= 1" % args.timeout)
    if args.write_md and args.only:
        ap.error("--write-md writes the whole table: not with --only")

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        repo = git(repo, "rev-parse", "--show-toplevel").strip()
        rev = git(repo, "rev-parse", "HEAD").strip()
    except (subprocess.CalledProcessError, OSError) as e:
        die("not in a git repository with a HEAD: %s" % e)

    ids = [m.id for m in MUTANTS]
    if len(set(ids)) != len(ids):
        die("duplicate ids in the table")
    mutants = MUTANTS
    if args.only:
        want = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in want if s not in ids]
        if unknown or not want:
            die("--only %s: unknown id%s %s (--list shows them)" % (args.only, "s" if len(unknown) > 1 else "",
                                                                    ",".join(unknown) or "(none given)"))
        mutants = [m for m in MUTANTS if m.id in want]

    bad = check_snippets(repo, rev, mutants)
    suites = known_suites(repo, rev)
    for m in mutants:
        if not m.suites:
            bad.append("%s: no suite to run" % m.id)
        for spec in m.suites:
            s, _, c = spec.partition(":")
            if s not in suites:
                bad.append("%s: unknown suite '%s'" % (m.id, s))
            elif c and c not in suites[s]:
                bad.append("%s: suite '%s' has no test case '%s'" % (m.id, s, c))
    if args.list:
        for m in MUTANTS if not args.only else mutants:
            print("%s  %-36s %s  [%s]" % (m.id, m.path, m.desc, ", ".join(m.suites)))
        print("%d mutants; snippets checked against HEAD %s: %s" % (len(mutants), rev[:10], "all ok" if not bad else
                                                                  "%d problem(s)" % len(bad)))
        for b in bad:
            print("  " + b)
        return 2 if bad else 0
    if bad:
        die("refusing to run:\n  " + "\n  ".join(bad))

    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="moex-mutate-")
    log = os.path.join(work, "mutate.log")
    env = clean_env()
    results = []
    try:
        print("mutate: cloning HEAD %s into %s" % (rev[:10], work), flush=True)
        src = os.path.join(work, "src-tree")
        subprocess.run(["git", "clone", "--quiet", "--no-checkout", repo, src], check=True)
        subprocess.run(["git", "-C", src, "checkout", "--quiet", "--detach", rev], check=True)
        work_tree, log = src, os.path.join(work, "mutate.log")
        rc, dt = run(["make", "--no-print-directory", "-j%d" % args.make_jobs, "all", "build/moex_tests"],
                     work_tree, env, 3600, log)
        if rc != 0:
            die("the unmutated scratch build failed (see %s)" % log)
        print("mutate: built in %.0f s" % dt, flush=True)
        if not args.no_baseline:
            specs = []
            for m in mutants:
                for s in m.suites:
                    if s not in specs:
                        specs.append(s)
            for spec in specs:
                rc, dt = run(["build/moex_tests"], work_tree, suite_cmd_env(env, spec, args.jobs), args.timeout, log)
                if rc != 0:
                    args.keep = True
                    die("baseline: suite %s fails unmutated (%s; see %s)" % (
                        spec, "timeout" if rc is None else "exit %d" % rc, log))
                print("mutate: baseline %-22s passes (%.1f s)" % (spec, dt), flush=True)
        for m in mutants:
            killed, by, dt = run_mutant(m, work_tree, env, args, log)
            results.append((m, killed, by, dt))
            print("%s  %-36s %-70s %-8s %-24s %6.1f s" % (m.id, m.path, m.desc, "killed" if killed else "SURVIVED",
                                                         by if killed else "-", dt), flush=True)
    except subprocess.CalledProcessError as e:
        args.keep = True
        die("%s failed (scratch kept: %s)" % (" ".join(e.cmd), work))
    except KeyboardInterrupt:
        args.keep = True
        print("\nmutate: interrupted (scratch kept: %s)" % work, file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print("mutate: scratch kept: %s (log %s)" % (work, log), file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    k, n = score_of(results)
    score = k / n if n else 0.0
    invalid = [m.id for m, _, by, _ in results if by == "build"]
    if invalid:
        print("not compiled (left out of the score: fix the mutation): " + ", ".join(invalid))
    survivors = [m for m, killed, _, _ in results if not killed]
    if survivors:
        print("survivors: " + ", ".join("%s (%s)" % (m.id, m.note.split(":")[0] if m.note else "unread")
                                        for m in survivors))
    print("mutation score: %d of %d killed (%.0f%%)" % (k, n, 100 * score))
    if args.write_md:
        md = os.path.join(repo, "tests", "MUTATION.md")
        write_md(md, results, rev, time.monotonic() - t_start, args)
        print("mutate: wrote %s" % md)
    return 0 if score >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
