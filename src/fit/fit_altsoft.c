/* fit_altsoft: the expert step of the alternating fit's soft variant (alt:soft=1), the M-step of
 * Jordan & Jacobs' EM with responsibilities over each sample's best few paths.
 * Why through the output weight: the routed forward multiplies the last MoE layer's expert output
 * by a per-sample weight, so a row with weight sqrt(r) and target sqrt(r) y has the residual
 * sqrt(r) (y - f(x)), and the frozen-route fitters (per-expert LM, lbfgs) solve the weighted least
 * squares unchanged, one row per (sample, candidate path). Like the assignment step, the experts'
 * outputs are taken at weight 1 (the paper's top-1); the final polish restores the gates' weights. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

/* The expert of every MoE layer on path p, as fit_alternate.c's exhaustive search counts paths. */
static void path_decode(const moe_model_t *m, size_t p, size_t *e) {
  for (size_t l = 0; l < m->n_layers; l++) {
    if (m->layer[l].spec.kind != MOE_LAYER_MOE) continue;
    size_t E = m->layer[l].spec.n_experts;
    e[l] = p % E;
    p /= E;
  }
}

int fitm_soft_experts(fit_moe_ctx *c, size_t P, const size_t *cand, const double *cerr, double s2, size_t max_evals,
                      double budget) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  size_t L = m->n_layers, last = L - 1;
  if (m->layer[last].spec.kind != MOE_LAYER_MOE || m->layer[last].spec.shared_expert)
    return moex_error(MOEX_EINVAL, "alt:soft=1 needs the last layer to be an MoE layer without a shared expert");
  if (!(s2 > 1e-300)) s2 = 1e-300;
  size_t n = d->n, rows = 0;
  double *r = malloc(n * P * sizeof *r);
  if (!r) return moex_error(MOEX_ENOMEM, "fit_altsoft: out of memory");
  for (size_t s = 0; s < n; s++) {
    const size_t *cs = cand + s * P;
    const double *es = cerr + s * P;
    double lo = INFINITY, z = 0.0;
    for (size_t j = 0; j < P; j++)
      if (cs[j] != SIZE_MAX && es[j] < lo) lo = es[j];
    for (size_t j = 0; j < P; j++) {
      r[s * P + j] = cs[j] == SIZE_MAX ? 0.0 : exp(-(es[j] - lo) / (2.0 * s2));
      z += r[s * P + j];
    }
    for (size_t j = 0; j < P; j++) {
      r[s * P + j] /= z;
      if (r[s * P + j] < 1e-6) r[s * P + j] = 0.0;
      rows += r[s * P + j] > 0.0;
    }
  }
  double *x = malloc(rows * d->d_in * sizeof *x), *y = malloc(rows * d->d_out * sizeof *y);
  size_t *route[MOE_MAX_LAYERS] = {0};
  double *w[MOE_MAX_LAYERS] = {0};
  int rc = x && y ? MOEX_OK : MOEX_ENOMEM;
  for (size_t l = 0; l < L && !rc; l++) {
    if (m->layer[l].spec.kind != MOE_LAYER_MOE) continue;
    route[l] = malloc(rows * sizeof(size_t));
    w[l] = malloc(rows * sizeof(double));
    if (!route[l] || !w[l]) rc = MOEX_ENOMEM;
  }
  fit_routed *R = rc ? NULL : fit_routed_alloc(m, rows);
  if (!rc && !R) rc = MOEX_ENOMEM;
  if (rc == MOEX_ENOMEM) rc = moex_error(MOEX_ENOMEM, "fit_altsoft: out of memory");
  size_t e[MOE_MAX_LAYERS];
  for (size_t s = 0, k = 0; s < n && !rc; s++)
    for (size_t j = 0; j < P; j++) {
      double rj = r[s * P + j];
      if (rj <= 0.0) continue;
      path_decode(m, cand[s * P + j], e);
      double sq = sqrt(rj);
      memcpy(x + k * d->d_in, d->x + s * d->d_in, d->d_in * sizeof *x);
      for (size_t o = 0; o < d->d_out; o++) y[k * d->d_out + o] = sq * d->y[s * d->d_out + o];
      for (size_t l = 0; l < L; l++)
        if (route[l]) {
          route[l][k] = e[l];
          w[l][k] = l == last ? sq : 1.0;
        }
      k++;
    }
  if (!rc) {
    /* the same protocol state on the expanded rows; compute is counted per row */
    train_data_t dx = {.n = rows, .d_in = d->d_in, .d_out = d->d_out, .x = x, .y = y};
    fit_moe_ctx sub = *c;
    sub.d = &dx;
    sub.R = R;
    rc = fitm_fit_experts(&sub, route, w, c->ps->polisher, max_evals, budget);
  }
  fit_routed_free(R);
  for (size_t l = 0; l < L; l++) {
    free(route[l]);
    free(w[l]);
  }
  free(x); free(y); free(r);
  return rc;
}
