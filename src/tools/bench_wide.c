/* bench_wide: moex-bench's H4 row, a training step's forward and backward of manifold_rates'
 * largest dense net (dense-total at rate-d3-m128: 32 -> 6210 -> 1, 128 rows), layer by layer and
 * by blocks of hidden units (src/model/mlp_wide.c), the two interleaved round by round. */
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "tools/bench.h"
#include "core/moex_error.h"
#include "model/mlp.h"

typedef struct {
  mlp_t net;
  size_t n;
  double *theta, *x, *dy, *acts, *grad, *scratch;
} wide_bench;

static double *rnd(size_t len, gsl_rng *g, double scale) {
  double *v = malloc(len * sizeof *v);
  if (v)
    for (size_t i = 0; i < len; i++) v[i] = scale * (2.0 * gsl_rng_uniform(g) - 1.0);
  return v;
}

/* one step of each path: blocked != 0 takes mlp_wide_* */
static void wide_step(wide_bench *b, int blocked) {
  if (blocked) {
    mlp_wide_forward(&b->net, b->theta, b->n, b->x, b->acts);
    mlp_wide_backward(&b->net, b->theta, b->n, b->x, b->acts, b->dy, b->grad, NULL, b->scratch);
  } else {
    mlp_layers_forward(&b->net, b->theta, b->n, b->x, b->acts);
    mlp_layers_backward(&b->net, b->theta, b->n, b->x, b->acts, b->dy, b->grad, NULL, b->scratch);
  }
}

static int wide_rows(wide_bench *b, int rounds, int reps, double rate, bench_row *rows, int *nr) {
  double *dt[2] = {calloc((size_t)rounds, sizeof(double)), calloc((size_t)rounds, sizeof(double))};
  int rc = dt[0] && dt[1] ? 0 : 1;
  for (int r = 0; r < rounds && !rc; r++)
    for (int p = 0; p < 2; p++) {
      wide_step(b, p); /* warm-up: the path's first touch of the buffers */
      double t0 = bench_now();
      for (int k = 0; k < reps; k++) wide_step(b, p);
      dt[p][r] = (bench_now() - t0) / reps;
    }
  /* useful flops: the two products with the input (forward and weight gradient), the output
   * layer's forward, weight and hidden gradients */
  size_t din = b->net.dims[0], w = b->net.dims[1], dout = b->net.dims[2];
  double flops = (double)b->n * (4.0 * (double)din * (double)w + 6.0 * (double)w * (double)dout);
  if (!rc && *nr + 2 > BENCH_MAX_ROWS) {
    fprintf(stderr, "moex-bench: H4: more than %d rows\n", BENCH_MAX_ROWS);
    rc = 1;
  }
  for (int p = 0; p < 2 && !rc; p++) {
    char buf[200];
    snprintf(buf, sizeof buf, "H4 dense step (forward + backward) %zu -> %zu -> %zu, %zu rows, %s", din, w, dout, b->n,
             p ? "by blocks of 256 hidden units (mlp_wide)" : "layer by layer");
    bench_row row = {.id = "H4", .what = bench_keep(buf), .allocs = -1, .rss_kib = bench_peak_rss_kib(), .seeds = -1,
                     .reached = -1};
    bench_row_times(&row, dt[p], (size_t)rounds);
    row.gflops = flops / row.median_s / 1e9;
    row.frac = row.gflops / rate;
    rows[(*nr)++] = row;
  }
  free(dt[0]);
  free(dt[1]);
  return rc;
}

int bench_wide(int quick, double rate, bench_row *rows, int *nr) {
  wide_bench b = {.n = 128};
  size_t w = quick ? 2048 : 6210;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = !g || mlp_init(&b.net, 32, 1, 2, w);
  if (!rc && !mlp_wide_applies(&b.net, b.n)) rc = moex_error(MOEX_EINVAL, "the net does not take the blocked path");
  if (!rc) {
    gsl_rng_set(g, 44);
    b.theta = rnd(b.net.n_params, g, 0.2);
    b.x = rnd(b.n * 32, g, 1.0);
    b.dy = rnd(b.n, g, 1.0);
    b.acts = calloc(b.n * b.net.act_width, sizeof(double));
    b.grad = calloc(b.net.n_params, sizeof(double));
    b.scratch = calloc(2 * b.n * b.net.max_dim, sizeof(double));
    if (!(b.theta && b.x && b.dy && b.acts && b.grad && b.scratch)) rc = moex_error(MOEX_ENOMEM, "out of memory");
  }
  if (!rc) rc = wide_rows(&b, quick ? 3 : 9, quick ? 2 : 60, rate, rows, nr);
  if (rc) fprintf(stderr, "moex-bench: H4 failed: %s\n", moex_errmsg());
  free(b.theta); free(b.x); free(b.dy); free(b.acts); free(b.grad); free(b.scratch);
  if (g) gsl_rng_free(g);
  return rc ? 1 : 0;
}
