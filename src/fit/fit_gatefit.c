/* fit_gatefit: the routers fitted to a given assignment (the gate step of the alternating fit,
 * Jordan & Jacobs' M-step for the gating network), and the route initialisations.
 *
 * Gate step: multinomial logistic regression, mean softmax cross-entropy of the assigned expert
 * plus a small ridge l2/2 |theta_gate|^2. For the paper's bias-free linear gate the problem is
 * convex, the ridge makes the optimum unique and finite when the assignment is separable (without
 * it the weights run off to infinity), and bfgs2 (fit_run) solves it to convergence. The mlp
 * router goes through the same code (gate_scores and its backward), no longer convex.
 * Route initialisation: spherical k-means centres as the rows of a linear gate (on data on a
 * sphere, argmax c_k . x is the nearest centre), Euclidean k-means centres c_k as an affine gate
 * (W_k = c_k, b_k = -|c_k|^2 / 2: argmax is the nearest centre anywhere), or given labels (a
 * diagnostic). For an affine gate the bias is the regression's intercept (under the same ridge). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

typedef struct {
  const gate_t *g;
  size_t n;
  const double *x;
  const size_t *lab;
  double l2;
  double *acts, *dS, *scratch;
} lr_ctx;

static int lr_lossgrad(void *vctx, const double *th, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  lr_ctx *c = vctx;
  if (idx || n_idx) return moex_error(MOEX_EINVAL, "fit_gate: full-batch only");
  size_t E = c->g->n_experts, n = c->n;
  const double *S = gate_scores(c->g, th, n, c->x, c->acts);
  double f = 0.0;
  for (size_t s = 0; s < n; s++) {
    const double *sc = S + s * E;
    double mx = sc[0], z = 0.0;
    for (size_t e = 1; e < E; e++) mx = sc[e] > mx ? sc[e] : mx;
    for (size_t e = 0; e < E; e++) z += exp(sc[e] - mx);
    f += mx + log(z) - sc[c->lab[s]];
    if (grad)
      for (size_t e = 0; e < E; e++) c->dS[s * E + e] = (exp(sc[e] - mx) / z - (e == c->lab[s])) / (double)n;
  }
  f /= (double)n;
  double r = 0.0;
  for (size_t i = 0; i < c->g->n_params; i++) r += th[i] * th[i];
  *loss = f + 0.5 * c->l2 * r;
  if (!grad) return MOEX_OK;
  for (size_t i = 0; i < c->g->n_params; i++) grad[i] = c->l2 * th[i];
  gate_scores_backward(c->g, th, n, c->x, c->acts, c->dS, grad, NULL, c->scratch);
  return MOEX_OK;
}

int fit_gate_logreg(const moe_model_t *m, size_t l, double *theta, size_t n, const double *x,
                    const size_t *labels, double l2, size_t max_evals, double *obj_out, size_t *evals) {
  if (!m || l >= m->n_layers || m->layer[l].spec.kind != MOE_LAYER_MOE)
    return moex_error(MOEX_EINVAL, "fit_gate: layer %zu is not an MoE layer", l);
  if (n == 0 || !x || !labels) return moex_error(MOEX_EINVAL, "fit_gate: no samples");
  if (!(l2 >= 0)) return moex_error(MOEX_EINVAL, "fit_gate: ridge l2 = %g must be >= 0", l2);
  const moe_layer_t *L = &m->layer[l];
  for (size_t s = 0; s < n; s++)
    if (labels[s] >= L->spec.n_experts)
      return moex_error(MOEX_EINVAL, "fit_gate: label %zu of sample %zu >= E = %zu", labels[s], s, L->spec.n_experts);
  lr_ctx c = {.g = &L->gate, .n = n, .x = x, .lab = labels, .l2 = l2};
  c.acts = malloc(n * L->gate.act_width * sizeof(double));
  c.dS = malloc(n * L->spec.n_experts * sizeof(double));
  c.scratch = malloc(gate_scratch_size(&L->gate, n) * sizeof(double));
  fit_result *res = fit_result_alloc();
  int rc = c.acts && c.dS && c.scratch && res ? MOEX_OK : moex_error(MOEX_ENOMEM, "fit_gate: out of memory");
  if (!rc) {
    objective_t obj = {.n_params = L->gate.n_params, .n_samples = n, .lossgrad = lr_lossgrad, .ctx = &c};
    fit_settings fs;
    fit_settings_default(&fs);
    fs.optimizer = "bfgs2";
    fs.max_iter = 2000;
    fs.max_evals = max_evals;
    fs.gtol = 1e-9;
    fs.log_every = 0;
    fs.step_size = 0.1;
    rc = fit_run(&obj, theta + L->gate_off, &fs, res);
    if (!rc && obj_out) *obj_out = res->loss;
    if (!rc && evals) *evals = res->evals;
  }
  free(c.acts); free(c.dS); free(c.scratch);
  fit_result_free(res);
  return rc;
}

int fitm_fit_gates(fit_moe_ctx *c, size_t *const *routes, double *agreement) {
  moe_model_t *m = c->m;
  size_t n = c->d->n;
  /* layer l's inputs under the assigned routes of the layers below: fit the gates bottom-up,
   * each forward taking the routes as given (the gates do not change the layer inputs) */
  if (!fit_routed_forward(c->R, m->theta, n, c->d->x, (const size_t *const *)routes, NULL)) return MOEX_EINVAL;
  c->res->grads += (double)n;
  c->res->fwd_grads += (double)n;
  size_t n_moe = 0;
  for (size_t l = 0; l < m->n_layers; l++) n_moe += m->layer[l].spec.kind == MOE_LAYER_MOE;
  for (size_t l = 0; l < m->n_layers; l++) {
    if (m->layer[l].spec.kind != MOE_LAYER_MOE) continue;
    /* each gate step warm-starts from the last, so a few dozen evaluations suffice; counted as
     * whole per-sample gradients although a gate's costs E d_in of the model's multiply-adds.
     * The budget left (less two forwards) is split evenly over the MoE layers still to fit: this
     * one gets floor(left / k) evaluations of the k layers from it up (at least one while one is
     * left), at most gate_evals, and what a layer does not use passes to the layers above. Giving
     * it all that was left starved the gates above the first at a small budget. */
    double left = fitm_left(c) / (double)n - 2.0, share = floor(left / (double)n_moe);
    n_moe--;
    size_t ev = 0, cap = left >= 1.0 ? (share >= 1.0 ? (size_t)share : 1) : 0;
    if (cap > c->ps->gate_evals) cap = c->ps->gate_evals;
    if (cap < 1) break;
    int rc = fit_gate_logreg(m, l, m->theta, n, c->R->h[l], routes[l], c->ps->gate_l2, cap, NULL, &ev);
    if (rc) return rc;
    c->res->grads += (double)ev * (double)n;
    c->res->gate_grads += (double)ev * (double)n;
  }
  if (!agreement) return MOEX_OK;
  /* route by the fitted gates (counted), against the assignment */
  if (!fit_routed_forward(c->R, m->theta, n, c->d->x, NULL, NULL)) return MOEX_EINVAL;
  c->res->grads += (double)n;
  c->res->fwd_grads += (double)n;
  size_t agree = 0;
  for (size_t s = 0; s < n; s++) {
    int ok = 1;
    for (size_t l = 0; l < m->n_layers && ok; l++)
      if (routes[l]) ok = c->R->route[l][s] == routes[l][s];
    agree += (size_t)ok;
  }
  *agreement = (double)agree / (double)n;
  return MOEX_OK;
}

/* The k-means score of centre c for the point u (d): the cosine u . c on the sphere (maximised:
 * the nearest unit centre), -|u - c|^2 in the Euclidean case. */
static double km_score(const double *u, const double *c, size_t d, int sphere) {
  double s = 0.0;
  if (sphere) {
    for (size_t k = 0; k < d; k++) s += u[k] * c[k];
    return s;
  }
  for (size_t k = 0; k < d; k++) s += (u[k] - c[k]) * (u[k] - c[k]);
  return -s;
}

/* k-means++: each next centre drawn with probability proportional to the distance to the
 * nearest centre so far (1 - cos on the sphere, the squared distance otherwise). */
static void km_plusplus(size_t n, size_t d, const double *u, size_t E, int sphere, gsl_rng *r, double *dist, double *C) {
  memcpy(C, u + gsl_rng_uniform_int(r, n) * d, d * sizeof *C);
  for (size_t s = 0; s < n; s++) dist[s] = sphere ? 2.0 : INFINITY;
  for (size_t e = 1; e <= E; e++) {
    double tot = 0.0;
    for (size_t s = 0; s < n; s++) {
      double sc = km_score(u + s * d, C + (e - 1) * d, d, sphere), dd = sphere ? 1.0 - sc : -sc;
      if (dd < dist[s]) dist[s] = dd > 0 ? dd : 0;
      tot += dist[s];
    }
    if (e == E) break;
    double t = gsl_rng_uniform(r) * tot, cum = 0.0;
    size_t pick = n - 1;
    for (size_t s = 0; s < n; s++) {
      cum += dist[s];
      if (cum > t) {
        pick = s;
        break;
      }
    }
    memcpy(C + e * d, u + pick * d, d * sizeof *C);
  }
}

/* Lloyd iterations: nearest centre by km_score, centre = the mean (normalised on the sphere);
 * an empty cluster restarts at a random sample. */
static void km_lloyd(size_t n, size_t d, const double *u, size_t E, int sphere, gsl_rng *r, size_t *lab, double *acc,
                     size_t *cnt, double *C) {
  for (int it = 0; it < 100; it++) {
    size_t changed = 0;
    for (size_t s = 0; s < n; s++) {
      size_t best = 0;
      double bc = -INFINITY;
      for (size_t e = 0; e < E; e++) {
        double cs = km_score(u + s * d, C + e * d, d, sphere);
        if (cs > bc) {
          bc = cs;
          best = e;
        }
      }
      changed += it == 0 || lab[s] != best;
      lab[s] = best;
    }
    if (!changed) break;
    memset(acc, 0, E * d * sizeof *acc);
    memset(cnt, 0, E * sizeof *cnt);
    for (size_t s = 0; s < n; s++) {
      cnt[lab[s]]++;
      for (size_t k = 0; k < d; k++) acc[lab[s] * d + k] += u[s * d + k];
    }
    for (size_t e = 0; e < E; e++) {
      double z = 0.0;
      for (size_t k = 0; k < d; k++) z += acc[e * d + k] * acc[e * d + k];
      if (sphere ? z > 0 : cnt[e] > 0) {
        double den = sphere ? sqrt(z) : (double)cnt[e];
        for (size_t k = 0; k < d; k++) C[e * d + k] = acc[e * d + k] / den;
      } else {
        memcpy(C + e * d, u + gsl_rng_uniform_int(r, n) * d, d * sizeof *C);
      }
    }
  }
}

/* k-means of the rows of x (n, d) into E centres C (E, d), seeded: spherical (the rows and the
 * centres normalised, cosine) or Euclidean. */
static int kmeans(size_t n, size_t d, const double *x, size_t E, unsigned long seed, int sphere, double *C) {
  if (n < E || E == 0 || d == 0) return moex_error(MOEX_EINVAL, "fit_kmeans: %zu samples for E = %zu centres", n, E);
  double *u = malloc(n * d * sizeof *u), *dist = malloc(n * sizeof *dist), *acc = malloc(E * d * sizeof *acc);
  size_t *lab = malloc(n * sizeof *lab), *cnt = malloc(E * sizeof *cnt);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!u || !dist || !acc || !lab || !cnt || !r) {
    free(u); free(dist); free(acc); free(lab); free(cnt);
    if (r) gsl_rng_free(r);
    return moex_error(MOEX_ENOMEM, "fit_kmeans: out of memory");
  }
  gsl_rng_set(r, seed);
  for (size_t s = 0; s < n; s++) {
    double z = 0.0;
    for (size_t k = 0; k < d; k++) z += x[s * d + k] * x[s * d + k];
    z = !sphere ? 1.0 : z > 0 ? 1.0 / sqrt(z) : 0.0;
    for (size_t k = 0; k < d; k++) u[s * d + k] = sphere ? x[s * d + k] * z : x[s * d + k];
  }
  km_plusplus(n, d, u, E, sphere, r, dist, C);
  km_lloyd(n, d, u, E, sphere, r, lab, acc, cnt, C);
  free(u); free(dist); free(acc); free(lab); free(cnt);
  gsl_rng_free(r);
  return MOEX_OK;
}

int fit_kmeans_sphere(size_t n, size_t d, const double *x, size_t E, unsigned long seed, double *C) {
  return kmeans(n, d, x, E, seed, 1, C);
}

int fit_kmeans_affine(size_t n, size_t d, const double *x, size_t E, unsigned long seed, double *W, double *b) {
  int rc = kmeans(n, d, x, E, seed, 0, W);
  if (rc) return rc;
  /* argmax_e c_e . x - |c_e|^2 / 2 = argmin_e |x - c_e|^2: the Voronoi cells of the centres */
  for (size_t e = 0; e < E; e++) {
    double z = 0.0;
    for (size_t k = 0; k < d; k++) z += W[e * d + k] * W[e * d + k];
    b[e] = -0.5 * z;
  }
  return MOEX_OK;
}

int fitm_tree_init(fit_moe_ctx *c) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  if (m->layer[0].spec.kind != MOE_LAYER_MOE)
    return moex_error(MOEX_EINVAL, "fit_moe: init=tree needs an MoE layer first (it reads the data)");
  size_t E = m->layer[0].spec.n_experts, n = d->n, ev = 0;
  size_t *lab = malloc(n * sizeof *lab);
  if (!lab) return moex_error(MOEX_ENOMEM, "fit_tree: out of memory");
  /* a group at least a quarter of an even share: a piece, not a handful of samples at an edge */
  size_t min_leaf = n / (4 * E) > 0 ? n / (4 * E) : 1;
  int rc = fit_tree_groups(n, d->d_in, d->x, d->d_out, d->y, E, min_leaf, lab);
  double left = fitm_left(c) / (double)n - 2.0;
  size_t cap = left > 0 ? (size_t)left : 0;
  if (cap > c->ps->gate_evals) cap = c->ps->gate_evals;
  if (!rc && cap >= 1) rc = fit_gate_logreg(m, 0, m->theta, n, d->x, lab, c->ps->gate_l2, cap, NULL, &ev);
  if (!rc) {
    c->res->grads += (double)ev * (double)n;
    c->res->gate_grads += (double)ev * (double)n;
  }
  free(lab);
  return rc;
}

int fitm_route_init(fit_moe_ctx *c) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  if (c->ps->rinit == FIT_RINIT_RANDOM) return MOEX_OK;
  if (c->ps->rinit == FIT_RINIT_TREE) return fitm_tree_init(c);
  if (c->ps->rinit == FIT_RINIT_KMEANS) {
    /* the first MoE layer, when it reads the data directly through a linear gate (spherical
     * k-means: cones) or an affine one (Euclidean k-means: the Voronoi cells of the centres) */
    const moe_layer_t *L = &m->layer[0];
    if (L->spec.kind != MOE_LAYER_MOE || L->gate.kind == GATE_MLP)
      return moex_error(MOEX_EINVAL, "fit_moe: init=kmeans needs a linear or affine gate on the first layer");
    size_t E = L->spec.n_experts;
    unsigned long seed = c->fs ? c->fs->seed : 1;
    double *W = m->theta + L->gate_off;
    if (L->gate.kind == GATE_LINEAR) return fit_kmeans_sphere(d->n, d->d_in, d->x, E, seed, W);
    return fit_kmeans_affine(d->n, d->d_in, d->x, E, seed, W, W + L->gate.net.b_off[0]);
  }
  if (!c->labels) return moex_error(MOEX_EINVAL, "fit_moe: init=labels but the experiment gives no training labels");
  /* labels are paths: mixed radix over the MoE layers, first MoE layer least significant */
  size_t radix = 1;
  for (size_t l = 0; l < m->n_layers; l++) {
    if (!c->routes[l]) continue;
    size_t E = m->layer[l].spec.n_experts;
    for (size_t s = 0; s < d->n; s++) c->routes[l][s] = (c->labels[s] / radix) % E;
    radix *= E;
  }
  return fitm_fit_gates(c, c->routes, NULL);
}
