/* driver: the full-batch evaluation cap (--max-evals) and how it reaches the fit settings. */
#include "testutil.h"

#include "lib/driver.h"

START_TEST(test_max_evals_values) {
  driver_opts_t o;
  driver_opts_default(&o, 5, 2000, 2000, 4096);
  size_t cap = 99;
  /* matched: Adam's 2000 x 128 per-sample gradients = 62.5 passes over 4096 samples, rounded up */
  ck_assert_int_eq(driver_max_evals("t", &o, &cap), 0);
  ck_assert_uint_eq(cap, 63);
  o.iters = 5000;
  ck_assert_int_eq(driver_max_evals("t", &o, &cap), 0);
  ck_assert_uint_eq(cap, 157);
  o.n_train = 128; /* exactly one pass per step */
  ck_assert_int_eq(driver_max_evals("t", &o, &cap), 0);
  ck_assert_uint_eq(cap, 5000);
  o.n_train = 64; /* a batch larger than the data: Adam steps see all 64, still one pass each */
  ck_assert_int_eq(driver_max_evals("t", &o, &cap), 0);
  ck_assert_uint_eq(cap, 5000);
  o.max_evals = "none";
  ck_assert_int_eq(driver_max_evals("t", &o, &cap), 0);
  ck_assert_uint_eq(cap, 0);
  o.max_evals = "17";
  ck_assert_int_eq(driver_max_evals("t", &o, &cap), 0);
  ck_assert_uint_eq(cap, 17);
  const char *bad[] = {"0", "-3", "1e3", "", "matched ", "12x", "100000001"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    o.max_evals = bad[i];
    ck_assert_msg(driver_max_evals("t", &o, &cap) == 2, "'%s' must be refused", bad[i]);
  }
}
END_TEST

START_TEST(test_fit_settings_caps) {
  driver_opts_t o;
  driver_opts_default(&o, 5, 5000, 2000, 4096);
  fit_settings fs;
  driver_fit_settings(&o, "bfgs2", &fs);
  ck_assert_str_eq(fs.optimizer, "bfgs2");
  ck_assert_uint_eq(fs.max_iter, 2000);
  ck_assert_uint_eq(fs.max_evals, 157);
  driver_fit_settings(&o, "adam", &fs);
  ck_assert_uint_eq(fs.max_iter, 5000);
  ck_assert_uint_eq(fs.max_evals, 0); /* Adam's budget is its step count */
  ck_assert_uint_eq(fs.batch, 128);
  driver_fit_settings(&o, "nmsimplex2", &fs); /* loss-only evaluations: not matched */
  ck_assert_uint_eq(fs.max_evals, 0);
  o.max_evals = "40";
  driver_fit_settings(&o, "nmsimplex2", &fs); /* an explicit cap applies to it too */
  ck_assert_uint_eq(fs.max_evals, 40);
  o.max_evals = "none";
  driver_fit_settings(&o, "lbfgs", &fs);
  ck_assert_uint_eq(fs.max_evals, 0);
}
END_TEST

/* --quick lowers only what the command line did not give, even when it gave the default */
START_TEST(test_quick_defaults_only) {
  driver_opts_t o;
  driver_opts_default(&o, 5, 2000, 2000, 4096);
  char *argv[] = {"prog", "--quick", "--iters", "700", "--seeds", "5", NULL};
  ck_assert_int_eq(driver_parse("prog", "test", 6, argv, &o, NULL, 0), 0);
  driver_quick(&o, 2, 300, 0, 1024);
  ck_assert_int_eq(o.seeds, 5); /* given, and equal to the default: kept */
  ck_assert_uint_eq(o.iters, 700);
  ck_assert_uint_eq(o.max_iter, 2000); /* 0: left alone */
  ck_assert_uint_eq(o.n_train, 1024);
  /* nothing given: --quick's values */
  driver_opts_default(&o, 5, 2000, 2000, 4096);
  char *argv2[] = {"prog", "--quick", NULL};
  ck_assert_int_eq(driver_parse("prog", "test", 2, argv2, &o, NULL, 0), 0);
  driver_quick(&o, 2, 300, 0, 1024);
  ck_assert_int_eq(o.seeds, 2);
  ck_assert_uint_eq(o.iters, 300);
}
END_TEST

/* an option parsed but not used is refused by name, and one not given passes */
START_TEST(test_refuse_unused) {
  char *argv[] = {"prog", "--quick", "--protocol", "nonsense", NULL};
  ck_assert_int_eq(driver_refuse("prog", 4, argv, "--protocol", "rows choose"), 2);
  ck_assert_int_eq(driver_refuse("prog", 4, argv, "--mem-limit", "not estimated"), 0);
  /* optim_gap: its rows carry their protocols and its runs' memory is not estimated, so each of
   * these lines, once accepted and ignored, exits 2 in one line before any run */
  const char *bad[] = {"--protocol nonsense", "--protocol alt:init=bogus", "--protocol adam:balance=-1",
                       "--mem-limit 1K", "--protocol adam"};
  char cmd[512];
  testutil_require_bin("optim_gap");
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(cmd, sizeof cmd, "%s/optim_gap --quick --out /nonexistent-dir/og.h5 %s", testutil_bindir(), bad[i]);
    testutil_expect_usage_error(cmd, "optim_gap");
    ck_assert_msg(testutil_shf("%s/optim_gap --quick --out /nonexistent-dir/og.h5 %s 2>&1 | grep -q 'is not used here'",
                               testutil_bindir(), bad[i]) == 0, "optim_gap %s: not refused as unused", bad[i]);
  }
}
END_TEST

Suite *driver_suite(void) {
  return testutil_suite("driver", TESTUTIL_CASE("driver", 0, test_max_evals_values, test_fit_settings_caps,
                                                test_quick_defaults_only, test_refuse_unused));
}
