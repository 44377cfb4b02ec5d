/* metrics: errors, per-piece errors, routing load, expert/chart agreement, paths. */
#include "testutil.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdint.h>
#include <string.h>

#include "analysis/metrics.h"
#include "core/moex_error.h"

#define TOL 1e-12

/* The last error names the bad value: `what` appears in the message. */
static void expect_msg(const char *what) {
  ck_assert_msg(strstr(moex_errmsg(), what) != NULL, "message '%s' lacks '%s'", moex_errmsg(),
                what);
}

/* ---- errors ------------------------------------------------------------------------------ */

START_TEST(test_errors_hand) {
  /* y, t are (2, 2); differences 0.25, -0.75, 0.385, 0. */
  const double y[] = {1.25, -0.5, 2.385, 0.75}, t[] = {1.0, 0.25, 2.0, 0.75};
  metrics_err_t e;
  ck_assert_int_eq(metrics_errors(y, t, 2, 2, &e), MOEX_OK);
  ck_assert_uint_eq(e.n, 4);
  ck_assert_double_eq_tol(e.mse, 0.773225 / 4.0, TOL);
  ck_assert_double_eq_tol(e.rmse, sqrt(0.773225 / 4.0), TOL);
  ck_assert_double_eq_tol(e.sup, 0.75, TOL);
}
END_TEST

START_TEST(test_errors_nan_propagates) {
  const double y[] = {0.5, NAN, 2.0}, t[] = {0.25, 1.0, 9.0};
  metrics_err_t e;
  ck_assert_int_eq(metrics_errors(y, t, 3, 1, &e), MOEX_OK);
  ck_assert(isnan(e.mse) && isnan(e.rmse) && isnan(e.sup));
  const double yi[] = {0.5, INFINITY}, ti[] = {0.25, 1.0};
  ck_assert_int_eq(metrics_errors(yi, ti, 1, 2, &e), MOEX_OK);
  ck_assert(isinf(e.sup) && isinf(e.mse));
}
END_TEST

/* sup >= RMSE always (a max is at least a quadratic mean), and RMSE >= sup / sqrt(n). */
START_TEST(test_errors_sup_ge_rmse_property) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 20250531);
  double *y = malloc(400 * sizeof *y), *t = malloc(400 * sizeof *t);
  for (int trial = 0; trial < 2000; trial++) {
    size_t N = 1 + gsl_rng_uniform_int(r, 100), k = 1 + gsl_rng_uniform_int(r, 4);
    int kind = trial % 4;
    for (size_t i = 0; i < N * k; i++) {
      t[i] = gsl_ran_gaussian(r, 3.7);
      double d = kind == 0   ? gsl_ran_gaussian(r, 1e-3)
                 : kind == 1 ? gsl_ran_cauchy(r, 2.0)            /* heavy tails */
                 : kind == 2 ? (i == 0 ? 5.5 : 0.0)              /* one spike */
                             : gsl_rng_uniform(r) - 0.5;
      y[i] = t[i] + d;
    }
    metrics_err_t e;
    ck_assert_int_eq(metrics_errors(y, t, N, k, &e), MOEX_OK);
    ck_assert_msg(e.sup >= e.rmse * (1 - 1e-14), "trial %d: sup %g < rmse %g", trial, e.sup,
                  e.rmse);
    ck_assert(e.rmse * (1 + 1e-14) >= e.sup / sqrt((double)(N * k)));
  }
  free(y);
  free(t);
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_piece_max_hand) {
  /* y, t are (5, 2); pieces {0, 2, 0, 2, 2} of P = 3: piece 1 has no sample. */
  const double y[] = {0.1, 0.2, 1.5, -1.0, 0.3, 0.9, 2.0, 2.0, 0.0, 0.0};
  const double t[] = {0.15, 0.2, 1.0, -1.125, 0.0, 1.0, 2.25, 2.0, 0.0, 0.0625};
  const size_t piece[] = {0, 2, 0, 2, 2};
  double mx[3];
  size_t cnt[3], empty = 99;
  ck_assert_int_eq(metrics_piece_max(y, t, piece, 5, 2, 3, mx, cnt, &empty), MOEX_OK);
  ck_assert_double_eq_tol(mx[0], 0.3, TOL);  /* max(0.05, 0, 0.3, 0.1) */
  ck_assert(isnan(mx[1]));
  ck_assert_double_eq_tol(mx[2], 0.5, TOL);  /* max(0.5, 0.125, 0.25, 0, 0, 0.0625) */
  ck_assert_uint_eq(cnt[0], 2);
  ck_assert_uint_eq(cnt[1], 0);
  ck_assert_uint_eq(cnt[2], 3);
  ck_assert_uint_eq(empty, 1);
  /* The pieces' maxima agree with the global sup norm. */
  metrics_err_t e;
  ck_assert_int_eq(metrics_errors(y, t, 5, 2, &e), MOEX_OK);
  ck_assert_double_eq_tol(e.sup, fmax(mx[0], mx[2]), TOL);
  /* NaN in a piece stays in that piece. */
  const double yn[] = {NAN, 1.0}, tn[] = {0.0, 0.75};
  const size_t pn[] = {1, 0};
  ck_assert_int_eq(metrics_piece_max(yn, tn, pn, 2, 1, 2, mx, NULL, NULL), MOEX_OK);
  ck_assert_double_eq_tol(mx[0], 0.25, TOL);
  ck_assert(isnan(mx[1]));
}
END_TEST

START_TEST(test_errors_bad_input) {
  const double y[] = {1.0, 2.0}, t[] = {1.5, 2.5};
  const size_t piece_bad[] = {0, 3};
  metrics_err_t e;
  double mx[3];
  ck_assert_int_eq(metrics_errors(NULL, t, 2, 1, &e), MOEX_EINVAL);
  expect_msg("NULL");
  ck_assert_int_eq(metrics_errors(y, t, 0, 1, &e), MOEX_EINVAL);
  expect_msg("N = 0");
  ck_assert_int_eq(metrics_errors(y, t, 2, 0, &e), MOEX_EINVAL);
  expect_msg("k = 0");
  ck_assert_int_eq(metrics_piece_max(y, t, piece_bad, 2, 1, 3, mx, NULL, NULL), MOEX_EINVAL);
  expect_msg("piece[1] = 3");
  ck_assert_int_eq(metrics_piece_max(y, t, NULL, 2, 1, 3, mx, NULL, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_piece_max(y, t, piece_bad, 2, 1, 3, NULL, NULL, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_piece_max(y, t, piece_bad, 0, 1, 3, mx, NULL, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_errors(y, t, 2, 1, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_piece_max(y, t, piece_bad, 2, 1, 0, mx, NULL, NULL), MOEX_EINVAL);
  expect_msg("P = 0");
}
END_TEST

/* ---- load -------------------------------------------------------------------------------- */

START_TEST(test_load_hand) {
  const size_t ch[] = {0, 0, 0, 1, 1, 3, 0, 1}; /* counts 4, 3, 0, 1 over E = 4 */
  size_t cnt[4];
  double sh[4];
  metrics_load_t L;
  ck_assert_int_eq(metrics_load(ch, 8, 1, 4, cnt, sh, &L), MOEX_OK);
  ck_assert_uint_eq(cnt[0], 4);
  ck_assert_uint_eq(cnt[1], 3);
  ck_assert_uint_eq(cnt[2], 0);
  ck_assert_uint_eq(cnt[3], 1);
  ck_assert_double_eq_tol(sh[1], 0.375, TOL);
  ck_assert_double_eq_tol(sh[3], 0.125, TOL);
  /* -(0.5 ln 0.5 + 0.375 ln 0.375 + 0.125 ln 0.125) / ln 4 */
  ck_assert_double_eq_tol(L.entropy, 0.7028195311147832, 1e-13);
  ck_assert_double_eq_tol(L.max_share, 0.5, TOL);
  ck_assert_uint_eq(L.dead, 1);
  ck_assert_uint_eq(L.n, 8);
  /* Without the optional outputs: same summary. */
  metrics_load_t L2;
  ck_assert_int_eq(metrics_load(ch, 8, 1, 4, NULL, NULL, &L2), MOEX_OK);
  ck_assert_double_eq(L2.entropy, L.entropy);
  ck_assert_uint_eq(L2.dead, 1);
}
END_TEST

START_TEST(test_load_balanced_single_and_topk) {
  const size_t bal[] = {2, 0, 1, 1, 2, 0};
  metrics_load_t L;
  ck_assert_int_eq(metrics_load(bal, 6, 1, 3, NULL, NULL, &L), MOEX_OK);
  ck_assert_double_eq_tol(L.entropy, 1.0, TOL);
  ck_assert_double_eq_tol(L.max_share, 1.0 / 3.0, TOL);
  ck_assert_uint_eq(L.dead, 0);
  /* All on one expert of 5: entropy 0, 4 dead. */
  const size_t one[] = {3, 3, 3};
  ck_assert_int_eq(metrics_load(one, 3, 1, 5, NULL, NULL, &L), MOEX_OK);
  ck_assert_double_eq_tol(L.entropy, 0.0, TOL);
  ck_assert_uint_eq(L.dead, 4);
  ck_assert_double_eq_tol(L.max_share, 1.0, TOL);
  /* E = 1: entropy defined as 1. */
  const size_t z[] = {0, 0};
  ck_assert_int_eq(metrics_load(z, 2, 1, 1, NULL, NULL, &L), MOEX_OK);
  ck_assert_double_eq_tol(L.entropy, 1.0, TOL);
  ck_assert_uint_eq(L.dead, 0);
  /* K = 2: (3, 2) choices count every slot: counts 2, 1, 3 of 6. */
  const size_t k2[] = {0, 2, 2, 1, 2, 0};
  size_t cnt[3];
  ck_assert_int_eq(metrics_load(k2, 3, 2, 3, cnt, NULL, &L), MOEX_OK);
  ck_assert_uint_eq(cnt[0], 2);
  ck_assert_uint_eq(cnt[1], 1);
  ck_assert_uint_eq(cnt[2], 3);
  ck_assert_uint_eq(L.n, 6);
  ck_assert_double_eq_tol(L.max_share, 0.5, TOL);
}
END_TEST

START_TEST(test_load_bad_input) {
  const size_t ch[] = {0, 4, 1};
  metrics_load_t L;
  ck_assert_int_eq(metrics_load(ch, 3, 1, 4, NULL, NULL, &L), MOEX_EINVAL);
  expect_msg("choice[1] = 4");
  ck_assert_int_eq(metrics_load(ch, 3, 1, 0, NULL, NULL, &L), MOEX_EINVAL);
  expect_msg("E = 0");
  ck_assert_int_eq(metrics_load(ch, 0, 1, 5, NULL, NULL, &L), MOEX_EINVAL);
  expect_msg("N = 0");
  ck_assert_int_eq(metrics_load(NULL, 3, 1, 5, NULL, NULL, &L), MOEX_EINVAL);
  ck_assert_int_eq(metrics_load(ch, 3, 1, 5, NULL, NULL, NULL), MOEX_EINVAL);
}
END_TEST

/* ---- agreement ----------------------------------------------------------------------------- */

/* Expert 0 gets 5 samples of chart 0 and 4 of chart 1; expert 1 gets 4 of chart 0.
 * Greedy (largest entry first) pairs 0-0 (5) then 1-1 (0): 5 agree. The best one-to-one
 * matching pairs 0-1 and 1-0: 4 + 4 = 8 of 13. */
static void build_greedy_trap(size_t *ch, size_t *lab) {
  size_t s = 0;
  for (int i = 0; i < 5; i++) { ch[s] = 0; lab[s++] = 0; }
  for (int i = 0; i < 4; i++) { ch[s] = 0; lab[s++] = 1; }
  for (int i = 0; i < 4; i++) { ch[s] = 1; lab[s++] = 0; }
}

START_TEST(test_agree_greedy_trap) {
  size_t ch[13], lab[13];
  build_greedy_trap(ch, lab);
  metrics_agree_t *a = metrics_agree_alloc(2, 2);
  ck_assert_ptr_nonnull(a);
  ck_assert_int_eq(metrics_agree(a, ch, 13, 1, lab, NULL), MOEX_OK);
  ck_assert_uint_eq(a->conf[0], 5);
  ck_assert_uint_eq(a->conf[1], 4);
  ck_assert_uint_eq(a->conf[2], 4);
  ck_assert_uint_eq(a->conf[3], 0);
  ck_assert_uint_eq(a->majority[0], 0);
  ck_assert_uint_eq(a->majority[1], 0);
  ck_assert_double_eq_tol(a->purity[0], 5.0 / 9.0, TOL);
  ck_assert_double_eq_tol(a->purity[1], 1.0, TOL);
  ck_assert_double_eq_tol(a->overall_purity, 9.0 / 13.0, TOL);
  ck_assert_uint_eq(a->match[0], 1);
  ck_assert_uint_eq(a->match[1], 0);
  ck_assert_double_eq_tol(a->match_agreement, 8.0 / 13.0, TOL);
  ck_assert(isnan(a->routing_accuracy) && isnan(a->routing_accuracy_best));
  metrics_agree_free(a);
}
END_TEST

START_TEST(test_agree_membership) {
  /* Same routing; charts overlap: every sample of expert 0 with label 0 (the first 5) also lies
   * in chart 1, and the last 2 samples of expert 1 lie in both charts. */
  size_t ch[13], lab[13];
  build_greedy_trap(ch, lab);
  unsigned char mem[13 * 2];
  for (size_t s = 0; s < 13; s++) {
    mem[2 * s + 0] = lab[s] == 0;
    mem[2 * s + 1] = lab[s] == 1;
  }
  for (size_t s = 0; s < 5; s++) mem[2 * s + 1] = 1;
  mem[2 * 11 + 1] = mem[2 * 12 + 1] = 1;
  metrics_agree_t *a = metrics_agree_alloc(2, 2);
  ck_assert_int_eq(metrics_agree(a, ch, 13, 1, lab, mem), MOEX_OK);
  /* Label matching 0->1, 1->0: expert 0's 9 samples all lie in chart 1, expert 1's 4 in chart
   * 0: accuracy 13/13. */
  ck_assert_double_eq_tol(a->routing_accuracy, 1.0, TOL);
  ck_assert_double_eq_tol(a->routing_accuracy_best, 1.0, TOL);
  /* Under the identity map: expert 0 -> chart 0 holds the first 5, expert 1 -> chart 1 holds
   * samples 11 and 12: 7 of 13. */
  const size_t id[2] = {0, 1};
  double acc;
  ck_assert_int_eq(metrics_routing_accuracy(ch, 13, 1, 2, mem, 2, id, &acc), MOEX_OK);
  ck_assert_double_eq_tol(acc, 7.0 / 13.0, TOL);
  const size_t half[2] = {SIZE_MAX, 0}; /* expert 0 unmapped: only expert 1's 4 count */
  ck_assert_int_eq(metrics_routing_accuracy(ch, 13, 1, 2, mem, 2, half, &acc), MOEX_OK);
  ck_assert_double_eq_tol(acc, 4.0 / 13.0, TOL);
  metrics_agree_free(a);
}
END_TEST

START_TEST(test_agree_membership_best_differs) {
  /* 3 experts, 3 charts. Labels say expert e <-> chart e, but membership says expert 2's
   * samples lie in chart 0 (not 2) and expert 0's lie in charts 0 and 2. */
  const size_t ch[] = {0, 0, 1, 1, 2, 2};
  const size_t lab[] = {0, 0, 1, 1, 2, 2};
  const unsigned char mem[] = {1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0};
  metrics_agree_t *a = metrics_agree_alloc(3, 3);
  ck_assert_int_eq(metrics_agree(a, ch, 6, 1, lab, mem), MOEX_OK);
  for (size_t e = 0; e < 3; e++) ck_assert_uint_eq(a->match[e], e);
  ck_assert_double_eq_tol(a->match_agreement, 1.0, TOL);
  ck_assert_double_eq_tol(a->routing_accuracy, 4.0 / 6.0, TOL);  /* expert 2 misses chart 2 */
  ck_assert_double_eq_tol(a->routing_accuracy_best, 1.0, TOL);   /* 0->2, 1->1, 2->0 */
  ck_assert_uint_eq(a->match_member[0], 2);
  ck_assert_uint_eq(a->match_member[1], 1);
  ck_assert_uint_eq(a->match_member[2], 0);
  metrics_agree_free(a);
}
END_TEST

START_TEST(test_agree_rectangular_and_unused) {
  /* E = 4 experts, C = 2 charts; expert 3 gets nothing; K = 2 (column 0 used). */
  const size_t ch[] = {0, 3, 0, 1, 1, 2, 2, 0, 2, 1, 1, 0, 0, 2};
  const size_t lab[] = {0, 0, 1, 1, 1, 1, 0};
  metrics_agree_t *a = metrics_agree_alloc(4, 2);
  ck_assert_int_eq(metrics_agree(a, ch, 7, 2, lab, NULL), MOEX_OK);
  /* Column 0 is {0, 0, 1, 2, 2, 1, 0}: expert 0 -> labels {0, 0, 0}, expert 1 -> {1, 1},
   * expert 2 -> {1, 1}. */
  ck_assert_uint_eq(a->n_expert[0], 3);
  ck_assert_uint_eq(a->n_expert[3], 0);
  ck_assert_uint_eq(a->majority[3], SIZE_MAX);
  ck_assert(isnan(a->purity[3]));
  ck_assert_double_eq_tol(a->overall_purity, 1.0, TOL);
  ck_assert_uint_eq(a->match[0], 0);
  /* Chart 1 goes to expert 1 or 2 (2 samples either way); the other is unmatched. */
  ck_assert((a->match[1] == 1 && a->match[2] == SIZE_MAX) ||
            (a->match[2] == 1 && a->match[1] == SIZE_MAX));
  ck_assert_uint_eq(a->match[3], SIZE_MAX);
  ck_assert_double_eq_tol(a->match_agreement, 5.0 / 7.0, TOL);
  metrics_agree_free(a);
  /* More charts than experts: C = 3, E = 2. */
  const size_t ch2[] = {0, 1, 1, 0, 1};
  const size_t lab2[] = {2, 2, 0, 2, 1};
  a = metrics_agree_alloc(2, 3);
  ck_assert_int_eq(metrics_agree(a, ch2, 5, 1, lab2, NULL), MOEX_OK);
  ck_assert_uint_eq(a->match[0], 2);      /* expert 0 holds 2 of chart 2 */
  ck_assert_uint_ne(a->match[1], 2);      /* expert 1: chart 0 or 1 (1 each) */
  ck_assert_double_eq_tol(a->match_agreement, 3.0 / 5.0, TOL);
  metrics_agree_free(a);
}
END_TEST

/* The Hungarian result equals the brute-force optimum over all injective assignments. */
static double brute(const double *w, size_t nr, size_t nc, size_t r, unsigned used) {
  if (r == nr) return 0.0;
  double best = -INFINITY;
  if (nr > nc) best = brute(w, nr, nc, r + 1, used); /* row r left out (only when rows > cols) */
  for (size_t c = 0; c < nc; c++)
    if (!(used & (1u << c))) {
      double v = w[r * nc + c] + brute(w, nr, nc, r + 1, used | (1u << c));
      if (v > best) best = v;
    }
  return best;
}

START_TEST(test_assign_vs_brute_force) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 4242);
  double w[36];
  size_t map[6];
  for (int trial = 0; trial < 400; trial++) {
    size_t nr = 1 + gsl_rng_uniform_int(r, 6), nc = 1 + gsl_rng_uniform_int(r, 6);
    int integer = trial % 2;
    for (size_t i = 0; i < nr * nc; i++)
      w[i] = integer ? (double)gsl_rng_uniform_int(r, 7) : 10.0 * gsl_rng_uniform(r) - 2.5;
    double tot;
    ck_assert_int_eq(metrics_assign_max(w, nr, nc, map, &tot, NULL, NULL, NULL), MOEX_OK);
    /* One-to-one, and the total is the sum of the chosen entries. */
    double sum = 0.0;
    size_t matched = 0;
    unsigned seen = 0;
    for (size_t i = 0; i < nr; i++) {
      if (map[i] == SIZE_MAX) continue;
      ck_assert_uint_lt(map[i], nc);
      ck_assert(!(seen & (1u << map[i])));
      seen |= 1u << map[i];
      sum += w[i * nc + map[i]];
      matched++;
    }
    ck_assert_uint_eq(matched, nr < nc ? nr : nc);
    ck_assert_double_eq_tol(sum, tot, 1e-9);
    /* brute() may leave rows out; with weights >= 0 (the integer trials) that never beats a
     * full matching of min(nr, nc) pairs, so the optima agree. */
    if (integer) ck_assert_double_eq_tol(tot, brute(w, nr, nc, 0, 0u), 1e-9);
  }
  /* Non-integer weights >= 0. */
  for (int trial = 0; trial < 200; trial++) {
    size_t nr = 1 + gsl_rng_uniform_int(r, 6), nc = 1 + gsl_rng_uniform_int(r, 6);
    for (size_t i = 0; i < nr * nc; i++) w[i] = 3.7 * gsl_rng_uniform(r);
    double tot;
    ck_assert_int_eq(metrics_assign_max(w, nr, nc, map, &tot, NULL, NULL, NULL), MOEX_OK);
    ck_assert_double_eq_tol(tot, brute(w, nr, nc, 0, 0u), 1e-9);
  }
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_agree_bad_input) {
  ck_assert_ptr_null(metrics_agree_alloc(0, 3));
  expect_msg("E = 0");
  ck_assert_ptr_null(metrics_agree_alloc(2, METRICS_AGREE_MAX + 1));
  metrics_agree_t *a = metrics_agree_alloc(2, 3);
  const size_t ch[] = {0, 1, 2}, lab[] = {0, 2, 1}, lab_bad[] = {0, 3, 1}, ch_ok[] = {0, 1, 1};
  ck_assert_int_eq(metrics_agree(a, ch, 3, 1, lab, NULL), MOEX_EINVAL);
  expect_msg("= 2 is not below E = 2");
  ck_assert_int_eq(metrics_agree(a, ch_ok, 3, 1, lab_bad, NULL), MOEX_EINVAL);
  expect_msg("label[1] = 3");
  ck_assert_int_eq(metrics_agree(a, ch_ok, 0, 1, lab, NULL), MOEX_EINVAL);
  expect_msg("N = 0");
  ck_assert_int_eq(metrics_agree(a, NULL, 3, 1, lab, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_agree(NULL, ch_ok, 3, 1, lab, NULL), MOEX_EINVAL);
  unsigned char mem[9] = {1, 0, 0, 0, 2, 0, 0, 1, 1};
  ck_assert_int_eq(metrics_agree(a, ch_ok, 3, 1, lab, mem), MOEX_EINVAL);
  expect_msg("member[1][1] = 2");
  mem[4] = 0;
  ck_assert_int_eq(metrics_agree(a, ch_ok, 3, 1, lab, mem), MOEX_OK);
  double acc;
  const size_t map_bad[] = {0, 3};
  ck_assert_int_eq(metrics_routing_accuracy(ch_ok, 3, 1, 2, mem, 3, map_bad, &acc), MOEX_EINVAL);
  expect_msg("map[1] = 3");
  ck_assert_int_eq(metrics_routing_accuracy(ch, 3, 1, 2, mem, 3, a->match, &acc), MOEX_EINVAL);
  expect_msg("= 2 is not below E = 2");
  ck_assert_int_eq(metrics_routing_accuracy(ch, 3, 1, 0, mem, 3, a->match, &acc), MOEX_EINVAL);
  ck_assert_int_eq(metrics_routing_accuracy(ch_ok, 3, 1, 2, NULL, 3, a->match, &acc), MOEX_EINVAL);
  ck_assert_int_eq(metrics_routing_accuracy(ch_ok, 3, 1, 2, mem, 3, a->match, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_agree(a, ch_ok, 3, 0, lab, NULL), MOEX_EINVAL);
  expect_msg("K = 0");
  metrics_agree_free(a);
  metrics_agree_free(NULL);
  double w[2] = {1.0, NAN};
  size_t m2[1];
  ck_assert_int_eq(metrics_assign_max(w, 1, 2, m2, NULL, NULL, NULL, NULL), MOEX_EINVAL);
  expect_msg("finite");
  double cost[4];
  ck_assert_int_eq(metrics_assign_max(w, 1, 2, m2, NULL, cost, NULL, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_assign_max(w, 0, 2, m2, NULL, NULL, NULL, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_assign_max(w, 1, METRICS_AGREE_MAX + 1, m2, NULL, NULL, NULL, NULL),
                   MOEX_EINVAL);
  expect_msg("exceeds");
  ck_assert_int_eq(metrics_assign_max(NULL, 1, 2, m2, NULL, NULL, NULL, NULL), MOEX_EINVAL);
}
END_TEST

/* ---- paths --------------------------------------------------------------------------------- */

START_TEST(test_paths) {
  const size_t p[] = {0, 4, 4, 8, 0, 2, 8};
  size_t used = 0, cnt[9];
  ck_assert_int_eq(metrics_paths(p, 7, 9, &used, cnt), MOEX_OK);
  ck_assert_uint_eq(used, 4);
  ck_assert_uint_eq(cnt[0], 2);
  ck_assert_uint_eq(cnt[2], 1);
  ck_assert_uint_eq(cnt[4], 2);
  ck_assert_uint_eq(cnt[8], 2);
  ck_assert_uint_eq(cnt[1] + cnt[3] + cnt[5] + cnt[6] + cnt[7], 0);
  used = 0;
  ck_assert_int_eq(metrics_paths(p, 7, 9, &used, NULL), MOEX_OK);
  ck_assert_uint_eq(used, 4);
  /* A huge E^L without a count table. */
  const size_t big[] = {(size_t)1 << 40, 3, (size_t)1 << 40};
  ck_assert_int_eq(metrics_paths(big, 3, (size_t)1 << 41, &used, NULL), MOEX_OK);
  ck_assert_uint_eq(used, 2);
  ck_assert_int_eq(metrics_paths(p, 7, 8, &used, NULL), MOEX_EINVAL);
  expect_msg("path[3] = 8");
  ck_assert_int_eq(metrics_paths(p, 0, 9, &used, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_paths(p, 7, 0, &used, NULL), MOEX_EINVAL);
  ck_assert_int_eq(metrics_paths(NULL, 7, 9, &used, NULL), MOEX_EINVAL);
}
END_TEST

Suite *metrics_suite(void) {
  return testutil_suite("metrics",
                        TESTUTIL_CASE("errors", 0, test_errors_hand, test_errors_nan_propagates,
                                      test_errors_sup_ge_rmse_property, test_piece_max_hand, test_errors_bad_input),
                        TESTUTIL_CASE("routing", 0, test_load_hand, test_load_balanced_single_and_topk,
                                      test_load_bad_input, test_agree_greedy_trap, test_agree_membership,
                                      test_agree_membership_best_differs, test_agree_rectangular_and_unused,
                                      test_assign_vs_brute_force, test_agree_bad_input, test_paths));
}
