/* metrics: the errors the theorems bound and the routing diagnostics of a trained MoE.
 *
 * Plain arrays in, numbers out: this module knows nothing of models, targets or files.
 * Expert, chart, piece and path indices are size_t (as moe_model_paths() gives them).
 * Every function returns 0 or a moex error code (message in moex_errmsg()); on error the
 * outputs are unspecified. */
#ifndef MOEX_METRICS_H
#define MOEX_METRICS_H

#include <stddef.h>

/* ---- errors ---------------------------------------------------------------------------- */

typedef struct {
  double mse;   /* mean of (y - t)^2 over all N*k entries */
  double rmse;  /* sqrt(mse) */
  double sup;   /* max |y - t| over all entries: the L-infinity error on this set */
  size_t n;     /* N*k entries */
} metrics_err_t;

/* y and t are (N, k). A NaN in y or t is not an error: it propagates (mse, rmse and sup all
 * NaN), so that a diverged model can never look accurate. Errors: NULL, N = 0, k = 0. */
int metrics_errors(const double *y, const double *t, size_t N, size_t k, metrics_err_t *out);

/* The errors of the best constant predictor of t (N, k), one constant per output: for the MSE the
 * column means (mse: the targets' variance about them, averaged over outputs), for the sup norm
 * the column mid-ranges (sup: the largest half-range). What a model that learned nothing reaches:
 * the report's "not learned" rule compares errors with these. NaN in t propagates as in
 * metrics_errors. Errors: NULL, N = 0, k = 0. */
int metrics_null_errors(const double *t, size_t N, size_t k, metrics_err_t *out);

/* Piecewise targets. y and t are (N, k), piece is (N) with values in [0, P).
 * max_err is (P): max over the piece's samples and outputs of |y - t|; a piece with no sample
 * gets NaN (never 0, which would read as "fit perfectly"). count is (P) samples per piece, or
 * NULL. n_empty (may be NULL) receives the number of pieces with no sample.
 * Errors: NULL arrays, N, k or P = 0, a piece index >= P. */
int metrics_piece_max(const double *y, const double *t, const size_t *piece, size_t N, size_t k,
                      size_t P, double *max_err, size_t *count, size_t *n_empty);

/* ---- routing load of one layer ---------------------------------------------------------- */

typedef struct {
  size_t n;          /* routed slots counted: N*K */
  double entropy;    /* H(share) / log E in [0, 1]; 1 = perfectly balanced. For E = 1 it is
                      * defined as 1: a single expert cannot be unbalanced (0/0 otherwise). */
  double max_share;  /* largest share; 1/E when balanced */
  size_t dead;       /* experts that received no sample */
} metrics_load_t;

/* choice is (N, K): the experts selected for each sample, values in [0, E) (K = 1: top-1).
 * Every selected slot counts, as in moe_model_layer_counts(). count (E) and share (E) receive
 * the load per expert; either may be NULL. Errors: NULL choice/out, N, K or E = 0, index >= E. */
int metrics_load(const size_t *choice, size_t N, size_t K, size_t E, size_t *count,
                 double *share, metrics_load_t *out);

/* ---- agreement between experts and charts ----------------------------------------------- */

/* Largest E or C accepted (the Hungarian step is O(max(E, C)^3)). */
#define METRICS_AGREE_MAX 2048

/* Agreement between an assignment of samples to E "experts" and a labelling into C "charts".
 * Written for experts against manifold charts, it serves as well for routing paths against
 * the E^L pieces of a piecewise target (E := number of paths, C := number of pieces). */
typedef struct {
  size_t E, C, N;
  size_t *conf;        /* (E, C): samples sent to expert e whose label is chart c */
  size_t *n_expert;    /* (E): samples sent to expert e */
  size_t *majority;    /* (E): chart most frequent among expert e's samples (lowest index on a
                        * tie); SIZE_MAX for an expert with no sample */
  double *purity;      /* (E): conf[e][majority[e]] / n_expert[e]; NaN for an unused expert */
  double overall_purity;   /* sum_e conf[e][majority[e]] / N */
  size_t *match;       /* (E): chart matched to expert e by the one-to-one matching that
                        * maximises agreement (Hungarian); SIZE_MAX when E > C leaves e out */
  double match_agreement;  /* fraction of samples whose label is match[their expert] */
  /* Only when a membership matrix is given, NaN otherwise: */
  double routing_accuracy; /* fraction of samples whose chart match[expert] contains them */
  size_t *match_member;    /* (E): the matching that maximises routing accuracy itself */
  double routing_accuracy_best; /* routing accuracy under match_member (>= routing_accuracy) */
  /* workspace (private) */
  double *cost;
  size_t *iwork;
  double *dwork;
} metrics_agree_t;

/* E experts, C charts, each between 1 and METRICS_AGREE_MAX. NULL on error. */
metrics_agree_t *metrics_agree_alloc(size_t E, size_t C);
void metrics_agree_free(metrics_agree_t *a);

/* choice is (N, K): only column 0, the top-1 expert, is used; values in [0, E).
 * label is (N): the chart of each sample, in [0, C) (for overlapping charts, e.g. the chart of
 * largest partition-of-unity value). member is (N, C) with entries 0/1 (sample n lies in chart
 * c), or NULL. Errors: NULL a/choice/label, N or K = 0, an index out of range, an entry of
 * member other than 0 or 1. */
int metrics_agree(metrics_agree_t *a, const size_t *choice, size_t N, size_t K,
                  const size_t *label, const unsigned char *member);

/* Routing accuracy under a given map from experts to charts (e.g. the identity for a network
 * built by a theorem's construction): the fraction of samples n with
 * member[n][map[choice[n][0]]] = 1. map is (E) with values in [0, C) or SIZE_MAX (unmapped:
 * counted as wrong). choice (N, K), member (N, C). */
int metrics_routing_accuracy(const size_t *choice, size_t N, size_t K, size_t E,
                             const unsigned char *member, size_t C, const size_t *map,
                             double *acc);

/* Maximum-weight one-to-one assignment of the rows of an (nr, nc) weight matrix w to its
 * columns (Hungarian algorithm, O(n^3) with n = max(nr, nc)). row_to_col (nr) receives the
 * column of each row, or SIZE_MAX for rows left over when nr > nc; total (may be NULL) the
 * summed weight. Weights must be finite. cost (n*n), iwork (4n+3) and dwork (3n+3), with
 * n = max(nr, nc), are workspace; pass all three or none (then they are allocated here). */
int metrics_assign_max(const double *w, size_t nr, size_t nc, size_t *row_to_col,
                       double *total, double *cost, size_t *iwork, double *dwork);

/* ---- routing paths of a deep stack ------------------------------------------------------- */

/* path is (N): the path id of each sample (mixed radix, see moe_model_paths()), in
 * [0, n_max) where n_max = E^L (the caller's product of E over the MoE layers).
 * n_used receives the number of distinct paths used; count (n_max, may be NULL) the samples
 * per path. Errors: NULL path/n_used, N = 0, n_max = 0, a path id >= n_max. */
int metrics_paths(const size_t *path, size_t N, size_t n_max, size_t *n_used, size_t *count);

#endif
