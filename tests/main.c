/* The moex test runner: every suite of tests/test_*.c, its test cases spread over a pool of worker
 * processes (MOEX_TEST_JOBS, default the core count), ending in one Check-style summary line.
 * CK_FORK (default yes) isolates crashes; valgrind runs use CK_FORK=no, which runs serially.
 * No silent passes: a test whose tool is missing fails unless MOEX_ALLOW_SKIP names the tool
 * (testutil.h), and then its skip is listed with the reason above the summary line; a selection
 * (CK_RUN_SUITE, CK_RUN_CASE) that matches no test case fails unless MOEX_ALLOW_EMPTY=1. */
#define TESTUTIL_RUNNER /* this file defines the registry the macros of testutil.h feed */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#define MOEX_SUITE(name) Suite *name(void);
#include "suites.inc"
#undef MOEX_SUITE

/* ---- the registry: which test cases each suite has (Check does not list them) ---------------- */

typedef struct {
  char *suite, *tcase;
  double expect; /* seconds, from tests/durations.inc: the pool starts the longest first */
  pid_t pid;
  int res_fd;    /* read end of the pipe the worker writes its counts to */
  int done, printed, run, failures, errors;
  char *skips;   /* the allowed skips' lines, "test: what missing: why\n" each, or NULL */
  double wall, cpu;
  struct timespec t0;
} runner_job;

typedef struct {
  void *p;
  char *name;
} reg_entry;
static reg_entry reg_suites[256], reg_tcases[1024];
static int n_reg_suites, n_reg_tcases;
static runner_job jobs[1024];
static int n_jobs;

Suite *testutil_suite_create(const char *name) {
  Suite *s = suite_create(name);
  if (n_reg_suites < 256) reg_suites[n_reg_suites++] = (reg_entry){s, strdup(name)};
  return s;
}

TCase *testutil_tcase_create(const char *name) {
  TCase *tc = tcase_create(name);
  if (n_reg_tcases < 1024) reg_tcases[n_reg_tcases++] = (reg_entry){tc, strdup(name)};
  return tc;
}

static const char *reg_name(void *p, const reg_entry *r, int n) {
  for (int i = n - 1; i >= 0; i--)
    if (r[i].p == p) return r[i].name;
  return NULL;
}

void testutil_suite_add_tcase(Suite *s, TCase *tc) {
  suite_add_tcase(s, tc);
  const char *sn = reg_name(s, reg_suites, n_reg_suites), *tn = reg_name(tc, reg_tcases, n_reg_tcases);
  if (!sn || !tn || n_jobs >= 1024) {
    fprintf(stderr, "moex_tests: a test case was not registered (suite %s, case %s)\n", sn ? sn : "?", tn ? tn : "?");
    exit(EXIT_FAILURE);
  }
  /* srunner_run selects by name: two cases of one name in a suite are one job */
  for (int i = 0; i < n_jobs; i++)
    if (!strcmp(jobs[i].suite, sn) && !strcmp(jobs[i].tcase, tn)) return;
  jobs[n_jobs++] = (runner_job){.suite = strdup(sn), .tcase = strdup(tn), .expect = -1, .res_fd = -1};
}

/* ---- skips (testutil.h): each allowed one is a line in MOEX_SKIP_FILE, which the runner lists --- */

int testutil_skip_allowed(const char *what) {
  const char *a = getenv("MOEX_ALLOW_SKIP");
  size_t n = strlen(what);
  for (const char *p = a ? a : ""; *p;) {
    size_t k = strcspn(p, ", ");
    if ((k == n && !strncmp(p, what, n)) || (k == 3 && !strncmp(p, "all", 3))) return 1;
    p += k;
    p += strspn(p, ", ");
  }
  return 0;
}

int testutil_require_tool_at(int present, const char *what, const char *why, const char *where, const char *file,
                             int line) {
  if (present) return 1;
  /* ck_abort_msg's own function, so that the failure names the test's line, not this one */
  if (!testutil_skip_allowed(what))
    _ck_assert_failed(file, line, "Failed", "%s missing: %s; MOEX_ALLOW_SKIP=%s would make this a listed skip", what,
                      why, what);
  /* Check's tcase_name() is the running test's name; START_TEST names its function NAME_fn, and
   * a helper that asks says so */
  const char *test = tcase_name(), *skip_file = getenv("MOEX_SKIP_FILE");
  size_t wl = strlen(where);
  if (wl > 3 && !strcmp(where + wl - 3, "_fn")) wl -= 3;
  int helper = !test || strlen(test) != wl || strncmp(test, where, wl);
  FILE *f = skip_file && *skip_file ? fopen(skip_file, "a") : NULL;
  fprintf(f ? f : stderr, "%s%s%s%.*s%s: %s missing: %s\n", f ? "" : "SKIP ", test ? test : "?", helper ? " (in " : "",
          helper ? (int)wl : 0, where, helper ? ")" : "", what, why);
  if (f) fclose(f);
  return 0;
}

/* The skip lines of `path` (NULL when none), the file removed. */
static char *skips_take(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  char nl_line[2049] = "\n", *line = nl_line + 1;
  while (fgets(line, sizeof nl_line - 1, f)) {
    size_t k = strlen(line);
    /* one line per skip: a helper called twice in one test says it once */
    if (buf && (!strncmp(buf, line, k) || strstr(buf, nl_line))) continue;
    if (len + k + 1 > cap) {
      cap = 2 * (len + k + 1);
      buf = realloc(buf, cap);
      if (!buf) exit(EXIT_FAILURE);
    }
    memcpy(buf + len, line, k + 1);
    len += k;
  }
  fclose(f);
  unlink(path);
  return buf;
}

/* Lists the skips above the summary line; returns their number. */
static int skips_print(const char *suite, const char *tcase, const char *lines) {
  int n = 0;
  for (const char *p = lines; p && *p; n++) {
    size_t k = strcspn(p, "\n");
    if (suite) printf("SKIP %s:%s:%.*s\n", suite, tcase, (int)k, p);
    else printf("SKIP %.*s\n", (int)k, p);
    p += k + (p[k] == '\n');
  }
  return n;
}

static void skips_total(int n) {
  if (n > 0) printf("%d skip%s allowed by MOEX_ALLOW_SKIP=%s, listed above with the reasons\n", n, n == 1 ? "" : "s",
                    getenv("MOEX_ALLOW_SKIP"));
}

/* ---- MOEX_TEST_SELFFAIL=1: a suite that must fail, to show the pool reports failures --------- */

START_TEST(selffail_fails) { ck_abort_msg("MOEX_TEST_SELFFAIL: deliberate failure"); }
END_TEST

START_TEST(selffail_passes) { ck_assert_int_eq(1 + 1, 2); }
END_TEST

/* A tool that is never there: a failure, or with MOEX_ALLOW_SKIP=selffail-tool a listed skip. */
START_TEST(selffail_skips) {
  if (!testutil_require_tool(0, "selffail-tool", "deliberately absent")) return;
  ck_abort_msg("MOEX_TEST_SELFFAIL: a test ran on without its tool");
}
END_TEST

/* An unchecked fixture runs in the worker process itself (not in Check's per-test fork): its
 * abort kills the worker, which the runner must count, not lose. */
static void selffail_abort(void) { abort(); }

static Suite *selffail_suite(void) {
  Suite *s = testutil_suite_create("selffail");
  TCase *f = testutil_tcase_create("fails");
  tcase_add_test(f, selffail_fails);
  tcase_add_test(f, selffail_passes);
  testutil_suite_add_tcase(s, f);
  TCase *c = testutil_tcase_create("crashes");
  tcase_add_unchecked_fixture(c, selffail_abort, NULL);
  tcase_add_test(c, selffail_passes);
  testutil_suite_add_tcase(s, c);
  TCase *k = testutil_tcase_create("skips");
  tcase_add_test(k, selffail_skips);
  testutil_suite_add_tcase(s, k);
  TCase *p = testutil_tcase_create("passes");
  tcase_add_test(p, selffail_passes);
  testutil_suite_add_tcase(s, p);
  return s;
}

/* ---- the pool --------------------------------------------------------------------------------- */

static const struct { const char *suite, *tcase; double seconds; } DURATIONS[] = {
#include "durations.inc"
};

static double now_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static double tv_s(const struct timeval *t) { return (double)t->tv_sec + 1e-6 * (double)t->tv_usec; }

static int selected(const runner_job *j) {
  const char *s = getenv("CK_RUN_SUITE"), *c = getenv("CK_RUN_CASE");
  return (!s || !*s || !strcmp(s, j->suite)) && (!c || !*c || !strcmp(c, j->tcase));
}

static char outdir[512];

static void job_path(char *buf, size_t n, int i) { snprintf(buf, n, "%s/%d.out", outdir, i); }
static void skip_path(char *buf, size_t n, int i) { snprintf(buf, n, "%s/%d.skip", outdir, i); }

/* The worker: runs one test case, its output (and its tests' output) into a file of its own,
 * then writes "run failures errors" to the pipe. */
static void worker(SRunner *sr, int i, int res_fd, int verbose) {
  char path[600];
  job_path(path, sizeof path, i);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
  close(fd);
  skip_path(path, sizeof path, i);
  setenv("MOEX_SKIP_FILE", path, 1);
  srunner_run(sr, jobs[i].suite, jobs[i].tcase, CK_SILENT);
  int run = srunner_ntests_run(sr), nf = srunner_ntests_failed(sr), failures = 0, errors = 0;
  TestResult **tr = srunner_failures(sr);
  for (int k = 0; k < nf; k++) {
    if (tr_rtype(tr[k]) == CK_FAILURE) failures++;
    else errors++;
  }
  free(tr);
  /* Check's own lines for the failures (and, verbose, for every test) */
  if (nf > 0 || verbose) srunner_print(sr, verbose ? CK_VERBOSE : CK_NORMAL);
  fflush(stdout);
  fflush(stderr);
  char res[64];
  int len = snprintf(res, sizeof res, "%d %d %d\n", run, failures, errors);
  if (write(res_fd, res, (size_t)len) != len) _exit(125);
  _exit(0);
}

static void start(SRunner *sr, int i, int verbose) {
  int p[2];
  if (pipe(p) != 0) {
    perror("moex_tests: pipe");
    exit(EXIT_FAILURE);
  }
  fflush(stdout);
  fflush(stderr);
  clock_gettime(CLOCK_MONOTONIC, &jobs[i].t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("moex_tests: fork");
    exit(EXIT_FAILURE);
  }
  if (pid == 0) {
    close(p[0]);
    worker(sr, i, p[1], verbose);
  }
  close(p[1]);
  jobs[i].pid = pid;
  jobs[i].res_fd = p[0];
}

/* A finished worker: its counts, or one error when it died or said nothing. */
static void finish(int i, int status, double cpu) {
  runner_job *j = &jobs[i];
  j->done = 1;
  j->wall = now_since(&j->t0);
  j->cpu = cpu;
  char buf[64] = "";
  ssize_t n = read(j->res_fd, buf, sizeof buf - 1);
  close(j->res_fd);
  buf[n > 0 ? n : 0] = 0;
  char path[600];
  skip_path(path, sizeof path, i);
  j->skips = skips_take(path);
  int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
           sscanf(buf, "%d %d %d", &j->run, &j->failures, &j->errors) == 3;
  if (!ok) {
    job_path(path, sizeof path, i);
    FILE *f = fopen(path, "a");
    if (f) {
      if (WIFSIGNALED(status))
        fprintf(f, "%s:%s: the test worker was killed by signal %d (%s); counted as one error\n", j->suite, j->tcase,
                WTERMSIG(status), strsignal(WTERMSIG(status)));
      else
        fprintf(f, "%s:%s: the test worker exited with status %d without its results; counted as one error\n",
                j->suite, j->tcase, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      fclose(f);
    }
    j->run = j->run > 0 ? j->run : 0;
    j->errors++;
    if (j->run < j->failures + j->errors) j->run = j->failures + j->errors;
  }
}

/* Prints each job's output whole, in registration order, as soon as it and all before it are done. */
static void print_ready(const int *order_sel, int n_sel, int *next) {
  while (*next < n_sel && jobs[order_sel[*next]].done) {
    char path[600], buf[8192];
    job_path(path, sizeof path, order_sel[*next]);
    FILE *f = fopen(path, "r");
    if (f) {
      size_t k;
      while ((k = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, k, stdout);
      fclose(f);
      unlink(path);
    }
    fflush(stdout);
    (*next)++;
  }
}

static int cmp_expect_desc(const void *a, const void *b) {
  double x = jobs[*(const int *)a].expect, y = jobs[*(const int *)b].expect;
  return (x < y) - (x > y);
}

static int run_pool(SRunner *sr, int n_workers) {
  const char *v = getenv("CK_VERBOSITY");
  int verbose = v && !strcmp(v, "verbose");
  int sel[1024], queue[1024], n_sel = 0;
  for (int i = 0; i < n_jobs; i++) {
    if (!selected(&jobs[i])) continue;
    /* a case not in the table may be long: it starts among the first */
    jobs[i].expect = 1e9;
    for (size_t k = 0; k < sizeof DURATIONS / sizeof DURATIONS[0]; k++)
      if (!strcmp(DURATIONS[k].suite, jobs[i].suite) && !strcmp(DURATIONS[k].tcase, jobs[i].tcase))
        jobs[i].expect = DURATIONS[k].seconds;
    sel[n_sel] = queue[n_sel] = i;
    n_sel++;
  }
  qsort(queue, (size_t)n_sel, sizeof queue[0], cmp_expect_desc); /* stable enough: ties are rare */
  const char *t = getenv("TMPDIR");
  snprintf(outdir, sizeof outdir, "%s/moex-tests-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(outdir)) {
    perror("moex_tests: mkdtemp");
    return EXIT_FAILURE;
  }
  printf("Running %d test cases of %d suites in %d worker processes\n", n_sel, n_reg_suites, n_workers);
  fflush(stdout);
  int next_start = 0, running = 0, next_print = 0;
  while (next_start < n_sel || running > 0) {
    while (running < n_workers && next_start < n_sel) {
      start(sr, queue[next_start++], verbose);
      running++;
    }
    int status;
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    pid_t pid = waitpid(-1, &status, 0);
    /* one child reaped: the growth of the children's totals is its CPU time (with its tests') */
    getrusage(RUSAGE_CHILDREN, &after);
    double cpu = tv_s(&after.ru_utime) + tv_s(&after.ru_stime) - tv_s(&before.ru_utime) - tv_s(&before.ru_stime);
    if (pid < 0) {
      if (errno == EINTR) continue;
      perror("moex_tests: wait");
      return EXIT_FAILURE;
    }
    for (int k = 0; k < n_sel; k++)
      if (jobs[sel[k]].pid == pid && !jobs[sel[k]].done) {
        finish(sel[k], status, cpu);
        running--;
      }
    print_ready(sel, n_sel, &next_print);
  }
  rmdir(outdir);
  int run = 0, failures = 0, errors = 0, skips = 0;
  for (int k = 0; k < n_sel; k++) {
    skips += skips_print(jobs[sel[k]].suite, jobs[sel[k]].tcase, jobs[sel[k]].skips);
    free(jobs[sel[k]].skips);
    jobs[sel[k]].skips = NULL;
    run += jobs[sel[k]].run;
    failures += jobs[sel[k]].failures;
    errors += jobs[sel[k]].errors;
  }
  /* MOEX_TEST_TIMES=FILE: wall and CPU seconds per test case (tests/durations.inc comes from it) */
  const char *tf = getenv("MOEX_TEST_TIMES");
  if (tf && *tf) {
    FILE *f = fopen(tf, "w");
    if (f) {
      fprintf(f, "suite\ttcase\twall_s\tcpu_s\ttests\n");
      for (int k = 0; k < n_sel; k++)
        fprintf(f, "%s\t%s\t%.2f\t%.2f\t%d\n", jobs[sel[k]].suite, jobs[sel[k]].tcase, jobs[sel[k]].wall,
                jobs[sel[k]].cpu, jobs[sel[k]].run);
      fclose(f);
    }
  }
  /* Check's summary line, over every worker, last (a skip counts among the passes there) */
  skips_total(skips);
  printf("%d%%: Checks: %d, Failures: %d, Errors: %d\n", run ? (run - failures - errors) * 100 / run : 100, run,
         failures, errors);
  return failures + errors == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The selection (CK_RUN_SUITE, CK_RUN_CASE) must match a test case: a misspelled name would
 * otherwise run nothing and pass. 0 when it does, or when MOEX_ALLOW_EMPTY=1 allows an empty run. */
static int selection_empty(void) {
  for (int i = 0; i < n_jobs; i++)
    if (selected(&jobs[i])) return 0;
  const char *e = getenv("MOEX_ALLOW_EMPTY");
  if (e && !strcmp(e, "1")) return 0;
  const char *s = getenv("CK_RUN_SUITE"), *c = getenv("CK_RUN_CASE");
  fprintf(stderr,
          "moex_tests: no test case matches the selection CK_RUN_SUITE='%s' CK_RUN_CASE='%s'"
          " (MOEX_ALLOW_EMPTY=1 allows an empty run)\n",
          s ? s : "", c ? c : "");
  return 1;
}

/* Serial, as one Check run, its skips listed from a file of their own: after the summary line,
 * which srunner_run_all prints itself. */
static int run_serial(SRunner *sr) {
  const char *t = getenv("TMPDIR");
  char path[600];
  snprintf(path, sizeof path, "%s/moex-skips-XXXXXX", t && *t ? t : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("moex_tests: mkstemp");
    return EXIT_FAILURE;
  }
  close(fd);
  setenv("MOEX_SKIP_FILE", path, 1);
  srunner_run_all(sr, CK_ENV);
  char *skips = skips_take(path);
  fflush(stdout);
  skips_total(skips_print(NULL, NULL, skips));
  free(skips);
  return srunner_ntests_failed(sr) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(void) {
  SRunner *sr = srunner_create(NULL);
#define MOEX_SUITE(name) srunner_add_suite(sr, name());
#include "suites.inc"
#undef MOEX_SUITE
  if (getenv("MOEX_TEST_SELFFAIL")) srunner_add_suite(sr, selffail_suite());
  if (selection_empty()) {
    srunner_free(sr);
    return EXIT_FAILURE;
  }
  /* Serial, as one Check run: without Check's fork (valgrind), or when Check writes a log file,
   * which would need one writer. CK_VERBOSITY=verbose lists every test with its test case. */
  const char *fork_env = getenv("CK_FORK");
  int serial = (fork_env && !strcmp(fork_env, "no")) || getenv("CK_LOG_FILE_NAME") || getenv("CK_XML_LOG_FILE_NAME") ||
               getenv("CK_TAP_LOG_FILE_NAME");
  int status;
  if (serial) {
    status = run_serial(sr);
  } else {
    const char *j = getenv("MOEX_TEST_JOBS");
    char *end = NULL;
    long n = j && *j ? strtol(j, &end, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1 || n > 64 || (end && *end)) {
      fprintf(stderr, "moex_tests: MOEX_TEST_JOBS '%s' is not in 1..64\n", j ? j : "");
      return 2;
    }
    status = run_pool(sr, (int)n);
  }
  srunner_free(sr);
  return status;
}
