/* manifold: the generic part — kinds by name, sampling and grids, the embedding, farthest-point
 * centres, the atlas and its partition of unity. Each kind's own operations are in its
 * manifold_<kind>.c (see manifold_type in manifold.h); the constructions and their justification
 * are in theorems/targets.md. */
#include "targets/manifold.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "targets/embedding.h"
#include "targets/manifold_layout.h"
#include "core/moex_error.h"

/* ---- the kinds ---------------------------------------------------------------------------- */

static const manifold_type *const *const known[] = {&manifold_circle, &manifold_sphere,
                                                    &manifold_torus, &manifold_swissroll,
                                                    &manifold_union};
#define N_KNOWN (sizeof known / sizeof known[0])
static const manifold_type *list[N_KNOWN + 1];
static pthread_once_t list_once = PTHREAD_ONCE_INIT;

/* The kinds' pointers are values in other objects, not constant expressions here: the list is
 * filled once, on first use, from any thread. */
static void list_fill(void) {
  for (size_t i = 0; i < N_KNOWN; i++) list[i] = *known[i];
}

const manifold_type *const *manifold_types(void) {
  pthread_once(&list_once, list_fill);
  return list;
}

const manifold_type *manifold_type_find(const char *name) {
  const manifold_type *const *t = manifold_types();
  char known_names[256] = "";
  size_t len = 0;
  for (size_t i = 0; t[i]; i++) {
    if (name && strcmp(name, t[i]->name) == 0) return t[i];
    int w = snprintf(known_names + len, sizeof known_names - len, "%s%s", i ? ", " : "",
                     t[i]->name);
    if (w > 0 && (size_t)w < sizeof known_names - len) len += (size_t)w;
  }
  moex_error(MOEX_EINVAL, "manifold: unknown kind '%s' (%s)", name ? name : "(null)", known_names);
  return NULL;
}

void manifold_config_default(manifold_config *c) {
  memset(c, 0, sizeof *c);
  c->kind = "circle";
  c->d = 1;
  c->D = 16;
  c->embed = "axis";
  c->E = 4;
  c->radius_factor = 1.25;
  c->curve_amp = 1.0;
  c->seed = 1;
}

const manifold_type *manifold_type_of(const manifold *M) { return M->type; }
size_t manifold_dim(const manifold *M) { return M->d; }
size_t manifold_ambient(const manifold *M) { return M->D; }
size_t manifold_base_dim(const manifold *M) { return M->n0; }
size_t manifold_u_dim(const manifold *M) { return M->du; }
size_t manifold_charts(const manifold *M) { return M->E; }
size_t manifold_z_dim(const manifold *M) { return M->nz; }
double manifold_chart_radius(const manifold *M) { return M->r; }
double manifold_cover_radius(const manifold *M) { return M->cover; }
const double *manifold_centres_z(const manifold *M) { return M->cz; }
void manifold_centre(const manifold *M, size_t i, double *y) {
  memcpy(y, M->cy + i * M->n0, M->n0 * sizeof *y);
}

void manifold_base_from_u(const manifold *M, const double *u, double *y) {
  M->type->base_from_u(M, u, y);
}

void manifold_zcoords(const manifold *M, const double *y, double *z) { M->type->zcoords(M, y, z); }

void manifold_embed(const manifold *M, const double *y, double *x) { embedding_apply(M->emb, y, x); }
void manifold_base(const manifold *M, const double *x, double *y) { embedding_base(M->emb, x, y); }

double manifold_base_residual(const manifold *M, const double *y) {
  return M->type->base_residual(M, y);
}

double manifold_residual(const manifold *M, const double *x) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  return fmax(manifold_base_residual(M, y), embedding_tail_residual(M->emb, x, y));
}

double manifold_level(const manifold *M, const double *y) { return M->type->level(M, y); }

/* ---- sampling ------------------------------------------------------------------------------ */

static void emit(const manifold *M, const double *y, size_t j, double *x, double *u, double *yo) {
  if (x) embedding_apply(M->emb, y, x + j * M->D);
  if (u) M->type->u_from_base(M, y, u + j * M->du);
  if (yo) memcpy(yo + j * M->n0, y, M->n0 * sizeof *y);
}

int manifold_sample(const manifold *M, gsl_rng *r, size_t n, double *x, double *u, double *y) {
  if (!M || !r) return moex_error(MOEX_EINVAL, "manifold_sample: NULL manifold or rng");
  double yb[2 * MANIFOLD_MAX_D];
  for (size_t j = 0; j < n; j++) {
    M->type->sample(M, r, yb);
    emit(M, yb, j, x, u, y);
  }
  return MOEX_OK;
}

size_t manifold_grid_size(const manifold *M, size_t n) { return M->d == 1 ? n : n * n; }

int manifold_grid(const manifold *M, size_t n, double *x, double *u, double *y) {
  if (!M || n == 0) return moex_error(MOEX_EINVAL, "manifold_grid: n_per_dim = %zu must be >= 1", n);
  size_t N = manifold_grid_size(M, n);
  double yb[2 * MANIFOLD_MAX_D];
  if (M->d >= 3) { /* no regular grid: a large seeded sample */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return moex_error(MOEX_ENOMEM, "manifold_grid: out of memory");
    gsl_rng_set(r, M->seed + 7919);
    int rc = manifold_sample(M, r, N, x, u, y);
    gsl_rng_free(r);
    return rc;
  }
  for (size_t j = 0; j < N; j++) {
    M->type->grid_point(M, n, N, j, yb);
    emit(M, yb, j, x, u, y);
  }
  return MOEX_OK;
}

/* ---- atlas --------------------------------------------------------------------------------- */

double manifold_chart_dist_base(const manifold *M, size_t i, const double *y) {
  double z[2 * MANIFOLD_MAX_D], s = 0;
  manifold_zcoords(M, y, z);
  const double *c = M->cz + i * M->nz;
  for (size_t k = 0; k < M->nz; k++) s += (z[k] - c[k]) * (z[k] - c[k]);
  return sqrt(s);
}

int manifold_in_chart_base(const manifold *M, size_t i, const double *y) {
  return manifold_chart_dist_base(M, i, y) < M->r;
}

static double bump(double dist, double r) {
  double q = dist / r;
  return q < 1 ? exp(-1 / (1 - q * q)) : 0.0;
}

void manifold_pou_base(const manifold *M, const double *y, double *rho) {
  double s = 0;
  for (size_t i = 0; i < M->E; i++) s += rho[i] = bump(manifold_chart_dist_base(M, i, y), M->r);
  /* s == 0 only off the manifold (outside every chart): rho is then all zero */
  if (s > 0)
    for (size_t i = 0; i < M->E; i++) rho[i] /= s;
}

size_t manifold_argmax_chart_base(const manifold *M, const double *y) {
  size_t best = 0;
  double bd = INFINITY;
  for (size_t i = 0; i < M->E; i++) { /* rho_i is decreasing in dist_i: argmax rho = argmin dist */
    double di = manifold_chart_dist_base(M, i, y);
    if (di < bd) bd = di, best = i;
  }
  return best;
}

void manifold_chart_map_base(const manifold *M, size_t i, const double *y, double *p) {
  size_t n0 = M->n0, d = M->d;
  const double *c = M->cy + i * n0, *T = M->T + i * n0 * d;
  for (size_t k = 0; k < d; k++) {
    double s = 0;
    for (size_t j = 0; j < n0; j++) s += T[j * d + k] * (y[j] - c[j]);
    p[k] = 0.5 + s / (2 * M->r);
  }
}

int manifold_chart_inverse_base(const manifold *M, size_t i, const double *p, double *y) {
  double q[MANIFOLD_MAX_D], qq = 0;
  for (size_t k = 0; k < M->d; k++) {
    if (!(p[k] >= 0 && p[k] <= 1))
      return moex_error(MOEX_EINVAL, "manifold: chart coordinate p[%zu] = %g not in [0,1]", k, p[k]);
    q[k] = (p[k] - 0.5) * 2 * M->r;
    qq += q[k] * q[k];
  }
  if (M->type->chart_inverse(M, i, q, qq, y) && manifold_in_chart_base(M, i, y)) return MOEX_OK;
  return moex_error(MOEX_EINVAL, "manifold: chart point p = (%g, ...) is not the image of a "
                    "point of chart %zu", p[0], i);
}

/* Ambient versions: through the embedding's linear left inverse. */
int manifold_in_chart(const manifold *M, size_t i, const double *x) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  return manifold_in_chart_base(M, i, y);
}
void manifold_pou(const manifold *M, const double *x, double *rho) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  manifold_pou_base(M, y, rho);
}
size_t manifold_argmax_chart(const manifold *M, const double *x) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  return manifold_argmax_chart_base(M, y);
}
void manifold_chart_map(const manifold *M, size_t i, const double *x, double *p) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  manifold_chart_map_base(M, i, y, p);
}
int manifold_chart_inverse(const manifold *M, size_t i, const double *p, double *x) {
  double y[2 * MANIFOLD_MAX_D];
  int rc = manifold_chart_inverse_base(M, i, p, y);
  if (rc == MOEX_OK) embedding_apply(M->emb, y, x);
  return rc;
}

/* ---- construction -------------------------------------------------------------------------- */

static double zdist2(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
  return s;
}

/* The configuration checked before anything is allocated (one message naming the bad value):
 * its kind's type, and the kind's base, chart and distance dimensions in *n0, *du, *nz. */
static const manifold_type *config_check(const manifold_config *c, size_t *n0, size_t *du, size_t *nz) {
  if (!c) {
    moex_error(MOEX_EINVAL, "manifold: NULL configuration");
    return NULL;
  }
  const manifold_type *type = manifold_type_find(c->kind);
  if (!type) return NULL; /* message already set */
  size_t d = c->d;
  if (d == 0 || d > MANIFOLD_MAX_D) {
    moex_error(MOEX_EINVAL, "manifold: d = %zu must be in [1, %d]", d, MANIFOLD_MAX_D);
    return NULL;
  }
  if (type->d_only && d != type->d_only) {
    moex_error(MOEX_EINVAL, "manifold: %s needs d = %zu, not %zu", type->name, type->d_only, d);
    return NULL;
  }
  if (d >= c->D) {
    moex_error(MOEX_EINVAL, "manifold: d = %zu must be < D = %zu", d, c->D);
    return NULL;
  }
  type->dims(d, n0, du, nz);
  if (*n0 > c->D) {
    moex_error(MOEX_EINVAL, "manifold: %s with d = %zu needs D >= %zu, got D = %zu", type->name, d,
               *n0, c->D);
    return NULL;
  }
  if (c->E == 0) {
    moex_error(MOEX_EINVAL, "manifold: E = %zu must be >= 1", c->E);
    return NULL;
  }
  if (!(c->radius_factor > 0) || !(c->chart_radius >= 0)) {
    moex_error(MOEX_EINVAL, "manifold: radius_factor = %g must be > 0, chart_radius = %g >= 0",
               c->radius_factor, c->chart_radius);
    return NULL;
  }
  int ek = embedding_kind_from_name(c->embed);
  if (ek < 0) {
    moex_error(MOEX_EINVAL, "manifold: unknown embedding '%s' (axis, rotated, curved)",
               c->embed ? c->embed : "(null)");
    return NULL;
  }
  return type;
}

manifold *manifold_alloc(const manifold_config *c) {
  size_t n0, du, nz;
  const manifold_type *type = config_check(c, &n0, &du, &nz);
  if (!type) return NULL;
  size_t d = c->d;
  manifold *M = calloc(1, sizeof *M);
  double *chk = NULL, *mind = NULL;
  if (!M) goto oom;
  M->type = type;
  M->d = d;
  M->D = c->D;
  M->n0 = n0;
  M->du = du;
  M->nz = nz;
  M->E = c->E;
  M->seed = c->seed;
  if (type->size) {
    M->state = calloc(1, type->size);
    if (!M->state) goto oom;
    type->set(M->state);
  }
  M->emb = embedding_alloc(c->embed, n0, c->D, c->seed, type->scale, c->curve_amp);
  if (!M->emb) goto fail; /* message already set */
  M->cy = malloc(M->E * n0 * sizeof *M->cy);
  M->cz = malloc(M->E * M->nz * sizeof *M->cz);
  M->T = malloc(M->E * n0 * d * sizeof *M->T);
  if (!M->cy || !M->cz || !M->T) goto oom;

  /* The check set: where the cover is measured and verified, and where farthest-point centres
   * are picked. */
  size_t nper = d == 1 ? 4096 : d == 2 ? 160 : 150;
  size_t N = manifold_grid_size(M, nper);
  chk = malloc(N * n0 * sizeof *chk);
  mind = malloc(N * sizeof *mind);
  if (!chk || !mind) goto oom;
  if (manifold_grid(M, nper, NULL, NULL, chk)) goto fail;
  double *zc = malloc(N * M->nz * sizeof *zc);
  if (!zc) goto oom;
  for (size_t j = 0; j < N; j++) {
    manifold_zcoords(M, chk + j * n0, zc + j * M->nz);
    mind[j] = INFINITY;
  }
  int placed = type->place_centres ? type->place_centres(M) : 0;
  size_t next = 0; /* farthest-point sampling starts at check point 0 */
  for (size_t i = 0; i < M->E; i++) {
    if (placed) {
      manifold_zcoords(M, M->cy + i * n0, M->cz + i * M->nz);
    } else {
      memcpy(M->cy + i * n0, chk + next * n0, n0 * sizeof(double));
      memcpy(M->cz + i * M->nz, zc + next * M->nz, M->nz * sizeof(double));
    }
    double far = -1;
    for (size_t j = 0; j < N; j++) {
      double q = zdist2(zc + j * M->nz, M->cz + i * M->nz, M->nz);
      if (q < mind[j]) mind[j] = q;
      if (mind[j] > far) far = mind[j], next = j;
    }
    M->cover = sqrt(far);
  }
  free(zc);
  for (size_t i = 0; i < M->E; i++) {
    double *Ti = M->T + i * n0 * d;
    memset(Ti, 0, n0 * d * sizeof *Ti);
    type->tangent(M, i, Ti);
  }
  M->r = c->chart_radius > 0 ? c->chart_radius : c->radius_factor * M->cover;
  if (type->injective(M)) goto fail; /* message already set */
  if (M->cover >= M->r) {
    moex_error(MOEX_EINVAL, "manifold: atlas cannot cover: a point lies %g from every centre, "
               "chart radius %g", M->cover, M->r);
    goto fail;
  }
  free(chk);
  free(mind);
  return M;
oom:
  moex_error(MOEX_ENOMEM, "manifold: out of memory");
fail:
  free(chk);
  free(mind);
  manifold_free(M);
  return NULL;
}

void manifold_free(manifold *M) {
  if (!M) return;
  embedding_free(M->emb);
  free(M->state);
  free(M->cy);
  free(M->cz);
  free(M->T);
  free(M);
}
