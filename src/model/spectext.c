/* spectext: a model spec as one line of text and back (format in spectext.h). */
#include "model/spectext.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

int spectext_format(const moe_spec_t *spec, char *buf, size_t n) {
  if (!buf || n == 0) return moex_error(MOEX_EINVAL, "spectext: no buffer");
  int rc = moe_spec_validate(spec);
  if (rc) return rc;
  size_t k = 0;
  buf[0] = '\0';
  for (size_t l = 0; l < spec->n_layers; l++) {
    const moe_layer_spec_t *s = &spec->layer[l];
    size_t left = n - k;
    int w;
    if (s->kind == MOE_LAYER_DENSE)
      w = snprintf(buf + k, left, "%sdense:d_in=%zu,d_out=%zu,l=%zu,m=%zu", l ? ";" : "", s->d_in, s->d_out,
                   s->expert_layers, s->expert_layers >= 2 ? s->expert_width : 0);
    else
      w = snprintf(buf + k, left, "%smoe:d_in=%zu,d_out=%zu,E=%zu,K=%zu,l=%zu,m=%zu,router=%s,router_width=%zu,"
                   "surrogate=%s,shared=%d", l ? ";" : "", s->d_in, s->d_out, s->n_experts, s->top_k, s->expert_layers,
                   s->expert_layers >= 2 ? s->expert_width : 0, gate_kind_name(s->gate),
                   s->gate == GATE_MLP ? s->gate_width : 0, gate_surrogate_name(s->surrogate), s->shared_expert ? 1 : 0);
    if (w >= 0 && (size_t)w < left && s->kind == MOE_LAYER_MOE && s->enc_dim) {
      k += (size_t)w;
      left = n - k;
      /* %.17g: the weight read back is the same double */
      w = snprintf(buf + k, left, ",enc=%zu,enc_layers=%zu,enc_width=%zu,enc_shared=%d,decoder=%d,recon_weight=%.17g",
                   s->enc_dim, s->enc_layers, s->enc_layers >= 2 ? s->enc_width : 0, s->enc_shared, s->decoder,
                   s->recon_weight);
    }
    if (w < 0 || (size_t)w >= left) return moex_error(MOEX_EINVAL, "spectext: spec of %zu layers does not fit in %zu bytes", spec->n_layers, n);
    k += (size_t)w;
  }
  return MOEX_OK;
}

/* The fields of a layer, in the order of the text; which kinds have them. */
enum { F_DIN, F_DOUT, F_E, F_K, F_L, F_M, F_ROUTER, F_RW, F_SUR, F_SHARED,
       F_ENC, F_ENC_L, F_ENC_M, F_ENC_SHARED, F_DEC, F_RECON, F_N };
static const char *const field_name[F_N] = {"d_in", "d_out", "E", "K", "l", "m", "router", "router_width", "surrogate", "shared",
                                            "enc", "enc_layers", "enc_width", "enc_shared", "decoder", "recon_weight"};
static const int field_dense[F_N] = {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
/* the auto-encoder fields (F_ENC..): optional, but all or none */
#define F_FIRST_AE F_ENC

/* Prefixes the last error message (copied: moex_error writes into the buffer it would read). */
static int rewrap(size_t l, int layer) {
  char why[512];
  snprintf(why, sizeof why, "%s", moex_errmsg());
  if (layer) return moex_error(MOEX_EINVAL, "model spec: layer %zu: %s", l, why);
  return moex_error(MOEX_EINVAL, "model spec: %s", why);
}

static int parse_size(const char *v, size_t l, const char *key, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (!*v || *end || errno || v[0] == '-' || x > (1ULL << 32))
    return moex_error(MOEX_EINVAL, "model spec: layer %zu: %s = '%s' is not an integer in 0..2^32", l, key, v);
  *out = (size_t)x;
  return MOEX_OK;
}

/* One layer's text (modified in place: separators become NULs). */
static int parse_layer(char *t, size_t l, moe_layer_spec_t *s) {
  char *colon = strchr(t, ':');
  if (!colon) return moex_error(MOEX_EINVAL, "model spec: layer %zu: '%s' has no 'kind:' prefix (moe or dense)", l, t);
  *colon = '\0';
  int dense;
  if (!strcmp(t, "moe")) dense = 0;
  else if (!strcmp(t, "dense")) dense = 1;
  else return moex_error(MOEX_EINVAL, "model spec: layer %zu: unknown kind '%s' (moe or dense)", l, t);
  *s = dense ? moe_layer_dense(1, 1, 1, 0) : moe_layer_default(1, 1, 1, 0);
  int seen[F_N] = {0};
  for (char *f = colon + 1, *next; f; f = next) {
    next = strchr(f, ',');
    if (next) *next++ = '\0';
    char *eq = strchr(f, '=');
    if (!eq) return moex_error(MOEX_EINVAL, "model spec: layer %zu: field '%s' is not key=value", l, f);
    *eq = '\0';
    const char *v = eq + 1;
    int k = 0;
    while (k < F_N && strcmp(field_name[k], f)) k++;
    if (k == F_N || (dense && !field_dense[k]))
      return moex_error(MOEX_EINVAL, "model spec: layer %zu: unknown field '%s' for a %s layer", l, f, dense ? "dense" : "moe");
    if (seen[k]++) return moex_error(MOEX_EINVAL, "model spec: layer %zu: field '%s' given twice", l, f);
    size_t x = 0;
    int rc = MOEX_OK;
    switch (k) {
    case F_ROUTER:
      rc = gate_kind_parse(v, &s->gate);
      break;
    case F_SUR:
      rc = gate_surrogate_parse(v, &s->surrogate);
      break;
    case F_RECON: {
      char *end;
      errno = 0;
      double r = strtod(v, &end);
      if (!*v || *end || errno || !isfinite(r) || r < 0)
        return moex_error(MOEX_EINVAL, "model spec: layer %zu: recon_weight = '%s' is not a finite number >= 0", l, v);
      s->recon_weight = r;
      break;
    }
    default:
      rc = parse_size(v, l, f, &x);
      if (rc) return rc;
      if (k == F_DIN) s->d_in = x;
      else if (k == F_DOUT) s->d_out = x;
      else if (k == F_E) s->n_experts = x;
      else if (k == F_K) s->top_k = x;
      else if (k == F_L) s->expert_layers = x;
      else if (k == F_M) s->expert_width = x;
      else if (k == F_RW) s->gate_width = x;
      else if (k == F_ENC) s->enc_dim = x;
      else if (k == F_ENC_L) s->enc_layers = x;
      else if (k == F_ENC_M) s->enc_width = x;
      else if (x > 1) return moex_error(MOEX_EINVAL, "model spec: layer %zu: %s = '%s' must be 0 or 1", l, f, v);
      else if (k == F_SHARED) s->shared_expert = (int)x;
      else if (k == F_ENC_SHARED) s->enc_shared = (int)x;
      else s->decoder = (int)x;
    }
    if (rc) return rewrap(l, 1);
  }
  int ae = 0;
  for (int k = F_FIRST_AE; k < F_N; k++) ae |= seen[k];
  for (int k = 0; k < F_N; k++)
    if ((!dense || field_dense[k]) && (k < F_FIRST_AE || ae) && !seen[k])
      return moex_error(MOEX_EINVAL, "model spec: layer %zu: field '%s' is missing", l, field_name[k]);
  if (ae && s->enc_dim == 0)
    return moex_error(MOEX_EINVAL, "model spec: layer %zu: enc = 0 (auto-encoder fields are for enc >= 1; leave them out)", l);
  return MOEX_OK;
}

int spectext_parse(const char *text, moe_spec_t *spec) {
  if (!text || !spec) return moex_error(MOEX_EINVAL, "model spec: NULL argument");
  if (!*text) return moex_error(MOEX_EINVAL, "model spec: empty");
  char *t = strdup(text);
  if (!t) return moex_error(MOEX_ENOMEM, "model spec: out of memory");
  memset(spec, 0, sizeof *spec);
  int rc = MOEX_OK;
  size_t l = 0;
  for (char *p = t, *next; p && !rc; p = next, l++) {
    next = strchr(p, ';');
    if (next) *next++ = '\0';
    if (l >= MOE_MAX_LAYERS) rc = moex_error(MOEX_EINVAL, "model spec: more than %d layers", MOE_MAX_LAYERS);
    else rc = parse_layer(p, l, &spec->layer[l]);
  }
  free(t);
  if (rc) return rc;
  spec->n_layers = l;
  rc = moe_spec_validate(spec);
  if (rc) return rewrap(0, 0);
  return MOEX_OK;
}
