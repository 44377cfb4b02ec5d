/* runcache: a run that several runs of a sweep would compute alike, computed once per invocation
 * and copied into the record of every run that asks for it under the same key, so that each record
 * still holds every run the figures need and the copies are, bit for bit, what computing them
 * again would have written. The key says what the run depends on: optim_gap's construction row
 * (the same network on the same data at every seed) by its target; manifold_rates' points that
 * are one configuration by the canonical point's configuration text, seed index included.
 *
 * Thread-safe (the sweep's workers share one cache); a failed computation is not cached, so each
 * seed that asks again fails with its own message. Under MPI or --shard each process has its
 * own cache: the records are the same, only the work is repeated per process. */
#ifndef MOEX_RUNCACHE_H
#define MOEX_RUNCACHE_H

#include "record/record.h"

typedef struct runcache runcache;

/* Computes a run's content into rec (an empty run); 0 or a moex error code. */
typedef int (*runcache_fn)(void *arg, record_run *rec);

runcache *runcache_alloc(void);
void runcache_free(runcache *c);

/* Fills rec (an empty run, whose id is kept) with the content that fn(arg, .) writes for `key`:
 * computed by fn the first time the key is asked for, copied afterwards. Then sets the int
 * attribute "seed" to `seed` (where the content had one, in its place; the one seed-dependent
 * attribute such a run has). 0 or fn's error code (rec then holds what fn wrote). */
int runcache_fill(runcache *c, const char *key, record_run *rec, runcache_fn fn, void *arg, int64_t seed);

/* How many times fn was called (for the tests and the log). */
size_t runcache_computed(const runcache *c);

#endif
