/* fit_adam: Adam (Kingma & Ba, with bias correction, as in PyTorch) on minibatches.
 * Minibatches come from epoch shuffling with a seeded mt19937: each epoch is a permutation of
 * the training samples cut into batches of `batch`, the last one possibly shorter (PyTorch's
 * drop_last = False). A fixed step count; stops early only on NaN/Inf or divergence, the
 * evaluation limit or the time budget. The final loss and gradient norm are on the full
 * training set at the final theta (one more evaluation); on NaN/Inf, the last iterate with a
 * finite minibatch loss, that loss and its minibatch gradient norm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "fit/fit.h"
#include "fit/fit_ctx.h"
#include "core/kernels.h"
#include "core/moex_error.h"

/* Learning rate of step t (1-based) out of T: the linear warm-up, then the schedule as if it
 * started after the warm-up (the schedules are unchanged when warmup = 0). */
double fit_adam_lr(const fit_settings *s, size_t t, size_t T) {
  if (s->warmup) {
    if (t <= s->warmup) return s->lr * (double)t / (double)s->warmup;
    t -= s->warmup;
    T = T > s->warmup ? T - s->warmup : 1;
  }
  switch (s->schedule) {
    case FIT_SCHEDULE_COSINE:
      return s->lr_min + 0.5 * (s->lr - s->lr_min) * (1.0 + cos(M_PI * (double)(t - 1) / (double)T));
    case FIT_SCHEDULE_STEP:
      return s->lr * pow(s->step_gamma, (double)((t - 1) / s->step_every));
    default:
      return s->lr;
  }
}

static double norm2(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

/* Elementwise, so the vectorized copies (-O3, -fno-math-errno: sqrt inlined) give the scalar
 * loop's bits; only step2's sum keeps its order, as a reduction. */
KERN_CLONES double fit_adam_update(double *theta, const double *g, double *m, double *v, size_t n, double lr, double beta1,
                       double beta2, double eps, double c1, double c2) {
  double step2 = 0;
  for (size_t i = 0; i < n; i++) {
    m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
    double d = lr * (m[i] * c1) / (sqrt(v[i] * c2) + eps);
    theta[i] -= d;
    step2 += d * d;
  }
  return step2;
}

/* fit_adam_update out of place, with |step|^2 only when asked for (the curve's rows): out = in -
 * the step, m and v in place. out gets the bits fit_adam_update gives theta (the same operations:
 * x - d is what x -= d computes), and without the in-order reduction the loop vectorizes whole.
 * The adam optimizer alternates two iterates, so that the one before the step, its fallback,
 * survives without a copy (tests/test_fit.c holds the loop against the in-place original). */
KERN_CLONES double fit_adam_update_to(double *restrict out, const double *restrict in, const double *restrict g,
                                      double *restrict m, double *restrict v, size_t n, double lr, double beta1,
                                      double beta2, double eps, double c1, double c2, int want_step2) {
  if (want_step2) {
    double step2 = 0;
    for (size_t i = 0; i < n; i++) {
      m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
      double d = lr * (m[i] * c1) / (sqrt(v[i] * c2) + eps);
      out[i] = in[i] - d;
      step2 += d * d;
    }
    return step2;
  }
  for (size_t i = 0; i < n; i++) {
    m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
    out[i] = in[i] - lr * (m[i] * c1) / (sqrt(v[i] * c2) + eps);
  }
  return 0.0;
}

/* fit_accept of a finite minibatch loss without its copy of theta: the iterate stays where it is
 * (the other of the two buffers once the update has run) until the run ends. */
static void accept_before_update(fit_ctx *c, double loss) {
  c->good_f = loss;
  c->good_g = NAN;
  c->have_good = 1;
}

/* The iterates alternate between two buffers (tb[0] is the caller's theta), and so do the
 * gradients: the iterate and gradient of the last accepted minibatch (the nonfinite fallback)
 * survive the next update and evaluation without a copy. The gradient norm and the step length
 * are computed only where they are read (the curve's rows, the fallback), not every step. Every
 * bit of the fit is that of the in-place loop that computed both every step (tests/test_fit.c
 * keeps that loop as the reference). The objective must not write into the vector it is handed
 * (train.c's evaluates the model on it in place of its own block). */
static int adam_run(const fit_type *T, fit_ctx *c) {
  (void)T;
  const fit_settings *s = c->s;
  size_t n = c->n, N = c->obj->n_samples;
  size_t B = s->batch < N ? s->batch : N;
  double *buf = malloc(5 * n * sizeof(double));
  size_t *perm = malloc(N * sizeof(size_t));
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  if (buf == NULL || perm == NULL || rng == NULL) {
    free(buf);
    free(perm);
    if (rng) gsl_rng_free(rng);
    return moex_error(MOEX_ENOMEM, "fit: cannot allocate Adam state for %zu parameters", n);
  }
  double *m = buf, *v = buf + n, *gbuf[2] = {buf + 2 * n, buf + 3 * n}, *tb[2] = {c->theta, buf + 4 * n};
  memset(m, 0, 2 * n * sizeof(double));
  gsl_rng_set(rng, s->seed);
  for (size_t i = 0; i < N; i++) perm[i] = i;
  size_t pos = N; /* forces a shuffle before the first batch */
  int ti = 0;               /* tb[ti]: the current iterate; tb[1 - ti] after an update: the one before */
  int gi = 0, good_gi = -1; /* gbuf[good_gi]: the gradient of the iterate accepted last */
  double b1t = 1.0, b2t = 1.0;
  fit_stop stop = FIT_CONTINUE;
  size_t t = 0;
  int rc = 0;
  while (stop == FIT_CONTINUE) {
    if (pos >= N) {
      gsl_ran_shuffle(rng, perm, N, sizeof(size_t));
      pos = 0;
    }
    size_t nb = N - pos < B ? N - pos : B;
    double *g = gbuf[gi];
    double loss;
    if ((rc = fit_eval(c, tb[ti], perm + pos, nb, &loss, g))) goto done;
    pos += nb;
    t++;
    if (c->nonfinite || !isfinite(loss)) {
      stop = FIT_NONFINITE;
      t--;
      break;
    }
    /* theta is the iterate this minibatch loss belongs to: it is the one to fall back on (its
     * gradient norm is filled in below if it becomes the result) */
    accept_before_update(c, loss);
    good_gi = gi;
    gi = 1 - gi;
    /* the stop rules read the step count, the evaluations, the loss and the clock, not the
     * update: tested before it, they tell whether this step's curve row is due */
    stop = fit_check(c, t, loss, 0, 0);
    int at_row = s->log_every > 0 && (t % s->log_every == 0 || stop != FIT_CONTINUE);
    double lr = fit_adam_lr(s, t, s->max_iter);
    b1t *= s->beta1;
    b2t *= s->beta2;
    double step2 = fit_adam_update_to(tb[1 - ti], tb[ti], g, m, v, n, lr, s->beta1, s->beta2, s->eps,
                                      1.0 / (1.0 - b1t), 1.0 / (1.0 - b2t), at_row);
    ti = 1 - ti;
    if (c->obj->step_done) c->obj->step_done(c->obj->ctx);
    if (!at_row) continue;
    double full = NAN;
    if (s->log_full_loss && stop == FIT_CONTINUE) {
      if ((rc = fit_eval(c, tb[ti], NULL, 0, &full, NULL))) goto done;
      if (c->nonfinite) stop = FIT_NONFINITE;
    }
    if ((rc = fit_log(c, t, loss, norm2(g, n), sqrt(step2), full, tb[ti], stop != FIT_CONTINUE))) goto done;
  }
  if (stop != FIT_NONFINITE) {
    /* The result reports the full training loss of the final theta (its gradient into the
     * buffer that does not hold the fallback's). */
    double f, *g = gbuf[gi];
    if ((rc = fit_eval(c, tb[ti], NULL, 0, &f, g))) goto done;
    if (c->nonfinite) stop = FIT_NONFINITE;
    else {
      c->have_good = 0;
      fit_accept(c, tb[ti], f, norm2(g, n));
      good_gi = -1;
    }
  }
  /* the fallback: the iterate before the last update (fit_finish copies c->good into theta) */
  if (c->have_good && good_gi >= 0) {
    memcpy(c->good, tb[1 - ti], n * sizeof(double));
    c->good_g = norm2(gbuf[good_gi], n);
  }
  fit_finish(c, stop, t, NULL);
done:
  /* an error ends the run where it stands: the caller's theta gets the current iterate, as it
   * had it in place before the two buffers (nothing recorded reads it after an error) */
  if (rc && ti == 1) memcpy(c->theta, tb[1], n * sizeof(double));
  free(buf);
  free(perm);
  gsl_rng_free(rng);
  return rc;
}

static const char *const SCHEDULE_NAMES[FIT_N_SCHEDULE] = {"constant", "cosine", "step"};

const char *fit_schedule_name(fit_schedule s) {
  return (unsigned)s < FIT_N_SCHEDULE ? SCHEDULE_NAMES[s] : "unknown";
}

int fit_schedule_parse(const char *name, fit_schedule *out) {
  for (int k = 0; name && k < FIT_N_SCHEDULE; k++)
    if (!strcmp(name, SCHEDULE_NAMES[k])) {
      *out = (fit_schedule)k;
      return 0;
    }
  return moex_error(MOEX_EINVAL, "fit: unknown Adam schedule '%s' (known: constant cosine step)", name ? name : "(null)");
}

static int schedule_check(fit_schedule s) {
  if ((unsigned)s < FIT_N_SCHEDULE) return 0;
  return moex_error(MOEX_EINVAL, "fit: unknown Adam schedule %d (known: constant cosine step)", (int)s);
}

static int adam_check(const fit_settings *s, const objective_t *obj) {
  (void)obj;
  if (!(s->lr > 0 && isfinite(s->lr))) return moex_error(MOEX_EINVAL, "fit: lr = %g must be > 0", s->lr);
  if (!(s->beta1 >= 0 && s->beta1 < 1))
    return moex_error(MOEX_EINVAL, "fit: beta1 = %g must be in [0, 1)", s->beta1);
  if (!(s->beta2 >= 0 && s->beta2 < 1))
    return moex_error(MOEX_EINVAL, "fit: beta2 = %g must be in [0, 1)", s->beta2);
  if (!(s->eps > 0)) return moex_error(MOEX_EINVAL, "fit: eps = %g must be > 0", s->eps);
  if (s->batch < 1) return moex_error(MOEX_EINVAL, "fit: batch = %zu must be >= 1", s->batch);
  if (s->max_iter < 1)
    return moex_error(MOEX_EINVAL, "fit: adam needs max_iter >= 1 (a fixed step count), got 0");
  int rc = schedule_check(s->schedule);
  if (rc) return rc;
  if (s->schedule == FIT_SCHEDULE_STEP && s->step_every < 1)
    return moex_error(MOEX_EINVAL, "fit: step_every = %zu must be >= 1", s->step_every);
  if (s->warmup && s->warmup >= s->max_iter)
    return moex_error(MOEX_EINVAL, "fit: warmup = %zu steps must be below the %zu steps of the run", s->warmup, s->max_iter);
  if (!(s->lr_min >= 0)) return moex_error(MOEX_EINVAL, "fit: lr_min = %g must be >= 0", s->lr_min);
  return 0;
}

static const fit_type adam_type = {"adam", adam_check, adam_run, NULL};
const fit_type *const fit_adam = &adam_type;
