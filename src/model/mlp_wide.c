/* mlp_wide: a wide one-hidden-layer net, forward and backward one block of hidden units at a time (mlp.h: when, and why). */
#include "model/mlp.h"

#include "core/kernels.h"

int mlp_wide_applies(const mlp_t *net, size_t n) {
  return net->n_layers == 2 && net->dims[0] >= 4 && net->dims[2] <= 4 && n <= MLP_WIDE_MAX_ROWS &&
         (double)n * (double)net->dims[1] >= (double)MLP_WIDE_MIN_ACTS;
}

double *mlp_wide_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts) {
  if (net->n_layers != 2) return NULL;
  size_t din = net->dims[0], w = net->dims[1], dout = net->dims[2];
  const double *W1 = theta + net->w_off[0], *b1 = theta + net->b_off[0];
  const double *W2 = theta + net->w_off[1], *b2 = theta + net->b_off[1];
  double *H = acts, *y = acts + n * w;
  for (size_t s = 0; s < n; s++)
    for (size_t k = 0; k < dout; k++) y[s * dout + k] = b2[k];
  for (size_t o = 0; o < w; o += MLP_WIDE_BLOCK) {
    size_t m = w - o < MLP_WIDE_BLOCK ? w - o : MLP_WIDE_BLOCK;
    kern_wide_hidden(n, m, din, x, W1 + o * din, b1 + o, w, H + o);
    kern_wide_relu_out(n, m, w, H + o, dout, W2 + o, w, y);
  }
  return y;
}

void mlp_wide_backward(const mlp_t *net, const double *theta, size_t n, const double *x, const double *acts,
                       const double *dy, double *grad, double *dx, double *scratch) {
  if (net->n_layers != 2 || n == 0) return;
  size_t din = net->dims[0], w = net->dims[1], dout = net->dims[2];
  const double *W1 = theta + net->w_off[0], *W2 = theta + net->w_off[1];
  double *dW1 = grad + net->w_off[0], *db1 = grad + net->b_off[0];
  double *dW2 = grad + net->w_off[1], *db2 = grad + net->b_off[1];
  for (size_t s = 0; s < n; s++)
    for (size_t k = 0; k < dout; k++) db2[k] += dy[s * dout + k];
  /* dz, the block's gradient at the hidden pre-activations (n, m), lives in the scratch, which
   * holds 2 n max_dim doubles, and m <= w <= max_dim */
  double *dz = scratch;
  for (size_t o = 0; o < w; o += MLP_WIDE_BLOCK) {
    size_t m = w - o < MLP_WIDE_BLOCK ? w - o : MLP_WIDE_BLOCK;
    kern_wide_relu_grad(n, m, w, acts + o, dout, dy, W2 + o, w, dW2 + o, dz);
    kern_mtm(n, m, din, dz, x, dW1 + o * din, db1 + o);
    /* dx (n, din) = sum over the blocks of dz W1 (block rows), overwritten by the first */
    if (dx) kern_mm(n, din, m, dz, W1 + o * din, 0, NULL, o > 0, 0, dx);
  }
}
