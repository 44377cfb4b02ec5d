/* I/O faults in every commit (issue 33), in the manner of SQLite's test VFS: a sweep of four runs
 * (a record's creation and at least three commits) is run once per k with its k-th write,
 * pwrite, ftruncate, fsync, close, rename or link on the record's files failing with ENOSPC or
 * EIO, for every k the sweep makes, once (a passing fault) and, for ENOSPC, from then on (a full
 * disk). After each: the record on disk is a good state (it verifies, and holds a prefix of the
 * undisturbed sweep's runs, bit for bit), the journal holds exactly its runs, a failed sweep said
 * so in one line naming the error, and --resume completes the record to the undisturbed one.
 *
 * The hook: this file defines those libc functions in the test binary itself, so that they take
 * the place of libc's for every caller, HDF5's own writes included (an environment variable read
 * by moex's commit code could not reach those); each passes straight to the next definition
 * (dlsym RTLD_NEXT: libc, or the sanitizer's interceptor) unless a trial armed it in its forked
 * child. Why not an LD_PRELOAD shim: it needs an exec per trial and, under ASan, a preload ahead
 * of the sanitizer's runtime, which ASan refuses; production binaries never contain this file. An
 * armed trial counts operations on files under its scratch folder only, and an fsync there is
 * counted but not carried out (durability is not what is tested, and it keeps the loop fast).
 * MOEX_FAULT_TRACE=1 prints each counted operation's number and call stack. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record_internal.h"
#include "sweep/sweep.h"

/* ---- the hook ----------------------------------------------------------------------------- */

static int armed;          /* set only in a trial's child */
static long fault_k;       /* the operation that fails (1-based; 0: none) */
static int fault_errno, fault_sticky;
static long n_ops, n_renames;
static char scope[300];    /* the scratch folder: only its files are counted */

static int in_scope_path(const char *p) { return p && !strncmp(p, scope, strlen(scope)); }
static int in_scope_fd(int fd) {
  char l[64], p[512];
  snprintf(l, sizeof l, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(l, p, sizeof p - 1);
  if (n <= 0) return 0;
  p[n] = '\0';
  return in_scope_path(p);
}
/* 1: this counted operation fails (errno set) */
static int fault_now(void) {
  long c = ++n_ops;
  if (getenv("MOEX_FAULT_TRACE")) { /* which call is operation k: its number and call stack */
    fprintf(stderr, "op %ld\n", c);
    void *bt[12];
    backtrace_symbols_fd(bt, backtrace(bt, 12), 2);
  }
  if (fault_k && (c == fault_k || (fault_sticky && c > fault_k))) {
    errno = fault_errno;
    return 1;
  }
  return 0;
}
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*ftruncate_fn)(int, off_t);
typedef int (*fd_fn)(int);
typedef int (*paths_fn)(const char *, const char *);
#define REAL(name, type)      \
  static type real_##name;    \
  if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *b, size_t n) {
  REAL(write, write_fn);
  if (armed && in_scope_fd(fd) && fault_now()) return -1;
  return real_write(fd, b, n);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
  REAL(pwrite, pwrite_fn);
  if (armed && in_scope_fd(fd) && fault_now()) return -1;
  return real_pwrite(fd, b, n, off);
}
int ftruncate(int fd, off_t len) {
  REAL(ftruncate, ftruncate_fn);
  if (armed && in_scope_fd(fd) && fault_now()) return -1;
  return real_ftruncate(fd, len);
}
int fsync(int fd) {
  REAL(fsync, fd_fn);
  if (armed && in_scope_fd(fd)) return fault_now() ? -1 : 0;
  return real_fsync(fd);
}
/* Only a descriptor open for writing: a close can report a write the kernel delayed, never a
 * read-only one's. */
static int writable(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
}
int close(int fd) {
  REAL(close, fd_fn);
  if (armed && in_scope_fd(fd) && writable(fd) && fault_now()) {
    int e = errno;
    real_close(fd); /* Linux closes the descriptor even when it reports an error */
    errno = e;
    return -1;
  }
  return real_close(fd);
}
int rename(const char *a, const char *b) {
  REAL(rename, paths_fn);
  if (armed && (in_scope_path(a) || in_scope_path(b))) {
    if (fault_now()) return -1;
    n_renames++;
  }
  return real_rename(a, b);
}
int link(const char *a, const char *b) {
  REAL(link, paths_fn);
  if (armed && (in_scope_path(a) || in_scope_path(b)) && fault_now()) return -1;
  return real_link(a, b);
}

/* ---- the sweep ---------------------------------------------------------------------------- */

static testutil_tmp T;
static void setup(void) {
  if (access("/dev/shm", W_OK) == 0) setenv("TMPDIR", "/dev/shm", 1); /* in memory where possible */
  testutil_tmp_make(&T, "faults");
}
static void teardown(void) { testutil_tmp_remove(&T); }

static int run_fn(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  (void)ctx;
  double W[24];
  for (int k = 0; k < 24; k++) W[k] = cos(0.37 * k + (double)i) * 2.385;
  size_t dims[2] = {6, 4};
  int rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_str(rec, "m", sweep_grid_value(g, i, "m"));
  if (!rc) rc = record_run_set_double(rec, "test_mse", 1.0 / (double)(seed % 997 + 3));
  if (!rc) rc = record_run_summarize(rec, NULL);
  if (!rc) rc = record_run_add_double(rec, "params/W", W, 2, dims);
  const char *cols[] = {"iter", "loss"};
  record_table *t = rc ? NULL : record_run_add_table(rec, "curve", 2, cols);
  for (int k = 0; t && k < 12; k++) rc = record_table_append(t, (double[]){k, 1.0 / (k + 1 + (double)i)});
  struct timespec ts = {0, 1000000L}; /* the committer catches up: one commit per run */
  nanosleep(&ts, NULL);
  return rc;
}

/* The sweep into path in a child, armed with (k, errno, sticky); its exit status, the operations
 * it counted and the renames, its error message. */
/* Every k; under the sanitizers (make asan), where a trial costs four times more, every third. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define K_STEP 3
#else
#define K_STEP 1
#endif

static size_t n_values = 4; /* of the grid: 2 makes the first half of the sweep */
/* Runs fn(arg) in a child with the fault armed at (k, err, sticky); the operations and renames
 * it counted and, when fn failed, its error message come back through a pipe. Returns the
 * child's exit status (1 when fn failed); a child that dies fails the test, naming `what`. */
static int armed_child(long k, int err, int sticky, int (*fn)(void *), void *arg, long *ops, long *renames, char *msg,
                       size_t msz, const char *what) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    fault_k = k;
    fault_errno = err;
    fault_sticky = sticky;
    armed = 1;
    int rc = fn(arg);
    armed = 0;
    char out[1200];
    int n = snprintf(out, sizeof out, "%ld %ld %s", n_ops, n_renames, rc ? moex_errmsg() : "");
    ssize_t w = write(fds[1], out, (size_t)n);
    (void)w;
    _exit(rc ? 1 : 0);
  }
  close(fds[1]);
  char buf[1200];
  ssize_t got = 0, r;
  while ((r = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0) got += r;
  buf[got > 0 ? got : 0] = '\0';
  close(fds[0]);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_msg(WIFEXITED(st), "the %s died (status %d) with k = %ld", what, st, k);
  int used = 0;
  ck_assert_int_eq(sscanf(buf, "%ld %ld %n", ops, renames, &used) >= 2, 1);
  snprintf(msg, msz, "%s", buf + used);
  return WEXITSTATUS(st);
}

typedef struct {
  const char *path;
  int resume;
} sweep_arg;

static int sweep_fn(void *varg) {
  const sweep_arg *a = varg;
  sweep_grid_t g = {.n_axes = 1, .seeds = 1};
  g.axis[0] = (sweep_axis_t){.name = "m", .n = n_values, .values = {"4", "8", "16", "32"}};
  sweep_options_t o = {.experiment = "faults", .out = a->path, .master_seed = 2385, .jobs = 1, .quiet = 1,
                       .resume = a->resume, .command_line = "faults"};
  return sweep_run(&o, &g, run_fn, NULL, NULL);
}

static int sweep_child(const char *path, int resume, long k, int err, int sticky, long *ops, long *renames, char *msg,
                       size_t msz) {
  sweep_arg a = {path, resume};
  return armed_child(k, err, sticky, sweep_fn, &a, ops, renames, msg, msz, "sweep");
}

/* The runs of path (none when it does not exist): read whole, each verified. */
static const char *cur_what = "";
static size_t runs_of(const char *path, record_run ***out) {
  *out = NULL;
  if (access(path, F_OK) != 0) return 0;
  /* in process: these files are whole or not there (a crash would fail the test anyway) */
  ck_assert_msg(record_check(path) == 0, "%s: the record on disk is not a good state: %s", cur_what, moex_errmsg());
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  size_t n = record_n_runs(f);
  *out = calloc(n + 1, sizeof **out);
  for (size_t i = 0; i < n; i++) ck_assert_ptr_nonnull((*out)[i] = record_read_run(f, record_run_id(f, i), RECORD_READ_ALL));
  record_close(f);
  return n;
}

static void runs_free(record_run **r, size_t n) {
  for (size_t i = 0; i < n; i++) record_run_free(r[i]);
  free(r);
}

/* path holds a prefix of ref's runs, bit for bit, and its journal exactly those runs. */
static size_t expect_prefix(const char *path, record_run **ref, size_t n_ref, const char *what) {
  record_run **got;
  size_t n = runs_of(path, &got);
  ck_assert_msg(n <= n_ref, "%s: %zu runs, more than the sweep has", what, n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(record_run_compare(ref[i], got[i]) == 0, "%s: run %zu differs: %s", what, i, moex_errmsg());
  if (n) {
    char jp[1100];
    snprintf(jp, sizeof jp, "%s.journal", path);
    record_journal_contents jc;
    ck_assert_int_eq(record_journal_read(jp, &jc), 0);
    ck_assert_msg(jc.n == n && jc.n_bad == 0 && jc.has_meta, "%s: the journal holds %zu runs (%zu damaged), the record %zu",
                  what, jc.n, jc.n_bad, n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(record_run_compare(jc.e[i].run, got[i]), 0);
    record_journal_contents_free(&jc);
  }
  runs_free(got, n);
  return n;
}

START_TEST(test_faults_every_commit) {
  snprintf(scope, sizeof scope, "%s/", T.dir);
  char path[400], msg[1200];
  snprintf(path, sizeof path, "%s/f.h5", T.dir);
  long total, renames, ops;
  ck_assert_int_eq(sweep_child(path, 0, 0, 0, 0, &total, &renames, msg, sizeof msg), 0);
  ck_assert_msg(renames >= 4, "%ld renames: the sweep must make at least three commits", renames);
  record_run **ref;
  size_t n_ref = runs_of(path, &ref);
  ck_assert_uint_eq(n_ref, 4);
  const int errs[3] = {ENOSPC, EIO, ENOSPC}, sticky[3] = {0, 0, 1};
  int failed = 0, trials = 0;
  for (int m = 0; m < 3; m++)
    for (long k = 1; k <= total; k += sticky[m] ? 5 * K_STEP : K_STEP, trials++) { /* a full disk: every fifth k */
      char what[160];
      snprintf(what, sizeof what, "%s%s at operation %ld of %ld", strerror(errs[m]), sticky[m] ? " from then on" : "", k,
               total);
      unlink(path);
      cur_what = what;
      int st = sweep_child(path, 0, k, errs[m], sticky[m], &ops, &renames, msg, sizeof msg);
      if (st) {
        failed++;
        ck_assert_msg(!strchr(msg, '\n') && (!strncmp(msg, "record: ", 8) || !strncmp(msg, "sweep: ", 7)) &&
                          strstr(msg, strerror(errs[m])),
                      "%s: the message '%s'", what, msg);
      }
      if (!sticky[m] || st == 0) expect_prefix(path, ref, n_ref, what);
      else {
        record_run **got;
        runs_free(got, runs_of(path, &got)); /* a good state; its journal is put right by the resume */
      }
      ck_assert_msg(sweep_child(path, 1, 0, 0, 0, &ops, &renames, msg, sizeof msg) == 0, "%s: resume failed: %s", what, msg);
      ck_assert_msg(expect_prefix(path, ref, n_ref, what) == n_ref, "%s: the resumed record is not complete", what);
    }
  runs_free(ref, n_ref);
  fprintf(stderr, "faults: %d trials over %ld operations, %d ended the sweep with a message\n", trials, total, failed);
  ck_assert_int_gt(failed, trials / 2);
}
END_TEST

static void copy_file(const char *from, const char *to) {
  size_t n = 0;
  char *b = testutil_slurp(from, &n);
  ck_assert_ptr_nonnull(b);
  FILE *f = fopen(to, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
  free(b);
}

/* The same on --resume of the sweep's first half, from a record without a journal (written
 * before journals, or whose journal was lost): the resume rebuilds the journal, then commits. */
START_TEST(test_faults_resume) {
  snprintf(scope, sizeof scope, "%s/", T.dir);
  char path[400], half[400], full[400], hj[420], pj[420], msg[1200];
  snprintf(path, sizeof path, "%s/f.h5", T.dir);
  snprintf(pj, sizeof pj, "%s.journal", path);
  snprintf(half, sizeof half, "%s/half.h5", T.dir);
  snprintf(hj, sizeof hj, "%s.journal", half);
  snprintf(full, sizeof full, "%s/full.h5", T.dir);
  long total, renames, ops;
  n_values = 2;
  ck_assert_int_eq(sweep_child(half, 0, 0, 0, 0, &ops, &renames, msg, sizeof msg), 0);
  n_values = 4;
  ck_assert_int_eq(unlink(hj), 0);
  ck_assert_int_eq(sweep_child(full, 0, 0, 0, 0, &ops, &renames, msg, sizeof msg), 0);
  record_run **ref;
  size_t n_ref = runs_of(full, &ref);
  copy_file(half, path);
  ck_assert_int_eq(sweep_child(path, 1, 0, 0, 0, &total, &renames, msg, sizeof msg), 0);
  ck_assert_uint_eq(expect_prefix(path, ref, n_ref, "undisturbed resume"), n_ref);
  int failed = 0;
  long trials = 0;
  for (long k = 1; k <= total; k += K_STEP, trials++) {
    char what[160];
    snprintf(what, sizeof what, "resume: %s at operation %ld of %ld", strerror(EIO), k, total);
    cur_what = what;
    copy_file(half, path);
    unlink(pj);
    int st = sweep_child(path, 1, k, EIO, 0, &ops, &renames, msg, sizeof msg);
    if (st) {
      failed++;
      ck_assert_msg(!strchr(msg, '\n') && strstr(msg, strerror(EIO)), "%s: the message '%s'", what, msg);
    }
    record_run **got;
    size_t n = runs_of(path, &got); /* a good state, holding at least the half */
    ck_assert_msg(n >= 2, "%s: %zu runs", what, n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(record_run_compare(ref[i], got[i]), 0);
    runs_free(got, n);
    ck_assert_msg(sweep_child(path, 1, 0, 0, 0, &ops, &renames, msg, sizeof msg) == 0, "%s: resume failed: %s", what, msg);
    ck_assert_msg(expect_prefix(path, ref, n_ref, what) == n_ref, "%s: the resumed record is not complete", what);
  }
  runs_free(ref, n_ref);
  fprintf(stderr, "faults on resume: %ld trials over %ld operations, %d ended the sweep with a message\n", trials, total,
          failed);
  ck_assert_int_gt(failed, trials / 2);
}
END_TEST

/* record_writer_open(path, RECORD_NEW) and its close: they end without an error whatever fails
 * (a failed open is a NULL writer), so the child's status tells only whether it died. */
static int create_fn(void *path) {
  record_meta_in meta = {"faults", "{}", "a new record"};
  record_writer_close(record_writer_open(path, &meta, RECORD_NEW));
  return 0;
}

/* create_fn in a child armed with (k, EIO, passing); the operations it counted. */
static long create_child(const char *path, long k) {
  long ops = 0, renames = 0;
  char msg[1200];
  ck_assert_int_eq(armed_child(k, EIO, 0, create_fn, (void *)path, &ops, &renames, msg, sizeof msg, "writer"), 0);
  return ops;
}

/* A new record over an existing one, its k-th operation failing, for every k: the old record
 * is never left without its journal (the new journal replaces it only after the new record is
 * in place). */
START_TEST(test_faults_create_over) {
  snprintf(scope, sizeof scope, "%s/", T.dir);
  char path[400], old[400], oj[420], pj[420], msg[1200];
  snprintf(old, sizeof old, "%s/old.h5", T.dir);
  snprintf(oj, sizeof oj, "%s.journal", old);
  snprintf(path, sizeof path, "%s/f.h5", T.dir);
  snprintf(pj, sizeof pj, "%s.journal", path);
  long ops, renames;
  ck_assert_int_eq(sweep_child(old, 0, 0, 0, 0, &ops, &renames, msg, sizeof msg), 0);
  record_run **ref;
  size_t n_ref = runs_of(old, &ref);
  ck_assert_uint_eq(n_ref, 4);
  copy_file(old, path);
  copy_file(oj, pj);
  long total = create_child(path, 0);
  ck_assert_uint_eq(expect_prefix(path, ref, n_ref, "undisturbed creation"), 0);
  int kept_old = 0;
  for (long k = 1; k <= total; k++) {
    char what[160];
    snprintf(what, sizeof what, "a new record over an old one: %s at operation %ld of %ld", strerror(EIO), k, total);
    cur_what = what;
    copy_file(old, path);
    copy_file(oj, pj);
    create_child(path, k);
    kept_old += expect_prefix(path, ref, n_ref, what) == n_ref; /* the old with its journal, or the new */
  }
  runs_free(ref, n_ref);
  fprintf(stderr, "faults on creation over a record: %ld trials, %d left the old record in place\n", total, kept_old);
  ck_assert_int_gt(kept_old, 0);
}
END_TEST

Suite *salvage_faults_suite(void) {
  return testutil_suite("salvage_faults",
                        TESTUTIL_CASE_FIXTURE("faults", 300, setup, teardown, test_faults_every_commit, test_faults_create_over),
                        TESTUTIL_CASE_FIXTURE("faults-resume", 300, setup, teardown, test_faults_resume));
}
