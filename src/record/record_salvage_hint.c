/* record_salvage_hint: what a refusal of a damaged record adds, so that a user who meets one
 * learns that salvage exists and how to run it (moex-report, moex-merge, --resume). Apart from
 * record_salvage.c, which the writer's own code (record_commit.c) must not depend on. */
#include "record/record_internal.h"

#include <stdio.h>
#include <string.h>

const char *record_salvage_hint(const char *path, const char *msg) {
  static _Thread_local char hint[1200];
  int damage = msg && (strstr(msg, "damaged") || strstr(msg, "HDF5") || strstr(msg, "checksum"));
  if (!damage || !path) return "";
  snprintf(hint, sizeof hint, "; salvage keeps its intact runs: moex-merge --salvage %s -o SALVAGED.h5", path);
  return hint;
}
