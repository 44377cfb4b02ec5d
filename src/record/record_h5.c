/* record_h5: HDF5 plumbing for the record module: quiet errors, UTF-8 string attributes. */
#include "record/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/moex_error.h"

void rh5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static _Thread_local char why_buf[160];

static herr_t why_cb(unsigned n, const H5E_error2_t *e, void *data) {
  (void)data;
  if (n != 0 || !e->desc) return 0;
  /* the file driver's messages carry the system's reason ("file write failed: time = ...,
   * errno = 28, error message = 'No space left on device', ..."): keep the head and the reason */
  const char *m = strstr(e->desc, "error message = '"), *colon = strchr(e->desc, ':');
  if (m && colon && colon < m) {
    m += strlen("error message = '");
    const char *q = strchr(m, '\'');
    snprintf(why_buf, sizeof why_buf, "%.*s: %.*s", (int)(colon - e->desc), e->desc, (int)(q ? q - m : 80), m);
  } else {
    snprintf(why_buf, sizeof why_buf, "%s", e->desc);
  }
  return 0;
}

const char *rh5_why(void) {
  why_buf[0] = '\0';
  /* upward: the first entry is where HDF5 detected the problem (most specific) */
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, why_cb, NULL);
  H5Eclear2(H5E_DEFAULT);
  return why_buf;
}

hid_t rh5_str_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

int rh5_is_vlen_utf8(hid_t type) {
  return H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0 &&
         H5Tget_cset(type) == H5T_CSET_UTF8;
}

int rh5_attr_put(const char *file, hid_t loc, const record_attr *a) {
  if (a->type == RECORD_STR) return rh5_attr_put_str(file, loc, a->name, a->v.s);
  hid_t ft = a->type == RECORD_INT ? H5T_STD_I64LE : H5T_IEEE_F64LE;
  hid_t mt = a->type == RECORD_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t at = sp < 0 ? -1 : H5Acreate2(loc, a->name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = at < 0 ? -1 : H5Awrite(at, mt, a->type == RECORD_INT ? (const void *)&a->v.i
                                                                      : (const void *)&a->v.d);
  if (at >= 0) H5Aclose(at);
  if (sp >= 0) H5Sclose(sp);
  if (st < 0)
    return moex_error(MOEX_EIO, "record: '%s': cannot write attribute '%s' (%s)", file, a->name, rh5_why());
  return 0;
}

/* A string attribute (scalar or 1-D) of the space sp, taken and closed here; buf holds the
 * variable-length strings' pointers. */
static int put_str_attr(const char *file, hid_t loc, const char *name, hid_t sp, const void *buf) {
  hid_t t = rh5_str_type();
  hid_t at = (t < 0 || sp < 0) ? -1 : H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = at < 0 ? -1 : H5Awrite(at, t, buf);
  if (at >= 0) H5Aclose(at);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (st < 0)
    return moex_error(MOEX_EIO, "record: '%s': cannot write attribute '%s' (%s)", file, name, rh5_why());
  return 0;
}

int rh5_attr_put_str(const char *file, hid_t loc, const char *name, const char *value) {
  return put_str_attr(file, loc, name, H5Screate(H5S_SCALAR), &value);
}

int rh5_attr_put_strs(const char *file, hid_t loc, const char *name, size_t n, char *const *v) {
  hsize_t d = n;
  return put_str_attr(file, loc, name, H5Screate_simple(1, &d, NULL), v);
}

int rh5_attr_get(const char *file, hid_t loc, const char *what, const char *name, record_attr *a) {
  int rc = 0;
  hid_t at = H5Aopen(loc, name, H5P_DEFAULT);
  if (at < 0)
    return moex_error(MOEX_EIO, "record: '%s': %s has no attribute '%s'", file, what, name);
  hid_t t = H5Aget_type(at), sp = H5Aget_space(at);
  memset(a, 0, sizeof *a);
  if (t < 0 || sp < 0 || H5Sget_simple_extent_type(sp) != H5S_SCALAR) {
    rc = moex_error(MOEX_EIO, "record: '%s': %s: attribute '%s' is not a scalar", file, what, name);
    goto out;
  }
  H5T_class_t c = H5Tget_class(t);
  if (c == H5T_STRING) {
    if (!rh5_is_vlen_utf8(t)) {
      rc = moex_error(MOEX_EIO, "record: '%s': %s: attribute '%s' is not a variable-length UTF-8 string",
                      file, what, name);
      goto out;
    }
    char *s = NULL;
    if (H5Aread(at, t, &s) < 0 || !s) {
      rc = moex_error(MOEX_EIO, "record: '%s': %s: cannot read attribute '%s' (%s)", file, what, name, rh5_why());
      goto out;
    }
    a->type = RECORD_STR;
    a->v.s = record_strdup(s);
    H5free_memory(s);
    if (!a->v.s) rc = moex_error(MOEX_ENOMEM, "record: out of memory");
  } else if (c == H5T_INTEGER || c == H5T_FLOAT) {
    a->type = c == H5T_INTEGER ? RECORD_INT : RECORD_DOUBLE;
    if (H5Aread(at, c == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE,
                c == H5T_INTEGER ? (void *)&a->v.i : (void *)&a->v.d) < 0)
      rc = moex_error(MOEX_EIO, "record: '%s': %s: cannot read attribute '%s' (%s)", file, what, name, rh5_why());
  } else {
    rc = moex_error(MOEX_EIO, "record: '%s': %s: attribute '%s' is neither string, integer nor float",
                    file, what, name);
  }
  if (!rc && !(a->name = record_strdup(name))) rc = moex_error(MOEX_ENOMEM, "record: out of memory");
out:
  if (rc && a->type == RECORD_STR) { free(a->v.s); a->v.s = NULL; }
  if (rc) { free(a->name); a->name = NULL; }
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  H5Aclose(at);
  return rc;
}

int rh5_attr_get_strs(const char *file, hid_t loc, const char *what, const char *name, size_t *n,
                      char ***v) {
  int rc = 0;
  *n = 0;
  *v = NULL;
  hid_t at = H5Aopen(loc, name, H5P_DEFAULT);
  if (at < 0) return moex_error(MOEX_EIO, "record: '%s': %s has no attribute '%s'", file, what, name);
  hid_t t = H5Aget_type(at), sp = H5Aget_space(at), mt = rh5_str_type();
  hsize_t d = 0;
  if (t < 0 || sp < 0 || mt < 0 || H5Sget_simple_extent_ndims(sp) != 1 || !rh5_is_vlen_utf8(t)) {
    rc = moex_error(MOEX_EIO, "record: '%s': %s: attribute '%s' is not a 1-D array of UTF-8 strings",
                    file, what, name);
    goto out;
  }
  H5Sget_simple_extent_dims(sp, &d, NULL);
  char **raw = calloc(d ? d : 1, sizeof *raw);
  char **out = calloc(d ? d : 1, sizeof *out);
  if (!raw || !out) {
    free(raw);
    free(out);
    rc = moex_error(MOEX_ENOMEM, "record: out of memory");
    goto out;
  }
  if (H5Aread(at, mt, raw) < 0) {
    rc = moex_error(MOEX_EIO, "record: '%s': %s: cannot read attribute '%s' (%s)", file, what, name, rh5_why());
  } else {
    for (hsize_t k = 0; k < d && !rc; ++k)
      if (!raw[k] || !(out[k] = record_strdup(raw[k])))
        rc = moex_error(raw[k] ? MOEX_ENOMEM : MOEX_EIO, "record: '%s': %s: attribute '%s' entry %llu unreadable",
                        file, what, name, (unsigned long long)k);
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
  }
  free(raw);
  if (rc) {
    for (hsize_t k = 0; k < d; ++k) free(out[k]);
    free(out);
  } else {
    *n = d;
    *v = out;
  }
out:
  if (mt >= 0) H5Tclose(mt);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  H5Aclose(at);
  return rc;
}

int rh5_fsync_path(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return moex_error(MOEX_EIO, "record: cannot open '%s' to sync it: %s", path, strerror(errno));
  int rc = 0;
  while (fsync(fd) != 0) {
    if (errno == EINTR) continue;
    /* some file systems refuse fsync on a directory: nothing more can be done there */
    if (errno != EINVAL && errno != EBADF)
      rc = moex_error(MOEX_EIO, "record: cannot sync '%s': %s", path, strerror(errno));
    break;
  }
  close(fd);
  return rc;
}
