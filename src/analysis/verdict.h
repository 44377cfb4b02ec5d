/* verdict: the rules that turn measured series into holds / fails / inconclusive, one place for
 * the report (src/report) and the theorem verifiers (experiments/lib/theorem.c).
 *
 * A rule is a const struct chosen by pointer (GSL style): verdict_rate, verdict_flat,
 * verdict_lower, verdict_growth, verdict_grows. Each reads the fields of verdict_input it needs:
 *   rate    fit, bound (<= 0), tol: err <= C m^bound;
 *   flat    fit, tol (> 0): the error does not depend on x;
 *   lower   n, lo, hi, ref_lo, ref_hi: the series lies below the reference at every shared x;
 *           or n, n_pair, diff when the runs are paired (one seed for the series' run and the
 *           reference's, issue 31): judged on the pairs' differences, not on the two ranges;
 *   growth  fit, bound (finite), tol: a size grows no faster than C E^bound;
 *   grows   fit, tol (>= 0): the error grows with x, faster than x^tol (the baselines of the
 *           E^L figures; the dense/MoE parameter ratio against E);
 *   within  value, ref_value, tol (> 0): value <= tol * ref_value (a trained row against the
 *           construction; a variant against the model it varies).
 * verdict_learned() says whether a series learned anything at all: a claim judged on one that did
 * not is reported as SLOPE_NOT_LEARNED by its caller, never as holds.
 * Every rule answers inconclusive when the evidence cannot decide (an unusable fit, fewer than 2
 * shared x): a verdict never rests on less than its rule states. */
#ifndef MOEX_VERDICT_H
#define MOEX_VERDICT_H

#include <stddef.h>

#include "analysis/slope.h"

typedef struct {
  const slope_fit_t *fit;  /* rate, flat, growth */
  double bound;            /* rate: the bound's exponent (<= 0); growth: the allowed exponent */
  double tol;              /* rate, growth: allowance >= 0; flat: half-width of the band > 0;
                              grows: the slope the error must exceed, >= 0 */
  size_t n;                /* lower: shared x */
  const double *lo, *hi;         /* lower: (n) the series' smallest and largest seed at each x */
  const double *ref_lo, *ref_hi; /* lower: (n) the same for the reference series */
  size_t n_pair;                 /* lower, paired: columns of diff (0: the runs are not paired) */
  const double *diff;            /* lower, paired: (n, n_pair) series minus reference, one entry per
                                    pair of runs of one seed at each shared x, NaN-padded */
  double value, ref_value;       /* within: the series' error and the reference's */
} verdict_input;

typedef struct verdict_rule {
  const char *name;  /* "rate", "flat", "lower", "growth", "grows": the `claim` column's value */
  const char *text;  /* the rule, as REPORT.md quotes it */
  int (*judge)(const verdict_input *in, slope_verdict_t *v);
} verdict_rule;

extern const verdict_rule *const verdict_rate;
extern const verdict_rule *const verdict_flat;
extern const verdict_rule *const verdict_lower;
extern const verdict_rule *const verdict_growth;
extern const verdict_rule *const verdict_grows;
extern const verdict_rule *const verdict_within;

/* The "not learned" rule: a series learned nothing when its error at its best size is at least
 * VERDICT_LEARN_SHARE times the error of the best constant predictor there (the target's variance
 * for an MSE, its half-range for a sup error). verdict_learned_text quotes it. */
#define VERDICT_LEARN_SHARE 0.5
extern const char verdict_learned_text[];
/* 1 when err < share * null_err, 0 when not (err NaN counts as not learned), -1 when it cannot be
 * told (null_err not finite and positive). */
int verdict_learned(double err, double null_err, double share);

/* The rule named `name`, or NULL (for "none", "" and anything unknown). */
const verdict_rule *verdict_rule_by_name(const char *name);

/* Applies the rule. *v is set on every return (inconclusive on error). Errors (MOEX_EINVAL,
 * message names the bad value): NULL arguments, a bound or tol outside the rule's range, lower
 * arrays missing. */
int verdict_judge(const verdict_rule *rule, const verdict_input *in, slope_verdict_t *v);

#endif
