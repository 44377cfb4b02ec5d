/* Damaged records (issue 19): seeded corrupted copies of a small record (bytes flipped, the tail
 * cut off, blocks zeroed) through the records reader in process, and through moex-report and
 * moex-merge as child processes. Each case must end one of two ways: refused (the reader returns
 * an error naming the damage; the tools exit 2 with one line), or harmless (everything read, or
 * everything the tool writes, is identical to the clean file's). Never a crash, a hang, a
 * sanitizer report, or an exit 0 with other values. Prints nothing on success; with
 * MOEX_FUZZ_LOG=FILE it appends the outcome counts there. */
#include "testutil.h"

#include <stdint.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "core/moex_error.h"
#include "record/record.h"

#define N_INPROC 240 /* cases through the reader, in process (record_verify forks per case) */
#define TOOL_EVERY 24 /* every 24th case also through moex-report and moex-merge */

static testutil_tmp F; /* the test's folder */

static const char *fpath(const char *name) { return testutil_tmp_path(&F, name); }

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64*: seeded, so every case is reproducible */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

/* A record shaped like an experiment's: figure columns for moex-report, string, int and double
 * attributes, arrays of both types, a curve table. */
static void make_clean(const char *path) {
  record_meta_in meta = {"fuzz_exp", "{\"x\": [1, 2, 4, 8]}", "moex_tests fuzz"};
  record_writer *w = record_writer_open(path, &meta, RECORD_NEW);
  ck_assert_ptr_nonnull(w);
  for (int k = 0; k < 8; k++) {
    char id[32];
    snprintf(id, sizeof id, "run%02d", k);
    record_run *r = record_run_alloc(id);
    int s = k % 2, xi = k / 2;
    double x = (double)(1 << xi), err = 0.1 / x * (1 + 0.05 * s);
    ck_assert_int_eq(record_run_set_str(r, "figure", "fz_err_vs_x"), 0);
    ck_assert_int_eq(record_run_set_str(r, "series", s ? "moe adam" : "dense adam"), 0);
    ck_assert_int_eq(record_run_set_str(r, "x_name", "x"), 0);
    ck_assert_int_eq(record_run_set_double(r, "x", x), 0);
    ck_assert_int_eq(record_run_set_int(r, "seed", k % 3), 0);
    ck_assert_int_eq(record_run_set_double(r, "test_mse", err), 0);
    ck_assert_int_eq(record_run_set_double(r, "sup_err", 3 * err), 0);
    ck_assert_int_eq(record_run_set_double(r, "test_rmse", err / 2), 0);
    ck_assert_int_eq(record_run_set_str(r, "status", "ok"), 0);
    ck_assert_int_eq(record_run_set_str(r, "claim", s ? "rate" : "none"), 0);
    ck_assert_int_eq(record_run_set_double(r, "bound_slope", -1.0), 0);
    ck_assert_int_eq(record_run_set_double(r, "claim_tol", 0.2), 0);
    ck_assert_int_eq(record_run_set_double(r, "paper_value", NAN), 0);
    ck_assert_int_eq(record_run_summarize(r, NULL), 0);
    ck_assert_int_eq(record_run_set_str(r, "stop_message", "converged: gradient norm below gtol after many steps"), 0);
    ck_assert_int_eq(record_run_set_int(r, "iters", 1000 + k), 0);
    double W[32];
    int64_t path[40];
    for (int i = 0; i < 32; i++) W[i] = sin(k + i);
    for (int i = 0; i < 40; i++) path[i] = (i * 7 + k) % 5;
    size_t dw[2] = {8, 4}, dp[1] = {40};
    ck_assert_int_eq(record_run_add_double(r, "params/layer0/router/W", W, 2, dw), 0);
    ck_assert_int_eq(record_run_add_int(r, "eval/path", path, 1, dp), 0);
    const char *cols[] = {"iter", "loss", "grad_norm"};
    record_table *t = record_run_add_table(r, "curve", 3, cols);
    for (int i = 0; i < 24; i++) {
      double row[3] = {i, exp(-0.1 * i) + k, 1.0 / (1 + i)};
      ck_assert_int_eq(record_table_append(t, row), 0);
    }
    ck_assert_int_eq(record_writer_append(w, &r, 1), 0);
    record_run_free(r);
  }
  record_writer_close(w);
  ck_assert_int_eq(record_check(path), 0);
}

typedef struct {
  size_t n;
  record_run **runs;
  record_summary *s;
  record_meta meta;
} snapshot;

static char *dup0(const char *s) { return strdup(s ? s : ""); }

/* Everything a reader can get from the file; NULL-free only when every read succeeded. */
static int snap_take(const char *path, snapshot *sn) {
  memset(sn, 0, sizeof *sn);
  record_file *f = record_open(path);
  if (!f) return 1;
  const record_meta *m = record_file_meta(f);
  sn->meta = (record_meta){dup0(m->moex_version), m->schema_version, dup0(m->created_utc), dup0(m->host),
                           dup0(m->command_line), dup0(m->experiment), dup0(m->grid)};
  sn->n = record_n_runs(f);
  sn->runs = calloc(sn->n + 1, sizeof *sn->runs);
  int rc = 0;
  for (size_t i = 0; i < sn->n && !rc; i++) rc = !(sn->runs[i] = record_read_run(f, record_run_id(f, i), RECORD_READ_ALL));
  if (!rc) rc = !(sn->s = record_read_summary(f));
  record_close(f);
  return rc;
}

static void snap_free(snapshot *sn) {
  for (size_t i = 0; i < sn->n; i++) record_run_free(sn->runs[i]);
  free(sn->runs);
  record_summary_free(sn->s);
  free(sn->meta.moex_version);
  free(sn->meta.created_utc);
  free(sn->meta.host);
  free(sn->meta.command_line);
  free(sn->meta.experiment);
  free(sn->meta.grid);
}

static int summary_same(const record_summary *a, const record_summary *b) {
  if (a->nrows != b->nrows || a->ncols != b->ncols) return 0;
  for (size_t j = 0; j < a->ncols; j++) {
    const record_column *x = &a->cols[j], *y = &b->cols[j];
    if (strcmp(x->name, y->name) || x->type != y->type) return 0;
    for (size_t i = 0; i < a->nrows; i++)
      if (x->type == RECORD_STR ? strcmp(x->v.s[i], y->v.s[i]) != 0 : memcmp(&x->v.i[i], &y->v.i[i], 8) != 0) return 0;
  }
  return 1;
}

static void snap_expect_same(const snapshot *ref, const snapshot *got, const char *what) {
  ck_assert_msg(got->n == ref->n, "%s: %zu runs read, the clean file has %zu", what, got->n, ref->n);
  for (size_t i = 0; i < ref->n; i++)
    ck_assert_msg(record_run_compare(ref->runs[i], got->runs[i]) == 0, "%s: run %zu differs silently: %s", what, i,
                  moex_errmsg());
  ck_assert_msg(summary_same(ref->s, got->s), "%s: the summary differs silently", what);
  const char *const ra[] = {ref->meta.moex_version, ref->meta.created_utc, ref->meta.host, ref->meta.command_line,
                            ref->meta.experiment, ref->meta.grid};
  const char *const ga[] = {got->meta.moex_version, got->meta.created_utc, got->meta.host, got->meta.command_line,
                            got->meta.experiment, got->meta.grid};
  for (int k = 0; k < 6; k++) ck_assert_msg(strcmp(ra[k], ga[k]) == 0, "%s: root attribute %d differs silently", what, k);
}

static void spit(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* One damaged copy: kind 0 flips 1-4 bytes, 1 cuts the file at a random length, 2 zeroes a
 * block of up to 4 KiB. */
static size_t damage(const unsigned char *clean, size_t n, unsigned char *out, int kind) {
  memcpy(out, clean, n);
  if (kind == 1) return (size_t)(rnd() % n);
  if (kind == 0) {
    int k = 1 + (int)(rnd() % 4);
    for (int j = 0; j < k; j++) out[rnd() % n] ^= (unsigned char)(1 + rnd() % 255);
  } else {
    size_t off = (size_t)(rnd() % n), len = 1 + (size_t)(rnd() % 4096);
    if (off + len > n) len = n - off;
    memset(out + off, 0, len);
  }
  return n;
}

/* Exactly one line on stderr, starting with prog. */
static int one_line(const char *errf, const char *prog) {
  FILE *f = fopen(errf, "r");
  char line[1024] = "", extra[256];
  int ok = f && fgets(line, sizeof line, f) && !fgets(extra, sizeof extra, f) && strncmp(line, prog, strlen(prog)) == 0;
  if (f) fclose(f);
  return ok;
}

/* The report's outputs as one text (REPORT.md without its "Generated <time> by <command>" line). */
static char *report_text(const char *dir) {
  const char *names[] = {"REPORT.md", "fz_err_vs_x.tsv", "fz_err_vs_x.gp"};
  size_t cap = 1 << 16, len = 0;
  char *all = calloc(cap, 1);
  for (int k = 0; k < 3; k++) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, names[k]);
    FILE *f = fopen(p, "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
      if (!strncmp(line, "Generated ", 10)) continue;
      size_t l = strlen(line);
      if (len + l + 1 > cap) all = realloc(all, cap *= 2);
      memcpy(all + len, line, l + 1);
      len += l;
    }
    if (f) fclose(f);
  }
  return all;
}

static int run_report(const char *in, const char *out, const char *errf) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "rm -rf %s; MOEX_GNUPLOT=true timeout 120 %s/moex-report %s --out %s > /dev/null 2> %s", out,
           testutil_bindir(), in, out, errf);
  return testutil_sh(cmd);
}

static int run_merge(const char *in, const char *out, const char *errf) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "rm -f %s; timeout 120 %s/moex-merge %s %s > /dev/null 2> %s", out, testutil_bindir(), out, in,
           errf);
  return testutil_sh(cmd);
}

START_TEST(test_fuzz_damaged_records) {
  /* a damaged heap can send HDF5 into an endless loop: the reader stops it after this many CPU
   * seconds (a clean read of this file takes milliseconds, also under ASan) */
  setenv("MOEX_VERIFY_CPU_S", "1", 1);
  testutil_tmp_make(&F, "fuzz");
  char clean[256];
  snprintf(clean, sizeof clean, "%s", fpath("clean.h5"));
  make_clean(clean);
  snapshot ref;
  ck_assert_int_eq(snap_take(clean, &ref), 0);
  size_t n;
  unsigned char *bytes = (unsigned char *)testutil_slurp(clean, &n), *buf = malloc(n);
  ck_assert(bytes && buf && n > 1000);

  /* the tools on the clean file: the outputs every harmless case must reproduce */
  testutil_require_bin("moex-report");
  testutil_require_bin("moex-merge");
  snapshot ref_merged = {0};
  /* under the damaged copies' name: REPORT.md names the file */
  spit(fpath("case.h5"), bytes, n);
  int report_ok = run_report(fpath("case.h5"), fpath("rep-clean"), fpath("err"));
  ck_assert_msg(report_ok == 0 || report_ok == 1, "moex-report on the clean file: exit %d", report_ok);
  char *ref_report = report_text(fpath("rep-clean"));
  ck_assert_int_eq(run_merge(clean, fpath("merged-clean.h5"), fpath("err")), 0);
  ck_assert_int_eq(snap_take(fpath("merged-clean.h5"), &ref_merged), 0);

  rng_state = 0x9E3779B97F4A7C15ULL; /* the seed */
  size_t harmless = 0, refused = 0, contained = 0, looped = 0, tool_cases = 0, tool_ok = 0, tool_refused = 0;
  for (int c = 0; c < N_INPROC; c++) {
    size_t m = damage(bytes, n, buf, c % 3);
    char victim[256]; /* a copy: fpath's buffers rotate */
    snprintf(victim, sizeof victim, "%s", fpath("case.h5"));
    spit(victim, buf, m);
    char what[64];
    snprintf(what, sizeof what, "case %d (kind %d)", c, c % 3);
    moex_error_clear();
    if (record_verify(victim) == 0) {
      snapshot got;
      ck_assert_msg(snap_take(victim, &got) == 0, "%s: verified, then unreadable: %s", what, moex_errmsg());
      snap_expect_same(&ref, &got, what);
      snap_free(&got);
      harmless++;
    } else {
      ck_assert_msg(*moex_errmsg() && !strstr(moex_errmsg(), "checking process failed"), "%s: '%s'", what, moex_errmsg());
      contained += strstr(moex_errmsg(), "crashed the HDF5 library") != NULL;
      looped += strstr(moex_errmsg(), "did not finish") != NULL;
      refused++;
    }
    if (c % TOOL_EVERY) continue;
    tool_cases++;
    /* moex-report: refused in one line, or the very same outputs */
    int st = run_report(victim, fpath("rep"), fpath("err"));
    if (st == 2) {
      ck_assert_msg(one_line(fpath("err"), "moex-report:"), "%s: moex-report exit 2 without one line", what);
      tool_refused++;
    } else {
      ck_assert_msg(st == report_ok, "%s: moex-report exit %d (clean: %d)", what, st, report_ok);
      char *got = report_text(fpath("rep"));
      ck_assert_msg(strcmp(got, ref_report) == 0, "%s: moex-report exited %d with other outputs", what, st);
      free(got);
      tool_ok++;
    }
    /* moex-merge: refused in one line (OUT untouched), or a file identical to the clean merge */
    st = run_merge(victim, fpath("merged.h5"), fpath("err"));
    if (st == 2) {
      ck_assert_msg(one_line(fpath("err"), "moex-merge:"), "%s: moex-merge exit 2 without one line", what);
      ck_assert_int_eq(access(fpath("merged.h5"), F_OK), -1);
      tool_refused++;
    } else {
      ck_assert_msg(st == 0, "%s: moex-merge exit %d", what, st);
      snapshot got;
      ck_assert_msg(snap_take(fpath("merged.h5"), &got) == 0, "%s: moex-merge wrote an unreadable file", what);
      /* the merge's command_line names its own invocation: compare the rest */
      free(got.meta.command_line);
      got.meta.command_line = strdup(ref_merged.meta.command_line);
      free(got.meta.created_utc);
      got.meta.created_utc = strdup(ref_merged.meta.created_utc);
      snap_expect_same(&ref_merged, &got, what);
      snap_free(&got);
      tool_ok++;
    }
  }
  ck_assert_uint_eq(harmless + refused, N_INPROC);
  ck_assert_uint_eq(tool_cases, (N_INPROC + TOOL_EVERY - 1) / TOOL_EVERY); /* the tools saw their share */
  ck_assert_msg(refused > N_INPROC / 3, "only %zu of %d damaged copies were refused: the damage is not reaching the data",
                refused, N_INPROC);
  const char *log = getenv("MOEX_FUZZ_LOG");
  FILE *lf = log ? fopen(log, "a") : NULL;
  if (lf) {
    fprintf(lf, "fuzz: %d cases in process: %zu harmless (identical), %zu refused (of them %zu a contained HDF5 crash, %zu an "
                "HDF5 endless loop stopped); %zu cases through moex-report and moex-merge: %zu identical outputs, %zu refused in "
                "one line\n",
            N_INPROC, harmless, refused, contained, looped, tool_cases, tool_ok, tool_refused);
    fclose(lf);
  }
  free(ref_report);
  snap_free(&ref_merged);
  snap_free(&ref);
  free(bytes);
  free(buf);
  testutil_tmp_remove(&F);
}
END_TEST


/* ---- each check, provoked one by one ---------------------------------------------------- */

static void copy_file(const char *src, const char *dst) {
  size_t n;
  unsigned char *b = (unsigned char *)testutil_slurp(src, &n);
  ck_assert_ptr_nonnull(b);
  spit(dst, b, n);
  free(b);
}

/* Overwrites an attribute or values of an object, as damage that HDF5's own checksums cannot
 * see would (HDF5 rewrites the message with a valid checksum). */
static void poke_attr_str(const char *file, const char *obj, const char *name, const char *v) {
  /* deleted and created again: HDF5 1.10.8 cannot H5Awrite an attribute in dense storage */
  hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert(f >= 0);
  ck_assert_int_ge(H5Adelete_by_name(f, obj, name, H5P_DEFAULT), 0);
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  hid_t a = H5Acreate_by_name(f, obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ck_assert(a >= 0);
  ck_assert_int_ge(H5Awrite(a, t, &v), 0);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  H5Fclose(f);
}

static void drop_attr(const char *file, const char *obj, const char *name) {
  hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert(f >= 0);
  ck_assert_int_ge(H5Adelete_by_name(f, obj, name, H5P_DEFAULT), 0);
  H5Fclose(f);
}

static void poke_data(const char *file, const char *ds, size_t n, const double *v) {
  hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
  ck_assert(f >= 0 && d >= 0);
  hsize_t cnt = n, off = 0;
  hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &cnt, NULL);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off, NULL, &cnt, NULL);
  if (H5Sget_simple_extent_ndims(fs) == 2) {
    hsize_t o2[2] = {0, 0}, c2[2] = {1, n};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, o2, NULL, c2, NULL);
  }
  ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v), 0);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  H5Fclose(f);
}

/* record_verify and moex-report must both refuse, naming `want`. */
static void expect_refused(const char *file, const char *want) {
  ck_assert_int_ne(record_verify(file), 0);
  ck_assert_msg(strstr(moex_errmsg(), want) != NULL, "wanted '%s', got '%s'", want, moex_errmsg());
  testutil_require_bin("moex-report");
  ck_assert_int_eq(run_report(file, fpath("rep"), fpath("err")), 2);
  ck_assert(one_line(fpath("err"), "moex-report:"));
  FILE *f = fopen(fpath("err"), "r");
  char line[1024] = "";
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
  fclose(f);
  ck_assert_msg(strstr(line, want) != NULL, "moex-report said '%s', wanted '%s'", line, want);
}

START_TEST(test_integrity_each_check) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  testutil_tmp_make(&F, "integ");
  char clean[256], v[256]; /* copies: fpath's buffers rotate */
  snprintf(clean, sizeof clean, "%s", fpath("clean.h5"));
  snprintf(v, sizeof v, "%s", fpath("v.h5"));
  make_clean(clean);
  ck_assert_int_eq(record_verify(clean), 0);

  copy_file(clean, v); /* a run attribute (and its summary row stays): the run's checksum */
  poke_attr_str(v, "runs/run03", "stop_message", "diverged");
  expect_refused(v, "run 'run03' is damaged: its content does not match its checksum");

  copy_file(clean, v); /* a summary value: the row against its run */
  double x = 99;
  poke_data(v, "summary/test_mse", 1, &x);
  expect_refused(v, "/summary/test_mse row 0 disagrees with run 'run00'");

  copy_file(clean, v); /* an array's data: the dataset's checksum */
  double w[4] = {1, 2, 3, 4};
  poke_data(v, "runs/run05/params/layer0/router/W", 4, w);
  expect_refused(v, "run 'run05' is damaged: 'params/layer0/router/W' does not match its checksum");

  copy_file(clean, v); /* a table's data */
  poke_data(v, "runs/run02/curve", 3, w);
  expect_refused(v, "run 'run02' is damaged: 'curve' does not match its checksum");

  copy_file(clean, v); /* a dataset's stored checksum itself */
  poke_attr_str(v, "runs/run01/eval/path", "checksum", "fnv1a64:0000000000000000");
  expect_refused(v, "run 'run01' is damaged: its content does not match its checksum"); /* it covers them */

  copy_file(clean, v); /* a checksum that is not one */
  poke_attr_str(v, "runs/run01", "checksum", "fnv1a64:xyz");
  expect_refused(v, "run 'run01' is damaged: unreadable checksum");

  copy_file(clean, v); /* a root attribute */
  poke_attr_str(v, "/", "host", "elsewhere");
  expect_refused(v, "root attributes do not match their checksum");

  copy_file(clean, v); /* a sealed file's run without its checksum */
  drop_attr(v, "runs/run04", "checksum");
  expect_refused(v, "run 'run04' is damaged: no checksum");

  copy_file(clean, v); /* ... and a dataset without */
  drop_attr(v, "runs/run04/curve", "checksum");
  expect_refused(v, "run 'run04' is damaged: 'curve' has no checksum");

  /* a file written before checksums (none at the root, runs or datasets) is read as before */
  copy_file(clean, v);
  hid_t f = H5Fopen(v, H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert_int_ge(H5Adelete(f, "checksum"), 0);
  for (int k = 0; k < 8; k++) {
    const char *ds[] = {"", "/params/layer0/router/W", "/eval/path", "/curve"};
    for (int j = 0; j < 4; j++) {
      char p[128];
      snprintf(p, sizeof p, "runs/run%02d%s", k, ds[j]);
      ck_assert_int_ge(H5Adelete_by_name(f, p, "checksum", H5P_DEFAULT), 0);
    }
  }
  H5Fclose(f);
  ck_assert_msg(record_verify(v) == 0, "%s", moex_errmsg());
  /* there, damage is not seen by moex (only by HDF5's own checksums): the price of old files */
  testutil_tmp_remove(&F);
}
END_TEST

Suite *fuzz_suite(void) {
  return testutil_suite("fuzz", TESTUTIL_CASE("records", 240, test_fuzz_damaged_records, test_integrity_each_check));
}
