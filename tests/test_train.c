/* train: the objective seen by the fitters equals the model's loss, whatever the chunking. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "model/moe.h"
#include "core/moex_error.h"
#include "model/train.h"
#include "fit/fit.h"

static void fill(double *x, size_t n, unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t i = 0; i < n; i++) x[i] = -0.9 + 2.1 * gsl_rng_uniform(r);
  gsl_rng_free(r);
}

/* Inputs (3 a row) and targets (2 a row) of n rows: fill with seed and seed + 1. */
static void fill_xy(double *x, double *y, size_t n, unsigned long seed) {
  fill(x, n * 3, seed);
  fill(y, n * 2, seed + 1);
}

static moe_spec_t small_spec(void) {
  moe_spec_t s = {.n_layers = 2};
  s.layer[0] = moe_layer_default(3, 3, 3, 5);
  s.layer[1] = moe_layer_default(3, 2, 2, 4);
  return s;
}

START_TEST(test_chunked_equals_whole) {
  enum { N = 37 };
  double x[N * 3], y[N * 2];
  fill_xy(x, y, N, 1);
  moe_spec_t s = small_spec();
  moe_model_t *big = moe_model_alloc(&s, N), *small = moe_model_alloc(&s, 8);
  moe_model_init_params(big, 5);
  moe_model_init_params(small, 5);
  train_data_t d = {.n = N, .d_in = 3, .d_out = 2, .x = x, .y = y};
  train_ctx_t cb, cs;
  objective_t ob, os;
  ck_assert_int_eq(train_objective_init(&cb, &ob, big, &d), 0);
  ck_assert_int_eq(train_objective_init(&cs, &os, small, &d), 0);
  ck_assert_uint_eq(ob.n_params, big->n_params);
  ck_assert_uint_eq(ob.n_res, N * 2);
  double *gb = malloc(ob.n_params * sizeof *gb), *gs = malloc(ob.n_params * sizeof *gs);
  double lb, ls;
  ck_assert_int_eq(ob.lossgrad(ob.ctx, big->theta, NULL, 0, &lb, gb), 0);
  ck_assert_int_eq(os.lossgrad(os.ctx, small->theta, NULL, 0, &ls, gs), 0);
  ck_assert_double_eq_tol(lb, ls, 1e-14 * lb);
  for (size_t i = 0; i < ob.n_params; i++) ck_assert_double_eq_tol(gb[i], gs[i], 1e-13);
  /* a minibatch by index equals the loss of the gathered rows */
  size_t idx[5] = {36, 3, 17, 3, 20};
  double xg[15], yg[10], lm;
  for (int i = 0; i < 5; i++) {
    memcpy(xg + 3 * i, x + 3 * idx[i], 3 * sizeof(double));
    memcpy(yg + 2 * i, y + 2 * idx[i], 2 * sizeof(double));
  }
  ck_assert_int_eq(os.lossgrad(os.ctx, small->theta, idx, 5, &lm, gs), 0);
  ck_assert_double_eq_tol(lm, moe_model_loss_grad(big, 5, xg, yg), 1e-15);
  /* the loss alone (forward passes only) is the loss that comes with the gradient */
  double lf;
  ck_assert_int_eq(os.lossgrad(os.ctx, small->theta, NULL, 0, &lf, NULL), 0);
  ck_assert_double_eq_tol(lf, ls, 1e-15 * ls);
  /* a theta other than the model's own block is used */
  double *theta2 = malloc(ob.n_params * sizeof *theta2);
  for (size_t i = 0; i < ob.n_params; i++) theta2[i] = big->theta[i] * 0.5;
  double lh;
  ck_assert_int_eq(ob.lossgrad(ob.ctx, theta2, NULL, 0, &lh, NULL), 0);
  ck_assert(lh != lb);
  /* an index out of range is refused */
  size_t bad[1] = {N};
  ck_assert_int_ne(ob.lossgrad(ob.ctx, theta2, bad, 1, &lh, NULL), 0);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "index 37"));
  free(theta2);
  free(gb);
  free(gs);
  train_ctx_free(&cb);
  train_ctx_free(&cs);
  moe_model_free(big);
  moe_model_free(small);
}
END_TEST

/* rows per pass: at least 256, 64 per expert of the widest MoE layer, at most n_max */
START_TEST(test_chunk_rows) {
  moe_spec_t dense = {.n_layers = 1}, wide = {.n_layers = 2};
  dense.layer[0] = moe_layer_dense(2, 2, 2, 8);
  wide.layer[0] = moe_layer_default(3, 3, 3, 4);
  wide.layer[1] = moe_layer_default(3, 1, 16, 4);
  moe_model_t *a = moe_model_alloc(&dense, 4096), *b = moe_model_alloc(&wide, 4096), *c = moe_model_alloc(&wide, 100);
  ck_assert_uint_eq(train_chunk_rows(a), 256);
  ck_assert_uint_eq(train_chunk_rows(b), 1024);
  ck_assert_uint_eq(train_chunk_rows(c), 100);
  moe_model_free(a);
  moe_model_free(b);
  moe_model_free(c);
}
END_TEST

/* loss = |r|^2 / n_res and grad = (2 / n_res) J^T r. */
START_TEST(test_residual_jacobian) {
  enum { N = 11 };
  double x[N * 3], y[N * 2];
  fill_xy(x, y, N, 3);
  moe_spec_t s = small_spec();
  moe_model_t *m = moe_model_alloc(&s, 4);
  moe_model_init_params(m, 9);
  train_data_t d = {.n = N, .d_in = 3, .d_out = 2, .x = x, .y = y};
  train_ctx_t c;
  objective_t o;
  ck_assert_int_eq(train_objective_init(&c, &o, m, &d), 0);
  size_t P = o.n_params, R = o.n_res;
  double *r = malloc(R * sizeof *r), *J = malloc(R * P * sizeof *J), *g = malloc(P * sizeof *g), loss;
  ck_assert_int_eq(o.residual(o.ctx, m->theta, r, J), 0);
  ck_assert_int_eq(o.lossgrad(o.ctx, m->theta, NULL, 0, &loss, g), 0);
  double rr = 0;
  for (size_t i = 0; i < R; i++) rr += r[i] * r[i];
  ck_assert_double_eq_tol(loss, rr / (double)R, 1e-14);
  for (size_t p = 0; p < P; p++) {
    double jt = 0;
    for (size_t i = 0; i < R; i++) jt += J[i * P + p] * r[i];
    ck_assert_double_eq_tol(g[p], 2.0 * jt / (double)R, 1e-13);
  }
  free(r);
  free(J);
  free(g);
  train_ctx_free(&c);
  moe_model_free(m);
}
END_TEST

START_TEST(test_train_bad_input) {
  moe_spec_t s = small_spec();
  moe_model_t *m = moe_model_alloc(&s, 4);
  double x[6] = {0}, y[4] = {0};
  train_data_t d = {.n = 2, .d_in = 4, .d_out = 2, .x = x, .y = y};
  train_ctx_t c;
  objective_t o;
  ck_assert_int_eq(train_objective_init(&c, &o, m, &d), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "(4 -> 2)"));
  d.d_in = 3;
  d.n = 0;
  ck_assert_int_eq(train_objective_init(&c, &o, m, &d), MOEX_EINVAL);
  ck_assert_int_eq(train_objective_init(&c, &o, m, NULL), MOEX_EINVAL);
  ck_assert_int_eq(train_predict(m, 2, NULL, y), MOEX_EINVAL);
  moe_model_free(m);
}
END_TEST

/* Adam through this objective on the model's own block (the fitter's first iterate buffer is the
 * block the model reads) against the same fit on a separate vector: the same bits, on a run with
 * curve rows that ends at its step count and one whose minibatch loss turns NaN, where the result
 * is the fallback iterate. Fails when an evaluation at the fitter's other buffer is copied into
 * the model's block (that clobbers the fallback). */
START_TEST(test_adam_on_own_block) {
  enum { N = 40 };
  for (int nan = 0; nan < 3; nan++) { /* two NaN samples: first drawn at an odd and an even step */
    double x[N * 3], y[N * 2];
    fill_xy(x, y, N, 3);
    if (nan) y[2 * (nan == 1 ? 29 : 11)] = NAN;
    moe_spec_t s = small_spec();
    moe_model_t *a = moe_model_alloc(&s, N), *b = moe_model_alloc(&s, N);
    moe_model_init_params(a, 9);
    moe_model_init_params(b, 9);
    train_data_t d = {.n = N, .d_in = 3, .d_out = 2, .x = x, .y = y};
    train_ctx_t ca, cb;
    objective_t oa, ob;
    ck_assert_int_eq(train_objective_init(&ca, &oa, a, &d), 0);
    ck_assert_int_eq(train_objective_init(&cb, &ob, b, &d), 0);
    double *sep = malloc(b->n_params * sizeof *sep);
    memcpy(sep, b->theta, b->n_params * sizeof *sep);
    fit_settings fs;
    fit_settings_default(&fs);
    fs.optimizer = "adam";
    fs.lr = 0.05;
    fs.batch = 8;
    fs.max_iter = 60;
    fs.log_every = 3;
    fit_result *ra = fit_result_alloc(), *rb = fit_result_alloc();
    ck_assert_int_eq(fit_run(&oa, a->theta, &fs, ra), 0);
    ck_assert_int_eq(fit_run(&ob, sep, &fs, rb), 0);
    ck_assert_int_eq(ra->stop, rb->stop);
    ck_assert_int_eq(ra->stop == FIT_NONFINITE, nan > 0);
    ck_assert_uint_eq(ra->iters, rb->iters);
    ck_assert_msg(!memcmp(a->theta, sep, a->n_params * sizeof *sep), "nan %d: theta differs from the fit on a separate vector", nan);
    ck_assert(ra->loss == rb->loss || (isnan(ra->loss) && isnan(rb->loss)));
    for (size_t i = 0; i < a->n_params; i++) ck_assert(isfinite(a->theta[i]));
    free(sep);
    fit_result_free(ra);
    fit_result_free(rb);
    train_ctx_free(&ca);
    train_ctx_free(&cb);
    moe_model_free(a);
    moe_model_free(b);
  }
}
END_TEST

Suite *train_suite(void) {
  return testutil_suite("train", TESTUTIL_CASE("objective", 0, test_chunked_equals_whole, test_chunk_rows,
                                               test_residual_jacobian, test_train_bad_input,
                                               test_adam_on_own_block));
}
