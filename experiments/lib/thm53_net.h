/* thm53_net: the depth-2L network of the proof of Thm 5.3 on the Eq. (4) target, built by hand
 * (routing layers computing τ, expert layers interpolating the 1-D pieces), shared by the
 * verifier experiments/thm_5_3.c and the construction series of piecewise_depth --el, with the
 * faults --inject can build into it. See theorems/thm_5_3.md. */
#ifndef MOEX_THM53_NET_H
#define MOEX_THM53_NET_H

#include <stddef.h>

#include "construct/construct.h"
#include "lib/theorem.h"
#include "model/moe.h"
#include "targets/piecewise.h"

#include <gsl/gsl_rng.h>

/* The known faults (names and one-line descriptions), in the order of thm53_net_t.fault. */
extern const theorem_fault_t thm53_faults[];
extern const size_t thm53_n_faults;

typedef struct {
  size_t E, L, m, n_route;
  int fault;        /* index into FAULTS, -1 for none */
  moe_spec_t spec;
  moe_model_t *model;
  double local_err; /* max_{l,i} sup |f̂_{l,i} − f_{l,i}| on the fine 1-D grid (the RHS) */
  double gap;       /* what a sup can exceed its value on that grid by: h_f^2 max|f''| / 8 */
} thm53_net_t;

/* The hat partition of unity on [0, E]: nodes c_k = k + 1/2, constant beyond the end nodes.
 * argmax is the cell containing z (the lower cell at a join). rho is (E). */
void thm53_rho_hat(size_t E, double z, double *rho);

/* τ as the interpolant of thm53_rho_hat on the knots t (n); NULL on failure. */
construct_net2_t *thm53_tau_net(size_t E, size_t n, const double *t);

/* Builds the network for P with N->E, N->L, N->m, N->fault set by the caller (fault -1: none):
 * N->spec, N->model (n_max samples a forward; the caller frees it with moe_model_free), the RHS
 * N->local_err measured on each expert's own net on n_fine points per cell, N->gap, then writes
 * the fault. */
int thm53_build(const piecewise *P, thm53_net_t *N, size_t n_max, size_t n_fine);

#define THM53_GOLDEN 0.6180339887498949 /* axis grid offset: no evaluation point falls on a knot */

/* The evaluation set: R stacks of the 1-D axis grid (npd points, offset GOLDEN), each
 * coordinate of each stack an independent random permutation of it (a Latin hypercube). Every
 * axis value occurs R times in every coordinate, which is the resolution that matters when
 * routing is exact (the network is then separable), and the R npd points spread over the E^L
 * cells. x is (R npd, L), f (R npd, L), idx (R npd). */
int thm53_eval_set(const piecewise *P, gsl_rng *r, size_t npd, size_t R, const double *axis, double *x, double *f,
                    size_t *idx);

#endif
