/* fit_polish: experts fitted with every sample's route held fixed (frozen-route polishing, and
 * the expert step of the alternating fit), and expert initialisation inside the data.
 *
 * One MoE layer: the residuals of expert e's samples depend on expert e alone, so each expert is
 * its own small least-squares problem for GSL's multifit_nlinear LM (fit_lm through a dense
 * sub-model of the expert's shape, which supplies the exact Jacobian). Its first-layer weights
 * act on the expert's inputs only through their span: with Q an orthonormal basis of the span of
 * the expert's samples (eigenvectors of X^T X, gsl_eigen_symmv), the problem is posed on the
 * reduced weights W Q (r columns instead of D), which LM needs (n_res >= n_params; at D = 128 a
 * width-10 expert has 1301 parameters and about 1000 samples), and W moves only inside the span,
 * W += (W Q)_new - (W Q)_old) Q^T. Where even the reduced problem is underdetermined, bfgs2 takes
 * it (counted as a fallback). Stacks: one problem over every expert parameter through
 * fit_routed, with lbfgs or bfgs2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

#define FIT_LM_AUTO_MAX_P 64

const char *fitm_polisher(const moe_model_t *m, const char *p) {
  if (strcmp(p, "auto") && strcmp(p, "lm-or-lbfgs")) return p;
  return m->n_layers == 1 && m->layer[0].spec.kind == MOE_LAYER_MOE ? "lm" : "lbfgs";
}

/* ---- expert initialisation inside the data ---- */

/* Unit i of the first layer of the expert at `th` gets its kink through x_j: b_i = -w_i . x_j. */
static void kink_through(const mlp_t *net, double *th, size_t i, const double *xj) {
  const double *w = th + net->w_off[0] + i * net->dims[0];
  double z = 0.0;
  for (size_t k = 0; k < net->dims[0]; k++) z += w[k] * xj[k];
  th[net->b_off[0] + i] = -z;
}

int fitm_kinks_in_data(fit_moe_ctx *c, size_t *const *routes, double *const *weights) {
  moe_model_t *m = c->m;
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (L->spec.kind != MOE_LAYER_MOE || L->expert.n_layers < 2) continue;
    /* the inputs of layer l under the current parameters of the layers below */
    if (!fit_routed_forward(c->R, m->theta, c->d->n, c->d->x, (const size_t *const *)routes, (const double *const *)weights))
      return MOEX_EINVAL;
    fitm_count_fwd(c, (double)c->d->n);
    const double *xg = c->R->xg[l];
    size_t din = L->spec.d_in;
    for (size_t e = 0; e < L->spec.n_experts; e++) {
      size_t ne = c->R->cnt[l][e], o = c->R->eoff[l][e];
      if (!ne) continue;
      double *th = m->theta + L->experts_off + e * L->expert.n_params;
      for (size_t i = 0; i < L->expert.dims[1]; i++)
        kink_through(&L->expert, th, i, xg + (o + gsl_rng_uniform_int(c->rng, ne)) * din);
    }
  }
  return MOEX_OK;
}

/* Every first-layer unit of an expert of layer l that is inactive on all the expert's samples
 * (gathered in R by the last forward) gets a fresh direction, its kink through a served sample
 * and a zero outgoing weight: the expert's output, hence the loss, is unchanged. Returns the
 * number of experts all of whose units were dead. */
static size_t revive_units(fit_moe_ctx *c, size_t l) {
  moe_model_t *m = c->m;
  const moe_layer_t *L = &m->layer[l];
  const mlp_t *net = &L->expert;
  if (net->n_layers < 2) return 0;
  size_t din = L->spec.d_in, H = net->dims[1], all_dead = 0;
  const double *xg = c->R->xg[l];
  for (size_t e = 0; e < L->spec.n_experts; e++) {
    size_t ne = c->R->cnt[l][e], o = c->R->eoff[l][e], dead = 0;
    if (!ne) continue;
    double *th = m->theta + L->experts_off + e * net->n_params;
    for (size_t i = 0; i < H; i++) {
      const double *w = th + net->w_off[0] + i * din;
      double b = th[net->b_off[0] + i];
      int active = 0;
      for (size_t s = 0; s < ne && !active; s++) {
        double z = b;
        for (size_t k = 0; k < din; k++) z += w[k] * xg[(o + s) * din + k];
        active = z > 0;
      }
      if (active) continue;
      dead++;
      double *wm = th + net->w_off[0] + i * din, bb = 1.0 / sqrt((double)din);
      for (size_t k = 0; k < din; k++) wm[k] = bb * (2.0 * gsl_rng_uniform(c->rng) - 1.0);
      kink_through(net, th, i, xg + (o + gsl_rng_uniform_int(c->rng, ne)) * din);
      double *W2 = th + net->w_off[1];
      for (size_t j = 0; j < net->dims[2]; j++) W2[j * H + i] = 0.0;
    }
    if (dead == H) all_dead++;
  }
  return all_dead;
}

/* ---- one MoE layer: one LM problem per expert on the span of its samples ---- */

/* LM on w_s f(x_s) - t_s = w_s (f(x_s) - t_s / w_s): the sub-model's residuals for the targets
 * t / w, each row (and its Jacobian row) scaled by w_s. */
typedef struct {
  objective_t in;
  const double *w;
  size_t dout;
  double *r, *J;
} wobj;

static int w_residual(void *vctx, const double *th, double *r, double *J) {
  wobj *o = vctx;
  int rc = o->in.residual(o->in.ctx, th, r, J);
  if (rc) return rc;
  for (size_t i = 0; i < o->in.n_res; i++) {
    double w = o->w[i / o->dout];
    r[i] *= w;
    if (J)
      for (size_t k = 0; k < o->in.n_params; k++) J[i * o->in.n_params + k] *= w;
  }
  return MOEX_OK;
}

static int w_lossgrad(void *vctx, const double *th, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  wobj *o = vctx;
  if (idx || n_idx) return moex_error(MOEX_EINVAL, "fit_polish: the weighted expert problem is full-batch only");
  size_t nr = o->in.n_res, p = o->in.n_params;
  int rc = w_residual(o, th, o->r, grad ? o->J : NULL);
  if (rc) return rc;
  double s = 0.0;
  for (size_t i = 0; i < nr; i++) s += o->r[i] * o->r[i];
  *loss = s / (double)nr;
  if (grad) {
    memset(grad, 0, p * sizeof(double));
    for (size_t i = 0; i < nr; i++)
      for (size_t k = 0; k < p; k++) grad[k] += 2.0 * o->r[i] * o->J[i * p + k] / (double)nr;
  }
  return MOEX_OK;
}

/* One expert's problem: its samples, their targets t / w and weights, the span of its inputs. */
typedef struct {
  size_t ne, D, dout, r;
  double *X, *T, *Wt; /* (ne, D), (ne, dout), (ne) */
  int weighted;       /* some weight is not 1 */
  gsl_matrix *evec;
  gsl_vector *eval;
  size_t *keep;       /* (r) the eigenvectors kept */
  double *Q, *XR;     /* (D, r) the span's basis, (ne, r) the inputs in it */
} xprob;

static void xprob_free(xprob *p) {
  free(p->X); free(p->T); free(p->Wt); free(p->keep); free(p->Q); free(p->XR);
  if (p->evec) gsl_matrix_free(p->evec);
  if (p->eval) gsl_vector_free(p->eval);
}

/* The samples expert e serves under `route`, with t / w as targets (weight NULL: 1). */
static int xprob_gather(xprob *p, const train_data_t *d, const size_t *route, const double *weight, size_t e) {
  size_t D = p->D = d->d_in, dout = p->dout = d->d_out, ne = p->ne;
  p->X = malloc(ne * D * sizeof *p->X);
  p->T = malloc(ne * dout * sizeof *p->T);
  p->Wt = malloc(ne * sizeof *p->Wt);
  if (!p->X || !p->T || !p->Wt) return moex_error(MOEX_ENOMEM, "fit_polish: out of memory");
  size_t k = 0;
  for (size_t s = 0; s < d->n; s++) {
    if (route[s] != e) continue;
    double w = weight ? weight[s] : 1.0;
    p->weighted |= w != 1.0;
    p->Wt[k] = w;
    memcpy(p->X + k * D, d->x + s * D, D * sizeof *p->X);
    for (size_t j = 0; j < dout; j++) p->T[k * dout + j] = d->y[s * dout + j] / w;
    k++;
  }
  return MOEX_OK;
}

/* The span of the samples: eigenvectors of X^T X above a relative 1e-12 of the largest. */
static int xprob_span(xprob *p) {
  size_t D = p->D;
  double *G = calloc(D * D, sizeof *G);
  p->evec = gsl_matrix_alloc(D, D);
  p->eval = gsl_vector_alloc(D);
  p->keep = malloc(D * sizeof *p->keep);
  gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(D);
  int rc = G && p->evec && p->eval && p->keep && w ? MOEX_OK : moex_error(MOEX_ENOMEM, "fit_polish: out of memory");
  for (size_t s = 0; s < p->ne && !rc; s++)
    for (size_t i = 0; i < D; i++)
      for (size_t j = 0; j <= i; j++) G[i * D + j] += p->X[s * D + i] * p->X[s * D + j];
  for (size_t i = 0; i < D && !rc; i++)
    for (size_t j = 0; j < i; j++) G[j * D + i] = G[i * D + j];
  if (!rc) {
    gsl_matrix_view Gv = gsl_matrix_view_array(G, D, D);
    if (gsl_eigen_symmv(&Gv.matrix, p->eval, p->evec, w)) rc = moex_error(MOEX_EGSL, "fit_polish: eigen decomposition failed");
  }
  if (!rc) gsl_eigen_symmv_sort(p->eval, p->evec, GSL_EIGEN_SORT_VAL_DESC);
  if (w) gsl_eigen_symmv_free(w);
  double top = rc ? 0 : gsl_vector_get(p->eval, 0);
  for (size_t i = 0; i < D && !rc; i++)
    if (gsl_vector_get(p->eval, i) > 1e-12 * top) p->keep[p->r++] = i;
  free(G);
  return rc;
}

/* The basis Q of the span, the inputs in it (XR), and the expert's parameters reduced to it:
 * W Q, then the rest of the layout unchanged, into sub->theta. */
static int xprob_reduce(xprob *p, const mlp_t *net, const double *th, moe_model_t *sub) {
  size_t D = p->D, r = p->r, ne = p->ne, H = net->dims[1], tail = net->n_params - H * D;
  p->Q = malloc(D * r * sizeof *p->Q);
  p->XR = malloc(ne * r * sizeof *p->XR);
  if (!p->Q || !p->XR) return MOEX_ENOMEM;
  for (size_t i = 0; i < D; i++)
    for (size_t j = 0; j < r; j++) p->Q[i * r + j] = gsl_matrix_get(p->evec, i, p->keep[j]);
  for (size_t s = 0; s < ne; s++)
    for (size_t j = 0; j < r; j++) {
      double z = 0.0;
      for (size_t i = 0; i < D; i++) z += p->X[s * D + i] * p->Q[i * r + j];
      p->XR[s * r + j] = z;
    }
  for (size_t h = 0; h < H; h++)
    for (size_t j = 0; j < r; j++) {
      double z = 0.0;
      for (size_t i = 0; i < D; i++) z += th[h * D + i] * p->Q[i * r + j];
      sub->theta[h * r + j] = z;
    }
  memcpy(sub->theta + H * r, th + H * D, tail * sizeof(double));
  return MOEX_OK;
}

/* The reduced parameters' change lifted back into the expert's: W += (W_r - W_r0) Q^T, the
 * rest copied. */
static void xprob_lift(const xprob *p, const mlp_t *net, const moe_model_t *sub, const double *wq0, double *th) {
  size_t D = p->D, r = p->r, H = net->dims[1], tail = net->n_params - H * D;
  for (size_t h = 0; h < H; h++)
    for (size_t i = 0; i < D; i++) {
      double z = 0.0;
      for (size_t j = 0; j < r; j++) z += (sub->theta[h * r + j] - wq0[h * r + j]) * p->Q[i * r + j];
      th[h * D + i] += z;
    }
  memcpy(th + H * D, sub->theta + H * r, tail * sizeof(double));
}

/* The reduced problem fitted by the polisher (LM when it has at least as many residuals as
 * parameters, else bfgs2), never ending worse than it began. */
static int xprob_fit(fit_moe_ctx *c, const objective_t *obj, moe_model_t *sub, size_t ne, size_t dout,
                     const char *polisher, size_t max_evals, fit_result *res, int *improved) {
  double l0 = NAN, l1 = NAN;
  obj->lossgrad(obj->ctx, sub->theta, NULL, 0, &l0, NULL);
  double *keep_theta = malloc(sub->n_params * sizeof(double));
  if (!keep_theta) return MOEX_ENOMEM;
  memcpy(keep_theta, sub->theta, sub->n_params * sizeof(double));
  fit_settings fs;
  fit_settings_default(&fs);
  int lm = !strcmp(polisher, "lm") && ne * dout >= sub->n_params;
  if (!strcmp(polisher, "lm") && !lm) c->res->polish_fallbacks++;
  fs.optimizer = lm ? "lm" : strcmp(polisher, "lm") ? polisher : "bfgs2";
  fs.max_iter = 100000;
  fs.max_evals = max_evals;
  fs.log_every = 0;
  fs.gtol = 1e-10;
  if (c->ps->lm_solver[0]) fs.lm_solver = c->ps->lm_solver;
  int rc = fit_run(obj, sub->theta, &fs, res);
  if (!rc) {
    /* an LM evaluation is a residual vector or a Jacobian: count each as ne * dout gradients */
    c->res->grads += (double)res->evals * (double)(ne * (lm ? dout : 1));
    obj->lossgrad(obj->ctx, sub->theta, NULL, 0, &l1, NULL);
    if (!(l1 <= l0)) memcpy(sub->theta, keep_theta, sub->n_params * sizeof(double)); /* never worse */
    *improved = 1;
  }
  free(keep_theta);
  return rc;
}

/* The reduced expert as a model on XR, its objective weighted when the weights are not all 1,
 * fitted, and lifted back into th. */
static int xprob_solve(fit_moe_ctx *c, xprob *p, const mlp_t *net, moe_model_t *sub, double *th, const char *polisher,
                       size_t max_evals, fit_result *res) {
  size_t H = net->dims[1], r = p->r;
  int rc = xprob_reduce(p, net, th, sub);
  double *wq0 = malloc(H * r * sizeof *wq0);
  if (!wq0) rc = MOEX_ENOMEM;
  train_data_t td = {.n = p->ne, .d_in = r, .d_out = p->dout, .x = p->XR, .y = p->T};
  train_ctx_t tc = {0};
  objective_t obj;
  wobj wo = {.w = p->Wt, .dout = p->dout};
  if (!rc) rc = train_objective_init(&tc, &obj, sub, &td);
  if (!rc && p->weighted) {
    wo.in = obj;
    wo.r = malloc(obj.n_res * sizeof(double));
    wo.J = malloc(obj.n_res * obj.n_params * sizeof(double));
    if (!wo.r || !wo.J) rc = moex_error(MOEX_ENOMEM, "fit_polish: out of memory");
    obj.lossgrad = w_lossgrad;
    obj.residual = w_residual;
    obj.ctx = &wo;
  }
  int improved = 0;
  if (!rc) {
    memcpy(wq0, sub->theta, H * r * sizeof *wq0);
    rc = xprob_fit(c, &obj, sub, p->ne, p->dout, polisher, max_evals, res, &improved);
  }
  if (!rc && improved) xprob_lift(p, net, sub, wq0, th);
  if (tc.model) train_ctx_free(&tc);
  free(wo.r);
  free(wo.J);
  free(wq0);
  return rc;
}

static int expert_lm(fit_moe_ctx *c, size_t e, const size_t *route, const double *weight, const char *polisher,
                     size_t max_evals, size_t max_p, int *skipped) {
  moe_model_t *m = c->m;
  const moe_layer_t *L = &m->layer[0];
  const mlp_t *net = &L->expert;
  const train_data_t *d = c->d;
  xprob p = {0};
  for (size_t s = 0; s < d->n; s++) p.ne += route[s] == e;
  if (p.ne == 0 || max_evals == 0) return MOEX_OK;
  int rc = xprob_gather(&p, d, route, weight, e);
  if (!rc) rc = xprob_span(&p);
  if (!rc && p.r == 0) rc = moex_error(MOEX_ENUM, "fit_polish: expert %zu serves only zero inputs", e);
  if (!rc && max_p && net->dims[1] * p.r + (net->n_params - net->dims[1] * p.D) > max_p) {
    *skipped = 1; /* too large for LM's QR at this cost: the caller fits it otherwise */
    xprob_free(&p);
    return MOEX_OK;
  }
  moe_model_t *sub = NULL;
  fit_result *res = NULL;
  if (!rc) {
    moe_spec_t ss = {.n_layers = 1};
    ss.layer[0] = moe_layer_dense(p.r, p.dout, net->n_layers, net->width);
    sub = moe_model_alloc(&ss, p.ne);
    res = fit_result_alloc();
    if (!sub || !res) rc = MOEX_ENOMEM;
  }
  if (!rc) rc = xprob_solve(c, &p, net, sub, m->theta + L->experts_off + e * net->n_params, polisher, max_evals, res);
  xprob_free(&p);
  fit_result_free(res);
  moe_model_free(sub);
  return rc;
}

/* ---- any stack: one problem over every expert parameter, routes frozen ---- */

typedef struct {
  fit_moe_ctx *c;
  size_t *const *routes;
  double *const *weights;
  size_t *map;     /* (k) free parameter -> index in theta */
  size_t k;
  double *full, *gfull, *dy;
} frozen_obj;

static int frozen_lossgrad(void *vctx, const double *x, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  frozen_obj *F = vctx;
  fit_moe_ctx *c = F->c;
  const train_data_t *d = c->d;
  if (idx || n_idx) return moex_error(MOEX_EINVAL, "fit_polish: the frozen-route objective is full-batch only");
  for (size_t i = 0; i < F->k; i++) F->full[F->map[i]] = x[i];
  const double *y = fit_routed_forward(c->R, F->full, d->n, d->x, (const size_t *const *)F->routes,
                                       (const double *const *)F->weights);
  if (!y) return MOEX_EINVAL;
  size_t N = d->n * d->d_out;
  double s = 0.0;
  for (size_t i = 0; i < N; i++) {
    double r = y[i] - d->y[i];
    s += r * r;
    F->dy[i] = 2.0 * r / (double)N;
  }
  *loss = s / (double)N;
  if (!grad) return MOEX_OK;
  memset(F->gfull, 0, c->m->n_params * sizeof(double));
  fit_routed_backward(c->R, F->full, F->dy, F->gfull);
  for (size_t i = 0; i < F->k; i++) grad[i] = F->gfull[F->map[i]];
  return MOEX_OK;
}

static int frozen_fit(fit_moe_ctx *c, size_t *const *routes, double *const *weights, const char *opt, size_t max_evals) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  frozen_obj F = {.c = c, .routes = routes, .weights = weights};
  unsigned char *mask = malloc(m->n_params);
  F.map = malloc(m->n_params * sizeof *F.map);
  F.full = malloc(m->n_params * sizeof *F.full);
  F.gfull = malloc(m->n_params * sizeof *F.gfull);
  F.dy = malloc(d->n * d->d_out * sizeof *F.dy);
  double *x = malloc(m->n_params * sizeof *x);
  fit_result *res = fit_result_alloc();
  int rc = mask && F.map && F.full && F.gfull && F.dy && x && res ? MOEX_OK : moex_error(MOEX_ENOMEM, "fit_polish: out of memory");
  if (!rc) {
    fit_routed_expert_mask(m, mask);
    for (size_t i = 0; i < m->n_params; i++)
      if (mask[i]) F.map[F.k++] = i;
    memcpy(F.full, m->theta, m->n_params * sizeof(double));
    for (size_t i = 0; i < F.k; i++) x[i] = m->theta[F.map[i]];
    objective_t obj = {.n_params = F.k, .n_samples = d->n, .n_res = 0, .lossgrad = frozen_lossgrad, .ctx = &F};
    fit_settings fs;
    fit_settings_default(&fs);
    fs.optimizer = opt;
    fs.max_iter = 100000;
    fs.max_evals = max_evals;
    fs.log_every = 0;
    rc = fit_run(&obj, x, &fs, res);
    if (!rc) {
      c->res->grads += (double)res->evals * (double)d->n;
      for (size_t i = 0; i < F.k; i++) m->theta[F.map[i]] = x[i];
    }
  }
  free(mask); free(F.map); free(F.full); free(F.gfull); free(F.dy); free(x);
  fit_result_free(res);
  return rc;
}

int fitm_fit_experts(fit_moe_ctx *c, size_t *const *routes, double *const *weights, const char *polisher,
                     size_t max_evals, double budget) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  const char *p = fitm_polisher(m, polisher);
  int is_auto = !strcmp(polisher, "auto");
  if (budget < (double)d->n) return MOEX_OK;
  /* gather each layer's inputs under the routes, then revive dead units */
  if (!fit_routed_forward(c->R, m->theta, d->n, d->x, (const size_t *const *)routes, (const double *const *)weights))
    return MOEX_EINVAL;
  fitm_count_fwd(c, (double)d->n);
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE) c->res->restarts += revive_units(c, l);
  if (!strcmp(p, "lm")) {
    if (m->n_layers != 1 || m->layer[0].spec.kind != MOE_LAYER_MOE)
      return moex_error(MOEX_EINVAL, "fit_moe: polish=lm needs a single MoE layer (the model has %zu layers); use lm-or-lbfgs, lbfgs or bfgs2", m->n_layers);
    /* each expert the same number of evaluations: the budget spread over all samples */
    size_t ev = (size_t)(budget / (double)(d->n * d->d_out));
    if (ev > max_evals) ev = max_evals;
    /* auto: LM only where the reduced problem has at most FIT_LM_AUTO_MAX_P parameters. LM's QR
     * costs n p^2 per iteration, which the count of per-sample gradients does not see (the
     * 1-6-MoE's experts at m = 32, p = 162, took minutes a run); larger experts go to lbfgs */
    int skipped = 0;
    double g0 = c->res->grads;
    for (size_t e = 0; e < m->layer[0].spec.n_experts; e++) {
      int rc = expert_lm(c, e, routes[0], weights ? weights[0] : NULL, p, ev, is_auto ? FIT_LM_AUTO_MAX_P : 0, &skipped);
      if (rc) return rc;
    }
    if (!skipped) return MOEX_OK;
    double rest = budget - (c->res->grads - g0);
    size_t ev2 = rest > 0 ? (size_t)(rest / (double)d->n) : 0;
    if (ev2 > max_evals) ev2 = max_evals;
    if (ev2 > 25) ev2 -= 20;
    return ev2 ? frozen_fit(c, routes, weights, "lbfgs", ev2) : MOEX_OK;
  }
  if (strcmp(p, "bfgs2") && strcmp(p, "lbfgs"))
    return moex_error(MOEX_EINVAL, "fit_moe: unknown polisher '%s' (auto, lm, bfgs2, lbfgs)", p);
  size_t ev = (size_t)(budget / (double)d->n);
  if (ev > max_evals) ev = max_evals;
  /* a line search may overshoot the cap by its own length: leave it room */
  if (ev > 25) ev -= 20;
  return ev ? frozen_fit(c, routes, weights, p, ev) : MOEX_OK;
}

int fitm_final_polish(fit_moe_ctx *c) {
  moe_model_t *m = c->m;
  double before = fitm_gate_routes(c);
  if (!isfinite(before)) { /* a diverged base fit: nothing to polish */
    c->res->polish_before = c->res->polish_after = c->res->loss = before;
    return fitm_stage_add(c->res, 0.0, NAN, before, before);
  }
  double *keep = malloc(m->n_params * sizeof *keep), best = before;
  if (!keep) return moex_error(MOEX_ENOMEM, "fit_moe: out of memory");
  memcpy(keep, m->theta, m->n_params * sizeof *keep);
  int rc = MOEX_OK;
  /* rounds: in a stack the routes of later layers follow the new outputs of earlier ones, so
   * each round re-routes by the gates and polishes again; a round that does not lower the top-1
   * loss is undone and ends the polish (never worse) */
  for (int round = 0; round < 8 && !rc; round++) {
    /* room for the forwards around it (revival, routes, the check) and LM's rejected steps */
    double room = 0.95 * (fitm_left(c) - 3.0 * (double)c->d->n);
    if (room < 2.0 * (double)c->d->n) break;
    rc = fitm_fit_experts(c, c->routes, c->weights, c->ps->polisher, c->ps->polish_evals, room);
    double after = rc ? NAN : fitm_gate_routes(c);
    if (rc) break;
    if (!(after < best * (1.0 - 1e-9))) {
      memcpy(m->theta, keep, m->n_params * sizeof *keep);
      fitm_gate_routes(c);
      break;
    }
    best = after;
    memcpy(keep, m->theta, m->n_params * sizeof *keep);
    rc = fitm_stage_add(c->res, 0.0, NAN, after, after);
    if (!rc) rc = fitm_progress(c, "stage");
  }
  free(keep);
  c->res->polish_before = before;
  c->res->polish_after = best;
  c->res->loss = best;
  return rc;
}

int fit_polish(moe_model_t *m, const train_data_t *d, const char *polisher, size_t max_evals, double budget,
               double *loss_before, double *loss_after, double *grads_used, size_t *fallbacks) {
  fit_moe_settings ps;
  memset(&ps, 0, sizeof ps);
  snprintf(ps.polisher, sizeof ps.polisher, "%s", polisher ? polisher : "auto");
  ps.polish_evals = max_evals;
  ps.budget = budget;
  fit_moe_result res;
  memset(&res, 0, sizeof res);
  fit_moe_ctx c = {.ps = &ps, .m = m, .d = d, .res = &res};
  c.R = fit_routed_alloc(m, d->n);
  c.rng = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = c.R && c.rng ? MOEX_OK : MOEX_ENOMEM;
  for (size_t l = 0; l < m->n_layers && !rc; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE &&
        (!(c.routes[l] = malloc(d->n * sizeof(size_t))) || !(c.weights[l] = malloc(d->n * sizeof(double)))))
      rc = MOEX_ENOMEM;
  if (!rc) rc = fitm_final_polish(&c);
  if (loss_before) *loss_before = res.polish_before;
  if (loss_after) *loss_after = res.polish_after;
  if (grads_used) *grads_used += res.grads;
  if (fallbacks) *fallbacks = res.polish_fallbacks;
  for (size_t l = 0; l < MOE_MAX_LAYERS; l++) {
    free(c.routes[l]);
    free(c.weights[l]);
  }
  fit_routed_free(c.R);
  if (c.rng) gsl_rng_free(c.rng);
  fit_moe_result_clear(&res);
  return rc;
}
