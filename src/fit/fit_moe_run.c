/* fit_moe_run: the run of one MoE protocol (fit_moe.h): its state (routes, weights, the routed
 * workspace, the generator), its budget checked, the protocol's type called. Apart from
 * fit_protocol.c, whose option defaults name every protocol type, so that a protocol that runs
 * another one (grow's stages) links without a cycle. */
#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

int fit_moe_run(const fit_moe_settings *ps, const fit_settings *fs, moe_model_t *m, const train_data_t *d,
                const size_t *labels, fit_moe_result *res, fit_result *res_base) {
  if (!ps || !ps->type || !m || !d || !res) return moex_error(MOEX_EINVAL, "fit_moe: NULL argument");
  if (!(ps->budget >= (double)d->n))
    return moex_error(MOEX_EINVAL, "fit_moe: budget %g per-sample gradients is below one pass over %zu samples", ps->budget, d->n);
  /* the protocols' routed fits (fit_routed, fit_polish, fit_anneal) compute plain experts */
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.enc_dim)
      return moex_error(MOEX_EINVAL, "fit_moe: layer %zu has auto-encoder experts (k = %zu): protocol '%s' does not "
                        "support them (use an optimizer, e.g. adam)", l, m->layer[l].spec.enc_dim, ps->type->name);
  fit_settings def;
  if (!fs) {
    fit_settings_default(&def);
    fs = &def;
  }
  fit_moe_result_clear(res);
  fit_moe_ctx c = {.ps = ps, .fs = fs, .m = m, .d = d, .labels = labels, .res = res, .res_base = res_base};
  c.R = fit_routed_alloc(m, d->n);
  c.rng = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = c.R && c.rng ? MOEX_OK : MOEX_ENOMEM;
  if (c.rng) gsl_rng_set(c.rng, fs->seed ^ 0x5bd1e995UL);
  for (size_t l = 0; l < m->n_layers && !rc; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE &&
        (!(c.routes[l] = calloc(d->n, sizeof(size_t))) || !(c.weights[l] = malloc(d->n * sizeof(double)))))
      rc = MOEX_ENOMEM;
  if (rc == MOEX_ENOMEM) rc = moex_error(MOEX_ENOMEM, "fit_moe: out of memory");
  if (!rc) rc = ps->type->run(ps->type, &c);
  for (size_t l = 0; l < MOE_MAX_LAYERS; l++) {
    free(c.routes[l]);
    free(c.weights[l]);
  }
  fit_routed_free(c.R);
  if (c.rng) gsl_rng_free(c.rng);
  return rc;
}
