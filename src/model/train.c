/* train: model + data -> objective. */
#include "model/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

/* The fitter may hand a vector other than the model's own block (GSL keeps its own x). */
static void sync_theta(moe_model_t *m, const double *theta) {
  if (theta != m->theta) memcpy(m->theta, theta, m->n_params * sizeof(double));
}

/* Sum over the chunk of the squared residuals of a forward pass, divided by `total`, plus the
 * chunk's part of the reconstruction terms of auto-encoder experts (batch of n_total samples). */
static double chunk_loss(moe_model_t *m, size_t n, const double *x, const double *t, double total, size_t n_total) {
  const double *y = moe_model_forward(m, n, x);
  if (!y) return NAN;
  double loss = 0.0;
  for (size_t i = 0; i < n * m->d_out; i++) {
    double r = y[i] - t[i];
    loss += r * r;
  }
  return loss / total + moe_model_recon_loss(m, n_total);
}

static int lossgrad_chunks(train_ctx_t *c, const size_t *idx, size_t N, int want_grad, double *loss);

static int lossgrad(void *vctx, const double *theta, const size_t *idx, size_t n_idx, double *loss,
                    double *grad) {
  train_ctx_t *c = vctx;
  moe_model_t *m = c->model;
  const train_data_t *d = &c->data;
  size_t N = idx ? n_idx : d->n;
  if (N == 0) return moex_error(MOEX_EINVAL, "train: empty batch");
  /* The model evaluates theta where it lies and accumulates straight into the caller's gradient
   * (its own blocks are put back below; the forward and backward only read theta): no copy of
   * either per evaluation, and the vector of the model's own block, which may be the fitter's
   * other iterate (Adam's fallback), is left as it was. */
  double *own_theta = m->theta, *own_grad = m->grad;
  m->theta = (double *)theta;
  if (grad) {
    m->grad = grad;
    moe_model_zero_grad(m);
  }
  int rc = lossgrad_chunks(c, idx, N, grad != NULL, loss);
  m->theta = own_theta;
  m->grad = own_grad;
  return rc;
}

/* lossgrad's passes over the batch (idx, or the whole set) in chunks, into *loss and m->grad. */
static int lossgrad_chunks(train_ctx_t *c, const size_t *idx, size_t N, int want_grad, double *loss) {
  moe_model_t *m = c->model;
  const train_data_t *d = &c->data;
  /* router options (noise, jitter, auxiliary losses) belong to the minibatch steps only: the
   * full-data evaluations (Adam's curve points and final loss) are of the plain MSE */
  m->training = idx && moe_router_opts_any(&m->ropt);
  m->aux_total = N;
  double total = 0.0;
  for (size_t start = 0; start < N; start += c->chunk) {
    size_t nc = N - start < c->chunk ? N - start : c->chunk;
    const double *xb = d->x + start * d->d_in, *yb = d->y + start * d->d_out;
    if (idx) {
      for (size_t i = 0; i < nc; i++) {
        size_t s = idx[start + i];
        if (s >= d->n) return moex_error(MOEX_EINVAL, "train: sample index %zu >= n = %zu", s, d->n);
        memcpy(c->xb + i * d->d_in, d->x + s * d->d_in, d->d_in * sizeof(double));
        memcpy(c->yb + i * d->d_out, d->y + s * d->d_out, d->d_out * sizeof(double));
      }
      xb = c->xb;
      yb = c->yb;
    }
    /* the loss alone (nmsimplex2, Adam's full-loss curve points) needs no backward pass; the
     * GSL gradient methods always take the gradient too (fit_eval_cached) */
    double l = want_grad ? moe_model_loss_grad_acc(m, nc, xb, yb, N)
                    : chunk_loss(m, nc, xb, yb, (double)N * (double)d->d_out, N) + (m->training ? m->aux_last : 0.0);
    total += l;
  }
  m->training = 0;
  m->aux_total = 0;
  *loss = total;
  return MOEX_OK;
}

static int residual(void *vctx, const double *theta, double *r, double *J) {
  train_ctx_t *c = vctx;
  moe_model_t *m = c->model;
  const train_data_t *d = &c->data;
  sync_theta(m, theta);
  double *dy = c->yb; /* one row of d_out */
  for (size_t s = 0; s < d->n; s++) {
    const double *xs = d->x + s * d->d_in;
    const double *y = moe_model_forward(m, 1, xs);
    if (!y) return MOEX_EINVAL;
    for (size_t o = 0; o < d->d_out; o++) r[s * d->d_out + o] = y[o] - d->y[s * d->d_out + o];
    if (!J) continue;
    for (size_t o = 0; o < d->d_out; o++) {
      memset(dy, 0, d->d_out * sizeof(double));
      dy[o] = 1.0;
      moe_model_zero_grad(m);
      moe_model_backward(m, xs, dy, NULL);
      memcpy(J + (s * d->d_out + o) * m->n_params, m->grad, m->n_params * sizeof(double));
    }
  }
  return MOEX_OK;
}

static void step_done(void *vctx) { moe_model_router_step(((train_ctx_t *)vctx)->model); }

size_t train_chunk_rows(const moe_model_t *model) {
  size_t e_max = 1;
  for (size_t l = 0; l < model->n_layers; l++)
    if (model->spec.layer[l].kind == MOE_LAYER_MOE && model->spec.layer[l].n_experts > e_max)
      e_max = model->spec.layer[l].n_experts;
  size_t rows = 64 * e_max > 256 ? 64 * e_max : 256;
  return rows < model->n_max ? rows : model->n_max;
}

int train_objective_init(train_ctx_t *ctx, objective_t *obj, moe_model_t *model, const train_data_t *data) {
  if (!ctx || !obj || !model || !data || !data->x || !data->y)
    return moex_error(MOEX_EINVAL, "train: NULL argument");
  if (data->n == 0) return moex_error(MOEX_EINVAL, "train: n = 0 training samples");
  if (data->d_in != model->d_in || data->d_out != model->d_out)
    return moex_error(MOEX_EINVAL, "train: data dimensions (%zu -> %zu) do not match the model (%zu -> %zu)",
                      data->d_in, data->d_out, model->d_in, model->d_out);
  memset(ctx, 0, sizeof *ctx);
  ctx->model = model;
  ctx->data = *data;
  ctx->chunk = train_chunk_rows(model);
  ctx->xb = malloc(ctx->chunk * data->d_in * sizeof(double));
  ctx->yb = malloc(ctx->chunk * (data->d_out > 1 ? data->d_out : 1) * sizeof(double));
  if (!ctx->xb || !ctx->yb) {
    train_ctx_free(ctx);
    return moex_error(MOEX_ENOMEM, "train: out of memory");
  }
  obj->n_params = model->n_params;
  obj->n_samples = data->n;
  obj->n_res = data->n * data->d_out;
  obj->lossgrad = lossgrad;
  /* LM's residuals are the outputs' only: a reconstruction term would be left out of its fit */
  obj->residual = moe_model_has_recon(model) ? NULL : residual;
  obj->step_done = model->ropt.auxfree ? step_done : NULL;
  obj->ctx = ctx;
  return MOEX_OK;
}

void train_ctx_free(train_ctx_t *ctx) {
  if (!ctx) return;
  free(ctx->xb);
  free(ctx->yb);
  ctx->xb = ctx->yb = NULL;
}

int train_predict(moe_model_t *model, size_t n, const double *x, double *y) {
  if (!model || !x || !y) return moex_error(MOEX_EINVAL, "train: predict with a NULL argument");
  for (size_t start = 0; start < n; start += model->n_max) {
    size_t nc = n - start < model->n_max ? n - start : model->n_max;
    const double *o = moe_model_forward(model, nc, x + start * model->d_in);
    if (!o) return MOEX_EINVAL;
    memcpy(y + start * model->d_out, o, nc * model->d_out * sizeof(double));
  }
  return MOEX_OK;
}
