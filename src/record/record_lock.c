/* record_lock: one writer per records file, by an exclusive flock() on the file PATH.lock beside it. */
#define _DEFAULT_SOURCE /* flock() */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/moex_error.h"

/* Why flock on a separate file: the lock must be held across the many rename()s of a sweep
 * (OUT.h5 is replaced at every commit, so a lock on OUT.h5 itself would sit on an old inode),
 * and HDF5 flock()s the .h5 files it opens. flock locks belong to the open file description:
 * two writers in one process exclude each other as two processes do, the kernel drops the lock
 * when its holder dies (SIGKILL included), so a lock file left by a killed writer is stale and
 * simply taken over, and O_CLOEXEC keeps programs the writer starts from inheriting it. On
 * Linux NFS, flock is carried out as a POSIX lock by the server, so it holds across hosts. */
struct record_lock {
  char *path;  /* PATH.lock */
  int fd;
};

/* The holder's line ("pid N host H started T"), from the lock file, or "" when unreadable. It is
 * written right after the lock is taken, so a loser racing the winner retries briefly. */
static void holder(int fd, char *buf, size_t n) {
  buf[0] = '\0';
  for (int tries = 0; tries < 40 && !buf[0]; tries++) {
    ssize_t k = pread(fd, buf, n - 1, 0);
    buf[k > 0 ? k : 0] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl) *nl = '\0';
    else buf[0] = '\0'; /* incomplete: still being written */
    if (!buf[0]) {
      struct timespec ts = {0, 5 * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
}

record_lock *record_lock_take(const char *path) {
  if (!path || !*path) {
    moex_error(MOEX_EINVAL, "record: lock: no path");
    return NULL;
  }
  record_lock *l = calloc(1, sizeof *l);
  size_t n = strlen(path) + 6;
  if (!l || !(l->path = malloc(n))) {
    free(l);
    moex_error(MOEX_ENOMEM, "record: out of memory");
    return NULL;
  }
  snprintf(l->path, n, "%s.lock", path);
  /* a holder that releases unlinks the file while holding it; whoever locked that old inode
   * meanwhile must start again on the current one (checked by comparing inodes) */
  int failed = 0;
  for (int tries = 0; tries < 100 && !failed; tries++) {
    int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      failed = moex_error(MOEX_EIO, "record: cannot create the lock file '%s': %s", l->path, strerror(errno));
      break;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      if (e == EWOULDBLOCK) {
        char who[512], pid[32] = "?", host[256] = "?", when[64] = "?";
        holder(fd, who, sizeof who);
        sscanf(who, "pid %31s host %255s started %63s", pid, host, when);
        failed = moex_error(MOEX_EIO, "record: '%s' is being written by process %s on %s (started %s); wait for it to end or write elsewhere",
                   path, pid, host, when);
      } else {
        failed = moex_error(MOEX_EIO, "record: cannot lock '%s': %s", l->path, strerror(e));
      }
      close(fd);
      break;
    }
    struct stat a, b;
    if (fstat(fd, &a) != 0 || stat(l->path, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
      close(fd);
      continue;
    }
    /* ours: a stale line of a killed holder is replaced */
    char host[256], when[64], line[512];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; ++p)
      if (*p == ' ' || *p == '\n') *p = '_';
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(when, sizeof when, "unknown");
    int len = snprintf(line, sizeof line, "pid %ld host %s started %s\n", (long)getpid(), host, when);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
      /* the lock is held all the same; only the message of a second writer is poorer */
    }
    l->fd = fd;
    return l;
  }
  free(l->path);
  free(l);
  if (!failed) moex_error(MOEX_EIO, "record: cannot lock '%s' (it keeps being replaced)", path);
  return NULL;
}

void record_lock_release(record_lock *l) {
  if (!l) return;
  unlink(l->path); /* while still holding it: see record_lock_take */
  close(l->fd);
  free(l->path);
  free(l);
}
