/* fit_routed: forward and backward of a moe_model under routes given from outside. */
#include "fit/fit_routed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

void fit_routed_free(fit_routed *R) {
  if (!R) return;
  for (size_t l = 0; l < MOE_MAX_LAYERS; l++) {
    free(R->out[l]); free(R->xg[l]); free(R->acts[l]); free(R->sacts[l]); free(R->gacts[l]);
    free(R->ord[l]); free(R->cnt[l]); free(R->eoff[l]); free(R->route[l]); free(R->w[l]);
  }
  free(R->dbuf[0]); free(R->dbuf[1]); free(R->dg); free(R->dxg); free(R->dtmp); free(R->scratch);
  free(R);
}

fit_routed *fit_routed_alloc(const moe_model_t *m, size_t n_max) {
  if (!m || n_max == 0) {
    moex_error(MOEX_EINVAL, "fit_routed: NULL model or n_max = %zu", n_max);
    return NULL;
  }
  fit_routed *R = calloc(1, sizeof *R);
  if (!R) {
    moex_error(MOEX_ENOMEM, "fit_routed: out of memory");
    return NULL;
  }
  R->m = m;
  R->n_max = n_max;
  R->n_layers = m->n_layers;
  size_t maxd = 1, scr = 1;
  int bad = 0;
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_t *L = &m->layer[l];
    const moe_layer_spec_t *s = &L->spec;
    if (s->kind == MOE_LAYER_MOE && s->top_k != 1) {
      moex_error(MOEX_EINVAL, "fit_routed: layer %zu has top-K = %zu; the MoE protocols route top-1", l, s->top_k);
      fit_routed_free(R);
      return NULL;
    }
    if (s->d_in > maxd) maxd = s->d_in;
    if (s->d_out > maxd) maxd = s->d_out;
    size_t aw = L->expert.act_width, sc = 2 * n_max * L->expert.max_dim;
    if (sc > scr) scr = sc;
    R->out[l] = malloc(n_max * s->d_out * sizeof(double));
    R->acts[l] = malloc(n_max * aw * sizeof(double));
    bad |= !R->out[l] || !R->acts[l];
    if (s->kind != MOE_LAYER_MOE) continue;
    size_t E = s->n_experts;
    size_t g = gate_scratch_size(&L->gate, n_max);
    if (g > scr) scr = g;
    R->xg[l] = malloc(n_max * s->d_in * sizeof(double));
    R->gacts[l] = malloc(n_max * L->gate.act_width * sizeof(double));
    R->ord[l] = malloc(n_max * sizeof(size_t));
    R->route[l] = calloc(n_max, sizeof(size_t));
    R->w[l] = malloc(n_max * sizeof(double));
    bad |= !R->w[l];
    R->cnt[l] = calloc(E, sizeof(size_t));
    R->eoff[l] = calloc(E + 1, sizeof(size_t));
    if (s->shared_expert) bad |= !(R->sacts[l] = malloc(n_max * aw * sizeof(double)));
    bad |= !R->xg[l] || !R->gacts[l] || !R->ord[l] || !R->route[l] || !R->cnt[l] || !R->eoff[l];
  }
  R->dbuf[0] = malloc(n_max * maxd * sizeof(double));
  R->dbuf[1] = malloc(n_max * maxd * sizeof(double));
  R->dg = malloc(n_max * maxd * sizeof(double));
  R->dxg = malloc(n_max * maxd * sizeof(double));
  R->dtmp = malloc(n_max * maxd * sizeof(double));
  R->scratch = malloc(scr * sizeof(double));
  if (bad || !R->dbuf[0] || !R->dbuf[1] || !R->dg || !R->dxg || !R->dtmp || !R->scratch) {
    fit_routed_free(R);
    moex_error(MOEX_ENOMEM, "fit_routed: out of memory for n_max = %zu", n_max);
    return NULL;
  }
  return R;
}

size_t fit_routed_expert_mask(const moe_model_t *m, unsigned char *mask) {
  memset(mask, 1, m->n_params);
  size_t k = m->n_params;
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (L->spec.kind != MOE_LAYER_MOE) continue;
    memset(mask + L->gate_off, 0, L->gate.n_params);
    k -= L->gate.n_params;
  }
  return k;
}

/* Top-1 of the gate scores of x, ties to the lowest index (as gate_select). */
static void gate_route(const moe_layer_t *L, const double *theta, size_t n, const double *x, double *gacts,
                       size_t *route, double *w) {
  size_t E = L->spec.n_experts;
  const double *S = gate_scores(&L->gate, theta + L->gate_off, n, x, gacts);
  for (size_t s = 0; s < n; s++) {
    const double *sc = S + s * E;
    size_t best = 0;
    for (size_t e = 1; e < E; e++)
      if (sc[e] > sc[best]) best = e;
    route[s] = best;
    w[s] = 1.0;
    if (L->spec.surrogate == GATE_SWITCH) { /* gate_select's arithmetic, at the selected expert */
      double z = 0.0;
      for (size_t e = 0; e < E; e++) z += exp(sc[e] - sc[best]);
      w[s] = 1.0 / z;
    }
  }
}

const double *fit_routed_forward(fit_routed *R, const double *theta, size_t n, const double *x,
                                 const size_t *const *route, const double *const *weight) {
  if (!R || !theta || !x || n == 0 || n > R->n_max) {
    moex_error(MOEX_EINVAL, "fit_routed: forward over n = %zu samples (n_max %zu) or NULL input", n, R ? R->n_max : 0);
    return NULL;
  }
  const moe_model_t *m = R->m;
  const double *h = x;
  R->h[0] = x;
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_t *L = &m->layer[l];
    const moe_layer_spec_t *s = &L->spec;
    size_t din = s->d_in, dout = s->d_out, aw = L->expert.act_width;
    if (s->kind == MOE_LAYER_DENSE) {
      const double *y = mlp_forward(&L->expert, theta + L->off, n, h, R->acts[l]);
      memcpy(R->out[l], y, n * dout * sizeof(double));
    } else {
      size_t E = s->n_experts, *rt = R->route[l], *cnt = R->cnt[l], *eoff = R->eoff[l], *ord = R->ord[l];
      if (route) {
        for (size_t i = 0; i < n; i++) {
          if (route[l][i] >= E) {
            moex_error(MOEX_EINVAL, "fit_routed: sample %zu routed to expert %zu of layer %zu (E = %zu)", i, route[l][i], l, E);
            return NULL;
          }
          rt[i] = route[l][i];
          R->w[l][i] = weight ? weight[l][i] : 1.0;
        }
      } else {
        gate_route(L, theta, n, h, R->gacts[l], rt, R->w[l]);
      }
      memset(cnt, 0, E * sizeof *cnt);
      for (size_t i = 0; i < n; i++) cnt[rt[i]]++;
      eoff[0] = 0;
      for (size_t e = 0; e < E; e++) eoff[e + 1] = eoff[e] + cnt[e];
      /* counting sort: the rows of each expert contiguous, in sample order */
      size_t fill[MOE_MAX_EXPERTS];
      memcpy(fill, eoff, E * sizeof *fill);
      for (size_t i = 0; i < n; i++) {
        size_t r = fill[rt[i]]++;
        ord[r] = i;
        memcpy(R->xg[l] + r * din, h + i * din, din * sizeof(double));
      }
      if (s->shared_expert)
        memcpy(R->out[l], mlp_forward(&L->expert, theta + L->shared_off, n, h, R->sacts[l]), n * dout * sizeof(double));
      else
        memset(R->out[l], 0, n * dout * sizeof(double));
      for (size_t e = 0; e < E; e++) {
        if (!cnt[e]) continue;
        const double *ye = mlp_forward(&L->expert, theta + L->experts_off + e * L->expert.n_params, cnt[e],
                                       R->xg[l] + eoff[e] * din, R->acts[l] + eoff[e] * aw);
        for (size_t r = 0; r < cnt[e]; r++) {
          size_t i = ord[eoff[e] + r];
          double *o = R->out[l] + i * dout, wi = R->w[l][i];
          for (size_t j = 0; j < dout; j++) o[j] += wi * ye[r * dout + j];
        }
      }
    }
    h = R->out[l];
    R->h[l + 1] = h;
  }
  R->n_last = n;
  return h;
}

void fit_routed_backward(fit_routed *R, const double *theta, const double *dy, double *grad) {
  const moe_model_t *m = R->m;
  size_t n = R->n_last;
  const double *d = dy;
  for (size_t l = m->n_layers; l-- > 0;) {
    const moe_layer_t *L = &m->layer[l];
    const moe_layer_spec_t *s = &L->spec;
    size_t din = s->d_in, dout = s->d_out, aw = L->expert.act_width;
    double *dx = l == 0 ? NULL : R->dbuf[l % 2];
    if (s->kind == MOE_LAYER_DENSE) {
      mlp_backward(&L->expert, theta + L->off, n, R->h[l], R->acts[l], d, grad + L->off, dx, R->scratch);
    } else {
      size_t E = s->n_experts, *cnt = R->cnt[l], *eoff = R->eoff[l], *ord = R->ord[l];
      if (s->shared_expert)
        mlp_backward(&L->expert, theta + L->shared_off, n, R->h[l], R->sacts[l], d, grad + L->shared_off,
                     dx ? R->dtmp : NULL, R->scratch);
      for (size_t r = 0; r < n; r++) {
        double wi = R->w[l][ord[r]];
        for (size_t j = 0; j < dout; j++) R->dg[r * dout + j] = wi * d[ord[r] * dout + j];
      }
      for (size_t e = 0; e < E; e++) {
        if (!cnt[e]) continue;
        size_t o = eoff[e];
        mlp_backward(&L->expert, theta + L->experts_off + e * L->expert.n_params, cnt[e], R->xg[l] + o * din,
                     R->acts[l] + o * aw, R->dg + o * dout, grad + L->experts_off + e * L->expert.n_params,
                     dx ? R->dxg + o * din : NULL, R->scratch);
      }
      if (dx) {
        for (size_t r = 0; r < n; r++) memcpy(dx + ord[r] * din, R->dxg + r * din, din * sizeof(double));
        if (s->shared_expert)
          for (size_t i = 0; i < n * din; i++) dx[i] += R->dtmp[i];
      }
    }
    d = dx;
  }
}

double fit_routed_mse(const fit_routed *R, const double *t) {
  size_t N = R->n_last * R->m->d_out;
  const double *y = R->h[R->n_layers];
  double s = 0.0;
  for (size_t i = 0; i < N; i++) {
    double r = y[i] - t[i];
    s += r * r;
  }
  return s / (double)N;
}
