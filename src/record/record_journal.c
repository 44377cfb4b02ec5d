/* record_journal: the journal's format (results/SCHEMA.md, "Journal"), encoding and reading.
 *
 * OUT.h5.journal is a second copy of every run committed to OUT.h5, kept by the writer so that
 * damage to what HDF5 needs to reach the runs at all (superblock, root group, the /runs index), or
 * a copy cut short, costs no run: moex-merge --salvage reads the runs back from it. It is a plain
 * append-only byte stream, not HDF5, so reading it needs no library that damage can crash:
 *
 *   header: "MOEXJNL1", u32 0x01020304 (byte order), u32 2 (version), u64 L, L bytes (the record's
 *           root attributes: moex_version, created_utc, host, command_line, experiment, grid as
 *           u64 length + bytes, then u64 schema_version), u64 FNV-1a 64 of those L bytes;
 *   entry:  "MXJE", u64 L, u64 pos (the run's index in /runs), L bytes (the run, record_pack.h),
 *           u64 FNV-1a 64 of the 16 bytes of L and pos then the L bytes;
 *   commit mark: "MXJC", u64 n (the runs the record holds), u64 FNV-1a 64 of those 8 bytes,
 *           written after the rename that published a commit: entries after the last mark
 *           belong to a commit that may not have happened (version 1 journals have no marks:
 *           every entry counts as committed).
 *
 * Integers are in the writer's byte order (the probe tells a reader of another order to refuse).
 * Every entry checks itself, and a reader that meets a damaged one looks for the next "MXJE". */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record_pack.h"

static const char HMAGIC[8] = {'M', 'O', 'E', 'X', 'J', 'N', 'L', '1'};
static const char EMAGIC[4] = {'M', 'X', 'J', 'E'};
static const char CMAGIC[4] = {'M', 'X', 'J', 'C'};
#define PROBE 0x01020304u
#define MAX_STR ((uint64_t)1 << 30)

char *record_journal_path(const char *record_path) {
  size_t n = strlen(record_path), m = strlen(RECORD_JOURNAL_SUFFIX);
  char *s = malloc(n + m + 1);
  if (s) {
    memcpy(s, record_path, n);
    memcpy(s + n, RECORD_JOURNAL_SUFFIX, m + 1);
  }
  return s;
}

static unsigned char *put(unsigned char *p, const void *x, size_t n) {
  memcpy(p, x, n);
  return p + n;
}

/* The header for root attributes m, malloc'd in *buf (*len bytes). */
int record_journal_header(const record_meta *m, unsigned char **buf, size_t *len) {
  const char *v[6] = {m->moex_version, m->created_utc, m->host, m->command_line, m->experiment, m->grid};
  uint64_t L = 8;
  for (int k = 0; k < 6; k++) L += 8 + strlen(v[k] ? v[k] : "");
  *len = 8 + 4 + 4 + 8 + L + 8;
  unsigned char *b = malloc(*len), *p = b;
  if (!b) return moex_error(MOEX_ENOMEM, "record: out of memory");
  uint32_t probe = PROBE, version = 2;
  p = put(p, HMAGIC, 8);
  p = put(p, &probe, 4);
  p = put(p, &version, 4);
  p = put(p, &L, 8);
  unsigned char *payload = p;
  for (int k = 0; k < 6; k++) {
    uint64_t n = strlen(v[k] ? v[k] : "");
    p = put(p, &n, 8);
    p = put(p, v[k] ? v[k] : "", n);
  }
  uint64_t sv = (uint64_t)m->schema_version;
  p = put(p, &sv, 8);
  uint64_t h = record_fnv1a(RECORD_FNV_BASIS, payload, L);
  put(p, &h, 8);
  *buf = b;
  return 0;
}

/* The entries of runs (positions pos0...), malloc'd and concatenated in *buf (*len bytes). */
int record_journal_entries(record_run *const *runs, size_t n, size_t pos0, unsigned char **buf, size_t *len) {
  unsigned char *b = NULL;
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char *pk;
    size_t L;
    if (record_run_pack(runs[i], &pk, &L)) { free(b); return MOEX_ENOMEM; }
    unsigned char *nb = realloc(b, used + 4 + 8 + 8 + L + 8);
    if (!nb) {
      free(pk);
      free(b);
      return moex_error(MOEX_ENOMEM, "record: out of memory");
    }
    b = nb;
    unsigned char *p = b + used;
    uint64_t L64 = L, pos = pos0 + i;
    p = put(p, EMAGIC, 4);
    unsigned char *covered = p;
    p = put(p, &L64, 8);
    p = put(p, &pos, 8);
    p = put(p, pk, L);
    uint64_t h = record_fnv1a(RECORD_FNV_BASIS, covered, 16 + L);
    put(p, &h, 8);
    used += 4 + 8 + 8 + L + 8;
    free(pk);
  }
  *buf = b;
  *len = used;
  return 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

static uint64_t get64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* The header at b (n bytes): its length, and m filled; 0 when it is not an intact header. */
size_t record_journal_parse_header(const unsigned char *b, size_t n, record_meta *m) {
  memset(m, 0, sizeof *m);
  if (n < 24 + 8 || memcmp(b, HMAGIC, 8)) return 0;
  uint32_t probe, version;
  memcpy(&probe, b + 8, 4);
  memcpy(&version, b + 12, 4);
  uint64_t L = get64(b + 16);
  if (probe != PROBE || (version != 1 && version != 2) || L > n - 32 || record_fnv1a(RECORD_FNV_BASIS, b + 24, L) != get64(b + 24 + L))
    return 0;
  char **dst[6] = {&m->moex_version, &m->created_utc, &m->host, &m->command_line, &m->experiment, &m->grid};
  const unsigned char *p = b + 24, *end = b + 24 + L;
  for (int k = 0; k < 6; k++) {
    uint64_t sl = end - p >= 8 ? get64(p) : MAX_STR;
    if (sl >= MAX_STR || sl > (uint64_t)(end - p - 8) || !(*dst[k] = malloc(sl + 1))) {
      record_meta_free(m);
      memset(m, 0, sizeof *m);
      return 0;
    }
    memcpy(*dst[k], p + 8, sl);
    (*dst[k])[sl] = '\0';
    p += 8 + sl;
  }
  if (end - p != 8) {
    record_meta_free(m);
    memset(m, 0, sizeof *m);
    return 0;
  }
  m->schema_version = (int64_t)get64(p);
  return 24 + L + 8;
}

/* The entry at b[o..n): its total length, *pos and the start and length of its packed run; 0
 * when no intact entry starts there. */
size_t record_journal_parse_entry(const unsigned char *b, size_t n, size_t o, uint64_t *pos, size_t *run_off,
                                  size_t *run_len) {
  if (n - o < 28 || memcmp(b + o, EMAGIC, 4)) return 0;
  uint64_t L = get64(b + o + 4);
  if (L > n - o - 28) return 0;
  if (record_fnv1a(RECORD_FNV_BASIS, b + o + 4, 16 + L) != get64(b + o + 20 + L)) return 0;
  *pos = get64(b + o + 12);
  *run_off = o + 20;
  *run_len = L;
  return 28 + L;
}

/* The commit mark for a record of n runs (RECORD_JOURNAL_MARK bytes) into b. */
void record_journal_mark(uint64_t n, unsigned char *b) {
  unsigned char *p = put(b, CMAGIC, 4);
  p = put(p, &n, 8);
  uint64_t h = record_fnv1a(RECORD_FNV_BASIS, b + 4, 8);
  put(p, &h, 8);
}

/* 1 when an intact commit mark starts at b[o..n). */
int record_journal_parse_mark(const unsigned char *b, size_t n, size_t o) {
  return n - o >= RECORD_JOURNAL_MARK && !memcmp(b + o, CMAGIC, 4) &&
         record_fnv1a(RECORD_FNV_BASIS, b + o + 4, 8) == get64(b + o + 12);
}

/* Offset of the next entry or commit marker at or after o, or n. */
size_t record_journal_next_marker(const unsigned char *b, size_t n, size_t o) {
  for (; o + 4 <= n; o++) {
    const unsigned char *q = memchr(b + o, 'M', n - o);
    if (!q) return n;
    o = (size_t)(q - b);
    if (o + 4 <= n && (!memcmp(q, EMAGIC, 4) || !memcmp(q, CMAGIC, 4))) return o;
  }
  return n;
}

int record_meta_same(const record_meta *a, const record_meta *b) {
  const char *x[6] = {a->moex_version, a->created_utc, a->host, a->command_line, a->experiment, a->grid};
  const char *y[6] = {b->moex_version, b->created_utc, b->host, b->command_line, b->experiment, b->grid};
  for (int k = 0; k < 6; k++)
    if (strcmp(x[k] ? x[k] : "", y[k] ? y[k] : "")) return 0;
  return a->schema_version == b->schema_version;
}

/* The whole file at path, malloc'd; an error (naming it) when fewer bytes than its size could
 * be read: a journal read short would hide the runs of its lost tail. */
int record_journal_slurp(const char *path, unsigned char **buf, size_t *len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return moex_error(MOEX_EIO, "record: cannot read the journal '%s': %s", path, strerror(errno));
  struct stat st;
  unsigned char *b = NULL;
  int rc = fstat(fd, &st) != 0 || !(b = malloc(st.st_size ? (size_t)st.st_size : 1));
  size_t got = 0;
  int e = 0;
  while (!rc && got < (size_t)st.st_size) {
    ssize_t k = read(fd, b + got, (size_t)st.st_size - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) e = errno;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  if (rc || got < (size_t)st.st_size) {
    free(b);
    return moex_error(MOEX_EIO, "record: cannot read the journal '%s'%s%s", path, e ? ": " : " (read short)",
                      e ? strerror(e) : "");
  }
  *buf = b;
  *len = got;
  return 0;
}

static int contents_add(record_journal_contents *c, record_run *r, uint64_t pos) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    record_journal_entry *p = realloc(c->e, cap * sizeof *p);
    if (!p) return moex_error(MOEX_ENOMEM, "record: out of memory");
    c->e = p;
    c->cap = cap;
  }
  c->e[c->n++] = (record_journal_entry){r, pos};
  return 0;
}

int record_journal_read(const char *journal_path, record_journal_contents *out) {
  memset(out, 0, sizeof *out);
  unsigned char *b;
  size_t n;
  int rc = record_journal_slurp(journal_path, &b, &n);
  if (rc) return rc;
  size_t o = record_journal_parse_header(b, n, &out->meta);
  out->has_meta = o > 0;
  uint32_t version = 0;
  if (o) memcpy(&version, b + 12, 4);
  size_t header = o;
  int in_bad = 0, marked = 0;
  while (!rc && o < n) {
    if (record_journal_parse_mark(b, n, o)) {
      out->n_committed = out->n;
      marked = 1;
      in_bad = 0;
      o += RECORD_JOURNAL_MARK;
      continue;
    }
    uint64_t pos;
    size_t ro, rl, el = record_journal_parse_entry(b, n, o, &pos, &ro, &rl);
    record_run *r = el ? record_run_unpack(b + ro, rl) : NULL;
    if (r && !record_name_ok(r->id)) {
      record_run_free(r);
      r = NULL;
    }
    if (!r) {
      out->n_bad += !in_bad; /* one damaged stretch counts once */
      in_bad = 1;
      o = record_journal_next_marker(b, n, o + 1);
      continue;
    }
    in_bad = 0;
    if (pos + 1 > out->top) out->top = pos + 1;
    rc = contents_add(out, r, pos);
    if (rc) record_run_free(r);
    o += el;
  }
  out->tail_bad = in_bad;
  /* a version 1 journal (or one whose header is damaged and that has no mark) has no marks:
   * every entry counts as committed */
  if (version == 1 || (!header && !marked)) out->n_committed = out->n;
  free(b);
  if (rc) record_journal_contents_free(out);
  return rc;
}

void record_journal_contents_free(record_journal_contents *c) {
  for (size_t i = 0; i < c->n; i++) record_run_free(c->e[i].run);
  free(c->e);
  if (c->has_meta) record_meta_free(&c->meta);
  memset(c, 0, sizeof *c);
}
