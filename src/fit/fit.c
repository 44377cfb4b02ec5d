/* fit: settings, stop rules and reasons, training curve, GSL error handler, dispatch. */
#include "fit/fit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_errno.h>

#include "fit/fit_internal.h"
#include "core/moex_error.h"

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

static const char *const optimizer_names[] = {"bfgs2", "cg-pr",  "cg-fr", "steepest",
                                              "nmsimplex2", "lm", "lbfgs", "adam", NULL};

const char *const *fit_optimizer_names(void) { return optimizer_names; }

int fit_optimizer_check(const char *name) {
  if (name == NULL) return moex_error(MOEX_EINVAL, "fit: optimizer name is NULL");
  for (size_t i = 0; optimizer_names[i]; i++)
    if (strcmp(name, optimizer_names[i]) == 0) return 0;
  return moex_error(MOEX_EINVAL,
                    "fit: unknown optimizer '%s' (known: bfgs2 cg-pr cg-fr steepest nmsimplex2 "
                    "lm lbfgs adam)", name);
}

static int schedule_check(const char *name) {
  if (name && (!strcmp(name, "constant") || !strcmp(name, "cosine") || !strcmp(name, "step")))
    return 0;
  return moex_error(MOEX_EINVAL, "fit: unknown Adam schedule '%s' (known: constant cosine step)",
                    name ? name : "(null)");
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
  s->lbfgs_m = 10;
  s->lr = 1e-3;
  s->beta1 = 0.9;
  s->beta2 = 0.999;
  s->eps = 1e-8;
  s->batch = 128;
  s->schedule = "constant";
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

/* ---- GSL error handler ---- */

/* GSL's handler is one process-wide pointer. moex's handler only writes thread-local state, so
 * one installation serves every thread; a counter under a mutex decides when to install it and
 * when to give the previous handler back. */
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t guard_depth;
static gsl_error_handler_t *guard_prev;
static _Thread_local int tl_gsl_errno;
static _Thread_local char tl_gsl_msg[200];

static void fit_gsl_handler(const char *reason, const char *file, int line, int gsl_errno) {
  if (tl_gsl_errno != 0) return; /* keep the first: later ones are usually consequences */
  tl_gsl_errno = gsl_errno ? gsl_errno : GSL_FAILURE;
  snprintf(tl_gsl_msg, sizeof tl_gsl_msg, "%s (GSL %s, %s:%d)", reason ? reason : "?",
           gsl_strerror(gsl_errno), file ? file : "?", line);
}

void fit_gsl_guard_enter(void) {
  pthread_mutex_lock(&guard_mu);
  if (guard_depth++ == 0) guard_prev = gsl_set_error_handler(&fit_gsl_handler);
  pthread_mutex_unlock(&guard_mu);
}

void fit_gsl_guard_leave(void) {
  pthread_mutex_lock(&guard_mu);
  if (guard_depth > 0 && --guard_depth == 0) {
    gsl_set_error_handler(guard_prev);
    guard_prev = NULL;
  }
  pthread_mutex_unlock(&guard_mu);
}

int fit_gsl_error(const char **reason) {
  if (reason) *reason = tl_gsl_msg;
  return tl_gsl_errno;
}

void fit_gsl_error_clear(void) {
  tl_gsl_errno = 0;
  tl_gsl_msg[0] = '\0';
}

/* ---- shared adapter machinery ---- */

double fit_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int fit_eval(fit_ctx *c, const double *x, const size_t *idx, size_t n_idx, double *loss,
             double *grad) {
  c->res->evals++;
  int rc = c->obj->lossgrad(c->obj->ctx, x, idx, n_idx, loss, grad);
  if (rc != 0) {
    /* a failed model call leaves no defined values behind */
    *loss = NAN;
    if (grad)
      for (size_t i = 0; i < c->n; i++) grad[i] = NAN;
  }
  if (rc == MOEX_ENUM) {
    c->nonfinite = 1;
    return 0;
  }
  if (rc != 0) {
    if (c->err == 0) c->err = rc;
    return rc;
  }
  int bad = !isfinite(*loss);
  if (grad)
    for (size_t i = 0; i < c->n && !bad; i++) bad = !isfinite(grad[i]);
  if (bad) c->nonfinite = 1;
  return 0;
}

int fit_eval_cached(fit_ctx *c, const double *x, double *loss, double *grad) {
  size_t nb = c->n * sizeof(double);
  if (!(c->cvalid && memcmp(c->cx, x, nb) == 0)) {
    /* Always with the gradient: GSL asks df at most points where it asked f. */
    c->cvalid = 0;
    int rc = fit_eval(c, x, NULL, 0, &c->cf, c->cg);
    if (rc) return rc;
    memcpy(c->cx, x, nb);
    c->cvalid = 1;
  }
  *loss = c->cf;
  if (grad) memcpy(grad, c->cg, nb);
  return 0;
}

void fit_accept(fit_ctx *c, const double *x, double f, double gnorm) {
  if (c->nonfinite || !isfinite(f)) return;
  memcpy(c->good, x, c->n * sizeof(double));
  c->good_f = f;
  c->good_g = gnorm;
  c->have_good = 1;
}

fit_stop fit_check(fit_ctx *c, size_t iter, double f, int converged, int check_stall) {
  const fit_settings *s = c->s;
  if (!c->f_first_set) {
    c->f_first = f;
    c->f_first_set = 1;
  }
  if (c->nonfinite || !isfinite(f)) return FIT_NONFINITE;
  if (s->diverge > 0 && f > s->diverge * fmax(c->f_first, 1e-300)) return FIT_NONFINITE;
  if (converged) return FIT_CONVERGED;
  if (check_stall && iter > 0 && c->stall_window > 0) {
    double dec = c->f_prev - f;
    double rel = c->f_prev != 0 ? dec / fabs(c->f_prev) : 0.0;
    c->stall_count = rel < s->ftol ? c->stall_count + 1 : 0;
    if (c->stall_count >= c->stall_window) {
      c->f_prev = f;
      return FIT_STALLED;
    }
  }
  c->f_prev = f;
  if (s->max_iter > 0 && iter >= s->max_iter) return FIT_MAX_ITER;
  if (s->max_evals > 0 && c->res->evals >= s->max_evals) return FIT_MAX_ITER;
  if (s->time_budget > 0 && fit_now() - c->t0 >= s->time_budget) return FIT_TIME_BUDGET;
  return FIT_CONTINUE;
}

int fit_log(fit_ctx *c, size_t iter, double loss, double gnorm, double step, double full_loss,
            const double *theta, int force) {
  size_t k = c->s->log_every;
  if (k == 0 || c->last_logged == iter) return 0;
  if (iter % k != 0 && !force) return 0;
  fit_result *r = c->res;
  if (r->n_curve == r->cap_curve) {
    size_t cap = r->cap_curve ? 2 * r->cap_curve : 64;
    fit_curve_row *p = realloc(r->curve, cap * sizeof *p);
    if (p == NULL) {
      if (c->err == 0) c->err = moex_error(MOEX_ENOMEM, "fit: cannot grow the curve to %zu rows", cap);
      return c->err;
    }
    r->curve = p;
    r->cap_curve = cap;
  }
  fit_curve_row *row = &r->curve[r->n_curve++];
  row->iter = iter;
  row->loss = loss;
  row->grad_norm = gnorm;
  row->step = step;
  row->evals = r->evals;
  row->wall = fit_now() - c->t0;
  row->full_loss = full_loss;
  c->last_logged = iter;
  if (c->s->callback) {
    int rc = c->s->callback(c->s->callback_ctx, row, theta);
    if (rc) {
      if (c->err == 0) c->err = rc;
      return rc;
    }
  }
  return 0;
}

fit_stop fit_start_stop(fit_ctx *c, int status) {
  if (c->nonfinite) return FIT_NONFINITE;
  if (status || fit_gsl_error(NULL)) {
    fit_note_gsl(c, status);
    return FIT_NO_PROGRESS;
  }
  return FIT_CONTINUE;
}

void fit_note_gsl(fit_ctx *c, int status) {
  const char *why = NULL;
  int e = fit_gsl_error(&why);
  fit_result *r = c->res;
  if (e) {
    r->gsl_errno = e;
    snprintf(r->message, sizeof r->message, "%s", why);
  } else {
    r->gsl_errno = status;
    snprintf(r->message, sizeof r->message, "GSL status %d: %s", status, gsl_strerror(status));
  }
}

void fit_finish(fit_ctx *c, fit_stop stop, size_t iters, const char *message) {
  fit_result *r = c->res;
  /* Every adapter accepts its iterate before testing it, so the last accepted iterate is the
   * final one; on `nonfinite` or `no_progress` it is the last one known to be good. */
  if (c->have_good) {
    memcpy(c->theta, c->good, c->n * sizeof(double));
    r->loss = c->good_f;
    r->grad_norm = c->good_g;
  } else {
    r->loss = NAN;
    r->grad_norm = NAN;
  }
  r->stop = stop;
  r->iters = iters;
  if (message && r->message[0] == '\0') snprintf(r->message, sizeof r->message, "%s", message);
}

/* ---- dispatch ---- */

static int settings_check(const fit_settings *s, const objective_t *obj) {
  int rc = fit_optimizer_check(s->optimizer);
  if (rc) return rc;
  if (!(s->gtol >= 0)) return moex_error(MOEX_EINVAL, "fit: gtol = %g must be >= 0", s->gtol);
  if (!(s->ftol >= 0)) return moex_error(MOEX_EINVAL, "fit: ftol = %g must be >= 0", s->ftol);
  if (!(s->time_budget >= 0))
    return moex_error(MOEX_EINVAL, "fit: time_budget = %g must be >= 0", s->time_budget);
  if (!(s->diverge >= 0)) return moex_error(MOEX_EINVAL, "fit: diverge = %g must be >= 0", s->diverge);
  const char *o = s->optimizer;
  if (!strcmp(o, "nmsimplex2")) {
    if (!(s->simplex_step > 0))
      return moex_error(MOEX_EINVAL, "fit: simplex_step = %g must be > 0", s->simplex_step);
    if (!(s->xtol >= 0)) return moex_error(MOEX_EINVAL, "fit: xtol = %g must be >= 0", s->xtol);
  } else if (!strcmp(o, "lm")) {
    if (obj->residual == NULL)
      return moex_error(MOEX_EINVAL, "fit: lm needs the objective's residual callback (NULL)");
    if (obj->n_res == 0) return moex_error(MOEX_EINVAL, "fit: lm needs n_res >= 1 (0)");
    if (!(s->lm_avmax > 0))
      return moex_error(MOEX_EINVAL, "fit: lm_avmax = %g must be > 0", s->lm_avmax);
  } else if (!strcmp(o, "lbfgs")) {
    if (s->lbfgs_m < 1) return moex_error(MOEX_EINVAL, "fit: lbfgs_m = %d must be >= 1", s->lbfgs_m);
  } else if (!strcmp(o, "adam")) {
    if (!(s->lr > 0 && isfinite(s->lr))) return moex_error(MOEX_EINVAL, "fit: lr = %g must be > 0", s->lr);
    if (!(s->beta1 >= 0 && s->beta1 < 1))
      return moex_error(MOEX_EINVAL, "fit: beta1 = %g must be in [0, 1)", s->beta1);
    if (!(s->beta2 >= 0 && s->beta2 < 1))
      return moex_error(MOEX_EINVAL, "fit: beta2 = %g must be in [0, 1)", s->beta2);
    if (!(s->eps > 0)) return moex_error(MOEX_EINVAL, "fit: eps = %g must be > 0", s->eps);
    if (s->batch < 1) return moex_error(MOEX_EINVAL, "fit: batch = %zu must be >= 1", s->batch);
    if (s->max_iter < 1)
      return moex_error(MOEX_EINVAL, "fit: adam needs max_iter >= 1 (a fixed step count), got 0");
    rc = schedule_check(s->schedule);
    if (rc) return rc;
    if (!strcmp(s->schedule, "step") && s->step_every < 1)
      return moex_error(MOEX_EINVAL, "fit: step_every = %zu must be >= 1", s->step_every);
    if (!(s->lr_min >= 0)) return moex_error(MOEX_EINVAL, "fit: lr_min = %g must be >= 0", s->lr_min);
  } else {
    if (!(s->step_size > 0))
      return moex_error(MOEX_EINVAL, "fit: step_size = %g must be > 0", s->step_size);
    if (!(s->line_tol > 0)) return moex_error(MOEX_EINVAL, "fit: line_tol = %g must be > 0", s->line_tol);
  }
  return 0;
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
  res->message[0] = '\0';
  res->n_curve = 0;
  if (obj == NULL || theta == NULL || obj->lossgrad == NULL)
    return moex_error(MOEX_EINVAL, "fit: objective, its lossgrad or theta is NULL");
  if (obj->n_params == 0) return moex_error(MOEX_EINVAL, "fit: n_params = 0");
  if (obj->n_samples == 0) return moex_error(MOEX_EINVAL, "fit: n_samples = 0");
  int rc = settings_check(s, obj);
  if (rc) return rc;

  size_t n = obj->n_params;
  fit_ctx c = {0};
  c.obj = obj;
  c.s = s;
  c.res = res;
  c.theta = theta;
  c.n = n;
  c.stall_window = s->stall_iters;
  c.last_logged = (size_t)-1;
  c.good = malloc(3 * n * sizeof(double));
  if (c.good == NULL) return moex_error(MOEX_ENOMEM, "fit: cannot allocate 3 x %zu doubles", n);
  c.cx = c.good + n;
  c.cg = c.good + 2 * n;

  fit_gsl_guard_enter();
  fit_gsl_error_clear();
  c.t0 = fit_now();
  const char *o = s->optimizer;
  if (!strcmp(o, "nmsimplex2")) rc = fit_multimin_simplex(&c);
  else if (!strcmp(o, "lm")) rc = fit_lm(&c);
  else if (!strcmp(o, "lbfgs")) rc = fit_lbfgs(&c);
  else if (!strcmp(o, "adam")) rc = fit_adam(&c);
  else rc = fit_multimin_fdf(&c);
  res->wall = fit_now() - c.t0;
  fit_gsl_error_clear();
  fit_gsl_guard_leave();
  free(c.good);
  if (rc) res->stop = FIT_ERROR;
  return rc;
}
