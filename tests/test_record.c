/* record: HDF5 round trip, types seen by other tools, crash safety under SIGKILL, bad input. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/blas.h"
#include "core/moex_error.h"
#include "record/record.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static testutil_tmp T; /* each test's scratch folder, made and removed by the fixture */
TESTUTIL_TMP_FIXTURE(T, "record")
#define tpath(name) testutil_tmp_path(&T, (name))

static const record_meta_in META = {"test_exp", "{\"D\": [16, 32], \"seeds\": 3}", "moex_tests --quick 'a b'"};

static int same_bytes(const char *path, const char *b, size_t n) {
  size_t m;
  char *c = testutil_slurp(path, &m);
  int same = c && m == n && memcmp(b, c, n) == 0;
  free(c);
  return same;
}

static int have_cmd(const char *cmd) {
  char buf[256];
  snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
  return system(buf) == 0;
}

/* HDF5's own reader, h5dump, reads the whole file. Without h5dump (hdf5-tools, which `make deps`
 * installs) this fails, unless MOEX_ALLOW_SKIP=h5dump lists the skip (testutil.h). */
static void assert_h5dump(const char *path) {
  if (!testutil_require_tool(have_cmd("h5dump"), "h5dump", "h5dump not in PATH (Debian: hdf5-tools)")) return;
  char cmd[700];
  snprintf(cmd, sizeof cmd, "h5dump '%s' >/dev/null 2>&1", path);
  ck_assert_msg(system(cmd) == 0, "h5dump cannot read %s", path);
}

static uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

static double val(uint64_t i, uint64_t j) {  /* a non-round double in (-3, 3) */
  return ((double)(mix(i * 1000003u + j) >> 11) / 9007199254740992.0 - 0.5) * 6.0;
}

static void run_id_of(int i, char id[17]) { snprintf(id, 17, "%016llx", (unsigned long long)mix((uint64_t)i)); }

/* A run whose every field is a function of i; `big` rows of eval data. NULL if a step fails.
 * No Check assertion inside: the crash tests call it in a forked child that is killed at a
 * random moment, and an assertion there writes into Check's message file, which the killed
 * write would leave torn ("Bad message type" in the runner). */
#define REQ(cond)                                                                                  \
  do {                                                                                             \
    if (!(cond)) goto fail;                                                                        \
  } while (0)
static record_run *build_run(int i, size_t big) {
  char id[17];
  run_id_of(i, id);
  record_run *r = record_run_alloc(id);
  if (!r) return NULL;
  REQ(record_run_set_str(r, "optimizer", i % 2 ? "bfgs2" : "adam") == 0);
  REQ(record_run_set_str(r, "surrogate", "switch") == 0);
  REQ(record_run_set_int(r, "seed", 1000 + 37 * (int64_t)i) == 0);
  REQ(record_run_set_int(r, "big_int", INT64_MAX - i) == 0);
  REQ(record_run_set_double(r, "test_mse", 2.385e-4 * (i + 1)) == 0);
  REQ(record_run_set_double(r, "wall_s", val((uint64_t)i, 1) + 3.0) == 0);
  REQ(record_run_set_double(r, "neg_zero", -0.0) == 0);
  REQ(record_run_set_str(r, "status", "converged") == 0);
  REQ(record_run_summarize(r, NULL) == 0);
  /* not in the summary: UTF-8 text and a non-finite value */
  REQ(record_run_set_str(r, "note", "κ/d = ½, σ(x) − σ(−x) ✓") == 0);
  REQ(record_run_set_double(r, "lr_inf", INFINITY) == 0);
  size_t dw[2] = {4, 16}, db[1] = {10}, dl[1] = {4}, dp[2] = {big, 1}, dx[2] = {big, 3}, d0[1] = {0};
  double w[64], b[10], x[3 * 4096], yp[4096];
  int64_t load[4], path[4096];
  for (size_t k = 0; k < 64; ++k) w[k] = val((uint64_t)i, 10 + k);
  for (size_t k = 0; k < 10; ++k) b[k] = val((uint64_t)i, 100 + k);
  for (size_t k = 0; k < 4; ++k) load[k] = (int64_t)(mix((uint64_t)(i + k)) % 1000) - 17;
  REQ(big <= 4096);
  for (size_t k = 0; k < big; ++k) {
    for (size_t j = 0; j < 3; ++j) x[3 * k + j] = val((uint64_t)i, 1000 + 3 * k + j);
    yp[k] = val((uint64_t)i, 20000 + k);
    path[k] = (int64_t)(mix(k + (uint64_t)i) % 9);
  }
  REQ(record_run_add_double(r, "params/layer0/router/W", w, 2, dw) == 0);
  REQ(record_run_add_double(r, "params/layer0/expert0/b0", b, 1, db) == 0);
  REQ(record_run_add_int(r, "routing/load", load, 1, dl) == 0);
  REQ(record_run_add_double(r, "eval/x", x, 2, dx) == 0);
  REQ(record_run_add_double(r, "eval/y_pred", yp, 2, dp) == 0);
  REQ(record_run_add_int(r, "routing/path", path, 2, dp) == 0);
  REQ(record_run_add_double(r, "metrics/empty", NULL, 1, d0) == 0);
  const char *cols[] = {"iter", "loss", "grad_norm", "step", "evals", "wall_s"};
  record_table *t = record_run_add_table(r, "curve", 6, cols);
  REQ(t != NULL);
  for (int k = 0; k < 37 + i; ++k) {
    double row[6] = {k, val((uint64_t)i, 50000 + k), val((uint64_t)i, 60000 + k), 1e-3 / (k + 1), 2.0 * k,
                     0.0137 * k};
    REQ(record_table_append(t, row) == 0);
  }
  return r;
fail:
  record_run_free(r);
  return NULL;
}
#undef REQ

static record_run *make_run(int i, size_t big) {
  record_run *r = build_run(i, big);
  ck_assert_msg(r != NULL, "building run %d: %s", i, moex_errmsg());
  return r;
}

static void append1(record_writer *w, record_run *r) {
  int rc = record_writer_append(w, &r, 1);
  ck_assert_msg(rc == 0, "append: %s", moex_errmsg());
}

/* The attribute's type, seen through the C API, is a variable-length UTF-8 string. */
static void assert_vlen_utf8_attr(hid_t loc, const char *name) {
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  ck_assert_msg(a >= 0, "no attribute %s", name);
  hid_t t = H5Aget_type(a);
  ck_assert_int_eq(H5Tget_class(t), H5T_STRING);
  ck_assert_int_gt(H5Tis_variable_str(t), 0);
  ck_assert_int_eq(H5Tget_cset(t), H5T_CSET_UTF8);
  H5Tclose(t);
  H5Aclose(a);
}

/* ---- round trip --------------------------------------------------------------------------- */

START_TEST(test_record_round_trip) {
  const char *p = tpath("rt.h5");
  record_run *runs[4];
  for (int i = 0; i < 4; ++i) runs[i] = make_run(i, 50 + 13 * (size_t)i);
  /* run 2 adds a summary column that runs 0 and 1 lack (back-filled with NaN / "") */
  ck_assert_int_eq(record_run_set_double(runs[2], "extra", 7.125), 0);
  ck_assert_int_eq(record_run_set_str(runs[2], "extra_s", "late"), 0);
  ck_assert_int_eq(record_run_summarize(runs[2], "extra"), 0);
  ck_assert_int_eq(record_run_summarize(runs[2], "extra_s"), 0);

  record_writer *w = record_writer_open(p, &META, RECORD_NEW);
  ck_assert_msg(w != NULL, "%s", moex_errmsg());
  append1(w, runs[0]);
  ck_assert_int_eq(record_writer_append(w, runs + 1, 2), 0);
  ck_assert(record_writer_has(w, runs[2]->id));
  record_writer_close(w);
  /* a second process resumes the file */
  w = record_writer_open(p, &META, RECORD_RESUME);
  ck_assert_msg(w != NULL, "%s", moex_errmsg());
  ck_assert_uint_eq(record_writer_n_runs(w), 3);
  append1(w, runs[3]);
  record_writer_close(w);
  ck_assert_int_eq(access(tpath("rt.h5.tmp"), F_OK), -1);  /* the working copy is gone */

  ck_assert_msg(record_check(p) == 0, "%s", moex_errmsg());
  record_file *f = record_open(p);
  ck_assert_ptr_nonnull(f);
  const record_meta *m = record_file_meta(f);
  ck_assert_str_eq(m->experiment, META.experiment);
  ck_assert_str_eq(m->grid, META.grid);
  ck_assert_str_eq(m->command_line, META.command_line);
  /* git describe of the library build, then the BLAS it ran: its name and, for OpenBLAS, the
   * core whose kernels computed the products */
  ck_assert_ptr_nonnull(strstr(m->moex_version, "; "));
  ck_assert_int_gt((int)(strstr(m->moex_version, "; ") - m->moex_version), 0);
  const char *blas = strcmp(moex_blas_name(), "openblas") ? "gslcblas (GSL " : "OpenBLAS ";
  ck_assert_msg(strstr(m->moex_version, blas) && strstr(m->moex_version, moex_blas_kernel()), "moex_version '%s'",
                m->moex_version);
  ck_assert_int_eq(m->schema_version, RECORD_SCHEMA_VERSION);
  ck_assert_int_eq((int)strlen(m->created_utc), 20);
  ck_assert_int_eq(m->created_utc[10], 'T');
  ck_assert_int_eq(m->created_utc[19], 'Z');
  ck_assert_uint_eq(record_n_runs(f), 4);
  for (int i = 0; i < 4; ++i) {
    ck_assert_str_eq(record_run_id(f, (size_t)i), runs[i]->id);  /* in the order written */
    record_run *r = record_read_run(f, runs[i]->id, RECORD_READ_ALL);
    ck_assert_msg(r != NULL, "%s", moex_errmsg());
    ck_assert_msg(record_run_compare(runs[i], r) == 0, "%s", moex_errmsg());
    /* attribute order is kept */
    for (size_t k = 0; k < r->n_attrs; ++k) ck_assert_str_eq(r->attrs[k].name, runs[i]->attrs[k].name);
    record_run_free(r);
  }
  /* attributes only */
  record_run *ra = record_read_run(f, runs[1]->id, RECORD_READ_ATTRS);
  ck_assert_uint_eq(ra->n_arrays + ra->n_tables, 0);
  int64_t seed;
  double mse;
  const char *opt;
  ck_assert_int_eq(record_run_get_int(ra, "seed", &seed), 0);
  ck_assert_int_eq(seed, 1037);
  ck_assert_int_eq(record_run_get_double(ra, "test_mse", &mse), 0);
  ck_assert(mse == 2.385e-4 * 2);
  ck_assert_int_eq(record_run_get_str(ra, "optimizer", &opt), 0);
  ck_assert_str_eq(opt, "bfgs2");
  ck_assert_int_eq(record_run_get_double(ra, "seed", &mse), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'seed' is a int"));
  ck_assert_int_eq(record_run_get_int(ra, "nope", &seed), MOEX_EINVAL);
  record_run_free(ra);
  /* single array and table */
  record_array *a = record_read_array(f, runs[3]->id, "eval/x");
  ck_assert_ptr_nonnull(a);
  ck_assert_int_eq(a->rank, 2);
  ck_assert_uint_eq(a->dims[0], 89);
  ck_assert_uint_eq(a->dims[1], 3);
  ck_assert(memcmp(a->data, record_run_array(runs[3], "eval/x")->data, 89 * 3 * sizeof(double)) == 0);
  record_array_free(a);
  record_table *t = record_read_table(f, runs[3]->id, "curve");
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->nrows, 40);
  ck_assert_int_eq(record_table_column(t, "grad_norm"), 2);
  ck_assert_int_eq(record_table_column(t, "nope"), -1);
  record_table_free(t);
  ck_assert_ptr_null(record_read_table(f, runs[3]->id, "eval/x"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "is an array, not a table"));
  ck_assert_ptr_null(record_read_array(f, runs[3]->id, "curve"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "is a table, not an array"));
  ck_assert_ptr_null(record_read_array(f, runs[3]->id, "no/such"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "has no array 'no/such'"));
  ck_assert_ptr_null(record_read_table(f, runs[3]->id, "no/such"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "has no table 'no/such'"));
  ck_assert_ptr_null(record_read_run(f, "0123456789abcdef", RECORD_READ_ALL));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "has no run '0123456789abcdef'"));

  /* summary: run_id first, one row per run in order, typed columns, fill values */
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(s->nrows, 4);
  ck_assert_str_eq(s->cols[0].name, "run_id");
  const record_column *cs = record_summary_column(s, "seed"), *ce = record_summary_column(s, "extra"),
                      *cx = record_summary_column(s, "extra_s"), *co = record_summary_column(s, "optimizer"),
                      *cb = record_summary_column(s, "big_int");
  ck_assert_ptr_nonnull(cs);
  ck_assert_int_eq(cs->type, RECORD_INT);
  ck_assert_int_eq(ce->type, RECORD_DOUBLE);
  ck_assert_int_eq(co->type, RECORD_STR);
  ck_assert_ptr_null(record_summary_column(s, "note"));
  for (int i = 0; i < 4; ++i) {
    ck_assert_str_eq(s->cols[0].v.s[i], runs[i]->id);
    ck_assert_int_eq(cs->v.i[i], 1000 + 37 * i);
    ck_assert_int_eq(cb->v.i[i], INT64_MAX - i);
    ck_assert_str_eq(co->v.s[i], i % 2 ? "bfgs2" : "adam");
    if (i == 2) {
      ck_assert(ce->v.d[i] == 7.125);
      ck_assert_str_eq(cx->v.s[i], "late");
    } else {
      ck_assert(isnan(ce->v.d[i]));
      ck_assert_str_eq(cx->v.s[i], "");
    }
  }
  record_summary_free(s);
  record_close(f);

  /* the types other tools see */
  hid_t fid = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert_int_ge(fid, 0);
  const char *root[] = {"moex_version", "created_utc", "host", "command_line", "experiment", "grid"};
  for (int k = 0; k < 6; ++k) assert_vlen_utf8_attr(fid, root[k]);
  char g[64];
  snprintf(g, sizeof g, "runs/%s", runs[1]->id);
  hid_t rg = H5Gopen2(fid, g, H5P_DEFAULT);
  assert_vlen_utf8_attr(rg, "optimizer");
  assert_vlen_utf8_attr(rg, "note");
  hid_t cd = H5Dopen2(rg, "curve", H5P_DEFAULT);
  assert_vlen_utf8_attr(cd, "columns");
  hid_t pl = H5Dget_create_plist(cd), sp = H5Dget_space(cd);
  ck_assert_int_eq(H5Pget_layout(pl), H5D_CHUNKED);
  ck_assert_int_ge(H5Pget_nfilters(pl), 1);
  int deflate = 0;
  for (int k = 0; k < H5Pget_nfilters(pl); ++k) {
    unsigned flags, cv[4];
    size_t ncv = 4;
    char nm[64];
    unsigned conf;
    if (H5Pget_filter2(pl, (unsigned)k, &flags, &ncv, cv, sizeof nm, nm, &conf) == H5Z_FILTER_DEFLATE) deflate = 1;
  }
  ck_assert(deflate);
  hsize_t dims[2], maxd[2];
  ck_assert_int_eq(H5Sget_simple_extent_dims(sp, dims, maxd), 2);
  ck_assert(maxd[0] == H5S_UNLIMITED);
  ck_assert_uint_eq(dims[1], 6);
  H5Sclose(sp);
  H5Pclose(pl);
  H5Dclose(cd);
  hid_t sd = H5Dopen2(fid, "summary/run_id", H5P_DEFAULT);
  hid_t st = H5Dget_type(sd);
  ck_assert_int_gt(H5Tis_variable_str(st), 0);
  ck_assert_int_eq(H5Tget_cset(st), H5T_CSET_UTF8);
  H5Tclose(st);
  H5Dclose(sd);
  H5Gclose(rg);
  H5Fclose(fid);

  assert_h5dump(p);
  for (int i = 0; i < 4; ++i) record_run_free(runs[i]);
}
END_TEST

/* Each of the n runs reads back from the record at p equal to itself (both freed after), and
 * h5dump reads the file. */
static void read_back_all(const char *p, record_run **runs, size_t n) {
  record_file *f = record_open(p);
  for (size_t i = 0; i < n; ++i) {
    record_run *r = record_read_run(f, runs[i]->id, RECORD_READ_ALL);
    ck_assert_msg(record_run_compare(runs[i], r) == 0, "%s", moex_errmsg());
    record_run_free(r);
    record_run_free(runs[i]);
  }
  record_close(f);
  assert_h5dump(p);
}

/* The copy-always mode writes the same record. */
START_TEST(test_record_copy_always_mode) {
  const char *p = tpath("ca.h5");
  record_writer *w = record_writer_open(p, &META, RECORD_NEW | RECORD_COPY_ALWAYS);
  ck_assert_ptr_nonnull(w);
  record_run *runs[3];
  for (int i = 0; i < 3; ++i) {
    runs[i] = make_run(10 + i, 20);
    append1(w, runs[i]);
    int full;
    record_writer_last_commit(w, NULL, NULL, &full);
    ck_assert_int_eq(full, 1);
  }
  record_writer_close(w);
  ck_assert_int_eq(record_check(p), 0);
  read_back_all(p, runs, 3);
}
END_TEST

/* The alternating working copy: commits after the first reuse it (no full copy), and a
 * reader holding the file open through HDF5 is never written under: the writer copies. */
START_TEST(test_record_reader_kept_safe) {
  const char *p = tpath("rd.h5");
  record_writer *w = record_writer_open(p, &META, RECORD_NEW);
  record_run *r0 = make_run(20, 30), *r1 = make_run(21, 30), *r2 = make_run(22, 30), *r3 = make_run(23, 30);
  int full;
  append1(w, r0);
  record_writer_last_commit(w, NULL, NULL, &full);
  ck_assert_int_eq(full, 1);
  append1(w, r1);
  record_writer_last_commit(w, NULL, NULL, &full);
  ck_assert_int_eq(full, 0);  /* the old file was reused */
  record_file *f = record_open(p);  /* a reader, with HDF5's lock */
  ck_assert_ptr_nonnull(f);
  append1(w, r2);
  append1(w, r3);
  record_writer_last_commit(w, NULL, NULL, &full);
  ck_assert_int_eq(full, 1);  /* the reader's file was left alone */
  /* the reader still reads what it opened */
  ck_assert_uint_eq(record_n_runs(f), 2);
  record_run *x = record_read_run(f, r1->id, RECORD_READ_ALL);
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(record_run_compare(r1, x), 0);
  record_run_free(x);
  record_close(f);
  record_writer_close(w);
  ck_assert_int_eq(record_check(p), 0);
  f = record_open(p);
  ck_assert_uint_eq(record_n_runs(f), 4);
  record_close(f);
  record_run *all[4] = {r0, r1, r2, r3};
  read_back_all(p, all, 4);
}
END_TEST

/* ---- crash safety ------------------------------------------------------------------------- */

/* Child: resume the file and append runs forever, reporting 'B' before each append and
 * 'E' + index after it completed. */
static void crash_child(const char *p, int fd, int flags) {
  record_writer *w = record_writer_open(p, &META, RECORD_RESUME | flags);
  if (!w) _exit(3);
  for (int i = (int)record_writer_n_runs(w); i < 100000; ++i) {
    record_run *r = build_run(i, 200 + (size_t)(mix((uint64_t)i) % 1500));
    if (!r) _exit(6);
    char b = 'B';
    if (write(fd, &b, 1) != 1) _exit(4);
    if (record_writer_append(w, &r, 1) != 0) _exit(5);
    char msg[5] = {'E'};
    memcpy(msg + 1, &i, 4);
    if (write(fd, msg, 5) != 5) _exit(4);
    record_run_free(r);
  }
  _exit(0);
}

static void crash_loop(int kills, int flags, unsigned seed) {
  const char *p = tpath("crash.h5");
  record_writer *w0 = record_writer_open(p, &META, RECORD_NEW);
  ck_assert_ptr_nonnull(w0);
  record_writer_close(w0);
  int reported = 0, mid_append = 0;
  int slow = testutil_valgrind() ? 20 : 1;
  for (int k = 0; k < kills; ++k) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      crash_child(p, fds[1], flags);
    }
    close(fds[1]);
    static char acc[1 << 16];
    size_t an = 0;
    ssize_t n;
    /* every other kill waits for one more completed run first, so the child makes progress
     * and kills land in later appends too; the others may land anywhere, start-up included */
    if (k % 2) {
      for (int seen = 0; !seen;) {
        ck_assert((n = read(fds[0], acc + an, sizeof acc - an)) > 0);
        an += (size_t)n;
        for (size_t q = 0; q < an; q += acc[q] == 'B' ? 1 : 5) seen |= acc[q] == 'E';
      }
    }
    /* then different delays */
    seed = seed * 1103515245u + 12345u;
    long ms = (long)(1 + 5 * k + (seed >> 16) % 17) * slow;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child ended by itself: %d", status);
    char last = 0;
    int pending_idx = -1;
    while ((n = read(fds[0], acc + an, sizeof acc - an)) > 0) an += (size_t)n;
    ck_assert(an < sizeof acc);
    close(fds[0]);
    for (size_t q = 0; q < an;) {
      last = acc[q];
      if (acc[q] == 'B') { q += 1; continue; }
      ck_assert(acc[q] == 'E' && q + 5 <= an);
      memcpy(&pending_idx, acc + q + 1, 4);
      ck_assert_int_eq(pending_idx, reported);  /* indices come in order */
      reported++;
      q += 5;
    }
    if (last == 'B') mid_append++;
    /* the file opens, passes the schema check, and holds every reported run, whole */
    ck_assert_msg(record_check(p) == 0, "after kill %d: %s", k, moex_errmsg());
    record_file *f = record_open(p);
    ck_assert_ptr_nonnull(f);
    size_t nr = record_n_runs(f);
    /* at most one run more than reported: it was committed, the kill came before the report */
    ck_assert_msg(nr == (size_t)reported || (nr == (size_t)reported + 1 && last == 'B'),
                  "kill %d: %zu runs in file, %d reported", k, nr, reported);
    for (size_t i = 0; i < nr; ++i) {
      char id[17];
      run_id_of((int)i, id);
      ck_assert_str_eq(record_run_id(f, i), id);
    }
    /* the runs written since the previous kill are complete, bit for bit */
    for (size_t i = nr > 3 ? nr - 3 : 0; i < nr; ++i) {
      record_run *want = make_run((int)i, 200 + (size_t)(mix(i) % 1500));
      record_run *got = record_read_run(f, want->id, RECORD_READ_ALL);
      ck_assert_msg(got && record_run_compare(want, got) == 0, "run %zu: %s", i, moex_errmsg());
      record_run_free(want);
      record_run_free(got);
    }
    record_close(f);
    reported = (int)nr;  /* the next child continues from what the file holds */
    if (k == kills - 1) assert_h5dump(p);
  }
  /* the point of the test: kills landed inside an append */
  ck_assert_msg(mid_append >= 1, "no kill landed inside an append (%d kills)", kills);
  ck_assert_int_gt(reported, 0);
}

START_TEST(test_record_sigkill_alternating) { crash_loop(8, 0, 2385u); }
END_TEST

START_TEST(test_record_sigkill_copy_always) { crash_loop(6, RECORD_COPY_ALWAYS, 977u); }
END_TEST

/* ---- bad input ---------------------------------------------------------------------------- */

START_TEST(test_record_bad_files) {
  /* missing file */
  ck_assert_ptr_null(record_open(tpath("missing.h5")));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "missing.h5"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "No such file"));
  ck_assert_int_eq(record_check(tpath("missing.h5")), MOEX_EIO);

  /* not HDF5: refused by reader, checker and writer, and left as it was */
  const char *txt = tpath("notes.h5");
  FILE *fp = fopen(txt, "w");
  fputs("iter loss\n1 0.2385\n", fp);
  fclose(fp);
  ck_assert_ptr_null(record_open(txt));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "is not an HDF5 file"));
  ck_assert_ptr_null(record_writer_open(txt, &META, RECORD_RESUME));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "not an HDF5 file; refusing"));
  ck_assert_ptr_null(record_writer_open(txt, &META, RECORD_NEW));
  ck_assert(same_bytes(txt, "iter loss\n1 0.2385\n", 19));

  /* HDF5 but not a moex record */
  hid_t fid = H5Fcreate(tpath("plain.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(fid);
  ck_assert_ptr_null(record_open(tpath("plain.h5")));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "not a moex record"));

  /* another schema version */
  const char *p = tpath("v2.h5");
  record_writer *w = record_writer_open(p, &META, RECORD_NEW);
  record_run *r = make_run(30, 10);
  append1(w, r);
  record_writer_close(w);
  fid = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(fid, "schema_version", H5P_DEFAULT);
  int64_t v = RECORD_SCHEMA_VERSION + 1;
  H5Awrite(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  H5Fclose(fid);
  size_t n = 0;
  char *before = testutil_slurp(p, &n);
  ck_assert_ptr_null(record_open(p));
  char want[80];
  snprintf(want, sizeof want, "schema_version %d; this moex reads version %d", RECORD_SCHEMA_VERSION + 1,
           RECORD_SCHEMA_VERSION);
  ck_assert_msg(strstr(moex_errmsg(), want) != NULL, "%s", moex_errmsg());
  ck_assert_int_ne(record_check(p), 0);
  ck_assert_ptr_null(record_writer_open(p, &META, RECORD_RESUME));
  ck_assert(same_bytes(p, before, n));
  free(before);

  /* resuming into another experiment's file */
  p = tpath("other.h5");
  w = record_writer_open(p, &META, RECORD_NEW);
  record_writer_close(w);
  record_meta_in m2 = META;
  m2.experiment = "paper_exp2";
  ck_assert_ptr_null(record_writer_open(p, &m2, RECORD_RESUME));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "holds experiment 'test_exp', not 'paper_exp2'"));

  /* unwritable output folders: missing, a file in the way, (not root) no permission */
  ck_assert_ptr_null(record_writer_open(tpath("nodir/out.h5"), &META, RECORD_NEW));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "cannot create"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "nodir/out.h5.lock"));
  ck_assert_ptr_null(record_writer_open(tpath("notes.h5/out.h5"), &META, RECORD_NEW));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "Not a directory"));
  if (geteuid() != 0) {
    const char *ro = tpath("ro");
    ck_assert_int_eq(mkdir(ro, 0500), 0);
    ck_assert_ptr_null(record_writer_open(tpath("ro/out.h5"), &META, RECORD_NEW));
    ck_assert_ptr_nonnull(strstr(moex_errmsg(), "Permission denied"));
    ck_assert_int_eq(access(tpath("ro/out.h5"), F_OK), -1);
  }
  ck_assert_int_eq(access(tpath("nodir"), F_OK), -1);
  ck_assert_ptr_null(record_writer_open(NULL, &META, RECORD_NEW));
  ck_assert_ptr_null(record_writer_open(tpath("x.h5"), NULL, RECORD_NEW));
  record_run_free(r);
}
END_TEST

/* A refused append leaves the file byte for byte as it was, and the writer usable. */
START_TEST(test_record_refused_append) {
  const char *p = tpath("ref.h5");
  record_writer *w = record_writer_open(p, &META, RECORD_NEW);
  record_run *r0 = make_run(40, 10), *r1 = make_run(41, 10), *r2 = make_run(42, 10);
  append1(w, r0);
  append1(w, r1);  /* so that a working copy exists */
  size_t n = 0;
  char *before = testutil_slurp(p, &n);
  /* already in the file */
  ck_assert_int_eq(record_writer_append(w, &r0, 1), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "already holds run"));
  /* twice in one batch */
  record_run *twice[2] = {r2, r2};
  ck_assert_int_eq(record_writer_append(w, twice, 2), MOEX_EINVAL);
  /* a summary column of another type: found only once the file is open */
  record_run *bad = make_run(43, 10);
  ck_assert_int_eq(record_run_set_str(bad, "seed", "1043"), 0);
  record_run *batch[2] = {r2, bad};
  ck_assert_int_eq(record_writer_append(w, batch, 2), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "summary column 'seed' is int in the file, the run gives string"));
  ck_assert(same_bytes(p, before, n));
  ck_assert_uint_eq(record_writer_n_runs(w), 2);
  /* still usable; r2 was not written by the refused batch */
  append1(w, r2);
  record_writer_close(w);
  ck_assert_int_eq(record_check(p), 0);
  record_file *f = record_open(p);
  ck_assert_uint_eq(record_n_runs(f), 3);
  ck_assert(!record_has_run(f, bad->id));
  record_close(f);
  free(before);
  record_run_free(r0);
  record_run_free(r1);
  record_run_free(r2);
  record_run_free(bad);
}
END_TEST

START_TEST(test_record_bad_runs) {
  ck_assert_ptr_null(record_run_alloc(""));
  ck_assert_ptr_null(record_run_alloc("a/b"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "run id 'a/b'"));
  record_run *r = record_run_alloc("00ff00ff00ff00ff");
  ck_assert_int_eq(record_run_set_int(r, "bad name", 3), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "bad attribute name 'bad name'"));
  ck_assert_int_eq(record_run_set_int(r, "run_id", 3), MOEX_EINVAL);
  ck_assert_int_eq(record_run_set_str(r, "s", "\xff\xfe"), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "not valid UTF-8"));
  ck_assert_int_eq(record_run_set_str(r, "s", "\xc0\xaf"), MOEX_EINVAL);  /* overlong */
  ck_assert_int_eq(record_run_summarize(r, "absent"), MOEX_EINVAL);
  double x[6] = {2.385, -1.5, 0.25, 3.75, -0.125, 9.5};
  size_t d2[2] = {2, 3}, d3[3] = {1, 2, 3};
  ck_assert_int_eq(record_run_add_double(r, "params/W", x, 3, d3), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "rank 3"));
  ck_assert_int_eq(record_run_add_double(r, "/abs", x, 2, d2), MOEX_EINVAL);
  ck_assert_int_eq(record_run_add_double(r, "a//b", x, 2, d2), MOEX_EINVAL);
  ck_assert_int_eq(record_run_add_double(r, "a/../b", x, 2, d2), MOEX_EINVAL);
  ck_assert_int_eq(record_run_add_double(r, "p/W", NULL, 2, d2), MOEX_EINVAL);
  ck_assert_int_eq(record_run_add_double(r, "p/W", x, 2, d2), 0);
  ck_assert_int_eq(record_run_add_double(r, "p/W", x, 2, d2), MOEX_EINVAL);
  ck_assert_int_eq(record_run_add_double(r, "p/W/x", x, 2, d2), MOEX_EINVAL);  /* W is a dataset */
  ck_assert_int_eq(record_run_add_double(r, "p", x, 2, d2), MOEX_EINVAL);      /* p is a group */
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "clashes"));
  const char *dup[] = {"iter", "iter"};
  ck_assert_ptr_null(record_run_add_table(r, "curve", 2, dup));
  ck_assert_ptr_null(record_run_add_table(r, "curve", 0, dup));
  ck_assert_int_eq(record_table_append(NULL, x), MOEX_EINVAL);
  /* replacing an attribute keeps one entry, of the new type */
  ck_assert_int_eq(record_run_set_str(r, "k", "one"), 0);
  ck_assert_int_eq(record_run_set_double(r, "k", 1.5), 0);
  ck_assert_uint_eq(r->n_attrs, 1);
  ck_assert_int_eq(record_run_attr(r, "k")->type, RECORD_DOUBLE);
  /* a copy compares equal; a changed bit does not */
  record_run *c = record_run_copy(r);
  ck_assert_int_eq(record_run_compare(r, c), 0);
  ((double *)c->arrays[0]->data)[4] = nextafter(-0.125, 0.0);
  ck_assert_int_eq(record_run_compare(r, c), 1);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'p/W' values differ"));
  record_run_free(c);
  record_run_free(r);
  char *argv[] = {"paper_exp1", "--out", "my file.h5", "it's"};
  char *s = record_join_argv(4, argv);
  ck_assert_str_eq(s, "paper_exp1 --out 'my file.h5' 'it'\\''s'");
  free(s);
}
END_TEST

/* Non-UTF-8 bytes in argv are stored as '?' rather than breaking h5py. */
START_TEST(test_record_meta_sanitized) {
  const char *p = tpath("m.h5");
  record_meta_in m = {"exp", "{}", "prog --name \xff\xfe ok \xce\xba"};
  record_writer *w = record_writer_open(p, &m, RECORD_NEW);
  ck_assert_ptr_nonnull(w);
  record_writer_close(w);
  record_file *f = record_open(p);
  ck_assert_str_eq(record_file_meta(f)->command_line, "prog --name ?? ok \xce\xba");
  ck_assert_uint_eq(record_n_runs(f), 0);
  record_close(f);
  ck_assert_int_eq(record_check(p), 0);
  assert_h5dump(p);
}
END_TEST

/* h5py reads attributes as str and finds every part (h5py missing fails, see testutil_require_tool). */
START_TEST(test_record_h5py) {
  /* the python3 first in PATH, else Debian's (python3-h5py installs there) */
  const char *python = system("python3 -c 'import h5py' >/dev/null 2>&1") == 0 ? "python3"
                     : system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0 ? "/usr/bin/python3"
                                                                                        : NULL;
  if (!testutil_require_tool(python != NULL, "h5py", "no python3 imports h5py (Debian: python3-h5py)")) return;
  const char *p = tpath("py.h5");
  record_writer *w = record_writer_open(p, &META, RECORD_NEW);
  record_run *r = make_run(50, 12), *r2 = make_run(51, 12);
  append1(w, r);
  append1(w, r2);
  record_writer_close(w);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s - '%s' '%s'", python, p, r->id);
  FILE *py = popen(cmd, "w");
  ck_assert_ptr_nonnull(py);
  fputs("import sys, h5py, math\n"
        "f = h5py.File(sys.argv[1], 'r')\n"
        "for k in ('moex_version','created_utc','host','command_line','experiment','grid'):\n"
        "    assert isinstance(f.attrs[k], str), k\n"
        "assert int(f.attrs['schema_version']) == 1\n"
        "assert list(f['runs']) and sys.argv[2] in f['runs']\n"
        "g = f['runs'][sys.argv[2]]\n"
        "assert isinstance(g.attrs['note'], str) and g.attrs['note'].startswith('κ/d')\n"
        "assert int(g.attrs['seed']) == 1000 + 37 * 50\n"
        "assert g['curve'].shape == (87, 6)\n"
        "assert list(g['curve'].attrs['columns']) == ['iter','loss','grad_norm','step','evals','wall_s']\n"
        "assert g['params/layer0/router/W'].shape == (4, 16)\n"
        "ids = [s.decode() if isinstance(s, bytes) else s for s in f['summary/run_id'][()]]\n"
        "assert ids[0] == sys.argv[2] and len(ids) == 2\n"
        "assert f['summary/test_mse'][0] == 2.385e-4 * 51\n",
        py);
  int st = pclose(py);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "h5py could not read the file as documented");
  record_run_free(r);
  record_run_free(r2);
}
END_TEST

static volatile sig_atomic_t got_int;
static void on_int(int sig) { (void)sig; got_int = 1; }

/* What the caller needs for Ctrl-C: the signal waits until the commit is done. */
START_TEST(test_record_signals_block) {
  struct sigaction sa, old_sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_int;
  sigemptyset(&sa.sa_mask);
  ck_assert_int_eq(sigaction(SIGINT, &sa, &old_sa), 0);
  got_int = 0;
  sigset_t old, pend;
  ck_assert_int_eq(record_signals_block(&old), 0);
  raise(SIGINT);
  ck_assert_int_eq(got_int, 0);
  sigpending(&pend);
  ck_assert_int_eq(sigismember(&pend, SIGINT), 1);
  ck_assert_int_eq(record_signals_restore(&old), 0);
  ck_assert_int_eq(got_int, 1);
  sigaction(SIGINT, &old_sa, NULL);
}
END_TEST

Suite *record_suite(void) {
  return testutil_suite("record", TESTUTIL_CASE_FIXTURE("core", 120, tmp_setup, tmp_teardown, test_record_round_trip,
                                                        test_record_copy_always_mode, test_record_reader_kept_safe,
                                                        test_record_sigkill_alternating, test_record_sigkill_copy_always,
                                                        test_record_bad_files, test_record_refused_append,
                                                        test_record_bad_runs, test_record_meta_sanitized,
                                                        test_record_h5py, test_record_signals_block));
}
