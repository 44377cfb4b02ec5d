/* exprun: one run of an experiment, shared by the experiment binaries: build the model from a
 * spec and a seed, fit it with a protocol, measure it (test MSE, sup norm on the dense set,
 * per-piece errors, routing), and fill a record_run in the records schema (results/SCHEMA.md).
 * This is the one module that knows the model, the fitters, the metrics and the records. */
#ifndef MOEX_EXPRUN_H
#define MOEX_EXPRUN_H

#include <stddef.h>
#include <stdint.h>

#include "fit/fit.h"
#include "fit/fit_plan.h"
#include "model/moe.h"
#include "record/record.h"

typedef struct {
  size_t d_in, d_out;
  size_t n_train;
  const double *x_train, *y_train; /* (n_train, d_in), (n_train, d_out) */
  size_t n_test;
  const double *x_test, *y_test;   /* held-out sample: MSE */
  size_t n_eval;
  const double *x_eval, *y_eval;   /* dense evaluation set: sup norm */
  const size_t *piece_eval;        /* (n_eval) piece index, or NULL */
  size_t n_pieces;
  const unsigned char *member_eval; /* (n_eval, n_charts) chart membership, or NULL */
  const size_t *chart_eval;         /* (n_eval) label: chart of largest rho, or NULL */
  size_t n_charts;
  size_t n_keep;                    /* eval points whose predictions are stored (<= 4096), an
                                     * evenly strided subset of the evaluation set */
  const double *coord_eval;         /* (n_eval, n_coord) plot coordinates for routing maps (the
                                     * angle on a circle, the point of [0,3]^2), or NULL */
  size_t n_coord;                   /* 1 or 2 */
  const size_t *label_train;        /* (n_train) routing path each training sample belongs to
                                     * (chart, piece), for the MoE protocols' init=labels, or NULL */
  /* Called by exprun_fit after the measurements, with the fitted model (its last forward on the
   * evaluation set), to record what only the experiment knows how to measure (autoenc: how the
   * encoders recover the charts); NULL: nothing. A nonzero return is the run's error. */
  int (*after_fit)(void *ctx, moe_model_t *m, record_run *rec);
  void *after_ctx;
  const double *theta0;             /* (the spec's n_params) initial parameters (a warm start,
                                     * e.g. from a construction), or NULL: the seeded init */
} exprun_data_t;

/* Fits spec (seeded by `seed`) on d with settings fs (fs->optimizer an optimizer, or an MoE
 * protocol of fit/fit_moe.h with its budget in fs->max_grads), and writes into rec: status, stop reason,
 * iterations, evaluations, wall time, final loss, test_mse, test_rmse, sup_err, parameter counts,
 * routing diagnostics, per-piece max errors, the curve, the model tensors and the predictions
 * on the first n_keep evaluation points. Adam with fs->max_iter = 0 takes no step: the starting
 * model (d->theta0, a warm start) is measured as it is. Returns 0 when the run was carried out (even if the fit
 * ended nonfinite: that is a recorded status), nonzero on a configuration error. */
int exprun_fit(const moe_spec_t *spec, unsigned long seed, const exprun_data_t *d,
               const fit_settings *fs, record_run *rec);
/* The same with the plan already parsed (fit/fit_plan.h): fs->optimizer is then only recorded. */
int exprun_fit_plan(const moe_spec_t *spec, unsigned long seed, const exprun_data_t *d, const fit_plan *plan,
                    const fit_settings *fs, record_run *rec);

/* Measures a model (fitted or imported) on d and records what exprun_fit records after the fit:
 * test_mse, test_rmse, sup_err, eval_mse, routing diagnostics, per-piece max errors, the
 * evaluation subset, the tensors and the model spec (exprun_record_params). Leaves the model's last forward on the
 * evaluation set. */
int exprun_measure(moe_model_t *m, const exprun_data_t *d, record_run *rec);

/* The model spec as the string attribute `model_spec` (the text of model/spectext.h). */
int exprun_record_spec(const moe_spec_t *spec, record_run *rec);

/* The model's tensors as named arrays (params/layer{l}/...), in the layout of results/SCHEMA.md,
 * and its spec (exprun_record_spec). */
int exprun_record_params(const moe_model_t *m, record_run *rec);

/* One attribute of a run (an axis value, a measured number) for exprun_set_attrs; written with
 * EXPRUN_S, EXPRUN_I and EXPRUN_D. */
typedef struct {
  const char *name;
  char type; /* 's', 'i' or 'd' */
  const char *s;
  int64_t i;
  double d;
} exprun_attr;
#define EXPRUN_S(n, v) ((exprun_attr){.name = (n), .type = 's', .s = (v)})
#define EXPRUN_I(n, v) ((exprun_attr){.name = (n), .type = 'i', .i = (int64_t)(v)})
#define EXPRUN_D(n, v) ((exprun_attr){.name = (n), .type = 'd', .d = (v)})

/* Sets the n attributes of a in rec, in their order (the summary's columns follow it). */
int exprun_set_attrs(record_run *rec, const exprun_attr *a, size_t n);

/* Sets the report convention's columns (see results/SCHEMA.md, "Report conventions"). */
int exprun_set_figure(record_run *rec, const char *figure, const char *series, const char *x_name,
                      double x, const char *claim, double bound_slope, double claim_tol,
                      const char *claim_ref, double paper_value);

#endif
