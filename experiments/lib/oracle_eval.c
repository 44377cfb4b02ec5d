/* oracle_eval: the trained experts under oracle routes (see oracle_eval.h). */
#include "lib/oracle_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/metrics.h"
#include "core/moex_error.h"
#include "fit/fit_routed.h"
#include "model/gate.h"

size_t oracle_path_route(const moe_model_t *m, size_t path, size_t l) {
  size_t radix = 1;
  for (size_t j = 0; j < l; j++)
    if (m->layer[j].spec.kind == MOE_LAYER_MOE) radix *= m->layer[j].spec.n_experts;
  return (path / radix) % m->layer[l].spec.n_experts;
}

/* Forward of k points with every point's path given by path_of. The selected expert's weight
 * is the layer's surrogate at the forced route: 1 for the paper's top-1, the softmax over all E
 * scores at the forced expert for switch (as the trained model weighs its own choice), so that
 * the same function is re-evaluated with only the routes changed. A switch layer's scores depend
 * on the layers below it, hence one forward per switch layer, bottom-up, before the last. */
typedef struct {
  size_t *rt[MOE_MAX_LAYERS];
  double *wt[MOE_MAX_LAYERS];
  double *acts;
} route_buf;

static const double *routed_chunk(fit_routed *R, const moe_model_t *m, size_t k, const double *x, const size_t *path_of,
                                  route_buf *b) {
  for (size_t l = 0; l < m->n_layers; l++) {
    if (!b->rt[l]) continue;
    for (size_t s = 0; s < k; s++) {
      b->rt[l][s] = oracle_path_route(m, path_of[s], l);
      b->wt[l][s] = 1.0;
    }
  }
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (!b->rt[l] || L->spec.surrogate != GATE_SWITCH) continue;
    if (!fit_routed_forward(R, m->theta, k, x, (const size_t *const *)b->rt, (const double *const *)b->wt)) return NULL;
    size_t E = L->spec.n_experts;
    const double *S = gate_scores(&L->gate, m->theta + L->gate_off, k, R->h[l], b->acts);
    for (size_t s = 0; s < k; s++) {
      /* softmax over all E scores at the forced expert (gate_select would give it at its own
       * choice only) */
      double mx = S[s * E], z = 0;
      for (size_t e = 1; e < E; e++) mx = fmax(mx, S[s * E + e]);
      for (size_t e = 0; e < E; e++) z += exp(S[s * E + e] - mx);
      b->wt[l][s] = exp(S[s * E + b->rt[l][s]] - mx) / z;
    }
  }
  return fit_routed_forward(R, m->theta, k, x, (const size_t *const *)b->rt, (const double *const *)b->wt);
}

int oracle_eval(const moe_model_t *m, size_t n, const double *x, const double *y, const size_t *label,
                size_t n_labels, oracle_eval_t *out) {
  memset(out, 0, sizeof *out);
  out->sup = out->mse = out->agreement = NAN;
  size_t P = moe_model_n_paths(m), n_moe = 0;
  for (size_t l = 0; l < m->n_layers; l++) n_moe += m->layer[l].spec.kind == MOE_LAYER_MOE;
  if (!n_moe) return moex_error(MOEX_EINVAL, "oracle_eval: the model has no MoE layer");
  if (P > ORACLE_MAX_PATHS || n_labels == 0 || n_labels > ORACLE_MAX_PATHS || n == 0)
    return moex_error(MOEX_EINVAL, "oracle_eval: %zu paths, %zu labels, %zu points (at most %d paths and labels)", P,
                      n_labels, n, ORACLE_MAX_PATHS);
  for (size_t i = 0; i < n; i++)
    if (label[i] >= n_labels) return moex_error(MOEX_EINVAL, "oracle_eval: label %zu of point %zu >= %zu", label[i], i, n_labels);
  size_t chunk = n < 4096 ? n : 4096, din = m->d_in, dout = m->d_out;
  fit_routed *R = fit_routed_alloc(m, chunk);
  if (!R) return MOEX_EINVAL;
  double *sse = calloc(P * n_labels, sizeof *sse), *yo = malloc(n * dout * sizeof *yo);
  size_t *pth = malloc(chunk * sizeof *pth), *vote = calloc(P * n_labels, sizeof *vote), aw = 1;
  route_buf b;
  memset(&b, 0, sizeof b);
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE && m->layer[l].gate.act_width > aw) aw = m->layer[l].gate.act_width;
  b.acts = malloc(chunk * aw * sizeof *b.acts);
  int rc = sse && yo && pth && vote && b.acts ? MOEX_OK : MOEX_ENOMEM;
  for (size_t l = 0; l < m->n_layers && !rc; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE &&
        (!(b.rt[l] = malloc(chunk * sizeof(size_t))) || !(b.wt[l] = malloc(chunk * sizeof(double)))))
      rc = MOEX_ENOMEM;
  /* every path on every point: the squared error each path's experts leave on each label */
  for (size_t p = 0; p < P && !rc; p++)
    for (size_t a = 0; a < n && !rc; a += chunk) {
      size_t k = n - a < chunk ? n - a : chunk;
      for (size_t s = 0; s < k; s++) pth[s] = p;
      const double *yp = routed_chunk(R, m, k, x + a * din, pth, &b);
      if (!yp) { rc = MOEX_EINVAL; break; }
      for (size_t s = 0; s < k; s++) {
        double e = 0;
        for (size_t o = 0; o < dout; o++) {
          double r = yp[s * dout + o] - y[(a + s) * dout + o];
          e += r * r;
        }
        /* a non-finite error must not make a path look best: it counts as infinite */
        sse[label[a + s] * P + p] += isfinite(e) ? e : INFINITY;
      }
    }
  for (size_t k = 0; k < n_labels && !rc; k++) {
    size_t best = 0;
    for (size_t p = 1; p < P; p++)
      if (sse[k * P + p] < sse[k * P + best]) best = p;
    out->map[k] = best;
  }
  /* the oracle routes' predictions, and the learned paths against them */
  const size_t *learned = moe_model_paths(m);
  size_t agree = 0;
  for (size_t a = 0; a < n && !rc; a += chunk) {
    size_t k = n - a < chunk ? n - a : chunk;
    for (size_t s = 0; s < k; s++) pth[s] = out->map[label[a + s]];
    const double *yp = routed_chunk(R, m, k, x + a * din, pth, &b);
    if (!yp) { rc = MOEX_EINVAL; break; }
    memcpy(yo + a * dout, yp, k * dout * sizeof *yo);
    for (size_t s = 0; s < k; s++) {
      agree += learned[a + s] == pth[s];
      if (learned[a + s] < P) vote[label[a + s] * P + learned[a + s]]++;
    }
  }
  if (!rc) {
    metrics_err_t e;
    rc = metrics_errors(yo, y, n, dout, &e);
    out->sup = e.sup;
    out->mse = e.mse;
    out->agreement = (double)agree / (double)n;
    /* pieces served by distinct paths: the distinct majority learned paths over the labels */
    unsigned char *used = calloc(P, 1);
    if (!used) rc = MOEX_ENOMEM;
    for (size_t k = 0; k < n_labels && !rc; k++) {
      size_t best = 0, tot = 0;
      for (size_t p = 0; p < P; p++) {
        tot += vote[k * P + p];
        if (vote[k * P + p] > vote[k * P + best]) best = p;
      }
      if (!tot) continue;
      out->n_labels_seen++;
      if (!used[best]) out->distinct++;
      used[best] = 1;
    }
    free(used);
  }
  if (rc == MOEX_ENOMEM) rc = moex_error(MOEX_ENOMEM, "oracle_eval: out of memory");
  for (size_t l = 0; l < MOE_MAX_LAYERS; l++) {
    free(b.rt[l]);
    free(b.wt[l]);
  }
  free(b.acts);
  free(sse); free(yo); free(pth); free(vote);
  fit_routed_free(R);
  return rc;
}
