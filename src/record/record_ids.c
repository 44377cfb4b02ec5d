/* record_ids: the sorted set of run ids a writer has committed (what --resume skips). */
#include "record/record_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/moex_error.h"

static int find(const record_idset *s, const char *id, size_t *pos) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(s->v[mid], id);
    if (c == 0) { *pos = mid; return 1; }
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  *pos = lo;
  return 0;
}

int record_idset_has(const record_idset *s, const char *id) {
  size_t pos;
  return s && id && find(s, id, &pos);
}

int record_idset_add(record_idset *s, const char *id) {
  size_t pos;
  if (find(s, id, &pos)) return 0;
  char **p = moex_grow(s->v, s->n, &s->cap, sizeof *p, 64);
  if (!p) return moex_error(MOEX_ENOMEM, "record: out of memory");
  s->v = p;
  char *d = record_strdup(id);
  if (!d) return moex_error(MOEX_ENOMEM, "record: out of memory");
  memmove(s->v + pos + 1, s->v + pos, (s->n - pos) * sizeof *s->v);
  s->v[pos] = d;
  s->n++;
  return 0;
}

void record_idset_free(record_idset *s) {
  for (size_t i = 0; i < s->n; ++i) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}
