/* record_salvage: the parts of salvage (record_salvage*.c) that the public record_salvage()
 * joins: what a damaged record still yields when walked in contained children. */
#ifndef MOEX_RECORD_SALVAGE_H
#define MOEX_RECORD_SALVAGE_H

#include "record/record_internal.h"

typedef struct {
  char *open_error;   /* why the record could not be walked at all (NULL: it could) */
  int has_meta;       /* its root attributes verified: meta */
  record_meta meta;
  int sealed;         /* its root carries a checksum */
  int listed;         /* the list of ids is complete as far as the indexes could be walked */
  char **ids;         /* n_ids run ids: creation order first, then what only other indexes list */
  record_run **runs;  /* runs[i]: run ids[i], every checksum verified; NULL when not */
  char **why;         /* why[i]: why runs[i] is NULL */
  size_t n_ids, cap;
  long current;       /* the run a child had begun and not answered */
  int restarts;       /* children started again after a crash or hang */
} record_salvage_walk;

/* Walks the record at path (record_salvage_walk.c): 0 and *s (its open_error says why nothing
 * could be read), or MOEX_EIO when no child could be started. */
int record_salvage_walk_run(const char *path, record_salvage_walk *s);
void record_salvage_walk_free(record_salvage_walk *s);

#endif
