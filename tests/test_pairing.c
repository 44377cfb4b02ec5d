/* Paired seeds (issue 31): a run's seed derives from its configuration without the axes that only
 * choose how it fits (sweep_grid_pair_config, driver_axis_fitting), recorded as pair_key. In
 * process: the pair configuration cuts what it should and keeps the seed index; runs that differ
 * in a fitting axis only share seed and pair_key, runs that differ in data or model do not, at
 * --jobs 1 and 2 alike. End to end: paper_exp2's two protocols start from the same parameters. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "core/runid.h"
#include "lib/driver.h"
#include "record/record.h"
#include "sweep/sweep.h"
#include "testrec.h"

static testutil_tmp T;
TESTUTIL_TMP_FIXTURE(T, "pairing")

/* optim_gap's way: "target/row", the row a fitting choice */
static size_t cut_at_slash(const char *v) {
  const char *s = strchr(v, '/');
  return s ? (size_t)(s - v) : strlen(v);
}

static sweep_grid_t pair_grid(void) {
  sweep_grid_t g = {.n_axes = 3, .seeds = 2};
  g.axis[0] = (sweep_axis_t){.name = "case", .n = 3, .values = {"t3/adam", "t3/alt", "t4/adam"}, .pair = cut_at_slash};
  g.axis[1] = (sweep_axis_t){.name = "D", .n = 2, .values = {"16", "32"}};
  g.axis[2] = (sweep_axis_t){.name = "protocol", .n = 2, .values = {"adam", "lbfgs"}, .pair = sweep_pair_none};
  return g;
}

START_TEST(test_pair_config) {
  sweep_grid_t g = pair_grid();
  char buf[256];
  /* i = ((case * 2 + D) * 2 + protocol) * 2 + seed: case t3/alt, D 32, lbfgs, seed 1 */
  size_t i = ((1 * 2 + 1) * 2 + 1) * 2 + 1;
  sweep_grid_config(&g, "e", i, buf, sizeof buf);
  ck_assert_str_eq(buf, "e case=t3/alt D=32 protocol=lbfgs seed=1");
  sweep_grid_pair_config(&g, "e", i, buf, sizeof buf);
  ck_assert_str_eq(buf, "e case=t3 D=32 seed=1");
  /* without pair functions the pair configuration is the configuration: old seeds unchanged */
  g.axis[0].pair = g.axis[2].pair = NULL;
  char whole[256];
  sweep_grid_config(&g, "e", i, whole, sizeof whole);
  sweep_grid_pair_config(&g, "e", i, buf, sizeof buf);
  ck_assert_str_eq(buf, whole);
  /* the one list of fitting axes, and the axes driver_axis_csv makes carry it */
  ck_assert(driver_axis_fitting("protocol") && driver_axis_fitting("surrogate") && driver_axis_fitting("init"));
  ck_assert(!driver_axis_fitting("model") && !driver_axis_fitting("m") && !driver_axis_fitting("router") &&
            !driver_axis_fitting(NULL));
  sweep_grid_t d = {0};
  ck_assert_int_eq(driver_axis_csv("t", &d, "m", "8,16", 0), 0);
  ck_assert_int_eq(driver_axis_csv("t", &d, "protocol", "adam,alt", 1), 0);
  d.seeds = 1;
  ck_assert_ptr_null(d.axis[0].pair);
  ck_assert(d.axis[1].pair == sweep_pair_none);
  sweep_grid_pair_config(&d, "t", 1, buf, sizeof buf); /* m=8, protocol=alt */
  ck_assert_str_eq(buf, "t m=8 seed=0");
  sweep_grid_free(&d);
}
END_TEST

static int seed_fn(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  (void)ctx; (void)g;
  int rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_set_int(rec, "i", (int64_t)i);
  if (!rc) rc = record_run_summarize(rec, NULL);
  return rc;
}

/* The seed and pair_key of every run of `path` (n runs, grid order). */
static void read_pairs(const char *path, size_t n, int64_t *seed, char (*key)[128]) {
  record_file *f = testrec_open(path, n);
  for (size_t k = 0; k < n; k++) {
    record_run *r = testrec_run(f, k, RECORD_READ_ATTRS);
    const char *s;
    ck_assert_int_eq(record_run_get_int(r, "seed", &seed[k]), 0);
    ck_assert_int_eq(record_run_get_str(r, "pair_key", &s), 0);
    snprintf(key[k], 128, "%s", s);
    record_run_free(r);
  }
  record_close(f);
}

START_TEST(test_pair_seeds_in_sweep) {
  sweep_grid_t g = pair_grid();
  size_t n = sweep_grid_size(&g);
  int64_t seed[24], seed1[24];
  char key[24][128], key1[24][128], want[128];
  ck_assert_uint_eq(n, 24);
  for (int jobs = 2; jobs >= 1; jobs--) {
    sweep_options_t o = {.experiment = "e", .out = testutil_tmp_path(&T, jobs == 2 ? "j2.h5" : "j1.h5"),
                         .master_seed = 2385, .jobs = jobs, .quiet = 1};
    sweep_stats_t st;
    ck_assert_int_eq(sweep_run(&o, &g, seed_fn, NULL, &st), 0);
    read_pairs(o.out, n, jobs == 2 ? seed : seed1, jobs == 2 ? key : key1);
  }
  for (size_t a = 0; a < n; a++) {
    ck_assert_int_eq(seed[a], seed1[a]); /* the same at any --jobs */
    ck_assert_str_eq(key[a], key1[a]);
    sweep_grid_pair_config(&g, "e", a, want, sizeof want);
    ck_assert_str_eq(key[a], want);
    ck_assert_uint_eq((unsigned long)seed[a], runid_seed(2385, want));
    for (size_t b = 0; b < n; b++) {
      const char *ca = sweep_grid_value(&g, a, "case"), *cb = sweep_grid_value(&g, b, "case");
      /* the same target, D and seed index: one seed whatever the row and the protocol */
      int same = cut_at_slash(ca) == cut_at_slash(cb) && !strncmp(ca, cb, cut_at_slash(ca)) && !strcmp(sweep_grid_value(&g, a, "D"), sweep_grid_value(&g, b, "D")) &&
                 sweep_grid_seed_index(&g, a) == sweep_grid_seed_index(&g, b);
      ck_assert_int_eq(!strcmp(key[a], key[b]), same);
      ck_assert_int_eq(seed[a] == seed[b], same);
    }
  }
}
END_TEST

/* The largest difference between the first expert's first weights of two runs. */
static double router_diff(const record_run *a, const record_run *b) {
  const record_array *x = record_run_array(a, "params/layer0/expert0/W1"), *y = record_run_array(b, "params/layer0/expert0/W1");
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(y);
  ck_assert_uint_eq(x->dims[0] * x->dims[1], y->dims[0] * y->dims[1]);
  double d = 0;
  for (size_t k = 0; k < x->dims[0] * x->dims[1]; k++)
    d = fmax(d, fabs(((const double *)x->data)[k] - ((const double *)y->data)[k]));
  return d;
}

/* paper_exp2 with a step of 1e-9 (the parameters stay where they were drawn): at one width and
 * seed index, the two protocols record one seed, one pair_key and the same parameters to 1e-6;
 * another seed index or another width draws others. */
START_TEST(test_protocols_share_initial_parameters) {
  testutil_require_bin("paper_exp2");
  const char *out = testutil_tmp_path(&T, "p2.h5");
  ck_assert_int_eq(testutil_shf("%s/paper_exp2 --seeds 2 --iters 1 --lr 1e-9 --n-train 64 --grid 4 --jobs 2 --quiet "
                                "--protocol adam,adam:zloss=0.001 --set 'model=2-3-moe;m=16,32' --out %s > %s 2>&1",
                                testutil_bindir(), out, testutil_tmp_path(&T, "log")), 0);
  /* grid order: m (16, 32), protocol (adam, zloss), seed (0, 1) */
  record_file *f = testrec_open(out, 8);
  record_run *r[8];
  int64_t seed[8];
  const char *key[8];
  for (size_t k = 0; k < 8; k++) {
    r[k] = testrec_run(f, k, RECORD_READ_ALL);
    ck_assert_int_eq(record_run_get_int(r[k], "seed", &seed[k]), 0);
    ck_assert_int_eq(record_run_get_str(r[k], "pair_key", &key[k]), 0);
  }
  for (size_t m = 0; m < 2; m++)
    for (size_t s = 0; s < 2; s++) {
      size_t a = 4 * m + s, b = a + 2; /* adam and adam:zloss at one m and seed index */
      ck_assert_int_eq(seed[a], seed[b]);
      ck_assert_str_eq(key[a], key[b]);
      ck_assert_msg(router_diff(r[a], r[b]) < 1e-6, "protocols drew different parameters: %g", router_diff(r[a], r[b]));
      ck_assert_msg(router_diff(r[a], r[a ^ 1]) > 1e-3, "two seed indices drew the same parameters");
      ck_assert_int_ne(seed[a], seed[(a + 4) % 8]); /* another width, another draw */
    }
  for (size_t k = 0; k < 8; k++) record_run_free(r[k]);
  record_close(f);
}
END_TEST

Suite *pairing_suite(void) {
  return testutil_suite("pairing",
                        TESTUTIL_CASE_FIXTURE("seeds", 60, tmp_setup, tmp_teardown, test_pair_config,
                                              test_pair_seeds_in_sweep, test_protocols_share_initial_parameters));
}
