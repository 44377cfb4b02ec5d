/* record_summary: the /summary table as the writer extends it: its columns and types, one row per
 * committed run, fill values for the columns a run lacks. */
#include "record/record_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/moex_error.h"

static hid_t file_type(record_type t) { return t == RECORD_INT ? H5T_STD_I64LE : H5T_IEEE_F64LE; }
static hid_t mem_type(record_type t) { return t == RECORD_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE; }

void record_columns_free(record_columns *cs) {
  for (size_t i = 0; i < cs->n; ++i) free(cs->c[i].name);
  free(cs->c);
  memset(cs, 0, sizeof *cs);
}

static int columns_add(record_columns *cs, const char *name, record_type type) {
  record_column_info *p = moex_grow(cs->c, cs->n, &cs->cap, sizeof *p, 16);
  if (!p) return moex_error(MOEX_ENOMEM, "record: out of memory");
  cs->c = p;
  if (!(cs->c[cs->n].name = record_strdup(name))) return moex_error(MOEX_ENOMEM, "record: out of memory");
  cs->c[cs->n++].type = type;
  return 0;
}

static const record_column_info *columns_find(const record_columns *cs, const char *name) {
  for (size_t i = 0; i < cs->n; ++i)
    if (strcmp(cs->c[i].name, name) == 0) return &cs->c[i];
  return NULL;
}

typedef struct {
  record_columns *cs;
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

int record_columns_read(const char *file, hid_t summary, record_columns *cs) {
  collect_ctx cx = {cs, 0, summary};
  if (H5Literate(summary, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, collect_cb, &cx) < 0 || cx.rc)
    return moex_error(cx.rc ? cx.rc : MOEX_EIO, "record: '%s': cannot list /summary (%s)", file, rh5_why());
  return 0;
}

/* Creates an empty extendible 1-D column. */
int record_column_create(const char *file, hid_t summary, const char *name, record_type type) {
  hsize_t d = 0, maxd = H5S_UNLIMITED, chunk = 256;
  hid_t st = type == RECORD_STR ? rh5_str_type() : -1;
  hid_t sp = H5Screate_simple(1, &d, &maxd);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(pl, 1, &chunk);
  /* Fletcher-32 on the numeric columns; HDF5 cannot filter variable-length strings (their rows
   * are checked against the runs' checksums by the reader instead) */
  if (type != RECORD_STR) { H5Pset_shuffle(pl); H5Pset_deflate(pl, 4); H5Pset_fletcher32(pl); }
  hid_t ds = H5Dcreate2(summary, name, type == RECORD_STR ? st : file_type(type), sp, H5P_DEFAULT, pl,
                        H5P_DEFAULT);
  int rc = ds < 0 ? moex_error(MOEX_EIO, "record: '%s': cannot create /summary/%s (%s)", file, name, rh5_why()) : 0;
  if (ds >= 0 && H5Dclose(ds) < 0 && !rc)
    rc = moex_error(MOEX_EIO, "record: '%s': cannot create /summary/%s (%s)", file, name, rh5_why());
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
  /* the data may reach the file only now (the chunk cache): a full disk shows here */
  if (ds >= 0 && H5Dclose(ds) < 0 && !rc)
    rc = moex_error(MOEX_EIO, "record: '%s': cannot write /summary/%s (%s)", file, name, rh5_why());
  return rc;
}

static const char *type_name(record_type t) {
  return t == RECORD_STR ? "string" : t == RECORD_INT ? "int" : "double";
}

/* Checks that r's summary attributes agree in type with the columns (cs, plus the ones r
 * would add), without writing. */
int record_summary_check(const char *file, const record_columns *cs, const record_run *r) {
  for (size_t i = 0; i < r->n_attrs; ++i) {
    const record_attr *a = &r->attrs[i];
    if (!a->summary) continue;
    const record_column_info *c = columns_find(cs, a->name);
    if (c && c->type != a->type)
      return moex_error(MOEX_EINVAL, "record: '%s': run '%s': summary column '%s' is %s in the file, the run gives %s",
                        file, r->id, a->name, type_name(c->type), type_name(a->type));
  }
  return 0;
}

/* Appends r's row to /summary: its id, its summary attributes, fill values elsewhere
 * (NaN, INT64_MIN, ""); a new column is back-filled for the earlier rows. */
int record_summary_append(const char *file, hid_t summary, record_columns *cs, const record_run *r) {
  int rc = record_summary_check(file, cs, r);
  hsize_t row = cs->nrows;
  for (size_t i = 0; !rc && i < r->n_attrs; ++i) {
    const record_attr *a = &r->attrs[i];
    if (!a->summary || columns_find(cs, a->name)) continue;
    rc = record_column_create(file, summary, a->name, a->type);
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
    const record_column_info *c = &cs->c[j];
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
