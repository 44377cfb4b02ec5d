/* fit_anneal: continuation from soft to hard routing ("anneal"). The surrogate
 * y = sum_k softmax(g(x)/T)_k f_k(x) over all experts is smooth, so bfgs2 fits it; the protocol
 * fits it at a decreasing sequence of temperatures, each stage from the last, then switches to
 * hard top-1 routing (whose argmax does not depend on T) and polishes with routes frozen.
 *
 * The soft model is the same spec with K = E and the paper's weighting (softmax over the selected
 * experts, here all of them): its parameter block has the hard model's layout, so theta is shared;
 * the temperature divides the router's output layer. A soft mixture may settle on two experts that
 * share a region and cancel each other's errors, which top-1 cannot reproduce: every stage
 * records both errors, and loss=comp offers the competitive loss of Jacobs et al. (1991),
 * -log sum_k p_k exp(-|t - f_k(x)|^2 / 2 sigma^2), whose gradient sends each sample to the expert
 * that already fits it best (one MoE layer; its gradient is written out below). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

struct fit_soft {
  const moe_model_t *m;
  const train_data_t *d;
  moe_model_t *sm;       /* K = E, paper weighting */
  train_ctx_t tc;
  objective_t tobj, obj;
  int comp, tc_ok;
  double sigma, T;
  size_t g_lo[MOE_MAX_LAYERS], g_hi[MOE_MAX_LAYERS]; /* the router output layer's parameters */
  double *th;            /* scaled copy of theta */
  /* competitive loss buffers (one MoE layer) */
  double *gacts, *eacts, *dY, *dS, *scratch, *a;
};

static void scale_gates(const fit_soft *S, const double *theta, double *out) {
  memcpy(out, theta, S->m->n_params * sizeof(double));
  for (size_t l = 0; l < S->m->n_layers; l++)
    for (size_t i = S->g_lo[l]; i < S->g_hi[l]; i++) out[i] = theta[i] / S->T;
}

static void scale_grad(const fit_soft *S, double *grad) {
  for (size_t l = 0; l < S->m->n_layers; l++)
    for (size_t i = S->g_lo[l]; i < S->g_hi[l]; i++) grad[i] /= S->T;
}

static int soft_lossgrad(void *vctx, const double *theta, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  fit_soft *S = vctx;
  scale_gates(S, theta, S->th);
  int rc = S->tobj.lossgrad(S->tobj.ctx, S->th, idx, n_idx, loss, grad);
  if (!rc && grad) scale_grad(S, grad);
  return rc;
}

static int comp_lossgrad(void *vctx, const double *theta, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  fit_soft *S = vctx;
  if (idx || n_idx) return moex_error(MOEX_EINVAL, "fit_anneal: the competitive loss is full-batch only");
  const moe_layer_t *L = &S->m->layer[0];
  const train_data_t *d = S->d;
  size_t n = d->n, E = L->spec.n_experts, dout = d->d_out, aw = L->expert.act_width, P = L->expert.n_params;
  double T = S->T, s2 = S->sigma * S->sigma;
  const double *Sc = gate_scores(&L->gate, theta + L->gate_off, n, d->x, S->gacts);
  const double *F[MOE_MAX_EXPERTS];
  for (size_t k = 0; k < E; k++)
    F[k] = mlp_forward(&L->expert, theta + L->experts_off + k * P, n, d->x, S->eacts + k * n * aw);
  double tot = 0.0;
  for (size_t s = 0; s < n; s++) {
    const double *z = Sc + s * E;
    double mz = -INFINITY, lz = 0.0, ma = -INFINITY, la = 0.0;
    for (size_t k = 0; k < E; k++) mz = fmax(mz, z[k] / T);
    for (size_t k = 0; k < E; k++) lz += exp(z[k] / T - mz);
    lz = mz + log(lz);
    double *a = S->a + s * E;
    for (size_t k = 0; k < E; k++) {
      double e2 = 0.0;
      for (size_t j = 0; j < dout; j++) {
        double r = F[k][s * dout + j] - d->y[s * dout + j];
        e2 += r * r;
      }
      a[k] = z[k] / T - lz - e2 / (2.0 * s2);
      ma = fmax(ma, a[k]);
    }
    for (size_t k = 0; k < E; k++) la += exp(a[k] - ma);
    la = ma + log(la);
    tot -= la;
    /* q_k = softmax(a)_k (stored over a), p_k = softmax(z/T)_k; dL/dS_k = (p_k - q_k) / T */
    for (size_t k = 0; k < E; k++) {
      double q = exp(a[k] - la), p = exp(z[k] / T - lz);
      a[k] = q;
      S->dS[s * E + k] = (p - q) / (T * (double)n);
    }
  }
  *loss = tot / (double)n;
  if (!grad) return MOEX_OK;
  memset(grad, 0, S->m->n_params * sizeof(double));
  for (size_t k = 0; k < E; k++) {
    for (size_t s = 0; s < n; s++)
      for (size_t j = 0; j < dout; j++)
        S->dY[s * dout + j] = S->a[s * E + k] * (F[k][s * dout + j] - d->y[s * dout + j]) / (s2 * (double)n);
    mlp_backward(&L->expert, theta + L->experts_off + k * P, n, d->x, S->eacts + k * n * aw, S->dY,
                 grad + L->experts_off + k * P, NULL, S->scratch);
  }
  gate_scores_backward(&L->gate, theta + L->gate_off, n, d->x, S->gacts, S->dS, grad + L->gate_off, NULL, S->scratch);
  return MOEX_OK;
}

void fit_soft_free(fit_soft *S) {
  if (!S) return;
  if (S->tc_ok) train_ctx_free(&S->tc);
  moe_model_free(S->sm);
  free(S->th); free(S->gacts); free(S->eacts); free(S->dY); free(S->dS); free(S->scratch); free(S->a);
  free(S);
}

fit_soft *fit_soft_alloc(const moe_model_t *m, const train_data_t *d, int comp, double sigma) {
  if (!m || !d) {
    moex_error(MOEX_EINVAL, "fit_soft: NULL argument");
    return NULL;
  }
  if (comp && (m->n_layers != 1 || m->layer[0].spec.kind != MOE_LAYER_MOE || m->layer[0].spec.shared_expert)) {
    moex_error(MOEX_EINVAL, "fit_soft: loss=comp needs one MoE layer without a shared expert (the model has %zu layers)", m->n_layers);
    return NULL;
  }
  if (comp && !(sigma > 0)) {
    moex_error(MOEX_EINVAL, "fit_soft: sigma = %g must be > 0", sigma);
    return NULL;
  }
  fit_soft *S = calloc(1, sizeof *S);
  if (!S) return NULL;
  S->m = m;
  S->d = d;
  S->comp = comp;
  S->sigma = sigma;
  S->T = 1.0;
  moe_spec_t ss = m->spec;
  for (size_t l = 0; l < ss.n_layers; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (L->spec.kind != MOE_LAYER_MOE) continue;
    ss.layer[l].top_k = ss.layer[l].n_experts;
    ss.layer[l].surrogate = GATE_PAPER;
    S->g_lo[l] = L->gate_off + (L->gate.kind == GATE_MLP ? L->gate.net.w_off[1] : 0);
    S->g_hi[l] = L->gate_off + L->gate.n_params;
  }
  S->sm = moe_model_alloc(&ss, d->n < 1024 ? d->n : 1024);
  S->th = malloc(m->n_params * sizeof(double));
  int rc = S->sm && S->th ? MOEX_OK : MOEX_ENOMEM;
  if (!rc) rc = train_objective_init(&S->tc, &S->tobj, S->sm, d);
  S->tc_ok = !rc;
  if (!rc && comp) {
    const moe_layer_t *L = &m->layer[0];
    size_t n = d->n, E = L->spec.n_experts, sc = 2 * n * L->expert.max_dim, g = gate_scratch_size(&L->gate, n);
    S->gacts = malloc(n * L->gate.act_width * sizeof(double));
    S->eacts = malloc(E * n * L->expert.act_width * sizeof(double));
    S->dY = malloc(n * d->d_out * sizeof(double));
    S->dS = malloc(n * E * sizeof(double));
    S->a = malloc(n * E * sizeof(double));
    S->scratch = malloc((sc > g ? sc : g) * sizeof(double));
    if (!S->gacts || !S->eacts || !S->dY || !S->dS || !S->a || !S->scratch) rc = MOEX_ENOMEM;
  }
  if (rc) {
    fit_soft_free(S);
    if (rc == MOEX_ENOMEM) moex_error(MOEX_ENOMEM, "fit_soft: out of memory");
    return NULL;
  }
  S->obj = (objective_t){.n_params = m->n_params, .n_samples = d->n, .n_res = 0,
                         .lossgrad = comp ? comp_lossgrad : soft_lossgrad, .ctx = S};
  return S;
}

void fit_soft_set_T(fit_soft *S, double T) { S->T = T; }
const objective_t *fit_soft_objective(fit_soft *S) { return &S->obj; }

int fit_soft_mse(fit_soft *S, const double *theta, double *mse) {
  return soft_lossgrad(S, theta, NULL, 0, mse, NULL);
}

static int anneal_run(const fit_protocol_type *T, fit_moe_ctx *c) {
  (void)T;
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  const fit_moe_settings *ps = c->ps;
  int rc = fitm_route_init(c);
  if (!rc && ps->xinit_data && isfinite(fitm_gate_routes(c))) rc = fitm_kinks_in_data(c, c->routes, c->weights);
  fit_soft *S = rc ? NULL : fit_soft_alloc(m, d, ps->comp, ps->sigma);
  fit_result *res = fit_result_alloc();
  if (!rc && (!S || !res)) rc = MOEX_EINVAL;
  /* a soft sample runs every expert: count it by active parameters against the top-1 model */
  double w = rc ? 1.0 : (double)moe_spec_n_active(&S->sm->spec) / (double)moe_spec_n_active(&m->spec);
  double share = 0.7 * ps->budget / (double)ps->n_temps;
  snprintf(c->res->stop, sizeof c->res->stop, "done");
  for (size_t k = 0; k < ps->n_temps && !rc; k++) {
    /* clamped before the cast: once a stage's last line search has eaten into the reserve the
     * share is negative, and a negative double cast to size_t ran the next stage without a cap
     * (moex-bench's quick Table 3: 26,750 evaluations for a cap of 2) */
    double avail = fmin(share, fitm_left(c) - 0.3 * ps->budget) / ((double)d->n * w);
    size_t ev = avail >= 2.0 ? (size_t)avail : 0;
    if (ev > 25) ev -= 20; /* room for the last line search */
    if (ev < 2) {
      snprintf(c->res->stop, sizeof c->res->stop, "budget");
      break;
    }
    fit_soft_set_T(S, ps->temps[k]);
    fit_settings fs;
    fit_settings_default(&fs);
    fs.optimizer = "bfgs2";
    fs.max_iter = 100000;
    fs.max_evals = ev;
    fs.log_every = 0;
    rc = fit_run(fit_soft_objective(S), m->theta, &fs, res);
    if (rc) break;
    c->res->grads += (double)res->evals * (double)d->n * w;
    double soft = NAN;
    rc = fit_soft_mse(S, m->theta, &soft);
    c->res->grads += (double)d->n * w;
    c->res->fwd_grads += (double)d->n * w;
    double hard = fitm_gate_routes(c);
    if (!rc) rc = fitm_stage_add(c->res, ps->temps[k], soft, hard, res->loss);
    if (!rc) rc = fitm_progress(c, "stage");
  }
  if (!rc) rc = fitm_final_polish(c);
  fit_result_free(res);
  fit_soft_free(S);
  return rc;
}

static const fit_protocol_type anneal_type = {"anneal", anneal_run};
const fit_protocol_type *const fit_proto_anneal = &anneal_type;
