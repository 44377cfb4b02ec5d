/* record: moex's HDF5 results files (the schema is documented in results/SCHEMA.md).
 *
 * One file per experiment invocation, holding many runs. A run is built in memory
 * (record_run: typed scalar attributes, named int64/double arrays of rank 1 or 2, and
 * row tables such as the training curve) and handed to a record_writer, which commits it
 * atomically: the file on disk is only ever replaced whole, by rename(), by a complete and
 * closed HDF5 file. A process killed at any moment (SIGKILL included) leaves OUT.h5 as it was
 * after the last completed record_writer_append(), readable by h5dump and h5py.
 *
 * The same record_run structure is what the reader returns, so a run read from one file can
 * be appended to another unchanged (moex-merge), and a round trip compares two record_runs.
 *
 * The record module knows nothing of models or fitters: the caller chooses attribute names
 * and array paths, following the conventions of results/SCHEMA.md.
 *
 * HDF5's automatic error printing is switched off by every entry point of this module; every
 * failure becomes a moex error code with a one-line message naming the file and object.
 *
 * Integrity (results/SCHEMA.md): the root, every run and every dataset carry a checksum, and
 * every read verifies what it returns; a damaged run is an error naming it, never a value. */
#ifndef MOEX_RECORD_H
#define MOEX_RECORD_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define RECORD_SCHEMA_VERSION 1

typedef enum { RECORD_STR = 1, RECORD_INT = 2, RECORD_DOUBLE = 3 } record_type;

/* ---- a run in memory ------------------------------------------------------------------- */

typedef struct {
  char *name;      /* [A-Za-z0-9_.-]+, not "run_id" */
  record_type type;
  int summary;     /* nonzero: also a column of /summary */
  union { char *s; int64_t i; double d; } v;
} record_attr;

typedef struct {
  char *path;      /* "a/b/c": components [A-Za-z0-9_.-]+, relative to the run group */
  record_type type; /* RECORD_INT (int64_t data) or RECORD_DOUBLE (double data) */
  int rank;        /* 1 or 2 */
  size_t dims[2];  /* dims[1] == 1 when rank == 1 */
  void *data;      /* dims[0] * dims[1] values, row-major */
} record_array;

typedef struct {
  char *path;      /* as for arrays; e.g. "curve" */
  size_t ncols, nrows, cap;
  char **columns;  /* ncols names */
  double *data;    /* (nrows, ncols) row-major */
} record_table;

typedef struct {
  char *id;        /* run id: [A-Za-z0-9_.-]+, e.g. 16 hex characters */
  size_t n_attrs, cap_attrs;
  record_attr *attrs;       /* in insertion order */
  size_t n_arrays, cap_arrays;
  record_array **arrays;    /* in insertion order */
  size_t n_tables, cap_tables;
  record_table **tables;    /* in insertion order */
} record_run;

record_run *record_run_alloc(const char *id);
void record_run_free(record_run *r);
record_run *record_run_copy(const record_run *r);   /* deep copy, NULL on failure */

/* Scalar attributes. Setting an existing name replaces its value (and type). Strings must be
 * valid UTF-8 (h5py decodes them). */
int record_run_set_str(record_run *r, const char *name, const char *value);
int record_run_set_int(record_run *r, const char *name, int64_t value);
int record_run_set_double(record_run *r, const char *name, double value);
/* Marks attribute `name` as a /summary column; name == NULL marks every attribute set so far.
 * A summary column keeps one type across the file's runs. */
int record_run_summarize(record_run *r, const char *name);

/* Arrays (copied). rank is 1 or 2, dims has `rank` entries; x is (dims[0]) or (dims[0], dims[1]). */
int record_run_add_double(record_run *r, const char *path, const double *x, int rank,
                          const size_t *dims);
int record_run_add_int(record_run *r, const char *path, const int64_t *x, int rank,
                       const size_t *dims);

/* A table of double rows with named columns (the training curve: path "curve"). Stored as a
 * chunked, deflate-compressed 2-D dataset with unlimited rows. Returns the table (owned by r)
 * or NULL. */
record_table *record_run_add_table(record_run *r, const char *path, size_t ncols,
                                   const char *const *columns);
int record_table_append(record_table *t, const double *row);  /* row is (ncols) */

/* Lookups: NULL when absent. */
const record_attr *record_run_attr(const record_run *r, const char *name);
const record_array *record_run_array(const record_run *r, const char *path);
const record_table *record_run_table(const record_run *r, const char *path);
/* Typed attribute getters: MOEX_EINVAL when absent or of another type. The string stays
 * owned by r. */
int record_run_get_str(const record_run *r, const char *name, const char **out);
int record_run_get_int(const record_run *r, const char *name, int64_t *out);
int record_run_get_double(const record_run *r, const char *name, double *out);

/* 0 when a and b hold the same id, attributes (names, types, summary flags, values bit for
 * bit; order ignored), arrays and tables; otherwise 1 and moex_errmsg() names the first
 * difference. */
int record_run_compare(const record_run *a, const record_run *b);

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct {
  const char *experiment;    /* e.g. "paper_exp1" */
  const char *grid;          /* free text describing the grid (JSON-like) */
  const char *command_line;  /* e.g. from record_join_argv() */
} record_meta_in;

enum {
  RECORD_NEW = 0,      /* start a new file; an existing OUT.h5 is replaced (atomically) */
  RECORD_RESUME = 1,   /* keep the runs of an existing OUT.h5 (same experiment), or create */
  RECORD_COPY_ALWAYS = 4 /* or-flag: copy the whole file at every commit (see SCHEMA.md) */
};

typedef struct record_writer record_writer;

/* One writer per file: an exclusive lock on `path`, held by the file path.lock beside it (flock;
 * released by the kernel when the holder dies, so a lock file left by a killed process is stale
 * and taken over). NULL, and MOEX_EIO with "'path' is being written by process N on HOST (started
 * T)...", when another writer (of this process or another) holds it. Readers never take it. */
typedef struct record_lock record_lock;
record_lock *record_lock_take(const char *path);
void record_lock_release(record_lock *l);  /* removes path.lock */

/* Opens `path` for appending runs, holding its lock (record_lock_take) until
 * record_writer_close. Then, and only then, leftovers of a killed writer (path.tmp, path.old)
 * are removed. The file on disk is valid from the moment this returns. NULL on failure (another
 * writer holds the file, missing or unwritable folder, not HDF5, other schema version, another
 * experiment when resuming). */
record_writer *record_writer_open(const char *path, const record_meta_in *meta, int flags);

/* Commits n runs at once, atomically (all or none) and durably (fsync of file and folder).
 * Refuses (nothing written) a run id already in the file or given twice, or a summary column
 * whose type differs from the file's. Safe to interrupt by any signal; to keep Ctrl-C from
 * abandoning a commit, wrap it in record_signals_block()/record_signals_restore(). */
int record_writer_append(record_writer *w, record_run *const *runs, size_t n);

/* Nonzero when run `id` is in the file (committed). */
int record_writer_has(const record_writer *w, const char *id);
size_t record_writer_n_runs(const record_writer *w);
/* Removes the writer's working copy and frees w. The file itself is always closed. */
void record_writer_close(record_writer *w);

/* Blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT in the calling thread (saving the old mask), and
 * restores it. */
int record_signals_block(sigset_t *old);
int record_signals_restore(const sigset_t *old);

/* argv joined with spaces, arguments containing spaces or quotes single-quoted (malloc'd). */
char *record_join_argv(int argc, char *const *argv);

/* Time spent in the last commit, for measurements: total, and the part spent copying. */
void record_writer_last_commit(const record_writer *w, double *total_s, double *copy_s,
                               int *full_copy);

/* Of the last commit's time, the part spent writing and syncing the journal's entries. */
double record_writer_last_journal(const record_writer *w);

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct {
  char *moex_version;
  int64_t schema_version;
  char *created_utc;
  char *host;
  char *command_line;
  char *experiment;
  char *grid;
} record_meta;

typedef struct record_file record_file;

/* Opens read-only and checks schema_version. NULL on failure: missing file, not HDF5, not a
 * moex record, another schema version. */
record_file *record_open(const char *path);
void record_close(record_file *f);
const record_meta *record_file_meta(const record_file *f);
/* Ids of the complete runs, in the order they were written; owned by f. */
size_t record_n_runs(const record_file *f);
const char *record_run_id(const record_file *f, size_t i);
int record_has_run(const record_file *f, const char *id);

enum { RECORD_READ_ATTRS = 0, RECORD_READ_ALL = 1 };
/* Reads run `id`: its attributes, and with RECORD_READ_ALL its arrays and tables. */
record_run *record_read_run(record_file *f, const char *id, int what);
/* Reads one array or table of a run without the rest. */
record_array *record_read_array(record_file *f, const char *id, const char *path);
record_table *record_read_table(record_file *f, const char *id, const char *path);
void record_array_free(record_array *a);
void record_table_free(record_table *t);
/* Column index of `name` in t, or -1. */
long record_table_column(const record_table *t, const char *name);

/* The /summary table: one row per run, in the order written; column 0 is run_id. */
typedef struct {
  char *name;
  record_type type;
  union { char **s; int64_t *i; double *d; } v;  /* nrows values */
} record_column;

typedef struct {
  size_t nrows, ncols;
  record_column *cols;
} record_summary;

record_summary *record_read_summary(record_file *f);
void record_summary_free(record_summary *s);
const record_column *record_summary_column(const record_summary *s, const char *name);

/* Checks a whole file against the schema (root attributes and their types, every run group,
 * every attribute, array and table, the summary's columns, lengths and run ids). 0 when valid,
 * else an error code and a message naming the first offending object. */
int record_check(const char *path);

/* record_check in a child process: 0 when the file is valid and every checksum matches, else
 * MOEX_EIO with the damage named (the run id, the dataset), also when the HDF5 library crashed
 * or hung on the file (a signal or a time-out in the child). Under mpirun it checks in process. */
int record_verify(const char *path);

/* ---- salvage (record_salvage*.c; results/SCHEMA.md, "Salvage") ---------------------------- */

typedef struct {
  size_t known;        /* runs the record is known to have held: the ids its indexes, its
                        * /summary/run_id and its journal list, and those known only by their
                        * position (gaps in the journal's positions, its cut end) */
  size_t kept;         /* written to the output, every checksum verified */
  size_t from_journal; /* of the kept, read from the journal (the record's copy out of reach) */
  int record;          /* 1: the record itself could be walked */
  int journal;         /* 1: its journal was read; 0: there is none; -1: unreadable; -2: of
                        * another record (its header differs from the record's), ignored */
  size_t journal_bad;  /* damaged stretches of the journal, skipped */
  int restarts;        /* reading children restarted after HDF5 crashed or hung on a run */
} record_salvage_stats;

/* Writes to `out` (aside, then renamed; with its own journal) a new record holding every run of
 * the record `in` whose checksums verify, read from the record where it can be walked and from
 * its journal (in.journal) where not; writes one line per run it could not keep to `lines`
 * ("run ID: not kept: KIND (message)", KIND one of checksum, missing dataset, unreadable
 * group), one line for the journal's damaged stretches and the runs lost there, and one when the
 * journal is another record's (its header differs from the record's: ignored). 0 also when runs
 * were lost (st->kept < st->known); MOEX_EINVAL on bad input (no such file nor journal, out being
 * in or its journal); MOEX_EIO when nothing could be read or out not written. */
int record_salvage(const char *in, const char *out, const char *command_line, FILE *lines,
                   record_salvage_stats *st);

/* The hint a refusal of the damaged record `path` ends with ("; salvage keeps its intact runs:
 * moex-merge --salvage PATH -o SALVAGED.h5"), or "" when msg (the refusal) is not about damage
 * (a missing file, another schema version). Owned by the thread, valid until the next call. */
const char *record_salvage_hint(const char *path, const char *msg);

/* Renames the record `from` to `to`, with its journal (a journal left at to.journal is removed
 * when from has none), and syncs the folder. When the record was renamed but its journal or the
 * folder's sync failed, the message starts "'TO' is written and in place, but: ". */
int record_rename(const char *from, const char *to);

#endif
