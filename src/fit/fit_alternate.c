/* fit_alternate: the alternating fit ("alt"), hard EM after Jordan & Jacobs' EM for hierarchical
 * mixtures of experts. Top-1 routing makes the loss jump where a route flips; with routes fixed
 * each sub-problem is smooth, so each iteration is
 *   (a) experts, routes fixed (fit_polish.c: per-expert LM, or lbfgs over a stack);
 *   (b) assignment: each sample's best path, the one whose experts give it the lowest squared
 *       error (exhaustive over the E^L paths up to path_cap, layer by layer beyond it);
 *   (c) gates fitted to the assignment by multinomial logistic regression (fit_gatefit.c), the
 *       router of layer l on layer l-1's output under the assignment;
 *   (d) route by the fitted gates,
 * until the gates' routes stop changing, em_max iterations, or 70% of the budget is spent; the
 * rest goes to the final frozen-route polish. One row of diagnostics per iteration.
 * soft=1: from the second iteration, step (a) is fit_altsoft.c's weighted least squares over each
 * sample's top=P best paths of the last assignment (their responsibilities at s2 = that
 * assignment's MSE); beyond path_cap (layer-by-layer assignment) only the best path is known, so
 * the step is the hard one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

/* Squared error of every sample of the last routed forward into err (n). */
static void sample_err(const fit_routed *R, const train_data_t *d, double *err) {
  const double *y = R->h[R->n_layers];
  for (size_t s = 0; s < d->n; s++) {
    double z = 0.0;
    for (size_t j = 0; j < d->d_out; j++) {
      double r = y[s * d->d_out + j] - d->y[s * d->d_out + j];
      z += r * r;
    }
    err[s] = z;
  }
}

/* Keeps the P smallest errors of one sample, ascending, in ce (with their paths in cp). */
static void top_insert(size_t P, size_t *cp, double *ce, size_t p, double e) {
  if (!(e < ce[P - 1])) return;
  size_t j = P - 1;
  for (; j > 0 && ce[j - 1] > e; j--) {
    ce[j] = ce[j - 1];
    cp[j] = cp[j - 1];
  }
  ce[j] = e;
  cp[j] = p;
}

/* (b): the best path of every sample into A (per MoE layer); *mse its mean error. With cand
 * (n P entries), each sample's P best paths and their errors in cand, cerr too. */
static int assign(fit_moe_ctx *c, size_t *const *A, size_t *const *tmp, double *best, double *err, double *mse,
                  size_t P, size_t *cand, double *cerr) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  size_t n = d->n, n_paths = moe_model_n_paths(m);
  for (size_t s = 0; s < n; s++) best[s] = INFINITY;
  for (size_t k = 0; cand && k < n * P; k++) {
    cand[k] = SIZE_MAX;
    cerr[k] = INFINITY;
  }
  if (n_paths <= c->ps->path_cap) {
    for (size_t p = 0; p < n_paths; p++) {
      size_t rest = p;
      for (size_t l = 0; l < m->n_layers; l++) {
        if (!tmp[l]) continue;
        size_t E = m->layer[l].spec.n_experts, e = rest % E;
        rest /= E;
        for (size_t s = 0; s < n; s++) tmp[l][s] = e;
      }
      if (!fit_routed_forward(c->R, m->theta, n, d->x, (const size_t *const *)tmp, NULL)) return MOEX_EINVAL;
      c->res->grads += (double)n;
      c->res->fwd_grads += (double)n;
      sample_err(c->R, d, err);
      for (size_t s = 0; s < n; s++) {
        if (err[s] < best[s]) {
          best[s] = err[s];
          for (size_t l = 0; l < m->n_layers; l++)
            if (A[l]) A[l][s] = tmp[l][s];
        }
        if (cand) top_insert(P, cand + s * P, cerr + s * P, p, err[s]);
      }
    }
  } else {
    /* layer by layer: each layer's expert chosen with the other layers' routes held */
    for (size_t l = 0; l < m->n_layers; l++)
      if (A[l]) memcpy(A[l], c->routes[l], n * sizeof(size_t));
    for (size_t l = 0; l < m->n_layers; l++) {
      if (!A[l]) continue;
      for (size_t k = 0; k < m->n_layers; k++)
        if (tmp[k]) memcpy(tmp[k], A[k], n * sizeof(size_t));
      size_t *choice = malloc(n * sizeof *choice);
      if (!choice) return moex_error(MOEX_ENOMEM, "fit_alternate: out of memory");
      for (size_t s = 0; s < n; s++) best[s] = INFINITY;
      for (size_t e = 0; e < m->layer[l].spec.n_experts; e++) {
        for (size_t s = 0; s < n; s++) tmp[l][s] = e;
        if (!fit_routed_forward(c->R, m->theta, n, d->x, (const size_t *const *)tmp, NULL)) {
          free(choice);
          return MOEX_EINVAL;
        }
        c->res->grads += (double)n;
        c->res->fwd_grads += (double)n;
        sample_err(c->R, d, err);
        for (size_t s = 0; s < n; s++)
          if (err[s] < best[s]) {
            best[s] = err[s];
            choice[s] = e;
          }
      }
      memcpy(A[l], choice, n * sizeof(size_t));
      free(choice);
    }
    for (size_t s = 0; cand && s < n; s++) { /* only the best path is known: its index */
      size_t p = 0, stride = 1;
      for (size_t l = 0; l < m->n_layers; l++)
        if (A[l]) {
          p += A[l][s] * stride;
          stride *= m->layer[l].spec.n_experts;
        }
      cand[s * P] = p;
      cerr[s * P] = best[s];
    }
  }
  double z = 0.0;
  for (size_t s = 0; s < n; s++) z += best[s];
  *mse = z / (double)(n * d->d_out);
  return MOEX_OK;
}

static int alt_run(const fit_protocol_type *T, fit_moe_ctx *c) {
  (void)T;
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  size_t n = d->n;
  size_t *A[MOE_MAX_LAYERS] = {0}, *tmp[MOE_MAX_LAYERS] = {0}, *prev[MOE_MAX_LAYERS] = {0};
  double *best = malloc(n * sizeof *best), *err = malloc(n * sizeof *err);
  size_t P = c->ps->soft ? c->ps->soft_top : 0, *cand = NULL;
  double *cerr = NULL, s2 = NAN;
  int have_cand = 0;
  int rc = best && err ? MOEX_OK : MOEX_ENOMEM;
  if (P && !rc && (!(cand = malloc(n * P * sizeof *cand)) || !(cerr = malloc(n * P * sizeof *cerr)))) rc = MOEX_ENOMEM;
  for (size_t l = 0; l < m->n_layers && !rc; l++) {
    if (!c->routes[l]) continue;
    A[l] = malloc(n * sizeof(size_t));
    tmp[l] = malloc(n * sizeof(size_t));
    prev[l] = malloc(n * sizeof(size_t));
    if (!A[l] || !tmp[l] || !prev[l]) rc = MOEX_ENOMEM;
  }
  if (rc) rc = moex_error(rc, "fit_alternate: out of memory");
  if (!rc) rc = fitm_route_init(c);
  double loss = rc ? NAN : fitm_gate_routes(c);
  if (!rc && c->ps->xinit_data) {
    rc = fitm_kinks_in_data(c, c->routes, c->weights);
    if (!rc) loss = fitm_routed_loss(c);
  }
  if (!rc) rc = fitm_em_add(c->res, &(fit_em_row){loss, NAN, NAN, NAN, c->res->grads});
  if (!rc) rc = fitm_progress(c, "em");
  double reserve = 0.3 * c->ps->budget;
  snprintf(c->res->stop, sizeof c->res->stop, "em_max");
  for (size_t it = 0; it < c->ps->em_max && !rc; it++) {
    if (fitm_left(c) <= reserve) {
      snprintf(c->res->stop, sizeof c->res->stop, "budget");
      break;
    }
    for (size_t l = 0; l < m->n_layers; l++)
      if (prev[l]) memcpy(prev[l], c->routes[l], n * sizeof(size_t));
    if (have_cand)
      rc = fitm_soft_experts(c, P, cand, cerr, s2, c->ps->em_expert_iters, fitm_left(c) - reserve);
    else
      rc = fitm_fit_experts(c, c->routes, c->weights, c->ps->polisher, c->ps->em_expert_iters, fitm_left(c) - reserve);
    double amse = NAN, agree = NAN;
    if (!rc) rc = assign(c, A, tmp, best, err, &amse, P, cand, cerr);
    if (!rc && P) {
      have_cand = 1;
      s2 = amse; /* the noise variance per output under the assignment (its ML estimate) */
    }
    if (!rc) rc = fitm_fit_gates(c, A, &agree);
    if (!rc) loss = fitm_gate_routes(c);
    if (rc) break;
    size_t changed = 0;
    for (size_t s = 0; s < n; s++) {
      int same = 1;
      for (size_t l = 0; l < m->n_layers && same; l++)
        if (prev[l]) same = prev[l][s] == c->routes[l][s];
      changed += (size_t)!same;
    }
    c->res->em_iters = it + 1;
    rc = fitm_em_add(c->res, &(fit_em_row){loss, (double)changed / (double)n, agree, amse, c->res->grads});
    if (!rc) rc = fitm_progress(c, "em");
    if (!rc && changed == 0) {
      snprintf(c->res->stop, sizeof c->res->stop, "routes_stable");
      break;
    }
  }
  if (!rc) rc = fitm_final_polish(c);
  for (size_t l = 0; l < MOE_MAX_LAYERS; l++) {
    free(A[l]); free(tmp[l]); free(prev[l]);
  }
  free(best); free(err); free(cand); free(cerr);
  return rc;
}

static const fit_protocol_type alt_type = {"alt", alt_run};
const fit_protocol_type *const fit_proto_alternate = &alt_type;
