/* record_child: work on a record that may be damaged, done in a forked child, so that a file
 * that crashes or hangs the HDF5 library is an outcome the caller reports instead of the end of
 * the caller (record_verify, record_salvage).
 *
 * Why a child: moex validates every length, type and count it reads, but the HDF5 library
 * parses the file's structures itself, and some damage (a corrupted global heap under a
 * variable-length string, say) makes it read out of bounds before it can return an error.
 * That cannot be caught in the same process; in a child it is a signal and a clean error. The
 * child restores the default action of the fault signals (a sanitizer's handler would report
 * the library's fault as its own and exit 1) and has a CPU-time limit (some damaged global heaps
 * send HDF5 1.10.8's metadata cache into an endless loop), counted in CPU seconds so that a
 * loaded machine does not trip it, plus a wall-clock alarm for a read that blocks. What it
 * finds comes back through a pipe, which the parent drains while the child works. */
#include "record/record_internal.h"

#include <dirent.h>
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

/* Sanitizer builds (make asan): the runtime intercepts libc calls of the uninstrumented HDF5
 * library too, and reports HDF5's own out-of-bounds reads of a damaged heap as its error. The
 * child's report goes to a file; the parent contains it when its first frame outside the
 * sanitizer runtime is in libhdf5 (a library fault, as a signal is), and prints it and fails
 * otherwise: a report about moex's code is never hidden. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define CHILD_SANITIZED 1
void __sanitizer_set_report_path(const char *path);
#else
#define CHILD_SANITIZED 0
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

long record_child_cpu_limit(const char *path) {
  const char *e = getenv("MOEX_VERIFY_CPU_S");
  long v = e ? strtol(e, NULL, 10) : 0;
  if (v > 0) return v;
  struct stat st;
  return 10 + (stat(path, &st) == 0 ? (long)(st.st_size / (4L << 20)) : 0);
}

/* Closes every descriptor but 0-2 and keep: the child must not hold what its parent holds (a
 * writer's lock, whose flock would outlive a killed writer as long as the child reads). */
static void close_others(int keep) {
  for (int again = 1; again;) { /* closing while listing would skip entries: in rounds */
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
      for (int fd = 3; fd < 1024; fd++)
        if (fd != keep) close(fd);
      return;
    }
    int own = dirfd(d), fds[256], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
      int fd = atoi(e->d_name);
      if (fd > 2 && fd != keep && fd != own) fds[n++] = fd;
    }
    closedir(d);
    for (int k = 0; k < n; k++) close(fds[k]);
    again = n == 256;
  }
}

static _Noreturn void child_main(const char *path, int fd, long cpu, const char *report, record_child_work work,
                                 void *warg) {
  close_others(fd);
  const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  for (size_t k = 0; k < sizeof sigs / sizeof *sigs; k++) signal(sigs[k], SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
#if CHILD_SANITIZED
  __sanitizer_set_report_path(report); /* the runtime appends ".<pid>" */
#else
  (void)report;
#endif
  struct rlimit rl = {(rlim_t)cpu, (rlim_t)cpu + 1};
  setrlimit(RLIMIT_CPU, &rl); /* SIGXCPU at the soft limit */
  signal(SIGXCPU, SIG_DFL);
  alarm((unsigned)(60 + 10 * cpu));
  int st = work(path, fd, warg);
  close(fd);
  _exit(st);
}

int record_child_run(const char *path, record_child_work work, void *warg, record_child_sink sink, void *sarg,
                     record_child_result *res) {
  memset(res, 0, sizeof *res);
  int fds[2];
  if (pipe(fds) != 0) return moex_error(MOEX_EIO, "record: '%s': pipe: %s", path, strerror(errno));
  res->cpu = record_child_cpu_limit(path);
  char report[64];
  snprintf(report, sizeof report, "/tmp/moex-verify-%ld", (long)getpid());
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    return moex_error(MOEX_EIO, "record: '%s': fork: %s", path, strerror(e));
  }
  if (pid == 0) {
    close(fds[0]);
    child_main(path, fds[1], res->cpu, report, work, warg);
  }
  close(fds[1]);
  int src = sink(fds[0], sarg);
  close(fds[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return moex_error(MOEX_EIO, "record: '%s': waitpid: %s", path, strerror(errno));
  if (WIFEXITED(st)) {
    res->kind = WEXITSTATUS(st) == 0 ? RECORD_CHILD_OK : RECORD_CHILD_FAILED;
    res->status = WEXITSTATUS(st);
  }
  if (CHILD_SANITIZED && res->kind != RECORD_CHILD_OK) {
    char rp[96];
    snprintf(rp, sizeof rp, "%s.%ld", report, (long)pid);
    int sr = sanitizer_report(rp);
    if (sr == 1) res->kind = RECORD_CHILD_CRASHED;
    if (sr == 0) return moex_error(MOEX_EIO, "record: '%s': the reading process failed (a sanitizer report, above)", path);
  }
  if (WIFSIGNALED(st)) {
    int s = WTERMSIG(st);
    res->signo = s;
    res->kind = s == SIGXCPU || s == SIGALRM || s == SIGKILL ? RECORD_CHILD_HUNG : RECORD_CHILD_CRASHED;
  }
  return src;
}
