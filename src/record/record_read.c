/* record_read: opening a record, listing its runs, reading runs, arrays, tables and the
 * summary, each verified against its checksums before it is returned, and checking a whole file
 * against the schema.
 *
 * Validate before trusting: a damaged file can claim any type, rank, length or count, so each is
 * checked against what the schema allows (and what the storage can hold) before memory is sized
 * from it, and a value is returned only once its checksum matched. */
#include "record/record_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/grow.h"
#include "core/moex_error.h"


/* At most this many values in one dataset or column (16 GiB of doubles): a larger count is a
 * damaged header, not a record. */
#define MAX_VALUES ((hsize_t)1 << 31)

/* Reads the checksum attribute of loc: 0 and *h; 1 when absent; -1 when present but unreadable. */
static int get_checksum(const char *file, hid_t loc, uint64_t *h) {
  if (H5Aexists(loc, RECORD_CHECKSUM_ATTR) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return 1;
  }
  record_attr a;
  if (rh5_attr_get(file, loc, "an object", RECORD_CHECKSUM_ATTR, &a)) return -1;
  int bad = a.type != RECORD_STR || record_checksum_parse(a.v.s, h);
  free(a.name);
  if (a.type == RECORD_STR) free(a.v.s);
  return bad ? -1 : 0;
}

void record_meta_free(record_meta *m) {
  free(m->moex_version);
  free(m->created_utc);
  free(m->host);
  free(m->command_line);
  free(m->experiment);
  free(m->grid);
}

void record_close(record_file *f) {
  if (!f) return;
  if (f->fid >= 0) H5Fclose(f->fid);
  record_meta_free(&f->meta);
  for (size_t i = 0; i < f->n_ids; ++i) free(f->ids[i]);
  free(f->ids);
  free(f->path);
  free(f);
}

const record_meta *record_file_meta(const record_file *f) { return &f->meta; }
size_t record_n_runs(const record_file *f) { return f ? f->n_ids : 0; }
const char *record_run_id(const record_file *f, size_t i) { return f && i < f->n_ids ? f->ids[i] : NULL; }

int record_has_run(const record_file *f, const char *id) {
  for (size_t i = 0; f && id && i < f->n_ids; ++i)
    if (strcmp(f->ids[i], id) == 0) return 1;
  return 0;
}

herr_t record_list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)g;
  (void)info;
  record_file *f = data;
  char **p = moex_grow(f->ids, f->n_ids, &f->cap_ids, sizeof *p, 64);
  if (!p) return -1;
  f->ids = p;
  if (!(f->ids[f->n_ids] = record_strdup(name))) return -1;
  f->n_ids++;
  return 0;
}

static int read_root_str(record_file *f, const char *name, char **out) {
  record_attr a;
  int rc = rh5_attr_get(f->path, f->fid, "the root group", name, &a);
  if (rc) return rc;
  free(a.name);
  if (a.type != RECORD_STR) {
    return moex_error(MOEX_EIO, "record: '%s': root attribute '%s' is not a string", f->path, name);
  }
  *out = a.v.s;
  return 0;
}

record_file *record_open(const char *path) {
  rh5_quiet();
  struct stat st;
  if (!path) { moex_error(MOEX_EINVAL, "record: open with a NULL path"); return NULL; }
  if (stat(path, &st) != 0) {
    moex_error(MOEX_EIO, "record: cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  if (!S_ISREG(st.st_mode) || H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    moex_error(MOEX_EIO, "record: '%s' is not an HDF5 file", path);
    return NULL;
  }
  record_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = record_strdup(path))) {
    free(f);
    moex_error(MOEX_ENOMEM, "record: out of memory");
    return NULL;
  }
  f->fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f->fid < 0) {
    moex_error(MOEX_EIO, "record: cannot open HDF5 file '%s' (%s)", path, rh5_why());
    goto fail;
  }
  if (H5Aexists(f->fid, "schema_version") <= 0) {
    moex_error(MOEX_EINVAL, "record: '%s' is not a moex record (no schema_version attribute)", path);
    goto fail;
  }
  record_attr sv;
  if (rh5_attr_get(path, f->fid, "the root group", "schema_version", &sv)) goto fail;
  free(sv.name);
  if (sv.type == RECORD_STR) free(sv.v.s);
  if (sv.type != RECORD_INT) {
    moex_error(MOEX_EINVAL, "record: '%s': schema_version is not an integer", path);
    goto fail;
  }
  f->meta.schema_version = sv.v.i;
  if (sv.v.i != RECORD_SCHEMA_VERSION) {
    moex_error(MOEX_EINVAL, "record: '%s' has schema_version %lld; this moex reads version %d only",
               path, (long long)sv.v.i, RECORD_SCHEMA_VERSION);
    goto fail;
  }
  if (read_root_str(f, "moex_version", &f->meta.moex_version) ||
      read_root_str(f, "created_utc", &f->meta.created_utc) || read_root_str(f, "host", &f->meta.host) ||
      read_root_str(f, "command_line", &f->meta.command_line) ||
      read_root_str(f, "experiment", &f->meta.experiment) || read_root_str(f, "grid", &f->meta.grid))
    goto fail;
  uint64_t want;
  int cs = get_checksum(path, f->fid, &want);
  if (cs < 0) {
    moex_error(MOEX_EIO, "record: '%s' is damaged: its root checksum is unreadable", path);
    goto fail;
  }
  if (cs == 0) {
    const record_meta *m = &f->meta;
    const char *vals[6] = {m->moex_version, m->created_utc, m->host, m->command_line, m->experiment, m->grid};
    if (record_checksum_root(vals, m->schema_version) != want) {
      moex_error(MOEX_EIO, "record: '%s' is damaged: its root attributes do not match their checksum", path);
      goto fail;
    }
    f->sealed = 1;
  }
  hid_t g = H5Gopen2(f->fid, "runs", H5P_DEFAULT);
  if (g < 0) {
    moex_error(MOEX_EIO, "record: '%s' has no /runs group", path);
    goto fail;
  }
  herr_t it = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, record_list_cb, f);
  H5Gclose(g);
  if (it < 0) {
    moex_error(MOEX_EIO, "record: '%s': cannot list /runs (%s)", path, rh5_why());
    goto fail;
  }
  return f;
fail:
  record_close(f);
  return NULL;
}

/* ---- runs --------------------------------------------------------------------------------- */

typedef struct {
  record_file *f;
  const char *rid;
  record_run *r;
  int rc;
  record_dsum *sums; /* the datasets' paths (owned) and stored checksums, for the run's checksum */
  size_t n_sums, cap_sums;
  int sums_only;     /* RECORD_READ_ATTRS: collect the datasets' checksums, read no data */
} visit_ctx;

static int add_sum(visit_ctx *cx, const char *path, uint64_t h) {
  record_dsum *p = moex_grow(cx->sums, cx->n_sums, &cx->cap_sums, sizeof *p, 16);
  if (!p) return moex_error(MOEX_ENOMEM, "record: out of memory");
  cx->sums = p;
  if (!(cx->sums[cx->n_sums].path = record_strdup(path))) return moex_error(MOEX_ENOMEM, "record: out of memory");
  cx->sums[cx->n_sums++].sum = h;
  return 0;
}

static void sums_free(visit_ctx *cx) {
  for (size_t i = 0; i < cx->n_sums; i++) free((char *)cx->sums[i].path);
  free(cx->sums);
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  visit_ctx *cx = data;
  if (strcmp(name, RECORD_SUMMARY_ATTR) == 0 || strcmp(name, RECORD_CHECKSUM_ATTR) == 0) return 0;
  char what[300];
  snprintf(what, sizeof what, "run '%s'", cx->rid);
  record_attr a;
  if ((cx->rc = rh5_attr_get(cx->f->path, loc, what, name, &a))) return -1;
  record_run *r = cx->r;
  int rc = a.type == RECORD_STR ? record_run_set_str(r, name, a.v.s)
         : a.type == RECORD_INT ? record_run_set_int(r, name, a.v.i)
                                : record_run_set_double(r, name, a.v.d);
  free(a.name);
  if (a.type == RECORD_STR) free(a.v.s);
  if (rc) {
    cx->rc = moex_error(rc, "record: '%s': run '%s': attribute '%s' is not valid in the schema",
                        cx->f->path, cx->rid, name);
    return -1;
  }
  return 0;
}

/* The stored checksum of dataset ds at `path` of run rid: 0 and *h; 1 when it has none and may
 * not have one (a file from before checksums); otherwise an error naming the damage. */
static int dataset_sum(record_file *f, const char *rid, const char *path, hid_t ds, uint64_t *h) {
  int cs = get_checksum(f->path, ds, h);
  if (cs == 0 || (cs == 1 && !f->sealed)) return cs;
  return moex_error(MOEX_EIO, "record: '%s': run '%s' is damaged: '%s' has %s checksum", f->path, rid, path,
                    cs < 0 ? "an unreadable" : "no");
}

/* Reads the dataset at `path` under run group g as an array or, when it carries the columns
 * attribute, as a table; exactly one of *a, *t is set. Its content is verified against its
 * stored checksum (returned in *sum, *has_sum) before it is returned. */
static int read_dataset(record_file *f, const char *rid, hid_t g, const char *path, record_array **a,
                        record_table **t, uint64_t *sum, int *has_sum) {
  *a = NULL;
  *t = NULL;
  *has_sum = 0;
  int rc = 0;
  hid_t ds = H5Dopen2(g, path, H5P_DEFAULT);
  if (ds < 0) return moex_error(MOEX_EIO, "record: '%s': run '%s' has no dataset '%s' (%s)", f->path, rid, path, rh5_why());
  hid_t ty = H5Dget_type(ds), sp = H5Dget_space(ds);
  int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  hsize_t d[2] = {0, 1};
  H5T_class_t c = ty < 0 ? H5T_NO_CLASS : H5Tget_class(ty);
  size_t tsize = ty < 0 ? 0 : H5Tget_size(ty);
  if (rank < 1 || rank > 2 || (c != H5T_INTEGER && c != H5T_FLOAT) || tsize != 8) {
    rc = moex_error(MOEX_EIO, "record: '%s': run '%s': '%s' is not a 64-bit numeric array of rank 1 or 2",
                    f->path, rid, path);
    goto out;
  }
  if (H5Sget_simple_extent_dims(sp, d, NULL) != rank || (rank == 2 && d[1] && d[0] > MAX_VALUES / d[1]) ||
      d[0] > MAX_VALUES || d[1] > MAX_VALUES) {
    rc = moex_error(MOEX_EIO, "record: '%s': run '%s' is damaged: '%s' claims an impossible shape", f->path, rid, path);
    goto out;
  }
  size_t dims[2] = {d[0], rank == 2 ? d[1] : 1};
  /* a contiguous dataset stores exactly its values: a larger claim is a damaged header */
  hid_t dcpl = H5Dget_create_plist(ds);
  int contiguous = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS;
  if (dcpl >= 0) H5Pclose(dcpl);
  if (contiguous && dims[0] * dims[1] != 0 && H5Dget_storage_size(ds) != (hsize_t)(dims[0] * dims[1] * 8)) {
    rc = moex_error(MOEX_EIO, "record: '%s': run '%s' is damaged: '%s' has %llu bytes for %zu values", f->path, rid, path,
                    (unsigned long long)H5Dget_storage_size(ds), dims[0] * dims[1]);
    goto out;
  }
  int hs = dataset_sum(f, rid, path, ds, sum);
  if (hs < 0 || hs > 1) {
    rc = MOEX_EIO;
    goto out;
  }
  *has_sum = hs == 0;
  int is_table = H5Aexists(ds, RECORD_COLUMNS_ATTR) > 0;
  uint64_t got = 0;
  if (is_table) {
    size_t nc = 0;
    char **names = NULL;
    char what[1200];
    snprintf(what, sizeof what, "run '%s' table '%s'", rid, path);
    if ((rc = rh5_attr_get_strs(f->path, ds, what, RECORD_COLUMNS_ATTR, &nc, &names))) goto out;
    if (rank != 2 || c != H5T_FLOAT || nc != dims[1] || nc == 0) {
      rc = moex_error(MOEX_EIO, "record: '%s': %s: %zu column names for a (%zu, %zu) %s dataset",
                      f->path, what, nc, dims[0], dims[1], c == H5T_FLOAT ? "float" : "integer");
    } else if ((*t = record_table_new(path, nc, (const char *const *)names)) == NULL) {
      rc = MOEX_ENOMEM;
    } else if (dims[0]) {
      (*t)->data = malloc(dims[0] * dims[1] * sizeof(double));
      (*t)->nrows = (*t)->cap = dims[0];
      if (!(*t)->data) rc = moex_error(MOEX_ENOMEM, "record: out of memory");
      else if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, (*t)->data) < 0)
        rc = moex_error(MOEX_EIO, "record: '%s': %s: cannot read (%s)", f->path, what, rh5_why());
    }
    if (!rc) got = record_checksum_table(*t);
    for (size_t j = 0; j < nc; ++j) free(names[j]);
    free(names);
  } else {
    record_type rt = c == H5T_INTEGER ? RECORD_INT : RECORD_DOUBLE;
    if (!(*a = record_array_new(path, rt, rank, dims))) { rc = MOEX_ENOMEM; goto out; }
    if (dims[0] * dims[1] != 0 &&
        H5Dread(ds, rt == RECORD_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                (*a)->data) < 0)
      rc = moex_error(MOEX_EIO, "record: '%s': run '%s': cannot read '%s' (%s)", f->path, rid, path, rh5_why());
    if (!rc) got = record_checksum_array(*a);
  }
  if (!rc && *has_sum && got != *sum)
    rc = moex_error(MOEX_EIO, "record: '%s': run '%s' is damaged: '%s' does not match its checksum", f->path, rid, path);
  if (rc) {
    record_table_free(*t);
    record_array_free(*a);
    *t = NULL;
    *a = NULL;
  }
out:
  if (sp >= 0) H5Sclose(sp);
  if (ty >= 0) H5Tclose(ty);
  H5Dclose(ds);
  return rc;
}

static herr_t link_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  visit_ctx *cx = data;
  if (info->type != H5L_TYPE_HARD) {
    cx->rc = moex_error(MOEX_EIO, "record: '%s': run '%s': '%s' is not a hard link", cx->f->path, cx->rid, name);
    return -1;
  }
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o < 0) {
    cx->rc = moex_error(MOEX_EIO, "record: '%s': run '%s': cannot open '%s'", cx->f->path, cx->rid, name);
    return -1;
  }
  H5I_type_t ot = H5Iget_type(o);
  if (ot == H5I_GROUP) {
    H5Oclose(o);
    return 0; /* a folder of the path: its datasets come next */
  }
  if (ot != H5I_DATASET) {
    H5Oclose(o);
    cx->rc = moex_error(MOEX_EIO, "record: '%s': run '%s': '%s' is neither group nor dataset", cx->f->path, cx->rid, name);
    return -1;
  }
  if (!record_path_ok(name)) {
    H5Oclose(o);
    cx->rc = moex_error(MOEX_EIO, "record: '%s': run '%s': bad dataset path '%s'", cx->f->path, cx->rid, name);
    return -1;
  }
  uint64_t h = 0;
  int has = 0;
  if (cx->sums_only) {
    int hs = dataset_sum(cx->f, cx->rid, name, o, &h);
    H5Oclose(o);
    if (hs < 0 || hs > 1) {
      cx->rc = MOEX_EIO;
      return -1;
    }
    has = hs == 0;
  } else {
    H5Oclose(o);
    record_array *a;
    record_table *t;
    if ((cx->rc = read_dataset(cx->f, cx->rid, g, name, &a, &t, &h, &has))) return -1;
    cx->rc = a ? record_run_put_array(cx->r, a) : record_run_put_table(cx->r, t);
    if (cx->rc) return -1;
  }
  if (has && (cx->rc = add_sum(cx, name, h))) return -1;
  return 0;
}

static hid_t open_run(record_file *f, const char *id) {
  if (!f || !id || !record_name_ok(id)) {
    moex_error(MOEX_EINVAL, "record: bad run id '%s'", id ? id : "(null)");
    return -1;
  }
  hid_t runs = H5Gopen2(f->fid, "runs", H5P_DEFAULT);
  hid_t g = -1;
  if (runs >= 0 && H5Lexists(runs, id, H5P_DEFAULT) > 0) g = H5Gopen2(runs, id, H5P_DEFAULT);
  if (runs >= 0) H5Gclose(runs);
  if (g < 0) {
    H5Eclear2(H5E_DEFAULT);
    moex_error(MOEX_EINVAL, "record: '%s' has no run '%s'", f->path, id);
  }
  return g;
}

record_run *record_read_run(record_file *f, const char *id, int what) {
  rh5_quiet();
  hid_t g = open_run(f, id);
  if (g < 0) return NULL;
  visit_ctx cx = {f, id, record_run_alloc(id), 0, NULL, 0, 0, what != RECORD_READ_ALL};
  if (!cx.r) { H5Gclose(g); return NULL; }
  hsize_t idx = 0;
  /* attributes in creation order when tracked (always, for files moex writes) */
  herr_t st = H5Aiterate2(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, attr_cb, &cx);
  if (st < 0 && !cx.rc) {
    H5Eclear2(H5E_DEFAULT);
    idx = 0;
    st = H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &cx);
  }
  if (st < 0 && !cx.rc) cx.rc = moex_error(MOEX_EIO, "record: '%s': run '%s': cannot list attributes", f->path, id);
  if (!cx.rc && H5Aexists(g, RECORD_SUMMARY_ATTR) > 0) {
    size_t n = 0;
    char **names = NULL;
    char what_s[300];
    snprintf(what_s, sizeof what_s, "run '%s'", id);
    cx.rc = rh5_attr_get_strs(f->path, g, what_s, RECORD_SUMMARY_ATTR, &n, &names);
    for (size_t k = 0; k < n; ++k) {
      if (!cx.rc && record_run_summarize(cx.r, names[k]))
        cx.rc = moex_error(MOEX_EIO, "record: '%s': run '%s': summary column '%s' is not an attribute",
                           f->path, id, names[k]);
      free(names[k]);
    }
    free(names);
  }
  /* the run's checksum: over its attributes and its datasets' checksums, so that even reading
   * the attributes alone (RECORD_READ_ATTRS) lists the datasets, without their data */
  uint64_t want = 0;
  int cs = cx.rc ? 0 : get_checksum(f->path, g, &want);
  if (!cx.rc && (cs < 0 || (cs == 1 && f->sealed)))
    cx.rc = moex_error(MOEX_EIO, "record: '%s': run '%s' is damaged: %s checksum", f->path, id, cs < 0 ? "unreadable" : "no");
  if (!cx.rc && (what == RECORD_READ_ALL || cs == 0) &&
      H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, link_cb, &cx) < 0 && !cx.rc)
    cx.rc = moex_error(MOEX_EIO, "record: '%s': run '%s': cannot list datasets (%s)", f->path, id, rh5_why());
  uint64_t got;
  if (!cx.rc && cs == 0) {
    if (record_checksum_run(cx.r, cx.sums, cx.n_sums, &got)) cx.rc = moex_error(MOEX_ENOMEM, "record: out of memory");
    else if (got != want)
      cx.rc = moex_error(MOEX_EIO, "record: '%s': run '%s' is damaged: its content does not match its checksum", f->path, id);
  }
  sums_free(&cx);
  H5Gclose(g);
  if (cx.rc) {
    record_run_free(cx.r);
    return NULL;
  }
  return cx.r;
}

/* One dataset of a run read as an array (want_table 0) or a table (1); the other kind is an
 * error naming what it is. Exactly one of *a, *t is set on success. */
static void read_one(record_file *f, const char *id, const char *path, int want_table, record_array **a,
                     record_table **t) {
  static const char *const kind[] = {"array", "table"};
  rh5_quiet();
  *a = NULL;
  *t = NULL;
  hid_t g = open_run(f, id);
  if (g < 0) return;
  uint64_t h;
  int has;
  if (!record_path_ok(path) || H5Lexists(g, path, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    moex_error(MOEX_EINVAL, "record: '%s': run '%s' has no %s '%s'", f->path, id, kind[want_table], path ? path : "(null)");
  } else if (!read_dataset(f, id, g, path, a, t, &h, &has) && (want_table ? *a != NULL : *t != NULL)) {
    record_array_free(*a);
    record_table_free(*t);
    *a = NULL;
    *t = NULL;
    moex_error(MOEX_EINVAL, "record: '%s': run '%s': '%s' is %s %s, not %s %s", f->path, id, path,
               want_table ? "an" : "a", kind[!want_table], want_table ? "a" : "an", kind[want_table]);
  }
  H5Gclose(g);
}

record_array *record_read_array(record_file *f, const char *id, const char *path) {
  record_array *a;
  record_table *t;
  read_one(f, id, path, 0, &a, &t);
  return a;
}

record_table *record_read_table(record_file *f, const char *id, const char *path) {
  record_array *a;
  record_table *t;
  read_one(f, id, path, 1, &a, &t);
  return t;
}

/* ---- summary ------------------------------------------------------------------------------ */

void record_summary_free(record_summary *s) {
  if (!s) return;
  for (size_t j = 0; j < s->ncols; ++j) {
    record_column *c = &s->cols[j];
    if (c->type == RECORD_STR && c->v.s)
      for (size_t k = 0; k < s->nrows; ++k) free(c->v.s[k]);
    free(c->v.s);  /* the union's pointer, whatever the type */
    free(c->name);
  }
  free(s->cols);
  free(s);
}

const record_column *record_summary_column(const record_summary *s, const char *name) {
  for (size_t j = 0; s && name && j < s->ncols; ++j)
    if (strcmp(s->cols[j].name, name) == 0) return &s->cols[j];
  return NULL;
}

typedef struct {
  record_file *f;
  record_summary *s;
  size_t cap;
  int rc;
} sum_ctx;

static herr_t sum_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  sum_ctx *cx = data;
  record_summary *s = cx->s;
  record_column *p = moex_grow(s->cols, s->ncols, &cx->cap, sizeof *p, 16);
  if (!p) { cx->rc = moex_error(MOEX_ENOMEM, "record: out of memory"); return -1; }
  s->cols = p;
  record_column *col = &s->cols[s->ncols];
  memset(col, 0, sizeof *col);
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  if (ds < 0) {
    cx->rc = moex_error(MOEX_EIO, "record: '%s': /summary/%s is not a dataset", cx->f->path, name);
    return -1;
  }
  hid_t ty = H5Dget_type(ds), sp = H5Dget_space(ds);
  hsize_t n = 0;
  H5T_class_t c = H5Tget_class(ty);
  int ok = H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1 && n <= MAX_VALUES &&
           (c == H5T_INTEGER || c == H5T_FLOAT || (c == H5T_STRING && rh5_is_vlen_utf8(ty)));
  if (!ok) {
    cx->rc = moex_error(MOEX_EIO, "record: '%s': /summary/%s is not a 1-D numeric or UTF-8 string column",
                        cx->f->path, name);
  } else if (s->ncols > 0 && n != s->nrows) {
    cx->rc = moex_error(MOEX_EIO, "record: '%s': /summary/%s has %llu rows, run_id has %zu", cx->f->path, name,
                        (unsigned long long)n, s->nrows);
  } else if (s->ncols == 0 && strcmp(name, "run_id") != 0) {
    cx->rc = moex_error(MOEX_EIO, "record: '%s': the first /summary column is '%s', not run_id", cx->f->path, name);
  } else {
    s->nrows = n;
    col->type = c == H5T_STRING ? RECORD_STR : c == H5T_INTEGER ? RECORD_INT : RECORD_DOUBLE;
    col->name = record_strdup(name);
    col->v.s = calloc(n ? n : 1, 8);
    if (!col->name || !col->v.s) {
      cx->rc = moex_error(MOEX_ENOMEM, "record: out of memory");
    } else if (col->type == RECORD_STR) {
      char **raw = calloc(n ? n : 1, sizeof *raw);
      hid_t mt = rh5_str_type();
      if (!raw || (n && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)) {
        cx->rc = moex_error(MOEX_EIO, "record: '%s': cannot read /summary/%s", cx->f->path, name);
      } else {
        for (hsize_t k = 0; k < n && !cx->rc; ++k)
          if (!(col->v.s[k] = record_strdup(raw[k] ? raw[k] : "")))
            cx->rc = moex_error(MOEX_ENOMEM, "record: out of memory");
        if (n) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
      }
      free(raw);
      H5Tclose(mt);
    } else if (n && H5Dread(ds, col->type == RECORD_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, H5S_ALL,
                            H5S_ALL, H5P_DEFAULT, col->v.d) < 0) {
      cx->rc = moex_error(MOEX_EIO, "record: '%s': cannot read /summary/%s", cx->f->path, name);
    }
    s->ncols++;  /* counted even on failure, so that free() releases it */
  }
  H5Sclose(sp);
  H5Tclose(ty);
  H5Dclose(ds);
  return cx->rc ? -1 : 0;
}

/* Row i of the summary against run r (its id and summary attributes): 0, or an error naming the
 * column. The rows are only copies of the runs' attributes, and string rows cannot carry an HDF5
 * filter, so a reader that uses the summary checks it against the (checksummed) runs. */
static int row_check(const record_file *f, const record_summary *s, size_t i, const record_run *r) {
  if (strcmp(s->cols[0].v.s[i], r->id) != 0)
    return moex_error(MOEX_EIO, "record: '%s': /summary row %zu is run '%s', /runs has '%s' there", f->path, i,
                      s->cols[0].v.s[i], r->id);
  for (size_t j = 1; j < s->ncols; ++j) {
    const record_column *c = &s->cols[j];
    const record_attr *a = record_run_attr(r, c->name);
    if (a && !a->summary) a = NULL;
    int same;
    if (a && a->type != c->type) same = 0;
    else if (c->type == RECORD_STR) same = strcmp(c->v.s[i], a ? a->v.s : "") == 0;
    else if (c->type == RECORD_INT) same = c->v.i[i] == (a ? a->v.i : INT64_MIN);
    else same = a ? memcmp(&c->v.d[i], &a->v.d, sizeof(double)) == 0 : isnan(c->v.d[i]);
    if (!same)
      return moex_error(MOEX_EIO, "record: '%s' is damaged: /summary/%s row %zu disagrees with run '%s'", f->path,
                        c->name, i, r->id);
  }
  for (size_t k = 0; k < r->n_attrs; ++k)
    if (r->attrs[k].summary && !record_summary_column(s, r->attrs[k].name))
      return moex_error(MOEX_EIO, "record: '%s': run '%s': summary attribute '%s' has no /summary column", f->path, r->id,
                        r->attrs[k].name);
  return 0;
}

record_summary *record_read_summary(record_file *f) {
  rh5_quiet();
  if (!f) { moex_error(MOEX_EINVAL, "record: NULL file"); return NULL; }
  sum_ctx cx = {f, calloc(1, sizeof(record_summary)), 0, 0};
  if (!cx.s) { moex_error(MOEX_ENOMEM, "record: out of memory"); return NULL; }
  hid_t g = H5Gopen2(f->fid, "summary", H5P_DEFAULT);
  if (g < 0) {
    cx.rc = moex_error(MOEX_EIO, "record: '%s' has no /summary group", f->path);
  } else {
    herr_t st = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, sum_cb, &cx);
    if (st < 0 && !cx.rc) cx.rc = moex_error(MOEX_EIO, "record: '%s': cannot list /summary (%s)", f->path, rh5_why());
    H5Gclose(g);
  }
  if (!cx.rc && cx.s->ncols == 0) cx.rc = moex_error(MOEX_EIO, "record: '%s': /summary has no run_id column", f->path);
  if (!cx.rc && cx.s->nrows != f->n_ids)
    cx.rc = moex_error(MOEX_EIO, "record: '%s': /summary has %zu rows for %zu runs", f->path, cx.s->nrows, f->n_ids);
  /* every row against its run's verified attributes */
  for (size_t i = 0; !cx.rc && i < f->n_ids; ++i) {
    record_run *r = record_read_run(f, f->ids[i], RECORD_READ_ATTRS);
    cx.rc = r ? row_check(f, cx.s, i, r) : MOEX_EIO;
    record_run_free(r);
  }
  if (cx.rc) {
    record_summary_free(cx.s);
    return NULL;
  }
  return cx.s;
}

/* ---- schema check ------------------------------------------------------------------------- */

static int check_root_types(record_file *f) {
  static const char *names[] = {"moex_version", "created_utc", "host", "command_line", "experiment", "grid"};
  for (size_t k = 0; k < 6; ++k) {
    hid_t a = H5Aopen(f->fid, names[k], H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    int ok = t >= 0 && rh5_is_vlen_utf8(t);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (!ok)
      return moex_error(MOEX_EIO, "record: '%s': root attribute '%s' is not a variable-length UTF-8 string",
                        f->path, names[k]);
  }
  return 0;
}

int record_check(const char *path) {
  record_file *f = record_open(path);
  if (!f) return MOEX_EIO;
  int rc = check_root_types(f);
  record_summary *s = rc ? NULL : record_read_summary(f); /* rows against runs, counts */
  if (!rc && !s) rc = MOEX_EIO;
  for (size_t i = 0; !rc && i < f->n_ids; ++i) {
    if (!record_name_ok(f->ids[i])) {
      rc = moex_error(MOEX_EIO, "record: '%s': bad run id '%s'", path, f->ids[i]);
      break;
    }
    record_run *r = record_read_run(f, f->ids[i], RECORD_READ_ALL); /* every dataset verified */
    if (!r) rc = MOEX_EIO;
    record_run_free(r);
  }
  record_summary_free(s);
  record_close(f);
  return rc;
}
