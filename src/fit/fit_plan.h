/* fit_plan: a fit's protocol text parsed once into a typed plan.
 *
 * The text is the user's interface (`--protocol`, a sweep axis, the records' `optimizer`):
 *   OPT                    an optimizer of fit.h (bfgs2, lbfgs, lm, nmsimplex2, adam, ...)
 *   adam:k=v[:k=v...]      Adam with router training options (fit_router.h)
 *   OPT+polish[:k=v...]    an MoE protocol of fit_moe.h, as are alt, anneal and oracle
 * fit_plan_parse turns it into a plan (the optimizer and the protocol type by pointer, the router
 * and protocol options as structs); everything after asks the plan, never the text.
 * fit_plan_format writes the canonical text: parse(format(p)) is p, and format(parse(s)) is s
 * for any canonical s (options in a fixed order, defaults left out, numbers in shortest form). */
#ifndef MOEX_FIT_PLAN_H
#define MOEX_FIT_PLAN_H

#include <stddef.h>

#include "fit/fit.h"
#include "fit/fit_moe.h"
#include "fit/fit_router.h"

typedef enum {
  FIT_PLAN_FULL_BATCH = 0, /* a full-batch optimizer (GSL's, liblbfgs): budget in evaluations */
  FIT_PLAN_ADAM,           /* adam, plain or with router options: budget in Adam steps */
  FIT_PLAN_PROTOCOL        /* an MoE protocol: budget in per-sample gradients, matched to Adam's */
} fit_plan_kind;

#define FIT_PLAN_TEXT_MAX 256

typedef struct {
  fit_plan_kind kind;
  const fit_type *opt;        /* FULL_BATCH, ADAM: the optimizer; PROTOCOL: OPT of OPT+polish or NULL */
  int router_opts;            /* ADAM: 1 when written adam:k=v */
  fit_router_settings router; /* ADAM: the router options and warm-up (all zero for plain adam) */
  fit_moe_settings moe;       /* PROTOCOL: the protocol type and its options (budget left 0) */
  char text[FIT_PLAN_TEXT_MAX]; /* the text as given */
} fit_plan;

/* Parses `text` into *p. Returns 0, or MOEX_EINVAL with a one-line message naming the bad part. */
int fit_plan_parse(const char *text, fit_plan *p);

/* The canonical text of p into buf (n bytes). Returns 0, or MOEX_EINVAL when it does not fit. */
int fit_plan_format(const fit_plan *p, char *buf, size_t n);

/* An MoE protocol (OPT+polish, alt, anneal, oracle): fitted by fit_moe_run, not fit_run. */
static inline int fit_plan_is_moe_protocol(const fit_plan *p) { return p->kind == FIT_PLAN_PROTOCOL; }

/* The plan's compute is matched to the Adam protocol's (adam, adam:k=v and the MoE protocols),
 * rather than counted in full-batch evaluations: the paper's own protocol family. */
static inline int fit_plan_adam_budget(const fit_plan *p) { return p->kind != FIT_PLAN_FULL_BATCH; }

/* The plain optimizer `opt` alone (a full-batch one, or adam). */
static inline int fit_plan_is_optimizer(const fit_plan *p, const fit_type *opt) {
  return p->kind != FIT_PLAN_PROTOCOL && !p->router_opts && p->opt == opt;
}

/* ---- carrying a plan out on a model (fit_plan_run.c) ---------------------------------------- */

/* What a fit of a plan ended with: res (from fit_result_alloc, the caller's) says how it stopped
 * in fit_stop's terms for every kind; an MoE protocol adds its settings as run (budget included)
 * and its diagnostics. */
typedef struct {
  fit_result *res;
  fit_moe_settings ps; /* PROTOCOL: the protocol's settings with its budget */
  fit_moe_result moe;  /* PROTOCOL: EM rows, stages, compute, how it ended */
} fit_plan_result;

/* Frees the protocol's rows; leaves res to its owner. */
void fit_plan_result_clear(fit_plan_result *r);

/* Sets up what the plan needs in the model before its objective is made (adam:k=v: the router
 * options, seeded from seed). Returns 0 or an error code. */
int fit_plan_setup(const fit_plan *p, moe_model_t *m, unsigned long seed);

/* The settings the plan runs with: fs with the seed, adam:k=v's warm-up and optimizer, and no
 * curve for the protocols that log their own tables (alt, anneal, oracle). */
void fit_plan_settings(const fit_plan *p, const fit_settings *fs, unsigned long seed, fit_settings *s);

/* Fits m (theta in place, initialised) on d under plan p with settings s (fit_plan_settings):
 * fit_run for an optimizer (Adam with max_iter 0: the starting model measured as it is, no
 * step), fit_moe_run for an MoE protocol with budget s->max_grads (alt, anneal and oracle fit
 * the paper's top-1 model: the model's surrogate becomes GATE_PAPER). labels as fit_moe_run's.
 * Returns 0 when the fit ended with a stop reason (out->res->stop), else an error code. */
int fit_plan_run(const fit_plan *p, const fit_settings *s, moe_model_t *m, const train_data_t *d,
                 const size_t *labels, fit_plan_result *out);

#endif
