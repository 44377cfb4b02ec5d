/* record_internal: helpers shared by record_run.c, record_h5.c, record_write.c and
 * record_read.c. Not part of the public API. */
#ifndef MOEX_RECORD_INTERNAL_H
#define MOEX_RECORD_INTERNAL_H

#include <hdf5.h>

#include "record/record.h"

/* Reserved run-group attribute: the names of the run's attributes that are /summary columns. */
#define RECORD_SUMMARY_ATTR "summary_columns"
/* Reserved table attribute: the column names (marks a dataset as a table). */
#define RECORD_COLUMNS_ATTR "columns"

int record_name_ok(const char *s);
int record_path_ok(const char *s);
int record_utf8_ok(const char *s);
size_t record_utf8_len(const unsigned char *p); /* bytes of the valid UTF-8 sequence at p, or 0 */
char *record_strdup(const char *s);
record_array *record_array_new(const char *path, record_type type, int rank, const size_t *dims);
record_table *record_table_new(const char *path, size_t ncols, const char *const *columns);
int record_run_put_array(record_run *r, record_array *a);
int record_run_put_table(record_run *r, record_table *t);

/* HDF5 plumbing (record_h5.c). All return 0 or a moex error naming `file` and the object. */
void rh5_quiet(void);
const char *rh5_why(void);     /* the most specific message of HDF5's error stack, or "" */
hid_t rh5_str_type(void);      /* variable-length UTF-8 string type (close with H5Tclose) */
int rh5_is_vlen_utf8(hid_t type);
int rh5_attr_put(const char *file, hid_t loc, const record_attr *a);
int rh5_attr_put_str(const char *file, hid_t loc, const char *name, const char *value);
int rh5_attr_put_strs(const char *file, hid_t loc, const char *name, size_t n, char *const *v);
/* Reads scalar attribute `name` of loc into *a (a->name set to a copy of name). Strings must
 * be variable-length UTF-8, numbers integer (read as int64) or float (read as double). */
int rh5_attr_get(const char *file, hid_t loc, const char *what, const char *name, record_attr *a);
/* Reads a 1-D string array attribute; *v is malloc'd (n strings, each malloc'd). */
int rh5_attr_get_strs(const char *file, hid_t loc, const char *what, const char *name, size_t *n,
                      char ***v);
int rh5_fsync_path(const char *path);  /* fsync of a file or directory by name */

#endif
