/* plan_record: a fit plan's settings and a protocol's diagnostics as run attributes and tables. */
#include "lib/plan_record.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/moex_error.h"

/* Fit settings as attributes, prefixed "fit_"; Adam's with its router options (0: off). */
static int record_settings(record_run *rec, const fit_plan *p, const fit_settings *fs) {
  const fit_router_settings *ro = &p->router;
  int rc = record_run_set_str(rec, "optimizer", fs->optimizer);
  if (!rc) rc = record_run_set_int(rec, "fit_max_iter", (int64_t)fs->max_iter);
  if (!rc) rc = record_run_set_int(rec, "fit_max_evals", (int64_t)fs->max_evals);
  if (!rc) rc = record_run_set_double(rec, "fit_gtol", fs->gtol);
  if (!rc) rc = record_run_set_double(rec, "fit_ftol", fs->ftol);
  if (!rc) rc = record_run_set_double(rec, "fit_time_budget", fs->time_budget);
  if (!rc && p->kind == FIT_PLAN_ADAM) {
    rc = record_run_set_double(rec, "fit_lr", fs->lr);
    if (!rc) rc = record_run_set_int(rec, "fit_batch", (int64_t)fs->batch);
    if (!rc) rc = record_run_set_str(rec, "fit_schedule", fit_schedule_name(fs->schedule));
    if (!rc) rc = record_run_set_int(rec, "fit_warmup", (int64_t)fs->warmup);
    if (!rc) rc = record_run_set_double(rec, "fit_balance", ro->router.balance);
    if (!rc) rc = record_run_set_double(rec, "fit_zloss", ro->router.zloss);
    if (!rc) rc = record_run_set_int(rec, "fit_noise", ro->router.noise);
    if (!rc) rc = record_run_set_double(rec, "fit_jitter", ro->router.jitter);
    if (!rc) rc = record_run_set_double(rec, "fit_auxfree", ro->router.auxfree);
  }
  return rc;
}

/* Row i of a protocol's EM table and of its stages table. */
static void em_row(const fit_moe_result *r, size_t i, double *row) {
  const fit_em_row *e = &r->em[i];
  double v[6] = {(double)i, e->loss, e->changed, e->agreement, e->assign_loss, e->grads};
  memcpy(row, v, sizeof v);
}

static void stage_row(const fit_moe_result *r, size_t i, double *row) {
  const fit_stage_row *e = &r->stage[i];
  double v[6] = {(double)i, e->T, e->soft_mse, e->hard_mse, e->obj, e->grads};
  memcpy(row, v, sizeof v);
}

/* A table of n rows of six columns at path, row i from fill(r, i). */
static int add_table(record_run *rec, const char *path, const char *const cols[6], size_t n, const fit_moe_result *r,
                     void (*fill)(const fit_moe_result *, size_t, double *)) {
  record_table *t = record_run_add_table(rec, path, 6, cols);
  int rc = t ? MOEX_OK : MOEX_EINVAL;
  for (size_t i = 0; !rc && i < n; i++) {
    double row[6];
    fill(r, i, row);
    rc = record_table_append(t, row);
  }
  return rc;
}

/* An MoE protocol's settings, compute and diagnostics (results/SCHEMA.md, "MoE protocols"). */
static int record_protocol(record_run *rec, const fit_moe_settings *ps, const fit_moe_result *r) {
  char temps[256] = "";
  for (size_t k = 0, len = 0; k < ps->n_temps && len < sizeof temps - 24; k++)
    len += (size_t)snprintf(temps + len, sizeof temps - len, "%s%g", k ? "/" : "", ps->temps[k]);
  int rc = record_run_set_str(rec, "fit_protocol", ps->type->name);
  if (!rc) rc = record_run_set_str(rec, "fit_base", ps->base);
  if (!rc) rc = record_run_set_str(rec, "fit_route_init", fit_rinit_name(ps->rinit));
  if (!rc) rc = record_run_set_str(rec, "fit_expert_init", ps->xinit_data ? "data" : "model");
  if (!rc) rc = record_run_set_str(rec, "fit_polisher", ps->polisher);
  if (!rc) rc = record_run_set_str(rec, "fit_lm_solver", ps->lm_solver);
  if (!rc) rc = record_run_set_int(rec, "fit_polish_evals", (int64_t)ps->polish_evals);
  if (!rc) rc = record_run_set_int(rec, "fit_em_max", (int64_t)ps->em_max);
  if (!rc) rc = record_run_set_int(rec, "fit_em_expert_iters", (int64_t)ps->em_expert_iters);
  if (!rc) rc = record_run_set_int(rec, "fit_path_cap", (int64_t)ps->path_cap);
  if (!rc) rc = record_run_set_int(rec, "fit_soft", (int64_t)ps->soft);
  if (!rc) rc = record_run_set_int(rec, "fit_soft_top", (int64_t)ps->soft_top);
  if (!rc) rc = record_run_set_double(rec, "fit_gate_l2", ps->gate_l2);
  if (!rc) rc = record_run_set_int(rec, "fit_gate_evals", (int64_t)ps->gate_evals);
  if (!rc) rc = record_run_set_str(rec, "fit_temps", temps);
  if (!rc) rc = record_run_set_str(rec, "fit_loss", ps->comp ? "comp" : "mse");
  if (!rc) rc = record_run_set_double(rec, "fit_sigma", ps->sigma);
  if (!rc) rc = record_run_set_double(rec, "fit_compute_x", ps->budget / ps->adam_grads);
  if (!rc) rc = record_run_set_double(rec, "compute_budget", ps->budget);
  if (!rc) rc = record_run_set_double(rec, "compute_adam", ps->adam_grads);
  if (!rc) rc = record_run_set_double(rec, "compute_used", r->grads);
  if (!rc) rc = record_run_set_double(rec, "compute_ratio", r->grads / ps->adam_grads);
  if (!rc) rc = record_run_set_double(rec, "compute_gate", r->gate_grads);
  if (!rc) rc = record_run_set_double(rec, "compute_fwd", r->fwd_grads);
  if (!rc) rc = record_run_set_str(rec, "protocol_stop", r->stop);
  if (!rc) rc = record_run_set_int(rec, "em_iters", (int64_t)r->em_iters);
  if (!rc) rc = record_run_set_int(rec, "expert_restarts", (int64_t)r->restarts);
  if (!rc) rc = record_run_set_int(rec, "polish_fallbacks", (int64_t)r->polish_fallbacks);
  if (!rc) rc = record_run_set_double(rec, "polish_loss_before", r->polish_before);
  if (!rc) rc = record_run_set_double(rec, "polish_loss_after", r->polish_after);
  static const char *const em_cols[6] = {"iter", "loss", "changed", "agreement", "assign_loss", "grads"};
  static const char *const stage_cols[6] = {"stage", "T", "soft_mse", "hard_mse", "objective", "grads"};
  if (!rc && r->n_em) rc = add_table(rec, "protocol/em", em_cols, r->n_em, r, em_row);
  if (!rc && r->n_stage) rc = add_table(rec, "protocol/stages", stage_cols, r->n_stage, r, stage_row);
  return rc;
}

int plan_record(record_run *rec, const fit_plan *p, const moe_spec_t *spec, const fit_settings *s,
                const fit_plan_result *out) {
  int proto = fit_plan_is_moe_protocol(p), rc = MOEX_OK;
  if (proto) rc = record_run_set_str(rec, "fit_spec_surrogate", gate_surrogate_name(spec->layer[0].surrogate));
  if (!rc) rc = record_settings(rec, p, s);
  if (!rc && proto) rc = record_protocol(rec, &out->ps, &out->moe);
  return rc;
}
