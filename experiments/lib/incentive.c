/* incentive: single-path error over oracle-routed error, two oracle fits of one model. */
#include "lib/incentive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_plan.h"

/* One oracle fit of spec on d (its labels as given); the evaluation MSE under those routes and the
 * null MSE of the evaluation set. */
static int oracle_mse(const moe_spec_t *spec, unsigned long seed, const exprun_data_t *d, const fit_settings *fs,
                      double *mse, double *null_mse) {
  record_run *rec = record_run_alloc("incentive");
  if (!rec) return moex_error(MOEX_ENOMEM, "incentive: out of memory");
  int rc = exprun_fit(spec, seed, d, fs, rec);
  *mse = NAN;
  if (!rc && (record_run_get_double(rec, "oracle_eval_mse", mse) || record_run_get_double(rec, "null_eval_mse", null_mse)))
    rc = moex_error(MOEX_EINVAL, "incentive: the fit recorded no oracle or null error");
  record_run_free(rec);
  return rc;
}

int incentive_measure(const moe_spec_t *spec, unsigned long seed, const exprun_data_t *d, const fit_settings *fs,
                      incentive_t *out) {
  if (!spec || !d || !fs || !out) return moex_error(MOEX_EINVAL, "incentive: NULL argument");
  if (!d->label_train || !d->piece_eval || !d->n_pieces)
    return moex_error(MOEX_EINVAL, "incentive: the data carry no piece labels");
  fit_plan plan;
  if (fit_plan_parse(fs->optimizer, &plan) || !fit_plan_is_moe_protocol(&plan) || plan.moe.type != fit_proto_oracle)
    return moex_error(MOEX_EINVAL, "incentive: protocol '%s' is not the oracle protocol", fs->optimizer);
  out->single_mse = out->oracle_mse = out->floor = out->ratio = NAN;
  size_t *zeros = calloc(d->n_train > d->n_eval ? d->n_train : d->n_eval, sizeof *zeros);
  if (!zeros) return moex_error(MOEX_ENOMEM, "incentive: out of memory");
  exprun_data_t routed = *d, single = *d;
  routed.n_keep = single.n_keep = 0;
  routed.chart_eval = single.chart_eval = NULL; /* the oracle labels are the pieces */
  routed.n_charts = single.n_charts = 0;
  routed.after_fit = single.after_fit = NULL;
  /* one label for every sample: the oracle routes all of them to path 0 and evaluates the best
   * single path */
  single.label_train = zeros;
  single.piece_eval = zeros;
  single.n_pieces = 1;
  double null_mse = NAN;
  int rc = oracle_mse(spec, seed, &routed, fs, &out->oracle_mse, &null_mse);
  if (!rc) rc = oracle_mse(spec, seed, &single, fs, &out->single_mse, &null_mse);
  if (!rc) {
    out->floor = INCENTIVE_FLOOR * null_mse;
    out->ratio = fmax(out->single_mse, out->floor) / fmax(out->oracle_mse, out->floor);
  }
  free(zeros);
  return rc;
}

int incentive_record(const incentive_t *in, record_run *rec) {
  int rc = record_run_set_double(rec, "incentive", in->ratio);
  if (!rc) rc = record_run_set_double(rec, "incentive_single_mse", in->single_mse);
  if (!rc) rc = record_run_set_double(rec, "incentive_oracle_mse", in->oracle_mse);
  if (!rc) rc = record_run_set_double(rec, "incentive_floor", in->floor);
  return rc;
}
