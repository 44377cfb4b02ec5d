/* record_checksum: the content checksums a record carries (root, each run, each dataset), so a
 * reader can tell a damaged file from a valid one before it uses a value. */
#include "record/record_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64 bits, over a canonical byte stream (results/SCHEMA.md, "Integrity"): integers as 8
 * little-endian bytes, doubles as the 8 bytes of their IEEE bits, strings as their length then
 * their bytes. Why FNV-1a: no library to depend on, and every step (xor a byte, multiply by an
 * odd prime) is a bijection of the state, so a change of any single byte always changes the
 * result; other damage goes unseen with probability 2^-64. It detects accidents, not forgery. */
typedef struct {
  uint64_t h;
} hasher;

static void h_init(hasher *s) { s->h = 0xcbf29ce484222325ULL; }
static void h_bytes(hasher *s, const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = s->h;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  s->h = h;
}
static void h_u64(hasher *s, uint64_t v) {
  unsigned char b[8];
  for (int k = 0; k < 8; k++) b[k] = (unsigned char)(v >> (8 * k));
  h_bytes(s, b, 8);
}
static void h_str(hasher *s, const char *str) {
  size_t n = str ? strlen(str) : 0;
  h_u64(s, n);
  h_bytes(s, str, n);
}
static void h_values(hasher *s, const void *data, size_t n) {
  const uint64_t *v = data; /* int64 or double: 8 bytes each */
  for (size_t i = 0; i < n; i++) {
    uint64_t x;
    memcpy(&x, (const unsigned char *)v + 8 * i, 8);
    h_u64(s, x);
  }
}

uint64_t record_fnv1a(uint64_t h, const void *p, size_t n) {
  hasher s = {h};
  h_bytes(&s, p, n);
  return s.h;
}

void record_checksum_format(uint64_t h, char out[RECORD_CHECKSUM_LEN]) {
  snprintf(out, RECORD_CHECKSUM_LEN, "fnv1a64:%016llx", (unsigned long long)h);
}

int record_checksum_parse(const char *s, uint64_t *h) {
  unsigned long long v;
  char tail;
  if (!s || strlen(s) != RECORD_CHECKSUM_LEN - 1 || sscanf(s, "fnv1a64:%16llx%c", &v, &tail) != 1) return 1;
  *h = v;
  return 0;
}

uint64_t record_checksum_array(const record_array *a) {
  hasher s;
  h_init(&s);
  h_str(&s, a->path);
  h_u64(&s, (uint64_t)a->type);
  h_u64(&s, (uint64_t)a->rank);
  h_u64(&s, a->dims[0]);
  h_u64(&s, a->dims[1]);
  h_values(&s, a->data, a->dims[0] * a->dims[1]);
  return s.h;
}

uint64_t record_checksum_table(const record_table *t) {
  hasher s;
  h_init(&s);
  h_str(&s, t->path);
  h_u64(&s, 4); /* a table */
  h_u64(&s, t->nrows);
  h_u64(&s, t->ncols);
  for (size_t j = 0; j < t->ncols; j++) h_str(&s, t->columns[j]);
  h_values(&s, t->data, t->nrows * t->ncols);
  return s.h;
}

static int cmp_attr(const void *a, const void *b) {
  return strcmp((*(const record_attr *const *)a)->name, (*(const record_attr *const *)b)->name);
}
static int cmp_dsum(const void *a, const void *b) {
  return strcmp(((const record_dsum *)a)->path, ((const record_dsum *)b)->path);
}

int record_checksum_run(const record_run *r, record_dsum *ds, size_t n_ds, uint64_t *out) {
  const record_attr **as = malloc((r->n_attrs ? r->n_attrs : 1) * sizeof *as);
  if (!as) return 1;
  for (size_t i = 0; i < r->n_attrs; i++) as[i] = &r->attrs[i];
  /* order-free: the reader lists attributes and datasets in its own order */
  if (r->n_attrs) qsort(as, r->n_attrs, sizeof *as, cmp_attr);
  if (n_ds) qsort(ds, n_ds, sizeof *ds, cmp_dsum); /* ds may be NULL then: a run without datasets */
  hasher s;
  h_init(&s);
  h_str(&s, r->id);
  h_u64(&s, r->n_attrs);
  for (size_t i = 0; i < r->n_attrs; i++) {
    const record_attr *a = as[i];
    h_str(&s, a->name);
    h_u64(&s, (uint64_t)a->type);
    h_u64(&s, a->summary != 0);
    if (a->type == RECORD_STR) h_str(&s, a->v.s);
    else h_values(&s, a->type == RECORD_INT ? (const void *)&a->v.i : (const void *)&a->v.d, 1);
  }
  h_u64(&s, n_ds);
  for (size_t i = 0; i < n_ds; i++) {
    h_str(&s, ds[i].path);
    h_u64(&s, ds[i].sum);
  }
  free(as);
  *out = s.h;
  return 0;
}

uint64_t record_checksum_root(const char *const vals[6], int64_t schema_version) {
  /* moex_version, created_utc, host, command_line, experiment, grid, then schema_version */
  hasher s;
  h_init(&s);
  for (int k = 0; k < 6; k++) h_str(&s, vals[k]);
  h_u64(&s, (uint64_t)schema_version);
  return s.h;
}
