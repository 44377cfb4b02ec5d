/* thm52_net: the depth-2L network of the proof of Thm 5.2 on the Eq. (5) target (a product of L
 * circles with E charts each, embedded in R^D), built by hand (routing layers computing τ by
 * random features, expert layers ĝ ∘ ψ̂ per chart), its samples and its verifier's checks, shared
 * by experiments/thm_5_2.c and the construction series of piecewise_depth --el, with the faults
 * --inject can build into it. See theorems/thm_5_2.md. */
#ifndef MOEX_THM52_NET_H
#define MOEX_THM52_NET_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#include "analysis/metrics.h"
#include "lib/theorem.h"
#include "model/moe.h"
#include "targets/embedding.h"
#include "targets/manifold.h"
#include "targets/piecewise.h"

#define THM52_MAXL 4
#define THM52_MAXE 16

/* The known faults (names and one-line descriptions); build's fault is an index into them. */
extern const theorem_fault_t thm52_faults[];
extern const size_t thm52_n_faults;

/* The target and the embedding the construction reads the factors' base points through. */
typedef struct {
  size_t L, E, D, N0;
  piecewise_prod *P; /* not owned */
  embedding *emb;
  const manifold *M[THM52_MAXL];
} thm52_prob_t;

/* Fills p for P (L circles, E charts, in R^D through embedding embed of seed seed: the ones P
 * was made with); thm52_prob_free frees the embedding only. */
int thm52_prob_init(thm52_prob_t *p, piecewise_prod *P, size_t L, size_t E, size_t D, const char *embed,
                    unsigned long seed);
void thm52_prob_free(thm52_prob_t *p);

/* base point of factor l of x (D) -> yl (2) */
void thm52_factor_base(const thm52_prob_t *p, const double *x, size_t l, double *yl);

typedef struct {
  size_t n;
  double *x;             /* (n, D) */
  double *rho;           /* (n, L, E) */
  unsigned char *member; /* (n, L, E) */
  double *p;             /* (n, L, E): chart coordinate of factor l in chart i (d = 1) */
  size_t *amax;          /* (n, L): argmax_i rho */
} thm52_set_t;

void thm52_set_free(thm52_set_t *s);
/* Points from angles th (n, L). */
int thm52_set_make(const thm52_prob_t *p, size_t n, const double *th, thm52_set_t *s);

/* The verifier's samples, drawn from r in this order: the fit sample (n_fit random angle
 * tuples); the RHS samples rs[l] (factor l on a grid of nr angles offset by sqrt(2) − 1, the
 * other factors random); the evaluation set ev (R Latin-hypercube stacks of the npd-angle grid
 * offset by the golden ratio). */
int thm52_sets(const thm52_prob_t *p, gsl_rng *r, size_t n_fit, size_t nr, size_t npd, size_t R, thm52_set_t *fit,
               thm52_set_t *rs, thm52_set_t *ev);

/* The argmax-ρ targets fa (n, L) of ev from piecewise_prod, checked against our embedding. */
int thm52_targets(const thm52_prob_t *p, const thm52_set_t *ev, double *fa);

typedef struct {
  moe_spec_t spec;
  moe_model_t *model;
  double err_local[THM52_MAXL * THM52_MAXE], err_chart[THM52_MAXL * THM52_MAXE], c1[THM52_MAXL * THM52_MAXE];
  double gap; /* what the RHS samples can miss along each factor's own angle */
} thm52_built_t;

/* Builds the network from the fit sample at expert width m and τ width mr (n_max samples a
 * forward); the RHS terms of block l on rhs[l]; then writes the fault (-1: none). The caller
 * frees b->model with moe_model_free. */
int thm52_build(const thm52_prob_t *p, const thm52_set_t *fit, const thm52_set_t *rhs, size_t m, size_t mr,
                unsigned long seed, size_t n_max, int fault, thm52_built_t *b);

/* What the verifier measures of a built network on ev. */
typedef struct {
  size_t thr_pts, thr_bad, rt_bad, amax_diff, used, distinct;
  double dev_max, rhs, el, ec;
  metrics_err_t ee, ea; /* against the target under the network's chart choice; the argmax-ρ one */
  int ineq;
  theorem_counts_t cnt;
  theorem_checks_t ck;
} thm52_check_t;

/* The checks of Thm 5.2 on b over ev (N = ev->n points): y (N, L), choice (N, 2L) and path (N)
 * from theorem_forward of b->model on ev->x; fa the argmax-ρ targets; pieces = E^L. Writes f
 * (N, L), the target under the network's valid chart choice, and uses tap (N, D + L + E) and
 * the model as scratch. */
int thm52_check(const thm52_prob_t *p, thm52_built_t *b, const thm52_set_t *ev, const double *fa, const double *y,
                const size_t *choice, const size_t *path, size_t pieces, double *f, double *tap, thm52_check_t *c);

#endif
