/* mlp: dense ReLU network forward and backward (products in kernels.c; wide one-hidden-layer nets by blocks, mlp_wide.c). */
#include "model/mlp.h"

#include <math.h>
#include <string.h>

#include "core/kernels.h"
#include "core/moex_error.h"

int mlp_init(mlp_t *net, size_t n_in, size_t n_out, size_t n_layers, size_t width) {
  if (!net) return moex_error(MOEX_EINVAL, "mlp: NULL net");
  if (n_in == 0) return moex_error(MOEX_EINVAL, "mlp: input dimension %zu must be >= 1", n_in);
  if (n_out == 0) return moex_error(MOEX_EINVAL, "mlp: output dimension %zu must be >= 1", n_out);
  if (n_layers == 0 || n_layers > MLP_MAX_LAYERS)
    return moex_error(MOEX_EINVAL, "mlp: layers l = %zu must be in 1..%d", n_layers, MLP_MAX_LAYERS);
  if (n_layers >= 2 && width == 0)
    return moex_error(MOEX_EINVAL, "mlp: width m = %zu must be >= 1", width);
  memset(net, 0, sizeof *net);
  net->n_in = n_in;
  net->n_out = n_out;
  net->n_layers = n_layers;
  net->width = n_layers >= 2 ? width : 0;
  net->dims[0] = n_in;
  for (size_t j = 1; j < n_layers; j++) net->dims[j] = width;
  net->dims[n_layers] = n_out;
  size_t off = 0;
  net->max_dim = n_in;
  for (size_t j = 1; j <= n_layers; j++) {
    net->w_off[j - 1] = off;
    off += net->dims[j] * net->dims[j - 1];
    net->b_off[j - 1] = off;
    off += net->dims[j];
    net->act_width += net->dims[j];
    if (net->dims[j] > net->max_dim) net->max_dim = net->dims[j];
  }
  net->n_params = off;
  return MOEX_OK;
}

const char *mlp_init_name(mlp_init_t s) { return s == MLP_INIT_TORCH ? "torch" : "he"; }

int mlp_init_parse(const char *name, mlp_init_t *out) {
  if (name && !strcmp(name, "he")) *out = MLP_INIT_HE;
  else if (name && !strcmp(name, "torch")) *out = MLP_INIT_TORCH;
  else return moex_error(MOEX_EINVAL, "unknown initialisation '%s' (expected he or torch)", name ? name : "(null)");
  return MOEX_OK;
}

void mlp_init_params(const mlp_t *net, double *theta, gsl_rng *r, mlp_init_t scheme) {
  for (size_t j = 1; j <= net->n_layers; j++) {
    size_t fan_in = net->dims[j - 1], fan_out = net->dims[j];
    double bb = 1.0 / sqrt((double)fan_in), wb = scheme == MLP_INIT_TORCH ? bb : sqrt(6.0 / (double)fan_in);
    double *W = theta + net->w_off[j - 1], *b = theta + net->b_off[j - 1];
    for (size_t i = 0; i < fan_out * fan_in; i++) W[i] = wb * (2.0 * gsl_rng_uniform(r) - 1.0);
    for (size_t i = 0; i < fan_out; i++) b[i] = bb * (2.0 * gsl_rng_uniform(r) - 1.0);
  }
}

double *mlp_layers_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts) {
  const double *in = x;
  double *h = acts;
  for (size_t j = 1; j <= net->n_layers; j++) {
    size_t din = net->dims[j - 1], dout = net->dims[j];
    const double *W = theta + net->w_off[j - 1], *b = theta + net->b_off[j - 1];
    /* h (n, dout) = in (n, din) W^T (din, dout) + b, ReLU on hidden layers */
    kern_mm(n, dout, din, in, W, 1, b, 0, j < net->n_layers, h);
    in = h;
    h += n * dout;
  }
  return (double *)in;
}

void mlp_layers_backward(const mlp_t *net, const double *theta, size_t n, const double *x, const double *acts,
                         const double *dy, double *grad, double *dx, double *scratch) {
  if (n == 0) {
    return;
  }
  double *bufa = scratch, *bufb = scratch + n * net->max_dim;
  const double *dz = dy; /* gradient at the pre-activation of layer j */
  /* layer j's input is the activation block just before its own output block */
  size_t in_off = net->act_width * n - net->dims[net->n_layers] * n;
  for (size_t j = net->n_layers; j >= 1; j--) {
    size_t din = net->dims[j - 1], dout = net->dims[j];
    const double *W = theta + net->w_off[j - 1];
    double *dW = grad + net->w_off[j - 1], *db = grad + net->b_off[j - 1];
    if (j > 1) in_off -= n * din;
    const double *in = j == 1 ? x : acts + in_off;
    /* dW (dout, din) += dz^T (dout, n) in (n, din); db += column sums of dz */
    kern_mtm(n, dout, din, dz, in, dW, db);
    if (j == 1 && !dx) break;
    /* din_grad (n, din) = dz (n, dout) W (dout, din) */
    double *dprev = j == 1 ? dx : (dz == bufa ? bufb : bufa);
    if (j == 1) {
      kern_mm(n, din, dout, dz, W, 0, NULL, 0, 0, dprev);
      break;
    }
    /* and through the ReLU of layer j-1: its output `in` is > 0 exactly where it passed */
    kern_mm_mask(n, din, dout, dz, W, 0, in, dprev);
    dz = dprev;
  }
}

double *mlp_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts) {
  if (mlp_wide_applies(net, n)) return mlp_wide_forward(net, theta, n, x, acts);
  return mlp_layers_forward(net, theta, n, x, acts);
}

void mlp_backward(const mlp_t *net, const double *theta, size_t n, const double *x, const double *acts,
                  const double *dy, double *grad, double *dx, double *scratch) {
  if (mlp_wide_applies(net, n)) mlp_wide_backward(net, theta, n, x, acts, dy, grad, dx, scratch);
  else mlp_layers_backward(net, theta, n, x, acts, dy, grad, dx, scratch);
}
