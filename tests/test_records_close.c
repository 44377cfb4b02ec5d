/* tests/records_close.py (do two records tell the same science?) on synthetic records: identical
 * science and seeds moved within the old range pass; one series scaled 3x, a changed verdict and
 * a lost point fail, naming only the series that moved; bad input is one line and exit 2. */
#include "testutil.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "core/moex_error.h"
#include "record/record.h"

static testutil_tmp T;
#define tpath(name) testutil_tmp_path(&T, (name))

#define NX 4
#define NSEED 3
static const double XS[NX] = {16, 32, 64, 128};

typedef struct {
  const char *figure, *series, *claim, *ref;
  double C, slope, bound, tol;
} close_def;

static const close_def DEFS[] = {
    {"close_rate", "moe adam", "rate", NULL, 0.0385, -0.75, -0.5, 0.05},  /* holds */
    {"close_rate", "dense adam", "rate", NULL, 0.0213, -0.2, -0.5, 0.05}, /* fails */
    {"close_depth", "2-3-MoE", "lower", "1-6-MoE", 1.17e-3, -0.9, NAN, 0.0},
    {"close_depth", "1-6-MoE", "none", NULL, 2.91e-3, -0.5, NAN, 0.0},
};
#define NDEF (sizeof DEFS / sizeof *DEFS)

/* How a written record departs from the reference one. */
typedef struct {
  int series;        /* DEFS index scaled by `scale` (-1: none) */
  double scale;
  int resloped;      /* DEFS index whose slope becomes -0.75 (-1: none) */
  int mid;           /* every seed at the midpoint of the reference's seeds (still in their range) */
  int drop_x;        /* index of XS that series 0 lacks (-1: none) */
  int fail_x;        /* index of XS where series 0's runs all failed (status nonfinite; -1: none) */
  int parity;        /* 0 every run, 1 the even ones, 2 the odd ones */
} close_change;

static const close_change SAME = {-1, 1.0, -1, 0, -1, -1, 0};

static record_run *close_run(const close_def *d, size_t k, size_t j, int s, double err, const char *status) {
  char id[17];
  snprintf(id, sizeof id, "%02x%02x%02x%010x", (unsigned)k, (unsigned)j, (unsigned)s, 0x5eedu);
  record_run *r = record_run_alloc(id);
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(record_run_set_str(r, "figure", d->figure), 0);
  ck_assert_int_eq(record_run_set_str(r, "series", d->series), 0);
  ck_assert_int_eq(record_run_set_str(r, "x_name", "m"), 0);
  ck_assert_int_eq(record_run_set_double(r, "x", XS[j]), 0);
  ck_assert_int_eq(record_run_set_int(r, "seed", 17 + s), 0);
  ck_assert_int_eq(record_run_set_double(r, "test_mse", err), 0);
  ck_assert_int_eq(record_run_set_str(r, "y_name", "test_mse"), 0);
  ck_assert_int_eq(record_run_set_str(r, "claim", d->claim), 0);
  ck_assert_int_eq(record_run_set_double(r, "bound_slope", d->bound), 0);
  ck_assert_int_eq(record_run_set_double(r, "claim_tol", d->tol), 0);
  ck_assert_int_eq(record_run_set_str(r, "claim_ref", d->ref ? d->ref : ""), 0);
  ck_assert_int_eq(record_run_set_double(r, "paper_value", NAN), 0);
  ck_assert_int_eq(record_run_set_str(r, "status", status), 0);
  ck_assert_int_eq(record_run_summarize(r, NULL), 0);
  return r;
}

/* The seeds' errors of one point: C x^slope with a 4% log-normal spread from a fixed stream. */
static void close_errors(gsl_rng *g, const close_def *d, double slope, double x, double *e) {
  for (int s = 0; s < NSEED; s++) e[s] = d->C * pow(x, slope) * exp(0.04 * gsl_ran_gaussian(g, 1.0));
}

static void write_record(const char *path, const close_change *c) {
  static const record_meta_in meta = {"close_test", "{\"m\": [16, 128], \"seeds\": 3}", "close --quick"};
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 2385);
  record_run *runs[NDEF * NX * NSEED];
  size_t n = 0, i = 0;
  for (size_t k = 0; k < NDEF; k++)
    for (size_t j = 0; j < NX; j++) {
      double e[NSEED];
      close_errors(g, &DEFS[k], (int)k == c->resloped ? -0.75 : DEFS[k].slope, XS[j], e);
      double lo = fmin(e[0], fmin(e[1], e[2])), hi = fmax(e[0], fmax(e[1], e[2]));
      for (int s = 0; s < NSEED; s++, i++) {
        double v = (c->mid ? 0.5 * (lo + hi) : e[s]) * ((int)k == c->series ? c->scale : 1.0);
        int keep = c->parity == 0 || (int)(i % 2) == c->parity - 1;
        int failed = k == 0 && (int)j == c->fail_x;
        if (keep && !(k == 0 && (int)j == c->drop_x))
          runs[n++] = close_run(&DEFS[k], k, j, s, failed ? NAN : v, failed ? "nonfinite" : "ok");
      }
    }
  gsl_rng_free(g);
  record_writer *w = record_writer_open(path, &meta, RECORD_NEW);
  ck_assert_msg(w != NULL, "%s", moex_errmsg());
  ck_assert_int_eq(record_writer_append(w, runs, n), 0);
  record_writer_close(w);
  for (size_t q = 0; q < n; q++) record_run_free(runs[q]);
}

/* "cd T's folder && records_close.py --bin <this build's binaries>" with absolute paths. */
static void close_cmd(char *cmd, size_t n) {
  char cwd[512];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  const char *b = testutil_bindir();
  snprintf(cmd, n, "cd '%s' && /usr/bin/python3 '%s/tests/records_close.py' --bin '%s%s%s'", T.dir, cwd,
           b[0] == '/' ? "" : cwd, b[0] == '/' ? "" : "/", b);
}

/* records_close.py on `args` (paths in T's folder); its exit status, stdout in T's out.txt. */
static int run_close(const char *args) {
  char cmd[3072], base[2048];
  close_cmd(base, sizeof base);
  snprintf(cmd, sizeof cmd, "%s %s > out.txt 2> err.txt", base, args);
  return testutil_sh(cmd);
}

/* The number of lines of out.txt, and whether every one names `want` (NULL: any). */
static size_t out_lines(const char *want) {
  char *o = testutil_slurp(tpath("out.txt"), NULL);
  ck_assert_ptr_nonnull(o);
  size_t n = 0;
  for (char *line = strtok(o, "\n"); line; line = strtok(NULL, "\n"), n++)
    ck_assert_msg(!want || strstr(line, want), "'%s' not in: %s", want, line);
  free(o);
  return n;
}

static int have_tools(void) {
  testutil_require_bin("moex-report");
  return testutil_require_tool(testutil_sh("/usr/bin/python3 -c 'import pandas, h5py' > /dev/null 2>&1") == 0, "pandas",
                               "records_close.py needs Debian's python3-pandas and python3-h5py (make deps installs them)");
}

/* Each test's scratch folder, with the reference record a.h5 (SAME) in it. */
static void close_setup(void) {
  testutil_tmp_make(&T, "close");
  write_record(tpath("a.h5"), &SAME);
}

static void close_teardown(void) { testutil_tmp_remove(&T); }

START_TEST(test_close_passes) {
  if (!have_tools()) return;
  write_record(tpath("b.h5"), &SAME);
  ck_assert_int_eq(run_close("a.h5 b.h5"), 0);
  ck_assert_uint_eq(out_lines(NULL), 0);
  /* other bits, every median inside the old range: close, though records_same.py tells them apart */
  close_change mid = SAME;
  mid.mid = 1;
  write_record(tpath("mid.h5"), &mid);
  ck_assert_int_eq(run_close("a.h5 mid.h5"), 0);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/records_same.py %s %s > /dev/null", tpath("a.h5"), tpath("mid.h5"));
  ck_assert_int_eq(testutil_sh(cmd), 1);
  /* sets: a study split into two files, pooled per series */
  close_change even = SAME, odd = SAME;
  even.parity = 1;
  odd.parity = 2;
  write_record(tpath("e.h5"), &even);
  write_record(tpath("o.h5"), &odd);
  ck_assert_int_eq(run_close("--old e.h5 --old o.h5 --new e.h5 --new o.h5"), 0);
  /* a point whose runs failed in both: failed alike, not moved; failed in one only: moved */
  close_change failed = SAME;
  failed.fail_x = 1;
  write_record(tpath("f1.h5"), &failed);
  write_record(tpath("f2.h5"), &failed);
  ck_assert_int_eq(run_close("f1.h5 f2.h5"), 0);
  ck_assert_int_eq(run_close("a.h5 f2.h5"), 1);
  ck_assert_uint_eq(out_lines("moe adam: x=32: 3 old seed(s), 0 new"), 1);
}
END_TEST

START_TEST(test_close_moved) {
  if (!have_tools()) return;
  /* one series 3x: one line, naming it alone, every point of it outside the range */
  close_change tripled = SAME;
  tripled.series = 0;
  tripled.scale = 3.0;
  write_record(tpath("x3.h5"), &tripled);
  ck_assert_int_eq(run_close("a.h5 x3.h5"), 1);
  ck_assert_uint_eq(out_lines("close_test / close_rate / moe adam: x=16: median"), 1);
  ck_assert_int_eq(run_close("--slack 0.5 a.h5 x3.h5"), 1);
  ck_assert_int_eq(run_close("--slack 2.5 a.h5 x3.h5"), 0);  /* 3x is within [-1.5 min, 3.5 max] */
  /* a verdict that changes: dense adam's rate now holds */
  close_change resloped = SAME;
  resloped.resloped = 1;
  write_record(tpath("rs.h5"), &resloped);
  ck_assert_int_eq(run_close("a.h5 rs.h5"), 1);
  ck_assert_uint_eq(out_lines("close_rate / dense adam: "), 1);
  ck_assert_uint_eq(out_lines("verdict fails -> holds"), 1);
  /* a point lost */
  close_change dropped = SAME;
  dropped.drop_x = 2;
  write_record(tpath("d.h5"), &dropped);
  ck_assert_int_eq(run_close("d.h5 a.h5"), 1);
  ck_assert_uint_eq(out_lines("moe adam: x=64: 0 old seed(s), 3 new"), 1);
}
END_TEST

START_TEST(test_close_bad_input) {
  if (!have_tools()) return;
  FILE *f = fopen(tpath("text.h5"), "w");
  ck_assert_ptr_nonnull(f);
  fputs("not a record\n", f);
  fclose(f);
  const char *bad[] = {"a.h5 missing.h5", "a.h5 text.h5", "a.h5", "--slack -1 a.h5 a.h5", "--old a.h5 a.h5 a.h5",
                       "--frob a.h5 a.h5"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char cmd[1500], base[1400];
    close_cmd(base, sizeof base);
    snprintf(cmd, sizeof cmd, "%s %s", base, bad[i]);
    testutil_expect_usage_error(cmd, "records_close");
  }
}
END_TEST

Suite *records_close_suite(void) {
  return testutil_suite("records_close", TESTUTIL_CASE_FIXTURE("close", 120, close_setup, close_teardown, test_close_passes,
                                                               test_close_moved, test_close_bad_input));
}
