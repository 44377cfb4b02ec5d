/* piecewise: Eq. (4) targets on [0, E]^L and Eq. (5) targets on product manifolds. */
#include "targets/piecewise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "targets/embedding.h"
#include "core/moex_error.h"

#define PI 3.141592653589793
#define NCOS 5 /* cosine terms of a "smooth" piece */

enum { F_FIG3, F_SMOOTH, F_KAPPA, F_CONTRAST };

#define CONTRAST_MAX 64.0 /* largest knob of "contrast:K" */

struct piecewise {
  size_t E, L, pieces;
  int family, kappa, scalar;
  double contrast; /* K of "contrast:K" */
  double *c; /* per (l, i): smooth: NCOS amplitudes + NCOS phases; kappa: A, w; contrast: U */
};

static int pieces_of(size_t E, size_t L, size_t *out) {
  size_t p = 1;
  for (size_t l = 0; l < L; l++) {
    if (p > PIECEWISE_MAX_PIECES / E)
      return moex_error(MOEX_EINVAL, "piecewise: E^L = %zu^%zu pieces is too many", E, L);
    p *= E;
  }
  *out = p;
  return MOEX_OK;
}

/* "contrast:K", K a number in [0, CONTRAST_MAX]. */
static int parse_contrast(const char *f, double *out) {
  char *end;
  double k = strtod(f + 9, &end);
  if (end == f + 9 || *end || !(k >= 0 && k <= CONTRAST_MAX))
    return moex_error(MOEX_EINVAL, "piecewise: malformed family '%s' (contrast:K, K in [0, %g])", f, CONTRAST_MAX);
  *out = k;
  return MOEX_OK;
}

/* contrast:K at z of piece i (s = z - i in [0, 1]): the ramp z / (2E) all pieces share, the
 * piece's level K A (A seeded in [-1/2, 1/2]: jumps that grow with K at the joins) and a tenth of
 * a half cosine of seeded phase pi U (capped at K = 1, so that the pieces also differ in shape). */
static double contrast_piece(double K, size_t E, double z, double s, const double *q) {
  return z / (2.0 * (double)E) + K * q[1] + 0.1 * fmin(K, 1.0) * cos(PI * s + PI * q[0]);
}

piecewise *piecewise_alloc(const piecewise_config *c) {
  if (!c) {
    moex_error(MOEX_EINVAL, "piecewise: NULL configuration");
    return NULL;
  }
  if (c->E == 0 || c->L == 0) {
    moex_error(MOEX_EINVAL, "piecewise: E = %zu and L = %zu must be >= 1", c->E, c->L);
    return NULL;
  }
  int fam, kappa = 1;
  double contrast = 0;
  const char *f = c->family ? c->family : "(null)";
  if (!strcmp(f, "fig3")) {
    fam = F_FIG3;
  } else if (!strcmp(f, "smooth")) {
    fam = F_SMOOTH;
    kappa = PIECEWISE_DISCONTINUOUS;
  } else if (!strncmp(f, "kappa:", 6)) {
    char *end;
    long k = strtol(f + 6, &end, 10);
    if (end == f + 6 || *end || k < 0 || k > 12) {
      moex_error(MOEX_EINVAL, "piecewise: malformed family '%s' (kappa:K, K in 0..12)", f);
      return NULL;
    }
    fam = F_KAPPA;
    kappa = (int)k;
  } else if (!strncmp(f, "contrast:", 9)) {
    if (parse_contrast(f, &contrast)) return NULL;
    fam = F_CONTRAST;
    kappa = contrast > 0 ? PIECEWISE_DISCONTINUOUS : PIECEWISE_SMOOTH;
  } else {
    moex_error(MOEX_EINVAL, "piecewise: unknown family '%s' (fig3, smooth, kappa:K, contrast:K)", f);
    return NULL;
  }
  size_t pieces = 0;
  if (pieces_of(c->E, c->L, &pieces)) return NULL;
  piecewise *P = calloc(1, sizeof *P);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  size_t per = 2 * NCOS;
  if (P) P->c = malloc(c->E * c->L * per * sizeof *P->c);
  if (!P || !r || !P->c) {
    moex_error(MOEX_ENOMEM, "piecewise: out of memory");
    gsl_rng_free(r);
    piecewise_free(P);
    return NULL;
  }
  P->E = c->E;
  P->L = c->L;
  P->pieces = pieces;
  P->family = fam;
  P->kappa = kappa;
  P->contrast = contrast;
  P->scalar = c->scalar != 0;
  gsl_rng_set(r, c->seed);
  for (size_t l = 0; l < c->L; l++)
    for (size_t i = 0; i < c->E; i++) {
      double *q = P->c + (l * c->E + i) * per;
      if (fam == F_SMOOTH) {
        for (int k = 0; k < NCOS; k++) {
          q[k] = gsl_ran_gaussian(r, 1.0) / ((1.0 + k) * (1.0 + k));
          q[NCOS + k] = 2 * PI * gsl_rng_uniform(r);
        }
      } else if (fam == F_KAPPA) {
        /* heights grow with i by >= 1/4 per step, so the (K+1)-th derivative jump
         * 4^{K+1} (K+1)! (A_{i+1} - (-1)^{K+1} A_i) is never near zero */
        q[0] = 1 + 0.5 * (double)i + 0.25 * gsl_rng_uniform(r);
        q[1] = (double)(1 + gsl_rng_uniform_int(r, 3));
      } else if (fam == F_CONTRAST) {
        q[0] = gsl_rng_uniform(r);
        q[1] = gsl_rng_uniform(r) - 0.5;
      }
    }
  gsl_rng_free(r);
  return P;
}

void piecewise_free(piecewise *P) {
  if (!P) return;
  free(P->c);
  free(P);
}

size_t piecewise_in_dim(const piecewise *P) { return P->L; }
size_t piecewise_out_dim(const piecewise *P) { return P->scalar ? 1 : P->L; }
size_t piecewise_pieces(const piecewise *P) { return P->pieces; }
int piecewise_kappa(const piecewise *P) { return P->kappa; }

double piecewise_piece(const piecewise *P, size_t l, size_t i, double z) {
  double s = z - (double)i;
  const double *q = P->c + (l * P->E + i) * 2 * NCOS;
  switch (P->family) {
    case F_FIG3:
      return (double)(i + 1) * s * s * (s - 1) * (s - 1);
    case F_SMOOTH: {
      double v = 0;
      for (int k = 0; k < NCOS; k++) v += q[k] * cos(PI * k * s + q[NCOS + k]);
      return v;
    }
    case F_CONTRAST:
      return contrast_piece(P->contrast, P->E, z, s, q);
    default: {
      double b = 4 * s * (1 - s), p = b;
      for (int m = 0; m < P->kappa; m++) p *= b;
      return q[0] * p * (1 + 0.5 * sin(PI * q[1] * s));
    }
  }
}

static size_t cell(double z, size_t E) {
  if (!(z >= 0 && z <= (double)E)) return PIECEWISE_OUTSIDE;
  size_t i = (size_t)floor(z);
  return i >= E ? E - 1 : i; /* z = E belongs to the last cell */
}

size_t piecewise_piece_index(const piecewise *P, const double *x) {
  size_t idx = 0, mult = 1;
  for (size_t l = 0; l < P->L; l++, mult *= P->E) {
    size_t i = cell(x[l], P->E);
    if (i == PIECEWISE_OUTSIDE) return PIECEWISE_OUTSIDE;
    idx += i * mult;
  }
  return idx;
}

int piecewise_eval(const piecewise *P, const double *x, double *f) {
  if (P->scalar) f[0] = 0;
  for (size_t l = 0; l < P->L; l++) {
    size_t i = cell(x[l], P->E);
    if (i == PIECEWISE_OUTSIDE)
      return moex_error(MOEX_EINVAL, "piecewise: x[%zu] = %g outside [0, %zu]", l, x[l], P->E);
    double v = piecewise_piece(P, l, i, x[l]);
    if (P->scalar) f[0] += v;
    else f[l] = v;
  }
  return MOEX_OK;
}

static void finish(const piecewise *P, size_t j, const double *xj, double *f, size_t *idx) {
  if (f) piecewise_eval(P, xj, f + j * piecewise_out_dim(P));
  if (idx) idx[j] = piecewise_piece_index(P, xj);
}

int piecewise_sample(const piecewise *P, gsl_rng *r, size_t n, double *x, double *f, size_t *idx) {
  if (!P || !r || (n && !x)) return moex_error(MOEX_EINVAL, "piecewise_sample: NULL argument");
  for (size_t j = 0; j < n; j++) {
    double *xj = x + j * P->L;
    for (size_t l = 0; l < P->L; l++) xj[l] = (double)P->E * gsl_rng_uniform(r);
    finish(P, j, xj, f, idx);
  }
  return MOEX_OK;
}

int piecewise_grid(const piecewise *P, size_t n, double *x, double *f, size_t *idx) {
  if (!P || n == 0 || !x) return moex_error(MOEX_EINVAL, "piecewise_grid: n_per_dim = %zu", n);
  size_t N = 0;
  if (pieces_of(n, P->L, &N)) return MOEX_EINVAL;
  for (size_t j = 0; j < N; j++) {
    double *xj = x + j * P->L;
    size_t rest = j;
    for (size_t l = 0; l < P->L; l++, rest /= n)
      xj[l] = ((double)(rest % n) + 0.5) * (double)P->E / (double)n;
    finish(P, j, xj, f, idx);
  }
  return MOEX_OK;
}

/* ---- Eq. (5) ------------------------------------------------------------------------------- */

#define NG 3          /* cosine terms of g_{l,i} */
#define MAX_BASE 512  /* largest concatenated base dimension */

struct piecewise_prod {
  size_t L, E, d, D, N0, pieces;
  int scalar;
  manifold **M;
  size_t *off;   /* (L) offset of factor l in the concatenated base point */
  embedding *emb;
  double *g;     /* per (l, i): offset a, then NG x (amplitude, phase, d direction entries) */
};

static size_t gstride(size_t d) { return 1 + NG * (2 + d); }

void piecewise_prod_free(piecewise_prod *P) {
  if (!P) return;
  if (P->M)
    for (size_t l = 0; l < P->L; l++) manifold_free(P->M[l]);
  free(P->M);
  free(P->off);
  embedding_free(P->emb);
  free(P->g);
  free(P);
}

piecewise_prod *piecewise_prod_alloc(const piecewise_prod_config *c) {
  if (!c) {
    moex_error(MOEX_EINVAL, "piecewise_prod: NULL configuration");
    return NULL;
  }
  if (c->L == 0 || c->E == 0) {
    moex_error(MOEX_EINVAL, "piecewise_prod: E = %zu and L = %zu must be >= 1", c->E, c->L);
    return NULL;
  }
  if (!(c->contrast >= 0 && c->contrast <= CONTRAST_MAX)) {
    moex_error(MOEX_EINVAL, "piecewise_prod: contrast = %g must be in [0, %g]", c->contrast, CONTRAST_MAX);
    return NULL;
  }
  size_t pieces = 0;
  if (pieces_of(c->E, c->L, &pieces)) return NULL;
  piecewise_prod *P = calloc(1, sizeof *P);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!P || !r) goto oom;
  P->L = c->L;
  P->E = c->E;
  P->d = c->d;
  P->D = c->D;
  P->pieces = pieces;
  P->scalar = c->scalar != 0;
  P->M = calloc(c->L, sizeof *P->M);
  P->off = calloc(c->L, sizeof *P->off);
  P->g = malloc(c->L * c->E * gstride(c->d) * sizeof *P->g);
  if (!P->M || !P->off || !P->g) goto oom;
  for (size_t l = 0; l < c->L; l++) {
    manifold_config mc;
    manifold_config_default(&mc);
    mc.kind = c->kind;
    mc.d = c->d;
    mc.E = c->E;
    mc.D = c->kind && !strcmp(c->kind, "torus") ? 2 * c->d
           : c->kind && !strcmp(c->kind, "swissroll") ? 3 : c->d + 1;
    mc.embed = "axis"; /* each factor in its own base space; the product is embedded below */
    if (c->radius_factor > 0) mc.radius_factor = c->radius_factor;
    mc.seed = c->seed + 1000 * (l + 1);
    if (!(P->M[l] = manifold_alloc(&mc))) goto fail;
    P->off[l] = P->N0;
    P->N0 += manifold_base_dim(P->M[l]);
  }
  if (P->N0 > MAX_BASE) {
    moex_error(MOEX_EINVAL, "piecewise_prod: base dimension %zu above %d", P->N0, MAX_BASE);
    goto fail;
  }
  if (P->N0 > c->D) {
    moex_error(MOEX_EINVAL, "piecewise_prod: D = %zu is below the product's base dimension %zu",
               c->D, P->N0);
    goto fail;
  }
  if (!(P->emb = embedding_alloc(c->embed, P->N0, c->D, c->seed, 1.0, 1.0))) goto fail;
  gsl_rng_set(r, c->seed);
  size_t gs = gstride(c->d);
  for (size_t l = 0; l < c->L; l++)
    for (size_t i = 0; i < c->E; i++) {
      double *g = P->g + (l * c->E + i) * gs;
      g[0] = 0.5 * (double)(i + 1) + 0.25 * gsl_rng_uniform(r); /* distinct levels per chart */
      for (size_t k = 0; k < NG; k++) {
        double *t = g + 1 + k * (2 + c->d), nn = 0;
        t[0] = 0.5 * gsl_ran_gaussian(r, 1.0) / (double)(k + 1);
        t[1] = 2 * PI * gsl_rng_uniform(r);
        for (size_t a = 0; a < c->d; a++) {
          t[2 + a] = gsl_ran_gaussian(r, 1.0);
          nn += t[2 + a] * t[2 + a];
        }
        nn = sqrt(nn) + 1e-300;
        /* contrast > 0: piece i oscillates 1 + contrast i times faster (0: exactly the paper's) */
        double speed = 1.0 + c->contrast * (double)i;
        for (size_t a = 0; a < c->d; a++) t[2 + a] *= PI * (double)(k + 1) * speed / nn;
      }
    }
  gsl_rng_free(r);
  return P;
oom:
  moex_error(MOEX_ENOMEM, "piecewise_prod: out of memory");
fail:
  gsl_rng_free(r);
  piecewise_prod_free(P);
  return NULL;
}

size_t piecewise_prod_in_dim(const piecewise_prod *P) { return P->D; }
size_t piecewise_prod_out_dim(const piecewise_prod *P) { return P->scalar ? 1 : P->L; }
size_t piecewise_prod_pieces(const piecewise_prod *P) { return P->pieces; }
const manifold *piecewise_prod_factor(const piecewise_prod *P, size_t l) { return P->M[l]; }

double piecewise_prod_piece(const piecewise_prod *P, size_t l, size_t i, const double *yl) {
  double p[MANIFOLD_MAX_D];
  manifold_chart_map_base(P->M[l], i, yl, p);
  const double *g = P->g + (l * P->E + i) * gstride(P->d);
  double v = g[0];
  for (size_t k = 0; k < NG; k++) {
    const double *t = g + 1 + k * (2 + P->d);
    double ph = t[1];
    for (size_t a = 0; a < P->d; a++) ph += t[2 + a] * p[a];
    v += t[0] * cos(ph);
  }
  return v;
}

/* Y is the concatenated base point (N0). */
static size_t index_base(const piecewise_prod *P, const double *Y) {
  size_t idx = 0, mult = 1;
  for (size_t l = 0; l < P->L; l++, mult *= P->E)
    idx += mult * manifold_argmax_chart_base(P->M[l], Y + P->off[l]);
  return idx;
}

static void eval_base(const piecewise_prod *P, const double *Y, double *f) {
  if (P->scalar) f[0] = 0;
  for (size_t l = 0; l < P->L; l++) {
    const double *yl = Y + P->off[l];
    double v = piecewise_prod_piece(P, l, manifold_argmax_chart_base(P->M[l], yl), yl);
    if (P->scalar) f[0] += v;
    else f[l] = v;
  }
}

size_t piecewise_prod_piece_index(const piecewise_prod *P, const double *x) {
  double Y[MAX_BASE];
  embedding_base(P->emb, x, Y);
  return index_base(P, Y);
}

int piecewise_prod_eval(const piecewise_prod *P, const double *x, double *f) {
  double Y[MAX_BASE];
  embedding_base(P->emb, x, Y);
  eval_base(P, Y, f);
  return MOEX_OK;
}

double piecewise_prod_residual(const piecewise_prod *P, const double *x) {
  double Y[MAX_BASE];
  embedding_base(P->emb, x, Y);
  double res = embedding_tail_residual(P->emb, x, Y);
  for (size_t l = 0; l < P->L; l++) res = fmax(res, manifold_base_residual(P->M[l], Y + P->off[l]));
  return res;
}

int piecewise_prod_sample(const piecewise_prod *P, gsl_rng *r, size_t n, double *x, double *f,
                          size_t *idx) {
  double Y[MAX_BASE];
  if (!P || !r || (n && !x)) return moex_error(MOEX_EINVAL, "piecewise_prod_sample: NULL argument");
  for (size_t j = 0; j < n; j++) {
    for (size_t l = 0; l < P->L; l++) manifold_sample(P->M[l], r, 1, NULL, NULL, Y + P->off[l]);
    embedding_apply(P->emb, Y, x + j * P->D);
    if (f) eval_base(P, Y, f + j * piecewise_prod_out_dim(P));
    if (idx) idx[j] = index_base(P, Y);
  }
  return MOEX_OK;
}
