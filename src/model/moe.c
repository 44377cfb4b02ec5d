/* moe: MoE layers and stacks; forward and backward with gathered expert batches. */
#include "model/moe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "core/moex_error.h"

moe_layer_spec_t moe_layer_default(size_t d_in, size_t d_out, size_t E, size_t m) {
  moe_layer_spec_t s;
  memset(&s, 0, sizeof s);
  s.kind = MOE_LAYER_MOE;
  s.d_in = d_in;
  s.d_out = d_out;
  s.n_experts = E;
  s.top_k = 1;
  s.expert_layers = 2;
  s.expert_width = m;
  s.gate = GATE_LINEAR;
  s.surrogate = GATE_SWITCH;
  return s;
}

moe_layer_spec_t moe_layer_dense(size_t d_in, size_t d_out, size_t layers, size_t m) {
  moe_layer_spec_t s = moe_layer_default(d_in, d_out, 1, m);
  s.kind = MOE_LAYER_DENSE;
  s.expert_layers = layers;
  return s;
}

void moe_layer_set_autoenc(moe_layer_spec_t *s, size_t k, size_t enc_layers, size_t enc_width, int shared,
                           double lambda) {
  s->enc_dim = k;
  s->enc_layers = enc_layers;
  s->enc_width = enc_layers >= 2 ? enc_width : 0;
  s->enc_shared = shared;
  s->decoder = lambda > 0;
  s->recon_weight = lambda;
}

/* The auto-encoder fields of an MoE layer (all zero when enc_dim = 0). */
static int autoenc_validate(const moe_layer_spec_t *s, size_t l) {
  if (s->enc_dim == 0) {
    if (s->enc_layers || s->enc_width || s->enc_shared || s->decoder || s->recon_weight != 0.0)
      return moex_error(MOEX_EINVAL, "moe: layer %zu has encoder settings (layers %zu, width %zu, shared %d, decoder %d, "
                        "recon weight %g) but encoder dimension k = 0", l, s->enc_layers, s->enc_width, s->enc_shared,
                        s->decoder, s->recon_weight);
    return MOEX_OK;
  }
  if (s->kind != MOE_LAYER_MOE)
    return moex_error(MOEX_EINVAL, "moe: layer %zu is dense: encoder dimension k = %zu is for MoE layers", l, s->enc_dim);
  if (s->shared_expert)
    return moex_error(MOEX_EINVAL, "moe: layer %zu: auto-encoder experts (k = %zu) with a shared expert are not supported", l, s->enc_dim);
  if (s->enc_layers == 0 || s->enc_layers > MLP_MAX_LAYERS)
    return moex_error(MOEX_EINVAL, "moe: layer %zu encoder layers %zu must be in 1..%d", l, s->enc_layers, MLP_MAX_LAYERS);
  if (s->enc_layers >= 2 && s->enc_width == 0)
    return moex_error(MOEX_EINVAL, "moe: layer %zu encoder width %zu must be >= 1", l, s->enc_width);
  if (s->enc_shared != 0 && s->enc_shared != 1)
    return moex_error(MOEX_EINVAL, "moe: layer %zu encoder shared = %d must be 0 or 1", l, s->enc_shared);
  if (s->decoder != 0 && s->decoder != 1)
    return moex_error(MOEX_EINVAL, "moe: layer %zu decoder = %d must be 0 or 1", l, s->decoder);
  if (!(s->recon_weight >= 0.0) || !isfinite(s->recon_weight))
    return moex_error(MOEX_EINVAL, "moe: layer %zu reconstruction weight %g must be finite and >= 0", l, s->recon_weight);
  if (s->recon_weight > 0.0 && !s->decoder)
    return moex_error(MOEX_EINVAL, "moe: layer %zu reconstruction weight %g needs a decoder", l, s->recon_weight);
  return MOEX_OK;
}

static int layer_validate(const moe_layer_spec_t *s, size_t l) {
  if (s->kind != MOE_LAYER_MOE && s->kind != MOE_LAYER_DENSE)
    return moex_error(MOEX_EINVAL, "moe: layer %zu has unknown kind %d", l, (int)s->kind);
  if (s->d_in == 0) return moex_error(MOEX_EINVAL, "moe: layer %zu input dimension %zu must be >= 1", l, s->d_in);
  if (s->d_out == 0) return moex_error(MOEX_EINVAL, "moe: layer %zu output dimension %zu must be >= 1", l, s->d_out);
  if (s->expert_layers == 0 || s->expert_layers > MLP_MAX_LAYERS)
    return moex_error(MOEX_EINVAL, "moe: layer %zu expert layers l = %zu must be in 1..%d", l, s->expert_layers, MLP_MAX_LAYERS);
  if (s->expert_layers >= 2 && s->expert_width == 0)
    return moex_error(MOEX_EINVAL, "moe: layer %zu expert width m = %zu must be >= 1", l, s->expert_width);
  if (s->init != MLP_INIT_HE && s->init != MLP_INIT_TORCH)
    return moex_error(MOEX_EINVAL, "moe: layer %zu has unknown initialisation %d", l, (int)s->init);
  int rc = autoenc_validate(s, l);
  if (rc) return rc;
  if (s->kind == MOE_LAYER_DENSE) return MOEX_OK;
  if (s->n_experts == 0 || s->n_experts > MOE_MAX_EXPERTS)
    return moex_error(MOEX_EINVAL, "moe: layer %zu experts E = %zu must be in 1..%d", l, s->n_experts, MOE_MAX_EXPERTS);
  if (s->top_k == 0 || s->top_k > s->n_experts)
    return moex_error(MOEX_EINVAL, "moe: layer %zu top-K = %zu must be in 1..E = %zu", l, s->top_k, s->n_experts);
  if (s->gate != GATE_LINEAR && s->gate != GATE_AFFINE && s->gate != GATE_MLP)
    return moex_error(MOEX_EINVAL, "moe: layer %zu has unknown router kind %d", l, (int)s->gate);
  if (s->gate == GATE_MLP && s->gate_width == 0)
    return moex_error(MOEX_EINVAL, "moe: layer %zu mlp router width %zu must be >= 1", l, s->gate_width);
  if (s->surrogate != GATE_SWITCH && s->surrogate != GATE_PAPER)
    return moex_error(MOEX_EINVAL, "moe: layer %zu has unknown surrogate %d", l, (int)s->surrogate);
  return MOEX_OK;
}

int moe_spec_validate(const moe_spec_t *spec) {
  if (!spec) return moex_error(MOEX_EINVAL, "moe: NULL spec");
  if (spec->n_layers == 0 || spec->n_layers > MOE_MAX_LAYERS)
    return moex_error(MOEX_EINVAL, "moe: layers L = %zu must be in 1..%d", spec->n_layers, MOE_MAX_LAYERS);
  for (size_t l = 0; l < spec->n_layers; l++) {
    int rc = layer_validate(&spec->layer[l], l);
    if (rc) return rc;
    if (l > 0 && spec->layer[l].d_in != spec->layer[l - 1].d_out)
      return moex_error(MOEX_EINVAL, "moe: layer %zu input dimension %zu != layer %zu output dimension %zu",
                        l, spec->layer[l].d_in, l - 1, spec->layer[l - 1].d_out);
  }
  return MOEX_OK;
}

/* Shapes and offsets of one layer; no allocation. */
static int layer_shape(moe_layer_t *L, const moe_layer_spec_t *s, size_t off) {
  memset(L, 0, sizeof *L);
  L->spec = *s;
  L->off = off;
  size_t k = s->enc_dim;
  int rc = mlp_init(&L->expert, k ? k : s->d_in, s->d_out, s->expert_layers, s->expert_width);
  if (rc) return rc;
  if (s->kind == MOE_LAYER_DENSE) {
    L->n_params = L->expert.n_params;
    return MOEX_OK;
  }
  if (k) {
    rc = mlp_init(&L->enc, s->d_in, k, s->enc_layers, s->enc_width);
    if (!rc) rc = mlp_init(&L->dec, k, s->d_in, s->enc_layers, s->enc_width);
    if (rc) return rc;
    L->n_enc = L->enc.n_params;
    L->n_dec = s->decoder ? L->dec.n_params : 0;
  }
  rc = gate_init(&L->gate, s->gate, s->d_in, s->n_experts, s->gate_width);
  if (rc) return rc;
  L->gate_off = off;
  /* a shared encoder sits between the router and the experts; per-expert ones in each block */
  size_t shared_enc = s->enc_shared ? L->n_enc + L->n_dec : 0;
  L->stride = L->expert.n_params + (s->enc_shared ? 0 : L->n_enc + L->n_dec);
  L->experts_off = off + L->gate.n_params + shared_enc;
  L->shared_off = L->experts_off + s->n_experts * L->stride;
  L->n_params = L->gate.n_params + shared_enc + s->n_experts * L->stride + (s->shared_expert ? L->expert.n_params : 0);
  return MOEX_OK;
}

size_t moe_layer_enc_off(const moe_layer_t *L, size_t e) {
  if (L->spec.enc_shared) return L->gate_off + L->gate.n_params;
  return L->experts_off + e * L->stride;
}

size_t moe_layer_dec_off(const moe_layer_t *L, size_t e) { return moe_layer_enc_off(L, e) + L->n_enc; }

size_t moe_layer_expert_off(const moe_layer_t *L, size_t e) {
  return L->experts_off + e * L->stride + (L->spec.enc_shared ? 0 : L->n_enc + L->n_dec);
}

size_t moe_spec_n_params(const moe_spec_t *spec) {
  if (moe_spec_validate(spec)) return 0;
  size_t n = 0;
  for (size_t l = 0; l < spec->n_layers; l++) {
    moe_layer_t L;
    if (layer_shape(&L, &spec->layer[l], n)) return 0;
    n += L.n_params;
  }
  return n;
}

size_t moe_spec_n_active(const moe_spec_t *spec) {
  if (moe_spec_validate(spec)) return 0;
  size_t n = 0;
  for (size_t l = 0; l < spec->n_layers; l++) {
    moe_layer_t L;
    if (layer_shape(&L, &spec->layer[l], 0)) return 0;
    if (L.spec.kind == MOE_LAYER_DENSE) n += L.n_params;
    else
      n += L.gate.n_params + (L.spec.top_k + (L.spec.shared_expert ? 1 : 0)) * L.expert.n_params +
           (L.spec.enc_shared ? 1 : L.spec.top_k) * L.n_enc;
  }
  return n;
}

static void layer_free(moe_layer_t *L) {
  free(L->gate_acts); free(L->p); free(L->w); free(L->dw); free(L->dS);
  free(L->idx); free(L->pos); free(L->cnt); free(L->eoff); free(L->fill);
  free(L->xg); free(L->acts); free(L->dyg); free(L->dxg); free(L->yexp);
  free(L->shared_acts); free(L->out);
  free(L->sel_bias); free(L->load_acc); free(L->H); free(L->q); free(L->lse); free(L->f);
  free(L->eps); free(L->z); free(L->ndz); free(L->u); free(L->xt); free(L->dxt);
  free(L->enc_acts); free(L->dec_acts); free(L->dz); free(L->dz2); free(L->dr);
}

static int layer_alloc(moe_layer_t *L, size_t n) {
  const moe_layer_spec_t *s = &L->spec;
  size_t aw = L->expert.act_width;
  if (s->kind == MOE_LAYER_DENSE) {
    L->acts = malloc(n * aw * sizeof(double));
    return L->acts ? MOEX_OK : MOEX_ENOMEM;
  }
  size_t E = s->n_experts, K = s->top_k, nk = n * K;
  L->gate_acts = malloc(n * L->gate.act_width * sizeof(double));
  L->p = malloc(n * E * sizeof(double));
  L->dS = malloc(n * E * sizeof(double));
  L->w = malloc(nk * sizeof(double));
  L->dw = malloc(nk * sizeof(double));
  L->idx = malloc(nk * sizeof(size_t));
  L->pos = malloc(nk * sizeof(size_t));
  L->cnt = calloc(E, sizeof(size_t));
  L->eoff = calloc(E + 1, sizeof(size_t));
  L->fill = calloc(E, sizeof(size_t));
  L->yexp = calloc(E, sizeof(double *));
  L->xg = malloc(nk * s->d_in * sizeof(double));
  L->dxg = malloc(nk * s->d_in * sizeof(double));
  L->dyg = malloc(nk * s->d_out * sizeof(double));
  L->acts = malloc(nk * aw * sizeof(double));
  L->out = malloc(n * s->d_out * sizeof(double));
  if (s->shared_expert) {
    L->shared_acts = malloc(n * aw * sizeof(double));
    if (!L->shared_acts) return MOEX_ENOMEM;
  }
  if (s->enc_dim) {
    L->enc_acts = malloc(nk * L->enc.act_width * sizeof(double));
    L->dz = malloc(nk * s->enc_dim * sizeof(double));
    L->dz2 = malloc(nk * s->enc_dim * sizeof(double));
    if (!L->enc_acts || !L->dz || !L->dz2) return MOEX_ENOMEM;
    if (s->decoder) {
      L->dec_acts = malloc(nk * L->dec.act_width * sizeof(double));
      L->dr = malloc(nk * s->d_in * sizeof(double));
      if (!L->dec_acts || !L->dr) return MOEX_ENOMEM;
    }
  }
  if (!L->gate_acts || !L->p || !L->dS || !L->w || !L->dw || !L->idx || !L->pos || !L->cnt ||
      !L->eoff || !L->fill || !L->yexp || !L->xg || !L->dxg || !L->dyg || !L->acts || !L->out)
    return MOEX_ENOMEM;
  return MOEX_OK;
}

/* Scratch doubles one layer's backward needs for n samples. */
static size_t layer_scratch(const moe_layer_t *L, size_t n) {
  size_t K = L->spec.kind == MOE_LAYER_DENSE ? 1 : L->spec.top_k;
  size_t md = L->expert.max_dim;
  if (L->spec.enc_dim && L->enc.max_dim > md) md = L->enc.max_dim;
  size_t need = 2 * n * K * md;
  if (L->spec.kind == MOE_LAYER_MOE) {
    size_t g = gate_scratch_size(&L->gate, n);
    if (g > need) need = g;
  }
  return need;
}

moe_model_t *moe_model_alloc(const moe_spec_t *spec, size_t n_max) {
  if (moe_spec_validate(spec)) return NULL;
  if (n_max == 0) {
    moex_error(MOEX_EINVAL, "moe: n_max = %zu samples must be >= 1", n_max);
    return NULL;
  }
  moe_model_t *m = calloc(1, sizeof *m);
  if (!m) {
    moex_error(MOEX_ENOMEM, "moe: out of memory");
    return NULL;
  }
  m->spec = *spec;
  m->n_layers = spec->n_layers;
  m->n_max = n_max;
  m->d_in = spec->layer[0].d_in;
  m->d_out = spec->layer[spec->n_layers - 1].d_out;
  size_t off = 0, maxd = 0, scratch = 0;
  int rc = MOEX_OK;
  for (size_t l = 0; l < m->n_layers && !rc; l++) {
    rc = layer_shape(&m->layer[l], &spec->layer[l], off);
    if (rc) break;
    off += m->layer[l].n_params;
    rc = layer_alloc(&m->layer[l], n_max);
    if (spec->layer[l].d_in > maxd) maxd = spec->layer[l].d_in;
    if (spec->layer[l].d_out > maxd) maxd = spec->layer[l].d_out;
    size_t sc = layer_scratch(&m->layer[l], n_max);
    if (sc > scratch) scratch = sc;
  }
  m->n_params = off;
  m->n_model_params = off;
  if (!rc) {
    m->theta = calloc(off ? off : 1, sizeof(double));
    m->grad = calloc(off ? off : 1, sizeof(double));
    m->dbuf[0] = malloc(n_max * maxd * sizeof(double));
    m->dbuf[1] = malloc(n_max * maxd * sizeof(double));
    m->scratch = malloc(scratch * sizeof(double));
    m->path = calloc(n_max, sizeof(size_t));
    if (!m->theta || !m->grad || !m->dbuf[0] || !m->dbuf[1] || !m->scratch || !m->path) rc = MOEX_ENOMEM;
  }
  if (rc) {
    if (rc == MOEX_ENOMEM) moex_error(MOEX_ENOMEM, "moe: out of memory for n_max = %zu samples", n_max);
    moe_model_free(m);
    return NULL;
  }
  return m;
}

void moe_model_free(moe_model_t *m) {
  if (!m) return;
  for (size_t l = 0; l < m->n_layers; l++) layer_free(&m->layer[l]);
  free(m->theta); free(m->grad); free(m->dbuf[0]); free(m->dbuf[1]); free(m->scratch); free(m->path);
  if (m->rng) gsl_rng_free(m->rng);
  free(m);
}

void moe_model_init_params(moe_model_t *m, unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t l = 0; l < m->n_layers; l++) {
    moe_layer_t *L = &m->layer[l];
    if (L->spec.kind == MOE_LAYER_DENSE) {
      mlp_init_params(&L->expert, m->theta + L->off, r, L->spec.init);
      continue;
    }
    gate_init_params(&L->gate, m->theta + L->gate_off, r, L->spec.init);
    /* in layout order: a shared encoder and decoder, then each expert's (encoder, decoder,) f */
    int k = L->spec.enc_dim > 0, dec = L->spec.decoder;
    if (k && L->spec.enc_shared) {
      mlp_init_params(&L->enc, m->theta + moe_layer_enc_off(L, 0), r, L->spec.init);
      if (dec) mlp_init_params(&L->dec, m->theta + moe_layer_dec_off(L, 0), r, L->spec.init);
    }
    for (size_t e = 0; e < L->spec.n_experts; e++) {
      if (k && !L->spec.enc_shared) {
        mlp_init_params(&L->enc, m->theta + moe_layer_enc_off(L, e), r, L->spec.init);
        if (dec) mlp_init_params(&L->dec, m->theta + moe_layer_dec_off(L, e), r, L->spec.init);
      }
      mlp_init_params(&L->expert, m->theta + moe_layer_expert_off(L, e), r, L->spec.init);
    }
    if (L->spec.shared_expert) mlp_init_params(&L->expert, m->theta + L->shared_off, r, L->spec.init);
  }
  gsl_rng_free(r);
}

void moe_model_zero_grad(moe_model_t *m) { memset(m->grad, 0, m->n_params * sizeof(double)); }

/* The scores the selection and the weights see: the gate's own on x, or, training with
 * jitter or noise, on the jittered input with the noise added (fresh draws from m->rng, layer
 * after layer, sample after sample). */
static const double *router_scores(moe_model_t *m, moe_layer_t *L, const double *theta, size_t n, const double *x) {
  const moe_router_opts_t *o = &m->ropt;
  size_t E = L->spec.n_experts, din = L->spec.d_in;
  if (!m->training || (!o->jitter && !o->noise)) return gate_scores(&L->gate, theta + L->gate_off, n, x, L->gate_acts);
  const double *xr = x;
  if (o->jitter) {
    for (size_t i = 0; i < n * din; i++) {
      L->u[i] = 1.0 + o->jitter * (2.0 * gsl_rng_uniform(m->rng) - 1.0);
      L->xt[i] = x[i] * L->u[i];
    }
    xr = L->xt;
  }
  const double *S = gate_scores(&L->gate, theta + L->gate_off, n, xr, L->gate_acts);
  if (!o->noise) return S;
  for (size_t i = 0; i < n * E; i++) L->eps[i] = gsl_ran_gaussian_ziggurat(m->rng, 1.0);
  gate_noise_forward(n, E, din, xr, theta + L->noise_off, L->eps, S, L->z, L->H);
  return L->H;
}

/* The auxiliary losses of a training forward over H (n, E): their value, scaled by
 * n / aux_total so that a batch's chunks add up, goes to m->aux_last; the softmax q, its
 * logsumexp and the top-1 shares f stay for the backward; the selections add to load_acc. */
static void router_aux_forward(moe_model_t *m, moe_layer_t *L, size_t n, const double *H) {
  const moe_router_opts_t *o = &m->ropt;
  size_t E = L->spec.n_experts, K = L->spec.top_k;
  if (L->load_acc) /* the load of an expert: every slot that selects it (top-K) */
    for (size_t i = 0; i < n * K; i++) L->load_acc[L->idx[i]] += 1.0;
  if (!o->balance && !o->zloss) return;
  double N = (double)(m->aux_total ? m->aux_total : n), zsum = 0.0, bal = 0.0;
  memset(L->f, 0, E * sizeof *L->f);
  for (size_t s = 0; s < n; s++) {
    const double *h = H + s * E;
    double *q = L->q + s * E, mx = h[0], z = 0.0;
    for (size_t e = 1; e < E; e++) mx = h[e] > mx ? h[e] : mx;
    for (size_t e = 0; e < E; e++) z += (q[e] = exp(h[e] - mx));
    for (size_t e = 0; e < E; e++) q[e] /= z;
    L->lse[s] = mx + log(z);
    zsum += L->lse[s] * L->lse[s];
    L->f[L->idx[s * K]] += 1.0 / (double)n;
  }
  /* alpha E sum_e f_e P_e, P_e = mean_s q_se, weighted n / N: (alpha E / N) sum_s sum_e f_e q_se */
  for (size_t s = 0; s < n; s++)
    for (size_t e = 0; e < E; e++) bal += L->f[e] * L->q[s * E + e];
  m->aux_last += o->balance * (double)E * bal / N + o->zloss * zsum / N;
}

/* Adds the auxiliary losses' gradient to dH (n, E). f is held fixed (not differentiable, as in
 * Switch): d/dH_sj = (alpha E / N) q_sj (f_j - sum_e f_e q_se) + (2 beta / N) lse_s q_sj. */
static void router_aux_backward(const moe_model_t *m, const moe_layer_t *L, size_t n, double *dH) {
  const moe_router_opts_t *o = &m->ropt;
  if (!o->balance && !o->zloss) return;
  size_t E = L->spec.n_experts;
  double N = (double)(m->aux_total ? m->aux_total : n), cb = o->balance * (double)E / N;
  for (size_t s = 0; s < n; s++) {
    const double *q = L->q + s * E;
    double fq = 0.0;
    for (size_t e = 0; e < E; e++) fq += L->f[e] * q[e];
    double cz = 2.0 * o->zloss * L->lse[s] / N;
    for (size_t j = 0; j < E; j++) dH[s * E + j] += cb * q[j] * (L->f[j] - fq) + cz * q[j];
  }
}

/* One MoE layer forward: x (n, d_in) -> L->out (n, d_out). */
static const double *layer_forward(moe_model_t *m, moe_layer_t *L, const double *theta, size_t n, const double *x) {
  const moe_layer_spec_t *s = &L->spec;
  if (s->kind == MOE_LAYER_DENSE) return mlp_forward(&L->expert, theta + L->off, n, x, L->acts);
  size_t E = s->n_experts, K = s->top_k, din = s->d_in, dout = s->d_out, aw = L->expert.act_width;
  const double *S = router_scores(m, L, theta, n, x);
  gate_select(n, E, K, s->surrogate, S, L->sel_bias, L->idx, L->w, L->p);
  if (m->training) router_aux_forward(m, L, n, S);
  /* gather: the rows of each expert, contiguous, in sample order */
  memset(L->cnt, 0, E * sizeof(size_t));
  for (size_t i = 0; i < n * K; i++) L->cnt[L->idx[i]]++;
  L->eoff[0] = 0;
  for (size_t e = 0; e < E; e++) L->eoff[e + 1] = L->eoff[e] + L->cnt[e];
  memcpy(L->fill, L->eoff, E * sizeof(size_t));
  for (size_t i = 0; i < n * K; i++) {
    size_t r = L->fill[L->idx[i]]++;
    L->pos[i] = r;
    memcpy(L->xg + r * din, x + (i / K) * din, din * sizeof(double));
  }
  int recon = s->enc_dim && s->decoder && s->recon_weight > 0.0;
  L->recon_ss = 0.0;
  for (size_t e = 0; e < E; e++) {
    size_t c = L->cnt[e], o = L->eoff[e];
    if (!c) {
      L->yexp[e] = NULL;
      continue;
    }
    const double *xe = L->xg + o * din, *in = xe;
    if (s->enc_dim) {
      in = mlp_forward(&L->enc, theta + moe_layer_enc_off(L, e), c, xe, L->enc_acts + o * L->enc.act_width);
      if (recon) {
        /* the reconstruction of the rows this expert serves, by its own decoder */
        const double *xr = mlp_forward(&L->dec, theta + moe_layer_dec_off(L, e), c, in, L->dec_acts + o * L->dec.act_width);
        for (size_t i = 0; i < c * din; i++) {
          double r = xr[i] - xe[i];
          L->recon_ss += r * r;
        }
      }
    }
    L->yexp[e] = mlp_forward(&L->expert, theta + moe_layer_expert_off(L, e), c, in, L->acts + o * aw);
  }
  /* y_s = shared(x_s) + sum_k w_sk f_{i_sk}(x_s) */
  if (s->shared_expert)
    memcpy(L->out, mlp_forward(&L->expert, theta + L->shared_off, n, x, L->shared_acts), n * dout * sizeof(double));
  else
    memset(L->out, 0, n * dout * sizeof(double));
  for (size_t i = 0; i < n * K; i++) {
    size_t e = L->idx[i];
    const double *yr = L->yexp[e] + (L->pos[i] - L->eoff[e]) * dout;
    double *o = L->out + (i / K) * dout, wk = L->w[i];
    for (size_t j = 0; j < dout; j++) o[j] += wk * yr[j];
  }
  return L->out;
}

/* Backward of expert e's rows o..o+c: f_e, then (auto-encoder experts) the reconstruction term
 * with gradient scale rs = 2 lambda / (n_total K) (0: none) through Dec_e, then Enc_e. */
static void expert_backward(moe_layer_t *L, const double *theta, double *grad, size_t e, double rs, int want_dx,
                            double *scratch) {
  const moe_layer_spec_t *s = &L->spec;
  size_t c = L->cnt[e], o = L->eoff[e], din = s->d_in, dout = s->d_out, k = s->enc_dim;
  const double *xe = L->xg + o * din;
  double *dxe = want_dx ? L->dxg + o * din : NULL;
  if (!k) {
    mlp_backward(&L->expert, theta + moe_layer_expert_off(L, e), c, xe, L->acts + o * L->expert.act_width,
                 L->dyg + o * dout, grad + moe_layer_expert_off(L, e), dxe, scratch);
    return;
  }
  const double *ea = L->enc_acts + o * L->enc.act_width;
  const double *z = ea + c * (L->enc.act_width - k); /* the encoder's output block */
  double *dz = L->dz + o * k;
  mlp_backward(&L->expert, theta + moe_layer_expert_off(L, e), c, z, L->acts + o * L->expert.act_width,
               L->dyg + o * dout, grad + moe_layer_expert_off(L, e), dz, scratch);
  double *dr = NULL;
  if (rs > 0.0) {
    const double *da = L->dec_acts + o * L->dec.act_width, *xr = da + c * (L->dec.act_width - din);
    dr = L->dr + o * din;
    for (size_t i = 0; i < c * din; i++) dr[i] = rs * (xr[i] - xe[i]);
    double *dz2 = L->dz2 + o * k;
    mlp_backward(&L->dec, theta + moe_layer_dec_off(L, e), c, z, da, dr, grad + moe_layer_dec_off(L, e), dz2, scratch);
    for (size_t i = 0; i < c * k; i++) dz[i] += dz2[i];
  }
  mlp_backward(&L->enc, theta + moe_layer_enc_off(L, e), c, xe, ea, dz, grad + moe_layer_enc_off(L, e), dxe, scratch);
  /* x also enters the residual Dec(Enc(x)) - x directly */
  if (dxe && dr)
    for (size_t i = 0; i < c * din; i++) dxe[i] -= dr[i];
}

/* One layer backward: dy (n, d_out) -> grad (accumulated), dx (n, d_in) overwritten if not NULL.
 * n_total > 0: add the gradient of the layer's reconstruction term as part of a batch of n_total. */
static void layer_backward(const moe_model_t *m, moe_layer_t *L, const double *theta, double *grad, size_t n,
                           const double *x, const double *dy, double *dx, double *scratch, size_t n_total) {
  const moe_layer_spec_t *s = &L->spec;
  if (s->kind == MOE_LAYER_DENSE) {
    mlp_backward(&L->expert, theta + L->off, n, x, L->acts, dy, grad + L->off, dx, scratch);
    return;
  }
  size_t E = s->n_experts, K = s->top_k, din = s->d_in, dout = s->d_out;
  if (s->shared_expert)
    mlp_backward(&L->expert, theta + L->shared_off, n, x, L->shared_acts, dy, grad + L->shared_off, dx, scratch);
  else if (dx)
    memset(dx, 0, n * din * sizeof(double));
  /* dw_sk = <dy_s, f_k(x_s)>;  d f_k(x_s) = w_sk dy_s */
  for (size_t i = 0; i < n * K; i++) {
    size_t e = L->idx[i], r = L->pos[i];
    const double *yr = L->yexp[e] + (r - L->eoff[e]) * dout, *d = dy + (i / K) * dout;
    double dot = 0.0, wk = L->w[i];
    for (size_t j = 0; j < dout; j++) {
      dot += d[j] * yr[j];
      L->dyg[r * dout + j] = wk * d[j];
    }
    L->dw[i] = dot;
  }
  double rs = n_total && s->enc_dim && s->decoder && s->recon_weight > 0.0
                  ? 2.0 * s->recon_weight / ((double)n_total * (double)K) : 0.0;
  for (size_t e = 0; e < E; e++)
    if (L->cnt[e]) expert_backward(L, theta, grad, e, rs, dx != NULL, scratch);
  if (dx)
    for (size_t i = 0; i < n * K; i++) {
      const double *g = L->dxg + L->pos[i] * din;
      double *d = dx + (i / K) * din;
      for (size_t j = 0; j < din; j++) d[j] += g[j];
    }
  gate_select_backward(n, E, K, s->surrogate, L->idx, L->w, L->p, L->dw, L->dS);
  const moe_router_opts_t *o = &m->ropt;
  if (!m->training) {
    gate_scores_backward(&L->gate, theta + L->gate_off, n, x, L->gate_acts, L->dS, grad + L->gate_off, dx, scratch);
    return;
  }
  router_aux_backward(m, L, n, L->dS);
  /* the router saw xr (x, or x jittered by u); its input gradient goes to dxr, then to dx */
  const double *xr = o->jitter ? L->xt : x;
  double *dxr = dx && o->jitter ? L->dxt : dx;
  if (dxr != dx) memset(dxr, 0, n * din * sizeof *dxr);
  if (o->noise)
    gate_noise_backward(n, E, din, xr, theta + L->noise_off, L->eps, L->z, L->dS, L->ndz, grad + L->noise_off, dxr);
  gate_scores_backward(&L->gate, theta + L->gate_off, n, xr, L->gate_acts, L->dS, grad + L->gate_off, dxr, scratch);
  if (dxr != dx)
    for (size_t i = 0; i < n * din; i++) dx[i] += dxr[i] * L->u[i];
}

const double *moe_model_forward(moe_model_t *m, size_t n, const double *x) {
  if (!m || !x) {
    moex_error(MOEX_EINVAL, "moe: forward with NULL %s", m ? "input" : "model");
    return NULL;
  }
  if (n == 0 || n > m->n_max) {
    moex_error(MOEX_EINVAL, "moe: forward over n = %zu samples, must be in 1..n_max = %zu", n, m->n_max);
    return NULL;
  }
  const double *h = x;
  m->aux_last = 0.0;
  for (size_t l = 0; l < m->n_layers; l++) {
    h = layer_forward(m, &m->layer[l], m->theta, n, h);
    m->layer[l].y = h;
  }
  /* paths: mixed radix over the MoE layers, first MoE layer least significant */
  for (size_t s = 0; s < n; s++) {
    size_t p = 0, radix = 1;
    for (size_t l = 0; l < m->n_layers; l++) {
      const moe_layer_t *L = &m->layer[l];
      if (L->spec.kind != MOE_LAYER_MOE) continue;
      p += L->idx[s * L->spec.top_k] * radix;
      radix *= L->spec.n_experts;
    }
    m->path[s] = p;
  }
  m->n_last = n;
  return h;
}

/* Backward of the last forward; n_total > 0 adds the reconstruction terms' gradients. */
static int model_backward(moe_model_t *m, const double *x, const double *dy, double *dx, size_t n_total) {
  if (!m || !x || !dy) return moex_error(MOEX_EINVAL, "moe: backward with a NULL argument");
  if (m->n_last == 0) return moex_error(MOEX_EINVAL, "moe: backward before any forward");
  size_t n = m->n_last;
  const double *d = dy;
  for (size_t l = m->n_layers; l-- > 0;) {
    const double *in = l == 0 ? x : m->layer[l - 1].y;
    /* layer l writes its input gradient to dbuf[l % 2]; it reads d from dbuf[(l + 1) % 2] */
    double *dxl = l == 0 ? dx : m->dbuf[l % 2];
    layer_backward(m, &m->layer[l], m->theta, m->grad, n, in, d, dxl, m->scratch, n_total);
    d = dxl;
  }
  return MOEX_OK;
}

int moe_model_backward(moe_model_t *m, const double *x, const double *dy, double *dx) {
  return model_backward(m, x, dy, dx, 0);
}

int moe_model_has_recon(const moe_model_t *m) {
  for (size_t l = 0; m && l < m->n_layers; l++) {
    const moe_layer_spec_t *s = &m->layer[l].spec;
    if (s->enc_dim && s->decoder && s->recon_weight > 0.0) return 1;
  }
  return 0;
}

double moe_model_recon_loss(const moe_model_t *m, size_t n_total) {
  double r = 0.0;
  for (size_t l = 0; m && n_total && l < m->n_layers; l++) {
    const moe_layer_spec_t *s = &m->layer[l].spec;
    if (s->enc_dim && s->decoder && s->recon_weight > 0.0)
      r += s->recon_weight * m->layer[l].recon_ss / ((double)n_total * (double)s->top_k);
  }
  return r;
}

double moe_model_loss_grad_acc(moe_model_t *m, size_t n, const double *x, const double *t, size_t n_total) {
  if (!t) {
    moex_error(MOEX_EINVAL, "moe: loss with NULL targets");
    return NAN;
  }
  if (n_total < n) {
    moex_error(MOEX_EINVAL, "moe: chunk of %zu samples in a batch of %zu", n, n_total);
    return NAN;
  }
  m->aux_total = n_total;
  const double *y = moe_model_forward(m, n, x);
  m->aux_total = 0;
  if (!y) return NAN;
  size_t N = n * m->d_out;
  double total = (double)n_total * (double)m->d_out;
  /* the output gradient goes to the buffer the last layer does not write */
  double *dy = m->dbuf[m->n_layers % 2], loss = 0.0, scale = 2.0 / total;
  for (size_t i = 0; i < N; i++) {
    double r = y[i] - t[i];
    loss += r * r;
    dy[i] = scale * r;
  }
  model_backward(m, x, dy, NULL, n_total);
  return loss / total + (m->training ? m->aux_last : 0.0) + moe_model_recon_loss(m, n_total);
}

double moe_model_loss_grad(moe_model_t *m, size_t n, const double *x, const double *t) {
  moe_model_zero_grad(m);
  return moe_model_loss_grad_acc(m, n, x, t, n);
}

int moe_router_opts_any(const moe_router_opts_t *o) {
  return o && (o->balance != 0 || o->zloss != 0 || o->noise || o->jitter != 0 || o->auxfree != 0);
}

int moe_model_router_setup(moe_model_t *m, const moe_router_opts_t *o, unsigned long seed) {
  if (!m || !o) return moex_error(MOEX_EINVAL, "moe: router setup with a NULL argument");
  if (m->n_params != m->n_model_params || moe_router_opts_any(&m->ropt))
    return moex_error(MOEX_EINVAL, "moe: router options set twice");
  if (!(o->balance >= 0) || !(o->zloss >= 0) || !(o->auxfree >= 0) || !isfinite(o->balance) || !isfinite(o->zloss) ||
      !isfinite(o->auxfree))
    return moex_error(MOEX_EINVAL, "moe: router options balance=%g zloss=%g auxfree=%g must be finite and >= 0",
                      o->balance, o->zloss, o->auxfree);
  if (!(o->jitter >= 0 && o->jitter < 1))
    return moex_error(MOEX_EINVAL, "moe: router jitter=%g must be in [0, 1)", o->jitter);
  if (o->noise != 0 && o->noise != 1) return moex_error(MOEX_EINVAL, "moe: router noise=%d must be 0 or 1", o->noise);
  size_t n = m->n_max, extra = 0;
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE) extra += m->layer[l].spec.n_experts * m->layer[l].spec.d_in;
  if (!o->noise) extra = 0;
  int rc = MOEX_OK;
  if (extra) {
    double *t = realloc(m->theta, (m->n_params + extra) * sizeof *t);
    if (t) m->theta = t;
    double *g = t ? realloc(m->grad, (m->n_params + extra) * sizeof *g) : NULL;
    if (g) m->grad = g;
    if (!t || !g) return moex_error(MOEX_ENOMEM, "moe: out of memory for the noise weights");
    memset(m->theta + m->n_params, 0, extra * sizeof *t);
    memset(m->grad + m->n_params, 0, extra * sizeof *g);
  }
  size_t off = m->n_params;
  for (size_t l = 0; l < m->n_layers && !rc; l++) {
    moe_layer_t *L = &m->layer[l];
    if (L->spec.kind != MOE_LAYER_MOE) continue;
    size_t E = L->spec.n_experts, din = L->spec.d_in;
    if (o->auxfree && (!(L->sel_bias = calloc(E, sizeof(double))) || !(L->load_acc = calloc(E, sizeof(double)))))
      rc = MOEX_ENOMEM;
    if ((o->balance || o->zloss) && (!(L->q = malloc(n * E * sizeof(double))) || !(L->lse = malloc(n * sizeof(double))) ||
                                     !(L->f = malloc(E * sizeof(double)))))
      rc = MOEX_ENOMEM;
    if (o->noise) {
      L->noise_off = off;
      off += E * din;
      if (!(L->H = malloc(n * E * sizeof(double))) || !(L->eps = malloc(n * E * sizeof(double))) ||
          !(L->z = malloc(n * E * sizeof(double))) || !(L->ndz = malloc(n * E * sizeof(double))))
        rc = MOEX_ENOMEM;
    }
    if (o->jitter && (!(L->u = malloc(n * din * sizeof(double))) || !(L->xt = malloc(n * din * sizeof(double))) ||
                      !(L->dxt = malloc(n * din * sizeof(double)))))
      rc = MOEX_ENOMEM;
  }
  if (!rc && !(m->rng = gsl_rng_alloc(gsl_rng_mt19937))) rc = MOEX_ENOMEM;
  if (rc) return moex_error(MOEX_ENOMEM, "moe: out of memory for the router options");
  gsl_rng_set(m->rng, seed);
  m->n_params += extra;
  m->ropt = *o;
  return MOEX_OK;
}

void moe_model_router_seed(moe_model_t *m, unsigned long seed) {
  if (m && m->rng) gsl_rng_set(m->rng, seed);
}

void moe_model_router_step(moe_model_t *m) {
  if (!m || !m->ropt.auxfree) return;
  for (size_t l = 0; l < m->n_layers; l++) {
    moe_layer_t *L = &m->layer[l];
    if (!L->sel_bias) continue;
    size_t E = L->spec.n_experts;
    double mean = 0.0;
    for (size_t e = 0; e < E; e++) mean += L->load_acc[e] / (double)E;
    for (size_t e = 0; e < E; e++) {
      double d = mean - L->load_acc[e];
      L->sel_bias[e] += m->ropt.auxfree * (double)((d > 0) - (d < 0));
      L->load_acc[e] = 0.0;
    }
  }
}

const size_t *moe_model_layer_counts(const moe_model_t *m, size_t l) {
  if (!m || l >= m->n_layers || m->layer[l].spec.kind != MOE_LAYER_MOE) return NULL;
  return m->layer[l].cnt;
}

const size_t *moe_model_layer_choice(const moe_model_t *m, size_t l) {
  if (!m || l >= m->n_layers || m->layer[l].spec.kind != MOE_LAYER_MOE) return NULL;
  return m->layer[l].idx;
}

const size_t *moe_model_paths(const moe_model_t *m) { return m ? m->path : NULL; }

size_t moe_model_n_paths(const moe_model_t *m) {
  size_t p = 1;
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE) p *= m->layer[l].spec.n_experts;
  return p;
}

moe_gate_view_t moe_gate_params(moe_model_t *m, size_t layer) {
  moe_gate_view_t v = {0};
  if (!m || layer >= m->n_layers) {
    moex_error(MOEX_EINVAL, "moe: router of layer %zu of %zu", layer, m ? m->n_layers : 0);
    return v;
  }
  moe_layer_t *L = &m->layer[layer];
  if (L->spec.kind != MOE_LAYER_MOE || L->spec.gate != GATE_LINEAR) {
    moex_error(MOEX_EINVAL, "moe: layer %zu has no linear router", layer);
    return v;
  }
  v.off = L->gate_off;
  v.n = L->gate.n_params;
  v.rows = L->spec.n_experts;
  v.cols = L->spec.d_in;
  v.p = m->theta + v.off;
  return v;
}

moe_expert_view_t moe_expert_params(moe_model_t *m, size_t layer, size_t e) {
  moe_expert_view_t v = {0};
  if (!m || layer >= m->n_layers) {
    moex_error(MOEX_EINVAL, "moe: expert of layer %zu of %zu", layer, m ? m->n_layers : 0);
    return v;
  }
  moe_layer_t *L = &m->layer[layer];
  if (L->spec.kind != MOE_LAYER_MOE || e >= L->spec.n_experts) {
    moex_error(MOEX_EINVAL, "moe: layer %zu has no expert %zu", layer, e);
    return v;
  }
  v.off = moe_layer_expert_off(L, e);
  v.n = L->expert.n_params;
  v.shape = &L->expert;
  v.p = m->theta + v.off;
  return v;
}

int moe_experts_swap(moe_model_t *m, size_t layer, size_t a, size_t b) {
  moe_expert_view_t va = moe_expert_params(m, layer, a), vb = moe_expert_params(m, layer, b);
  if (!va.p || !vb.p) return MOEX_EINVAL;
  for (size_t k = 0; k < va.n; k++) {
    double t = va.p[k];
    va.p[k] = vb.p[k];
    vb.p[k] = t;
  }
  return MOEX_OK;
}
