/* fit_moe: protocols that fit top-1 MoEs by splitting the non-smooth problem into smooth ones
 * GSL solves well (issue 16). A protocol is a const fit_protocol_type chosen by pointer, like the
 * optimizers of fit.h; a protocol string names one with its options:
 *
 *   OPT+polish[:k=v...]   optimizer OPT (adam, bfgs2, lbfgs, ...) on half the budget, then
 *                         frozen-route polishing (fit_polish.c) on the rest
 *   alt[:k=v...]          hard EM after Jordan & Jacobs (fit_alternate.c): experts with routes
 *                         fixed, each sample's best path, gates fitted to it by multinomial
 *                         logistic regression, route by the gates; repeat; then polish
 *   anneal[:k=v...]       soft-to-hard continuation (fit_anneal.c): the soft mixture over all
 *                         experts at decreasing temperatures, then hard top-1 and polish
 *   oracle[:k=v...]       the oracle-routes diagnostic (fit_oracle.c): experts fitted with every
 *                         sample routed by the experiment's path labels (the target's known
 *                         structure), then the gates fitted to the labels; needs the labels
 *   grow[:k=v...]         layer-by-layer growth (fit_grow.c, issue 31): MoE layer l alone, the
 *                         layers below frozen, fitted to the target's coordinate l with the other
 *                         coordinates of its input passed through (Thm 5.3's layout), as a
 *                         one-layer problem; default init=tree (each stage from fit_tree_groups of
 *                         the data by coordinate l, the gate fitted to the groups: an affine gate
 *                         by fit_tree_axis_gate, another by logistic regression; an exact
 *                         identity unit per passed coordinate, the other units ridges along the
 *                         cut coordinate; the experts under its routes), init=random|kmeans
 *                         (each stage by alt); then a polish
 *                         of the whole stack. Needs layers R^k -> R^k, k = the data's dimensions
 * options (all protocols): init=random|kmeans|labels|tree (route initialisation; labels is a
 *   diagnostic; tree: the first layer's gate fitted to fit_tree_groups of the data), xinit=data|model (expert kinks placed through served samples, or the model's
 *   own initialisation), polish=auto|lm|bfgs2|lbfgs (auto: per-expert LM for one MoE layer,
 *   lbfgs for stacks), pol=N (evaluation cap of one polishing problem);
 *   alt: em=N (iterations), eiters=N (LM/lbfgs iterations per expert step), cap=N (paths
 *   searched exhaustively; beyond, layer by layer), l2=X (gate ridge), gevals=N (evaluations of
 *   one gate step); soft=0|1 (soft variant: from the second iteration on, each sample's top=N
 *   best paths (default 2) weighted by their responsibilities exp(-err/2 s2), s2 the assignment's
 *   MSE, and the experts fitted by weighted least squares over them; gates still fitted to the
 *   most responsible path); top=N;
 *   anneal: temps=T1/T2/... , loss=mse|comp (competitive loss of Jacobs et al. 1991), sigma=S.
 *
 * Compute is counted in per-sample gradients, as --max-evals matched counts Adam's (a Jacobian
 * row is a gradient; a forward-only sample evaluation counts as a whole gradient too, which
 * overstates the protocols' cost; a soft-mixture sample counts active-parameter-weighted). Every
 * protocol stops at its budget. */
#ifndef MOEX_FIT_MOE_H
#define MOEX_FIT_MOE_H

#include <stddef.h>

#include "fit/fit.h"
#include "model/moe.h"
#include "model/train.h"

typedef enum { FIT_RINIT_RANDOM = 0, FIT_RINIT_KMEANS = 1, FIT_RINIT_LABELS = 2, FIT_RINIT_TREE = 3 } fit_rinit_t;
/* The option value naming r: "random", "kmeans", "labels", "tree". */
const char *fit_rinit_name(fit_rinit_t r);

struct fit_moe_ctx;
typedef struct fit_protocol_type {
  const char *name;
  int (*run)(const struct fit_protocol_type *T, struct fit_moe_ctx *c);
} fit_protocol_type;

extern const fit_protocol_type *const fit_proto_polish;    /* "OPT+polish" */
extern const fit_protocol_type *const fit_proto_alternate; /* "alt" */
extern const fit_protocol_type *const fit_proto_anneal;    /* "anneal" */
extern const fit_protocol_type *const fit_proto_oracle;    /* "oracle" */
extern const fit_protocol_type *const fit_proto_grow;      /* "grow" */

#define FIT_MOE_MAX_TEMPS 12

/* A progress hook (not a protocol option: the caller sets it after fit_moe_parse, which leaves it
 * NULL). Called with the model at each of the protocol's recorded points: `what` is "em" (an EM
 * row of alt, the initial one included), "stage" (an anneal temperature or a kept polish round)
 * or "base" (the end of OPT+polish's base fit); grads is the compute used so far. m is the
 * protocol's own model: the hook must only read it (moex-bench evaluates a copy). A nonzero
 * return stops the protocol, and fit_moe_run returns that code. The hook changes no bit of the
 * fit (tests/test_fit_protocols.c). The base optimizer of OPT+polish also calls the fit_settings
 * callback, as fit_run does. */
typedef int (*fit_moe_progress_fn)(void *ctx, const moe_model_t *m, const char *what, double grads);

typedef struct {
  const fit_protocol_type *type;
  char base[24];            /* OPT of OPT+polish */
  fit_rinit_t rinit;
  int xinit_data;           /* 1: kinks through served samples (default for alt, anneal) */
  char polisher[16];        /* "auto", "lm", "lm-or-lbfgs", "bfgs2", "lbfgs" */
  size_t polish_evals;      /* cap of one polishing problem (default 200) */
  char lm_solver[16];       /* LM's linear solver where the polish uses LM (fit_lm_solver.h; "auto",
                               the default when empty, "qr", "cholesky", "mcholesky", "svd") */
  size_t em_max;            /* alt: iterations (default 20) */
  size_t em_expert_iters;   /* alt: iterations of one expert step (default 20) */
  size_t path_cap;          /* alt: exhaustive assignment up to this many paths (default 4096) */
  int soft;                 /* alt: soft variant (responsibilities, weighted least squares) */
  size_t soft_top;          /* alt soft: paths kept per sample (default 2) */
  double gate_l2;           /* ridge of the gate's logistic regression (default 1e-4) */
  size_t gate_evals;        /* evaluation cap of one gate step (default 50) */
  size_t n_temps;
  double temps[FIT_MOE_MAX_TEMPS]; /* anneal temperatures (default 1/0.5/0.25/0.1/0.05) */
  int comp;                 /* anneal: competitive loss */
  double sigma;             /* competitive loss sigma (default 0.1) */
  double budget;            /* per-sample gradients (set by the caller: compute_x x Adam's) */
  double adam_grads;        /* Adam's count at 1x (recorded for the ratio) */
  fit_moe_progress_fn progress; /* NULL: none (see above) */
  void *progress_ctx;
} fit_moe_settings;

/* Parses a protocol string. Returns FIT_MOE_PLAIN when `name` is a plain optimizer (not an MoE
 * protocol; Adam with router options, adam:k=v..., counts as one, see fit_router.h), 0 with *out filled, or MOEX_EINVAL with a message naming the bad part. */
#define FIT_MOE_PLAIN (-1)
int fit_moe_parse(const char *name, fit_moe_settings *out);

/* One row per EM iteration (alt). */
typedef struct {
  double loss;       /* training MSE, routed by the gates after the iteration */
  double changed;    /* share of samples whose route (path) changed in the iteration */
  double agreement;  /* share of samples the gates route to their assigned path */
  double assign_loss;/* training MSE under the assignment */
  double grads;      /* compute used so far */
} fit_em_row;

/* One row per stage (anneal temperatures; the polish of any protocol). */
typedef struct {
  double T;          /* temperature; 0 for the hard polish */
  double soft_mse;   /* training MSE of the soft mixture (NaN for hard stages) */
  double hard_mse;   /* training MSE of the top-1 model with the same parameters */
  double obj;        /* the stage's objective at its end (comp loss, or MSE) */
  double grads;      /* compute used so far */
} fit_stage_row;

typedef struct {
  double grads;           /* per-sample gradients used (total) */
  double gate_grads;      /* of which the gate steps (logistic regressions) */
  double fwd_grads;       /* of which forward-only evaluations (assignment, losses) */
  double loss;            /* final training MSE (top-1) */
  double polish_before, polish_after; /* training MSE around the final polish */
  size_t em_iters;
  size_t restarts;        /* experts re-initialised because every unit was dead on their samples */
  size_t polish_fallbacks;/* per-expert problems LM could not take (n < p) and bfgs2 did */
  fit_em_row *em;
  size_t n_em, cap_em;
  fit_stage_row *stage;
  size_t n_stage, cap_stage;
  char stop[32];          /* why the protocol ended: "budget", "routes_stable", "em_max", "done" */
} fit_moe_result;

void fit_moe_result_clear(fit_moe_result *r); /* frees the rows; zeroes */

/* Runs protocol ps on model m (its theta in place, already initialised) and training data d.
 * fs carries the optimizer settings of the base stage (OPT+polish) and the seed; res_base
 * receives that stage's result (may be NULL otherwise). labels (d->n paths, or NULL) serve
 * init=labels only. Returns 0 or a moex error code. */
int fit_moe_run(const fit_moe_settings *ps, const fit_settings *fs, moe_model_t *m, const train_data_t *d,
                const size_t *labels, fit_moe_result *res, fit_result *res_base);

/* ---- building blocks, exposed for the tests ---- */

/* Multinomial logistic regression of labels (n, in 0..E-1) on x (n, d_in) for the router of
 * MoE layer l, theta in place (that router's parameters only move): mean softmax cross-entropy
 * plus l2/2 |theta_gate|^2 (an affine gate's bias, its intercept, included), bfgs2 to
 * convergence (gtol 1e-9) or max_evals. Returns 0 or an error; the final objective in *obj_out,
 * the evaluations in *evals. */
int fit_gate_logreg(const moe_model_t *m, size_t l, double *theta, size_t n, const double *x,
                    const size_t *labels, double l2, size_t max_evals, double *obj_out, size_t *evals);

/* Spherical k-means (cosine, seeded by `seed`, k-means++ start) of the rows of x (n, d) into E
 * unit centres (E, d): the rows of a linear gate whose argmax is the nearest centre. */
int fit_kmeans_sphere(size_t n, size_t d, const double *x, size_t E, unsigned long seed, double *centres);
/* Euclidean k-means (seeded, k-means++ start) of the rows of x into E centres c_e, written as an
 * affine gate: W (E, d) rows c_e, b_e = -|c_e|^2 / 2, whose argmax is the nearest centre. */
int fit_kmeans_affine(size_t n, size_t d, const double *x, size_t E, unsigned long seed, double *W, double *b);
/* A regression tree with cubic leaves (fit_tree.c): the rows of x (n, d) split greedily into E
 * groups (labels, 0..E-1), each split the axis-aligned cut, at least min_leaf rows a side, that
 * most lowers the summed squared residuals of the groups' least-squares fits of t (n, k) by a
 * cubic in the coordinate cut. Deterministic (ties: the lower coordinate, the lower threshold).
 * MOEX_EINVAL when n < E min_leaf or a group has no admissible cut. */
int fit_tree_groups(size_t n, size_t d, const double *x, size_t k, const double *t, size_t E, size_t min_leaf,
                    size_t *labels);
/* An affine gate W (E, d), b (E) that routes by intervals of one coordinate of x (n, d): for each
 * coordinate the groups lab (0..E-1) ordered by their mean, the cut between two neighbours that
 * leaves the fewest on the wrong side; the coordinate whose cuts route the most samples to their
 * group. Returns that share, 0 (W, b untouched) when on no coordinate the cuts come in order, NaN
 * after a moex error. */
double fit_tree_axis_gate(size_t n, size_t d, const double *x, const size_t *lab, size_t E, double *W, double *b);

/* The soft surrogate at temperature T: y = sum_k softmax(g(x)/T)_k f_k(x) in every MoE layer,
 * as an objective over the model's own parameter block (fit_anneal.c). The competitive loss
 * (comp = 1, single MoE layer): mean over samples of -log sum_k p_k exp(-|t - f_k(x)|^2 / 2 sigma^2).
 * fit_soft_alloc returns NULL with an error for an unsupported model. */
typedef struct fit_soft fit_soft;
fit_soft *fit_soft_alloc(const moe_model_t *m, const train_data_t *d, int comp, double sigma);
void fit_soft_free(fit_soft *S);
void fit_soft_set_T(fit_soft *S, double T);
/* The objective (lossgrad only) of S; valid while S lives. */
const objective_t *fit_soft_objective(fit_soft *S);
/* Soft-mixture MSE at theta (whatever the loss of S). */
int fit_soft_mse(fit_soft *S, const double *theta, double *mse);

/* Frozen-route polishing of m->theta on d with the routes its gates give (fit_polish.c):
 * `polisher` as in the settings, each problem capped at max_evals, the whole at `budget`
 * per-sample gradients. Never raises the training loss. grads_used += what it spent. */
int fit_polish(moe_model_t *m, const train_data_t *d, const char *polisher, size_t max_evals, double budget,
               double *loss_before, double *loss_after, double *grads_used, size_t *fallbacks);

#endif
