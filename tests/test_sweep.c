/* The sweep runner: grid and shard parsing, run packing, ordered commits and the error path in
 * process; end to end with experiments/sweep_demo: --jobs 1 == --jobs 2, SIGKILL then --resume,
 * SIGINT then --resume, shards merged == whole, bad grids, and mpirun -np 3 == local.
 *
 * Comparing two files: every summary column and every run (attributes, arrays, tables) bit for
 * bit, EXCEPT wall-clock time: the run attribute `wall_s`, the summary column `wall_s` and the
 * `wall_s` column of the `curve` table measure elapsed seconds, which differ between any two
 * executions; they are zeroed (runs) or skipped (summary) before comparing. Root attributes
 * (created_utc, host, command_line) describe the invocation and are not compared either. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "core/runid.h"
#include "record/record.h"
#include "lib/exprun.h"
#include "record/record_pack.h"
#include "sweep/sweep.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static void tmpdir(char *dir, size_t len) {
  snprintf(dir, len, "/tmp/moex-sweep-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rmdir_all(const char *dir) {
  testutil_rm_rf(dir);
}

/* Runs sweep_demo with `args`, output to `out`, quiet; returns the exit status. */
static int demo(const char *bindir, const char *out, const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s/sweep_demo --out %s --quiet %s > /dev/null 2>&1", bindir, out, args);
  return testutil_sh(cmd);
}

/* Wall-clock fields set to zero (see the file comment). */
static void drop_timing(record_run *r) {
  double w;
  if (!record_run_get_double(r, "wall_s", &w)) ck_assert_int_eq(record_run_set_double(r, "wall_s", 0.0), 0);
  for (size_t k = 0; k < r->n_tables; k++) {
    record_table *t = r->tables[k];
    long c = record_table_column(t, "wall_s");
    for (size_t i = 0; c >= 0 && i < t->nrows; i++) t->data[i * t->ncols + (size_t)c] = 0.0;
  }
}

static long find_row(const record_summary *s, const char *id) {
  const record_column *c = record_summary_column(s, "run_id");
  for (size_t i = 0; c && i < s->nrows; i++)
    if (!strcmp(c->v.s[i], id)) return (long)i;
  return -1;
}

/* a and b hold the same runs (same order when `ordered`), the same summary bit for bit, and
 * each run equal after drop_timing. */
static void files_equal(const char *pa, const char *pb, int ordered) {
  record_file *a = record_open(pa), *b = record_open(pb);
  ck_assert_msg(a && b, "open %s / %s: %s", pa, pb, moex_errmsg());
  ck_assert_uint_eq(record_n_runs(a), record_n_runs(b));
  ck_assert_str_eq(record_file_meta(a)->experiment, record_file_meta(b)->experiment);
  record_summary *sa = record_read_summary(a), *sb = record_read_summary(b);
  ck_assert_ptr_nonnull(sa);
  ck_assert_ptr_nonnull(sb);
  ck_assert_uint_eq(sa->nrows, record_n_runs(a));
  ck_assert_uint_eq(sa->ncols, sb->ncols);
  size_t compared = 0;
  for (size_t c = 0; c < sa->ncols; c++) {
    const record_column *ca = &sa->cols[c], *cb = record_summary_column(sb, ca->name);
    ck_assert_msg(cb != NULL, "column %s missing in %s", ca->name, pb);
    ck_assert_int_eq(ca->type, cb->type);
    if (!strcmp(ca->name, "wall_s")) continue;
    for (size_t i = 0; i < sa->nrows; i++) {
      long j = ordered ? (long)i : find_row(sb, sa->cols[0].v.s[i]);
      ck_assert_msg(j >= 0, "run %s missing in %s", sa->cols[0].v.s[i], pb);
      if (ca->type == RECORD_STR) ck_assert_str_eq(ca->v.s[i], cb->v.s[j]);
      else if (ca->type == RECORD_INT) ck_assert(ca->v.i[i] == cb->v.i[j]);
      else ck_assert_msg(!memcmp(&ca->v.d[i], &cb->v.d[j], sizeof(double)), "%s row %zu: %.17g vs %.17g",
                         ca->name, i, ca->v.d[i], cb->v.d[j]);
      compared++;
    }
  }
  ck_assert_uint_gt(compared, 0);
  for (size_t i = 0; i < record_n_runs(a); i++) {
    const char *id = record_run_id(a, i);
    if (ordered) ck_assert_str_eq(id, record_run_id(b, i));
    record_run *ra = record_read_run(a, id, RECORD_READ_ALL), *rb = record_read_run(b, id, RECORD_READ_ALL);
    ck_assert_msg(ra && rb, "run %s: %s", id, moex_errmsg());
    drop_timing(ra);
    drop_timing(rb);
    ck_assert_msg(record_run_compare(ra, rb) == 0, "run %s differs: %s", id, moex_errmsg());
    record_run_free(ra);
    record_run_free(rb);
  }
  record_summary_free(sa);
  record_summary_free(sb);
  record_close(a);
  record_close(b);
}

static size_t n_runs_in(const char *path) {
  record_file *f = record_open(path);
  ck_assert_msg(f != NULL, "%s: %s", path, moex_errmsg());
  size_t n = record_n_runs(f);
  /* each run once */
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < i; j++) ck_assert_str_ne(record_run_id(f, i), record_run_id(f, j));
  record_close(f);
  return n;
}

/* Starts sweep_demo (not quiet) with stdout on a pipe; returns the pid and the read end. */
static pid_t spawn_demo(const char *out, const char *args, FILE **lines) {
  char cmd[2048];
  /* at the lowest priority, so that on a loaded machine this process (which reads the report
   * lines and sends the signal) runs before the demo can finish the rest of its sweep; nice
   * execs, so pid is the demo's. The records do not depend on it. */
  snprintf(cmd, sizeof cmd, "exec nice -n 19 %s/sweep_demo --out %s %s 2>/dev/null", testutil_bindir(), out, args);
  int fd[2];
  ck_assert_int_eq(pipe(fd), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fd[1], STDOUT_FILENO);
    close(fd[0]);
    close(fd[1]);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fd[1]);
  *lines = fdopen(fd[0], "r");
  ck_assert_ptr_nonnull(*lines);
  return pid;
}

/* Waits until the child reported k committed runs (one stdout line each), then sends sig. */
static int kill_after(pid_t pid, FILE *lines, int k, int sig) {
  char line[1024];
  int seen = 0;
  while (seen < k && fgets(line, sizeof line, lines))
    if (strstr(line, "sweep_demo: [")) seen++;
  ck_assert_int_eq(seen, k);
  kill(pid, sig);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  fclose(lines);
  return st;
}

/* ---- in process -------------------------------------------------------------------------- */

static sweep_grid_t small_grid(void) {
  sweep_grid_t g = {.n_axes = 2, .seeds = 3};
  g.axis[0] = (sweep_axis_t){.name = "D", .n = 2, .values = {"16", "32"}};
  g.axis[1] = (sweep_axis_t){.name = "embed", .n = 3, .values = {"axis", "rotated", "curved"}};
  return g;
}

START_TEST(test_grid_indexing) {
  sweep_grid_t g = small_grid();
  ck_assert_uint_eq(sweep_grid_size(&g), 18);
  /* axes slowest first, seed fastest: i = (iD * 3 + iembed) * 3 + seed */
  ck_assert_str_eq(sweep_grid_value(&g, 0, "D"), "16");
  ck_assert_str_eq(sweep_grid_value(&g, 13, "D"), "32");
  ck_assert_str_eq(sweep_grid_value(&g, 13, "embed"), "rotated");
  ck_assert_uint_eq(sweep_grid_seed_index(&g, 13), 1);
  ck_assert_ptr_null(sweep_grid_value(&g, 13, "nosuch"));
  char buf[256];
  sweep_grid_config(&g, "exp1", 17, buf, sizeof buf);
  ck_assert_str_eq(buf, "exp1 D=32 embed=curved seed=2");
  sweep_grid_describe(&g, buf, sizeof buf);
  ck_assert_str_eq(buf, "{D: [16, 32], embed: [axis, rotated, curved], seeds: 3}");
  char tiny[12];
  sweep_grid_config(&g, "exp1", 17, tiny, sizeof tiny); /* truncated, terminated */
  ck_assert_uint_eq(strlen(tiny), sizeof tiny - 1);

  ck_assert_int_eq(sweep_grid_override(&g, "embed=curved,axis"), 0);
  ck_assert_int_eq(sweep_grid_override(&g, "D=128"), 0);
  ck_assert_uint_eq(sweep_grid_size(&g), 6);
  sweep_grid_config(&g, "exp1", 4, buf, sizeof buf);
  ck_assert_str_eq(buf, "exp1 D=128 embed=axis seed=1");
  /* one value more than an axis holds */
  static char many[8 * (SWEEP_MAX_VALUES + 2)], many_why[32];
  size_t at = (size_t)snprintf(many, sizeof many, "embed=v0");
  for (int k = 1; k <= SWEEP_MAX_VALUES; k++) at += (size_t)snprintf(many + at, sizeof many - at, ",v%d", k);
  snprintf(many_why, sizeof many_why, "more than %d", SWEEP_MAX_VALUES);
  const char *bad[] = {"depth=3", "D=", "D=16,,32", "D=16,16", "=4", "D", many};
  const char *want[] = {"unknown axis 'depth'", "no values", "empty value", "repeated value", "expected NAME",
                        "expected NAME", many_why};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    ck_assert_int_eq(sweep_grid_override(&g, bad[k]), MOEX_EINVAL);
    ck_assert_msg(strstr(moex_errmsg(), want[k]), "'%s': message '%s'", bad[k], moex_errmsg());
  }
  ck_assert_uint_eq(sweep_grid_size(&g), 6); /* refused overrides changed nothing */
  g.axis[1].n = 0;
  ck_assert_uint_eq(sweep_grid_size(&g), 0);
  sweep_grid_free(&g);
  ck_assert_ptr_null(g.owned);
}
END_TEST

START_TEST(test_shard_parse) {
  size_t i = 99, n = 99;
  ck_assert_int_eq(sweep_parse_shard("2/5", &i, &n), 0);
  ck_assert_uint_eq(i, 2);
  ck_assert_uint_eq(n, 5);
  ck_assert_int_eq(sweep_parse_shard("0/1", &i, &n), 0);
  const char *bad[] = {"3/2", "2/2", "a/b", "1/0", "1", "/2", "1/", "-1/2", "1/2x", " 1/2", "1/+2", "99999999999999999999/3"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    i = n = 7;
    ck_assert_msg(sweep_parse_shard(bad[k], &i, &n) == MOEX_EINVAL, "'%s' accepted", bad[k]);
    ck_assert_msg(strstr(moex_errmsg(), "--shard"), "'%s': %s", bad[k], moex_errmsg());
    ck_assert_uint_eq(i, 7);
  }
}
END_TEST

START_TEST(test_pack_roundtrip) {
  record_run *r = record_run_alloc("0123abcd4567ef89");
  ck_assert_int_eq(record_run_set_str(r, "status", "ok"), 0);
  ck_assert_int_eq(record_run_set_str(r, "empty", ""), 0);
  ck_assert_int_eq(record_run_set_int(r, "D", -37), 0);
  ck_assert_int_eq(record_run_set_double(r, "test_mse", 2.385e-4), 0);
  ck_assert_int_eq(record_run_set_double(r, "nan", NAN), 0);
  ck_assert_int_eq(record_run_summarize(r, "D"), 0);
  ck_assert_int_eq(record_run_summarize(r, "test_mse"), 0);
  double w[6] = {1.5, -0.25, 3e-300, -0.0, 7.125, INFINITY};
  int64_t li[3] = {INT64_MIN, 0, 41};
  size_t d2[2] = {2, 3}, d1[1] = {3};
  ck_assert_int_eq(record_run_add_double(r, "params/layer0/router/W", w, 2, d2), 0);
  ck_assert_int_eq(record_run_add_int(r, "routing/load", li, 1, d1), 0);
  const char *cols[] = {"iter", "loss", "wall_s"};
  record_table *t = record_run_add_table(r, "curve", 3, cols);
  ck_assert_ptr_nonnull(t);
  for (int k = 0; k < 5; k++) {
    double row[3] = {k, 1.0 / (k + 1.7), 0.013 * k};
    ck_assert_int_eq(record_table_append(t, row), 0);
  }
  unsigned char *buf;
  size_t len;
  ck_assert_int_eq(record_run_pack(r, &buf, &len), 0);
  record_run *u = record_run_unpack(buf, len);
  ck_assert_ptr_nonnull(u);
  ck_assert_msg(record_run_compare(r, u) == 0, "%s", moex_errmsg());
  ck_assert_int_eq(u->attrs[2].summary, 1); /* order and flags kept */
  ck_assert_str_eq(u->attrs[2].name, "D");
  /* every truncation, and a bad magic or trailing byte, is refused without a crash */
  for (size_t k = 0; k < len; k++) {
    record_run *v = record_run_unpack(buf, k);
    ck_assert_msg(v == NULL, "truncated at %zu of %zu accepted", k, len);
  }
  unsigned char *longer = malloc(len + 1);
  memcpy(longer, buf, len);
  longer[len] = 0;
  ck_assert_ptr_null(record_run_unpack(longer, len + 1));
  ck_assert(strstr(moex_errmsg(), "malformed") != NULL);
  longer[0] = 'Z';
  ck_assert_ptr_null(record_run_unpack(longer, len));
  ck_assert(strstr(moex_errmsg(), "magic") != NULL);
  free(longer);
  free(buf);
  record_run_free(u);
  record_run_free(r);
}
END_TEST

/* A run function whose finishing order differs from grid order (sleeps vary), failing on
 * index 4: the file must be in grid order, with index 4 recorded as an error. */
static int scrambled_fn(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  (void)ctx;
  struct timespec ts = {0, (long)((i * 7) % 5) * 3000000L};
  nanosleep(&ts, NULL);
  if (i == 4) return moex_error(MOEX_ENUM, "scrambled: run %zu fails on purpose", i);
  int rc = record_run_set_int(rec, "i", (int64_t)i);
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_str(rec, "embed", sweep_grid_value(g, i, "embed"));
  if (!rc) rc = record_run_set_double(rec, "value", 1.0 / (double)(seed % 1000 + 3));
  if (!rc) rc = record_run_summarize(rec, NULL);
  return rc;
}

START_TEST(test_pool_order_and_errors) {
  char dir[64], path[128];
  tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/s.h5", dir);
  sweep_grid_t g = small_grid();
  sweep_options_t o = {.experiment = "scrambled", .out = path, .master_seed = 2385, .jobs = 4, .quiet = 1,
                       .progress_metric = "value"};
  sweep_stats_t st;
  ck_assert_int_eq(sweep_run(&o, &g, scrambled_fn, NULL, &st), 0);
  ck_assert_uint_eq(st.total, 18);
  ck_assert_uint_eq(st.done, 18);
  ck_assert_uint_eq(st.failed, 1);
  ck_assert_int_eq(st.interrupted, 0);
  ck_assert_int_eq(record_check(path), 0);
  record_file *f = record_open(path);
  ck_assert_uint_eq(record_n_runs(f), 18);
  char config[256], id[17];
  for (size_t i = 0; i < 18; i++) {
    sweep_grid_config(&g, "scrambled", i, config, sizeof config);
    runid_id(config, id);
    ck_assert_str_eq(record_run_id(f, i), id); /* grid order */
    record_run *r = record_read_run(f, id, RECORD_READ_ATTRS);
    const char *s;
    int64_t seed;
    ck_assert_int_eq(record_run_get_str(r, "status", &s), 0);
    if (i == 4) {
      ck_assert_str_eq(s, "error");
      ck_assert_int_eq(record_run_get_str(r, "error", &s), 0);
      ck_assert_str_eq(s, "scrambled: run 4 fails on purpose");
      ck_assert_int_eq(record_run_get_str(r, "config", &s), 0);
      ck_assert_str_eq(s, config);
      ck_assert_int_eq(record_run_get_int(r, "seed", &seed), 0);
      ck_assert_uint_eq((unsigned long)seed, runid_seed(2385, config));
    } else {
      ck_assert_str_eq(s, "ok");
      double v;
      ck_assert_int_eq(record_run_get_double(r, "value", &v), 0);
      ck_assert(v == 1.0 / (double)(runid_seed(2385, config) % 1000 + 3));
    }
    record_run_free(r);
  }
  record_close(f);
  /* resume of a complete file runs nothing; a shard of it skips its runs */
  o.resume = 1;
  ck_assert_int_eq(sweep_run(&o, &g, scrambled_fn, NULL, &st), 0);
  ck_assert_uint_eq(st.skipped, 18);
  ck_assert_uint_eq(st.done, 0);
  o.shard_i = 2;
  o.shard_n = 4;
  ck_assert_int_eq(sweep_run(&o, &g, scrambled_fn, NULL, &st), 0);
  ck_assert_uint_eq(st.total, 4); /* indices 2, 6, 10, 14 */
  ck_assert_uint_eq(st.skipped, 4);
  /* an empty axis, a bad shard, a duplicated value: refused before any file is touched */
  o.resume = 0;
  o.shard_n = 0;
  snprintf(path, sizeof path, "%s/never.h5", dir);
  o.out = path;
  g.axis[0].n = 0;
  ck_assert_int_eq(sweep_run(&o, &g, scrambled_fn, NULL, &st), MOEX_EINVAL);
  ck_assert(strstr(moex_errmsg(), "axis 'D' has no values") != NULL);
  g.axis[0].n = 2;
  o.shard_i = 3;
  o.shard_n = 3;
  ck_assert_int_eq(sweep_run(&o, &g, scrambled_fn, NULL, &st), MOEX_EINVAL);
  o.shard_n = 0;
  g.axis[0].values[1] = "16";
  ck_assert_int_eq(sweep_run(&o, &g, scrambled_fn, NULL, &st), MOEX_EINVAL);
  ck_assert(strstr(moex_errmsg(), "same id") != NULL);
  ck_assert_int_eq(access(path, F_OK), -1);
  rmdir_all(dir);
}
END_TEST

/* A run that ignores interrupts (sleeps 600 ms; worker threads block SIGINT, so the sleep is
 * not cut short) and a helper that sends SIGINT to the process 900 ms in: two runs are
 * committed by then, two are in flight until 1.2 s. sweep_run must return MOEX_EINTR without
 * waiting for them (well before 1.2 s), the file valid with the two runs; the abandoned threads
 * end on their own later. */
/* The interrupted sweep's runs: 0 and 1 take 0.6 s, the later ones (in flight at the signal)
 * slow_long_s; each counts its start and end, so the test sees what is in flight instead of
 * guessing it from a timer (a fixed 0.9 s timer failed at load 10: run 1 was not done yet). */
static atomic_int slow_started[8], slow_ended[8];
static double slow_long_s = 0.6;

static int slow_fn(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  (void)ctx; (void)g;
  if (i < 8) atomic_store(&slow_started[i], 1);
  double secs = i < 2 ? 0.6 : slow_long_s;
  struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
  while (nanosleep(&ts, &ts) && errno == EINTR) {}
  int rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_int(rec, "i", (int64_t)i);
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_summarize(rec, NULL);
  if (i < 8) atomic_store(&slow_ended[i], 1);
  return rc;
}

static double now_s(void);
static double sigint_at;

/* SIGINT once runs 2 and 3 are in flight (so 0 and 1 have ended), and 0.3 s more for their commits. */
static void *send_sigint(void *arg) {
  (void)arg;
  struct timespec tick = {0, 10000000L}, settle = {0, 300000000L};
  for (int k = 0; k < 3000 && !(atomic_load(&slow_started[2]) && atomic_load(&slow_started[3])); k++) nanosleep(&tick, NULL);
  nanosleep(&settle, NULL);
  sigint_at = now_s();
  kill(getpid(), SIGINT);
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

START_TEST(test_interrupt_abandons_in_flight) {
  char dir[64], path[128];
  tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/int.h5", dir);
  sweep_grid_t g = {.n_axes = 1, .seeds = 6};
  g.axis[0] = (sweep_axis_t){.name = "m", .n = 1, .values = {"7"}};
  sweep_options_t o = {.experiment = "slow", .out = path, .master_seed = 11, .jobs = 2, .quiet = 1};
  sweep_stats_t st;
  pthread_t th;
  for (int k = 0; k < 8; k++) atomic_store(&slow_started[k], 0), atomic_store(&slow_ended[k], 0);
  slow_long_s = 2.5; /* runs 2 and 3 are still sleeping about 2.2 s after the signal */
  ck_assert_int_eq(pthread_create(&th, NULL, send_sigint, NULL), 0);
  int rc = sweep_run(&o, &g, slow_fn, NULL, &st);
  double back = now_s();
  /* it did not wait for the runs in flight: neither had ended when sweep_run returned */
  int in_flight_ended = atomic_load(&slow_ended[2]) + atomic_load(&slow_ended[3]);
  pthread_join(th, NULL);
  double dt = back - sigint_at;
  ck_assert_int_eq(rc, MOEX_EINTR);
  ck_assert_int_eq(st.interrupted, 1);
  ck_assert(sweep_interrupted());
  ck_assert_msg(strstr(moex_errmsg(), "2 abandoned in flight") != NULL, "%s", moex_errmsg());
  ck_assert_uint_eq(st.done, 2);
  ck_assert_msg(in_flight_ended == 0 && dt < 2.0, "sweep_run returned %.3f s after the signal, %d runs in flight had ended: it waited for them", dt, in_flight_ended);
  ck_assert_int_eq(record_check(path), 0);
  ck_assert_uint_eq(n_runs_in(path), 2);
  /* let the abandoned runs end (they free their results and the pool) */
  struct timespec tick = {0, 10000000L};
  for (int k = 0; k < 3000 && !(atomic_load(&slow_ended[2]) && atomic_load(&slow_ended[3])); k++) nanosleep(&tick, NULL);
  slow_long_s = 0.6;
  o.resume = 1;
  ck_assert_int_eq(sweep_run(&o, &g, slow_fn, NULL, &st), 0);
  ck_assert_uint_eq(st.skipped, 2);
  ck_assert_uint_eq(st.done, 4);
  ck_assert_int_eq(sweep_interrupted(), 0);
  ck_assert_uint_eq(n_runs_in(path), 6);
  rmdir_all(dir);
}
END_TEST

/* ---- end to end ------------------------------------------------------------------------------ */

START_TEST(test_jobs_identical) {
  char dir[64], a[128], b[128];
  tmpdir(dir, sizeof dir);
  snprintf(a, sizeof a, "%s/j1.h5", dir);
  snprintf(b, sizeof b, "%s/j2.h5", dir);
  ck_assert_int_eq(demo(testutil_bindir(), a, "--jobs 1 --seeds 2"), 0);
  ck_assert_int_eq(demo(testutil_bindir(), b, "--jobs 2 --seeds 2"), 0);
  ck_assert_int_eq(record_check(a), 0);
  ck_assert_uint_eq(n_runs_in(a), 8);
  files_equal(a, b, 1);
  /* a different master seed gives different numbers (the comparison can fail) */
  ck_assert_int_eq(demo(testutil_bindir(), b, "--jobs 2 --seeds 2 --master-seed 77"), 0);
  record_file *fa = record_open(a), *fb = record_open(b);
  record_summary *sa = record_read_summary(fa), *sb = record_read_summary(fb);
  const record_column *ca = record_summary_column(sa, "test_mse"), *cb = record_summary_column(sb, "test_mse");
  ck_assert(ca && cb && ca->v.d[0] != cb->v.d[0]);
  record_summary_free(sa);
  record_summary_free(sb);
  record_close(fa);
  record_close(fb);
  rmdir_all(dir);
}
END_TEST

/* SIGKILL (nothing can be cleaned up) or SIGINT (clean stop, exit 130) after 3 committed runs;
 * the file is valid and partial, and --resume completes it to the uninterrupted result. */
static void interrupt_and_resume(int sig) {
  char dir[64], ref[128], part[128], args[256], common[64];
  tmpdir(dir, sizeof dir);
  snprintf(ref, sizeof ref, "%s/ref.h5", dir);
  snprintf(part, sizeof part, "%s/part.h5", dir);
  /* runs (~100 ms each at -O3) much longer than a commit (~10-25 ms), and one worker, so that
   * after the third report the other nine take about a second: the signal lands mid-sweep even
   * when this process is scheduled late. (With two workers a slow first run let the other
   * worker finish the rest, and the commits then came in one quick burst.) When the test cases
   * run two at a time the demo can still finish before the signal lands (seen once: exit 0
   * with all 12 runs); then the same test is repeated with runs twice as long, up to twice. */
  long iters = testutil_valgrind() ? 4000 : 12000;
  int st = 0;
  for (int attempt = 0; attempt < 3; attempt++, iters *= 2) {
    snprintf(common, sizeof common, "--seeds 3 --iters %ld", iters);
    unlink(ref);
    unlink(part);
    snprintf(args, sizeof args, "%s --jobs 2", common);
    ck_assert_int_eq(demo(testutil_bindir(), ref, args), 0);
    snprintf(args, sizeof args, "%s --jobs 1", common);
    FILE *lines;
    pid_t pid = spawn_demo(part, args, &lines);
    st = kill_after(pid, lines, 3, sig);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0 && n_runs_in(part) == 12)) break;
  }
  if (sig == SIGKILL) ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  else ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
  ck_assert_msg(record_check(part) == 0, "after signal %d: %s", sig, moex_errmsg());
  size_t n = n_runs_in(part);
  ck_assert_msg(n >= 3 && n < 12, "%zu runs after the signal: the test did not interrupt anything", n);
  snprintf(args, sizeof args, "%s --jobs 2 --resume", common);
  ck_assert_int_eq(demo(testutil_bindir(), part, args), 0);
  ck_assert_int_eq(record_check(part), 0);
  ck_assert_uint_eq(n_runs_in(part), 12);
  files_equal(ref, part, 1);
  rmdir_all(dir);
}

START_TEST(test_sigkill_resume) { interrupt_and_resume(SIGKILL); }
END_TEST

START_TEST(test_sigint_resume) { interrupt_and_resume(SIGINT); }
END_TEST

START_TEST(test_shards_merge) {
  char dir[64], whole[128], s0[128], s1[128], merged[128], cmd[1024];
  tmpdir(dir, sizeof dir);
  snprintf(whole, sizeof whole, "%s/whole.h5", dir);
  snprintf(s0, sizeof s0, "%s/s0.h5", dir);
  snprintf(s1, sizeof s1, "%s/s1.h5", dir);
  snprintf(merged, sizeof merged, "%s/merged.h5", dir);
  ck_assert_int_eq(demo(testutil_bindir(), whole, "--seeds 3 --jobs 2"), 0);
  ck_assert_int_eq(demo(testutil_bindir(), s0, "--seeds 3 --jobs 2 --shard 0/2"), 0);
  ck_assert_int_eq(demo(testutil_bindir(), s1, "--seeds 3 --jobs 1 --shard 1/2"), 0);
  ck_assert_uint_eq(n_runs_in(s0), 6);
  ck_assert_uint_eq(n_runs_in(s1), 6);
  char tool[512];
  testutil_require_bin("moex-merge");
  snprintf(tool, sizeof tool, "%s/moex-merge", testutil_bindir());
  snprintf(cmd, sizeof cmd, "%s %s %s %s > %s/merge.log 2>&1", tool, merged, s0, s1, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "%s failed", cmd);
  ck_assert_int_eq(record_check(merged), 0);
  files_equal(whole, merged, 0);
  files_equal(merged, whole, 0);
  rmdir_all(dir);
}
END_TEST

START_TEST(test_bad_grids) {
  char dir[64], out[128], errf[160];
  tmpdir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/bad.h5", dir);
  snprintf(errf, sizeof errf, "%s/err", dir);
  const char *bad[] = {"--set width=", "--set depth=3", "--set E=2,,3", "--set E=0", "--shard 3/2", "--shard a/b",
                       "--shard 1/0", "--set", "--seeds 0"};
  const char *want[] = {"no values", "unknown axis 'depth'", "empty value", "E: value '0'", "--shard '3/2'",
                        "--shard 'a/b'", "--shard '1/0'", "--set needs a value", "--seeds '0'"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    ck_assert_msg(testutil_shf("%s/sweep_demo --out %s %s > /dev/null 2> %s", testutil_bindir(), out, bad[k], errf) == 2,
                  "'%s' must exit 2", bad[k]);
    FILE *f = fopen(errf, "r");
    char line[512] = "", extra[512];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(fgets(extra, sizeof extra, f) == NULL, "'%s': more than one line", bad[k]);
    fclose(f);
    ck_assert_msg(strstr(line, "sweep_demo:") == line && strstr(line, want[k]), "'%s': '%s'", bad[k], line);
    ck_assert_int_eq(access(out, F_OK), -1);
  }
  rmdir_all(dir);
}
END_TEST

/* MPI: runs only when MOEX_MPI_BIN names an MPI build's binaries, as `make check-mpi` does right
 * after rebuilding them (a build-mpi/ left from older sources would compare stale binaries).
 * Without them the test fails, unless MOEX_ALLOW_SKIP=mpi (as `make unit`, which has no MPI
 * build, sets it) makes it a listed skip. */
static int have_mpi(const char *mbin, const char *exe, char *why, size_t n) {
  if (!mbin) snprintf(why, n, "MOEX_MPI_BIN names no MPI build (`make check-mpi` builds one and runs this test)");
  else if (access(exe, X_OK) != 0) snprintf(why, n, "no %s (`make check-mpi` builds it)", exe);
  else if (testutil_sh("command -v mpirun > /dev/null 2>&1") != 0) snprintf(why, n, "no mpirun (Debian: openmpi-bin)");
  else return 1;
  return 0;
}

START_TEST(test_mpi_equals_local) {
  const char *mbin = getenv("MOEX_MPI_BIN");
  char exe[512], cmd[2048], dir[64], loc[128], mpi[128];
  snprintf(exe, sizeof exe, "%s/sweep_demo", mbin ? mbin : "(MOEX_MPI_BIN unset)");
  char why[600];
  if (!testutil_require_tool(have_mpi(mbin, exe, why, sizeof why), "mpi", why)) return;
  tmpdir(dir, sizeof dir);
  snprintf(loc, sizeof loc, "%s/local.h5", dir);
  snprintf(mpi, sizeof mpi, "%s/mpi.h5", dir);
  ck_assert_int_eq(demo(mbin, loc, "--seeds 3 --jobs 2"), 0);
  snprintf(cmd, sizeof cmd,
           "mpirun --allow-run-as-root --oversubscribe -np 3 %s --out %s --seeds 3 > %s/mpi.log 2>&1", exe, mpi, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "%s failed (see the log)", cmd);
  ck_assert_int_eq(record_check(mpi), 0);
  ck_assert_uint_eq(n_runs_in(mpi), 12);
  files_equal(loc, mpi, 1);
  /* and the same as this (non-MPI) build's local run */
  ck_assert_int_eq(demo(testutil_bindir(), loc, "--seeds 3 --jobs 1"), 0);
  files_equal(loc, mpi, 1);
  rmdir_all(dir);
}
END_TEST

/* MPI and a local run on one file: rank 0 holds the file's lock for the whole sweep, so the local
 * run is refused at once (exit 2, one line) and the MPI run completes with every run once. */
START_TEST(test_mpi_and_local_one_file) {
  const char *mbin = getenv("MOEX_MPI_BIN");
  char exe[512], cmd[2048], dir[64], out[128], lock[160], errf[160];
  snprintf(exe, sizeof exe, "%s/sweep_demo", mbin ? mbin : "(MOEX_MPI_BIN unset)");
  char why[600];
  if (!testutil_require_tool(have_mpi(mbin, exe, why, sizeof why), "mpi", why)) return;
  tmpdir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/one.h5", dir);
  snprintf(lock, sizeof lock, "%s.lock", out);
  snprintf(errf, sizeof errf, "%s/local.err", dir);
  snprintf(cmd, sizeof cmd,
           "mpirun --allow-run-as-root --oversubscribe -np 3 %s --out %s --seeds 3 --iters 12000 --quiet > %s/mpi.log 2>&1",
           exe, out, dir);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  int seen = 0;
  for (int k = 0; k < 3000 && !seen; k++) {
    seen = access(lock, F_OK) == 0;
    if (!seen) {
      struct timespec ts = {0, 10 * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  ck_assert_msg(seen, "the MPI run never took the lock");
  snprintf(cmd, sizeof cmd, "%s/sweep_demo --out %s --seeds 3 --quiet > /dev/null 2> %s", testutil_bindir(), out, errf);
  int st2 = testutil_sh(cmd);
  int st;
  waitpid(pid, &st, 0);
  FILE *f = fopen(errf, "r");
  char line[1024] = "", extra[256];
  int one = f && fgets(line, sizeof line, f) != NULL && fgets(extra, sizeof extra, f) == NULL;
  if (f) fclose(f);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mpirun: status %d", st);
  ck_assert_msg(st2 == 2 && one && strstr(line, "one.h5' is being written by process"), "local run: exit %d, '%s'", st2,
                line);
  ck_assert_int_eq(record_check(out), 0);
  ck_assert_uint_eq(n_runs_in(out), 12);
  rmdir_all(dir);
}
END_TEST

Suite *sweep_suite(void) {
  return testutil_suite("sweep",
                        /* test_interrupt_abandons_in_flight sleeps about 2.8 s: Check's default 4 s was close once
                         * the test cases run two at a time */
                        TESTUTIL_CASE("api", 30, test_grid_indexing, test_shard_parse, test_pack_roundtrip,
                                      test_pool_order_and_errors, test_interrupt_abandons_in_flight),
                        TESTUTIL_CASE("end-to-end", 120, test_jobs_identical, test_sigkill_resume, test_sigint_resume,
                                      test_shards_merge, test_bad_grids, test_mpi_equals_local,
                                      test_mpi_and_local_one_file));
}
