/* runcache: seed-independent runs computed once per invocation and copied (runcache.h). */
#include "lib/runcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

typedef struct {
  char *key;
  record_run *run; /* the content fn wrote, owned */
} runcache_entry;

struct runcache {
  pthread_mutex_t mu; /* held while an entry is looked up or computed: a second asker of the same
                       * key waits for the first rather than computing it again */
  size_t n, cap, computed;
  runcache_entry *e;
};

runcache *runcache_alloc(void) {
  runcache *c = calloc(1, sizeof *c);
  if (c && pthread_mutex_init(&c->mu, NULL)) {
    free(c);
    return NULL;
  }
  return c;
}

void runcache_free(runcache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    free(c->e[i].key);
    record_run_free(c->e[i].run);
  }
  free(c->e);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

size_t runcache_computed(const runcache *c) { return c ? c->computed : 0; }

/* rec's content replaced by a deep copy of from's (rec's id kept): record_run_copy's copy with
 * the two ids exchanged, the old content freed with the copy's shell. */
static int copy_into(record_run *rec, const record_run *from) {
  record_run *cp = record_run_copy(from);
  if (!cp) return moex_error(MOEX_ENOMEM, "runcache: out of memory copying run '%s'", from->id);
  record_run old = *rec;
  *rec = *cp;
  rec->id = old.id;
  old.id = cp->id;
  *cp = old;
  record_run_free(cp);
  return MOEX_OK;
}

/* The cached content of key computed into rec by fn, or copied from the cache (c->mu held). */
static int fill_locked(runcache *c, const char *key, record_run *rec, runcache_fn fn, void *arg) {
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->e[i].key, key)) return copy_into(rec, c->e[i].run);
  c->computed++;
  int rc = fn(arg, rec);
  if (rc) return rc;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 4;
    runcache_entry *e = realloc(c->e, cap * sizeof *e);
    if (!e) return moex_error(MOEX_ENOMEM, "runcache: out of memory");
    c->e = e;
    c->cap = cap;
  }
  runcache_entry ne = {strdup(key), record_run_copy(rec)};
  if (!ne.key || !ne.run) {
    free(ne.key);
    record_run_free(ne.run);
    return moex_error(MOEX_ENOMEM, "runcache: out of memory");
  }
  c->e[c->n++] = ne;
  return MOEX_OK;
}

int runcache_fill(runcache *c, const char *key, record_run *rec, runcache_fn fn, void *arg, int64_t seed) {
  if (!c || !key || !rec || !fn) return moex_error(MOEX_EINVAL, "runcache_fill: NULL argument");
  pthread_mutex_lock(&c->mu);
  int rc = fill_locked(c, key, rec, fn, arg);
  pthread_mutex_unlock(&c->mu);
  if (!rc && record_run_attr(rec, "seed")) rc = record_run_set_int(rec, "seed", seed);
  return rc;
}
