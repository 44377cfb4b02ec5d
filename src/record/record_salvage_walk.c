/* record_salvage_walk: reading whatever a damaged record still holds, run by run, in contained
 * children (record_child.c). A child lists the runs as far as each of HDF5's indexes can be
 * walked (creation order, then name order, then /summary/run_id) and reads each run with every
 * checksum verified, streaming to the parent: "M" the root attributes (when they verify), "L" the
 * run ids, then per run "B" (begun), and "R" (the run, record_pack.h) or "F" (why it failed).
 * When HDF5 crashes or hangs on a run, the parent knows which ("B" without an answer), notes it,
 * and starts a new child at the next run. */
#include "record/record_internal.h"
#include "record/record_salvage.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record_pack.h"

#define MAX_RESTARTS 32 /* children started after a crash or hang, at most */

/* ---- the child ---------------------------------------------------------------------------- */

static int send(int fd, char kind, uint64_t i, const void *p, uint64_t n) {
  unsigned char h[17];
  h[0] = (unsigned char)kind;
  memcpy(h + 1, &i, 8);
  memcpy(h + 9, &n, 8);
  const unsigned char *parts[2] = {h, p};
  size_t lens[2] = {17, n};
  for (int k = 0; k < 2; k++)
    for (size_t off = 0; off < lens[k];) {
      ssize_t w = write(fd, parts[k] + off, lens[k] - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return -1;
      off += (size_t)w;
    }
  return 0;
}

static herr_t add_missing_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  record_file *f = data;
  return record_has_run(f, name) ? 0 : record_list_cb(g, name, info, data);
}

/* Ids in /summary/run_id that no index listed. */
static void summary_ids(record_file *f) {
  hid_t ds = H5Dopen2(f->fid, "summary/run_id", H5P_DEFAULT);
  hid_t sp = ds < 0 ? -1 : H5Dget_space(ds), mt = rh5_str_type();
  hsize_t n = 0;
  if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1 && n > 0 &&
      n < (1u << 24)) {
    char **v = calloc((size_t)n, sizeof *v);
    if (v && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) {
      for (hsize_t k = 0; k < n; k++)
        if (v[k] && record_name_ok(v[k]) && !record_has_run(f, v[k])) record_list_cb(-1, v[k], NULL, f);
      H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
    }
    free(v);
  }
  H5Tclose(mt);
  if (sp >= 0) H5Sclose(sp);
  if (ds >= 0) H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
}

/* The record as far as it opens: record_open when everything it checks holds (*meta_ok), else
 * the runs listed without trusting the root (every run must then carry its checksums). */
static record_file *open_damaged(const char *path, int *meta_ok) {
  record_file *f = record_open(path);
  *meta_ok = f != NULL;
  if (!f) {
    char first[512];
    snprintf(first, sizeof first, "%s", moex_errmsg());
    if (!(f = calloc(1, sizeof *f)) || !(f->path = record_strdup(path))) {
      free(f);
      return NULL;
    }
    f->sealed = 1;
    f->fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = f->fid < 0 ? -1 : H5Gopen2(f->fid, "runs", H5P_DEFAULT);
    if (g < 0) {
      record_close(f);
      moex_error(MOEX_EIO, "%s", first);
      return NULL;
    }
    H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, record_list_cb, f);
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_missing_cb, f);
    H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
  }
  summary_ids(f);
  return f;
}

/* Test hook (tests/test_salvage.c): MOEX_SALVAGE_CRASH / MOEX_SALVAGE_HANG name a run on which
 * the reading child crashes or spins, as HDF5 does on some damaged heaps, which no file crafted
 * by hand provokes reliably; the parent's recovery from both is what is tested. */
static void test_hook(const char *id) {
  const char *c = getenv("MOEX_SALVAGE_CRASH"), *h = getenv("MOEX_SALVAGE_HANG");
  if (c && !strcmp(c, id)) raise(SIGSEGV);
  for (volatile unsigned long k = 0; h && !strcmp(h, id); k++) {}
}

static int send_run(int fd, record_file *f, size_t i) {
  if (send(fd, 'B', i, NULL, 0)) return -1;
  test_hook(f->ids[i]);
  record_run *r = record_read_run(f, f->ids[i], RECORD_READ_ALL);
  if (!r) {
    const char *m = moex_errmsg();
    return send(fd, 'F', i, m, strlen(m));
  }
  unsigned char *b;
  size_t n;
  int rc = record_run_pack(r, &b, &n);
  record_run_free(r);
  if (rc) return send(fd, 'F', i, "out of memory", 13);
  rc = send(fd, 'R', i, b, n);
  free(b);
  return rc;
}

static int walk_work(const char *path, int fd, void *arg) {
  size_t start = *(const size_t *)arg;
  rh5_quiet();
  int meta_ok;
  record_file *f = open_damaged(path, &meta_ok);
  if (!f) {
    const char *m = moex_errmsg();
    send(fd, 'X', 0, m, strlen(m));
    return 3;
  }
  unsigned char *h;
  size_t hl;
  int rc = 0;
  if (meta_ok && !record_journal_header(&f->meta, &h, &hl)) {
    rc = send(fd, 'M', (uint64_t)f->sealed, h, hl);
    free(h);
  }
  for (size_t i = 0; !rc && i < f->n_ids; i++) rc = send(fd, 'L', i, f->ids[i], strlen(f->ids[i]));
  if (!rc) rc = send(fd, 'E', f->n_ids, NULL, 0); /* the list is complete */
  for (size_t i = start; !rc && i < f->n_ids; i++) rc = send_run(fd, f, i);
  record_close(f);
  return rc ? 4 : 0;
}

/* ---- the parent --------------------------------------------------------------------------- */

static int read_full(int fd, void *p, size_t n) {
  unsigned char *b = p;
  while (n) {
    ssize_t k = read(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return 1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

static int grow_lists(record_salvage_walk *s, size_t n) {
  if (n <= s->cap) return 0;
  size_t cap = s->cap ? 2 * s->cap : 64;
  while (cap < n) cap *= 2;
  char **ids = realloc(s->ids, cap * sizeof *ids), **why = ids ? realloc(s->why, cap * sizeof *why) : NULL;
  record_run **runs = why ? realloc(s->runs, cap * sizeof *runs) : NULL;
  if (ids) s->ids = ids;
  if (why) s->why = why;
  if (!runs) return moex_error(MOEX_ENOMEM, "record: out of memory");
  s->runs = runs;
  for (size_t k = s->cap; k < cap; k++) s->ids[k] = s->why[k] = NULL, s->runs[k] = NULL;
  s->cap = cap;
  return 0;
}

/* One message from the child into s. 1 at the end of the stream. */
static int take_message(int fd, record_salvage_walk *s) {
  unsigned char h[17];
  if (read_full(fd, h, 17)) return 1;
  uint64_t i, n;
  memcpy(&i, h + 1, 8);
  memcpy(&n, h + 9, 8);
  unsigned char *p = n < ((uint64_t)1 << 40) ? malloc((size_t)n + 1) : NULL;
  if (!p || read_full(fd, p, (size_t)n)) {
    free(p);
    return 1;
  }
  p[n] = '\0';
  int listing = h[0] == 'L' || h[0] == 'R' || h[0] == 'F' || h[0] == 'B';
  if (listing && (i > s->n_ids + 1 || grow_lists(s, (size_t)i + 1))) h[0] = '?';
  switch (h[0]) {
  case 'X': free(s->open_error); s->open_error = (char *)p; p = NULL; break;
  case 'M':
    if (!s->has_meta && record_journal_parse_header(p, n, &s->meta) > 0) {
      s->has_meta = 1;
      s->sealed = (int)i;
    }
    break;
  case 'L': if (!s->listed && i == s->n_ids) { s->ids[i] = (char *)p; p = NULL; s->n_ids++; } break;
  case 'E': s->listed = 1; break;
  case 'B': s->current = (long)i; break;
  case 'R':
    record_run_free(s->runs[i]);
    if (!(s->runs[i] = record_run_unpack(p, n)) && !s->why[i]) s->why[i] = record_strdup("unreadable: malformed in transfer");
    s->current = -1;
    break;
  case 'F': free(s->why[i]); s->why[i] = (char *)p; p = NULL; s->current = -1; break;
  default: break;
  }
  free(p);
  return 0;
}

static int walk_sink(int fd, void *arg) {
  while (!take_message(fd, arg)) {}
  return 0;
}

int record_salvage_walk_run(const char *path, record_salvage_walk *s) {
  memset(s, 0, sizeof *s);
  size_t start = 0;
  for (int attempt = 0; attempt <= MAX_RESTARTS; attempt++) {
    s->current = -1;
    record_child_result res;
    if (record_child_run(path, walk_work, &start, walk_sink, s, &res)) return MOEX_EIO;
    if (res.kind == RECORD_CHILD_OK || res.kind == RECORD_CHILD_FAILED) return 0;
    char why[160];
    if (res.kind == RECORD_CHILD_HUNG)
      snprintf(why, sizeof why, "unreadable: reading it did not finish (%ld CPU seconds)", res.cpu);
    else snprintf(why, sizeof why, "unreadable: reading it crashed the HDF5 library (contained in a child process)");
    if (!s->listed || s->current < 0) { /* the file itself, before any run */
      free(s->open_error);
      s->open_error = record_strdup(why);
      s->listed = 0;
      return 0;
    }
    s->why[s->current] = record_strdup(why);
    start = (size_t)s->current + 1;
    if (start >= s->n_ids) return 0;
    s->restarts++;
  }
  for (size_t i = start; i < s->n_ids; i++)
    if (!s->runs[i] && !s->why[i]) s->why[i] = record_strdup("not read: the HDF5 library crashed or hung on too many runs before it");
  return 0;
}

void record_salvage_walk_free(record_salvage_walk *s) {
  for (size_t i = 0; i < s->cap; i++) {
    free(s->ids[i]);
    free(s->why[i]);
    record_run_free(s->runs[i]);
  }
  free(s->ids);
  free(s->why);
  free(s->runs);
  free(s->open_error);
  if (s->has_meta) record_meta_free(&s->meta);
  memset(s, 0, sizeof *s);
}
