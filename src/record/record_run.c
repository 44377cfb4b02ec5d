/* record_run: a run record built in memory, before it is written (or after it is read). */
#include "record/record.h"
#include "record/record_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/moex_error.h"

int record_name_ok(const char *s) {
  if (!s || !*s) return 0;
  if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
  for (const char *p = s; *p; ++p) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return 0;
  }
  return 1;
}

int record_path_ok(const char *s) {
  if (!s || !*s || strlen(s) > 1000) return 0;
  char buf[1024];
  strcpy(buf, s);
  char *save = NULL;
  if (buf[0] == '/' || buf[strlen(buf) - 1] == '/' || strstr(buf, "//")) return 0;
  for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save))
    if (!record_name_ok(t)) return 0;
  return 1;
}

size_t record_utf8_len(const unsigned char *p) {
  unsigned c = *p;
  size_t n;
  unsigned min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { n = 1; c &= 0x1F; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { n = 2; c &= 0x0F; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { n = 3; c &= 0x07; min = 0x10000; }
  else return 0;
  for (size_t k = 1; k <= n; ++k) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (p[k] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  return n + 1;
}

int record_utf8_ok(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    size_t k = record_utf8_len(p);
    if (!k) return 0;
    p += k;
  }
  return 1;
}

char *record_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

record_run *record_run_alloc(const char *id) {
  if (!record_name_ok(id)) {
    moex_error(MOEX_EINVAL, "record: run id '%s' must be non-empty [A-Za-z0-9_.-]", id ? id : "(null)");
    return NULL;
  }
  record_run *r = calloc(1, sizeof *r);
  if (!r || !(r->id = record_strdup(id))) {
    free(r);
    moex_error(MOEX_ENOMEM, "record: out of memory for run '%s'", id);
    return NULL;
  }
  return r;
}

void record_array_free(record_array *a) {
  if (!a) return;
  free(a->path);
  free(a->data);
  free(a);
}

void record_table_free(record_table *t) {
  if (!t) return;
  for (size_t j = 0; t->columns && j < t->ncols; ++j) free(t->columns[j]);
  free(t->columns);
  free(t->path);
  free(t->data);
  free(t);
}

void record_run_free(record_run *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_attrs; ++i) {
    free(r->attrs[i].name);
    if (r->attrs[i].type == RECORD_STR) free(r->attrs[i].v.s);
  }
  free(r->attrs);
  for (size_t i = 0; i < r->n_arrays; ++i) record_array_free(r->arrays[i]);
  free(r->arrays);
  for (size_t i = 0; i < r->n_tables; ++i) record_table_free(r->tables[i]);
  free(r->tables);
  free(r->id);
  free(r);
}

/* Grows a vector of `size`-byte items to hold n + 1. */
static int grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return 0;
  size_t c = *cap ? 2 * *cap : 8;
  void *q = realloc(*p, c * size);
  if (!q) return moex_error(MOEX_ENOMEM, "record: out of memory");
  *p = q;
  *cap = c;
  return 0;
}

/* The slot for attribute `name`: existing (its old string freed) or new. */
static record_attr *attr_slot(record_run *r, const char *name) {
  if (!r) { moex_error(MOEX_EINVAL, "record: NULL run"); return NULL; }
  if (!record_name_ok(name) || strcmp(name, "run_id") == 0 || strcmp(name, RECORD_SUMMARY_ATTR) == 0 ||
      strcmp(name, RECORD_CHECKSUM_ATTR) == 0) {
    moex_error(MOEX_EINVAL, "record: run '%s': bad attribute name '%s' (want [A-Za-z0-9_.-]+, not run_id, "
               RECORD_SUMMARY_ATTR " or " RECORD_CHECKSUM_ATTR ")",
               r->id, name ? name : "(null)");
    return NULL;
  }
  for (size_t i = 0; i < r->n_attrs; ++i)
    if (strcmp(r->attrs[i].name, name) == 0) {
      if (r->attrs[i].type == RECORD_STR) { free(r->attrs[i].v.s); r->attrs[i].v.s = NULL; }
      return &r->attrs[i];
    }
  if (grow((void **)&r->attrs, &r->cap_attrs, r->n_attrs, sizeof *r->attrs)) return NULL;
  record_attr *a = &r->attrs[r->n_attrs];
  memset(a, 0, sizeof *a);
  if (!(a->name = record_strdup(name))) {
    moex_error(MOEX_ENOMEM, "record: out of memory");
    return NULL;
  }
  r->n_attrs++;
  return a;
}

int record_run_set_str(record_run *r, const char *name, const char *value) {
  if (!value || !record_utf8_ok(value))
    return moex_error(MOEX_EINVAL, "record: attribute '%s': value is %s", name ? name : "(null)",
                      value ? "not valid UTF-8" : "NULL");
  char *s = record_strdup(value);
  if (!s) return moex_error(MOEX_ENOMEM, "record: out of memory");
  record_attr *a = attr_slot(r, name);
  if (!a) { free(s); return MOEX_EINVAL; }
  a->type = RECORD_STR;
  a->v.s = s;
  return 0;
}

int record_run_set_int(record_run *r, const char *name, int64_t value) {
  record_attr *a = attr_slot(r, name);
  if (!a) return MOEX_EINVAL;
  a->type = RECORD_INT;
  a->v.i = value;
  return 0;
}

int record_run_set_double(record_run *r, const char *name, double value) {
  record_attr *a = attr_slot(r, name);
  if (!a) return MOEX_EINVAL;
  a->type = RECORD_DOUBLE;
  a->v.d = value;
  return 0;
}

int record_run_summarize(record_run *r, const char *name) {
  if (!r) return moex_error(MOEX_EINVAL, "record: NULL run");
  for (size_t i = 0; i < r->n_attrs; ++i)
    if (!name || strcmp(r->attrs[i].name, name) == 0) {
      r->attrs[i].summary = 1;
      if (name) return 0;
    }
  if (name) return moex_error(MOEX_EINVAL, "record: run '%s' has no attribute '%s' to summarize", r->id, name);
  return 0;
}

/* Nonzero when `path` is taken by an array or table of r, or is a prefix-clash with one
 * (an object cannot be both a dataset and a group). */
static int path_taken(const record_run *r, const char *path) {
  size_t n = strlen(path);
  for (size_t k = 0; k < r->n_arrays + r->n_tables; ++k) {
    const char *p = k < r->n_arrays ? r->arrays[k]->path : r->tables[k - r->n_arrays]->path;
    size_t m = strlen(p);
    if (strcmp(p, path) == 0) return 1;
    if (m < n && strncmp(p, path, m) == 0 && path[m] == '/') return 1;
    if (n < m && strncmp(p, path, n) == 0 && p[n] == '/') return 1;
  }
  return 0;
}

static int check_new_path(const record_run *r, const char *path) {
  if (!r) return moex_error(MOEX_EINVAL, "record: NULL run");
  if (!record_path_ok(path))
    return moex_error(MOEX_EINVAL, "record: run '%s': bad path '%s' (want a/b/c, [A-Za-z0-9_.-]+ each)",
                      r->id, path ? path : "(null)");
  if (path_taken(r, path))
    return moex_error(MOEX_EINVAL, "record: run '%s': path '%s' clashes with another array or table", r->id, path);
  return 0;
}

/* Takes ownership of a (added, or freed on failure). */
int record_run_put_array(record_run *r, record_array *a) {
  int rc = grow((void **)&r->arrays, &r->cap_arrays, r->n_arrays, sizeof *r->arrays);
  if (rc) { record_array_free(a); return rc; }
  r->arrays[r->n_arrays++] = a;
  return 0;
}

int record_run_put_table(record_run *r, record_table *t) {
  int rc = grow((void **)&r->tables, &r->cap_tables, r->n_tables, sizeof *r->tables);
  if (rc) { record_table_free(t); return rc; }
  r->tables[r->n_tables++] = t;
  return 0;
}

record_array *record_array_new(const char *path, record_type type, int rank, const size_t *dims) {
  record_array *a = calloc(1, sizeof *a);
  size_t n = dims[0] * (rank == 2 ? dims[1] : 1);
  size_t sz = type == RECORD_INT ? sizeof(int64_t) : sizeof(double);
  if (!a || !(a->path = record_strdup(path)) || !(a->data = malloc(n ? n * sz : 1))) {
    record_array_free(a);
    moex_error(MOEX_ENOMEM, "record: out of memory for array '%s'", path);
    return NULL;
  }
  a->type = type;
  a->rank = rank;
  a->dims[0] = dims[0];
  a->dims[1] = rank == 2 ? dims[1] : 1;
  return a;
}

static int add_array(record_run *r, const char *path, record_type type, const void *x, int rank,
                     const size_t *dims) {
  int rc = check_new_path(r, path);
  if (rc) return rc;
  if ((rank != 1 && rank != 2) || !dims)
    return moex_error(MOEX_EINVAL, "record: run '%s': array '%s' has rank %d, want 1 or 2", r->id, path, rank);
  size_t n = dims[0] * (rank == 2 ? dims[1] : 1);
  if (n && !x) return moex_error(MOEX_EINVAL, "record: run '%s': array '%s' has NULL data", r->id, path);
  record_array *a = record_array_new(path, type, rank, dims);
  if (!a) return MOEX_ENOMEM;
  if (n) memcpy(a->data, x, n * (type == RECORD_INT ? sizeof(int64_t) : sizeof(double)));
  return record_run_put_array(r, a);
}

int record_run_add_double(record_run *r, const char *path, const double *x, int rank,
                          const size_t *dims) {
  return add_array(r, path, RECORD_DOUBLE, x, rank, dims);
}

int record_run_add_int(record_run *r, const char *path, const int64_t *x, int rank,
                       const size_t *dims) {
  return add_array(r, path, RECORD_INT, x, rank, dims);
}

record_table *record_table_new(const char *path, size_t ncols, const char *const *columns) {
  record_table *t = calloc(1, sizeof *t);
  if (!t || !(t->path = record_strdup(path)) || !(t->columns = calloc(ncols, sizeof *t->columns))) {
    record_table_free(t);
    moex_error(MOEX_ENOMEM, "record: out of memory for table '%s'", path);
    return NULL;
  }
  t->ncols = ncols;
  for (size_t j = 0; j < ncols; ++j)
    if (!(t->columns[j] = record_strdup(columns[j]))) {
      record_table_free(t);
      moex_error(MOEX_ENOMEM, "record: out of memory for table '%s'", path);
      return NULL;
    }
  return t;
}

record_table *record_run_add_table(record_run *r, const char *path, size_t ncols,
                                   const char *const *columns) {
  if (check_new_path(r, path)) return NULL;
  if (ncols == 0 || !columns) {
    moex_error(MOEX_EINVAL, "record: run '%s': table '%s' needs ncols >= 1 column names", r->id, path);
    return NULL;
  }
  for (size_t j = 0; j < ncols; ++j) {
    if (!columns[j] || !*columns[j] || !record_utf8_ok(columns[j])) {
      moex_error(MOEX_EINVAL, "record: run '%s': table '%s': column %zu has no valid name", r->id, path, j);
      return NULL;
    }
    for (size_t k = 0; k < j; ++k)
      if (strcmp(columns[k], columns[j]) == 0) {
        moex_error(MOEX_EINVAL, "record: run '%s': table '%s': column '%s' twice", r->id, path, columns[j]);
        return NULL;
      }
  }
  record_table *t = record_table_new(path, ncols, columns);
  if (!t || record_run_put_table(r, t)) return NULL;
  return t;
}

int record_table_append(record_table *t, const double *row) {
  if (!t || !row) return moex_error(MOEX_EINVAL, "record: table append with NULL %s", t ? "row" : "table");
  double *d = moex_grow(t->data, t->nrows, &t->cap, t->ncols * sizeof *d, 64);
  if (!d) return moex_error(MOEX_ENOMEM, "record: out of memory for table '%s'", t->path);
  t->data = d;
  memcpy(t->data + t->nrows * t->ncols, row, t->ncols * sizeof *row);
  t->nrows++;
  return 0;
}

long record_table_column(const record_table *t, const char *name) {
  for (size_t j = 0; t && name && j < t->ncols; ++j)
    if (strcmp(t->columns[j], name) == 0) return (long)j;
  return -1;
}

const record_attr *record_run_attr(const record_run *r, const char *name) {
  for (size_t i = 0; r && name && i < r->n_attrs; ++i)
    if (strcmp(r->attrs[i].name, name) == 0) return &r->attrs[i];
  return NULL;
}

const record_array *record_run_array(const record_run *r, const char *path) {
  for (size_t i = 0; r && path && i < r->n_arrays; ++i)
    if (strcmp(r->arrays[i]->path, path) == 0) return r->arrays[i];
  return NULL;
}

const record_table *record_run_table(const record_run *r, const char *path) {
  for (size_t i = 0; r && path && i < r->n_tables; ++i)
    if (strcmp(r->tables[i]->path, path) == 0) return r->tables[i];
  return NULL;
}

static const record_attr *typed(const record_run *r, const char *name, record_type type) {
  const record_attr *a = record_run_attr(r, name);
  static const char *tn[] = {"", "string", "int", "double"};
  if (!a)
    moex_error(MOEX_EINVAL, "record: run '%s' has no attribute '%s'", r ? r->id : "(null)", name ? name : "(null)");
  else if (a->type != type) {
    moex_error(MOEX_EINVAL, "record: run '%s': attribute '%s' is a %s, not a %s", r->id, name,
               tn[a->type], tn[type]);
    return NULL;
  }
  return a;
}

int record_run_get_str(const record_run *r, const char *name, const char **out) {
  const record_attr *a = typed(r, name, RECORD_STR);
  if (!a) return MOEX_EINVAL;
  *out = a->v.s;
  return 0;
}

int record_run_get_int(const record_run *r, const char *name, int64_t *out) {
  const record_attr *a = typed(r, name, RECORD_INT);
  if (!a) return MOEX_EINVAL;
  *out = a->v.i;
  return 0;
}

int record_run_get_double(const record_run *r, const char *name, double *out) {
  const record_attr *a = typed(r, name, RECORD_DOUBLE);
  if (!a) return MOEX_EINVAL;
  *out = a->v.d;
  return 0;
}

record_run *record_run_copy(const record_run *r) {
  if (!r) { moex_error(MOEX_EINVAL, "record: NULL run"); return NULL; }
  record_run *c = record_run_alloc(r->id);
  if (!c) return NULL;
  for (size_t i = 0; i < r->n_attrs; ++i) {
    const record_attr *a = &r->attrs[i];
    int rc = a->type == RECORD_STR ? record_run_set_str(c, a->name, a->v.s)
           : a->type == RECORD_INT ? record_run_set_int(c, a->name, a->v.i)
                                   : record_run_set_double(c, a->name, a->v.d);
    if (rc) goto fail;
    c->attrs[c->n_attrs - 1].summary = a->summary;
  }
  for (size_t i = 0; i < r->n_arrays; ++i) {
    const record_array *a = r->arrays[i];
    if (add_array(c, a->path, a->type, a->data, a->rank, a->dims)) goto fail;
  }
  for (size_t i = 0; i < r->n_tables; ++i) {
    const record_table *t = r->tables[i];
    record_table *u = record_run_add_table(c, t->path, t->ncols, (const char *const *)t->columns);
    if (!u) goto fail;
    for (size_t k = 0; k < t->nrows; ++k)
      if (record_table_append(u, t->data + k * t->ncols)) goto fail;
  }
  return c;
fail:
  record_run_free(c);
  return NULL;
}

int record_run_compare(const record_run *a, const record_run *b) {
  if (strcmp(a->id, b->id) != 0) return moex_error(1, "record: run ids differ: '%s' vs '%s'", a->id, b->id);
  if (a->n_attrs != b->n_attrs || a->n_arrays != b->n_arrays || a->n_tables != b->n_tables)
    return moex_error(1, "record: run '%s': counts differ (attrs %zu/%zu, arrays %zu/%zu, tables %zu/%zu)",
                      a->id, a->n_attrs, b->n_attrs, a->n_arrays, b->n_arrays, a->n_tables, b->n_tables);
  for (size_t i = 0; i < a->n_attrs; ++i) {
    const record_attr *x = &a->attrs[i], *y = record_run_attr(b, x->name);
    if (!y || x->type != y->type || !x->summary != !y->summary)
      return moex_error(1, "record: run '%s': attribute '%s' missing or of another type/summary flag", a->id, x->name);
    int same = x->type == RECORD_STR ? strcmp(x->v.s, y->v.s) == 0
             : x->type == RECORD_INT ? x->v.i == y->v.i
                                     : memcmp(&x->v.d, &y->v.d, sizeof(double)) == 0;
    if (!same) return moex_error(1, "record: run '%s': attribute '%s' differs", a->id, x->name);
  }
  for (size_t i = 0; i < a->n_arrays; ++i) {
    const record_array *x = a->arrays[i], *y = record_run_array(b, x->path);
    if (!y || x->type != y->type || x->rank != y->rank || x->dims[0] != y->dims[0] || x->dims[1] != y->dims[1])
      return moex_error(1, "record: run '%s': array '%s' missing or of another type/shape", a->id, x->path);
    size_t n = x->dims[0] * x->dims[1] * (x->type == RECORD_INT ? sizeof(int64_t) : sizeof(double));
    if (n && memcmp(x->data, y->data, n) != 0)
      return moex_error(1, "record: run '%s': array '%s' values differ", a->id, x->path);
  }
  for (size_t i = 0; i < a->n_tables; ++i) {
    const record_table *x = a->tables[i], *y = record_run_table(b, x->path);
    if (!y || x->ncols != y->ncols || x->nrows != y->nrows)
      return moex_error(1, "record: run '%s': table '%s' missing or of another shape", a->id, x->path);
    for (size_t j = 0; j < x->ncols; ++j)
      if (strcmp(x->columns[j], y->columns[j]) != 0)
        return moex_error(1, "record: run '%s': table '%s' column %zu differs", a->id, x->path, j);
    if (x->nrows && memcmp(x->data, y->data, x->nrows * x->ncols * sizeof(double)) != 0)
      return moex_error(1, "record: run '%s': table '%s' values differ", a->id, x->path);
  }
  return 0;
}

char *record_join_argv(int argc, char *const *argv) {
  size_t n = 1;
  for (int i = 0; i < argc; ++i) n += 4 * strlen(argv[i]) + 3;
  char *s = malloc(n), *p = s;
  if (!s) { moex_error(MOEX_ENOMEM, "record: out of memory"); return NULL; }
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    if (i) *p++ = ' ';
    int quote = !*a || strpbrk(a, " \t\n'\"\\$`*?;&|<>()") != NULL;
    if (quote) *p++ = '\'';
    for (; *a; ++a) {
      if (*a == '\'') { memcpy(p, "'\\''", 4); p += 4; }
      else *p++ = *a;
    }
    if (quote) *p++ = '\'';
  }
  *p = '\0';
  return s;
}
