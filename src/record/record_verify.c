/* record_verify: a whole record checked (record_check) in a child process (record_child.c), so
 * that a file that crashes the HDF5 library is reported as damaged instead of taking the reader
 * down with it. */
#include "record/record_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/moex_error.h"

typedef struct {
  char msg[512];
  size_t got;
} msg_buf;

static int check_work(const char *path, int fd, void *arg) {
  (void)arg;
  int rc = record_check(path);
  const char *m = rc ? moex_errmsg() : "";
  ssize_t w = write(fd, m, strlen(m));
  (void)w;
  return rc ? 2 : 0;
}

static int msg_sink(int fd, void *arg) {
  msg_buf *b = arg;
  for (;;) {
    ssize_t k = read(fd, b->msg + b->got, sizeof b->msg - 1 - b->got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    b->got += (size_t)k;
    if (b->got == sizeof b->msg - 1) break;
  }
  b->msg[b->got] = '\0';
  return 0;
}

int record_verify(const char *path) {
  rh5_quiet();
  if (!path) return moex_error(MOEX_EINVAL, "record: verify: NULL path");
  /* Open MPI discourages fork() in its processes: under mpirun, check in process */
  if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK")) return record_check(path) ? MOEX_EIO : 0;
  msg_buf b = {{0}, 0};
  record_child_result res;
  if (record_child_run(path, check_work, NULL, msg_sink, &b, &res)) return MOEX_EIO;
  switch (res.kind) {
  case RECORD_CHILD_OK:
    return 0;
  case RECORD_CHILD_HUNG:
    return moex_error(MOEX_EIO, "record: '%s' is damaged: reading it did not finish (%ld CPU seconds; the HDF5 library loops on it)",
                      path, res.cpu);
  case RECORD_CHILD_CRASHED:
    if (!res.signo)
      return moex_error(MOEX_EIO, "record: '%s' is damaged: reading it crashed the HDF5 library (caught by the sanitizer, "
                        "contained in a child process)", path);
    return moex_error(MOEX_EIO, "record: '%s' is damaged: reading it crashed the HDF5 library (signal %d, contained in a child process)",
                      path, res.signo);
  default:
    if (res.status == 2 && b.got) return moex_error(MOEX_EIO, "%s", b.msg);
    return moex_error(MOEX_EIO, "record: verify '%s': the checking process failed (status %d)", path, res.status);
  }
}
