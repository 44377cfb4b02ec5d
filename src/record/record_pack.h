/* record_pack: a record_run as one byte buffer and back (for sending runs between MPI ranks).
 * Doubles and integers travel as their native bytes, so a run unpacked equals the packed one bit
 * for bit (record_run_compare); the format assumes ranks of one byte order and is not a file
 * format. */
#ifndef MOEX_RECORD_PACK_H
#define MOEX_RECORD_PACK_H

#include <stddef.h>

#include "record/record.h"

/* Packs r into a malloc'd buffer *buf of *len bytes. 0, or MOEX_ENOMEM. */
int record_run_pack(const record_run *r, unsigned char **buf, size_t *len);
/* The run packed in buf (len bytes), or NULL with a message when the buffer is malformed or
 * memory runs out. */
record_run *record_run_unpack(const unsigned char *buf, size_t len);

#endif
