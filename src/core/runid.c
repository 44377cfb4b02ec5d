/* runid: FNV-1a 64 run ids and the seeds derived from them (see runid.h). */
#include "core/runid.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t runid_hash(const char *config) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)config; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return h;
}

void runid_id(const char *config, char out[17]) {
  snprintf(out, 17, "%016llx", (unsigned long long)runid_hash(config));
}

unsigned long runid_seed(unsigned long master, const char *config) {
  char id[17], buf[64];
  runid_id(config, id);
  snprintf(buf, sizeof buf, "%lu:%s", master, id);
  char id2[17];
  runid_id(buf, id2);
  return strtoul(id2 + 8, NULL, 16); /* 32 bits: GSL's mt19937 seeds with an unsigned long */
}
