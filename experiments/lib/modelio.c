/* modelio: a model from its record (spec text + named tensors), with exact shape checks. */
#include "lib/modelio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "model/spectext.h"

/* Copies the array at path, which must be float64 of shape (d0) (rank 1, d1 == 0) or
 * (d0, d1), into dst; marks it used. */
static int take(const record_run *run, unsigned char *used, const char *path, size_t d0, size_t d1, double *dst) {
  const record_array *a = NULL;
  size_t ia = 0;
  for (; ia < run->n_arrays; ia++)
    if (!strcmp(run->arrays[ia]->path, path)) {
      a = run->arrays[ia];
      break;
    }
  if (!a) return moex_error(MOEX_EINVAL, "run '%s': tensor %s is missing", run->id, path);
  int rank = d1 ? 2 : 1;
  if (a->type != RECORD_DOUBLE) return moex_error(MOEX_EINVAL, "run '%s': tensor %s is int64, not float64", run->id, path);
  if (a->rank != rank || a->dims[0] != d0 || (rank == 2 && a->dims[1] != d1)) {
    char want[64], got[64];
    if (rank == 2) snprintf(want, sizeof want, "(%zu, %zu)", d0, d1);
    else snprintf(want, sizeof want, "(%zu)", d0);
    if (a->rank == 2) snprintf(got, sizeof got, "(%zu, %zu)", a->dims[0], a->dims[1]);
    else snprintf(got, sizeof got, "(%zu)", a->dims[0]);
    return moex_error(MOEX_EINVAL, "run '%s': tensor %s has shape %s, the model spec needs %s", run->id, path, got, want);
  }
  const double *x = a->data;
  size_t n = d0 * (d1 ? d1 : 1);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return moex_error(MOEX_EINVAL, "run '%s': tensor %s has a non-finite value at %zu", run->id, path, i);
  memcpy(dst, x, n * sizeof *dst);
  used[ia] = 1;
  return MOEX_OK;
}

/* An mlp's W{j} (dims[j], dims[j-1]) and b{j} (dims[j]) under prefix. */
static int take_mlp(const record_run *run, unsigned char *used, const char *prefix, const mlp_t *net, double *theta) {
  char path[256];
  for (size_t j = 1; j <= net->n_layers; j++) {
    snprintf(path, sizeof path, "%s/W%zu", prefix, j);
    int rc = take(run, used, path, net->dims[j], net->dims[j - 1], theta + net->w_off[j - 1]);
    snprintf(path, sizeof path, "%s/b%zu", prefix, j);
    if (!rc) rc = take(run, used, path, net->dims[j], 0, theta + net->b_off[j - 1]);
    if (rc) return rc;
  }
  return MOEX_OK;
}

moe_model_t *modelio_load(const record_run *run, size_t n_max) {
  if (!run) {
    moex_error(MOEX_EINVAL, "modelio: NULL run");
    return NULL;
  }
  const char *text;
  if (record_run_get_str(run, "model_spec", &text)) {
    moex_error(MOEX_EINVAL, "run '%s': no string attribute model_spec (the model's layers)", run->id);
    return NULL;
  }
  moe_spec_t spec;
  if (spectext_parse(text, &spec)) {
    char why[512];
    snprintf(why, sizeof why, "%s", moex_errmsg());
    moex_error(MOEX_EINVAL, "run '%s': %s", run->id, why);
    return NULL;
  }
  moe_model_t *m = moe_model_alloc(&spec, n_max);
  unsigned char *used = calloc(run->n_arrays + 1, 1);
  int rc = !m || !used ? MOEX_ENOMEM : MOEX_OK;
  if (!m) {
    free(used);
    return NULL;
  }
  /* adam:auxfree records each router's selection bias: the model selects with it */
  int has_bias = 0;
  for (size_t i = 0; i < run->n_arrays; i++) {
    const char *p = run->arrays[i]->path;
    size_t lp = strlen(p), ls = strlen("/router/select_bias");
    if (!strncmp(p, "params/", 7) && lp > ls && !strcmp(p + lp - ls, "/router/select_bias")) has_bias = 1;
  }
  moe_router_opts_t bias_only = {.auxfree = 1.0}; /* the bias's step size plays no part outside training */
  if (!rc && has_bias && moe_model_router_setup(m, &bias_only, 0)) rc = MOEX_EINVAL;
  char prefix[128];
  for (size_t l = 0; l < m->n_layers && !rc; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (has_bias && L->sel_bias) {
      char path[160];
      snprintf(path, sizeof path, "params/layer%zu/router/select_bias", l);
      rc = take(run, used, path, L->spec.n_experts, 0, L->sel_bias);
      if (rc) break;
    }
    if (L->spec.kind == MOE_LAYER_DENSE) {
      snprintf(prefix, sizeof prefix, "params/layer%zu/dense", l);
      rc = take_mlp(run, used, prefix, &L->expert, m->theta + L->off);
      continue;
    }
    snprintf(prefix, sizeof prefix, "params/layer%zu/router", l);
    if (!gate_has_net(&L->gate)) {
      char path[160];
      snprintf(path, sizeof path, "%s/W", prefix);
      rc = take(run, used, path, L->spec.n_experts, L->spec.d_in, m->theta + L->gate_off);
    } else {
      rc = take_mlp(run, used, prefix, &L->gate.net, m->theta + L->gate_off);
    }
    char sub[160];
    if (!rc && L->spec.enc_dim && L->spec.enc_shared) {
      snprintf(sub, sizeof sub, "params/layer%zu/enc", l);
      rc = take_mlp(run, used, sub, &L->enc, m->theta + moe_layer_enc_off(L, 0));
      snprintf(sub, sizeof sub, "params/layer%zu/dec", l);
      if (!rc && L->spec.decoder) rc = take_mlp(run, used, sub, &L->dec, m->theta + moe_layer_dec_off(L, 0));
    }
    for (size_t e = 0; e < L->spec.n_experts && !rc; e++) {
      snprintf(prefix, sizeof prefix, "params/layer%zu/expert%zu", l, e);
      rc = take_mlp(run, used, prefix, &L->expert, m->theta + moe_layer_expert_off(L, e));
      if (!rc && L->spec.enc_dim && !L->spec.enc_shared) {
        snprintf(sub, sizeof sub, "%s/enc", prefix);
        rc = take_mlp(run, used, sub, &L->enc, m->theta + moe_layer_enc_off(L, e));
        snprintf(sub, sizeof sub, "%s/dec", prefix);
        if (!rc && L->spec.decoder) rc = take_mlp(run, used, sub, &L->dec, m->theta + moe_layer_dec_off(L, e));
      }
    }
    if (!rc && L->spec.shared_expert) {
      snprintf(prefix, sizeof prefix, "params/layer%zu/shared", l);
      rc = take_mlp(run, used, prefix, &L->expert, m->theta + L->shared_off);
    }
  }
  /* a tensor the spec has no place for: the spec and the tensors disagree (e.g. E too small) */
  for (size_t i = 0; i < run->n_arrays && !rc; i++)
    if (!used[i] && !strncmp(run->arrays[i]->path, "params/", 7))
      rc = moex_error(MOEX_EINVAL, "run '%s': tensor %s is not part of the model spec '%s'", run->id,
                      run->arrays[i]->path, text);
  if (rc == MOEX_ENOMEM) moex_error(rc, "modelio: out of memory");
  free(used);
  if (rc) {
    moe_model_free(m);
    return NULL;
  }
  return m;
}
