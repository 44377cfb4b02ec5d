/* fit_grow: layer-by-layer growth of a stack ("grow", issue 31). A stack trained as a whole
 * loses the input: layer l+1's gate sees layer l's output, and experts trained for the final
 * output keep no trace of the coordinates a later gate must cut (under oracle routes the second
 * gate of an Eq. (4) stack matched its coordinate's intervals on 33 to 47%). Thm 5.3's network
 * avoids that by construction: its layer l computes the target's coordinate l and passes the
 * others through. grow trains the stack that way, one MoE layer at a time, bottom up:
 *   stage l: the input h_l of layer l (layers below routed by their gates, frozen), the stage
 *   target t_l: the data's output y_l on coordinate l, the layer's own input h_l passed through
 *   on the others (the last layer: y on the coordinates from l on); layer l alone fitted to it as
 *   a one-layer MoE on its share of the budget. init=tree (the default): the stage's routes are
 *   the regression tree's groups of the data by y_l (fit_tree.c), an affine gate set to route by
 *   their cuts (fit_tree_axis_gate; another router fitted to them by logistic regression), every
 *   passed coordinate given an exact identity unit in each expert, the other units ridges along
 *   the coordinate the groups are cut on, and the experts fitted under the gate's routes (the
 *   polish). init=random or kmeans: the stage is the alternating fit (alt, with grow's options);
 * then the final frozen-route polish of the whole stack on what is left. It needs every layer to
 * be an MoE layer R^k -> R^k without a shared expert, with k the data's input and output
 * dimension and at most k layers: the layout of Eq. (4)'s stacks (coordinate l of the output
 * depends on coordinate l of the input only), which it assumes; where the pieces are, it finds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

#define GROW_POLISH_SHARE 0.1 /* of the budget kept for the final polish of the whole stack */

static int grow_check(const moe_model_t *m, const train_data_t *d) {
  size_t k = d->d_in;
  if (d->d_out != k || m->n_layers > k)
    return moex_error(MOEX_EINVAL, "fit_moe: protocol grow needs input and output of one dimension k >= the %zu layers "
                      "(data %zu -> %zu)", m->n_layers, d->d_in, d->d_out);
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_spec_t *s = &m->layer[l].spec;
    if (s->kind != MOE_LAYER_MOE || s->shared_expert || s->d_in != k || s->d_out != k)
      return moex_error(MOEX_EINVAL, "fit_moe: protocol grow needs every layer an MoE layer R^%zu -> R^%zu without a "
                        "shared expert (layer %zu is not)", k, k, l);
  }
  return MOEX_OK;
}

/* Stage l's data: h_l (the input of layer l with the layers below routed by their gates) into x,
 * the stage target into t. Counts the forward. */
static int stage_data(fit_moe_ctx *c, size_t l, double *x, double *t) {
  const train_data_t *d = c->d;
  size_t n = d->n, k = d->d_in;
  if (!fit_routed_forward(c->R, c->m->theta, n, d->x, NULL, NULL)) return MOEX_EINVAL;
  fitm_count_fwd(c, (double)n);
  const double *h = c->R->h[l];
  int last = l + 1 == c->m->n_layers;
  for (size_t s = 0; s < n; s++)
    for (size_t j = 0; j < k; j++) {
      x[s * k + j] = h[s * k + j];
      t[s * k + j] = j == l || (last && j > l) ? d->y[s * k + j] : h[s * k + j];
    }
  return MOEX_OK;
}

/* init=tree at stage l: the tree's groups of the data's inputs by the target's coordinate l alone
 * (the one this layer finishes) into lab. Not of the stage's inputs: the layers below pass the
 * input through only nearly (on Eq. (4), E = 3, K = 10: 0.025 rms, 0.17 at most), and next to a
 * large jump that blur outweighs a small jump elsewhere; the gate then cuts the stage's inputs as
 * near to these groups as it can. Not of the other coordinates: they pass through, and the errors
 * the layers below left in them would draw cuts of their own. */
static int stage_tree(const fit_moe_ctx *c, size_t l, const double *t, size_t E, size_t *lab) {
  size_t n = c->d->n, k = c->d->d_in;
  double *tl = malloc(n * sizeof *tl);
  if (!tl) return moex_error(MOEX_ENOMEM, "fit_grow: out of memory");
  for (size_t s = 0; s < n; s++) tl[s] = t[s * k + l];
  size_t min_leaf = n / (4 * E) > 0 ? n / (4 * E) : 1;
  int rc = fit_tree_groups(n, k, c->d->x, 1, tl, E, min_leaf, lab);
  free(tl);
  return rc;
}

/* The coordinates the stage passes through (its target's column equals its input's) each get the
 * last free hidden unit of every expert as an exact identity: relu(h_j + shift) - shift with
 * shift >= -min h_j, the unit's other weights and the output row's other weights zero, so that
 * the next layer's gate sees the coordinate as it came (the fit that follows starts from an exact
 * pass-through instead of learning one). Returns how many coordinates got a unit. */
static size_t pass_through_units(fit_moe_ctx *c) {
  const train_data_t *d = c->d;
  moe_model_t *S = c->m;
  size_t k = d->d_in, done = 0;
  for (size_t j = 0; j < k; j++) {
    int same = 1;
    double lo = 0.0;
    for (size_t s = 0; s < d->n && same; s++) {
      same = d->y[s * k + j] == d->x[s * k + j];
      lo = fmin(lo, d->x[s * k + j]);
    }
    if (!same) continue;
    for (size_t e = 0; e < S->layer[0].spec.n_experts; e++) {
      moe_expert_view_t v = moe_expert_params(S, 0, e);
      size_t m = v.shape->dims[1];
      if (v.shape->n_layers != 2 || done + 1 >= m) return done;
      size_t u = m - 1 - done;
      double *W1 = v.p + v.shape->w_off[0], *b1 = v.p + v.shape->b_off[0], *W2 = v.p + v.shape->w_off[1],
             *b2 = v.p + v.shape->b_off[1], shift = 1.0 - lo;
      for (size_t i = 0; i < k; i++) W1[u * k + i] = i == j;
      b1[u] = shift;
      for (size_t o = 0; o < k; o++) W2[o * m + u] = o == j;
      for (size_t h = 0; h < m; h++) W2[j * m + h] = h == u;
      b2[j] = -shift;
    }
    done++;
  }
  return done;
}

/* The experts' other hidden units (those pass_through_units left, `used` from the top) as ridges
 * along coordinate `cut` (the one the stage's groups are intervals of): unit u of expert e has
 * weight +-1 on it alone and its kink at the u-th of evenly spaced points across the samples the
 * gate sends e. A piece of Eq. (4) is a function of that coordinate; units in random directions
 * of the stage's k-dimensional input fit it as ridges across it, which LM did not turn (stage
 * training MSE 1e-3 at L = 2 against 2e-7 for the same pieces at L = 1). */
static void cut_units(fit_moe_ctx *c, size_t cut, size_t used) {
  const train_data_t *d = c->d;
  moe_model_t *S = c->m;
  size_t k = d->d_in, E = S->layer[0].spec.n_experts;
  for (size_t e = 0; e < E; e++) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t s = 0; s < d->n; s++)
      if (c->routes[0][s] == e) {
        lo = fmin(lo, d->x[s * k + cut]);
        hi = fmax(hi, d->x[s * k + cut]);
      }
    moe_expert_view_t v = moe_expert_params(S, 0, e);
    size_t m = v.shape->dims[1];
    if (!(hi > lo) || v.shape->n_layers != 2 || used >= m) continue;
    double *W1 = v.p + v.shape->w_off[0], *b1 = v.p + v.shape->b_off[0];
    size_t nu = m - used;
    for (size_t u = 0; u < nu; u++) {
      double sign = u % 2 ? -1.0 : 1.0, knot = lo + (hi - lo) * ((double)u + 0.5) / (double)nu;
      for (size_t i = 0; i < k; i++) W1[u * k + i] = i == cut ? sign : 0.0;
      b1[u] = -sign * knot;
    }
  }
}

/* The coordinate whose intervals best hold the stage's groups (fit_tree_axis_gate's choice). */
static int groups_axis(const fit_moe_ctx *c, size_t *cut) {
  size_t E = c->m->layer[0].spec.n_experts, k = c->d->d_in;
  double *W = calloc(E * k + E, sizeof *W);
  if (!W) return moex_error(MOEX_ENOMEM, "fit_grow: out of memory");
  double share = fit_tree_axis_gate(c->d->n, k, c->d->x, c->labels, E, W, W + E * k);
  *cut = k;
  for (size_t j = 0; j < k && share > 0; j++)
    if (W[(E - 1) * k + j] != 0.0 || W[j] != 0.0) *cut = j;
  free(W);
  return isnan(share) ? MOEX_EINVAL : MOEX_OK;
}

/* A stage from given groups (init=tree): the gate fitted to them, the experts placed through the
 * samples the gate sends them and fitted under its routes (the final polish: the routes the model
 * will take, not the groups, so that the experts learn what the gate does near its cuts). */
static int stage_groups_run(const fit_protocol_type *T, fit_moe_ctx *c) {
  (void)T;
  moe_layer_t *L = &c->m->layer[0];
  double a0 = 0.0;
  if (L->gate.kind == GATE_AFFINE) {
    double *W = c->m->theta + L->gate_off;
    a0 = fit_tree_axis_gate(c->d->n, c->d->d_in, c->d->x, c->labels, L->spec.n_experts, W, W + L->gate.net.b_off[0]);
    if (isnan(a0)) return MOEX_EINVAL;
  }
  int rc = a0 > 0 ? MOEX_OK : fitm_route_init(c); /* init=labels: the gate fitted to the groups */
  if (!rc && !isfinite(fitm_gate_routes(c))) rc = moex_error(MOEX_EINVAL, "fit_grow: a stage's loss is not finite");
  if (!rc && c->ps->xinit_data) rc = fitm_kinks_in_data(c, c->routes, c->weights);
  size_t cut = 0, used = rc ? 0 : pass_through_units(c);
  if (!rc) rc = groups_axis(c, &cut);
  if (!rc && cut < c->d->d_in) cut_units(c, cut, used);
  snprintf(c->res->stop, sizeof c->res->stop, "done");
  return rc ? rc : fitm_final_polish(c);
}

static const fit_protocol_type stage_groups_type = {"grow-stage", stage_groups_run};

/* Layer l of c->m alone, as a one-layer model, fitted by alt to (x, t) on `budget` (init=tree:
 * from stage_tree's groups, as alt's init=labels); its parameters copied back. The stage's
 * compute is added to c's. */
static int stage_fit(fit_moe_ctx *c, size_t l, const double *x, const double *t, double budget) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  moe_layer_t *L = &m->layer[l];
  moe_spec_t spec = {.n_layers = 1, .layer = {L->spec}};
  moe_model_t *S = moe_model_alloc(&spec, d->n);
  size_t *lab = c->ps->rinit == FIT_RINIT_TREE ? malloc(d->n * sizeof *lab) : NULL;
  if (!S || (c->ps->rinit == FIT_RINIT_TREE && !lab)) {
    moe_model_free(S);
    return moex_error(MOEX_ENOMEM, "fit_grow: out of memory");
  }
  memcpy(S->theta, m->theta + L->off, L->n_params * sizeof *S->theta);
  train_data_t sd = {.n = d->n, .d_in = d->d_in, .d_out = d->d_out, .x = x, .y = t};
  fit_moe_settings ps = *c->ps;
  ps.type = lab ? &stage_groups_type : fit_proto_alternate;
  ps.budget = budget;
  ps.progress = NULL;
  if (lab) ps.rinit = FIT_RINIT_LABELS;
  fit_settings fs = *c->fs;
  fs.seed = c->fs->seed + 7919 * (unsigned long)l;
  fit_moe_result r = {0};
  int rc = lab ? stage_tree(c, l, t, L->spec.n_experts, lab) : MOEX_OK;
  if (!rc) rc = fit_moe_run(&ps, &fs, S, &sd, lab, &r, NULL);
  if (!rc) {
    memcpy(m->theta + L->off, S->theta, L->n_params * sizeof *S->theta);
    c->res->grads += r.grads;
    c->res->gate_grads += r.gate_grads;
    c->res->fwd_grads += r.fwd_grads;
    c->res->em_iters += r.em_iters;
    c->res->restarts += r.restarts;
    c->res->polish_fallbacks += r.polish_fallbacks;
  }
  fit_moe_result_clear(&r);
  moe_model_free(S);
  free(lab);
  return rc;
}

static int grow_run(const fit_protocol_type *T, fit_moe_ctx *c) {
  (void)T;
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  int rc = grow_check(m, d);
  if (rc) return rc;
  size_t nk = d->n * d->d_in, L = m->n_layers;
  double *x = malloc(nk * sizeof *x), *t = malloc(nk * sizeof *t);
  if (!x || !t) rc = moex_error(MOEX_ENOMEM, "fit_grow: out of memory");
  double share = (1.0 - GROW_POLISH_SHARE) * c->ps->budget / (double)L;
  for (size_t l = 0; l < L && !rc; l++) {
    rc = stage_data(c, l, x, t);
    double room = fmin(share, fitm_left(c) - 2.0 * (double)d->n);
    if (!rc && room < 2.0 * (double)d->n) {
      rc = moex_error(MOEX_EINVAL, "fit_moe: protocol grow: budget %g too small for stage %zu", c->ps->budget, l);
    }
    if (!rc) rc = stage_fit(c, l, x, t, room);
    double loss = rc ? NAN : fitm_gate_routes(c);
      if (!rc) rc = fitm_stage_add(c->res, 0.0, NAN, loss, loss);
    if (!rc) rc = fitm_progress(c, "stage");
  }
  free(x);
  free(t);
  snprintf(c->res->stop, sizeof c->res->stop, "done");
  return rc ? rc : fitm_final_polish(c);
}

static const fit_protocol_type grow_type = {"grow", grow_run};
const fit_protocol_type *const fit_proto_grow = &grow_type;
