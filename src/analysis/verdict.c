/* verdict: the rate, flat, lower, growth and grows rules (see verdict.h). */
#include "analysis/verdict.h"

#include <math.h>
#include <string.h>

#include "core/moex_error.h"

static int fit_usable(const slope_fit_t *f) {
  return f->n >= 3 && isfinite(f->ci_lo) && isfinite(f->ci_hi) && f->ci_lo <= f->ci_hi;
}

/* An upper bound on an exponent: holds when the whole interval is at or below thr, fails when it
 * is wholly above. Rate and growth share it; they differ in which bounds make sense. */
static slope_verdict_t upper(const slope_fit_t *f, double thr) {
  if (!fit_usable(f)) return SLOPE_INCONCLUSIVE;
  if (f->ci_hi <= thr) return SLOPE_HOLDS;
  if (f->ci_lo > thr) return SLOPE_FAILS;
  return SLOPE_INCONCLUSIVE;
}

static int judge_rate(const verdict_input *in, slope_verdict_t *v) {
  if (!in->fit) return moex_error(MOEX_EINVAL, "verdict rate: no fit");
  if (!(isfinite(in->bound) && in->bound <= 0))
    return moex_error(MOEX_EINVAL, "verdict rate: bound exponent %g must be finite and <= 0", in->bound);
  if (!(isfinite(in->tol) && in->tol >= 0))
    return moex_error(MOEX_EINVAL, "verdict rate: tol = %g must be finite and >= 0", in->tol);
  *v = upper(in->fit, in->bound + in->tol);
  return MOEX_OK;
}

static int judge_growth(const verdict_input *in, slope_verdict_t *v) {
  if (!in->fit) return moex_error(MOEX_EINVAL, "verdict growth: no fit");
  if (!isfinite(in->bound)) return moex_error(MOEX_EINVAL, "verdict growth: exponent %g must be finite", in->bound);
  if (!(isfinite(in->tol) && in->tol >= 0))
    return moex_error(MOEX_EINVAL, "verdict growth: tol = %g must be finite and >= 0", in->tol);
  *v = upper(in->fit, in->bound + in->tol);
  return MOEX_OK;
}

static int judge_flat(const verdict_input *in, slope_verdict_t *v) {
  if (!in->fit) return moex_error(MOEX_EINVAL, "verdict flat: no fit");
  if (!(isfinite(in->tol) && in->tol > 0))
    return moex_error(MOEX_EINVAL, "verdict flat: tol = %g must be finite and > 0", in->tol);
  const slope_fit_t *f = in->fit;
  if (!fit_usable(f)) *v = SLOPE_INCONCLUSIVE;
  else if (f->ci_lo >= -in->tol && f->ci_hi <= in->tol) *v = SLOPE_HOLDS;
  else if (f->ci_lo > in->tol || f->ci_hi < -in->tol) *v = SLOPE_FAILS;
  else *v = SLOPE_INCONCLUSIVE;
  return MOEX_OK;
}

/* The error grows with x: the whole interval above +tol holds, the whole interval at or below +tol
 * fails (the same evidence both ways, as flat uses). */
static int judge_grows(const verdict_input *in, slope_verdict_t *v) {
  if (!in->fit) return moex_error(MOEX_EINVAL, "verdict grows: no fit");
  if (!(isfinite(in->tol) && in->tol >= 0))
    return moex_error(MOEX_EINVAL, "verdict grows: tol = %g must be finite and >= 0", in->tol);
  const slope_fit_t *f = in->fit;
  if (!fit_usable(f)) *v = SLOPE_INCONCLUSIVE;
  else if (f->ci_lo > in->tol) *v = SLOPE_HOLDS;
  else if (f->ci_hi <= in->tol) *v = SLOPE_FAILS;
  else *v = SLOPE_INCONCLUSIVE;
  return MOEX_OK;
}

/* One standard of evidence both ways: the claim "below at every x" holds when every seed of the
 * series is below every seed of the reference at every shared x, and fails when every seed is
 * above every seed of the reference at some x (the claim's negation, with the same separation).
 * Means alone decide neither. */
/* Paired runs (one seed per pair, issue 31): the same standard on the differences, the sign test
 * with every sign alike: below at x when every pair's series run is below its reference run,
 * above when every one is above. The seed's own luck (a good draw is good for both protocols)
 * cancels in a difference; across the two ranges it hides what every pair shows. */
static void count_paired(const verdict_input *in, size_t *below, size_t *above) {
  for (size_t i = 0; i < in->n; i++) {
    size_t k = 0, neg = 0, pos = 0;
    for (size_t c = 0; c < in->n_pair; c++) {
      double d = in->diff[i * in->n_pair + c];
      if (isnan(d)) continue;
      k++;
      neg += d < 0;
      pos += d > 0;
    }
    *below += k && neg == k;
    *above += k && pos == k;
  }
}

static int judge_lower(const verdict_input *in, slope_verdict_t *v) {
  int paired = in->n_pair > 0;
  if (in->n && paired && !in->diff) return moex_error(MOEX_EINVAL, "verdict lower: %zu pairs per x but no differences", in->n_pair);
  if (in->n && !paired && !(in->lo && in->hi && in->ref_lo && in->ref_hi))
    return moex_error(MOEX_EINVAL, "verdict lower: %zu shared x but no seed ranges", in->n);
  size_t below = 0, above = 0;
  if (paired) count_paired(in, &below, &above);
  for (size_t i = 0; i < in->n && !paired; i++) {
    below += in->hi[i] < in->ref_lo[i];
    above += in->lo[i] > in->ref_hi[i];
  }
  if (in->n < 2) *v = SLOPE_INCONCLUSIVE;
  else if (above) *v = SLOPE_FAILS;
  else if (below == in->n) *v = SLOPE_HOLDS;
  else *v = SLOPE_INCONCLUSIVE;
  return MOEX_OK;
}

static int judge_within(const verdict_input *in, slope_verdict_t *v) {
  if (!(isfinite(in->tol) && in->tol > 0))
    return moex_error(MOEX_EINVAL, "verdict within: tol = %g must be finite and > 0", in->tol);
  if (!(isfinite(in->ref_value) && in->ref_value > 0)) *v = SLOPE_INCONCLUSIVE;
  /* a diverged series (no finite error) is not within anything */
  else *v = isfinite(in->value) && in->value <= in->tol * in->ref_value ? SLOPE_HOLDS : SLOPE_FAILS;
  return MOEX_OK;
}

const char verdict_learned_text[] =
    "a series whose error at its best size is at least 0.5 times that of the best constant predictor "
    "(the target's variance for an MSE, half its range for a sup error) learned nothing: its claim is "
    "`not learned`, whatever its slope";

int verdict_learned(double err, double null_err, double share) {
  if (!(isfinite(null_err) && null_err > 0)) return -1;
  return isfinite(err) && err < share * null_err;
}

static const verdict_rule rule_rate = {
    "rate",
    "holds if the 95% interval of the fitted slope lies at or below bound + tol, fails if it lies "
    "wholly above bound + tol, inconclusive otherwise or with fewer than 3 usable sizes",
    judge_rate};
static const verdict_rule rule_flat = {
    "flat",
    "holds if the 95% interval of the slope against log x lies inside [-tol, tol], fails if it "
    "lies wholly outside that band, inconclusive otherwise or with fewer than 3 usable sizes",
    judge_flat};
static const verdict_rule rule_lower = {
    "lower",
    "holds if at every x both series measured (at least 2 such x) every seed of the series is below "
    "every seed of the reference, fails if at some such x every seed of the series is above every "
    "seed of the reference, inconclusive otherwise; when the runs are paired (each seed's run of the "
    "series and of the reference drew one seed: one pair_key), below and above compare each run with "
    "its pair's instead (a sign test: every pair's sign alike)",
    judge_lower};
static const verdict_rule rule_growth = {
    "growth",
    "holds if the 95% interval of the fitted growth exponent lies at or below the allowed exponent + "
    "tol, fails if it lies wholly above, inconclusive otherwise or with fewer than 3 usable sizes",
    judge_growth};

static const verdict_rule rule_grows = {
    "grows",
    "holds if the 95% interval of the slope against log x lies wholly above +tol, fails if it lies "
    "wholly at or below +tol, inconclusive otherwise or with fewer than 3 usable sizes",
    judge_grows};

static const verdict_rule rule_within = {
    "within",
    "holds when the series' error (geometric mean over its points of the mean over seeds) is at most tol times "
    "the reference series'; fails when above; inconclusive without a finite reference",
    judge_within};

const verdict_rule *const verdict_rate = &rule_rate;
const verdict_rule *const verdict_flat = &rule_flat;
const verdict_rule *const verdict_lower = &rule_lower;
const verdict_rule *const verdict_growth = &rule_growth;
const verdict_rule *const verdict_grows = &rule_grows;
const verdict_rule *const verdict_within = &rule_within;

const verdict_rule *verdict_rule_by_name(const char *name) {
  const verdict_rule *all[] = {&rule_rate, &rule_flat, &rule_lower, &rule_growth, &rule_grows, &rule_within};
  for (size_t i = 0; name && i < sizeof all / sizeof *all; i++)
    if (!strcmp(name, all[i]->name)) return all[i];
  return NULL;
}

int verdict_judge(const verdict_rule *rule, const verdict_input *in, slope_verdict_t *v) {
  if (v) *v = SLOPE_INCONCLUSIVE;
  if (!rule || !in || !v) return moex_error(MOEX_EINVAL, "verdict_judge: NULL argument");
  int rc = rule->judge(in, v);
  if (rc) *v = SLOPE_INCONCLUSIVE;
  return rc;
}
