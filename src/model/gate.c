/* gate: router scores, top-K selection and the weighting surrogates. */
#include "model/gate.h"

#include <math.h>
#include <string.h>

#include "core/kernels.h"
#include "core/moex_error.h"

int gate_init(gate_t *g, gate_kind_t kind, size_t d_in, size_t n_experts, size_t width) {
  if (!g) return moex_error(MOEX_EINVAL, "gate: NULL gate");
  if (n_experts == 0) return moex_error(MOEX_EINVAL, "gate: E = %zu experts must be >= 1", n_experts);
  if (d_in == 0) return moex_error(MOEX_EINVAL, "gate: input dimension %zu must be >= 1", d_in);
  memset(g, 0, sizeof *g);
  g->kind = kind;
  g->d_in = d_in;
  g->n_experts = n_experts;
  if (kind == GATE_LINEAR) {
    g->n_params = n_experts * d_in;
    g->act_width = n_experts;
  } else if (kind == GATE_MLP || kind == GATE_AFFINE) {
    if (kind == GATE_MLP && width == 0) return moex_error(MOEX_EINVAL, "gate: mlp router width %zu must be >= 1", width);
    int rc = mlp_init(&g->net, d_in, n_experts, kind == GATE_MLP ? 2 : 1, width);
    if (rc) return rc;
    g->width = kind == GATE_MLP ? width : 0;
    g->n_params = g->net.n_params;
    g->act_width = g->net.act_width;
  } else {
    return moex_error(MOEX_EINVAL, "gate: unknown kind %d", (int)kind);
  }
  return MOEX_OK;
}

int gate_has_net(const gate_t *g) { return g->kind != GATE_LINEAR; }

void gate_init_params(const gate_t *g, double *theta, gsl_rng *r, mlp_init_t scheme) {
  if (gate_has_net(g)) {
    mlp_init_params(&g->net, theta, r, scheme);
    return;
  }
  double wb = scheme == MLP_INIT_TORCH ? 1.0 / sqrt((double)g->d_in) : sqrt(6.0 / (double)g->d_in);
  for (size_t i = 0; i < g->n_params; i++) theta[i] = wb * (2.0 * gsl_rng_uniform(r) - 1.0);
}

const char *gate_kind_name(gate_kind_t k) { return k == GATE_MLP ? "mlp" : k == GATE_AFFINE ? "affine" : "linear"; }
const char *gate_surrogate_name(gate_surrogate_t s) { return s == GATE_PAPER ? "paper" : "switch"; }

int gate_kind_parse(const char *name, gate_kind_t *out) {
  if (name && !strcmp(name, "linear")) *out = GATE_LINEAR;
  else if (name && !strcmp(name, "affine")) *out = GATE_AFFINE;
  else if (name && !strcmp(name, "mlp")) *out = GATE_MLP;
  else return moex_error(MOEX_EINVAL, "unknown router '%s' (expected linear, affine or mlp)", name ? name : "(null)");
  return MOEX_OK;
}

int gate_surrogate_parse(const char *name, gate_surrogate_t *out) {
  if (name && !strcmp(name, "switch")) *out = GATE_SWITCH;
  else if (name && !strcmp(name, "paper")) *out = GATE_PAPER;
  else return moex_error(MOEX_EINVAL, "unknown routing surrogate '%s' (expected switch or paper)", name ? name : "(null)");
  return MOEX_OK;
}

double *gate_scores(const gate_t *g, const double *theta, size_t n, const double *x, double *acts) {
  if (gate_has_net(g)) return mlp_forward(&g->net, theta, n, x, acts);
  /* S (n, E) = x (n, d_in) W_R^T (d_in, E) */
  kern_mm(n, g->n_experts, g->d_in, x, theta, 1, NULL, 0, 0, acts);
  return acts;
}

size_t gate_scratch_size(const gate_t *g, size_t n) {
  size_t md = gate_has_net(g) ? g->net.max_dim : g->d_in;
  return n * (2 * md + g->d_in);
}

void gate_scores_backward(const gate_t *g, const double *theta, size_t n, const double *x,
                          const double *acts, const double *dS, double *grad, double *dx,
                          double *scratch) {
  if (n == 0) return;
  size_t E = g->n_experts, din = g->d_in;
  if (gate_has_net(g)) {
    double *dxt = dx ? scratch + 2 * n * g->net.max_dim : NULL;
    mlp_backward(&g->net, theta, n, x, acts, dS, grad, dxt, scratch);
    if (dx)
      for (size_t i = 0; i < n * din; i++) dx[i] += dxt[i];
    return;
  }
  /* dW_R (E, d_in) += dS^T (E, n) x (n, d_in);  dx (n, d_in) += dS (n, E) W_R (E, d_in) */
  kern_mtm(n, E, din, dS, x, grad, NULL);
  if (dx) kern_mm(n, din, E, dS, theta, 0, NULL, 1, 0, dx);
}

/* The first index of the largest score (strict >, as select_topk's first pick): top-1 without a
 * selection bias, the common case, without the general loop's bookkeeping. */
static size_t argmax_first(const double *sc, size_t E) {
  size_t best = 0;
  for (size_t e = 1; e < E; e++)
    if (sc[e] > sc[best]) best = e;
  return best;
}

/* The K largest of sc (+ bias, when given) into ix, largest first, ties to the lowest index. */
static void select_topk(const double *sc, size_t E, size_t K, const double *bias, size_t *ix) {
  for (size_t k = 0; k < K; k++) {
    size_t best = E;
    for (size_t e = 0; e < E; e++) {
      int taken = 0;
      for (size_t j = 0; j < k; j++) taken |= ix[j] == e;
      if (taken) continue;
      if (best == E || (bias ? sc[e] + bias[e] > sc[best] + bias[best] : sc[e] > sc[best])) best = e;
    }
    ix[k] = best;
  }
}

void gate_select(size_t n, size_t E, size_t K, gate_surrogate_t sur, const double *S, const double *bias,
                 size_t *idx, double *w, double *p) {
  for (size_t s = 0; s < n; s++) {
    const double *sc = S + s * E;
    size_t *ix = idx + s * K;
    double *ps = p + s * E;
    /* K largest, ties to the lowest index: strict > keeps the first maximum */
    if (K == 1 && !bias) ix[0] = argmax_first(sc, E);
    else select_topk(sc, E, K, bias, ix);
    if (sur == GATE_SWITCH) { /* writes every p_e */
      double mx = sc[0], z = 0.0;
      for (size_t e = 1; e < E; e++) mx = sc[e] > mx ? sc[e] : mx;
      for (size_t e = 0; e < E; e++) z += (ps[e] = exp(sc[e] - mx));
      for (size_t e = 0; e < E; e++) ps[e] /= z;
    } else {
      memset(ps, 0, E * sizeof *ps);
      double mx = sc[ix[0]], z = 0.0;
      for (size_t k = 0; k < K; k++) z += (ps[ix[k]] = exp(sc[ix[k]] - mx));
      for (size_t k = 0; k < K; k++) ps[ix[k]] /= z;
    }
    for (size_t k = 0; k < K; k++) w[s * K + k] = ps[ix[k]];
  }
}

void gate_select_backward(size_t n, size_t E, size_t K, gate_surrogate_t sur, const size_t *idx,
                          const double *w, const double *p, const double *dw, double *dS) {
  for (size_t s = 0; s < n; s++) {
    const size_t *ix = idx + s * K;
    const double *ws = w + s * K, *dws = dw + s * K, *ps = p + s * E;
    double *ds = dS + s * E;
    /* w_k = p_{i_k}; dp_j/ds_l = p_j (delta_jl - p_l) over the softmax's support */
    double dot = 0.0;
    for (size_t k = 0; k < K; k++) dot += dws[k] * ws[k];
    if (sur == GATE_SWITCH) {
      for (size_t e = 0; e < E; e++) ds[e] = -ps[e] * dot;
    } else {
      memset(ds, 0, E * sizeof *ds);
    }
    for (size_t k = 0; k < K; k++) ds[ix[k]] += ws[k] * dws[k] - (sur == GATE_PAPER ? ws[k] * dot : 0.0);
  }
}

/* softplus and its derivative, overflow-safe */
static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }
static double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

void gate_noise_forward(size_t n, size_t E, size_t d_in, const double *x, const double *Wn, const double *eps,
                        const double *S, double *z, double *H) {
  kern_mm(n, E, d_in, x, Wn, 1, NULL, 0, 0, z);
  for (size_t i = 0; i < n * E; i++) H[i] = S[i] + eps[i] * softplus(z[i]);
}

void gate_noise_backward(size_t n, size_t E, size_t d_in, const double *x, const double *Wn, const double *eps,
                         const double *z, const double *dH, double *dz, double *gWn, double *dx) {
  if (n == 0) return;
  for (size_t i = 0; i < n * E; i++) dz[i] = dH[i] * eps[i] * sigmoid(z[i]);
  kern_mtm(n, E, d_in, dz, x, gWn, NULL);
  if (dx) kern_mm(n, d_in, E, dz, Wn, 0, NULL, 1, 0, dx);
}
