/* runcache (experiments/lib/runcache.h): a seed-independent run computed once per key and copied
 * into every later asker's run, its id kept and its seed replaced in place; a failure is not
 * cached; concurrent askers of one key compute it once. */
#include "testutil.h"

#include <pthread.h>
#include <stdint.h>

#include "core/moex_error.h"
#include "lib/runcache.h"
#include "record/record.h"

typedef struct {
  int fail;    /* nonzero: the computation fails after writing one attribute */
  double base; /* the value written */
} rc_arg;

static int rc_compute(void *arg, record_run *rec) {
  const rc_arg *a = arg;
  if (record_run_set_double(rec, "sup_err", a->base)) return MOEX_ENOMEM;
  if (a->fail) return moex_error(MOEX_EINVAL, "rc_compute: asked to fail");
  static const double v[3] = {2.385, -1.25, 0.5};
  size_t dims[1] = {3};
  const char *cols[2] = {"iter", "loss"};
  record_table *t = record_run_add_table(rec, "curve", 2, cols);
  double row[2] = {1, a->base};
  int rc = record_run_set_int(rec, "seed", 11) || record_run_set_str(rec, "row", "construction") ||
           record_run_summarize(rec, NULL) || record_run_add_double(rec, "eval/pred", v, 1, dims) || !t ||
           record_table_append(t, row);
  return rc ? MOEX_ENOMEM : MOEX_OK;
}

/* a's content against b's, ids aside: b copied under a's id and compared. */
static void assert_same_content(const record_run *a, const record_run *b) {
  record_run *c = record_run_copy(b);
  ck_assert_ptr_nonnull(c);
  free(c->id);
  c->id = strdup(a->id);
  ck_assert_msg(record_run_compare(a, c) == 0, "%s", moex_errmsg());
  record_run_free(c);
}

START_TEST(test_runcache_once) {
  runcache *c = runcache_alloc();
  ck_assert_ptr_nonnull(c);
  rc_arg a = {0, 0.0314};
  record_run *r1 = record_run_alloc("aaaa000000000001"), *r2 = record_run_alloc("aaaa000000000002");
  ck_assert_int_eq(runcache_fill(c, "eq4-deep4", r1, rc_compute, &a, 11), 0);
  a.base = 99.0; /* a second computation would write this: the copy must not */
  ck_assert_int_eq(runcache_fill(c, "eq4-deep4", r2, rc_compute, &a, 4242), 0);
  ck_assert_uint_eq(runcache_computed(c), 1);
  ck_assert_str_eq(r2->id, "aaaa000000000002");
  int64_t s = 0;
  ck_assert_int_eq(record_run_get_int(r2, "seed", &s), 0);
  ck_assert_int_eq(s, 4242);
  /* the seed in its place (the third attribute), everything else the first run's */
  ck_assert_str_eq(r2->attrs[1].name, "seed");
  ck_assert_int_eq(record_run_set_int(r2, "seed", 11), 0);
  assert_same_content(r1, r2);
  /* another key is computed */
  record_run *r3 = record_run_alloc("aaaa000000000003");
  ck_assert_int_eq(runcache_fill(c, "s2-D32", r3, rc_compute, &a, 5), 0);
  ck_assert_uint_eq(runcache_computed(c), 2);
  double v = 0;
  ck_assert_int_eq(record_run_get_double(r3, "sup_err", &v), 0);
  ck_assert_double_eq(v, 99.0);
  record_run_free(r1);
  record_run_free(r2);
  record_run_free(r3);
  runcache_free(c);
}
END_TEST

START_TEST(test_runcache_failure) {
  runcache *c = runcache_alloc();
  rc_arg bad = {1, 1.0}, good = {0, 2.0};
  record_run *r1 = record_run_alloc("bbbb000000000001"), *r2 = record_run_alloc("bbbb000000000002");
  ck_assert_int_eq(runcache_fill(c, "k", r1, rc_compute, &bad, 1), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "asked to fail"));
  /* not cached: the next asker computes */
  ck_assert_int_eq(runcache_fill(c, "k", r2, rc_compute, &good, 2), 0);
  ck_assert_uint_eq(runcache_computed(c), 2);
  ck_assert_int_eq(runcache_fill(NULL, "k", r2, rc_compute, &good, 2), MOEX_EINVAL);
  record_run_free(r1);
  record_run_free(r2);
  runcache_free(c);
  runcache_free(NULL);
}
END_TEST

typedef struct {
  runcache *c;
  record_run *r;
  int rc;
} rc_thread;

static void *rc_worker(void *v) {
  rc_thread *t = v;
  static rc_arg a = {0, 0.125};
  t->rc = runcache_fill(t->c, "shared", t->r, rc_compute, &a, 7);
  return NULL;
}

START_TEST(test_runcache_threads) {
  runcache *c = runcache_alloc();
  enum { NT = 6 };
  pthread_t th[NT];
  rc_thread t[NT];
  for (int i = 0; i < NT; i++) {
    char id[17];
    snprintf(id, sizeof id, "cccc%012d", i);
    t[i] = (rc_thread){c, record_run_alloc(id), -1};
    ck_assert_int_eq(pthread_create(&th[i], NULL, rc_worker, &t[i]), 0);
  }
  for (int i = 0; i < NT; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
  ck_assert_uint_eq(runcache_computed(c), 1);
  for (int i = 0; i < NT; i++) {
    ck_assert_int_eq(t[i].rc, 0);
    assert_same_content(t[0].r, t[i].r);
  }
  for (int i = 0; i < NT; i++) record_run_free(t[i].r);
  runcache_free(c);
}
END_TEST

/* The seed and sup_err of the run of `figure` in a manifold_rates record with one run per figure
 * (one seed, model, embedding and point per figure); 0 when absent. */
static int mr_point(const char *path, const char *figure, int64_t *seed, double *sup) {
  record_file *f = record_open(path);
  ck_assert_msg(f != NULL, "%s", moex_errmsg());
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  const record_column *cf = record_summary_column(s, "figure"), *cs = record_summary_column(s, "seed"),
                      *ce = record_summary_column(s, "sup_err");
  ck_assert(cf && cs && ce);
  int found = 0;
  for (size_t i = 0; i < s->nrows && !found; i++)
    if (!strcmp(cf->v.s[i], figure)) {
      *seed = cs->v.i[i];
      *sup = ce->v.d[i];
      found = 1;
    }
  record_summary_free(s);
  record_close(f);
  return found;
}

/* manifold_rates end to end: exp-d1-E4 and amb-d1-D16 are rate-d1-m8's configuration at --quick
 * (D = --rate-D = 16, 4 experts, m = 8): computed once, as the rate point at its seed, and each
 * recorded in its own figure; alone in its grid, exp-d1-E4 runs at its own seed. */
START_TEST(test_runcache_manifold_rates) {
  testutil_require_bin("manifold_rates");
  testutil_tmp T;
  testutil_tmp_make(&T, "runcache");
  const char *common = "--quick --seeds 1 --iters 40 --set 'model=dense-active;embed=rotated";
  ck_assert_msg(testutil_shf("%s/manifold_rates %s;point=rate-d1-m8,amb-d1-D16,exp-d1-E4' --out %s/a.h5 > %s/a.log 2>&1",
                             testutil_bindir(), common, T.dir, T.dir) == 0, "manifold_rates failed (%s/a.log)", T.dir);
  ck_assert_msg(testutil_shf("%s/manifold_rates %s;point=exp-d1-E4' --out %s/b.h5 > %s/b.log 2>&1", testutil_bindir(),
                             common, T.dir, T.dir) == 0, "manifold_rates failed (%s/b.log)", T.dir);
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/a.h5", T.dir);
  snprintf(b, sizeof b, "%s/b.h5", T.dir);
  int64_t s_rate, s_amb, s_exp, s_alone;
  double e_rate, e_amb, e_exp, e_alone;
  ck_assert(mr_point(a, "rates_d1_rotated", &s_rate, &e_rate));
  ck_assert(mr_point(a, "ambient_d1_rotated", &s_amb, &e_amb));
  ck_assert(mr_point(a, "experts_d1_rotated", &s_exp, &e_exp));
  ck_assert(mr_point(b, "experts_d1_rotated", &s_alone, &e_alone));
  ck_assert(s_amb == s_rate && s_exp == s_rate && e_amb == e_rate && e_exp == e_rate);
  ck_assert(s_alone != s_rate);
  testutil_tmp_remove(&T);
}
END_TEST

Suite *runcache_suite(void) {
  return testutil_suite("runcache",
                        TESTUTIL_CASE("runcache", 0, test_runcache_once, test_runcache_failure, test_runcache_threads),
                        TESTUTIL_CASE("manifold_rates", 120, test_runcache_manifold_rates));
}
