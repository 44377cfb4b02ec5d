/* record_journal_write: the writer's side of the journal (format: record_journal.c). Entries are
 * written and fsynced inside the commit, after the working copy is synced and before the rename
 * that publishes it (record_commit.c); a commit that fails after that cuts them off again (a
 * writer whose cut fails appends no more), and a writer resuming a file first makes its journal
 * hold exactly the file's runs. The journal can still hold runs the record does not: a crash
 * between the journal's fsync and the record's rename, or a cut that failed, leaves the failed
 * commit's entries at its end (whole runs, each verified) until the next resume drops them; they
 * follow the last commit mark, written after each rename, so salvage tells them apart. */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/moex_error.h"

struct record_journal {
  char *path;
  int fd;
  off_t len;     /* bytes of committed entries (and the header) */
  off_t pending; /* after record_journal_append: len + the new entries */
  int broken;    /* a rollback failed: a tail of entries the record lacks may remain */
};

static int write_at(record_journal *j, const unsigned char *b, size_t n, off_t off) {
  while (n) {
    ssize_t k = pwrite(j->fd, b, n, off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return moex_error(MOEX_EIO, "record: cannot write the journal '%s': %s", j->path, strerror(errno));
    b += k;
    n -= (size_t)k;
    off += k;
  }
  return 0;
}

static int sync_j(record_journal *j) {
  while (fsync(j->fd) != 0)
    if (errno != EINTR) return moex_error(MOEX_EIO, "record: cannot sync the journal '%s': %s", j->path, strerror(errno));
  return 0;
}

void record_journal_close(record_journal *j) {
  if (!j) return;
  if (j->fd >= 0 && fsync(j->fd) != 0) { /* best effort: the last commit's mark (record_journal_commit) */ }
  if (j->fd >= 0) close(j->fd);
  free(j->path);
  free(j);
}

static record_journal *jopen(const char *record_path, int trunc) {
  record_journal *j = calloc(1, sizeof *j);
  if (!j || !(j->path = record_journal_path(record_path))) {
    free(j);
    moex_error(MOEX_ENOMEM, "record: out of memory");
    return NULL;
  }
  j->fd = open(j->path, O_RDWR | O_CREAT | (trunc ? O_TRUNC : 0), 0644);
  if (j->fd < 0) {
    moex_error(MOEX_EIO, "record: cannot create the journal '%s': %s", j->path, strerror(errno));
    record_journal_close(j);
    return NULL;
  }
  return j;
}

static int put_header(record_journal *j, const record_meta *m) {
  unsigned char *h;
  size_t hl;
  int rc = record_journal_header(m, &h, &hl);
  if (!rc) rc = write_at(j, h, hl, 0);
  if (!rc) j->len = j->pending = (off_t)hl;
  free(h);
  return rc;
}

record_journal *record_journal_create(const char *record_path, const record_meta *m) {
  record_journal *j = jopen(record_path, 1);
  if (j && (put_header(j, m) || sync_j(j))) {
    record_journal_close(j);
    return NULL;
  }
  return j;
}

int record_journal_move(record_journal *j, const char *record_path) {
  char *to = record_journal_path(record_path);
  if (!to) return moex_error(MOEX_ENOMEM, "record: out of memory");
  if (rename(j->path, to) != 0) {
    int rc = moex_error(MOEX_EIO, "record: cannot create the journal '%s' (renaming '%s' to it): %s", to, j->path,
                        strerror(errno));
    free(to);
    return rc;
  }
  free(j->path);
  j->path = to;
  return 0;
}

/* Bytes of the journal b (n bytes) that hold f's runs in order from the first: the header and
 * the longest such prefix of entries (0: not f's journal); *n_runs the entries kept. */
static size_t kept_prefix(const unsigned char *b, size_t n, record_file *f, size_t *n_runs) {
  record_meta m;
  size_t o = record_journal_parse_header(b, n, &m);
  *n_runs = 0;
  if (!o) return 0;
  int mine = record_meta_same(&m, record_file_meta(f));
  record_meta_free(&m);
  if (!mine) return 0;
  for (size_t i = 0; i < record_n_runs(f); i++) {
    uint64_t pos, idlen;
    while (record_journal_parse_mark(b, n, o)) o += RECORD_JOURNAL_MARK;
    size_t ro, rl, el = record_journal_parse_entry(b, n, o, &pos, &ro, &rl);
    const char *id = record_run_id(f, i);
    /* the packed run starts with "MXRP1", the id's length and the id (record_pack.c) */
    if (!el || pos != i || rl < 13 || memcmp(b + ro, "MXRP1", 5)) break;
    memcpy(&idlen, b + ro + 5, 8);
    if (idlen != strlen(id) || idlen > rl - 13 || memcmp(b + ro + 13, id, idlen)) break;
    o += el;
    *n_runs = i + 1;
  }
  return o;
}

/* Appends runs from..n-1 of f, read back from it. */
static int append_from(record_journal *j, record_file *f, size_t from) {
  int rc = 0;
  for (size_t i = from; !rc && i < record_n_runs(f); i++) {
    record_run *r = record_read_run(f, record_run_id(f, i), RECORD_READ_ALL);
    if (!r) return MOEX_EIO;
    rc = record_journal_append(j, &r, 1, i);
    if (!rc) record_journal_commit(j, i + 1);
    record_run_free(r);
  }
  return rc;
}

record_journal *record_journal_resume(const char *record_path, record_file *f) {
  record_journal *j = jopen(record_path, 0);
  if (!j) return NULL;
  unsigned char *b = NULL;
  size_t n = 0, n_runs = 0, keep = 0;
  int rc = record_journal_slurp(j->path, &b, &n);
  if (!rc) keep = kept_prefix(b, n, f, &n_runs);
  free(b);
  if (!rc && keep == 0) rc = ftruncate(j->fd, 0) != 0 || put_header(j, record_file_meta(f));
  else if (!rc) {
    j->len = j->pending = (off_t)keep;
    rc = ftruncate(j->fd, j->len) != 0;
  }
  if (rc == 1) moex_error(MOEX_EIO, "record: cannot write the journal '%s': %s", j->path, strerror(errno));
  if (!rc) rc = append_from(j, f, n_runs);
  if (!rc) record_journal_commit(j, record_n_runs(f)); /* the prefix kept may have lost its mark */
  if (!rc) rc = sync_j(j);
  if (rc) {
    record_journal_close(j);
    return NULL;
  }
  return j;
}

/* Cuts the journal to its committed length, durably. */
static int cut(record_journal *j) {
  if (ftruncate(j->fd, j->len) != 0)
    return moex_error(MOEX_EIO, "record: cannot cut the journal '%s' back: %s", j->path, strerror(errno));
  return sync_j(j);
}

int record_journal_append(record_journal *j, record_run *const *runs, size_t n, size_t pos0) {
  /* once a rollback failed, entries after the stale tail would be read as committed runs */
  if (j->broken)
    return moex_error(MOEX_EIO, "record: the journal '%s' holds entries of a failed commit it could not cut off; "
                      "resume the record to rebuild it", j->path);
  unsigned char *b;
  size_t len;
  int rc = record_journal_entries(runs, n, pos0, &b, &len);
  if (rc) return rc;
  /* a longer stale tail (another writer's, a failed commit's) must not outlive these entries */
  if (ftruncate(j->fd, j->len) != 0)
    rc = moex_error(MOEX_EIO, "record: cannot cut the journal '%s' back: %s", j->path, strerror(errno));
  if (!rc) rc = write_at(j, b, len, j->len);
  free(b);
  if (!rc) rc = sync_j(j);
  if (rc) record_journal_rollback(j);
  else j->pending = j->len + (off_t)len;
  return rc;
}

/* After the rename that published the pending entries: they are committed, and a commit mark
 * (record_journal.c) says so to salvage. Not synced here (the next append's fsync, or the
 * close's, makes it durable: a crash before leaves the commit unconfirmed, its runs kept from
 * the record); a mark that cannot be written leaves it so too, cut off by the next append. */
void record_journal_commit(record_journal *j, size_t n_runs) {
  j->len = j->pending;
  unsigned char m[RECORD_JOURNAL_MARK];
  record_journal_mark(n_runs, m);
  char keep[1024];
  snprintf(keep, sizeof keep, "%s", moex_errmsg());
  if (!write_at(j, m, sizeof m, j->len)) j->len += (off_t)sizeof m;
  else moex_error(MOEX_EIO, "%s", keep); /* the commit succeeded: its message stays the last one */
  j->pending = j->len;
}

void record_journal_rollback(record_journal *j) {
  /* a tail this cannot cut off is dropped by the next writer that resumes (kept_prefix); this
   * writer appends no more (until then salvage may keep its runs: whole runs, each verified, of a
   * commit that failed) */
  char keep[1024];
  snprintf(keep, sizeof keep, "%s", moex_errmsg()); /* the commit's own error is the one reported */
  if (cut(j)) j->broken = 1;
  moex_error(MOEX_EIO, "%s", keep);
  j->pending = j->len;
}
