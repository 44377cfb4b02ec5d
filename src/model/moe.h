/* moe: MoE layers and deep stacks (the paper's Eq. 1: Psi = h^(L) o ... o h^(1), no residuals,
 * no normalisation). A layer is either an MoE layer (router + E experts, top-K, optional shared
 * expert always active and added to the routed output) or a dense layer (one mlp), so MoE-dense
 * alternation is a stack of mixed layers and a dense baseline is a stack of one dense layer.
 *
 * Auto-encoder experts (the paper's Sec. 4.3, issue 21): an MoE layer with enc_dim k > 0 has
 * experts f_i o Enc_i, Enc_i: R^{d_in} -> R^k an mlp of enc_layers affine layers (1: an affine
 * map; 2: one ReLU hidden layer of enc_width), f_i: R^k -> R^{d_out} the usual expert mlp; one
 * encoder per expert, or one for the whole layer (enc_shared). With `decoder`, each encoder has
 * a decoder Dec_i: R^k -> R^{d_in} of the encoder's shape reversed, used only by the loss: the
 * reconstruction term recon_weight * (1 / (n K)) sum over routed (sample, slot) pairs of
 * |Dec_i(Enc_i(x_s)) - x_s|^2, i the expert the pair is routed to (the samples an expert serves
 * are the ones its encoder must reconstruct). The router reads x itself.
 *
 * Parameters: one contiguous block `theta` (n_params doubles) and a mirrored block `grad`, so
 * gsl_vector_view_array sees them without copies. Layout, layer after layer:
 *   MoE layer:   router (linear: W_R (E, d_in); affine: W_R then b (E); mlp: mlp layout), then expert 0..E-1 (mlp
 *                layout, see mlp.h), then the shared expert if any (mlp layout);
 *                with per-expert encoders each expert is enc_i, dec_i, f_i (mlp layouts); with
 *                a shared encoder the router is followed by enc, dec, then f_0..f_{E-1};
 *                moe_layer_expert_off / _enc_off / _dec_off say where each block starts;
 *   dense layer: one mlp.
 * Counts: params_total counts every trained parameter (decoders included); params_active those
 * one input uses at inference (router, the K selected experts with their encoders or the shared
 * encoder once; no decoder, it takes no part in the output).
 * Workspaces for up to n_max samples are allocated once by moe_model_alloc; forward and backward
 * allocate nothing. */
#ifndef MOEX_MOE_H
#define MOEX_MOE_H

#include <stddef.h>
#include <stdint.h>

#include "model/gate.h"
#include "model/mlp.h"

#define MOE_MAX_LAYERS 16
#define MOE_MAX_EXPERTS 256

typedef enum { MOE_LAYER_MOE = 0, MOE_LAYER_DENSE = 1 } moe_layer_kind_t;

typedef struct {
  moe_layer_kind_t kind;
  size_t d_in, d_out;
  size_t n_experts;     /* E (MoE layers) */
  size_t top_k;         /* K, 1..E */
  size_t expert_layers; /* l: affine layers of each expert (or of the dense layer) */
  size_t expert_width;  /* m */
  gate_kind_t gate;
  size_t gate_width;    /* hidden width of the mlp router */
  gate_surrogate_t surrogate;
  int shared_expert;    /* 1: add an always-active expert of the same shape */
  mlp_init_t init;      /* initialisation scheme of this layer's parameters (default he) */
  /* auto-encoder experts (MoE layers only; all zero for ordinary experts) */
  size_t enc_dim;       /* k >= 1: experts read Enc(x) in R^k; 0: ordinary experts */
  size_t enc_layers;    /* affine layers of the encoder and of the decoder, 1..MLP_MAX_LAYERS */
  size_t enc_width;     /* their hidden width (enc_layers >= 2) */
  int enc_shared;       /* 1: one encoder (and decoder) for every expert of the layer */
  int decoder;          /* 1: decoders, for the reconstruction term */
  double recon_weight;  /* lambda >= 0 of the reconstruction term; > 0 needs decoder = 1 */
} moe_layer_spec_t;

typedef struct {
  size_t n_layers;
  moe_layer_spec_t layer[MOE_MAX_LAYERS];
} moe_spec_t;

/* A layer spec with the paper's defaults: MoE, linear gate, switch surrogate, K = 1, no shared
 * expert, 2-layer experts of width m. */
moe_layer_spec_t moe_layer_default(size_t d_in, size_t d_out, size_t E, size_t m);
moe_layer_spec_t moe_layer_dense(size_t d_in, size_t d_out, size_t layers, size_t m);
/* Makes an MoE layer spec's experts auto-encoder experts: encoder R^{d_in} -> R^k of enc_layers
 * layers (width enc_width), shared or per expert, with a decoder when lambda > 0. */
void moe_layer_set_autoenc(moe_layer_spec_t *s, size_t k, size_t enc_layers, size_t enc_width, int shared,
                           double lambda);

typedef struct {
  moe_layer_spec_t spec;
  gate_t gate;
  mlp_t expert;        /* shape shared by every expert (and the shared expert): f_i */
  mlp_t enc, dec;      /* auto-encoder experts: encoder and decoder shapes (unused when k = 0) */
  size_t n_enc, n_dec; /* their parameter counts (0 when absent) */
  size_t stride;       /* parameters from one expert's block to the next */
  size_t off;          /* first parameter of this layer in theta */
  size_t gate_off, experts_off, shared_off, n_params;
  /* workspace, sized for n_max samples */
  double *gate_acts, *p, *w, *dw, *dS;
  size_t *idx, *pos, *cnt, *eoff, *fill;
  double *xg, *acts, *dyg, *dxg;       /* gathered rows, expert activations, their gradients */
  double **yexp;                       /* per expert: its output block inside acts */
  double *shared_acts;
  double *out;                         /* (n, d_out): an MoE layer's output buffer */
  double *enc_acts, *dec_acts;         /* gathered rows' encoder and decoder activations */
  double *dz, *dz2, *dr;               /* code gradients (nK, k), reconstruction residuals (nK, d_in) */
  double recon_ss;                     /* last forward: sum over routed rows of |Dec(Enc(x)) - x|^2 */
  const double *y;                     /* this layer's output in the last forward */
  /* router training options (moe_model_router_setup; NULL when off) */
  double *sel_bias;                    /* (E) aux-free bias, added to the scores for selection only */
  double *load_acc;                    /* (E) selections of the training forwards since the last step */
  size_t noise_off;                    /* W_noise (E, d_in) in theta (noisy top-k) */
  double *H;                           /* (n, E) scores the selection and weights see */
  double *q, *lse, *f;                 /* softmax of H (n, E), its logsumexp (n), top-1 shares (E) */
  double *eps, *z, *ndz, *u, *xt, *dxt; /* noise draws, x W_noise^T and its gradient (n, E);
                                          jitter (n, d_in), the jittered router input, its gradient */
} moe_layer_t;

/* Router training options (issue 17), for the gradient protocols. Zero: off. */
typedef struct {
  double balance; /* Switch load-balancing loss alpha * E * sum_e f_e P_e per MoE layer */
  double zloss;   /* ST-MoE router z-loss beta * mean_x (logsumexp_e H_e(x))^2 */
  int noise;      /* noisy top-k (Shazeer et al. 2017): H = s + eps * softplus(x W_noise^T) */
  double jitter;  /* Switch input jitter: the router sees x * U(1 - jitter, 1 + jitter) */
  double auxfree; /* DeepSeek-V3 aux-loss-free balancing: gamma of b_e += gamma sign(mean - load_e) */
} moe_router_opts_t;

typedef struct {
  moe_spec_t spec;
  moe_layer_t layer[MOE_MAX_LAYERS];
  size_t n_layers, n_params, n_max, d_in, d_out;
  double *theta, *grad;
  double *dbuf[2];    /* ping-pong output gradients, (n_max, max d) */
  double *scratch;    /* backward scratch */
  size_t *path;       /* (n_max): routing path of each sample of the last forward */
  size_t n_last;      /* samples in the last forward */
  moe_router_opts_t ropt; /* router training options (all zero unless moe_model_router_setup) */
  int training;       /* 1: forwards add noise, jitter and the auxiliary losses (set by train.c
                       * for minibatch steps only; evaluation never has it) */
  size_t aux_total;   /* samples of the batch a training chunk belongs to (0: the chunk's own n) */
  double aux_last;    /* auxiliary loss of the last training forward, scaled by n / aux_total */
  size_t n_model_params; /* parameters of the layers (n_params less the W_noise blocks) */
  void *rng;          /* gsl_rng of the noise and jitter draws */
} moe_model_t;

/* Validates the spec (message names the bad value) and allocates parameters and workspaces
 * for up to n_max samples. Parameters are zero until moe_model_init_params. NULL on error. */
moe_model_t *moe_model_alloc(const moe_spec_t *spec, size_t n_max);
void moe_model_free(moe_model_t *m);
int moe_spec_validate(const moe_spec_t *spec);

/* Seeded initialisation (GSL mt19937): same seed, same bits. */
void moe_model_init_params(moe_model_t *m, unsigned long seed);

/* Counts: total parameters, and parameters used for one input (router + K experts + shared). */
size_t moe_spec_n_params(const moe_spec_t *spec);
size_t moe_spec_n_active(const moe_spec_t *spec);

/* Forward: x (n, d_in) -> returns y (n, d_out), owned by the model (valid until the next
 * forward). n <= n_max. Records the routing of every sample. NULL on error. */
const double *moe_model_forward(moe_model_t *m, size_t n, const double *x);

/* Backward of the last forward (same x): dy (n, d_out). Accumulates into m->grad; writes
 * dx (n, d_in) if not NULL. The outputs' gradient only (no reconstruction term). */
int moe_model_backward(moe_model_t *m, const double *x, const double *dy, double *dx);

void moe_model_zero_grad(moe_model_t *m);

/* Where expert e's blocks start in theta (f_e; its encoder; its decoder; shared encoders give
 * the same offset for every e). For ordinary experts the encoder and decoder offsets are the
 * expert's own and their blocks empty. */
size_t moe_layer_expert_off(const moe_layer_t *L, size_t e);
size_t moe_layer_enc_off(const moe_layer_t *L, size_t e);
size_t moe_layer_dec_off(const moe_layer_t *L, size_t e);

/* 1 when some layer has a reconstruction term (recon_weight > 0). */
int moe_model_has_recon(const moe_model_t *m);

/* The reconstruction terms of the last forward as part of a batch of n_total samples:
 * sum over layers of recon_weight * recon_ss / (n_total K); 0 without them. */
double moe_model_recon_loss(const moe_model_t *m, size_t n_total);

/* Mean squared error over all n * d_out outputs plus the reconstruction terms (if any), and its
 * gradient into m->grad (overwritten). x (n, d_in), t (n, d_out). Returns the loss; NAN on error. */
double moe_model_loss_grad(moe_model_t *m, size_t n, const double *x, const double *t);

/* The same for one chunk of n samples out of a batch of n_total: adds the chunk's part of the
 * batch's mean-squared-error gradient to m->grad (not zeroed) and returns the chunk's squared
 * residuals summed and divided by n_total * d_out. Summed over the chunks of a batch, after one
 * moe_model_zero_grad, that is the batch's loss and gradient. NAN on error. */
double moe_model_loss_grad_acc(moe_model_t *m, size_t n, const double *x, const double *t, size_t n_total);

/* Turns the router training options on (before training, after moe_model_init_params): W_noise
 * blocks (zero, so that the noise starts at softplus(0) = log 2) are appended to theta (n_params
 * grows; the layers' layout is unchanged), the aux-free biases start at 0, and the noise and
 * jitter draws come from a mt19937 seeded by `seed`. Options stay inert until m->training is
 * set, except the aux-free bias, which is part of the trained router and selects at evaluation
 * too (DeepSeek-V3). Returns 0 or an error naming the bad value. */
int moe_model_router_setup(moe_model_t *m, const moe_router_opts_t *o, unsigned long seed);
/* Reseeds the noise and jitter draws (tests hold a draw fixed this way). */
void moe_model_router_seed(moe_model_t *m, unsigned long seed);
/* After an optimizer step: each aux-free bias moves by gamma * sign(mean load - load_e), the
 * loads being the selections (top-K slots) of the training forwards since the previous call; then they are
 * reset. No-op without auxfree. */
void moe_model_router_step(moe_model_t *m);
/* 1 when any router training option is on. */
int moe_router_opts_any(const moe_router_opts_t *o);

/* Named views of the parameter block: where one layer's router or one expert lives in theta,
 * so that code writing weights by hand (the theorem constructions) never does offset
 * arithmetic. `p` points into m->theta (n doubles, `shape` its mlp layout for experts; a linear
 * router is W_R (E, d_in) row-major). NULL p (and a moex error) when the layer is dense, the
 * index is out of range or the router is not linear. */
typedef struct {
  double *p;          /* first parameter of the block in m->theta */
  size_t off, n;      /* its offset in theta and its length */
  size_t rows, cols;  /* linear router: E and d_in */
} moe_gate_view_t;

typedef struct {
  double *p;
  size_t off, n;
  const mlp_t *shape; /* the expert's layout: W_j at p + shape->w_off[j-1], b_j at p + shape->b_off[j-1] */
} moe_expert_view_t;

moe_gate_view_t moe_gate_params(moe_model_t *m, size_t layer);
moe_expert_view_t moe_expert_params(moe_model_t *m, size_t layer, size_t e);
/* Exchanges the parameters of experts a and b of an MoE layer (the verifiers' "experts-swapped"
 * fault). MOEX_EINVAL (message set) when either expert does not exist. */
int moe_experts_swap(moe_model_t *m, size_t layer, size_t a, size_t b);

/* Routing of the last forward. Per layer l, the number of samples sent to each expert (counts
 * every selected slot: with K > 1 a sample counts for each of its K experts); NULL for dense
 * layers. Path of sample s: sum over MoE layers of top1_l(s) * prod_{l' < l} E_{l'} (mixed radix,
 * first MoE layer least significant). */
const size_t *moe_model_layer_counts(const moe_model_t *m, size_t l);
const size_t *moe_model_layer_choice(const moe_model_t *m, size_t l); /* (n, K) expert indices */
const size_t *moe_model_paths(const moe_model_t *m);
size_t moe_model_n_paths(const moe_model_t *m); /* product of E over MoE layers */

#endif
