/* runsets: one run's training, test and evaluation sets, for a manifold or a piecewise target. */
#include "lib/runsets.h"

#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"

static gsl_rng *rng_seeded(unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (r) gsl_rng_set(r, seed);
  return r;
}

/* The evaluation grid's intrinsic coordinates (the angle on a circle): the grid drawn again. */
static int manifold_coords(runsets_t *s, size_t eval) {
  s->n_u = manifold_u_dim(s->M);
  s->u = malloc(s->ev.n * s->n_u * sizeof *s->u);
  double *x = malloc(s->ev.n * s->d_in * sizeof *x);
  int rc = s->u && x ? manifold_grid(s->M, eval, x, s->u, NULL) : moex_error(MOEX_ENOMEM, "runsets: out of memory");
  free(x);
  return rc;
}

int runsets_manifold(runsets_t *s, const runsets_manifold_spec *spec) {
  memset(s, 0, sizeof *s);
  s->M = manifold_alloc(&spec->mc);
  s->f = s->M ? targetfn_alloc(s->M, spec->target, spec->target_seed) : NULL;
  if (!s->f) return MOEX_EINVAL;
  s->d_in = manifold_ambient(s->M);
  s->d_out = 1;
  s->n_labels = manifold_charts(s->M);
  s->by_chart = 1;
  s->train_labels = spec->train_labels;
  gsl_rng *r = rng_seeded(spec->data_seed);
  int rc = r ? study_set_make(s->M, s->f, r, spec->n_train, 0, &s->tr) : moex_error(MOEX_ENOMEM, "runsets: out of memory");
  if (!rc) rc = study_set_make(s->M, s->f, r, spec->n_test, 0, &s->te);
  if (!rc) rc = study_set_make(s->M, s->f, r, spec->eval, 1, &s->ev);
  if (!rc && spec->eval_coords) rc = manifold_coords(s, spec->eval);
  gsl_rng_free(r);
  return rc;
}

static int piece_set(const runsets_piecewise_spec *s, gsl_rng *r, size_t n, size_t per_dim, int labels, study_set_t *t) {
  const piecewise *P = s->P;
  const piecewise_prod *Q = s->Q;
  size_t din = P ? piecewise_in_dim(P) : piecewise_prod_in_dim(Q), dout = P ? piecewise_out_dim(P) : piecewise_prod_out_dim(Q);
  t->n = n;
  t->x = malloc(n * din * sizeof *t->x);
  t->y = malloc(n * dout * sizeof *t->y);
  t->chart = labels ? malloc(n * sizeof *t->chart) : NULL;
  if (!t->x || !t->y || (labels && !t->chart)) return moex_error(MOEX_ENOMEM, "runsets: out of memory for %zu points", n);
  if (!P) return piecewise_prod_sample(Q, r, n, t->x, t->y, t->chart);
  return per_dim ? piecewise_grid(P, per_dim, t->x, t->y, t->chart) : piecewise_sample(P, r, n, t->x, t->y, t->chart);
}

int runsets_piecewise(runsets_t *s, const runsets_piecewise_spec *spec) {
  memset(s, 0, sizeof *s);
  const piecewise *P = spec->P;
  const piecewise_prod *Q = spec->Q;
  if (!P && !Q) return moex_error(MOEX_EINVAL, "runsets: no piecewise target");
  s->d_in = P ? piecewise_in_dim(P) : piecewise_prod_in_dim(Q);
  s->d_out = P ? piecewise_out_dim(P) : piecewise_prod_out_dim(Q);
  s->n_labels = P ? piecewise_pieces(P) : piecewise_prod_pieces(Q);
  s->train_labels = spec->train_labels;
  size_t ng = 1, per_dim = P ? spec->per_dim : 0;
  for (size_t k = 0; P && k < s->d_in; k++) ng *= per_dim;
  if (!P) ng = spec->n_eval;
  gsl_rng *r = rng_seeded(spec->data_seed);
  int rc = r ? piece_set(spec, r, spec->n_train, 0, spec->train_labels, &s->tr) : moex_error(MOEX_ENOMEM, "runsets: out of memory");
  if (!rc) rc = piece_set(spec, r, spec->n_test, 0, 0, &s->te);
  if (!rc) rc = piece_set(spec, r, ng, per_dim, 1, &s->ev);
  if (!rc && spec->eval_coords) s->n_u = s->d_in; /* the grid's points are the map's coordinates */
  gsl_rng_free(r);
  return rc;
}

void runsets_free(runsets_t *s) {
  study_set_free(&s->tr);
  study_set_free(&s->te);
  study_set_free(&s->ev);
  free(s->u);
  targetfn_free(s->f);
  manifold_free(s->M);
  memset(s, 0, sizeof *s);
}

exprun_data_t runsets_view(const runsets_t *s, size_t n_keep) {
  exprun_data_t d = {.d_in = s->d_in, .d_out = s->d_out, .n_train = s->tr.n, .x_train = s->tr.x, .y_train = s->tr.y,
                     .n_test = s->te.n, .x_test = s->te.x, .y_test = s->te.y, .n_eval = s->ev.n, .x_eval = s->ev.x,
                     .y_eval = s->ev.y, .n_keep = n_keep, .n_coord = s->n_u};
  d.coord_eval = s->n_u ? (s->u ? s->u : s->ev.x) : NULL;
  d.label_train = s->train_labels ? s->tr.chart : NULL;
  if (s->by_chart) {
    d.chart_eval = s->ev.chart;
    d.member_eval = s->ev.member;
    d.n_charts = s->n_labels;
  } else {
    d.piece_eval = s->ev.chart;
    d.n_pieces = s->n_labels;
  }
  return d;
}
