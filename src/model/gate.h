/* gate: MoE routers and expert selection.
 *
 * Scores: `linear` is the paper's bias-free gate g(x) = W_R x, W_R (E, d_in) (the default);
 * `affine` is g(x) = W_R x + b, one bias per expert (issue 31: a bias-free gate selects by cones
 * from the origin, so on a positive 1-D input every x gets the same expert); `mlp` is a 2-layer
 * ReLU net d_in -> width -> E (the nonlinear router of the paper's Sec. 4.3). The affine router
 * is a one-layer net in the mlp layout: W (E, d_in) then b (E).
 * Selection: the K largest scores, ties to the lowest index (deterministic).
 * Weights of the selected experts, by surrogate:
 *   GATE_SWITCH (default for training): w_k = softmax over all E scores, at the selected k
 *               (Switch Transformer style; gives the router a gradient even when K = 1);
 *   GATE_PAPER:  the paper's definition, softmax over the selected scores only. With K = 1
 *               that weight is identically 1, so the router gets no gradient (frozen).
 * For training only (moe.c, issue 17): an optional selection bias (aux-loss-free balancing) and
 * the noisy top-k scores of Shazeer et al. (2017). */
#ifndef MOEX_GATE_H
#define MOEX_GATE_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#include "model/mlp.h"

typedef enum { GATE_LINEAR = 0, GATE_MLP = 1, GATE_AFFINE = 2 } gate_kind_t;
typedef enum { GATE_SWITCH = 0, GATE_PAPER = 1 } gate_surrogate_t;

typedef struct {
  gate_kind_t kind;
  size_t d_in, n_experts, width; /* width: hidden width of the mlp router */
  mlp_t net;                     /* the mlp (2 layers) or affine (1 layer) router's shape */
  size_t n_params;
  size_t act_width;              /* activation doubles per sample */
} gate_t;

int gate_init(gate_t *g, gate_kind_t kind, size_t d_in, size_t n_experts, size_t width);
/* 1 when the router is held as an mlp_t (mlp and affine kinds), 0 for the bias-free linear gate. */
int gate_has_net(const gate_t *g);
/* Same schemes as mlp_init_params (the linear gate has weights only). */
void gate_init_params(const gate_t *g, double *theta, gsl_rng *r, mlp_init_t scheme);

const char *gate_kind_name(gate_kind_t k);
const char *gate_surrogate_name(gate_surrogate_t s);
int gate_kind_parse(const char *name, gate_kind_t *out);
int gate_surrogate_parse(const char *name, gate_surrogate_t *out);

/* Scores S (n, E) of x (n, d_in). acts holds n * act_width doubles. Returns S (inside acts). */
double *gate_scores(const gate_t *g, const double *theta, size_t n, const double *x, double *acts);

/* Backward of gate_scores: dS (n, E). Accumulates into grad and, if dx != NULL, into dx
 * (n, d_in). scratch holds n * (2 * max_dim + d_in) doubles (gate_scratch_size). */
void gate_scores_backward(const gate_t *g, const double *theta, size_t n, const double *x,
                          const double *acts, const double *dS, double *grad, double *dx,
                          double *scratch);
size_t gate_scratch_size(const gate_t *g, size_t n);

/* Top-K selection and weights. S (n, E) -> idx (n, K) in decreasing score order, w (n, K).
 * p (n, E) receives the softmax used (over all E for SWITCH, over the selected for PAPER, 0
 * elsewhere). bias (E, or NULL) is added to the scores for the selection only, never to the
 * weights (aux-loss-free balancing, DeepSeek-V3). */
void gate_select(size_t n, size_t E, size_t K, gate_surrogate_t sur, const double *S, const double *bias,
                 size_t *idx, double *w, double *p);

/* Noisy top-k (Shazeer et al. 2017): H = S + eps * softplus(z), z = x Wn^T, Wn (E, d_in), for
 * x (n, d_in) and fixed draws eps (n, E). z (n, E) is kept for the backward. */
void gate_noise_forward(size_t n, size_t E, size_t d_in, const double *x, const double *Wn, const double *eps,
                        const double *S, double *z, double *H);
/* Its backward: dH (n, E) -> grad of Wn (E, d_in) accumulated, dx (n, d_in) accumulated if not
 * NULL; dz (n, E) is scratch. (dS = dH: the clean scores pass the gradient unchanged.) */
void gate_noise_backward(size_t n, size_t E, size_t d_in, const double *x, const double *Wn, const double *eps,
                         const double *z, const double *dH, double *dz, double *gWn, double *dx);

/* Backward of gate_select: dw (n, K) -> dS (n, E) (overwritten). */
void gate_select_backward(size_t n, size_t E, size_t K, gate_surrogate_t sur, const size_t *idx,
                          const double *w, const double *p, const double *dw, double *dS);

#endif
