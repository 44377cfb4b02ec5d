/* mlp_wide: which shapes take the blocked path, the blocked forward and backward against the
 * layer-by-layer path (outputs, hidden activations, every gradient entry, the input gradient),
 * and the blocked gradient against central differences. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "model/mlp.h"

typedef struct {
  mlp_t net;
  size_t n;
  double *theta, *x, *dy, *acts, *scratch;
} wide_case;

static void fill(double *v, size_t len, gsl_rng *r, double lo, double hi) {
  for (size_t i = 0; i < len; i++) v[i] = lo + (hi - lo) * gsl_rng_uniform(r);
}

/* A net din -> w -> dout at n rows with He-scaled weights and biases that leave about half the
 * hidden units of each row inactive, so that the ReLU's both sides are exercised. */
static wide_case case_make(size_t din, size_t w, size_t dout, size_t n, unsigned long seed) {
  wide_case c = {.n = n};
  ck_assert_int_eq(mlp_init(&c.net, din, dout, 2, w), 0);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  c.theta = malloc(c.net.n_params * sizeof(double));
  mlp_init_params(&c.net, c.theta, r, MLP_INIT_HE);
  c.x = malloc(n * din * sizeof(double));
  c.dy = malloc(n * dout * sizeof(double));
  fill(c.x, n * din, r, -1.0, 1.0);
  fill(c.dy, n * dout, r, -1.0, 1.0);
  c.acts = calloc(n * c.net.act_width, sizeof(double));
  c.scratch = calloc(2 * n * c.net.max_dim, sizeof(double));
  gsl_rng_free(r);
  return c;
}

static void case_free(wide_case *c) {
  free(c->theta);
  free(c->x);
  free(c->dy);
  free(c->acts);
  free(c->scratch);
}

/* max_i |a_i - b_i| / max(1, max_i |b_i|); infinite where either is not finite */
static double max_diff(const double *a, const double *b, size_t len) {
  double d = 0.0, s = 1.0;
  for (size_t i = 0; i < len; i++) {
    if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
    d = fmax(d, fabs(a[i] - b[i]));
    s = fmax(s, fabs(b[i]));
  }
  return d / s;
}

START_TEST(test_applies) {
  mlp_t net;
  ck_assert_int_eq(mlp_init(&net, 32, 1, 2, 2048), 0);
  ck_assert(mlp_wide_applies(&net, 128));  /* 128 x 2048 = 2^18 activations */
  ck_assert(!mlp_wide_applies(&net, 127)); /* one row fewer: below the threshold */
  ck_assert_int_eq(mlp_init(&net, 32, 1, 2, 2047), 0);
  ck_assert(!mlp_wide_applies(&net, 128));
  ck_assert_int_eq(mlp_init(&net, 3, 1, 2, 8192), 0);
  ck_assert(!mlp_wide_applies(&net, 128)); /* an input below 4 */
  ck_assert_int_eq(mlp_init(&net, 4, 5, 2, 8192), 0);
  ck_assert(!mlp_wide_applies(&net, 128)); /* an output above 4 */
  ck_assert_int_eq(mlp_init(&net, 4, 4, 2, 8192), 0);
  ck_assert(mlp_wide_applies(&net, 128));
  ck_assert_int_eq(mlp_init(&net, 32, 1, 2, 4096), 0);
  ck_assert(mlp_wide_applies(&net, 256));
  ck_assert(!mlp_wide_applies(&net, 257)); /* more rows than a block keeps in L2 */
  ck_assert_int_eq(mlp_init(&net, 32, 1, 3, 8192), 0);
  ck_assert(!mlp_wide_applies(&net, 128)); /* two hidden layers */
  double one = 1.0;
  ck_assert_ptr_null(mlp_wide_forward(&net, &one, 1, &one, &one)); /* and the blocked functions refuse it */
}
END_TEST

/* The shapes: blocks with a remainder that is a multiple of 4 and one that is not, odd row
 * counts, outputs 1 to 4, and a width below one block (only by the functions, not dispatched). */
static const size_t SHAPES[][4] = {{32, 2300, 1, 128}, {5, 1030, 3, 257}, {4, 2049, 4, 130}, {7, 200, 2, 9}};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

START_TEST(test_against_layers) {
  const size_t *sh = SHAPES[_i];
  wide_case c = case_make(sh[0], sh[1], sh[2], sh[3], 100 + (unsigned long)_i);
  size_t n = c.n, P = c.net.n_params, din = sh[0], w = sh[1], A = n * c.net.act_width;
  /* NaN pre-activations on two hidden units: both paths' ReLU takes them to 0 */
  c.theta[c.net.b_off[0] + 3] = NAN;
  c.theta[c.net.b_off[0] + w - 2] = NAN;
  double *acts2 = calloc(A, sizeof(double)), *g1 = malloc(P * sizeof(double)), *g2 = malloc(P * sizeof(double));
  double *dx1 = malloc(n * din * sizeof(double)), *dx2 = malloc(n * din * sizeof(double));
  double *y1 = mlp_wide_forward(&c.net, c.theta, n, c.x, c.acts);
  double *y2 = mlp_layers_forward(&c.net, c.theta, n, c.x, acts2);
  ck_assert_ptr_eq(y1, c.acts + n * w);
  ck_assert_double_le(max_diff(c.acts, acts2, A), 1e-13);
  size_t active = 0;
  for (size_t i = 0; i < n * w; i++) active += c.acts[i] > 0.0;
  ck_assert(active > n * w / 5 && active < n * w * 4 / 5);
  (void)y2;
  /* the gradients accumulate: both start from the same nonzero block */
  for (int with_dx = 0; with_dx < 2; with_dx++) {
    for (size_t i = 0; i < P; i++) g1[i] = g2[i] = 0.01 * (double)(i % 7);
    memset(dx1, 0xff, n * din * sizeof(double)); /* NaN: dx is overwritten, never read */
    memset(dx2, 0xff, n * din * sizeof(double));
    mlp_wide_backward(&c.net, c.theta, n, c.x, c.acts, c.dy, g1, with_dx ? dx1 : NULL, c.scratch);
    mlp_layers_backward(&c.net, c.theta, n, c.x, acts2, c.dy, g2, with_dx ? dx2 : NULL, c.scratch);
    ck_assert_double_le(max_diff(g1, g2, P), 1e-13);
    if (with_dx) ck_assert_double_le(max_diff(dx1, dx2, n * din), 1e-13);
  }
  free(acts2);
  free(g1);
  free(g2);
  free(dx1);
  free(dx2);
  case_free(&c);
}
END_TEST

/* mlp_forward and mlp_backward take the blocked path exactly where it applies */
START_TEST(test_dispatch) {
  wide_case c = case_make(8, 2100, 2, 128, 7);
  size_t n = c.n, A = n * c.net.act_width, P = c.net.n_params;
  double *a2 = calloc(A, sizeof(double)), *g1 = calloc(P, sizeof(double)), *g2 = calloc(P, sizeof(double));
  mlp_forward(&c.net, c.theta, n, c.x, c.acts);
  mlp_wide_forward(&c.net, c.theta, n, c.x, a2);
  ck_assert_mem_eq(c.acts, a2, A * sizeof(double));
  mlp_backward(&c.net, c.theta, n, c.x, c.acts, c.dy, g1, NULL, c.scratch);
  mlp_wide_backward(&c.net, c.theta, n, c.x, a2, c.dy, g2, NULL, c.scratch);
  ck_assert_mem_eq(g1, g2, P * sizeof(double));
  /* 100 rows are below the threshold: the layers' path */
  memset(g1, 0, P * sizeof(double));
  memset(g2, 0, P * sizeof(double));
  mlp_forward(&c.net, c.theta, 100, c.x, c.acts);
  mlp_layers_forward(&c.net, c.theta, 100, c.x, a2);
  ck_assert_mem_eq(c.acts, a2, 100 * c.net.act_width * sizeof(double));
  mlp_backward(&c.net, c.theta, 100, c.x, c.acts, c.dy, g1, NULL, c.scratch);
  mlp_layers_backward(&c.net, c.theta, 100, c.x, a2, c.dy, g2, NULL, c.scratch);
  ck_assert_mem_eq(g1, g2, P * sizeof(double));
  free(a2);
  free(g1);
  free(g2);
  case_free(&c);
}
END_TEST

/* The sums' order, bit for bit (kern_wide.c): y = b2, then per block of MLP_WIDE_BLOCK units the
 * 4-lane dot ((S0 + S2) + (S1 + S3), then the units past the last multiple of 4) added to y; dW2
 * gets dy[s, k] h[s, j] row after row. Checked on the activations the blocked pass stored. */
START_TEST(test_order_pinned) {
  wide_case c = case_make(5, 1030, 3, 257, 23);
  size_t n = c.n, w = 1030, dout = 3, P = c.net.n_params;
  const double *W2 = c.theta + c.net.w_off[1], *b2 = c.theta + c.net.b_off[1];
  const double *y = mlp_wide_forward(&c.net, c.theta, n, c.x, c.acts), *H = c.acts;
  for (size_t s = 0; s < n; s++)
    for (size_t k = 0; k < dout; k++) {
      double want = b2[k];
      for (size_t o = 0; o < w; o += MLP_WIDE_BLOCK) {
        size_t m = w - o < MLP_WIDE_BLOCK ? w - o : MLP_WIDE_BLOCK, j = 0;
        double S[4] = {0.0, 0.0, 0.0, 0.0};
        for (; j + 4 <= m; j += 4)
          for (size_t l = 0; l < 4; l++) S[l] += H[s * w + o + j + l] * W2[k * w + o + j + l];
        double t = (S[0] + S[2]) + (S[1] + S[3]);
        for (; j < m; j++) t += H[s * w + o + j] * W2[k * w + o + j];
        want += t;
      }
      ck_assert_msg(y[s * dout + k] == want, "y[%zu, %zu] = %.17g, the order gives %.17g", s, k, y[s * dout + k], want);
    }
  double *g = calloc(P, sizeof(double));
  mlp_wide_backward(&c.net, c.theta, n, c.x, c.acts, c.dy, g, NULL, c.scratch);
  for (size_t k = 0; k < dout; k++)
    for (size_t j = 0; j < w; j++) {
      double want = 0.0;
      for (size_t s = 0; s < n; s++) want += c.dy[s * dout + k] * H[s * w + j];
      ck_assert(g[c.net.w_off[1] + k * w + j] == want);
    }
  free(g);
  case_free(&c);
}
END_TEST

/* L = sum dy . y, whose gradient the backward pass computes from dy */
static double lin_loss(wide_case *c) {
  size_t dout = c->net.dims[2];
  const double *y = mlp_wide_forward(&c->net, c->theta, c->n, c->x, c->acts);
  double L = 0.0;
  for (size_t i = 0; i < c->n * dout; i++) L += c->dy[i] * y[i];
  return L;
}

static double central(wide_case *c, double *v) {
  const double h = 1e-6, keep = *v;
  *v = keep + h;
  double up = lin_loss(c);
  *v = keep - h;
  double down = lin_loss(c);
  *v = keep;
  return (up - down) / (2.0 * h);
}

START_TEST(test_finite_differences) {
  wide_case c = case_make(6, 2300, 2, 120, 11); /* 120 x 2300 > 2^18: dispatched too */
  ck_assert(mlp_wide_applies(&c.net, c.n));
  size_t P = c.net.n_params, n = c.n, din = 6;
  double *g = calloc(P, sizeof(double)), *dx = malloc(n * din * sizeof(double));
  lin_loss(&c);
  mlp_wide_backward(&c.net, c.theta, n, c.x, c.acts, c.dy, g, dx, c.scratch);
  /* parameters in the first, a middle and the last (partial) block of W1 and b1, W2, b2 */
  const size_t w = 2300, units[] = {0, 3, 255, 256, 1290, 2047, 2048, 2299};
  size_t checked = 0;
  for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
    size_t o = units[u];
    size_t idx[] = {c.net.w_off[0] + o * din + (o % din), c.net.b_off[0] + o, c.net.w_off[1] + o,
                    c.net.w_off[1] + w + o};
    for (size_t k = 0; k < 4; k++) {
      double fd = central(&c, c.theta + idx[k]);
      ck_assert_msg(fabs(fd - g[idx[k]]) <= 1e-6 * fmax(1.0, fabs(fd)), "parameter %zu: fd %.10g grad %.10g",
                    idx[k], fd, g[idx[k]]);
      checked += g[idx[k]] != 0.0;
    }
  }
  ck_assert(checked >= 16); /* most of them carry gradient (inactive units give 0 on both sides) */
  for (size_t k = 0; k < 2; k++) ck_assert_double_le(fabs(central(&c, c.theta + c.net.b_off[1] + k) - g[c.net.b_off[1] + k]), 1e-6);
  for (size_t i = 0; i < n * din; i += 97) ck_assert_double_le(fabs(central(&c, c.x + i) - dx[i]), 1e-6);
  free(g);
  free(dx);
  case_free(&c);
}
END_TEST

Suite *mlp_wide_suite(void) {
  return testutil_suite("mlp_wide", TESTUTIL_CASE_LOOPS("mlp_wide", 60, TESTUTIL_LOOPS({test_against_layers, 0, (int)N_SHAPES}),
                                                        test_applies, test_against_layers, test_dispatch, test_order_pinned,
                                                        test_finite_differences));
}
