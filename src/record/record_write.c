/* record_write: the writer. The file on disk is only ever replaced whole, by rename().
 *
 * Why: HDF5 updates metadata in place (superblock, B-trees, heaps), so a process killed in
 * the middle of H5Fclose or of a dataset write can leave a file no tool opens. Here a commit
 * writes into a private working copy OUT.h5.tmp, closes and fsyncs it, and rename()s it over
 * OUT.h5 (atomic on POSIX). At every instant OUT.h5 names a complete, closed file.
 *
 * Why a working copy that alternates instead of a fresh copy per commit: copying the whole
 * file at every commit costs O(file size), and a sweep's file can reach hundreds of MB. After
 * a commit, the file that OUT.h5 named before (state N-1) is kept, by link()/rename(), as the
 * next working copy; the next commit first re-applies the runs it lacks (the previous batch,
 * kept in memory), then the new ones. A commit so costs O(size of two batches). A full copy is
 * made only when no valid working copy exists: at the first commit of a process, after a
 * failed commit, where link() is not supported, or when another process holds the old file
 * open through HDF5 (its lock makes our H5Fopen fail, so we never modify a file a reader
 * has open). RECORD_COPY_ALWAYS forces the full copy at every commit. */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/moex_error.h"

#ifndef MOEX_VERSION
#define MOEX_VERSION "unknown"
#endif

struct record_writer {
  char *path, *tmp, *old, *dir;
  int flags;
  char **ids;            /* sorted, committed run ids */
  size_t n_ids, cap_ids;
  int work_valid;        /* tmp exists and equals the committed file minus `pending` */
  record_run **pending;
  size_t n_pending;
  double last_total, last_copy;
  int last_full;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *cat(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  char *s = malloc(n + m + 1);
  if (s) { memcpy(s, a, n); memcpy(s + n, b, m + 1); }
  return s;
}

/* A copy of s with every byte that breaks UTF-8 replaced by '?' (argv may hold any bytes). */
static char *utf8_sanitized(const char *s) {
  char *d = record_strdup(s ? s : "");
  for (unsigned char *p = (unsigned char *)d; p && *p;) {
    size_t k = record_utf8_len(p);
    if (k) p += k;
    else *p++ = '?';
  }
  return d;
}

static int ids_find(const record_writer *w, const char *id, size_t *pos) {
  size_t lo = 0, hi = w->n_ids;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(w->ids[mid], id);
    if (c == 0) { *pos = mid; return 1; }
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  *pos = lo;
  return 0;
}

static int ids_add(record_writer *w, const char *id) {
  size_t pos;
  if (ids_find(w, id, &pos)) return 0;
  if (w->n_ids == w->cap_ids) {
    size_t c = w->cap_ids ? 2 * w->cap_ids : 64;
    char **p = realloc(w->ids, c * sizeof *p);
    if (!p) return moex_error(MOEX_ENOMEM, "record: out of memory");
    w->ids = p;
    w->cap_ids = c;
  }
  char *s = record_strdup(id);
  if (!s) return moex_error(MOEX_ENOMEM, "record: out of memory");
  memmove(w->ids + pos + 1, w->ids + pos, (w->n_ids - pos) * sizeof *w->ids);
  w->ids[pos] = s;
  w->n_ids++;
  return 0;
}

int record_writer_has(const record_writer *w, const char *id) {
  size_t pos;
  return w && id && ids_find(w, id, &pos);
}

size_t record_writer_n_runs(const record_writer *w) { return w ? w->n_ids : 0; }

void record_writer_last_commit(const record_writer *w, double *total_s, double *copy_s,
                               int *full_copy) {
  if (total_s) *total_s = w->last_total;
  if (copy_s) *copy_s = w->last_copy;
  if (full_copy) *full_copy = w->last_full;
}

static void pending_clear(record_writer *w) {
  for (size_t i = 0; i < w->n_pending; ++i) record_run_free(w->pending[i]);
  free(w->pending);
  w->pending = NULL;
  w->n_pending = 0;
}

void record_writer_close(record_writer *w) {
  if (!w) return;
  if (w->tmp) unlink(w->tmp);
  pending_clear(w);
  for (size_t i = 0; i < w->n_ids; ++i) free(w->ids[i]);
  free(w->ids);
  free(w->path);
  free(w->tmp);
  free(w->old);
  free(w->dir);
  free(w);
}

static int copy_file(const char *src, const char *dst) {
  int in = open(src, O_RDONLY);
  if (in < 0) return moex_error(MOEX_EIO, "record: cannot read '%s': %s", src, strerror(errno));
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    int e = errno;
    close(in);
    return moex_error(MOEX_EIO, "record: cannot create '%s': %s", dst, strerror(e));
  }
  static _Thread_local char buf[1 << 20];
  int rc = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { rc = moex_error(MOEX_EIO, "record: cannot read '%s': %s", src, strerror(errno)); break; }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t m = write(out, buf + off, (size_t)(n - off));
      if (m < 0 && errno == EINTR) continue;
      if (m < 0) { rc = moex_error(MOEX_EIO, "record: cannot write '%s': %s", dst, strerror(errno)); break; }
      off += m;
    }
    if (rc) break;
  }
  close(in);
  if (close(out) != 0 && !rc) rc = moex_error(MOEX_EIO, "record: cannot write '%s': %s", dst, strerror(errno));
  if (rc) unlink(dst);
  return rc;
}

/* Group creation property list keeping creation order of links and attributes, so readers
 * list runs, columns and attributes in the order they were written. */
static hid_t ordered_gcpl(void) {
  hid_t p = H5Pcreate(H5P_GROUP_CREATE);
  if (p < 0) return p;
  H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  H5Pset_attr_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  return p;
}

static hid_t file_type(record_type t) {
  return t == RECORD_INT ? H5T_STD_I64LE : H5T_IEEE_F64LE;
}
static hid_t mem_type(record_type t) {
  return t == RECORD_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
}

/* ---- summary columns ---------------------------------------------------------------------- */

typedef struct {
  char *name;
  record_type type;
} column_info;

typedef struct {
  column_info *c;
  size_t n, cap;
  hsize_t nrows;
} columns;

static void columns_free(columns *cs) {
  for (size_t i = 0; i < cs->n; ++i) free(cs->c[i].name);
  free(cs->c);
  memset(cs, 0, sizeof *cs);
}

static int columns_add(columns *cs, const char *name, record_type type) {
  if (cs->n == cs->cap) {
    size_t c = cs->cap ? 2 * cs->cap : 16;
    column_info *p = realloc(cs->c, c * sizeof *p);
    if (!p) return moex_error(MOEX_ENOMEM, "record: out of memory");
    cs->c = p;
    cs->cap = c;
  }
  if (!(cs->c[cs->n].name = record_strdup(name))) return moex_error(MOEX_ENOMEM, "record: out of memory");
  cs->c[cs->n++].type = type;
  return 0;
}

static const column_info *columns_find(const columns *cs, const char *name) {
  for (size_t i = 0; i < cs->n; ++i)
    if (strcmp(cs->c[i].name, name) == 0) return &cs->c[i];
  return NULL;
}

typedef struct {
  columns *cs;
  int rc;
  hid_t g;
} collect_ctx;

static herr_t collect_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  collect_ctx *cx = data;
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) { cx->rc = MOEX_EIO; return -1; }
  hid_t t = H5Dget_type(d);
  H5T_class_t c = H5Tget_class(t);
  record_type rt = c == H5T_STRING ? RECORD_STR : c == H5T_INTEGER ? RECORD_INT : RECORD_DOUBLE;
  if (strcmp(name, "run_id") == 0) {
    hid_t sp = H5Dget_space(d);
    H5Sget_simple_extent_dims(sp, &cx->cs->nrows, NULL);
    H5Sclose(sp);
  }
  H5Tclose(t);
  H5Dclose(d);
  if (columns_add(cx->cs, name, rt)) { cx->rc = MOEX_ENOMEM; return -1; }
  return 0;
}

static int columns_read(const char *file, hid_t summary, columns *cs) {
  collect_ctx cx = {cs, 0, summary};
  if (H5Literate(summary, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, collect_cb, &cx) < 0 || cx.rc)
    return moex_error(cx.rc ? cx.rc : MOEX_EIO, "record: '%s': cannot list /summary (%s)", file, rh5_why());
  return 0;
}

/* Creates an empty extendible 1-D column. */
static int column_create(const char *file, hid_t summary, const char *name, record_type type) {
  hsize_t d = 0, maxd = H5S_UNLIMITED, chunk = 256;
  hid_t st = type == RECORD_STR ? rh5_str_type() : -1;
  hid_t sp = H5Screate_simple(1, &d, &maxd);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(pl, 1, &chunk);
  if (type != RECORD_STR) { H5Pset_shuffle(pl); H5Pset_deflate(pl, 4); }
  hid_t ds = H5Dcreate2(summary, name, type == RECORD_STR ? st : file_type(type), sp, H5P_DEFAULT, pl,
                        H5P_DEFAULT);
  int rc = ds < 0 ? moex_error(MOEX_EIO, "record: '%s': cannot create /summary/%s (%s)", file, name, rh5_why()) : 0;
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(pl);
  H5Sclose(sp);
  if (st >= 0) H5Tclose(st);
  return rc;
}

/* Writes k values at rows [row, row + k) of column `name`, extending it. */
static int column_put(const char *file, hid_t summary, const char *name, record_type type,
                      hsize_t row, hsize_t k, const void *values) {
  int rc = 0;
  hid_t ds = H5Dopen2(summary, name, H5P_DEFAULT);
  hsize_t n = row + k;
  hid_t fs = -1, ms = -1, mt = -1;
  if (ds < 0 || H5Dset_extent(ds, &n) < 0 || (fs = H5Dget_space(ds)) < 0 ||
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, &row, NULL, &k, NULL) < 0 ||
      (ms = H5Screate_simple(1, &k, NULL)) < 0 ||
      (mt = type == RECORD_STR ? rh5_str_type() : H5Tcopy(mem_type(type))) < 0 ||
      H5Dwrite(ds, mt, ms, fs, H5P_DEFAULT, values) < 0)
    rc = moex_error(MOEX_EIO, "record: '%s': cannot write /summary/%s (%s)", file, name, rh5_why());
  if (mt >= 0) H5Tclose(mt);
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (ds >= 0) H5Dclose(ds);
  return rc;
}

static const char *type_name(record_type t) {
  return t == RECORD_STR ? "string" : t == RECORD_INT ? "int" : "double";
}

/* Checks that r's summary attributes agree in type with the columns (cs, plus the ones r
 * would add), without writing. */
static int summary_check(const char *file, const columns *cs, const record_run *r) {
  for (size_t i = 0; i < r->n_attrs; ++i) {
    const record_attr *a = &r->attrs[i];
    if (!a->summary) continue;
    const column_info *c = columns_find(cs, a->name);
    if (c && c->type != a->type)
      return moex_error(MOEX_EINVAL, "record: '%s': run '%s': summary column '%s' is %s in the file, the run gives %s",
                        file, r->id, a->name, type_name(c->type), type_name(a->type));
  }
  return 0;
}

/* Appends r's row to /summary: its id, its summary attributes, fill values elsewhere
 * (NaN, INT64_MIN, ""); a new column is back-filled for the earlier rows. */
static int summary_append(const char *file, hid_t summary, columns *cs, const record_run *r) {
  int rc = summary_check(file, cs, r);
  hsize_t row = cs->nrows;
  for (size_t i = 0; !rc && i < r->n_attrs; ++i) {
    const record_attr *a = &r->attrs[i];
    if (!a->summary || columns_find(cs, a->name)) continue;
    rc = column_create(file, summary, a->name, a->type);
    if (!rc && row) {
      size_t sz = a->type == RECORD_STR ? sizeof(char *) : 8;
      void *fill = malloc(row * sz);
      if (!fill) return moex_error(MOEX_ENOMEM, "record: out of memory");
      for (hsize_t k = 0; k < row; ++k) {
        if (a->type == RECORD_STR) ((const char **)fill)[k] = "";
        else if (a->type == RECORD_INT) ((int64_t *)fill)[k] = INT64_MIN;
        else ((double *)fill)[k] = NAN;
      }
      rc = column_put(file, summary, a->name, a->type, 0, row, fill);
      free(fill);
    }
    if (!rc) rc = columns_add(cs, a->name, a->type);
  }
  for (size_t j = 0; !rc && j < cs->n; ++j) {
    const column_info *c = &cs->c[j];
    const record_attr *a = strcmp(c->name, "run_id") == 0 ? NULL : record_run_attr(r, c->name);
    if (a && !a->summary) a = NULL;
    const char *s = strcmp(c->name, "run_id") == 0 ? r->id : a ? a->v.s : "";
    int64_t i = a ? a->v.i : INT64_MIN;
    double d = a ? a->v.d : NAN;
    const void *v = c->type == RECORD_STR ? (const void *)&s : c->type == RECORD_INT ? (const void *)&i
                                                                                    : (const void *)&d;
    rc = column_put(file, summary, c->name, c->type, row, 1, v);
  }
  if (!rc) cs->nrows = row + 1;
  return rc;
}

/* ---- one run ------------------------------------------------------------------------------ */

static int write_dataset(const char *file, hid_t g, const char *rid, const char *path, hid_t ftype,
                         hid_t mtype, int rank, const hsize_t *dims, const hsize_t *maxdims,
                         hid_t dcpl, const void *data, hid_t *out) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t sp = H5Screate_simple(rank, dims, maxdims);
  hid_t ds = sp < 0 ? -1 : H5Dcreate2(g, path, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
  int empty = dims[0] == 0 || (rank == 2 && dims[1] == 0);
  herr_t st = ds < 0 ? -1 : empty ? 0 : H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Pclose(lcpl);
  if (sp >= 0) H5Sclose(sp);
  if (st < 0) {
    if (ds >= 0) H5Dclose(ds);
    return moex_error(MOEX_EIO, "record: '%s': run '%s': cannot write '%s' (%s)", file, rid, path, rh5_why());
  }
  if (out) *out = ds;
  else H5Dclose(ds);
  return 0;
}

static int write_run(const char *file, hid_t runs, const record_run *r) {
  hid_t gcpl = ordered_gcpl();
  hid_t g = H5Gcreate2(runs, r->id, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  if (g < 0) return moex_error(MOEX_EIO, "record: '%s': cannot create /runs/%s (%s)", file, r->id, rh5_why());
  int rc = 0;
  size_t ns = 0;
  for (size_t i = 0; !rc && i < r->n_attrs; ++i) {
    rc = rh5_attr_put(file, g, &r->attrs[i]);
    ns += r->attrs[i].summary != 0;
  }
  if (!rc && ns) {
    char **names = malloc(ns * sizeof *names);
    if (!names) rc = moex_error(MOEX_ENOMEM, "record: out of memory");
    for (size_t i = 0, k = 0; !rc && i < r->n_attrs; ++i)
      if (r->attrs[i].summary) names[k++] = r->attrs[i].name;
    if (!rc) rc = rh5_attr_put_strs(file, g, RECORD_SUMMARY_ATTR, ns, names);
    free(names);
  }
  for (size_t i = 0; !rc && i < r->n_arrays; ++i) {
    const record_array *a = r->arrays[i];
    hsize_t dims[2] = {a->dims[0], a->dims[1]};
    rc = write_dataset(file, g, r->id, a->path, file_type(a->type), mem_type(a->type), a->rank, dims,
                       NULL, H5P_DEFAULT, a->data, NULL);
  }
  for (size_t i = 0; !rc && i < r->n_tables; ++i) {
    const record_table *t = r->tables[i];
    hsize_t dims[2] = {t->nrows, t->ncols}, maxd[2] = {H5S_UNLIMITED, t->ncols};
    /* chunks of about 64 KiB, no taller than the table needs */
    hsize_t rows = 8192 / t->ncols;
    if (rows < 1) rows = 1;
    if (t->nrows && rows > t->nrows) rows = t->nrows < 16 ? 16 : t->nrows;
    hsize_t chunk[2] = {rows, t->ncols};
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 2, chunk);
    H5Pset_shuffle(pl);
    H5Pset_deflate(pl, 4);
    hid_t ds = -1;
    rc = write_dataset(file, g, r->id, t->path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, maxd, pl,
                       t->data, &ds);
    H5Pclose(pl);
    if (!rc) {
      rc = rh5_attr_put_strs(file, ds, RECORD_COLUMNS_ATTR, t->ncols, t->columns);
      H5Dclose(ds);
    }
  }
  H5Gclose(g);
  return rc;
}

/* ---- files -------------------------------------------------------------------------------- */

static int probe_create(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return moex_error(MOEX_EIO, "record: cannot create '%s': %s", path, strerror(errno));
  close(fd);
  return 0;
}

static int utc_now(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
    snprintf(buf, n, "unknown");
    return 1;
  }
  return 0;
}

/* Writes an empty record (root attributes, /runs, /summary/run_id) to w->tmp. */
static int create_empty(record_writer *w, const record_meta_in *meta) {
  int rc = probe_create(w->tmp);
  if (rc) return rc;
  hid_t f = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    unlink(w->tmp);
    return moex_error(MOEX_EIO, "record: cannot create HDF5 file '%s' (%s)", w->tmp, rh5_why());
  }
  char when[64], host[256];
  utc_now(when, sizeof when);
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = '\0';
  const char *names[] = {"moex_version", "created_utc", "host", "command_line", "experiment", "grid"};
  const char *vals[] = {MOEX_VERSION, when, host, meta->command_line, meta->experiment, meta->grid};
  for (size_t k = 0; !rc && k < 6; ++k) {
    char *v = utf8_sanitized(vals[k]);
    rc = v ? rh5_attr_put_str(w->tmp, f, names[k], v) : moex_error(MOEX_ENOMEM, "record: out of memory");
    free(v);
  }
  record_attr sv = {.name = "schema_version", .type = RECORD_INT, .v.i = RECORD_SCHEMA_VERSION};
  if (!rc) rc = rh5_attr_put(w->tmp, f, &sv);
  hid_t gcpl = ordered_gcpl();
  for (int k = 0; !rc && k < 2; ++k) {
    hid_t g = H5Gcreate2(f, k ? "summary" : "runs", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (g < 0) { rc = moex_error(MOEX_EIO, "record: '%s': cannot create a group (%s)", w->tmp, rh5_why()); break; }
    if (k) rc = column_create(w->tmp, g, "run_id", RECORD_STR);
    H5Gclose(g);
  }
  H5Pclose(gcpl);
  if (H5Fclose(f) < 0 && !rc) rc = moex_error(MOEX_EIO, "record: cannot close '%s' (%s)", w->tmp, rh5_why());
  if (!rc) rc = rh5_fsync_path(w->tmp);
  if (!rc && rename(w->tmp, w->path) != 0)
    rc = moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
  if (rc) unlink(w->tmp);
  else rc = rh5_fsync_path(w->dir);
  return rc;
}

record_writer *record_writer_open(const char *path, const record_meta_in *meta, int flags) {
  rh5_quiet();
  if (!path || !*path || !meta || !meta->experiment || !meta->grid || !meta->command_line) {
    moex_error(MOEX_EINVAL, "record: writer needs a path and experiment, grid, command_line (got %s%s)",
               path ? path : "NULL path", meta ? "" : ", NULL meta");
    return NULL;
  }
  record_writer *w = calloc(1, sizeof *w);
  if (!w) { moex_error(MOEX_ENOMEM, "record: out of memory"); return NULL; }
  w->flags = flags;
  w->path = record_strdup(path);
  w->tmp = cat(path, ".tmp");
  w->old = cat(path, ".old");
  const char *slash = strrchr(path, '/');
  w->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : record_strdup(".");
  if (!w->path || !w->tmp || !w->old || !w->dir) {
    moex_error(MOEX_ENOMEM, "record: out of memory");
    goto fail;
  }
  /* leftovers of a writer that was killed: never part of the record */
  unlink(w->tmp);
  unlink(w->old);

  struct stat st;
  int exists = stat(path, &st) == 0;
  if (!exists && errno != ENOENT) {
    moex_error(MOEX_EIO, "record: cannot use '%s': %s", path, strerror(errno));
    goto fail;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    moex_error(MOEX_EIO, "record: '%s' exists and is not a regular file", path);
    goto fail;
  }
  if (exists && H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    moex_error(MOEX_EIO, "record: '%s' exists and is not an HDF5 file; refusing to replace it", path);
    goto fail;
  }
  if (exists && (flags & RECORD_RESUME)) {
    record_file *f = record_open(path);
    if (!f) goto fail;
    const record_meta *m = record_file_meta(f);
    if (strcmp(m->experiment, meta->experiment) != 0) {
      moex_error(MOEX_EINVAL, "record: '%s' holds experiment '%s', not '%s'; refusing to resume into it",
                 path, m->experiment, meta->experiment);
      record_close(f);
      goto fail;
    }
    for (size_t i = 0; i < record_n_runs(f); ++i)
      if (ids_add(w, record_run_id(f, i))) { record_close(f); goto fail; }
    record_close(f);
  } else if (create_empty(w, meta)) {
    goto fail;
  }
  return w;
fail:
  record_writer_close(w);
  return NULL;
}

/* Puts a working copy at w->tmp and opens it. */
static hid_t open_work(record_writer *w) {
  double t0 = now_s();
  if (w->work_valid && !(w->flags & RECORD_COPY_ALWAYS)) {
    hid_t f = H5Fopen(w->tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f >= 0) return f;
    /* typically: a reader holds the old file open (HDF5's lock); leave it alone */
    H5Eclear2(H5E_DEFAULT);
    unlink(w->tmp);
  }
  w->work_valid = 0;
  pending_clear(w);
  if (copy_file(w->path, w->tmp)) return -1;
  w->last_copy = now_s() - t0;
  w->last_full = 1;
  hid_t f = H5Fopen(w->tmp, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) {
    moex_error(MOEX_EIO, "record: cannot open the working copy '%s' (%s)", w->tmp, rh5_why());
    unlink(w->tmp);
  }
  return f;
}

static int write_batch(record_writer *w, hid_t f, record_run *const *runs, size_t n) {
  hid_t g = H5Gopen2(f, "runs", H5P_DEFAULT), s = H5Gopen2(f, "summary", H5P_DEFAULT);
  int rc = 0;
  columns cs = {0};
  if (g < 0 || s < 0) rc = moex_error(MOEX_EIO, "record: '%s': no /runs or /summary group", w->tmp);
  if (!rc) rc = columns_read(w->tmp, s, &cs);
  for (size_t i = 0; !rc && i < n; ++i) rc = summary_check(w->tmp, &cs, runs[i]);
  for (size_t i = 0; !rc && i < n; ++i) {
    rc = write_run(w->tmp, g, runs[i]);
    if (!rc) rc = summary_append(w->tmp, s, &cs, runs[i]);
  }
  columns_free(&cs);
  if (g >= 0) H5Gclose(g);
  if (s >= 0) H5Gclose(s);
  return rc;
}

int record_writer_append(record_writer *w, record_run *const *runs, size_t n) {
  rh5_quiet();
  if (!w || !runs || n == 0) return moex_error(MOEX_EINVAL, "record: append needs a writer and n >= 1 runs");
  for (size_t i = 0; i < n; ++i) {
    if (!runs[i]) return moex_error(MOEX_EINVAL, "record: append: run %zu is NULL", i);
    if (record_writer_has(w, runs[i]->id))
      return moex_error(MOEX_EINVAL, "record: '%s' already holds run '%s'", w->path, runs[i]->id);
    for (size_t j = 0; j < i; ++j)
      if (strcmp(runs[i]->id, runs[j]->id) == 0)
        return moex_error(MOEX_EINVAL, "record: append: run '%s' given twice", runs[i]->id);
  }
  double t0 = now_s();
  w->last_copy = 0;
  w->last_full = 0;
  hid_t f = open_work(w);
  if (f < 0) return MOEX_EIO;
  int rc = write_batch(w, f, w->pending, w->n_pending);
  if (!rc) rc = write_batch(w, f, runs, n);
  if (H5Fclose(f) < 0 && !rc) rc = moex_error(MOEX_EIO, "record: cannot close '%s' (%s)", w->tmp, rh5_why());
  if (!rc) rc = rh5_fsync_path(w->tmp);
  /* new pending batch: copies of the runs, for the working copy that will lack them */
  record_run **keep = NULL;
  int rotate = !rc && !(w->flags & RECORD_COPY_ALWAYS);
  if (rotate && (keep = calloc(n, sizeof *keep)) != NULL) {
    for (size_t i = 0; i < n && rotate; ++i)
      if (!(keep[i] = record_run_copy(runs[i]))) rotate = 0;
  } else {
    rotate = 0;
  }
  if (rc) {
    unlink(w->tmp);
    w->work_valid = 0;
    pending_clear(w);
    free(keep);
    return rc;
  }
  pending_clear(w);
  w->work_valid = 0;
  if (rotate && link(w->path, w->old) == 0) {
    if (rename(w->tmp, w->path) != 0) {
      rc = moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
      unlink(w->old);
      unlink(w->tmp);
    } else if (rename(w->old, w->tmp) == 0) {
      w->work_valid = 1;
      w->pending = keep;
      w->n_pending = n;
      keep = NULL;
    } else {
      unlink(w->old);
    }
  } else if (rename(w->tmp, w->path) != 0) {
    rc = moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
    unlink(w->tmp);
  }
  if (keep) {
    for (size_t i = 0; i < n; ++i) record_run_free(keep[i]);
    free(keep);
  }
  if (rc) return rc;
  for (size_t i = 0; i < n && !rc; ++i) rc = ids_add(w, runs[i]->id);
  int rs = rh5_fsync_path(w->dir);
  w->last_total = now_s() - t0;
  return rc ? rc : rs;
}

int record_signals_block(sigset_t *old) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  sigaddset(&s, SIGQUIT);
  int e = pthread_sigmask(SIG_BLOCK, &s, old);
  return e ? moex_error(MOEX_EINVAL, "record: cannot block signals: %s", strerror(e)) : 0;
}

int record_signals_restore(const sigset_t *old) {
  int e = pthread_sigmask(SIG_SETMASK, old, NULL);
  return e ? moex_error(MOEX_EINVAL, "record: cannot restore signals: %s", strerror(e)) : 0;
}
