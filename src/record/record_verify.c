/* record_verify: a whole record checked (record_check) in a child process, so that a file that
 * crashes the HDF5 library is reported as damaged instead of taking the reader down with it. */
#include "record/record_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/moex_error.h"

/* Why a child: moex validates every length, type and count it reads, but the HDF5 library
 * parses the file's structures itself, and some damage (a corrupted global heap under a
 * variable-length string, say) makes it read out of bounds before it can return an error.
 * That cannot be caught in the same process; in a child it is a signal and a clean error. The
 * child restores the default action of the fault signals (a sanitizer's handler would report
 * the library's fault as its own and exit 1) and has a CPU-time limit (some damaged global heaps
 * send HDF5 1.10.8's metadata cache into an endless loop), counted in CPU seconds so that a
 * loaded machine does not trip it, plus a wall-clock alarm for a read that blocks. Its one-line
 * message comes back through a pipe. */

/* Sanitizer builds (make asan): the runtime intercepts libc calls of the uninstrumented HDF5
 * library too, and reports HDF5's own out-of-bounds reads of a damaged heap as its error. The
 * child's report goes to a file; the parent contains it when its first frame outside the
 * sanitizer runtime is in libhdf5 (a library fault, as a signal is), and prints it and fails
 * otherwise: a report about moex's code is never hidden. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define VERIFY_SANITIZED 1
void __sanitizer_set_report_path(const char *path);
#else
#define VERIFY_SANITIZED 0
#endif

/* 1: the report at `path` is about HDF5 (its first frame beyond the sanitizer is libhdf5);
 * 0: about anything else, printed to stderr; -1: no report. The file is removed. */
static int sanitizer_report(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[1024];
  int verdict = -2;
  while (fgets(line, sizeof line, f)) {
    if (verdict == -2 && strstr(line, "    #") == line && !strstr(line, "sanitizer_common") && !strstr(line, "libasan") &&
        !strstr(line, "libubsan") && !strstr(line, "asan_"))
      verdict = strstr(line, "libhdf5") != NULL;
  }
  if (verdict != 1) {
    rewind(f);
    while (fgets(line, sizeof line, f)) fputs(line, stderr);
  }
  fclose(f);
  unlink(path);
  return verdict == 1;
}

/* CPU seconds allowed: $MOEX_VERIFY_CPU_S, else 10 s plus 1 s per 4 MB (a valid file needs
 * about 1 s per 100 MB). */
static long cpu_limit(const char *path) {
  const char *e = getenv("MOEX_VERIFY_CPU_S");
  long v = e ? strtol(e, NULL, 10) : 0;
  if (v > 0) return v;
  struct stat st;
  return 10 + (stat(path, &st) == 0 ? (long)(st.st_size / (4L << 20)) : 0);
}

static int check_here(const char *path) { return record_check(path); }

int record_verify(const char *path) {
  rh5_quiet();
  if (!path) return moex_error(MOEX_EINVAL, "record: verify: NULL path");
  /* Open MPI discourages fork() in its processes: under mpirun, check in process */
  if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK")) return check_here(path) ? MOEX_EIO : 0;
  int fds[2];
  if (pipe(fds) != 0) return moex_error(MOEX_EIO, "record: verify '%s': pipe: %s", path, strerror(errno));
  long cpu = cpu_limit(path);
  char report[64];
  snprintf(report, sizeof report, "/tmp/moex-verify-%ld", (long)getpid());
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    return moex_error(MOEX_EIO, "record: verify '%s': fork: %s", path, strerror(e));
  }
  if (pid == 0) {
    close(fds[0]);
    const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t k = 0; k < sizeof sigs / sizeof *sigs; k++) signal(sigs[k], SIG_DFL);
#if VERIFY_SANITIZED
    __sanitizer_set_report_path(report); /* the runtime appends ".<pid>" */
#endif
    struct rlimit rl = {(rlim_t)cpu, (rlim_t)cpu + 1};
    setrlimit(RLIMIT_CPU, &rl); /* SIGXCPU at the soft limit */
    signal(SIGXCPU, SIG_DFL);
    alarm((unsigned)(60 + 10 * cpu));
    int rc = check_here(path);
    const char *m = rc ? moex_errmsg() : "";
    size_t n = strlen(m);
    ssize_t w = write(fds[1], m, n);
    (void)w;
    _exit(rc ? 2 : 0);
  }
  close(fds[1]);
  char msg[512];
  size_t got = 0;
  for (;;) {
    ssize_t k = read(fds[0], msg + got, sizeof msg - 1 - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
    if (got == sizeof msg - 1) break;
  }
  msg[got] = '\0';
  close(fds[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return moex_error(MOEX_EIO, "record: verify '%s': waitpid: %s", path, strerror(errno));
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (VERIFY_SANITIZED) {
    char rp[96];
    snprintf(rp, sizeof rp, "%s.%ld", report, (long)pid);
    int sr = sanitizer_report(rp);
    if (sr == 1)
      return moex_error(MOEX_EIO, "record: '%s' is damaged: reading it crashed the HDF5 library (caught by the sanitizer, "
                        "contained in a child process)", path);
    if (sr == 0) return moex_error(MOEX_EIO, "record: verify '%s': the checking process failed (a sanitizer report, above)", path);
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 2 && got) return moex_error(MOEX_EIO, "%s", msg);
  if (WIFSIGNALED(st) && (WTERMSIG(st) == SIGXCPU || WTERMSIG(st) == SIGALRM || WTERMSIG(st) == SIGKILL))
    return moex_error(MOEX_EIO, "record: '%s' is damaged: reading it did not finish (%ld CPU seconds; the HDF5 library loops on it)",
                      path, cpu);
  if (WIFSIGNALED(st))
    return moex_error(MOEX_EIO, "record: '%s' is damaged: reading it crashed the HDF5 library (signal %d, contained in a child process)",
                      path, WTERMSIG(st));
  return moex_error(MOEX_EIO, "record: verify '%s': the checking process failed (status %d)", path, st);
}
