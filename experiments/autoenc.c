/* autoenc: the paper's Sec. 4.3 auto-encoder experts (issue 21), f_i o Enc_i with Enc_i: R^D ->
 * R^k approximating the chart phi_i, trained with or without the reconstruction loss
 * lambda * mean |Dec_i(Enc_i(x)) - x|^2 over the samples each expert serves, against the depth-2
 * MoE and a dense net, on S^d rotated into R^D (E = 4, 6, 10 charts for d = 1, 2, 3) with the
 * target of --target. Models (expert width m, linear top-1 gates on x, 2-layer experts):
 *   moe2          the depth-2 MoE: MoE layer (R^D -> R^hidden) then MoE layer (-> R);
 *   dense         a dense net R^D -> m -> m -> R (3 affine layers);
 *   ae-pe-d       one MoE layer whose experts are f_i o Enc_i, a per-expert affine encoder
 *                 R^D -> R^d (the paper's proposal), f_i: R^d -> m -> R;
 *   ae-pe-d1      the same with k = d + 1 (a linear map to R^d cannot be injective on a whole
 *                 S^d, but each expert sees one cap; d + 1 leaves room for the normal direction);
 *   ae-sh-d, ae-sh-d1   one affine encoder shared by the experts (moex's old `variants` autoenc);
 *   ...+rec       with decoders and the reconstruction term (weight --lambda, run attribute
 *                 recon_weight; 0 in the runs without it).
 * Per run: sup_err, test_mse, params_active, params_total (decoders counted in the total, not in
 * the active count), and for auto-encoder experts the interpretability measure of
 * analysis/chartfit.h: for each expert, the evaluation points routed to it that lie in its
 * majority chart c, the best affine map from Enc_i(x) to the true chart coordinates phi_c(x)
 * (gsl_multifit_linear) and its R^2 (metrics/enc_chart_r2, metrics/enc_chart, enc_r2_min,
 * enc_r2_mean, enc_recovered = every measured expert at R^2 >= 0.99); ae-pe-d+rec runs also
 * keep interp/enc_vs_chart (expert, true phi_1, its affine prediction from the code) for the
 * report's chart maps. Figures autoenc_d<d>_D<D>: sup error against params_active (moex-report
 * --x params_total redraws them against the total). After the sweep, per (d, D): the depth-2
 * MoE's best error eps (geometric mean over seeds, the best m) and, for every model, the
 * fewest active and total parameters at which it reaches eps, printed with the verdict "fewer"
 * or "not fewer" and written to <out>_reach.tsv; the same at one eps per d for every D (the
 * largest of those eps over D), for the counts as D grows (lib/reach.h). No claim of the paper is a rate here: it says
 * "#(Enc) + O(d^2)" parameters per expert instead of O(D^2). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "analysis/chartfit.h"
#include "core/moex_error.h"
#include "lib/driver.h"
#include "lib/exprun.h"
#include "lib/reach.h"
#include "lib/runsets.h"
#include "lib/study.h"

#define PROG "autoenc"
#define MODELS "moe2,dense,ae-pe-d,ae-pe-d1,ae-sh-d,ae-sh-d1,ae-pe-d+rec,ae-pe-d1+rec,ae-sh-d+rec,ae-sh-d1+rec"
#define KEEP_POINTS 1024

typedef struct {
  const driver_opts_t *o;
  size_t grid, hidden;
  double lambda;
  const char *target;
} ctx_t;

static size_t charts_of(size_t d) { return d == 1 ? 4 : d == 2 ? 6 : 10; }

/* The auto-encoder model names: shared?, k - d (0 or 1), reconstruction?; 0 if not one. */
static int parse_ae(const char *model, int *shared, size_t *extra, int *rec) {
  if (strncmp(model, "ae-", 3)) return 0;
  const char *p = model + 3;
  if (!strncmp(p, "pe-", 3)) *shared = 0;
  else if (!strncmp(p, "sh-", 3)) *shared = 1;
  else return 0;
  p += 3;
  if (!strncmp(p, "d1", 2)) *extra = 1, p += 2;
  else if (*p == 'd') *extra = 0, p += 1;
  else return 0;
  if (!*p) *rec = 0;
  else if (!strcmp(p, "+rec")) *rec = 1;
  else return 0;
  return 1;
}

static int make_spec(const ctx_t *c, const char *model, size_t d, size_t D, size_t E, size_t m, moe_spec_t *s) {
  memset(s, 0, sizeof *s);
  int shared, rec;
  size_t extra;
  if (!strcmp(model, "moe2")) {
    s->n_layers = 2;
    s->layer[0] = moe_layer_default(D, c->hidden, E, m);
    s->layer[1] = moe_layer_default(c->hidden, 1, E, m);
  } else if (!strcmp(model, "dense")) {
    s->n_layers = 1;
    s->layer[0] = moe_layer_dense(D, 1, 3, m);
  } else if (parse_ae(model, &shared, &extra, &rec)) {
    s->n_layers = 1;
    s->layer[0] = moe_layer_default(D, 1, E, m);
    moe_layer_set_autoenc(&s->layer[0], d + extra, 1, 0, shared, rec ? c->lambda : 0.0);
  } else {
    return moex_error(MOEX_EINVAL, PROG ": unknown model '%s' (" MODELS ")", model);
  }
  return moe_spec_validate(s);
}

/* What the interpretability measure needs of the run. */
typedef struct {
  const manifold *M;
  const study_set_t *ev;
  size_t d, E;
  int keep; /* store interp/enc_vs_chart */
  unsigned long seed; /* the run's: the initial parameters, for the untrained encoders' R^2 */
} interp_t;

/* Per expert e of m's auto-encoder layer: its majority chart c among the evaluation points m
 * routes to it (chart[e], -1 if none), and the R^2 of the best affine map from the code of
 * enc_model's encoder e (enc_model: m itself, or the same spec as initialised) to phi_c on
 * those of the points that lie in chart c (r2[e], NaN with fewer than max(k + 2, 8)). With
 * keep != NULL, up to KEEP_POINTS rows (expert, phi_1, its prediction), strided over the set. */
static int chart_r2(const interp_t *it, const moe_model_t *m, const moe_model_t *enc_model, double *r2, int64_t *chart,
                    double *keep, size_t *nkeep) {
  const moe_layer_t *L = &m->layer[0];
  size_t n = it->ev->n, D = L->spec.d_in, k = L->spec.enc_dim, d = it->d, E = L->spec.n_experts;
  size_t stride = (n + KEEP_POINTS - 1) / KEEP_POINTS;
  const size_t *choice = moe_model_layer_choice(m, 0);
  double *xs = malloc(n * D * sizeof *xs), *acts = malloc(n * L->enc.act_width * sizeof *acts);
  double *phi = malloc(n * d * sizeof *phi), *pred = malloc(n * d * sizeof *pred);
  size_t *rows = malloc(n * sizeof *rows), *votes = calloc(it->E, sizeof *votes);
  int rc = xs && acts && phi && pred && rows && votes ? MOEX_OK : moex_error(MOEX_ENOMEM, PROG ": out of memory");
  if (nkeep) *nkeep = 0;
  for (size_t e = 0; e < E && !rc; e++) {
    r2[e] = NAN;
    chart[e] = -1;
    memset(votes, 0, it->E * sizeof *votes);
    size_t c = 0, best = 0;
    for (size_t s = 0; s < n; s++)
      if (choice[s] == e) votes[it->ev->chart[s]]++;
    for (size_t j = 1; j < it->E; j++)
      if (votes[j] > votes[best]) best = j;
    if (!votes[best]) continue;
    chart[e] = (int64_t)best;
    for (size_t s = 0; s < n; s++)
      if (choice[s] == e && it->ev->member[s * it->E + best]) {
        rows[c] = s;
        memcpy(xs + c * D, it->ev->x + s * D, D * sizeof *xs);
        manifold_chart_map(it->M, best, xs + c * D, phi + c * d);
        c++;
      }
    if (c < k + 2 || c < 8) continue; /* too few points in the chart for an affine fit */
    const double *z = mlp_forward(&L->enc, enc_model->theta + moe_layer_enc_off(&enc_model->layer[0], e), c, xs, acts);
    chartfit_t cf;
    rc = chartfit_affine(z, c, k, phi, d, pred, &cf);
    if (rc) break;
    r2[e] = cf.r2;
    for (size_t i = 0; keep && i < c && *nkeep < KEEP_POINTS; i++)
      if (rows[i] % stride == 0) {
        keep[3 * *nkeep] = (double)e;
        keep[3 * *nkeep + 1] = phi[i * d];
        keep[3 * *nkeep + 2] = pred[i * d];
        (*nkeep)++;
      }
  }
  free(xs); free(acts); free(phi); free(pred); free(rows); free(votes);
  return rc;
}

/* min and mean of the measured (non-NaN) values; NaN when there are none. Returns the count. */
static size_t min_mean(const double *v, size_t n, double *mn, double *mean) {
  size_t c = 0;
  double sum = 0;
  *mn = NAN;
  for (size_t i = 0; i < n; i++)
    if (!isnan(v[i])) {
      if (!(v[i] >= *mn)) *mn = v[i];
      sum += v[i];
      c++;
    }
  *mean = c ? sum / (double)c : NAN;
  return c;
}

/* exprun's after_fit hook: the interpretability measure of the fitted encoders and of the same
 * encoders as initialised (same seed, the fitted routing): what R^2 a code gets without
 * learning anything. A linear encoder to R^{d+1} is injective on the (d+1)-plane of S^d for
 * almost every initialisation, and the chart maps are affine on it, so its R^2 is 1 from the
 * start: for k = d + 1 the measure says nothing; for k = d the encoder must find the tangent
 * directions. */
static int measure_charts(void *vctx, moe_model_t *m, record_run *rec) {
  const interp_t *it = vctx;
  size_t E = m->layer[0].spec.n_experts;
  if (!moe_model_forward(m, it->ev->n, it->ev->x)) return MOEX_EINVAL;
  double *r2 = malloc(E * sizeof *r2), *r20 = malloc(E * sizeof *r20), *keep = malloc(KEEP_POINTS * 3 * sizeof *keep);
  int64_t *chart = malloc(E * sizeof *chart);
  moe_model_t *m0 = moe_model_alloc(&m->spec, 1);
  int rc = r2 && r20 && keep && chart && m0 ? MOEX_OK : moex_error(MOEX_ENOMEM, PROG ": out of memory");
  size_t nkeep = 0, measured = 0, recovered = 0;
  if (!rc) rc = chart_r2(it, m, m, r2, chart, it->keep ? keep : NULL, &nkeep);
  if (!rc) {
    moe_model_init_params(m0, it->seed);
    rc = chart_r2(it, m, m0, r20, chart, NULL, NULL);
  }
  double mn, mean, imn, imean;
  if (!rc) {
    /* chart_r2 rewrote chart[] with the same routing: the same values */
    measured = min_mean(r2, E, &mn, &mean);
    min_mean(r20, E, &imn, &imean);
    for (size_t e = 0; e < E; e++) recovered += !isnan(r2[e]) && chartfit_recovered(r2[e]);
  }
  size_t dims[1] = {E};
  if (!rc) rc = record_run_add_double(rec, "metrics/enc_chart_r2", r2, 1, dims);
  if (!rc) rc = record_run_add_int(rec, "metrics/enc_chart", chart, 1, dims);
  if (!rc) rc = record_run_set_double(rec, "enc_r2_min", mn);
  if (!rc) rc = record_run_set_double(rec, "enc_r2_mean", mean);
  if (!rc) rc = record_run_set_int(rec, "enc_experts_measured", (int64_t)measured);
  if (!rc) rc = record_run_set_int(rec, "enc_recovered", measured && recovered == measured);
  if (!rc) rc = record_run_set_double(rec, "enc_r2_init_min", imn);
  if (!rc) rc = record_run_set_double(rec, "enc_r2_init_mean", imean);
  if (!rc && nkeep) {
    size_t kd[2] = {nkeep, 3};
    rc = record_run_add_double(rec, "interp/enc_vs_chart", keep, 2, kd);
  }
  moe_model_free(m0);
  free(r2); free(r20); free(keep); free(chart);
  return rc;
}

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  const char *model = sweep_grid_value(g, i, "model"), *protocol = sweep_grid_value(g, i, "protocol");
  size_t m, d, D;
  int rc = study_parse_size("m", sweep_grid_value(g, i, "m"), 1, 4096, &m);
  if (!rc) rc = study_parse_size("d", sweep_grid_value(g, i, "d"), 1, 3, &d);
  if (!rc) rc = study_parse_size("D", sweep_grid_value(g, i, "D"), d + 1, 4096, &D);
  size_t E = charts_of(d);
  moe_spec_t spec;
  if (!rc) rc = make_spec(c, model, d, D, E, m, &spec);
  if (rc) return rc;
  /* the evaluation set: grid points per dimension for d = 1, grid^2 for d >= 2 (manifold_grid) */
  runsets_manifold_spec rs = {.target = c->target, .target_seed = 3, .data_seed = (unsigned long)c->o->master_seed + 5 * D + 7 * d,
                              .n_train = c->o->n_train, .n_test = 1024, .eval = d == 1 ? c->grid * c->grid : c->grid};
  manifold_config_default(&rs.mc);
  rs.mc.kind = "sphere";
  rs.mc.d = d;
  rs.mc.D = D;
  rs.mc.embed = "rotated";
  rs.mc.E = E;
  rs.mc.seed = (unsigned long)c->o->master_seed + D + 1000 * d;
  runsets_t S;
  rc = runsets_manifold(&S, &rs);
  int shared, rec_on;
  size_t extra;
  int ae = parse_ae(model, &shared, &extra, &rec_on);
  interp_t it = {.M = S.M, .ev = &S.ev, .d = d, .E = E, .keep = ae && !shared && !extra && rec_on, .seed = seed};
  exprun_data_t data = runsets_view(&S, 256);
  data.after_fit = ae ? measure_charts : NULL;
  data.after_ctx = &it;
  fit_settings fs;
  fit_plan plan;
  int prc = driver_plan(c->o, protocol, &plan, &fs);
  if (!rc) rc = prc;
  if (!rc) rc = exprun_fit_plan(&spec, seed, &data, &plan, &fs, rec);
  /* the interpretability columns in every run (the summary's columns are the same for all) */
  const exprun_attr none[] = {EXPRUN_D("enc_r2_min", NAN), EXPRUN_D("enc_r2_mean", NAN), EXPRUN_I("enc_experts_measured", 0),
                              EXPRUN_I("enc_recovered", 0), EXPRUN_D("enc_r2_init_min", NAN), EXPRUN_D("enc_r2_init_mean", NAN)};
  if (!rc && !ae) rc = exprun_set_attrs(rec, none, sizeof none / sizeof *none);
  char fig[48], series[96];
  snprintf(fig, sizeof fig, "autoenc_d%zu_D%zu", d, D);
  snprintf(series, sizeof series, "%s %s", model, protocol);
  if (!rc) rc = exprun_set_figure(rec, fig, series, "params_active", (double)moe_spec_n_active(&spec), "none", NAN, NAN, NULL, NAN);
  const exprun_attr at[] = {EXPRUN_S("y_name", "sup_err"), EXPRUN_S("model", model), EXPRUN_S("protocol", protocol),
                            EXPRUN_S("target", c->target), EXPRUN_I("m", m), EXPRUN_I("d", d), EXPRUN_I("D", D), EXPRUN_I("E", E),
                            EXPRUN_I("k", ae ? d + extra : 0), EXPRUN_S("encoder", ae ? (shared ? "shared" : "per-expert") : "none"),
                            EXPRUN_D("recon_weight", ae && rec_on ? c->lambda : 0.0)};
  if (!rc) rc = exprun_set_attrs(rec, at, sizeof at / sizeof *at);
  if (!rc) rc = record_run_summarize(rec, NULL);
  runsets_free(&S);
  return rc;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  /* 6000 Adam steps: at 3000 the auto-encoder experts were still far from where 12000 took them
   * (d = 2, D = 64, m = 16: sup error 0.196 at 3000, 0.079 at 12000; the depth-2 MoE 0.087 and
   * 0.093-0.216); 6000 keeps the full grid (360 runs a seed) near 15 minutes on a loaded 2-core
   * machine */
  driver_opts_default(&o, 2, 6000, 2000, 4096);
  o.protocol = "adam";
  size_t grid = 48, hidden = 16;
  /* the +rec models' weight: at d = 2, D = 64, m = 16, 12000 steps, two seeds, lambda = 0.01,
   * 0.1, 1 gave mean chart R^2 0.85, 0.93, 0.96 and sup errors 0.13-0.17, 0.13-0.84,
   * 0.58-0.66: the term trades the output error for the chart; 0.1 is between */
  double lambda = 0.1;
  const char *target = "kappa:1", *Ds = NULL;
  const cli_option_t extra[] = {
      {"--grid", CLI_SIZE, &grid, 4, 1024, "evaluation set: grid^2 points on S^d (grid x grid on the circle)"},
      {"--hidden", CLI_SIZE, &hidden, 1, 4096, "width of moe2's representation between its two layers"},
      {"--lambda", CLI_DOUBLE, &lambda, 1e-12, 1e6, "reconstruction weight of the +rec models (run attribute recon_weight)"},
      {"--target", CLI_STRING, &target, 0, 0, "target function (targetfn.h)"},
      {"--Ds", CLI_STRING, &Ds, 0, 0, "ambient dimensions, a comma list (default 16,64,256; --quick 16,64)"},
  };
  int rc = driver_parse(PROG,
                        "Sec. 4.3 auto-encoder experts (per-expert or shared encoders, with or without the reconstruction\n"
                        "loss) against the depth-2 MoE and a dense net on S^d in R^D. Axes: d (1, 2, 3), D, model\n"
                        "(" MODELS "), m (expert width), protocol. Protocol default adam.",
                        argc, argv, &o, extra, 5);
  if (rc) return rc == 1 ? 0 : 2;
  if (study_check_target(PROG, target)) return 2;
  if (o.quick) {
    driver_quick(&o, 1, 300, 0, 512);
    if (grid == 48) grid = 16;
  }
  const driver_axis axes[] = {{"d", "1,2,3", NULL}, {"D", Ds ? Ds : "16,64,256", Ds ? Ds : "16,64"}, {"model", MODELS, NULL},
                              {"m", "4,8,16,32", "4,16"}, DRIVER_AXIS_PROTOCOL};
  sweep_grid_t g = {0};
  if (driver_axes(PROG, &o, &g, axes, sizeof axes / sizeof *axes)) return 2;
  ctx_t c = {.o = &o, .grid = grid, .hidden = hidden, .lambda = lambda, .target = target};
  const char *out = o.out ? o.out : o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5";
  rc = driver_run(PROG, &o, &g, out, run_one, &c, argc, argv);
  if (rc == 0 && reach_report(PROG, out, "moe2")) rc = 1;
  return rc;
}
