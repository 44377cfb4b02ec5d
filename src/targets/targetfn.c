/* targetfn: Experiment I, random Fourier, prescribed-kappa and chart-wise targets. */
#include "targets/targetfn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "core/moex_error.h"

enum { T_EXP1, T_FOURIER, T_KAPPA, T_CHARTWISE };

struct targetfn {
  const manifold *M;
  int type, kappa;
  char name[64];
  size_t nz, terms;
  double *w;   /* (terms, nz) frequencies */
  double *a;   /* (terms, 2) cos and sin amplitudes */
  double *amp; /* chartwise: (E) bump heights, already divided by their value at the centre */
};

void targetfn_free(targetfn *f) {
  if (!f) return;
  free(f->w);
  free(f->a);
  free(f->amp);
  free(f);
}

const char *targetfn_name(const targetfn *f) { return f->name; }
int targetfn_kappa(const targetfn *f) { return f->kappa; }

/* Parses "K" (0..12) after a "name:" prefix. */
static int parse_kappa(const char *s, int *k) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < 0 || v > 12) return -1;
  *k = (int)v;
  return 0;
}

/* Parses "decay=s,terms=K" in any order, either optional. */
static int parse_fourier(const char *s, double *decay, size_t *terms) {
  while (*s) {
    char *end;
    if (!strncmp(s, "decay=", 6)) {
      *decay = strtod(s + 6, &end);
      if (end == s + 6 || !(*decay >= 0) || *decay > 20) return -1;
    } else if (!strncmp(s, "terms=", 6)) {
      long v = strtol(s + 6, &end, 10);
      if (end == s + 6 || v < 1 || v > 1000) return -1;
      *terms = (size_t)v;
    } else {
      return -1;
    }
    s = end;
    if (*s == ',') s++;
    else if (*s) return -1;
  }
  return 0;
}

/* Seeded Fourier series: frequency k (k = 1..terms) in a uniform random direction, length
 * k / L (L the base's length scale), cos and sin amplitudes N(0,1) k^{-decay}, normalised so
 * the amplitudes have unit root-sum-square. */
static int make_fourier(targetfn *f, gsl_rng *r, double decay, size_t terms) {
  size_t nz = f->nz;
  f->terms = terms;
  f->w = malloc(terms * nz * sizeof *f->w);
  f->a = malloc(terms * 2 * sizeof *f->a);
  if (!f->w || !f->a) return moex_error(MOEX_ENOMEM, "targetfn: out of memory");
  double L = manifold_type_of(f->M)->scale, ss = 0;
  for (size_t k = 0; k < terms; k++) {
    double *w = f->w + k * nz, n = 0;
    do {
      n = 0;
      for (size_t i = 0; i < nz; i++) {
        w[i] = gsl_ran_gaussian(r, 1.0);
        n += w[i] * w[i];
      }
    } while (n < 1e-20);
    n = sqrt(n);
    for (size_t i = 0; i < nz; i++) w[i] *= (double)(k + 1) / (L * n);
    for (int c = 0; c < 2; c++) {
      f->a[2 * k + c] = gsl_ran_gaussian(r, 1.0) * pow((double)(k + 1), -decay);
      ss += f->a[2 * k + c] * f->a[2 * k + c];
    }
  }
  for (size_t k = 0; k < 2 * terms; k++) f->a[k] /= sqrt(ss);
  return MOEX_OK;
}

static double fourier(const targetfn *f, const double *z) {
  double s = 0;
  for (size_t k = 0; k < f->terms; k++) {
    const double *w = f->w + k * f->nz;
    double ph = 0;
    for (size_t i = 0; i < f->nz; i++) ph += w[i] * z[i];
    s += f->a[2 * k] * cos(ph) + f->a[2 * k + 1] * sin(ph);
  }
  return s;
}

targetfn *targetfn_alloc(const manifold *M, const char *spec, unsigned long seed) {
  if (!M || !spec) {
    moex_error(MOEX_EINVAL, "targetfn: NULL manifold or spec");
    return NULL;
  }
  int type, kappa = TARGETFN_SMOOTH;
  double decay = 2;
  size_t terms = 12;
  if (!strcmp(spec, "exp1")) {
    type = T_EXP1;
  } else if (!strcmp(spec, "fourier") || !strncmp(spec, "fourier:", 8)) {
    type = T_FOURIER;
    if (spec[7] && parse_fourier(spec + 8, &decay, &terms)) goto bad;
  } else if (!strncmp(spec, "kappa:", 6)) {
    type = T_KAPPA;
    if (parse_kappa(spec + 6, &kappa)) goto bad;
  } else if (!strncmp(spec, "chartwise:", 10)) {
    type = T_CHARTWISE;
    if (parse_kappa(spec + 10, &kappa)) goto bad;
  } else {
    moex_error(MOEX_EINVAL, "targetfn: unknown target '%s' (exp1, fourier[:decay=s,terms=K], "
               "kappa:K, chartwise:K)", spec);
    return NULL;
  }
  if (strlen(spec) >= 64) goto bad;
  targetfn *f = calloc(1, sizeof *f);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!f || !r) {
    free(f);
    gsl_rng_free(r);
    moex_error(MOEX_ENOMEM, "targetfn: out of memory");
    return NULL;
  }
  gsl_rng_set(r, seed);
  f->M = M;
  f->type = type;
  f->kappa = kappa;
  f->nz = manifold_z_dim(M);
  snprintf(f->name, sizeof f->name, "%s", spec);
  int rc = MOEX_OK;
  if (type == T_FOURIER) rc = make_fourier(f, r, decay, terms);
  if (type == T_KAPPA || type == T_CHARTWISE) rc = make_fourier(f, r, 2.0, 6); /* smooth part */
  if (!rc && type == T_CHARTWISE) {
    size_t E = manifold_charts(M), nz = f->nz;
    const double *cz = manifold_centres_z(M);
    f->amp = malloc(E * sizeof *f->amp);
    if (!f->amp) rc = moex_error(MOEX_ENOMEM, "targetfn: out of memory");
    for (size_t i = 0; !rc && i < E; i++) {
      /* height in [0.5, 1.5] with a random sign, divided by the bump's value at the centre
       * (kept as a log to survive many charts) */
      double h = (0.5 + gsl_rng_uniform(r)) * (gsl_rng_uniform(r) < 0.5 ? -1 : 1), lg = 0;
      for (size_t k = 0; k < E; k++) {
        if (k == i) continue;
        double q = 0;
        for (size_t j = 0; j < nz; j++) q += (cz[i * nz + j] - cz[k * nz + j]) * (cz[i * nz + j] - cz[k * nz + j]);
        lg += (double)(kappa + 1) * log(q);
      }
      f->amp[i] = copysign(exp(log(fabs(h)) - lg), h);
    }
    /* a union's cells are its components: the bumps never meet, the target stays C^inf */
    if (manifold_type_of(M) == manifold_union) f->kappa = TARGETFN_SMOOTH;
  }
  gsl_rng_free(r);
  if (rc) {
    targetfn_free(f);
    return NULL;
  }
  return f;
bad:
  moex_error(MOEX_EINVAL, "targetfn: malformed target '%s'", spec);
  return NULL;
}

/* sum over the cell of the nearest centre i of amp_i prod_{k != i} l_ik^{K+1}, with
 * l_ik = |z - c_k|^2 - |z - c_i|^2 >= 0 on cell i and 0 on the face shared with cell k. */
static double zdist2(const double *a, const double *b, size_t n) {
  double q = 0;
  for (size_t j = 0; j < n; j++) q += (a[j] - b[j]) * (a[j] - b[j]);
  return q;
}

static double cell_bump(const targetfn *f, const double *z) {
  const manifold *M = f->M;
  size_t E = manifold_charts(M), nz = f->nz, i = 0;
  const double *cz = manifold_centres_z(M);
  double dmin = INFINITY;
  for (size_t k = 0; k < E; k++) {
    double q = zdist2(z, cz + k * nz, nz);
    if (q < dmin) dmin = q, i = k;
  }
  double p = f->amp[i];
  for (size_t k = 0; k < E; k++) {
    if (k == i) continue;
    double l = zdist2(z, cz + k * nz, nz) - dmin, t = l;
    for (int m = 0; m < f->kappa; m++) t *= l;
    p *= t;
  }
  return p;
}

double targetfn_eval_base(const targetfn *f, const double *y) {
  if (f->type == T_EXP1) return sin(5 * y[0]) + cos(3 * y[1]);
  double z[2 * MANIFOLD_MAX_D];
  manifold_zcoords(f->M, y, z);
  double s = fourier(f, z);
  if (f->type == T_KAPPA) {
    double t = manifold_level(f->M, y), p = fabs(t); /* t^K |t|: C^K, (K+1)-th jumps */
    for (int m = 0; m < f->kappa; m++) p *= t;
    s += p;
  } else if (f->type == T_CHARTWISE) {
    s += cell_bump(f, z);
  }
  return s;
}

double targetfn_eval(const targetfn *f, const double *x) {
  double y[2 * MANIFOLD_MAX_D];
  manifold_base(f->M, x, y);
  return targetfn_eval_base(f, y);
}

int targetfn_eval_batch(const targetfn *f, size_t n, const double *x, double *out) {
  if (!f || (n && (!x || !out))) return moex_error(MOEX_EINVAL, "targetfn_eval_batch: NULL argument");
  size_t D = manifold_ambient(f->M);
  for (size_t j = 0; j < n; j++) out[j] = targetfn_eval(f, x + j * D);
  return MOEX_OK;
}
