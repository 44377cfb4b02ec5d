/* fit: settings, stop reasons, results, the table of optimizers and fit_run, which runs one. */
#include "fit/fit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "core/moex_error.h"
#include "core/moex_gsl.h"
#include "fit/fit_ctx.h"

/* ---- names ---- */

static const char *const stop_names[FIT_N_STOP] = {
  "converged", "stalled", "max_iter", "no_progress", "nonfinite", "time_budget", "error"};

const char *fit_stop_name(fit_stop reason) {
  if ((int)reason < 0 || reason >= FIT_N_STOP) return "unknown";
  return stop_names[reason];
}

int fit_stop_parse(const char *name, fit_stop *out) {
  if (name == NULL || out == NULL) return moex_error(MOEX_EINVAL, "fit: stop name is NULL");
  for (int i = 0; i < FIT_N_STOP; i++)
    if (strcmp(name, stop_names[i]) == 0) {
      *out = (fit_stop)i;
      return 0;
    }
  return moex_error(MOEX_EINVAL, "fit: unknown stop reason '%s'", name);
}

void fit_settings_default(fit_settings *s) {
  memset(s, 0, sizeof *s);
  s->optimizer = "bfgs2";
  s->max_iter = 1000;
  s->max_evals = 0;
  s->gtol = 1e-8;
  s->ftol = 1e-12;
  s->stall_iters = 10;
  s->time_budget = 0;
  s->diverge = 1e12;
  s->log_every = 1;
  s->step_size = 0.01;
  s->line_tol = 0.1;
  s->simplex_step = 0.1;
  s->xtol = 1e-10;
  s->lm_geodesic = 0;
  s->lm_avmax = 0.75;
  s->lm_max_bytes = (size_t)512 << 20;
  s->lm_solver = "auto";
  s->lbfgs_m = 10;
  s->lr = 1e-3;
  s->beta1 = 0.9;
  s->beta2 = 0.999;
  s->eps = 1e-8;
  s->batch = 128;
  s->schedule = FIT_SCHEDULE_CONSTANT;
  s->lr_min = 0;
  s->step_gamma = 0.1;
  s->step_every = 1000;
  s->log_full_loss = 0;
  s->seed = 1;
}

/* ---- result ---- */

fit_result *fit_result_alloc(void) {
  fit_result *r = calloc(1, sizeof *r);
  if (r == NULL) {
    moex_error(MOEX_ENOMEM, "fit: cannot allocate a result");
    return NULL;
  }
  r->stop = FIT_ERROR;
  return r;
}

void fit_result_free(fit_result *res) {
  if (res == NULL) return;
  free(res->curve);
  free(res);
}

/* ---- the optimizers ---- */

static const fit_type *const *const known[] = {&fit_bfgs2, &fit_cg_pr, &fit_cg_fr, &fit_steepest,
                                               &fit_nmsimplex2, &fit_lm, &fit_lbfgs, &fit_adam};
#define N_KNOWN (sizeof known / sizeof known[0])
static const fit_type *list[N_KNOWN + 1];
static pthread_once_t list_once = PTHREAD_ONCE_INIT;

/* The adapters' pointers are values in other objects, not constant expressions here: the list is
 * filled once, on first use, from any thread. */
static void list_fill(void) {
  for (size_t i = 0; i < N_KNOWN; i++) list[i] = *known[i];
}

static const fit_type *const *table(void) {
  pthread_once(&list_once, list_fill);
  return list;
}

const fit_type *const *fit_types(void) { return table(); }

const fit_type *fit_type_find(const char *name) {
  if (name == NULL) {
    moex_error(MOEX_EINVAL, "fit: optimizer name is NULL");
    return NULL;
  }
  const fit_type *const *t = table();
  char known[256] = "";
  size_t len = 0;
  for (size_t i = 0; t[i]; i++) {
    if (strcmp(name, t[i]->name) == 0) return t[i];
    int w = snprintf(known + len, sizeof known - len, "%s%s", i ? " " : "", t[i]->name);
    if (w > 0 && (size_t)w < sizeof known - len) len += (size_t)w;
  }
  moex_error(MOEX_EINVAL, "fit: unknown optimizer '%s' (known: %s)", name, known);
  return NULL;
}

int fit_optimizer_check(const char *name) { return fit_type_find(name) ? 0 : MOEX_EINVAL; }

/* The settings every optimizer shares; the rest is each type's own check. */
static int settings_check(const fit_type *T, const fit_settings *s, const objective_t *obj) {
  if (!(s->gtol >= 0)) return moex_error(MOEX_EINVAL, "fit: gtol = %g must be >= 0", s->gtol);
  if (!(s->ftol >= 0)) return moex_error(MOEX_EINVAL, "fit: ftol = %g must be >= 0", s->ftol);
  if (!(s->time_budget >= 0))
    return moex_error(MOEX_EINVAL, "fit: time_budget = %g must be >= 0", s->time_budget);
  if (!(s->diverge >= 0)) return moex_error(MOEX_EINVAL, "fit: diverge = %g must be >= 0", s->diverge);
  return T->check ? T->check(s, obj) : 0;
}

int fit_run(const objective_t *obj, double *theta, const fit_settings *s, fit_result *res) {
  fit_settings def;
  if (s == NULL) {
    fit_settings_default(&def);
    s = &def;
  }
  if (res == NULL) return moex_error(MOEX_EINVAL, "fit: result is NULL");
  res->stop = FIT_ERROR;
  res->iters = res->evals = 0;
  res->loss = res->grad_norm = NAN;
  res->wall = 0;
  res->gsl_errno = 0;
  res->lm_fallbacks = 0;
  res->message[0] = '\0';
  res->n_curve = 0;
  if (obj == NULL || theta == NULL || obj->lossgrad == NULL)
    return moex_error(MOEX_EINVAL, "fit: objective, its lossgrad or theta is NULL");
  if (obj->n_params == 0) return moex_error(MOEX_EINVAL, "fit: n_params = 0");
  if (obj->n_samples == 0) return moex_error(MOEX_EINVAL, "fit: n_samples = 0");
  const fit_type *T = fit_type_find(s->optimizer);
  if (T == NULL) return MOEX_EINVAL;
  int rc = settings_check(T, s, obj);
  if (rc) return rc;

  fit_ctx c;
  rc = fit_ctx_init(&c, obj, theta, s, res);
  if (rc) return rc;
  moex_gsl_guard_enter();
  moex_gsl_error_clear();
  c.t0 = fit_now();
  rc = T->run(T, &c);
  res->wall = fit_now() - c.t0;
  moex_gsl_error_clear();
  moex_gsl_guard_leave();
  fit_ctx_free(&c);
  if (rc) res->stop = FIT_ERROR;
  return rc;
}
