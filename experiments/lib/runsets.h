/* runsets: the data of one run, built from a short description: the target, a seeded generator,
 * the training, test and dense evaluation sets with their labels, and exprun's view of them
 * (exprun_data_t). What each experiment's run did by hand before, in one place. */
#ifndef MOEX_RUNSETS_H
#define MOEX_RUNSETS_H

#include <stddef.h>

#include "lib/exprun.h"
#include "lib/study.h"
#include "targets/manifold.h"
#include "targets/piecewise.h"
#include "targets/targetfn.h"

/* A manifold run's data: the manifold mc with target `target` (targetfn.h, seeded target_seed);
 * n_train and n_test samples drawn in that order by an mt19937 seeded data_seed, then the dense
 * evaluation set (manifold_grid with `eval` points per dimension). */
typedef struct {
  manifold_config mc;
  const char *target;
  unsigned long target_seed;
  unsigned long data_seed;
  size_t n_train, n_test, eval;
  int eval_coords;  /* keep the grid's intrinsic coordinates for routing maps */
  int train_labels; /* give exprun the training samples' charts (init=labels, oracle) */
} runsets_manifold_spec;

/* A piecewise run's data: n_train and n_test samples drawn by an mt19937 seeded data_seed, then
 * the evaluation set: for Eq. (4) (P) the regular grid of per_dim points per input dimension,
 * for Eq. (5) (Q, when P is NULL) a sample of n_eval points. */
typedef struct {
  const piecewise *P;
  const piecewise_prod *Q;
  unsigned long data_seed;
  size_t n_train, n_test, per_dim, n_eval;
  int eval_coords;  /* the grid's points as the routing map's coordinates */
  int train_labels; /* the training samples' pieces, for init=labels and oracle */
} runsets_piecewise_spec;

typedef struct {
  manifold *M;              /* manifold runs: alive with the sets (an after_fit hook may read them) */
  targetfn *f;
  study_set_t tr, te, ev;   /* chart: the chart of largest rho (manifold) or the piece (piecewise) */
  double *u;                /* (ev.n, n_u) evaluation coordinates, or NULL */
  size_t n_u, d_in, d_out, n_labels;
  int by_chart, train_labels;
} runsets_t;

/* Build the sets; on error (a moex error code, the message set) call runsets_free anyway. */
int runsets_manifold(runsets_t *s, const runsets_manifold_spec *spec);
int runsets_piecewise(runsets_t *s, const runsets_piecewise_spec *spec);
void runsets_free(runsets_t *s);

/* exprun's view of s, keeping n_keep evaluation points in the record. */
exprun_data_t runsets_view(const runsets_t *s, size_t n_keep);

#endif
