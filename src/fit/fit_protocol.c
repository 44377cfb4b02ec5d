/* fit_protocol: the MoE protocols' options and defaults (read by fit_plan.c), and the simplest
 * protocol, OPT+polish: any optimizer on half the budget, then frozen-route polishing on the rest.
 * The run of one protocol (fit_moe_run) is fit_moe_run.c's. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_lm_solver.h"
#include "fit/fit_moe_int.h"

static int polish_run(const fit_protocol_type *T, fit_moe_ctx *c) {
  (void)T;
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  fit_settings bs = *c->fs;
  bs.optimizer = c->ps->base;
  double half = 0.5 * c->ps->budget;
  size_t b = bs.batch < d->n ? bs.batch : d->n;
  if (!strcmp(bs.optimizer, "adam")) {
    bs.max_iter = (size_t)(half / (double)b);
    if (bs.max_iter < 1) bs.max_iter = 1;
  } else {
    bs.max_evals = (size_t)(half / (double)d->n);
    if (bs.max_evals > 25) bs.max_evals -= 20; /* room for the last line search */
    if (bs.max_evals < 1) bs.max_evals = 1;
    if (!strcmp(bs.optimizer, "nmsimplex2")) bs.max_evals *= 3; /* loss-only evaluations */
  }
  train_ctx_t tc;
  objective_t obj;
  int rc = train_objective_init(&tc, &obj, m, d);
  if (rc) return rc;
  fit_result *own = c->res_base ? NULL : fit_result_alloc();
  fit_result *res = c->res_base ? c->res_base : own;
  rc = res ? fit_run(&obj, m->theta, &bs, res) : MOEX_ENOMEM;
  train_ctx_free(&tc);
  if (!rc) {
    /* Adam: its steps' minibatches and the final full training loss; the others: evaluations */
    double g = !strcmp(bs.optimizer, "adam") ? (double)res->iters * (double)b + (double)d->n
                                              : (double)res->evals * (double)d->n;
    if (!strcmp(bs.optimizer, "nmsimplex2")) c->res->fwd_grads += g;
    c->res->grads += g;
    double hard = fitm_gate_routes(c);
    rc = fitm_stage_add(c->res, NAN, NAN, hard, res->loss);
    if (!rc) rc = fitm_progress(c, "base");
  }
  fit_result_free(own);
  snprintf(c->res->stop, sizeof c->res->stop, "done");
  return rc ? rc : fitm_final_polish(c);
}

static const fit_protocol_type polish_type = {"polish", polish_run};
const fit_protocol_type *const fit_proto_polish = &polish_type;

const char *fit_rinit_name(fit_rinit_t r) {
  static const char *const names[] = {"random", "kmeans", "labels", "tree"};
  return (size_t)r < sizeof names / sizeof *names ? names[r] : "?";
}

static int parse_size(const char *k, const char *v, size_t lo, size_t hi, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (*v < '0' || *v > '9' || *end || errno || x < lo || x > hi)
    return moex_error(MOEX_EINVAL, "protocol option %s=%s must be an integer in %zu..%zu", k, v, lo, hi);
  *out = (size_t)x;
  return MOEX_OK;
}

static int parse_pos(const char *k, const char *v, double *out) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !(x > 0) || !isfinite(x))
    return moex_error(MOEX_EINVAL, "protocol option %s=%s must be a positive number", k, v);
  *out = x;
  return MOEX_OK;
}

static int parse_option(fit_moe_settings *o, char *kv) {
  char *eq = strchr(kv, '=');
  if (!eq) return moex_error(MOEX_EINVAL, "protocol option '%s' is not key=value", kv);
  *eq = '\0';
  const char *k = kv, *v = eq + 1;
  if (!strcmp(k, "init")) {
    if (!strcmp(v, "random")) o->rinit = FIT_RINIT_RANDOM;
    else if (!strcmp(v, "kmeans")) o->rinit = FIT_RINIT_KMEANS;
    else if (!strcmp(v, "labels")) o->rinit = FIT_RINIT_LABELS;
    else if (!strcmp(v, "tree")) o->rinit = FIT_RINIT_TREE;
    else return moex_error(MOEX_EINVAL, "protocol option init=%s (expected random, kmeans, labels or tree)", v);
  } else if (!strcmp(k, "xinit")) {
    if (!strcmp(v, "data")) o->xinit_data = 1;
    else if (!strcmp(v, "model")) o->xinit_data = 0;
    else return moex_error(MOEX_EINVAL, "protocol option xinit=%s (expected data or model)", v);
  } else if (!strcmp(k, "base")) {
    /* oracle only: an Adam stage under the oracle routes before the polish */
    if (o->type != fit_proto_oracle) return moex_error(MOEX_EINVAL, "protocol option base=%s: only the oracle protocol takes it", v);
    if (strcmp(v, "adam") && strcmp(v, "none"))
      return moex_error(MOEX_EINVAL, "protocol option base=%s (expected adam or none)", v);
    snprintf(o->base, sizeof o->base, "%s", strcmp(v, "none") ? v : "");
  } else if (!strcmp(k, "polish")) {
    if (strcmp(v, "auto") && strcmp(v, "lm") && strcmp(v, "lm-or-lbfgs") && strcmp(v, "bfgs2") && strcmp(v, "lbfgs"))
      return moex_error(MOEX_EINVAL, "protocol option polish=%s (expected auto, lm, lm-or-lbfgs, bfgs2 or lbfgs)", v);
    snprintf(o->polisher, sizeof o->polisher, "%s", v);
  } else if (!strcmp(k, "lm")) {
    if (strlen(v) >= sizeof o->lm_solver || fit_lm_solver_check(v))
      return moex_error(MOEX_EINVAL, "protocol option lm=%s (expected auto, qr, cholesky, mcholesky or svd)", v);
    snprintf(o->lm_solver, sizeof o->lm_solver, "%s", v);
  } else if (!strcmp(k, "pol")) {
    return parse_size(k, v, 1, 1000000, &o->polish_evals);
  } else if (!strcmp(k, "em")) {
    return parse_size(k, v, 1, 10000, &o->em_max);
  } else if (!strcmp(k, "eiters")) {
    return parse_size(k, v, 1, 100000, &o->em_expert_iters);
  } else if (!strcmp(k, "cap")) {
    return parse_size(k, v, 1, 1000000, &o->path_cap);
  } else if (!strcmp(k, "soft")) {
    if (strcmp(v, "0") && strcmp(v, "1")) return moex_error(MOEX_EINVAL, "protocol option soft=%s (expected 0 or 1)", v);
    o->soft = v[0] == '1';
  } else if (!strcmp(k, "top")) {
    return parse_size(k, v, 1, 16, &o->soft_top);
  } else if (!strcmp(k, "gevals")) {
    return parse_size(k, v, 1, 100000, &o->gate_evals);
  } else if (!strcmp(k, "l2")) {
    return parse_pos(k, v, &o->gate_l2);
  } else if (!strcmp(k, "sigma")) {
    return parse_pos(k, v, &o->sigma);
  } else if (!strcmp(k, "loss")) {
    if (!strcmp(v, "mse")) o->comp = 0;
    else if (!strcmp(v, "comp")) o->comp = 1;
    else return moex_error(MOEX_EINVAL, "protocol option loss=%s (expected mse or comp)", v);
  } else if (!strcmp(k, "temps")) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    o->n_temps = 0;
    for (char *save = NULL, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
      if (o->n_temps == FIT_MOE_MAX_TEMPS)
        return moex_error(MOEX_EINVAL, "protocol option temps=%s: more than %d temperatures", v, FIT_MOE_MAX_TEMPS);
      int rc = parse_pos("temps", t, &o->temps[o->n_temps++]);
      if (rc) return rc;
    }
    if (!o->n_temps) return moex_error(MOEX_EINVAL, "protocol option temps=%s names no temperature", v);
  } else {
    return moex_error(MOEX_EINVAL, "unknown protocol option '%s' (init, xinit, base, polish, lm, pol, em, eiters, cap, l2, gevals, temps, loss, sigma)", k);
  }
  return MOEX_OK;
}

void fitm_defaults(fit_moe_settings *o, const fit_protocol_type *type) {
  memset(o, 0, sizeof *o);
  o->type = type;
  /* alt, anneal and oracle place the experts' kinks through served samples: what they can reach */
  o->xinit_data = type != fit_proto_polish;
  o->rinit = type == fit_proto_oracle ? FIT_RINIT_LABELS : type == fit_proto_grow ? FIT_RINIT_TREE : FIT_RINIT_RANDOM;
  snprintf(o->polisher, sizeof o->polisher, "auto");
  snprintf(o->lm_solver, sizeof o->lm_solver, "auto");
  o->polish_evals = 200;
  o->em_max = 20;
  o->em_expert_iters = 20;
  o->path_cap = 4096;
  o->soft = 0;
  o->soft_top = 2;
  o->gate_l2 = 1e-4;
  o->gate_evals = 50;
  static const double temps[] = {1.0, 0.5, 0.25, 0.1, 0.05};
  o->n_temps = 5;
  memcpy(o->temps, temps, sizeof temps);
  o->sigma = 0.1;
}

int fitm_parse_options(fit_moe_settings *o, const char *name, const char *opts) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", opts ? opts : "");
  for (char *save = NULL, *kv = strtok_r(buf, ":", &save); kv; kv = strtok_r(NULL, ":", &save)) {
    int rc = parse_option(o, kv);
    if (rc) return rc;
  }
  if (o->soft && o->type != fit_proto_alternate)
    return moex_error(MOEX_EINVAL, "protocol '%s': soft=1 is an option of alt only", name);
  if (o->type == fit_proto_grow && o->rinit == FIT_RINIT_LABELS)
    return moex_error(MOEX_EINVAL, "protocol '%s': init=labels names the whole stack's paths, not a stage's (grow takes init=tree, random or kmeans)", name);
  return MOEX_OK;
}
