/* record_internal: helpers shared by the record_*.c files. Not part of the public API. */
#ifndef MOEX_RECORD_INTERNAL_H
#define MOEX_RECORD_INTERNAL_H

#include <hdf5.h>

#include "record/record.h"

/* Reserved run-group attribute: the names of the run's attributes that are /summary columns. */
#define RECORD_SUMMARY_ATTR "summary_columns"
/* Reserved table attribute: the column names (marks a dataset as a table). */
#define RECORD_COLUMNS_ATTR "columns"
/* Reserved attribute of the root, of every run group and of every dataset: its content checksum
 * ("fnv1a64:" and 16 hex digits; record_checksum.c, results/SCHEMA.md). */
#define RECORD_CHECKSUM_ATTR "checksum"
#define RECORD_CHECKSUM_LEN 25 /* with the NUL */

/* An open record (record_read.c; record_salvage_walk.c opens damaged ones). */
struct record_file {
  char *path;
  hid_t fid;
  record_meta meta;
  char **ids;  /* in creation order */
  size_t n_ids, cap_ids;
  int sealed;  /* the root carries a checksum: so must every run and dataset (written by this moex) */
};
/* H5Literate callback adding each link name to the record_file's ids. */
herr_t record_list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data);

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

/* The sorted set of committed run ids (record_ids.c). */
typedef struct {
  char **v;
  size_t n, cap;
} record_idset;
int record_idset_has(const record_idset *s, const char *id);
int record_idset_add(record_idset *s, const char *id);  /* a copy; no-op when present */
void record_idset_free(record_idset *s);

/* The /summary columns of an open record as the writer extends them (record_summary.c). */
typedef struct {
  char *name;
  record_type type;
} record_column_info;
typedef struct {
  record_column_info *c;
  size_t n, cap;
  hsize_t nrows;
} record_columns;
int record_columns_read(const char *file, hid_t summary, record_columns *cs);
void record_columns_free(record_columns *cs);
/* Creates an empty extendible 1-D column. */
int record_column_create(const char *file, hid_t summary, const char *name, record_type type);
/* MOEX_EINVAL when a summary attribute of r has another type than its column. Writes nothing. */
int record_summary_check(const char *file, const record_columns *cs, const record_run *r);
/* Appends r's row: its id, its summary attributes, fill values elsewhere (NaN, INT64_MIN, "");
 * a new column is back-filled for the earlier rows. */
int record_summary_append(const char *file, hid_t summary, record_columns *cs, const record_run *r);

/* Checksums (record_checksum.c). */
typedef struct {
  const char *path;
  uint64_t sum;
} record_dsum; /* a dataset of a run: its path and checksum */
#define RECORD_FNV_BASIS 0xcbf29ce484222325ULL
uint64_t record_fnv1a(uint64_t h, const void *p, size_t n); /* FNV-1a 64 of n bytes from state h */
void record_checksum_format(uint64_t h, char out[RECORD_CHECKSUM_LEN]);
int record_checksum_parse(const char *s, uint64_t *h); /* 0, or 1 when not "fnv1a64:<16 hex>" */
uint64_t record_checksum_array(const record_array *a);
uint64_t record_checksum_table(const record_table *t);
/* Over the id, the attributes (names, types, summary flags, values) and the datasets' paths and
 * checksums, each set in name order (ds is sorted in place). 1 when out of memory. */
int record_checksum_run(const record_run *r, record_dsum *ds, size_t n_ds, uint64_t *out);
/* vals: moex_version, created_utc, host, command_line, experiment, grid. */
uint64_t record_checksum_root(const char *const vals[6], int64_t schema_version);
/* File access property list of every file moex writes: the 1.10 format (checksummed metadata). */
hid_t record_fapl(void);

/* Writing (record_write.c). */
hid_t record_ordered_gcpl(void);  /* links and attributes tracked in creation order */
int record_write_run(const char *file, hid_t runs, const record_run *r);  /* group /runs/<id> */
int record_write_empty(const char *path, const record_meta_in *meta);     /* a new closed record */

/* Work on a possibly damaged record in a forked child (record_child.c): work(path, fd, warg) runs
 * in the child (its return value is the child's exit status) and writes to fd; sink(fd, sarg)
 * drains it in the parent until EOF. 0 and *res (how the child ended) unless the parent could
 * not fork, or the sink or a sanitizer report about moex's own code failed it. */
enum { RECORD_CHILD_OK = 0, RECORD_CHILD_FAILED, RECORD_CHILD_CRASHED, RECORD_CHILD_HUNG };
typedef struct {
  int kind;   /* RECORD_CHILD_* */
  int status; /* exit status (FAILED) */
  int signo;  /* the signal (CRASHED, HUNG) */
  long cpu;   /* the CPU-seconds limit it had */
} record_child_result;
typedef int (*record_child_work)(const char *path, int fd, void *arg);
typedef int (*record_child_sink)(int fd, void *arg);
int record_child_run(const char *path, record_child_work work, void *warg, record_child_sink sink, void *sarg,
                     record_child_result *res);
/* CPU seconds a child reading path may use: $MOEX_VERIFY_CPU_S, else 10 + 1 per 4 MB. */
long record_child_cpu_limit(const char *path);

/* The journal beside a record: a second copy of every committed run (record_journal*.c,
 * results/SCHEMA.md "Journal"). */
#define RECORD_JOURNAL_SUFFIX ".journal"
typedef struct record_journal record_journal;
/* A new journal (truncating any) for the record whose root attributes are m. NULL on failure. */
record_journal *record_journal_create(const char *record_path, const record_meta *m);
/* Renames j's file to the journal of record_path (after the record was renamed there). */
int record_journal_move(record_journal *j, const char *record_path);
/* The journal of the open, verified record f at record_path, made to hold exactly f's runs in
 * f's order: the longest valid prefix naming f's runs is kept, the rest dropped, the runs it
 * lacks appended (read from f); a journal of another record (header) is started anew. */
record_journal *record_journal_resume(const char *record_path, record_file *f);
/* Writes and syncs the entries of runs (record positions pos0, pos0+1, ...) after the committed
 * ones; they stay pending until record_journal_commit, or are cut off by record_journal_rollback. */
int record_journal_append(record_journal *j, record_run *const *runs, size_t n, size_t pos0);
void record_journal_commit(record_journal *j, size_t n_runs); /* n_runs: the record's, after the commit */
void record_journal_rollback(record_journal *j);
void record_journal_close(record_journal *j);

/* Reading a journal (salvage). Entries whose checksum or framing fails are skipped (counted in
 * n_bad) and parsing resumes at the next entry marker. */
typedef struct {
  record_run *run;
  uint64_t pos; /* the run's position in the record when it was committed */
} record_journal_entry;
typedef struct {
  int has_meta;       /* the header was intact: meta holds the record's root attributes */
  record_meta meta;
  record_journal_entry *e;
  size_t n, cap, n_bad;
  uint64_t top;       /* highest pos of an intact entry + 1: the record held at least top runs */
  int tail_bad;       /* the journal ends in a damaged stretch (an entry cut short or garbled) */
  size_t n_committed; /* e[0..n_committed) precede the last commit mark: their commits happened */
} record_journal_contents;
/* 0 and *out (possibly empty) when the journal could be read; MOEX_EIO when it is missing or
 * unreadable (message names it). */
int record_journal_read(const char *journal_path, record_journal_contents *out);
void record_journal_contents_free(record_journal_contents *c);
char *record_journal_path(const char *record_path); /* malloc'd */
/* The format's pieces (record_journal.c), for the writer and the readers. */
int record_journal_header(const record_meta *m, unsigned char **buf, size_t *len);
int record_journal_entries(record_run *const *runs, size_t n, size_t pos0, unsigned char **buf, size_t *len);
size_t record_journal_parse_header(const unsigned char *b, size_t n, record_meta *m);
size_t record_journal_parse_entry(const unsigned char *b, size_t n, size_t o, uint64_t *pos, size_t *run_off,
                                  size_t *run_len);
size_t record_journal_next_marker(const unsigned char *b, size_t n, size_t o);
#define RECORD_JOURNAL_MARK 20 /* bytes of a commit mark */
void record_journal_mark(uint64_t n, unsigned char *b);
int record_journal_parse_mark(const unsigned char *b, size_t n, size_t o);
int record_journal_slurp(const char *path, unsigned char **buf, size_t *len);
/* 1 when a and b are the same root attributes (a journal's header and its record's). */
int record_meta_same(const record_meta *a, const record_meta *b);
void record_meta_free(record_meta *m);

#endif
