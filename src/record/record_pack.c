/* record_pack: record_run <-> bytes. Layout (native byte order):
 *   "MXRP1" magic, id (string),
 *   u64 n_attrs, each: name, u8 type, u8 summary, value (string, or 8 bytes);
 *   u64 n_arrays, each: path, u8 type, u8 rank, u64 dims[2], dims[0]*dims[1]*8 bytes;
 *   u64 n_tables, each: path, u64 ncols, u64 nrows, ncols names, nrows*ncols*8 bytes.
 * A string is u64 length then its bytes (no NUL). Rebuilt through record.h's public setters, in
 * the same order, so the unpacked run is the packed one. */
#include "record/record_pack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

static const char MAGIC[5] = {'M', 'X', 'R', 'P', '1'};

typedef struct {
  unsigned char *p;
  size_t len, cap;
  int oom;
} wbuf;

static void put(wbuf *b, const void *x, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    unsigned char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, x, n);
  b->len += n;
}
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_u8(wbuf *b, unsigned v) {
  unsigned char c = (unsigned char)v;
  put(b, &c, 1);
}
static void put_str(wbuf *b, const char *s) {
  size_t n = strlen(s);
  put_u64(b, n);
  put(b, s, n);
}

int record_run_pack(const record_run *r, unsigned char **buf, size_t *len) {
  wbuf b = {0};
  put(&b, MAGIC, sizeof MAGIC);
  put_str(&b, r->id);
  put_u64(&b, r->n_attrs);
  for (size_t k = 0; k < r->n_attrs; k++) {
    const record_attr *a = &r->attrs[k];
    put_str(&b, a->name);
    put_u8(&b, (unsigned)a->type);
    put_u8(&b, a->summary ? 1 : 0);
    if (a->type == RECORD_STR) put_str(&b, a->v.s);
    else if (a->type == RECORD_INT) put(&b, &a->v.i, 8);
    else put(&b, &a->v.d, 8);
  }
  put_u64(&b, r->n_arrays);
  for (size_t k = 0; k < r->n_arrays; k++) {
    const record_array *a = r->arrays[k];
    put_str(&b, a->path);
    put_u8(&b, (unsigned)a->type);
    put_u8(&b, (unsigned)a->rank);
    put_u64(&b, a->dims[0]);
    put_u64(&b, a->dims[1]);
    put(&b, a->data, a->dims[0] * a->dims[1] * 8);
  }
  put_u64(&b, r->n_tables);
  for (size_t k = 0; k < r->n_tables; k++) {
    const record_table *t = r->tables[k];
    put_str(&b, t->path);
    put_u64(&b, t->ncols);
    put_u64(&b, t->nrows);
    for (size_t c = 0; c < t->ncols; c++) put_str(&b, t->columns[c]);
    put(&b, t->data, t->nrows * t->ncols * sizeof(double));
  }
  if (b.oom) {
    free(b.p);
    return moex_error(MOEX_ENOMEM, "record_pack: out of memory packing run %s", r->id);
  }
  *buf = b.p;
  *len = b.len;
  return MOEX_OK;
}

typedef struct {
  const unsigned char *p;
  size_t len, off;
  int bad;
} rbuf;

static const unsigned char *take(rbuf *b, size_t n) {
  if (b->bad || n > b->len - b->off) {
    b->bad = 1;
    return NULL;
  }
  const unsigned char *q = b->p + b->off;
  b->off += n;
  return q;
}
static uint64_t get_u64(rbuf *b) {
  uint64_t v = 0;
  const unsigned char *q = take(b, 8);
  if (q) memcpy(&v, q, 8);
  return v;
}
static unsigned get_u8(rbuf *b) {
  const unsigned char *q = take(b, 1);
  return q ? *q : 0;
}
/* A malloc'd NUL-terminated copy, or NULL (bad or out of memory: b->bad). */
static char *get_str(rbuf *b) {
  uint64_t n = get_u64(b);
  const unsigned char *q = take(b, (size_t)n);
  char *s = q ? malloc((size_t)n + 1) : NULL;
  if (!s) {
    b->bad = 1;
    return NULL;
  }
  memcpy(s, q, (size_t)n);
  s[n] = '\0';
  return s;
}

record_run *record_run_unpack(const unsigned char *buf, size_t len) {
  rbuf b = {buf, len, 0, 0};
  const unsigned char *m = take(&b, sizeof MAGIC);
  if (!m || memcmp(m, MAGIC, sizeof MAGIC)) {
    moex_error(MOEX_EINVAL, "record_pack: not a packed run (%zu bytes, bad magic)", len);
    return NULL;
  }
  char *id = get_str(&b);
  record_run *r = id ? record_run_alloc(id) : NULL;
  free(id);
  int rc = r ? MOEX_OK : MOEX_EINVAL;
  uint64_t n = rc ? 0 : get_u64(&b);
  for (uint64_t k = 0; k < n && !rc && !b.bad; k++) {
    char *name = get_str(&b);
    unsigned type = get_u8(&b), summ = get_u8(&b);
    if (!name || b.bad) rc = MOEX_EINVAL;
    else if (type == RECORD_STR) {
      char *s = get_str(&b);
      rc = s ? record_run_set_str(r, name, s) : MOEX_EINVAL;
      free(s);
    } else if (type == RECORD_INT || type == RECORD_DOUBLE) {
      const unsigned char *q = take(&b, 8);
      if (!q) rc = MOEX_EINVAL;
      else if (type == RECORD_INT) {
        int64_t v;
        memcpy(&v, q, 8);
        rc = record_run_set_int(r, name, v);
      } else {
        double v;
        memcpy(&v, q, 8);
        rc = record_run_set_double(r, name, v);
      }
    } else rc = MOEX_EINVAL;
    if (!rc && summ) rc = record_run_summarize(r, name);
    free(name);
  }
  n = rc || b.bad ? 0 : get_u64(&b);
  for (uint64_t k = 0; k < n && !rc && !b.bad; k++) {
    char *path = get_str(&b);
    unsigned type = get_u8(&b), rank = get_u8(&b);
    size_t dims[2];
    dims[0] = (size_t)get_u64(&b);
    dims[1] = (size_t)get_u64(&b);
    const unsigned char *q = NULL;
    if (!b.bad && (rank == 1 || rank == 2) && (dims[1] == 0 || dims[0] <= SIZE_MAX / 8 / dims[1]))
      q = take(&b, dims[0] * dims[1] * 8);
    if (!path || !q) rc = MOEX_EINVAL;
    else {
      /* copy out: the buffer need not be aligned for doubles */
      void *x = malloc(dims[0] * dims[1] * 8 + 1);
      if (!x) rc = MOEX_ENOMEM;
      else {
        memcpy(x, q, dims[0] * dims[1] * 8);
        if (type == RECORD_DOUBLE) rc = record_run_add_double(r, path, x, (int)rank, dims);
        else if (type == RECORD_INT) rc = record_run_add_int(r, path, x, (int)rank, dims);
        else rc = MOEX_EINVAL;
        free(x);
      }
    }
    free(path);
  }
  n = rc || b.bad ? 0 : get_u64(&b);
  for (uint64_t k = 0; k < n && !rc && !b.bad; k++) {
    char *path = get_str(&b);
    uint64_t ncols = get_u64(&b), nrows = get_u64(&b);
    char **cols = !b.bad && ncols > 0 && ncols < 4096 ? calloc((size_t)ncols, sizeof *cols) : NULL;
    if (!path || !cols) rc = MOEX_EINVAL;
    for (uint64_t c = 0; c < ncols && !rc; c++)
      if (!(cols[c] = get_str(&b))) rc = MOEX_EINVAL;
    record_table *t = rc ? NULL : record_run_add_table(r, path, (size_t)ncols, (const char *const *)cols);
    if (!rc && !t) rc = MOEX_EINVAL;
    double *row = rc ? NULL : malloc((size_t)ncols * sizeof *row);
    if (!rc && !row) rc = MOEX_ENOMEM;
    for (uint64_t i = 0; i < nrows && !rc; i++) {
      const unsigned char *q = take(&b, (size_t)ncols * sizeof(double));
      if (!q) rc = MOEX_EINVAL;
      else {
        memcpy(row, q, (size_t)ncols * sizeof(double));
        rc = record_table_append(t, row);
      }
    }
    free(row);
    for (uint64_t c = 0; cols && c < ncols; c++) free(cols[c]);
    free(cols);
    free(path);
  }
  if (rc || b.bad || b.off != b.len) {
    if (rc == MOEX_ENOMEM) moex_error(MOEX_ENOMEM, "record_pack: out of memory unpacking a run");
    else moex_error(MOEX_EINVAL, "record_pack: malformed packed run (%zu bytes, stopped at byte %zu)", len, b.off);
    record_run_free(r);
    return NULL;
  }
  return r;
}
