/* bounds: the theorems' exponents, width conditions, counts and right-hand sides. */
#include "analysis/bounds.h"

#include <math.h>
#include <stdint.h>

#include "core/moex_error.h"

static int check_kappa(const char *who, double k, size_t idx) {
  if (isnan(k) || k < 0)
    return moex_error(MOEX_EINVAL, "%s: kappa[%zu] = %g must be >= 0 (INFINITY for C^inf)", who,
                      idx, k);
  return MOEX_OK;
}

/* min(κ/d, 1/2), with κ = ∞ giving 1/2. */
static double capped_rate(double kappa, size_t d) {
  double q = isinf(kappa) ? INFINITY : kappa / (double)d;
  return q < 0.5 ? q : 0.5;
}

static double neg(double x) { return x == 0.0 ? 0.0 : -x; } /* no -0 in reports */

int bounds_thm31(double K, size_t D, bounds_rate_t *r) {
  if (!r) return moex_error(MOEX_EINVAL, "bounds_thm31: NULL output");
  if (D == 0) return moex_error(MOEX_EINVAL, "bounds_thm31: D = %zu must be >= 1", D);
  int rc = check_kappa("bounds_thm31", K, 0);
  if (rc) return rc;
  double q = capped_rate(K, D);
  r->exponent = neg(q);
  r->capped = q == 0.5;
  r->worst = 0;
  double half = ((double)D + 3.0) / 2.0;
  if (K < half) {
    r->branch = BOUNDS_BRANCH_POLY;
    r->exponent_case = neg(K / (double)D);
  } else {
    r->branch = BOUNDS_BRANCH_SAT;
    double k1 = ceil(half) - 1.0; /* largest integer strictly below (D+3)/2 */
    r->exponent_case = -(k1 / (double)D > 0.5 ? k1 / (double)D : 0.5);
  }
  return MOEX_OK;
}

int bounds_thm52(const double *kappa, size_t L, size_t E, const size_t *d, bounds_rate_t *r) {
  if (!kappa || !d || !r) return moex_error(MOEX_EINVAL, "bounds_thm52: NULL argument");
  if (L == 0 || E == 0)
    return moex_error(MOEX_EINVAL, "bounds_thm52: L = %zu, E = %zu: each must be >= 1", L, E);
  double worst = INFINITY;
  size_t at = 0;
  for (size_t l = 0; l < L; l++) {
    if (d[l] == 0) return moex_error(MOEX_EINVAL, "bounds_thm52: d[%zu] = 0 must be >= 1", l);
    for (size_t i = 0; i < E; i++) {
      int rc = check_kappa("bounds_thm52", kappa[l * E + i], l * E + i);
      if (rc) return rc;
      double q = capped_rate(kappa[l * E + i], d[l]);
      if (q < worst) { worst = q; at = l * E + i; }
    }
  }
  r->exponent = neg(worst);
  r->capped = worst == 0.5;
  r->worst = at;
  r->branch = BOUNDS_BRANCH_POLY;
  r->exponent_case = NAN;
  return MOEX_OK;
}

int bounds_thm48(const double *kappa, size_t E, size_t d, bounds_rate_t *r) {
  if (d == 0) return moex_error(MOEX_EINVAL, "bounds_thm48: d = %zu must be >= 1", d);
  return bounds_thm52(kappa, 1, E, &d, r);
}

int bounds_thm53(const double *kappa, size_t L, size_t E, bounds_rate_t *r) {
  if (!kappa || !r) return moex_error(MOEX_EINVAL, "bounds_thm53: NULL argument");
  if (L == 0 || E == 0)
    return moex_error(MOEX_EINVAL, "bounds_thm53: L = %zu, E = %zu: each must be >= 1", L, E);
  /* Each f_{l,i} is a function of one variable: Thm 5.2's exponent with every d_l = 1. */
  double worst = INFINITY;
  size_t at = 0;
  for (size_t j = 0; j < L * E; j++) {
    int rc = check_kappa("bounds_thm53", kappa[j], j);
    if (rc) return rc;
    double q = capped_rate(kappa[j], 1);
    if (q < worst) { worst = q; at = j; }
  }
  r->exponent = neg(worst);
  r->capped = worst == 0.5;
  r->worst = at;
  r->branch = BOUNDS_BRANCH_POLY;
  r->exponent_case = NAN;
  return MOEX_OK;
}

int bounds_rhs(const double *err_local, const double *err_chart, const double *c1norm, size_t n,
               double *rhs) {
  if (!err_local || !rhs || (err_chart && !c1norm))
    return moex_error(MOEX_EINVAL, "bounds_rhs: NULL argument");
  if (n == 0) return moex_error(MOEX_EINVAL, "bounds_rhs: n = 0 terms, need >= 1");
  double a = 0.0, b = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (!(isfinite(err_local[i]) && err_local[i] >= 0))
      return moex_error(MOEX_EINVAL, "bounds_rhs: err_local[%zu] = %g must be finite and >= 0", i,
                        err_local[i]);
    if (err_local[i] > a) a = err_local[i];
    if (!err_chart) continue;
    if (!(isfinite(err_chart[i]) && err_chart[i] >= 0))
      return moex_error(MOEX_EINVAL, "bounds_rhs: err_chart[%zu] = %g must be finite and >= 0", i,
                        err_chart[i]);
    if (!(isfinite(c1norm[i]) && c1norm[i] >= 0))
      return moex_error(MOEX_EINVAL, "bounds_rhs: c1norm[%zu] = %g must be finite and >= 0", i,
                        c1norm[i]);
    double t = err_chart[i] * c1norm[i];
    if (t > b) b = t;
  }
  *rhs = a + b;
  return MOEX_OK;
}

/* The theorem id known and the output there: 0, or MOEX_EINVAL naming `who`. */
static int check_thm(const char *who, bounds_thm_t thm, const void *out) {
  if ((int)thm < 0 || thm >= BOUNDS_N_THM)
    return moex_error(MOEX_EINVAL, "%s: unknown theorem id %d", who, (int)thm);
  if (!out) return moex_error(MOEX_EINVAL, "%s: NULL output", who);
  return MOEX_OK;
}

int bounds_width_growth(bounds_thm_t thm, int *g) {
  static const int growth[BOUNDS_N_THM] = {0, 2, 2, 2, 1};
  int rc = check_thm("bounds_width_growth", thm, g);
  if (!rc) *g = growth[thm];
  return rc;
}

int bounds_expert_layers(bounds_thm_t thm, size_t *l) {
  static const size_t layers[BOUNDS_N_THM] = {2, 3, 2, 3, 2};
  int rc = check_thm("bounds_expert_layers", thm, l);
  if (!rc) *l = layers[thm];
  return rc;
}

int bounds_moe_depth(bounds_thm_t thm, size_t L, size_t *depth) {
  int rc = check_thm("bounds_moe_depth", thm, depth);
  if (rc) return rc;
  switch (thm) {
    case BOUNDS_THM_3_1: *depth = 0; break;
    case BOUNDS_THM_4_8:
    case BOUNDS_COR_4_9: *depth = 2; break;
    default:
      if (L == 0 || L > SIZE_MAX / 2)
        return moex_error(MOEX_EINVAL, "bounds_moe_depth: L = %zu must be in [1, SIZE_MAX/2]", L);
      *depth = 2 * L;
  }
  return MOEX_OK;
}

const char *bounds_name(bounds_thm_t thm) {
  static const char *const names[BOUNDS_N_THM] = {"Thm 3.1", "Thm 4.8", "Cor 4.9", "Thm 5.2",
                                                  "Thm 5.3"};
  return ((int)thm >= 0 && thm < BOUNDS_N_THM) ? names[thm] : NULL;
}

const char *bounds_statement(bounds_thm_t thm) {
  static const char *const st[BOUNDS_N_THM] = {
      "dense 2-layer width-m ReLU net, f in C^K(R^D): O(m^{-K/D}) if K < (D+3)/2, else "
      "O~(m^{-1/2}); shorthand O~(m^{-(K/D) ^ 1/2})",
      "depth-2 MoE, E 3-layer width-m experts, regular atlas, m >= c E^2: "
      "max_i O~(m^{-(kappa_i/d) ^ 1/2})",
      "depth-2 MoE, E 2-layer width-m experts, affine charts, m >= c E^2: "
      "max_i O~(m^{-(kappa_i/d) ^ 1/2})",
      "depth-2L MoE, E 3-layer width-m experts per layer, Eq. (5) target, m >= c E^2: "
      "max_{l,i} O~(m^{-(kappa_{l,i}/d_l) ^ 1/2})",
      "depth-2L MoE, E 2-layer width-m experts per layer, Eq. (4) target, m >= c E: "
      "max_{l,i} O(m^{-kappa_{l,i} ^ 1/2})"};
  return ((int)thm >= 0 && thm < BOUNDS_N_THM) ? st[thm] : NULL;
}

int bounds_routing_threshold(size_t E, double *thr) {
  if (!thr) return moex_error(MOEX_EINVAL, "bounds_routing_threshold: NULL output");
  if (E == 0) return moex_error(MOEX_EINVAL, "bounds_routing_threshold: E = %zu must be >= 1", E);
  *thr = 1.0 / (2.0 * (double)E);
  return MOEX_OK;
}

int bounds_deep_counts(size_t L, size_t E, size_t *n_layers, size_t *n_experts,
                       size_t *n_pieces) {
  if (L == 0 || E == 0)
    return moex_error(MOEX_EINVAL, "bounds_deep_counts: L = %zu, E = %zu: each must be >= 1", L, E);
  if (L > SIZE_MAX / 2 || E > SIZE_MAX / (2 * L))
    return moex_error(MOEX_EINVAL, "bounds_deep_counts: 2 L E overflows (L = %zu, E = %zu)", L, E);
  size_t pieces = 1;
  for (size_t l = 0; l < L; l++) {
    if (pieces > SIZE_MAX / E)
      return moex_error(MOEX_EINVAL, "bounds_deep_counts: E^L overflows (E = %zu, L = %zu)", E, L);
    pieces *= E;
  }
  if (n_layers) *n_layers = 2 * L;
  if (n_experts) *n_experts = 2 * L * E;
  if (n_pieces) *n_pieces = pieces;
  return MOEX_OK;
}

/* a*b + c with overflow detection. */
static int muladd(size_t a, size_t b, size_t c, size_t *out) {
  if (b != 0 && a > SIZE_MAX / b) return 1;
  if (a * b > SIZE_MAX - c) return 1;
  *out = a * b + c;
  return 0;
}

int bounds_dense_params(size_t layers, size_t m, size_t d_in, size_t d_out, size_t *count) {
  if (!count) return moex_error(MOEX_EINVAL, "bounds_dense_params: NULL output");
  if (layers == 0 || d_in == 0 || d_out == 0 || (layers > 1 && m == 0))
    return moex_error(MOEX_EINVAL,
                      "bounds_dense_params: layers = %zu, m = %zu, d_in = %zu, d_out = %zu: "
                      "each must be >= 1",
                      layers, m, d_in, d_out);
  size_t n = 0;
  int ovf = 0;
  if (layers == 1) {
    ovf = d_in == SIZE_MAX || muladd(d_in + 1, d_out, 0, &n);
  } else {
    size_t in = 0, mm = 0, hid = 0, io = 0;
    ovf = d_in == SIZE_MAX || m == SIZE_MAX || muladd(d_in + 1, m, 0, &in) ||  /* input layer */
          muladd(m + 1, m, 0, &mm) || muladd(layers - 2, mm, 0, &hid) ||       /* hidden ones */
          muladd(m + 1, d_out, in, &io) || muladd(1, hid, io, &n);             /* output */
  }
  if (ovf)
    return moex_error(MOEX_EINVAL, "bounds_dense_params: count overflows (layers = %zu, m = %zu)",
                      layers, m);
  *count = n;
  return MOEX_OK;
}
