/* construct: hand-built ReLU networks (see construct.h). */
#include "construct/construct.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "core/moex_gsl.h"

construct_net2_t *construct_net2_alloc(size_t n_in, size_t n_out, size_t width) {
  if (!n_in || !n_out || !width) {
    moex_error(MOEX_EINVAL, "construct: net shape (%zu in, %zu out, width %zu) must be >= 1", n_in, n_out, width);
    return NULL;
  }
  construct_net2_t *net = calloc(1, sizeof *net);
  if (!net) goto oom;
  net->n_in = n_in;
  net->n_out = n_out;
  net->width = width;
  net->W1 = calloc(width * n_in, sizeof(double));
  net->b1 = calloc(width, sizeof(double));
  net->W2 = calloc(n_out * width, sizeof(double));
  net->b2 = calloc(n_out, sizeof(double));
  if (net->W1 && net->b1 && net->W2 && net->b2) return net;
oom:
  construct_net2_free(net);
  moex_error(MOEX_ENOMEM, "construct: out of memory for a net of width %zu", width);
  return NULL;
}

void construct_net2_free(construct_net2_t *net) {
  if (!net) return;
  free(net->W1); free(net->b1); free(net->W2); free(net->b2);
  free(net);
}

void construct_net2_eval(const construct_net2_t *net, size_t n, const double *x, double *y) {
  size_t I = net->n_in, O = net->n_out;
  for (size_t s = 0; s < n; s++) {
    const double *xs = x + s * I;
    double *ys = y + s * O;
    for (size_t o = 0; o < O; o++) ys[o] = net->b2[o];
    for (size_t k = 0; k < net->width; k++) {
      double a = net->b1[k];
      for (size_t j = 0; j < I; j++) a += net->W1[k * I + j] * xs[j];
      if (a <= 0) continue;
      for (size_t o = 0; o < O; o++) ys[o] += net->W2[o * net->width + k] * a;
    }
  }
}

double construct_sup_err(const construct_net2_t *net, size_t n, const double *x, const double *y,
                         double *work) {
  construct_net2_eval(net, n, x, work);
  double sup = 0;
  for (size_t i = 0; i < n * net->n_out; i++) {
    double e = fabs(work[i] - y[i]);
    if (!(e <= sup)) sup = e; /* NaN propagates */
  }
  return sup;
}

construct_net2_t *construct_pl1d(size_t n, const double *z, size_t n_out, const double *v) {
  if (n < 2 || !z || !v) {
    moex_error(MOEX_EINVAL, "construct: interpolant needs n = %zu >= 2 knots", n);
    return NULL;
  }
  for (size_t k = 0; k + 1 < n; k++)
    if (!(z[k + 1] > z[k])) {
      moex_error(MOEX_EINVAL, "construct: knots must increase strictly (z[%zu] = %g, z[%zu] = %g)", k, z[k], k + 1, z[k + 1]);
      return NULL;
    }
  construct_net2_t *net = construct_net2_alloc(1, n_out, n - 1);
  if (!net) return NULL;
  for (size_t k = 0; k + 1 < n; k++) {
    net->W1[k] = 1;
    net->b1[k] = -z[k];
  }
  for (size_t o = 0; o < n_out; o++) {
    double prev = 0;
    for (size_t k = 0; k + 1 < n; k++) {
      double s = (v[(k + 1) * n_out + o] - v[k * n_out + o]) / (z[k + 1] - z[k]);
      net->W2[o * (n - 1) + k] = s - prev;
      prev = s;
    }
    net->b2[o] = v[o];
  }
  return net;
}

construct_net2_t *construct_affine(size_t n_in, size_t n_out, const double *A, const double *a) {
  if (!A) {
    moex_error(MOEX_EINVAL, "construct: affine map needs a matrix");
    return NULL;
  }
  construct_net2_t *net = construct_net2_alloc(n_in, n_out, 2 * n_out);
  if (!net) return NULL;
  for (size_t o = 0; o < n_out; o++) {
    for (size_t j = 0; j < n_in; j++) {
      net->W1[(2 * o) * n_in + j] = A[o * n_in + j];
      net->W1[(2 * o + 1) * n_in + j] = -A[o * n_in + j];
    }
    net->b1[2 * o] = a ? a[o] : 0;
    net->b1[2 * o + 1] = a ? -a[o] : 0;
    net->W2[o * net->width + 2 * o] = 1;
    net->W2[o * net->width + 2 * o + 1] = -1;
  }
  return net;
}

construct_net2_t *construct_rf_fit(size_t n_in, size_t n_out, size_t width, size_t n,
                                   const double *x, const double *y, unsigned long seed,
                                   double *fit_sup) {
  if (!x || !y || n < 2) {
    moex_error(MOEX_EINVAL, "construct: least squares needs n = %zu >= 2 samples", n);
    return NULL;
  }
  construct_net2_t *net = construct_net2_alloc(n_in, n_out, width);
  if (!net) return NULL;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  size_t p = width + 1;
  gsl_matrix *X = gsl_matrix_alloc(n, p);
  gsl_vector *yc = gsl_vector_alloc(n), *c = gsl_vector_alloc(p);
  gsl_multifit_linear_workspace *mfw = n >= p ? gsl_multifit_linear_alloc(n, p) : NULL;
  double *work = malloc(n * n_out * sizeof *work);
  int rc = MOEX_OK;
  if (n < p) {
    rc = moex_error(MOEX_EINVAL, "construct: least squares needs n = %zu >= width + 1 = %zu samples", n, p);
    goto done;
  }
  if (!r || !X || !yc || !c || !mfw || !work) {
    rc = moex_error(MOEX_ENOMEM, "construct: out of memory for a %zu x %zu least-squares problem", n, p);
    goto done;
  }
  gsl_rng_set(r, seed);
  /* the data's spread sets the jitter of the offsets */
  double spread = 0;
  for (size_t j = 0; j < n_in; j++) {
    double lo = x[j], hi = x[j];
    for (size_t s = 1; s < n; s++) {
      double v = x[s * n_in + j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (hi - lo > spread) spread = hi - lo;
  }
  for (size_t k = 0; k < width; k++) {
    double nn = 0;
    for (size_t j = 0; j < n_in; j++) {
      double g = gsl_ran_gaussian(r, 1.0);
      net->W1[k * n_in + j] = g;
      nn += g * g;
    }
    nn = sqrt(nn) + 1e-300;
    size_t s = gsl_rng_uniform_int(r, n);
    double b = 0;
    for (size_t j = 0; j < n_in; j++) {
      net->W1[k * n_in + j] /= nn;
      b -= net->W1[k * n_in + j] * x[s * n_in + j];
    }
    net->b1[k] = b + 0.02 * spread * (gsl_rng_uniform(r) - 0.5);
  }
  for (size_t s = 0; s < n; s++) {
    gsl_matrix_set(X, s, 0, 1.0);
    for (size_t k = 0; k < width; k++) {
      double a = net->b1[k];
      for (size_t j = 0; j < n_in; j++) a += net->W1[k * n_in + j] * x[s * n_in + j];
      gsl_matrix_set(X, s, k + 1, a > 0 ? a : 0);
    }
  }
  /* GSL's regularised least squares: X = U S V^T once (gsl_multifit_linear_svd takes a QR
   * first when n > p, O(n p^2)), then per output c = argmin |y - X c|^2 + lambda^2 |c|^2 with a
   * tiny Tikhonov term lambda = 1e-10 s_max, which only tames directions of rank deficiency. */
  moex_gsl_guard_enter();
  moex_gsl_error_clear();
  int grc = gsl_multifit_linear_svd(X, mfw);
  double lambda = grc ? 0 : 1e-10 * gsl_vector_get(mfw->S, 0);
  for (size_t o = 0; o < n_out && !grc; o++) {
    for (size_t s = 0; s < n; s++) gsl_vector_set(yc, s, y[s * n_out + o]);
    double rnorm, snorm;
    grc = gsl_multifit_linear_solve(lambda, X, yc, c, &rnorm, &snorm, mfw);
    net->b2[o] = gsl_vector_get(c, 0);
    for (size_t k = 0; k < width; k++) net->W2[o * width + k] = gsl_vector_get(c, k + 1);
  }
  moex_gsl_error_clear();
  moex_gsl_guard_leave();
  if (grc) {
    rc = moex_error(MOEX_EGSL, "construct: least squares failed: %s", gsl_strerror(grc));
    goto done;
  }
  if (fit_sup) *fit_sup = construct_sup_err(net, n, x, y, work);
done:
  if (mfw) gsl_multifit_linear_free(mfw);
  gsl_vector_free(c);
  gsl_vector_free(yc);
  gsl_matrix_free(X);
  gsl_rng_free(r);
  free(work);
  if (rc) {
    construct_net2_free(net);
    return NULL;
  }
  return net;
}

construct_net2_t *construct_precompose_affine(const construct_net2_t *g, size_t n_in, const double *A,
                                              const double *a) {
  if (!g || !A) {
    moex_error(MOEX_EINVAL, "construct: NULL net or matrix to compose");
    return NULL;
  }
  construct_net2_t *h = construct_net2_alloc(n_in, g->n_out, g->width);
  if (!h) return NULL;
  size_t d = g->n_in;
  for (size_t k = 0; k < g->width; k++) {
    double b = g->b1[k];
    for (size_t o = 0; o < d; o++) {
      if (a) b += g->W1[k * d + o] * a[o];
      for (size_t j = 0; j < n_in; j++) h->W1[k * n_in + j] += g->W1[k * d + o] * A[o * n_in + j];
    }
    h->b1[k] = b;
  }
  memcpy(h->W2, g->W2, g->n_out * g->width * sizeof *h->W2);
  memcpy(h->b2, g->b2, g->n_out * sizeof *h->b2);
  return h;
}

void construct_mlp_zero(const mlp_t *net, double *theta) {
  memset(theta, 0, net->n_params * sizeof *theta);
}

/* W_j (1-based j) of the mlp block and its row length */
static double *W(const mlp_t *net, double *theta, size_t j) { return theta + net->w_off[j - 1]; }
static double *Bv(const mlp_t *net, double *theta, size_t j) { return theta + net->b_off[j - 1]; }

static int check_maps(const mlp_t *net, size_t n_in, const size_t *in_map, size_t n_out,
                      const size_t *out_map) {
  if (!in_map || !out_map) return moex_error(MOEX_EINVAL, "construct: NULL input or output map");
  for (size_t j = 0; j < n_in; j++)
    if (in_map[j] >= net->n_in)
      return moex_error(MOEX_EINVAL, "construct: input %zu maps to %zu, mlp has %zu inputs", j, in_map[j], net->n_in);
  for (size_t o = 0; o < n_out; o++)
    if (out_map[o] >= net->n_out)
      return moex_error(MOEX_EINVAL, "construct: output %zu maps to %zu, mlp has %zu outputs", o, out_map[o], net->n_out);
  return MOEX_OK;
}

int construct_place2(const mlp_t *net, double *theta, const construct_net2_t *g,
                     const size_t *in_map, size_t h0, const size_t *out_map) {
  if (!net || !theta || !g) return moex_error(MOEX_EINVAL, "construct: NULL argument");
  if (net->n_layers != 2) return moex_error(MOEX_EINVAL, "construct: place2 needs a 2-layer mlp, got %zu layers", net->n_layers);
  if (h0 + g->width > net->width)
    return moex_error(MOEX_EINVAL, "construct: units %zu..%zu exceed the mlp width %zu", h0, h0 + g->width, net->width);
  int rc = check_maps(net, g->n_in, in_map, g->n_out, out_map);
  if (rc) return rc;
  double *W1 = W(net, theta, 1), *b1 = Bv(net, theta, 1), *W2 = W(net, theta, 2), *b2 = Bv(net, theta, 2);
  for (size_t k = 0; k < g->width; k++) {
    for (size_t j = 0; j < g->n_in; j++) W1[(h0 + k) * net->n_in + in_map[j]] += g->W1[k * g->n_in + j];
    b1[h0 + k] = g->b1[k];
    for (size_t o = 0; o < g->n_out; o++) W2[out_map[o] * net->width + h0 + k] += g->W2[o * g->width + k];
  }
  for (size_t o = 0; o < g->n_out; o++) b2[out_map[o]] += g->b2[o];
  return MOEX_OK;
}

int construct_place3(const mlp_t *net, double *theta, const construct_net2_t *psi,
                     const construct_net2_t *g, const size_t *in_map, size_t h1, size_t h2,
                     const size_t *out_map) {
  if (!net || !theta || !psi || !g) return moex_error(MOEX_EINVAL, "construct: NULL argument");
  if (net->n_layers != 3) return moex_error(MOEX_EINVAL, "construct: place3 needs a 3-layer mlp, got %zu layers", net->n_layers);
  if (psi->n_out != g->n_in)
    return moex_error(MOEX_EINVAL, "construct: psi has %zu outputs, g %zu inputs", psi->n_out, g->n_in);
  if (h1 + psi->width > net->width || h2 + g->width > net->width)
    return moex_error(MOEX_EINVAL, "construct: units (%zu + %zu, %zu + %zu) exceed the mlp width %zu", h1, psi->width, h2, g->width, net->width);
  int rc = check_maps(net, psi->n_in, in_map, g->n_out, out_map);
  if (rc) return rc;
  size_t w = net->width, d = psi->n_out;
  double *W1 = W(net, theta, 1), *b1 = Bv(net, theta, 1), *W2 = W(net, theta, 2), *b2 = Bv(net, theta, 2);
  double *W3 = W(net, theta, 3), *b3 = Bv(net, theta, 3);
  for (size_t k = 0; k < psi->width; k++) {
    for (size_t j = 0; j < psi->n_in; j++) W1[(h1 + k) * net->n_in + in_map[j]] += psi->W1[k * psi->n_in + j];
    b1[h1 + k] = psi->b1[k];
  }
  for (size_t k = 0; k < g->width; k++) {
    double bias = g->b1[k];
    for (size_t o = 0; o < d; o++) bias += g->W1[k * d + o] * psi->b2[o];
    b2[h2 + k] = bias;
    for (size_t j = 0; j < psi->width; j++) {
      double a = 0;
      for (size_t o = 0; o < d; o++) a += g->W1[k * d + o] * psi->W2[o * psi->width + j];
      W2[(h2 + k) * w + h1 + j] = a;
    }
    for (size_t o = 0; o < g->n_out; o++) W3[out_map[o] * w + h2 + k] += g->W2[o * g->width + k];
  }
  for (size_t o = 0; o < g->n_out; o++) b3[out_map[o]] += g->b2[o];
  return MOEX_OK;
}

int construct_place_identity(const mlp_t *net, double *theta, size_t in, size_t h, size_t out) {
  if (!net || !theta) return moex_error(MOEX_EINVAL, "construct: NULL argument");
  if (net->n_layers < 2) return moex_error(MOEX_EINVAL, "construct: identity needs a hidden layer (%zu layers)", net->n_layers);
  if (in >= net->n_in || out >= net->n_out || h + 2 > net->width)
    return moex_error(MOEX_EINVAL, "construct: identity %zu -> %zu at units %zu..%zu does not fit (%zu in, %zu out, width %zu)",
                      in, out, h, h + 1, net->n_in, net->n_out, net->width);
  size_t w = net->width;
  double *W1 = W(net, theta, 1);
  W1[h * net->n_in + in] = 1;
  W1[(h + 1) * net->n_in + in] = -1;
  for (size_t j = 2; j < net->n_layers; j++) {
    double *Wj = W(net, theta, j);
    Wj[h * w + h] = 1;
    Wj[h * w + h + 1] = -1;
    Wj[(h + 1) * w + h] = -1;
    Wj[(h + 1) * w + h + 1] = 1;
  }
  double *WL = W(net, theta, net->n_layers);
  WL[out * w + h] = 1;
  WL[out * w + h + 1] = -1;
  return MOEX_OK;
}
