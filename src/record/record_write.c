/* record_write: writing one run into an open record (its group, attributes, arrays, tables and
 * their checksums), and a new empty record with its root attributes. No file protocol here
 * (record_commit.c). */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/blas.h"
#include "core/moex_error.h"

#ifndef MOEX_VERSION
#define MOEX_VERSION "unknown"
#endif

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

static int probe_create(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return moex_error(MOEX_EIO, "record: cannot create '%s': %s", path, strerror(errno));
  close(fd);
  return 0;
}

/* Group creation property list keeping creation order of links and attributes, so readers
 * list runs, columns and attributes in the order they were written. */
hid_t record_ordered_gcpl(void) {
  hid_t p = H5Pcreate(H5P_GROUP_CREATE);
  if (p < 0) return p;
  H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  H5Pset_attr_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  return p;
}

hid_t record_fapl(void) {
  /* the 1.10 object formats: object headers, B-trees v2, fractal heaps, the chunk indexes and the
   * superblock carry checksums (the 1.8 default ones do not). HDF5 1.10 reads and writes them,
   * so Debian 12's h5dump and h5py 3.7 read these files. */
  hid_t p = H5Pcreate(H5P_FILE_ACCESS);
  if (p >= 0 && H5Pset_libver_bounds(p, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) {
    H5Pclose(p);
    return -1;
  }
  return p;
}

static int put_checksum(const char *file, hid_t loc, uint64_t h) {
  char s[RECORD_CHECKSUM_LEN];
  record_checksum_format(h, s);
  return rh5_attr_put_str(file, loc, RECORD_CHECKSUM_ATTR, s);
}

static hid_t file_type(record_type t) {
  return t == RECORD_INT ? H5T_STD_I64LE : H5T_IEEE_F64LE;
}
static hid_t mem_type(record_type t) {
  return t == RECORD_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
}

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
  *out = ds;
  return 0;
}

/* Closes a written dataset: HDF5 writes its data from its buffers then (a sieve buffer, the
 * chunk cache), so a full disk can show here first and must fail the commit. */
static int close_dataset(const char *file, const char *rid, const char *path, hid_t ds, int rc) {
  if (H5Dclose(ds) < 0 && !rc)
    rc = moex_error(MOEX_EIO, "record: '%s': run '%s': cannot write '%s' (%s)", file, rid, path, rh5_why());
  return rc;
}

int record_write_run(const char *file, hid_t runs, const record_run *r) {
  hid_t gcpl = record_ordered_gcpl();
  hid_t g = H5Gcreate2(runs, r->id, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  if (g < 0) return moex_error(MOEX_EIO, "record: '%s': cannot create /runs/%s (%s)", file, r->id, rh5_why());
  int rc = 0;
  size_t ns = 0, nd = 0;
  record_dsum *sums = malloc((r->n_arrays + r->n_tables + 1) * sizeof *sums);
  if (!sums) rc = moex_error(MOEX_ENOMEM, "record: out of memory");
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
    hid_t ds = -1;
    rc = write_dataset(file, g, r->id, a->path, file_type(a->type), mem_type(a->type), a->rank, dims,
                       NULL, H5P_DEFAULT, a->data, &ds);
    if (!rc) {
      sums[nd] = (record_dsum){a->path, record_checksum_array(a)};
      rc = put_checksum(file, ds, sums[nd++].sum);
      rc = close_dataset(file, r->id, a->path, ds, rc);
    }
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
    H5Pset_fletcher32(pl); /* HDF5 checks each chunk when it reads it */
    hid_t ds = -1;
    rc = write_dataset(file, g, r->id, t->path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, maxd, pl,
                       t->data, &ds);
    H5Pclose(pl);
    if (!rc) {
      rc = rh5_attr_put_strs(file, ds, RECORD_COLUMNS_ATTR, t->ncols, t->columns);
      sums[nd] = (record_dsum){t->path, record_checksum_table(t)};
      if (!rc) rc = put_checksum(file, ds, sums[nd++].sum);
      rc = close_dataset(file, r->id, t->path, ds, rc);
    }
  }
  uint64_t h;
  if (!rc && record_checksum_run(r, sums, nd, &h)) rc = moex_error(MOEX_ENOMEM, "record: out of memory");
  if (!rc) rc = put_checksum(file, g, h);
  free(sums);
  if (H5Gclose(g) < 0 && !rc) rc = moex_error(MOEX_EIO, "record: '%s': cannot write /runs/%s (%s)", file, r->id, rh5_why());
  return rc;
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

/* Writes an empty record (root attributes, /runs, /summary/run_id) to `path`, closed; the
 * caller syncs and renames it. */
int record_write_empty(const char *path, const record_meta_in *meta) {
  int rc = probe_create(path);
  if (rc) return rc;
  hid_t fapl = record_fapl();
  hid_t f = fapl < 0 ? -1 : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (f < 0) rc = moex_error(MOEX_EIO, "record: cannot create HDF5 file '%s' (%s)", path, rh5_why());
  if (fapl >= 0) H5Pclose(fapl);
  if (f < 0) {
    unlink(path);
    return rc;
  }
  char when[64], host[256];
  utc_now(when, sizeof when);
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = '\0';
  const char *names[] = {"moex_version", "created_utc", "host", "command_line", "experiment", "grid"};
  /* the build and the BLAS it ran: the same source can give other bits under another BLAS or
   * another OpenBLAS core */
  char version[512], blas[400];
  moex_blas_describe(blas, sizeof blas);
  snprintf(version, sizeof version, "%s; %s", MOEX_VERSION, blas);
  const char *vals[] = {version, when, host, meta->command_line, meta->experiment, meta->grid};
  char *clean[6] = {NULL};
  for (size_t k = 0; !rc && k < 6; ++k) {
    clean[k] = utf8_sanitized(vals[k]);
    rc = clean[k] ? rh5_attr_put_str(path, f, names[k], clean[k]) : moex_error(MOEX_ENOMEM, "record: out of memory");
  }
  record_attr sv = {.name = "schema_version", .type = RECORD_INT, .v.i = RECORD_SCHEMA_VERSION};
  if (!rc) rc = rh5_attr_put(path, f, &sv);
  if (!rc) rc = put_checksum(path, f, record_checksum_root((const char *const *)clean, RECORD_SCHEMA_VERSION));
  for (size_t k = 0; k < 6; ++k) free(clean[k]);
  hid_t gcpl = record_ordered_gcpl();
  for (int k = 0; !rc && k < 2; ++k) {
    hid_t g = H5Gcreate2(f, k ? "summary" : "runs", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (g < 0) { rc = moex_error(MOEX_EIO, "record: '%s': cannot create a group (%s)", path, rh5_why()); break; }
    if (k) rc = record_column_create(path, g, "run_id", RECORD_STR);
    H5Gclose(g);
  }
  H5Pclose(gcpl);
  if (H5Fclose(f) < 0 && !rc) rc = moex_error(MOEX_EIO, "record: cannot close '%s' (%s)", path, rh5_why());
  if (rc) unlink(path);
  return rc;
}
