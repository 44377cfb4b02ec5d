/* Every minimizer, through the train adapter, on a small MoE: the loss falls at least 100x. */
#include "testutil.h"
#include "fitutil.h"

#include <string.h>

#include "fit/fit.h"
#include "model/moe.h"
#include "core/moex_error.h"
#include "model/train.h"

static void fit_small_moe(const char *opt, size_t iters) {
  enum { N = 64 };
  double x[N], y[N];
  for (int i = 0; i < N; i++) {
    x[i] = -1.13 + 2.31 * i / (N - 1.0);
    y[i] = 0.8 * x[i] * x[i] - 0.35 * x[i] + 0.2; /* a smooth target a tiny MoE can fit */
  }
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(1, 1, 2, 4);
  moe_model_t *m = moe_model_alloc(&s, N);
  moe_model_init_params(m, 3);
  train_data_t d = {.n = N, .d_in = 1, .d_out = 1, .x = x, .y = y};
  train_ctx_t c;
  objective_t obj;
  ck_assert_int_eq(train_objective_init(&c, &obj, m, &d), 0);
  double l0;
  obj.lossgrad(obj.ctx, m->theta, NULL, 0, &l0, NULL);
  fit_settings fs = fitutil_settings(opt);
  fs.max_iter = iters;
  fs.gtol = 1e-12;
  fs.batch = 16;
  fs.lr = 1e-2;
  fit_result *res = fitutil_run(&obj, m->theta, &fs);
  double l1;
  obj.lossgrad(obj.ctx, m->theta, NULL, 0, &l1, NULL);
  ck_assert_msg(l1 <= l0 / 100.0, "%s: loss %.3g -> %.3g (stop %s)", opt, l0, l1, fit_stop_name(res->stop));
  fit_result_free(res);
  train_ctx_free(&c);
  moe_model_free(m);
}

START_TEST(test_every_minimizer_on_moe) {
  const char *opts[] = {"bfgs2", "cg-pr", "cg-fr", "steepest", "lbfgs", "lm", "adam", "nmsimplex2"};
  const size_t iters[] = {2000, 4000, 4000, 20000, 2000, 300, 4000, 40000};
  fit_small_moe(opts[_i], iters[_i]);
}
END_TEST

Suite *fit_moe_suite(void) {
  return testutil_suite("fit_moe", TESTUTIL_CASE_LOOPS("minimizers", 120, TESTUTIL_LOOPS({test_every_minimizer_on_moe, 0, 8}),
                                                       test_every_minimizer_on_moe));
}
