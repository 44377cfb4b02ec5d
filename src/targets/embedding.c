/* embedding: axis / rotated / curved maps from a base space R^n0 into R^D. */
#include "targets/embedding.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "core/moex_error.h"

int embedding_kind_from_name(const char *name) {
  if (!name) return -1;
  if (!strcmp(name, "axis")) return EMBEDDING_AXIS;
  if (!strcmp(name, "rotated")) return EMBEDDING_ROTATED;
  if (!strcmp(name, "curved")) return EMBEDDING_CURVED;
  return -1;
}

void embedding_free(embedding *e) {
  if (!e) return;
  free(e->Qt);
  free(e->W);
  free(e->b);
  free(e);
}

/* Haar orthogonal Q: QR of a Gaussian matrix, columns signed so that diag(R) > 0 (without the
 * sign fix the distribution is not Haar). Writes Q^T into Qt (D, D). */
static int random_orthogonal(gsl_rng *r, size_t D, double *Qt) {
  gsl_matrix *A = gsl_matrix_alloc(D, D), *Q = gsl_matrix_alloc(D, D), *R = gsl_matrix_alloc(D, D);
  gsl_vector *tau = gsl_vector_alloc(D);
  int rc = MOEX_OK;
  if (!A || !Q || !R || !tau) {
    rc = moex_error(MOEX_ENOMEM, "embedding: cannot allocate a %zu x %zu rotation", D, D);
    goto out;
  }
  for (size_t i = 0; i < D; i++)
    for (size_t j = 0; j < D; j++) gsl_matrix_set(A, i, j, gsl_ran_gaussian(r, 1.0));
  gsl_linalg_QR_decomp(A, tau);
  gsl_linalg_QR_unpack(A, tau, Q, R);
  for (size_t j = 0; j < D; j++) {
    double s = gsl_matrix_get(R, j, j) < 0 ? -1.0 : 1.0;
    for (size_t i = 0; i < D; i++) Qt[j * D + i] = s * gsl_matrix_get(Q, i, j);
  }
out:
  gsl_matrix_free(A);
  gsl_matrix_free(Q);
  gsl_matrix_free(R);
  gsl_vector_free(tau);
  return rc;
}

embedding *embedding_alloc(const char *kind, size_t n0, size_t D, unsigned long seed,
                           double scale, double amp) {
  int k = embedding_kind_from_name(kind);
  if (k < 0) {
    moex_error(MOEX_EINVAL, "embedding: unknown kind '%s' (axis, rotated, curved)",
               kind ? kind : "(null)");
    return NULL;
  }
  if (n0 == 0 || n0 > D) {
    moex_error(MOEX_EINVAL, "embedding: base dimension %zu must be in [1, D = %zu]", n0, D);
    return NULL;
  }
  if (!(scale > 0) || !(amp >= 0) || !isfinite(amp) || !isfinite(scale)) {
    moex_error(MOEX_EINVAL, "embedding: scale = %g must be > 0 and amp = %g >= 0", scale, amp);
    return NULL;
  }
  embedding *e = calloc(1, sizeof *e);
  if (!e) {
    moex_error(MOEX_ENOMEM, "embedding: out of memory");
    return NULL;
  }
  e->kind = k;
  e->n0 = n0;
  e->D = D;
  if (k == EMBEDDING_AXIS) return e;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  e->Qt = malloc(D * D * sizeof *e->Qt);
  size_t nt = D - n0;
  if (k == EMBEDDING_CURVED && nt > 0) {
    e->W = malloc(nt * n0 * sizeof *e->W);
    e->b = malloc(nt * sizeof *e->b);
  }
  if (!r || !e->Qt || (k == EMBEDDING_CURVED && nt > 0 && (!e->W || !e->b))) {
    moex_error(MOEX_ENOMEM, "embedding: out of memory for D = %zu", D);
    goto fail;
  }
  gsl_rng_set(r, seed);
  if (random_orthogonal(r, D, e->Qt)) goto fail;
  if (k == EMBEDDING_CURVED && nt > 0) {
    e->a = amp / sqrt((double)nt);
    for (size_t j = 0; j < nt; j++) {
      for (size_t i = 0; i < n0; i++) e->W[j * n0 + i] = gsl_ran_gaussian(r, 1.0) / scale;
      e->b[j] = 6.283185307179586 * gsl_rng_uniform(r);
    }
  }
  gsl_rng_free(r);
  return e;
fail:
  gsl_rng_free(r);
  embedding_free(e);
  return NULL;
}

static double phi(const embedding *e, size_t j, const double *y) {
  const double *w = e->W + j * e->n0;
  double s = e->b[j];
  for (size_t i = 0; i < e->n0; i++) s += w[i] * y[i];
  return e->a * sin(s);
}

void embedding_apply(const embedding *e, const double *y, double *x) {
  size_t D = e->D, n0 = e->n0;
  if (e->kind == EMBEDDING_AXIS) {
    memcpy(x, y, n0 * sizeof *x);
    memset(x + n0, 0, (D - n0) * sizeof *x);
    return;
  }
  /* x = sum_j z_j Q[:, j], with Q[:, j] = row j of Qt; the tail z_j is zero unless curved. */
  memset(x, 0, D * sizeof *x);
  size_t nj = e->kind == EMBEDDING_CURVED ? D : n0;
  for (size_t j = 0; j < nj; j++) {
    double z = j < n0 ? y[j] : phi(e, j - n0, y);
    const double *q = e->Qt + j * D;
    for (size_t i = 0; i < D; i++) x[i] += z * q[i];
  }
}

void embedding_base(const embedding *e, const double *x, double *y) {
  size_t D = e->D;
  if (e->kind == EMBEDDING_AXIS) {
    memcpy(y, x, e->n0 * sizeof *y);
    return;
  }
  for (size_t j = 0; j < e->n0; j++) {
    const double *q = e->Qt + j * D;
    double s = 0;
    for (size_t i = 0; i < D; i++) s += q[i] * x[i];
    y[j] = s;
  }
}

double embedding_tail_residual(const embedding *e, const double *x, const double *y) {
  size_t D = e->D, n0 = e->n0;
  double res = 0;
  for (size_t j = n0; j < D; j++) {
    double z;
    if (e->kind == EMBEDDING_AXIS) {
      z = x[j];
    } else {
      const double *q = e->Qt + j * D;
      z = 0;
      for (size_t i = 0; i < D; i++) z += q[i] * x[i];
    }
    if (e->kind == EMBEDDING_CURVED) z -= phi(e, j - n0, y);
    if (fabs(z) > res) res = fabs(z);
  }
  return res;
}
