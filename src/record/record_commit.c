/* record_commit: the writer's file protocol. The file on disk is only ever replaced whole, by
 * rename(), and the signal masks a caller puts around a commit.
 *
 * Why: HDF5 updates metadata in place (superblock, B-trees, heaps), so a process killed in
 * the middle of H5Fclose or of a dataset write can leave a file no tool opens. Here a commit
 * writes into a private working copy OUT.h5.tmp, closes and fsyncs it, and rename()s it over
 * OUT.h5 (atomic on POSIX). At every instant OUT.h5 names a complete, closed file.
 *
 * Why a working copy that alternates instead of a fresh copy per commit: copying the whole
 * file at every commit costs O(file size), and a sweep's file can reach hundreds of MB. After
 * a commit, the file that OUT.h5 named before (state N-1) is kept, by link()/rename(), as the
 * next working copy; the next commit first re-applies the runs it lacks (the previous batch,
 * kept in memory), then the new ones. A commit so costs O(size of two batches). A full copy is
 * made only when no valid working copy exists: at the first commit of a process, after a
 * failed commit, where link() is not supported, or when another process holds the old file
 * open through HDF5 (its lock makes our H5Fopen fail, so we never modify a file a reader
 * has open). RECORD_COPY_ALWAYS forces the full copy at every commit. */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/moex_error.h"

struct record_writer {
  char *path, *tmp, *old, *dir;
  int flags;
  record_lock *lock;     /* held from open to close */
  record_journal *journal; /* the second copy of the committed runs (record_journal.c) */
  hid_t fapl;            /* record_fapl(): what is added to a file is in the checksummed format */
  record_idset ids;      /* committed run ids */
  int work_valid;        /* tmp exists and equals the committed file minus `pending` */
  record_run **pending;
  size_t n_pending;
  double last_total, last_copy, last_journal;
  int last_full;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *cat(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  char *s = malloc(n + m + 1);
  if (s) { memcpy(s, a, n); memcpy(s + n, b, m + 1); }
  return s;
}

int record_writer_has(const record_writer *w, const char *id) { return w && record_idset_has(&w->ids, id); }

size_t record_writer_n_runs(const record_writer *w) { return w ? w->ids.n : 0; }

void record_writer_last_commit(const record_writer *w, double *total_s, double *copy_s,
                               int *full_copy) {
  if (total_s) *total_s = w->last_total;
  if (copy_s) *copy_s = w->last_copy;
  if (full_copy) *full_copy = w->last_full;
}

double record_writer_last_journal(const record_writer *w) { return w->last_journal; }

static void pending_clear(record_writer *w) {
  for (size_t i = 0; i < w->n_pending; ++i) record_run_free(w->pending[i]);
  free(w->pending);
  w->pending = NULL;
  w->n_pending = 0;
}

void record_writer_close(record_writer *w) {
  if (!w) return;
  if (w->tmp && w->lock) unlink(w->tmp);  /* never another writer's working copy */
  pending_clear(w);
  record_journal_close(w->journal);
  record_lock_release(w->lock);
  if (w->fapl > 0) H5Pclose(w->fapl);
  record_idset_free(&w->ids);
  free(w->path);
  free(w->tmp);
  free(w->old);
  free(w->dir);
  free(w);
}

static int copy_file(const char *src, const char *dst) {
  int in = open(src, O_RDONLY);
  if (in < 0) return moex_error(MOEX_EIO, "record: cannot read '%s': %s", src, strerror(errno));
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    int e = errno;
    close(in);
    return moex_error(MOEX_EIO, "record: cannot create '%s': %s", dst, strerror(e));
  }
  static _Thread_local char buf[1 << 20];
  int rc = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { rc = moex_error(MOEX_EIO, "record: cannot read '%s': %s", src, strerror(errno)); break; }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t m = write(out, buf + off, (size_t)(n - off));
      if (m < 0 && errno == EINTR) continue;
      if (m < 0) { rc = moex_error(MOEX_EIO, "record: cannot write '%s': %s", dst, strerror(errno)); break; }
      off += m;
    }
    if (rc) break;
  }
  close(in);
  if (close(out) != 0 && !rc) rc = moex_error(MOEX_EIO, "record: cannot write '%s': %s", dst, strerror(errno));
  if (rc) unlink(dst);
  return rc;
}

/* A new journal for the record written at w->tmp (its root attributes, read back), beside it
 * (w->tmp's journal) until the record is in place: an existing record's journal is kept until
 * the new record replaces it. */
static int new_journal(record_writer *w) {
  record_file *f = record_open(w->tmp);
  if (f) w->journal = record_journal_create(w->tmp, record_file_meta(f));
  record_close(f);
  return w->journal ? 0 : MOEX_EIO;
}

static void unlink_tmp(record_writer *w) {
  unlink(w->tmp);
  char *j = record_journal_path(w->tmp);
  if (j) unlink(j);
  free(j);
}

/* A new empty record at w->path, put there as every commit is: written aside, synced, renamed,
 * with its new journal. Over an existing record, the record first, then its journal: the old
 * record keeps its journal until the new record replaces it (a crash between the two leaves the
 * new record beside the old one's journal, which salvage and a resume tell by its header);
 * else the journal first: a new record is never without its journal. */
static int create_empty(record_writer *w, const record_meta_in *meta) {
  int over = access(w->path, F_OK) == 0;
  int rc = record_write_empty(w->tmp, meta);
  if (!rc) rc = rh5_fsync_path(w->tmp);
  if (!rc) rc = new_journal(w);
  if (!rc && !over) rc = record_journal_move(w->journal, w->path);
  if (!rc && rename(w->tmp, w->path) != 0)
    rc = moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
  if (rc) unlink_tmp(w);
  else if (over) rc = record_journal_move(w->journal, w->path);
  if (!rc) rc = rh5_fsync_path(w->dir);
  return rc;
}

record_writer *record_writer_open(const char *path, const record_meta_in *meta, int flags) {
  rh5_quiet();
  if (!path || !*path || !meta || !meta->experiment || !meta->grid || !meta->command_line) {
    moex_error(MOEX_EINVAL, "record: writer needs a path and experiment, grid, command_line (got %s%s)",
               path ? path : "NULL path", meta ? "" : ", NULL meta");
    return NULL;
  }
  record_writer *w = calloc(1, sizeof *w);
  if (!w) { moex_error(MOEX_ENOMEM, "record: out of memory"); return NULL; }
  w->flags = flags;
  if ((w->fapl = record_fapl()) < 0) {
    moex_error(MOEX_EIO, "record: cannot set up the HDF5 file format (%s)", rh5_why());
    goto fail;
  }
  w->path = record_strdup(path);
  w->tmp = cat(path, ".tmp");
  w->old = cat(path, ".old");
  const char *slash = strrchr(path, '/');
  w->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : record_strdup(".");
  if (!w->path || !w->tmp || !w->old || !w->dir) {
    moex_error(MOEX_ENOMEM, "record: out of memory");
    goto fail;
  }
  /* before anything is touched: a second writer would remove the first one's working copy
   * and rename its own over the file (issue 19: a crash, a garbled message, lost runs) */
  if (!(w->lock = record_lock_take(path))) goto fail;
  /* leftovers of a writer that was killed: never part of the record */
  unlink_tmp(w);
  unlink(w->old);

  struct stat st;
  int exists = stat(path, &st) == 0;
  if (!exists && errno != ENOENT) {
    moex_error(MOEX_EIO, "record: cannot use '%s': %s", path, strerror(errno));
    goto fail;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    moex_error(MOEX_EIO, "record: '%s' exists and is not a regular file", path);
    goto fail;
  }
  if (exists && H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    moex_error(MOEX_EIO, "record: '%s' exists and is not an HDF5 file; refusing to replace it (if it is a damaged "
               "record, salvage keeps its intact runs: moex-merge --salvage %s -o SALVAGED.h5)", path, path);
    goto fail;
  }
  if (exists && (flags & RECORD_RESUME)) {
    /* every run it holds is carried into the next commits: verify them all first */
    record_file *f = record_verify(path) ? NULL : record_open(path);
    if (!f) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", moex_errmsg());
      moex_error(MOEX_EIO, "%s%s", msg, record_salvage_hint(path, msg));
      goto fail;
    }
    const record_meta *m = record_file_meta(f);
    if (strcmp(m->experiment, meta->experiment) != 0) {
      moex_error(MOEX_EINVAL, "record: '%s' holds experiment '%s', not '%s'; refusing to resume into it",
                 path, m->experiment, meta->experiment);
      record_close(f);
      goto fail;
    }
    for (size_t i = 0; i < record_n_runs(f); ++i)
      if (record_idset_add(&w->ids, record_run_id(f, i))) { record_close(f); goto fail; }
    w->journal = record_journal_resume(path, f);
    record_close(f);
    if (!w->journal) goto fail;
  } else if (create_empty(w, meta)) {
    goto fail;
  }
  return w;
fail:
  record_writer_close(w);
  return NULL;
}

/* Puts a working copy at w->tmp and opens it. */
static hid_t open_work(record_writer *w) {
  double t0 = now_s();
  if (w->work_valid && !(w->flags & RECORD_COPY_ALWAYS)) {
    hid_t f = H5Fopen(w->tmp, H5F_ACC_RDWR, w->fapl);
    if (f >= 0) return f;
    /* typically: a reader holds the old file open (HDF5's lock); leave it alone */
    H5Eclear2(H5E_DEFAULT);
    unlink(w->tmp);
  }
  w->work_valid = 0;
  pending_clear(w);
  if (copy_file(w->path, w->tmp)) return -1;
  w->last_copy = now_s() - t0;
  w->last_full = 1;
  hid_t f = H5Fopen(w->tmp, H5F_ACC_RDWR, w->fapl);
  if (f < 0) {
    moex_error(MOEX_EIO, "record: cannot open the working copy '%s' (%s)", w->tmp, rh5_why());
    unlink(w->tmp);
  }
  return f;
}

static int write_batch(record_writer *w, hid_t f, record_run *const *runs, size_t n) {
  hid_t g = H5Gopen2(f, "runs", H5P_DEFAULT), s = H5Gopen2(f, "summary", H5P_DEFAULT);
  int rc = 0;
  record_columns cs = {0};
  if (g < 0 || s < 0) rc = moex_error(MOEX_EIO, "record: '%s': no /runs or /summary group", w->tmp);
  if (!rc) rc = record_columns_read(w->tmp, s, &cs);
  for (size_t i = 0; !rc && i < n; ++i) rc = record_summary_check(w->tmp, &cs, runs[i]);
  for (size_t i = 0; !rc && i < n; ++i) {
    rc = record_write_run(w->tmp, g, runs[i]);
    if (!rc) rc = record_summary_append(w->tmp, s, &cs, runs[i]);
  }
  record_columns_free(&cs);
  if (g >= 0) H5Gclose(g);
  if (s >= 0) H5Gclose(s);
  return rc;
}

int record_writer_append(record_writer *w, record_run *const *runs, size_t n) {
  rh5_quiet();
  if (!w || !runs || n == 0) return moex_error(MOEX_EINVAL, "record: append needs a writer and n >= 1 runs");
  for (size_t i = 0; i < n; ++i) {
    if (!runs[i]) return moex_error(MOEX_EINVAL, "record: append: run %zu is NULL", i);
    if (record_writer_has(w, runs[i]->id))
      return moex_error(MOEX_EINVAL, "record: '%s' already holds run '%s'", w->path, runs[i]->id);
    for (size_t j = 0; j < i; ++j)
      if (strcmp(runs[i]->id, runs[j]->id) == 0)
        return moex_error(MOEX_EINVAL, "record: append: run '%s' given twice", runs[i]->id);
  }
  double t0 = now_s();
  w->last_copy = 0;
  w->last_full = 0;
  hid_t f = open_work(w);
  if (f < 0) return MOEX_EIO;
  int rc = write_batch(w, f, w->pending, w->n_pending);
  if (!rc) rc = write_batch(w, f, runs, n);
  if (H5Fclose(f) < 0 && !rc) rc = moex_error(MOEX_EIO, "record: cannot close '%s' (%s)", w->tmp, rh5_why());
  if (!rc) rc = rh5_fsync_path(w->tmp);
  /* the second copy, durable before the rename publishes the batch */
  double tj = now_s();
  if (!rc) rc = record_journal_append(w->journal, runs, n, w->ids.n);
  w->last_journal = now_s() - tj;
  /* new pending batch: copies of the runs, for the working copy that will lack them */
  record_run **keep = NULL;
  int rotate = !rc && !(w->flags & RECORD_COPY_ALWAYS);
  if (rotate && (keep = calloc(n, sizeof *keep)) != NULL) {
    for (size_t i = 0; i < n && rotate; ++i)
      if (!(keep[i] = record_run_copy(runs[i]))) rotate = 0;
  } else {
    rotate = 0;
  }
  if (rc) {
    unlink(w->tmp);
    w->work_valid = 0;
    pending_clear(w);
    free(keep);
    return rc;
  }
  pending_clear(w);
  w->work_valid = 0;
  if (rotate && link(w->path, w->old) == 0) {
    if (rename(w->tmp, w->path) != 0) {
      rc = moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
      unlink(w->old);
      unlink(w->tmp);
    } else if (rename(w->old, w->tmp) == 0) {
      w->work_valid = 1;
      w->pending = keep;
      w->n_pending = n;
      keep = NULL;
    } else {
      unlink(w->old);
    }
  } else if (rename(w->tmp, w->path) != 0) {
    rc = moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
    unlink(w->tmp);
  }
  if (keep) {
    for (size_t i = 0; i < n; ++i) record_run_free(keep[i]);
    free(keep);
  }
  if (rc) {
    record_journal_rollback(w->journal);
    return rc;
  }
  record_journal_commit(w->journal, w->ids.n + n);
  for (size_t i = 0; i < n && !rc; ++i) rc = record_idset_add(&w->ids, runs[i]->id);
  int rs = rh5_fsync_path(w->dir);
  w->last_total = now_s() - t0;
  return rc ? rc : rs;
}

int record_signals_block(sigset_t *old) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  sigaddset(&s, SIGQUIT);
  int e = pthread_sigmask(SIG_BLOCK, &s, old);
  return e ? moex_error(MOEX_EINVAL, "record: cannot block signals: %s", strerror(e)) : 0;
}

int record_signals_restore(const sigset_t *old) {
  int e = pthread_sigmask(SIG_SETMASK, old, NULL);
  return e ? moex_error(MOEX_EINVAL, "record: cannot restore signals: %s", strerror(e)) : 0;
}
