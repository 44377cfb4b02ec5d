/* sweep_grid: the cartesian product of named axes times seeds, run indices, configuration
 * strings, overrides from the command line, and the shard syntax. */
#include "sweep/sweep_grid.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

static const sweep_axis_t *find_axis(const sweep_grid_t *g, const char *name, size_t len) {
  for (size_t a = 0; a < g->n_axes; a++)
    if (g->axis[a].name && strlen(g->axis[a].name) == len && !strncmp(g->axis[a].name, name, len))
      return &g->axis[a];
  return NULL;
}

/* Each override's storage is one block: a pointer to the previous block, then the text; `owned`
 * points to the newest, so several overrides chain and sweep_grid_free walks the chain. */
/* A long --set is cut short in messages so that the reason fits (moex_error keeps 512 bytes). */
#define SPEC_FMT "%.*s%s"
#define SPEC_ARG(spec) (int)(strlen(spec) > 80 ? 77 : strlen(spec)), (spec), strlen(spec) > 80 ? "..." : ""

int sweep_grid_override(sweep_grid_t *g, const char *spec) {
  if (!g || !spec) return moex_error(MOEX_EINVAL, "sweep: --set needs NAME=v1,v2,...");
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec) return moex_error(MOEX_EINVAL, "sweep: --set '" SPEC_FMT "': expected NAME=v1,v2,...", SPEC_ARG(spec));
  sweep_axis_t *ax = (sweep_axis_t *)find_axis(g, spec, (size_t)(eq - spec));
  if (!ax) {
    char names[256] = "";
    for (size_t a = 0; a < g->n_axes; a++) {
      size_t l = strlen(names);
      snprintf(names + l, sizeof names - l, "%s%s", a ? ", " : "", g->axis[a].name);
    }
    return moex_error(MOEX_EINVAL, "sweep: --set '" SPEC_FMT "': unknown axis '%.*s' (axes: %s)", SPEC_ARG(spec),
                      (int)(eq - spec), spec, names);
  }
  const char *list = eq + 1;
  if (!*list) return moex_error(MOEX_EINVAL, "sweep: --set '" SPEC_FMT "': axis '%s' would have no values", SPEC_ARG(spec), ax->name);
  size_t len = strlen(list);
  char *block = malloc(sizeof(char *) + len + 1);
  if (!block) return moex_error(MOEX_ENOMEM, "sweep: out of memory");
  char *text = block + sizeof(char *);
  memcpy(text, list, len + 1);
  const char *vals[SWEEP_MAX_VALUES];
  size_t n = 0;
  for (char *p = text;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    const char *why = NULL;
    char many[64];
    snprintf(many, sizeof many, "more than %d values", SWEEP_MAX_VALUES);
    if (!*p) why = "an empty value";
    else if (n == SWEEP_MAX_VALUES) why = many;
    for (size_t k = 0; k < n && !why; k++)
      if (!strcmp(vals[k], p)) why = "a repeated value";
    if (why) {
      free(block);
      return moex_error(MOEX_EINVAL, "sweep: --set '" SPEC_FMT "': %s for axis '%s'", SPEC_ARG(spec), why, ax->name);
    }
    vals[n++] = p;
    if (!comma) break;
    p = comma + 1;
  }
  memcpy(block, &g->owned, sizeof(char *));
  g->owned = block;
  ax->n = n;
  for (size_t k = 0; k < n; k++) ax->values[k] = vals[k];
  return MOEX_OK;
}

void sweep_grid_free(sweep_grid_t *g) {
  if (!g) return;
  while (g->owned) {
    char *prev;
    memcpy(&prev, g->owned, sizeof prev);
    free(g->owned);
    g->owned = prev;
  }
}

size_t sweep_grid_size(const sweep_grid_t *g) {
  if (!g || g->seeds == 0 || g->n_axes > SWEEP_MAX_AXES) return 0;
  size_t n = g->seeds;
  for (size_t a = 0; a < g->n_axes; a++) {
    if (g->axis[a].n == 0 || g->axis[a].n > SWEEP_MAX_VALUES) return 0;
    if (n > SIZE_MAX / g->axis[a].n) return 0;
    n *= g->axis[a].n;
  }
  return n;
}

/* Index of axis a's value at run i: axes vary slowest first, the seed fastest. */
static size_t axis_index(const sweep_grid_t *g, size_t i, size_t a) {
  size_t stride = g->seeds;
  for (size_t b = a + 1; b < g->n_axes; b++) stride *= g->axis[b].n;
  return (i / stride) % g->axis[a].n;
}

const char *sweep_grid_value(const sweep_grid_t *g, size_t i, const char *name) {
  const sweep_axis_t *ax = name ? find_axis(g, name, strlen(name)) : NULL;
  if (!ax || ax->n == 0) return NULL;
  return ax->values[axis_index(g, i, (size_t)(ax - g->axis))];
}

size_t sweep_grid_seed_index(const sweep_grid_t *g, size_t i) { return g->seeds ? i % g->seeds : 0; }

size_t sweep_pair_none(const char *value) {
  (void)value;
  return 0;
}

/* The configuration text of run i, each value whole (pair 0) or cut by its axis' pair function. */
static void config_text(const sweep_grid_t *g, const char *experiment, size_t i, int pair, char *buf, size_t len) {
  if (!len) return;
  size_t off = 0;
  int w = snprintf(buf, len, "%s", experiment ? experiment : "");
  for (size_t a = 0; a < g->n_axes && w >= 0; a++) {
    off += (size_t)w;
    if (off >= len) return;
    const char *v = g->axis[a].values[axis_index(g, i, a)];
    size_t keep = pair && g->axis[a].pair ? g->axis[a].pair(v) : strlen(v);
    w = keep ? snprintf(buf + off, len - off, " %s=%.*s", g->axis[a].name, (int)keep, v) : 0;
  }
  if (w < 0) return;
  off += (size_t)w;
  if (off < len) snprintf(buf + off, len - off, " seed=%zu", sweep_grid_seed_index(g, i));
}

void sweep_grid_config(const sweep_grid_t *g, const char *experiment, size_t i, char *buf, size_t len) {
  config_text(g, experiment, i, 0, buf, len);
}

void sweep_grid_pair_config(const sweep_grid_t *g, const char *experiment, size_t i, char *buf, size_t len) {
  config_text(g, experiment, i, 1, buf, len);
}

void sweep_grid_describe(const sweep_grid_t *g, char *buf, size_t len) {
  if (!len) return;
  size_t off = 0;
  buf[0] = '\0';
#define PUT(...)                                                         \
  do {                                                                   \
    if (off < len) {                                                     \
      int w_ = snprintf(buf + off, len - off, __VA_ARGS__);              \
      if (w_ > 0) off += (size_t)w_;                                     \
    }                                                                    \
  } while (0)
  PUT("{");
  for (size_t a = 0; a < g->n_axes; a++) {
    PUT("%s: [", g->axis[a].name);
    for (size_t k = 0; k < g->axis[a].n; k++) PUT("%s%s", k ? ", " : "", g->axis[a].values[k]);
    PUT("], ");
  }
  PUT("seeds: %zu}", g->seeds);
#undef PUT
}

int sweep_parse_shard(const char *s, size_t *i, size_t *n) {
  if (!s) return moex_error(MOEX_EINVAL, "sweep: --shard needs i/n");
  const char *slash = strchr(s, '/');
  unsigned long long a = 0, b = 0;
  char *end = NULL;
  int ok = slash && slash != s && slash[1] != '\0';
  if (ok) {
    for (const char *p = s; p < slash; p++) ok &= *p >= '0' && *p <= '9';
    for (const char *p = slash + 1; *p; p++) ok &= *p >= '0' && *p <= '9';
  }
  if (ok) {
    errno = 0;
    a = strtoull(s, &end, 10);
    ok = errno == 0 && end == slash;
    b = strtoull(slash + 1, &end, 10);
    ok &= errno == 0 && *end == '\0';
  }
  if (!ok) return moex_error(MOEX_EINVAL, "sweep: --shard '%s' is not of the form i/n (e.g. 0/4)", s);
  if (b == 0) return moex_error(MOEX_EINVAL, "sweep: --shard '%s': n must be >= 1", s);
  if (a >= b) return moex_error(MOEX_EINVAL, "sweep: --shard '%s': i must be in 0..n-1", s);
  *i = (size_t)a;
  *n = (size_t)b;
  return MOEX_OK;
}
