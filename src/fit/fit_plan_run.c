/* fit_plan_run: a plan carried out on a model, every kind ending in one fit_result. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/moex_error.h"
#include "fit/fit_plan.h"
#include "model/train.h"

void fit_plan_result_clear(fit_plan_result *r) {
  if (r) fit_moe_result_clear(&r->moe);
}

int fit_plan_setup(const fit_plan *p, moe_model_t *m, unsigned long seed) {
  if (!p || !m) return moex_error(MOEX_EINVAL, "fit_plan_setup: NULL argument");
  if (p->kind == FIT_PLAN_ADAM && p->router_opts) return moe_model_router_setup(m, &p->router.router, seed ^ 0x9e3779b9UL);
  return MOEX_OK;
}

void fit_plan_settings(const fit_plan *p, const fit_settings *fs, unsigned long seed, fit_settings *s) {
  *s = *fs;
  s->seed = seed;
  if (p->router_opts) {
    s->optimizer = "adam";
    s->warmup = p->router.warmup;
  }
  if (p->kind == FIT_PLAN_PROTOCOL && p->moe.type != fit_proto_polish) s->log_every = 0; /* its tables instead */
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

/* An MoE protocol. alt, anneal and oracle fit the paper's top-1 model, y = f_k(x) (the one
 * selected expert weighs 1), and that is the model measured; OPT+polish keeps the model its base
 * stage trained (under the switch surrogate y = p_k(x) f_k(x)) and polishes it with the weights
 * p_k(x_s) frozen with the routes. */
static int run_protocol(const fit_plan *p, const fit_settings *s, moe_model_t *m, const train_data_t *d,
                        const size_t *labels, fit_plan_result *out) {
  fit_moe_settings *ps = &out->ps;
  *ps = p->moe;
  ps->budget = s->max_grads;
  ps->adam_grads = (double)s->max_iter * (double)(s->batch < d->n ? s->batch : d->n);
  if (ps->type != fit_proto_polish)
    for (size_t l = 0; l < m->n_layers; l++) {
      m->layer[l].spec.surrogate = GATE_PAPER;
      m->spec.layer[l].surrogate = GATE_PAPER;
    }
  fit_result *res = out->res;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = fit_moe_run(ps, s, m, d, labels, &out->moe, res);
  res->wall = seconds_since(&t0);
  if (rc) return rc;
  const fit_moe_result *pr = &out->moe;
  if (ps->type != fit_proto_polish) {
    /* no optimizer of its own: the result says how the protocol ended */
    res->stop = !strcmp(pr->stop, "routes_stable") ? FIT_CONVERGED : FIT_MAX_ITER;
    res->iters = pr->em_iters ? pr->em_iters : pr->n_stage;
    snprintf(res->message, sizeof res->message, "%s: %s", ps->type->name, pr->stop);
    res->n_curve = 0;
  }
  res->evals = (size_t)ceil(pr->grads / (double)d->n);
  res->loss = pr->loss;
  if (!isfinite(pr->loss)) res->stop = FIT_NONFINITE;
  return MOEX_OK;
}

/* Adam with zero steps: the starting model itself (a warm start measured as it came). */
static int run_zero_steps(const objective_t *obj, moe_model_t *m, fit_result *res) {
  int rc = obj->lossgrad(obj->ctx, m->theta, NULL, 0, &res->loss, NULL);
  res->stop = isfinite(res->loss) ? FIT_MAX_ITER : FIT_NONFINITE;
  res->iters = 0;
  res->evals = 1;
  snprintf(res->message, sizeof res->message, "adam: zero steps");
  return rc;
}

int fit_plan_run(const fit_plan *p, const fit_settings *s, moe_model_t *m, const train_data_t *d,
                 const size_t *labels, fit_plan_result *out) {
  if (!p || !s || !m || !d || !out || !out->res) return moex_error(MOEX_EINVAL, "fit_plan_run: NULL argument");
  memset(&out->moe, 0, sizeof out->moe);
  if (p->kind == FIT_PLAN_PROTOCOL) return run_protocol(p, s, m, d, labels, out);
  train_ctx_t tc;
  objective_t obj;
  int rc = train_objective_init(&tc, &obj, m, d);
  if (rc) return rc;
  if (p->opt == fit_adam && s->max_iter == 0) rc = run_zero_steps(&obj, m, out->res);
  else rc = fit_run(&obj, m->theta, s, out->res);
  train_ctx_free(&tc);
  return rc;
}
