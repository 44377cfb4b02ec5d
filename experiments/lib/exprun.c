/* exprun: fit, measure and record one run. */
#include "lib/exprun.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/metrics.h"
#include "core/moex_error.h"
#include "model/spectext.h"
#include "fit/fit_plan.h"
#include "lib/plan_record.h"
#include "lib/oracle_eval.h"
#include "model/train.h"

/* Records an mlp's W{j}, b{j} under prefix. */
static int record_mlp(record_run *rec, const char *prefix, const mlp_t *net, const double *theta) {
  char path[256];
  for (size_t j = 1; j <= net->n_layers; j++) {
    size_t dw[2] = {net->dims[j], net->dims[j - 1]}, db[1] = {net->dims[j]};
    snprintf(path, sizeof path, "%s/W%zu", prefix, j);
    int rc = record_run_add_double(rec, path, theta + net->w_off[j - 1], 2, dw);
    snprintf(path, sizeof path, "%s/b%zu", prefix, j);
    if (!rc) rc = record_run_add_double(rec, path, theta + net->b_off[j - 1], 1, db);
    if (rc) return rc;
  }
  return MOEX_OK;
}

int exprun_record_params(const moe_model_t *m, record_run *rec) {
  char prefix[128];
  int rc = MOEX_OK;
  for (size_t l = 0; l < m->n_layers && !rc; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (L->spec.kind == MOE_LAYER_DENSE) {
      snprintf(prefix, sizeof prefix, "params/layer%zu/dense", l);
      rc = record_mlp(rec, prefix, &L->expert, m->theta + L->off);
      continue;
    }
    snprintf(prefix, sizeof prefix, "params/layer%zu/router", l);
    if (!gate_has_net(&L->gate)) { /* the affine router: W1 (E, d_in), b1 (E), as a one-layer net */
      size_t dims[2] = {L->spec.n_experts, L->spec.d_in};
      char path[160];
      snprintf(path, sizeof path, "%s/W", prefix);
      rc = record_run_add_double(rec, path, m->theta + L->gate_off, 2, dims);
    } else {
      rc = record_mlp(rec, prefix, &L->gate.net, m->theta + L->gate_off);
    }
    if (!rc && L->sel_bias) { /* adam:auxfree: selects at evaluation too */
      size_t dims[1] = {L->spec.n_experts};
      char path[160];
      snprintf(path, sizeof path, "%s/select_bias", prefix);
      rc = record_run_add_double(rec, path, L->sel_bias, 1, dims);
    }
    /* auto-encoder experts: a shared encoder under the layer, each expert's under its group */
    char sub[160];
    if (!rc && L->spec.enc_dim && L->spec.enc_shared) {
      snprintf(sub, sizeof sub, "params/layer%zu/enc", l);
      rc = record_mlp(rec, sub, &L->enc, m->theta + moe_layer_enc_off(L, 0));
      snprintf(sub, sizeof sub, "params/layer%zu/dec", l);
      if (!rc && L->spec.decoder) rc = record_mlp(rec, sub, &L->dec, m->theta + moe_layer_dec_off(L, 0));
    }
    for (size_t e = 0; e < L->spec.n_experts && !rc; e++) {
      snprintf(prefix, sizeof prefix, "params/layer%zu/expert%zu", l, e);
      rc = record_mlp(rec, prefix, &L->expert, m->theta + moe_layer_expert_off(L, e));
      if (!rc && L->spec.enc_dim && !L->spec.enc_shared) {
        snprintf(sub, sizeof sub, "%s/enc", prefix);
        rc = record_mlp(rec, sub, &L->enc, m->theta + moe_layer_enc_off(L, e));
        snprintf(sub, sizeof sub, "%s/dec", prefix);
        if (!rc && L->spec.decoder) rc = record_mlp(rec, sub, &L->dec, m->theta + moe_layer_dec_off(L, e));
      }
    }
    if (!rc && L->spec.shared_expert) {
      snprintf(prefix, sizeof prefix, "params/layer%zu/shared", l);
      rc = record_mlp(rec, prefix, &L->expert, m->theta + L->shared_off);
    }
  }
  /* the tensors are only readable with the layer list that shapes them */
  return rc ? rc : exprun_record_spec(&m->spec, rec);
}

/* The model spec as one text attribute `model_spec` (model/spectext.h), so that a reader can
 * rebuild the model from the record alone (src/tools/moex_torch.py, moex-eval). */
int exprun_record_spec(const moe_spec_t *spec, record_run *rec) {
  char text[MOE_MAX_LAYERS * 160];
  int rc = spectext_format(spec, text, sizeof text);
  return rc ? rc : record_run_set_str(rec, "model_spec", text);
}

int exprun_set_attrs(record_run *rec, const exprun_attr *a, size_t n) {
  int rc = MOEX_OK;
  for (size_t k = 0; k < n && !rc; k++) {
    if (a[k].type == 's') rc = record_run_set_str(rec, a[k].name, a[k].s);
    else if (a[k].type == 'i') rc = record_run_set_int(rec, a[k].name, a[k].i);
    else if (a[k].type == 'd') rc = record_run_set_double(rec, a[k].name, a[k].d);
    else rc = moex_error(MOEX_EINVAL, "exprun: attribute '%s' of unknown type '%c'", a[k].name, a[k].type);
  }
  return rc;
}

int exprun_set_figure(record_run *rec, const char *figure, const char *series, const char *x_name,
                      double x, const char *claim, double bound_slope, double claim_tol,
                      const char *claim_ref, double paper_value) {
  int rc = record_run_set_str(rec, "figure", figure);
  if (!rc) rc = record_run_set_str(rec, "series", series);
  if (!rc) rc = record_run_set_str(rec, "x_name", x_name);
  if (!rc) rc = record_run_set_double(rec, "x", x);
  if (!rc) rc = record_run_set_str(rec, "claim", claim);
  if (!rc) rc = record_run_set_double(rec, "bound_slope", bound_slope);
  if (!rc) rc = record_run_set_double(rec, "claim_tol", claim_tol);
  if (!rc) rc = record_run_set_str(rec, "claim_ref", claim_ref ? claim_ref : "");
  if (!rc) rc = record_run_set_double(rec, "paper_value", paper_value);
  return rc;
}

/* Routing diagnostics of the last forward (over the evaluation set). */
static int record_routing(const moe_model_t *m, const exprun_data_t *d, record_run *rec) {
  size_t n = d->n_eval, first_moe = m->n_layers;
  char name[96];
  int rc = MOEX_OK;
  for (size_t l = 0; l < m->n_layers && !rc; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (L->spec.kind != MOE_LAYER_MOE) continue;
    if (first_moe == m->n_layers) first_moe = l;
    size_t E = L->spec.n_experts, *count = malloc(E * sizeof *count);
    double *share = malloc(E * sizeof *share);
    metrics_load_t ld;
    rc = !count || !share ? MOEX_ENOMEM : metrics_load(moe_model_layer_choice(m, l), n, L->spec.top_k, E, count, share, &ld);
    if (!rc) {
      snprintf(name, sizeof name, "routing/layer%zu/share", l);
      size_t dims[1] = {E};
      rc = record_run_add_double(rec, name, share, 1, dims);
      snprintf(name, sizeof name, "route_l%zu_entropy", l);
      if (!rc) rc = record_run_set_double(rec, name, ld.entropy);
      snprintf(name, sizeof name, "route_l%zu_max_share", l);
      if (!rc) rc = record_run_set_double(rec, name, ld.max_share);
      snprintf(name, sizeof name, "route_l%zu_dead", l);
      if (!rc) rc = record_run_set_int(rec, name, (int64_t)ld.dead);
    }
    free(count);
    free(share);
  }
  if (rc || first_moe == m->n_layers) return rc;
  size_t n_paths = moe_model_n_paths(m), used = 0;
  rc = metrics_paths(moe_model_paths(m), n, n_paths, &used, NULL);
  if (!rc) rc = record_run_set_int(rec, "paths_used", (int64_t)used);
  if (!rc) rc = record_run_set_int(rec, "paths_max", (int64_t)n_paths);
  if (rc) return rc;
  /* experts of the first MoE layer against the atlas' charts */
  if (d->chart_eval && d->n_charts) {
    const moe_layer_t *L = &m->layer[first_moe];
    metrics_agree_t *a = metrics_agree_alloc(L->spec.n_experts, d->n_charts);
    rc = a ? metrics_agree(a, moe_model_layer_choice(m, first_moe), n, L->spec.top_k, d->chart_eval, d->member_eval)
           : MOEX_ENOMEM;
    if (!rc) rc = record_run_set_double(rec, "route_purity", a->overall_purity);
    if (!rc) rc = record_run_set_double(rec, "route_chart_agreement", a->match_agreement);
    if (!rc) rc = record_run_set_double(rec, "route_accuracy", a->routing_accuracy_best);
    metrics_agree_free(a);
  }
  /* routing paths against the pieces of a piecewise target */
  if (!rc && d->piece_eval && d->n_pieces && n_paths <= METRICS_AGREE_MAX && d->n_pieces <= METRICS_AGREE_MAX) {
    metrics_agree_t *a = metrics_agree_alloc(n_paths, d->n_pieces);
    rc = a ? metrics_agree(a, moe_model_paths(m), n, 1, d->piece_eval, NULL) : MOEX_ENOMEM;
    if (!rc) rc = record_run_set_double(rec, "path_piece_purity", a->overall_purity);
    if (!rc) rc = record_run_set_double(rec, "path_piece_agreement", a->match_agreement);
    metrics_agree_free(a);
  }
  return rc;
}

/* The evaluation subset: every (n_eval / k)-th point, so that it spans the whole set (the
 * routing map needs the whole circle, the whole square). */
static int record_eval_subset(const moe_model_t *m, const exprun_data_t *d, const double *ye, record_run *rec) {
  size_t k = d->n_keep < d->n_eval ? d->n_keep : d->n_eval, nc = d->coord_eval ? d->n_coord : 0;
  double *x = malloc(k * d->d_in * sizeof *x), *yt = malloc(k * d->d_out * sizeof *yt);
  double *yp = malloc(k * d->d_out * sizeof *yp), *c = malloc((nc ? k * nc : 1) * sizeof *c);
  int64_t *path = malloc(k * sizeof *path), *label = malloc(k * sizeof *label);
  const size_t *lab = d->chart_eval ? d->chart_eval : d->piece_eval;
  int rc = !x || !yt || !yp || !c || !path || !label ? moex_error(MOEX_ENOMEM, "exprun: out of memory") : MOEX_OK;
  for (size_t j = 0; j < k && !rc; j++) {
    size_t i = j * d->n_eval / k;
    memcpy(x + j * d->d_in, d->x_eval + i * d->d_in, d->d_in * sizeof *x);
    memcpy(yt + j * d->d_out, d->y_eval + i * d->d_out, d->d_out * sizeof *yt);
    memcpy(yp + j * d->d_out, ye + i * d->d_out, d->d_out * sizeof *yp);
    if (nc) memcpy(c + j * nc, d->coord_eval + i * nc, nc * sizeof *c);
    path[j] = (int64_t)moe_model_paths(m)[i];
    label[j] = lab ? (int64_t)lab[i] : -1;
  }
  size_t dx[2] = {k, d->d_in}, dy[2] = {k, d->d_out}, dc[2] = {k, nc}, d1[1] = {k};
  if (!rc) rc = record_run_add_double(rec, "eval/x", x, 2, dx);
  if (!rc) rc = record_run_add_double(rec, "eval/y_true", yt, 2, dy);
  if (!rc) rc = record_run_add_double(rec, "eval/y_pred", yp, 2, dy);
  if (!rc && moe_model_n_paths(m) > 1) rc = record_run_add_int(rec, "eval/path", path, 1, d1);
  if (!rc && lab) rc = record_run_add_int(rec, "eval/label", label, 1, d1);
  if (!rc && nc) rc = record_run_add_double(rec, "eval/coord", c, 2, dc);
  free(x); free(yt); free(yp); free(c); free(path); free(label);
  return rc;
}

/* Routing load during training: at every curve row, the share of a fixed subset of training
 * samples that each expert of each MoE layer receives (table routing/load_curve). */
typedef struct {
  moe_model_t *m;
  const exprun_data_t *d;
  size_t n_sub;
  record_table *t;
  double *row;
  int rc;
} load_ctx_t;

static int load_callback(void *vctx, const fit_curve_row *cr, const double *theta) {
  load_ctx_t *c = vctx;
  moe_model_t *m = c->m;
  /* the model runs on theta where it lies, its own block put back after: theta may be the
   * fitter's other buffer, and the model's block its fallback iterate (Adam's two buffers). The
   * forward only overwrites caches the next evaluation rebuilds. */
  double *own = m->theta;
  m->theta = (double *)theta;
  const double *y = moe_model_forward(m, c->n_sub, c->d->x_train);
  m->theta = own;
  if (!y) return 0;
  size_t k = 0;
  c->row[k++] = (double)cr->iter;
  for (size_t l = 0; l < m->n_layers; l++) {
    const size_t *cnt = moe_model_layer_counts(m, l);
    if (!cnt) continue;
    double slots = (double)(c->n_sub * m->layer[l].spec.top_k);
    for (size_t e = 0; e < m->layer[l].spec.n_experts; e++) c->row[k++] = (double)cnt[e] / slots;
  }
  if (!c->rc) c->rc = record_table_append(c->t, c->row);
  return 0;
}

/* Sets up the load table when the model has MoE layers and the fit logs a curve. */
static int load_setup(load_ctx_t *lc, moe_model_t *m, const exprun_data_t *d, record_run *rec, fit_settings *s) {
  memset(lc, 0, sizeof *lc);
  size_t ncols = 1;
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE) ncols += m->layer[l].spec.n_experts;
  if (ncols == 1 || s->log_every == 0) return MOEX_OK;
  char **names = calloc(ncols, sizeof *names);
  int rc = names ? MOEX_OK : MOEX_ENOMEM;
  size_t k = 0;
  if (!rc) names[k++] = strdup("iter");
  for (size_t l = 0; l < m->n_layers && !rc; l++) {
    if (m->layer[l].spec.kind != MOE_LAYER_MOE) continue;
    for (size_t e = 0; e < m->layer[l].spec.n_experts; e++) {
      char buf[48];
      snprintf(buf, sizeof buf, "layer%zu_e%zu", l, e);
      names[k++] = strdup(buf);
    }
  }
  for (size_t i = 0; i < k && !rc; i++)
    if (!names[i]) rc = MOEX_ENOMEM;
  if (!rc) lc->t = record_run_add_table(rec, "routing/load_curve", ncols, (const char *const *)names);
  for (size_t i = 0; i < k; i++) free(names[i]);
  free(names);
  if (rc) return moex_error(rc, "exprun: out of memory");
  if (!lc->t) return MOEX_EINVAL;
  lc->row = malloc(ncols * sizeof *lc->row);
  if (!lc->row) return moex_error(MOEX_ENOMEM, "exprun: out of memory");
  lc->m = m;
  lc->d = d;
  lc->n_sub = d->n_train < 512 ? d->n_train : 512;
  if (lc->n_sub > m->n_max) lc->n_sub = m->n_max;
  s->callback = load_callback;
  s->callback_ctx = lc;
  return MOEX_OK;
}

/* The same experts under oracle routes (lib/oracle_eval.h), where the evaluation set's labels
 * are known: the chart of largest rho, else the piece. A model the oracle cannot route (no MoE
 * layer, top-K > 1, too many paths) gets no oracle attributes; that is not an error. */
static int record_oracle(const moe_model_t *m, const exprun_data_t *d, record_run *rec) {
  const size_t *lab = d->chart_eval ? d->chart_eval : d->piece_eval;
  size_t nl = d->chart_eval ? d->n_charts : d->n_pieces, n_moe = 0, topk = 1;
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE) {
      n_moe++;
      if (m->layer[l].spec.top_k != 1) topk = 0;
    }
  if (!lab || !nl || !n_moe || !topk || moe_model_n_paths(m) > ORACLE_MAX_PATHS || nl > ORACLE_MAX_PATHS) return MOEX_OK;
  oracle_eval_t o;
  int rc = oracle_eval(m, d->n_eval, d->x_eval, d->y_eval, lab, nl, &o);
  if (rc) return rc;
  rc = record_run_set_double(rec, "oracle_sup_err", o.sup);
  if (!rc) rc = record_run_set_double(rec, "oracle_eval_mse", o.mse);
  if (!rc) rc = record_run_set_double(rec, "oracle_agreement", o.agreement);
  if (!rc) rc = record_run_set_int(rec, "pieces_distinct_paths", (int64_t)o.distinct);
  if (!rc) rc = record_run_set_int(rec, "oracle_labels", (int64_t)o.n_labels_seen);
  /* the share of the labels (pieces, charts) served by distinct paths: the scorecard's "E^L pieces
   * on distinct paths" is judged on it */
  if (!rc) rc = record_run_set_double(rec, "pieces_served_share",
                                      o.n_labels_seen ? (double)o.distinct / (double)o.n_labels_seen : NAN);
  return rc;
}

/* The errors of the best constant predictor on the test and evaluation sets (null_test_mse,
 * null_eval_mse, null_sup_err): the report calls a series whose error stays near them "not
 * learned" (src/report/report_judge.c). */
static int record_null_errors(const exprun_data_t *d, record_run *rec) {
  metrics_err_t nt = {.mse = NAN, .rmse = NAN, .sup = NAN}, ne = nt;
  if (d->n_test) metrics_null_errors(d->y_test, d->n_test, d->d_out, &nt);
  if (d->n_eval) metrics_null_errors(d->y_eval, d->n_eval, d->d_out, &ne);
  int rc = record_run_set_double(rec, "null_test_mse", nt.mse);
  if (!rc) rc = record_run_set_double(rec, "null_eval_mse", ne.mse);
  if (!rc) rc = record_run_set_double(rec, "null_sup_err", ne.sup);
  return rc;
}

/* Measures the model on d and records it (see exprun.h): split out of exprun_fit so that a
 * model fitted elsewhere (moex-eval) is measured and recorded by the same code. */
int exprun_measure(moe_model_t *m, const exprun_data_t *d, record_run *rec) {
  double *yt = malloc((d->n_test > d->n_eval ? d->n_test : d->n_eval) * d->d_out * sizeof *yt);
  if (!yt) return moex_error(MOEX_ENOMEM, "exprun: out of memory");
  int rc;
  metrics_err_t et = {.mse = NAN, .rmse = NAN, .sup = NAN}, ee = et;
  if (d->n_test && !train_predict(m, d->n_test, d->x_test, yt)) metrics_errors(yt, d->y_test, d->n_test, d->d_out, &et);
  /* the evaluation set last, in one forward, so the routing record is of this set */
  const double *ye = moe_model_forward(m, d->n_eval, d->x_eval);
  if (ye) metrics_errors(ye, d->y_eval, d->n_eval, d->d_out, &ee);
  rc = record_run_set_double(rec, "test_mse", et.mse);
  if (!rc) rc = record_run_set_double(rec, "test_rmse", et.rmse);
  if (!rc) rc = record_run_set_double(rec, "sup_err", ee.sup);
  if (!rc) rc = record_run_set_double(rec, "eval_mse", ee.mse);
  if (!rc) rc = record_null_errors(d, rec);
  if (!rc && ye) rc = record_routing(m, d, rec);
  if (!rc && ye && d->piece_eval && d->n_pieces) {
    double *pmax = malloc(d->n_pieces * sizeof *pmax);
    size_t *pcnt = malloc(d->n_pieces * sizeof *pcnt), empty = 0;
    rc = !pmax || !pcnt ? MOEX_ENOMEM : metrics_piece_max(ye, d->y_eval, d->piece_eval, d->n_eval, d->d_out, d->n_pieces, pmax, pcnt, &empty);
    size_t dims[1] = {d->n_pieces};
    if (!rc) rc = record_run_add_double(rec, "metrics/per_piece_max_err", pmax, 1, dims);
    if (!rc) rc = record_run_set_int(rec, "pieces_empty", (int64_t)empty);
    free(pmax);
    free(pcnt);
  }
  if (!rc && ye) rc = record_oracle(m, d, rec);
  if (!rc && ye && d->n_keep) rc = record_eval_subset(m, d, ye, rec);
  if (!rc) rc = exprun_record_params(m, rec);
  free(yt);
  return rc;
}

int exprun_fit(const moe_spec_t *spec, unsigned long seed, const exprun_data_t *d,
               const fit_settings *fs, record_run *rec) {
  if (!fs) return moex_error(MOEX_EINVAL, "exprun: NULL argument");
  fit_plan plan;
  return fit_plan_parse(fs->optimizer, &plan) ? MOEX_EINVAL : exprun_fit_plan(spec, seed, d, &plan, fs, rec);
}

int exprun_fit_plan(const moe_spec_t *spec, unsigned long seed, const exprun_data_t *d, const fit_plan *plan,
                    const fit_settings *fs, record_run *rec) {
  if (!spec || !d || !plan || !fs || !rec) return moex_error(MOEX_EINVAL, "exprun: NULL argument");
  /* A warm start has no initialisation to do: a protocol's xinit=data (every first-layer kink
   * placed through a served sample) would throw the start away (alt from Thm 5.3's construction:
   * training MSE 5.2e-7 before, 3.2e-2 after that step; with the model's own kinks it ends at
   * 1.2e-7). The protocol then starts from the experts as given, and records fit_expert_init=model. */
  fit_plan warm;
  if (d->theta0 && fit_plan_is_moe_protocol(plan) && plan->moe.xinit_data) {
    warm = *plan;
    warm.moe.xinit_data = 0;
    plan = &warm;
  }
  size_t n_max = d->n_eval > d->n_test ? d->n_eval : d->n_test;
  if (n_max < 256) n_max = 256;
  moe_model_t *m = moe_model_alloc(spec, n_max);
  if (!m) return MOEX_EINVAL;
  if (d->theta0) memcpy(m->theta, d->theta0, m->n_params * sizeof *m->theta);
  else moe_model_init_params(m, seed);
  /* adam:k=v...: the router options go into the model before the objective sees its size */
  if (fit_plan_setup(plan, m, seed)) {
    moe_model_free(m);
    return MOEX_EINVAL;
  }
  train_data_t td = {.n = d->n_train, .d_in = d->d_in, .d_out = d->d_out, .x = d->x_train, .y = d->y_train};
  fit_plan_result out = {.res = fit_result_alloc()};
  fit_settings s;
  fit_plan_settings(plan, fs, seed, &s);
  load_ctx_t lc = {0};
  int rc = out.res ? load_setup(&lc, m, d, rec, &s) : MOEX_ENOMEM;
  if (!rc) rc = fit_plan_run(plan, &s, m, &td, d->label_train, &out);
  if (!rc) rc = lc.rc;
  fit_result *res = out.res;
  if (rc) goto done;

  int finite = res->stop != FIT_NONFINITE;
  rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_set_str(rec, "status", finite ? "ok" : fit_stop_name(res->stop));
  if (!rc) rc = record_run_set_str(rec, "stop", fit_stop_name(res->stop));
  if (!rc) rc = record_run_set_str(rec, "stop_message", res->message);
  if (!rc) rc = record_run_set_int(rec, "iters", (int64_t)res->iters);
  if (!rc) rc = record_run_set_int(rec, "evals", (int64_t)res->evals);
  if (!rc) rc = record_run_set_double(rec, "wall_s", res->wall);
  if (!rc) rc = record_run_set_double(rec, "train_loss", res->loss);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)m->n_params);
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)moe_spec_n_active(spec));
  if (!rc) rc = record_run_set_str(rec, "surrogate", gate_surrogate_name(m->spec.layer[0].surrogate));
  if (!rc) rc = plan_record(rec, plan, spec, &s, &out);
  if (rc) goto done;

  rc = exprun_measure(m, d, rec);
  if (!rc && d->after_fit) rc = d->after_fit(d->after_ctx, m, rec);
  if (!rc && res->n_curve) {
    const char *cols[] = {"iter", "loss", "grad_norm", "step", "evals", "wall_s", "full_loss"};
    record_table *t = record_run_add_table(rec, "curve", 7, cols);
    if (!t) rc = MOEX_EINVAL;
    for (size_t i = 0; !rc && i < res->n_curve; i++) {
      const fit_curve_row *c = &res->curve[i];
      double row[7] = {(double)c->iter, c->loss, c->grad_norm, c->step, (double)c->evals, c->wall, c->full_loss};
      rc = record_table_append(t, row);
    }
  }
  if (!rc) rc = record_run_summarize(rec, NULL);
done:
  fit_plan_result_clear(&out);
  free(lc.row);
  fit_result_free(out.res);
  moe_model_free(m);
  return rc;
}
