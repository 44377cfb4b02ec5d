/* runid: the stable run id of a configuration string and the seed derived from it. */
#ifndef MOEX_RUNID_H
#define MOEX_RUNID_H

/* A stable 16-hex-digit run id from a configuration string (FNV-1a 64), and a seed derived
 * from the master seed and that id: never from scheduling order, so any number of workers,
 * shards or MPI ranks gives every run the same seed. */
#include <stdint.h>

void runid_id(const char *config, char out[17]);
/* The FNV-1a 64 hash runid_id writes as hex (the report matches runs by their pair_key's). */
uint64_t runid_hash(const char *config);
unsigned long runid_seed(unsigned long master, const char *config);

#endif
