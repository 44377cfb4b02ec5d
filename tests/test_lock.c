/* One writer per records file (record_lock), and what a killed writer leaves: the lock API, a
 * stale lock taken over, two writers in one process, two experiment processes on one file (with
 * and without --resume), and working copies left by a writer killed at its file-size limit. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record.h"

static testutil_tmp L; /* the test's folder, made and removed by the fixture */

/* A path in the test's folder (testutil_tmp_path's buffers rotate: a test may keep 64). */
static const char *lpath(const char *name) { return testutil_tmp_path(&L, name); }

static void setup(void) { testutil_tmp_make(&L, "lock"); }

static void teardown(void) { testutil_tmp_remove(&L); }

static const record_meta_in META = {"lock_exp", "{}", "moex_tests lock"};

static record_run *small_run(const char *id, size_t n) {
  record_run *r = record_run_alloc(id);
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(record_run_set_str(r, "status", "ok"), 0);
  ck_assert_int_eq(record_run_summarize(r, NULL), 0);
  double *x = calloc(n, sizeof *x);
  for (size_t i = 0; i < n; i++) x[i] = (double)i;
  size_t dims[1] = {n};
  ck_assert_int_eq(record_run_add_double(r, "x", x, 1, dims), 0);
  free(x);
  return r;
}

START_TEST(test_lock_api) {
  const char *p = lpath("a.h5");
  record_lock *l = record_lock_take(p);
  ck_assert_ptr_nonnull(l);
  ck_assert_int_eq(access(lpath("a.h5.lock"), F_OK), 0);
  /* a second taker, here in the same process (flock belongs to the open file) */
  ck_assert_ptr_null(record_lock_take(p));
  char want[64];
  snprintf(want, sizeof want, "is being written by process %ld on ", (long)getpid());
  ck_assert_msg(strstr(moex_errmsg(), want) && strstr(moex_errmsg(), "a.h5' is being") &&
                    strstr(moex_errmsg(), "(started 20"),
                "message: %s", moex_errmsg());
  ck_assert_ptr_null(record_writer_open(p, &META, RECORD_NEW));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), want));
  ck_assert_int_eq(access(p, F_OK), -1); /* refused before anything was written */
  record_lock_release(l);
  ck_assert_int_eq(access(lpath("a.h5.lock"), F_OK), -1);
  l = record_lock_take(p);
  ck_assert_ptr_nonnull(l);
  record_lock_release(l);
  /* a folder that does not exist: the error names the lock file */
  ck_assert_ptr_null(record_lock_take(lpath("nodir/a.h5")));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "nodir/a.h5.lock"));
  ck_assert_ptr_null(record_lock_take(""));
}
END_TEST

/* A lock file whose holder is gone (killed: the kernel dropped its lock) is taken over. */
START_TEST(test_lock_stale) {
  const char *p = lpath("s.h5"), *lp = lpath("s.h5.lock");
  FILE *f = fopen(lp, "w");
  fprintf(f, "pid 999999 host elsewhere started 2020-01-01T00:00:00Z\n");
  fclose(f);
  record_lock *l = record_lock_take(p);
  ck_assert_ptr_nonnull(l);
  char line[256] = "", want[64];
  f = fopen(lp, "r");
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
  fclose(f);
  snprintf(want, sizeof want, "pid %ld host ", (long)getpid());
  ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "lock file says '%s'", line);
  record_lock_release(l);

  /* a holder killed by SIGKILL */
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    record_lock *c = record_lock_take(p);
    char ok = c ? 'y' : 'n';
    if (write(fds[1], &ok, 1) != 1) _exit(3);
    pause();
    _exit(0);
  }
  close(fds[1]);
  char ok = 0;
  ck_assert_int_eq(read(fds[0], &ok, 1), 1);
  close(fds[0]);
  ck_assert_int_eq(ok, 'y');
  ck_assert_ptr_null(record_lock_take(p));
  char want2[64];
  snprintf(want2, sizeof want2, "by process %ld on", (long)pid);
  ck_assert_msg(strstr(moex_errmsg(), want2) != NULL, "message: %s", moex_errmsg());
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  ck_assert_int_eq(access(lp, F_OK), 0); /* left behind */
  l = record_lock_take(p);
  ck_assert_ptr_nonnull(l);
  record_lock_release(l);
}
END_TEST

/* Two writers on one file in one process: the second is refused, the first is undisturbed
 * (its working copy is not removed under it). */
START_TEST(test_lock_two_writers_api) {
  const char *p = lpath("w.h5");
  record_writer *a = record_writer_open(p, &META, RECORD_NEW);
  ck_assert_ptr_nonnull(a);
  record_run *r1 = small_run("r1", 10), *r2 = small_run("r2", 10);
  ck_assert_int_eq(record_writer_append(a, &r1, 1), 0);
  ck_assert_int_eq(access(lpath("w.h5.tmp"), F_OK), 0); /* a's working copy */
  ck_assert_ptr_null(record_writer_open(p, &META, RECORD_RESUME));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "is being written by process"));
  ck_assert_ptr_null(record_writer_open(p, &META, RECORD_NEW));
  ck_assert_int_eq(access(lpath("w.h5.tmp"), F_OK), 0);
  ck_assert_int_eq(record_writer_append(a, &r2, 1), 0);
  record_writer_close(a);
  ck_assert_int_eq(access(lpath("w.h5.lock"), F_OK), -1);
  ck_assert_int_eq(access(lpath("w.h5.tmp"), F_OK), -1);
  ck_assert_msg(record_check(p) == 0, "%s", moex_errmsg());
  record_file *f = record_open(p);
  ck_assert_uint_eq(record_n_runs(f), 2);
  record_close(f);
  record_run_free(r1);
  record_run_free(r2);
}
END_TEST

/* A writer killed at its file-size limit (SIGXFSZ) in the middle of a commit leaves OUT.h5.tmp
 * (and the lock file); the file still holds every committed run, and the next writer removes
 * the leftovers. With SIGXFSZ ignored, the same limit is a full disk: the commit fails with a
 * message, nothing is lost, and the writer stays usable. */
START_TEST(test_lock_killed_at_file_size_limit) {
  const char *p = lpath("big.h5");
  pid_t pid = fork();
  if (pid == 0) {
    record_writer *w = record_writer_open(p, &META, RECORD_NEW);
    if (!w) _exit(3);
    record_run *r = small_run("first", 100);
    if (record_writer_append(w, &r, 1)) _exit(4);
    record_run_free(r);
    struct rlimit rl = {1 << 20, 1 << 20}; /* 1 MiB: the next run is 4 MB */
    setrlimit(RLIMIT_FSIZE, &rl);
    r = small_run("second", 500000);
    record_writer_append(w, &r, 1);
    _exit(5); /* not reached: SIGXFSZ */
  }
  int st;
  waitpid(pid, &st, 0);
  ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ, "child status %d", st);
  ck_assert_int_eq(access(lpath("big.h5.tmp"), F_OK), 0);
  ck_assert_int_eq(access(lpath("big.h5.lock"), F_OK), 0);
  ck_assert_int_eq(record_check(p), 0);
  record_writer *w = record_writer_open(p, &META, RECORD_RESUME);
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(access(lpath("big.h5.tmp"), F_OK), -1);
  ck_assert_uint_eq(record_writer_n_runs(w), 1);
  ck_assert(record_writer_has(w, "first"));

  /* a full disk: the write fails (EFBIG), the commit is refused, the writer goes on */
  pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_FSIZE, &rl);
    record_writer *c = w; /* the parent's writer, in the child's copy of the process */
    record_run *r = small_run("second", 500000);
    if (record_writer_append(c, &r, 1) == 0) _exit(6);
    if (!strstr(moex_errmsg(), "big.h5")) _exit(7);
    record_run_free(r);
    r = small_run("third", 10);
    _exit(record_writer_append(c, &r, 1) == 0 ? 0 : 8);
  }
  waitpid(pid, &st, 0);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "full-disk child status %d", st);
  record_writer_close(w);
  ck_assert_int_eq(record_check(p), 0);
  record_file *f = record_open(p);
  ck_assert_uint_eq(record_n_runs(f), 2);
  ck_assert(record_has_run(f, "first") && record_has_run(f, "third") && !record_has_run(f, "second"));
  record_close(f);
}
END_TEST

/* ---- two experiment processes on one file ------------------------------------------------ */

static pid_t spawn_sh(const char *cmd) {
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  return pid;
}

static int wait_for_file(const char *path, double seconds) {
  for (int k = 0; k < (int)(seconds * 100); k++) {
    if (access(path, F_OK) == 0) return 1;
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* Every run of the file once: /runs and /summary agree (record_check) and the ids are distinct. */
static void expect_runs_once(const char *path, size_t n) {
  ck_assert_msg(record_check(path) == 0, "%s", moex_errmsg());
  record_file *f = record_open(path);
  ck_assert_uint_eq(record_n_runs(f), n);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < i; j++) ck_assert_str_ne(record_run_id(f, i), record_run_id(f, j));
  record_close(f);
}

static void two_processes(const char *first_bin, const char *second_bin, const char *first_args,
                          const char *second_args, const char *prog, size_t n_runs) {
  const char *out = lpath("same.h5"), *lock = lpath("same.h5.lock");
  char cmd[2048];
  const char *log = lpath("first.log");
  snprintf(cmd, sizeof cmd, "%s %s --out %s > %s 2>&1", first_bin, first_args, out, log);
  pid_t first = spawn_sh(cmd);
  ck_assert_msg(wait_for_file(lock, 30), "the first writer never took the lock");
  snprintf(cmd, sizeof cmd, "%s %s --out %s", second_bin, second_args, out);
  const char *errf = lpath("second.err");
  char full[2400];
  snprintf(full, sizeof full, "%s > /dev/null 2> %s", cmd, errf);
  int st2 = testutil_sh(full);
  int st;
  waitpid(first, &st, 0);
  FILE *f = fopen(errf, "r");
  char line[1024] = "", extra[256];
  ck_assert_ptr_nonnull(f);
  int one = fgets(line, sizeof line, f) != NULL && fgets(extra, sizeof extra, f) == NULL;
  fclose(f);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the first writer: status %d (see %s)", st, log);
  ck_assert_msg(st2 == 2 && one, "the second writer: exit %d, stderr '%s'", st2, line);
  ck_assert_msg(strncmp(line, prog, strlen(prog)) == 0 && strstr(line, "same.h5' is being written by process") &&
                    strstr(line, "(started "),
                "the second writer said '%s'", line);
  expect_runs_once(out, n_runs);
  ck_assert_int_eq(access(lock, F_OK), -1);
  ck_assert_int_eq(access(lpath("same.h5.tmp"), F_OK), -1);
  ck_assert_int_eq(access(lpath("same.h5.old"), F_OK), -1);
}

START_TEST(test_lock_two_experiments) {
  char exe[512];
  snprintf(exe, sizeof exe, "%s/paper_exp1", testutil_bindir());
  two_processes(exe, exe, "--quick --quiet --jobs 1", "--quick --quiet --jobs 1", "paper_exp1:", 32);
}
END_TEST

START_TEST(test_lock_two_experiments_resume) {
  char exe[512], cmd[1024];
  snprintf(exe, sizeof exe, "%s/paper_exp1", testutil_bindir());
  /* a partial file first (one embedding), then both resume it */
  ck_assert_int_eq(testutil_shf("%s --quick --quiet --set embed=axis --out %s > /dev/null 2>&1", exe, lpath("same.h5")), 0);
  expect_runs_once(lpath("same.h5"), 16);
  two_processes(exe, exe, "--quick --quiet --jobs 1 --resume", "--quick --quiet --jobs 1 --resume", "paper_exp1:", 32);
  /* nothing left to do */
  snprintf(cmd, sizeof cmd, "%s --quick --quiet --resume --out %s", exe, lpath("same.h5"));
  FILE *p = popen(cmd, "r");
  char line[512] = "";
  ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
  ck_assert_int_eq(pclose(p), 0);
  ck_assert_msg(strstr(line, "0 runs done, 32 skipped"), "%s", line);
}
END_TEST

Suite *lock_suite(void) {
  Suite *s = suite_create("lock");
  TCase *tc = testutil_tcase(s, "core", 120,
                             test_lock_api, test_lock_stale, test_lock_two_writers_api,
                             test_lock_killed_at_file_size_limit, test_lock_two_experiments,
                             test_lock_two_experiments_resume);
  tcase_add_checked_fixture(tc, setup, teardown);
  return s;
}
