/* fitutil: the fitting tests' settings and runs, each one line: fit_settings_default with an
 * optimizer, and fit_run into a new result that must succeed. */
#ifndef MOEX_FITUTIL_H
#define MOEX_FITUTIL_H

#include "fit/fit.h"
#include "fit/fit_moe.h"
#include "testutil.h"

/* The default settings with `optimizer` (NULL: the default one). */
static inline fit_settings fitutil_settings(const char *optimizer) {
  fit_settings s;
  fit_settings_default(&s);
  if (optimizer) s.optimizer = optimizer;
  return s;
}

/* fit_run of obj from theta under s into a new result (the caller frees it); it must return 0. */
static inline fit_result *fitutil_run(const objective_t *obj, double *theta, const fit_settings *s) {
  fit_result *r = fit_result_alloc();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(fit_run(obj, theta, s, r), 0);
  return r;
}

/* The MoE protocol `proto` parsed (it must parse), with its budget and its Adam share in
 * gradient evaluations. */
static inline fit_moe_settings fitutil_moe_settings(const char *proto, double budget, double adam_grads) {
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse(proto, &ps), 0);
  ps.budget = budget;
  ps.adam_grads = adam_grads;
  return ps;
}

#endif
