/* moex-eval: measures a model that moex did not fit (e.g. one saved from PyTorch by
 * src/tools/moex_torch.py) on a moex target, with the code that measures moex's own fits.
 *
 *   moex-eval MODEL.h5 --target SPEC --out OUT.h5 [--run ID] [--grid N] [--n-test N] [--seed S]
 *             [--figure ID] [--series NAME] [--x-name NAME] [--x V] [--experiment NAME]
 *
 * MODEL.h5 is a moex records file; the run (--run, or its only run) must carry `model_spec` and
 * every tensor of that spec (experiments/lib/modelio.h). The model is measured by exprun_measure
 * (test MSE, sup norm, routing diagnostics, per-piece errors, the evaluation subset for routing
 * maps) and written as one run of OUT.h5, which moex-report reads. Targets:
 *   piecewise:E=3,L=2[,family=fig3][,scalar=0][,seed=1]       Eq. (4) on [0,E]^L; the evaluation set
 *        is the grid of --grid points per dimension (labels: pieces; coordinates: the point)
 *   manifold:kind=circle,d=1,D=16[,embed=axis][,E=4][,seed=1][,fseed=1][,f=exp1]   a target
 *        function of targets/targetfn.h on a manifold (f last: its own spec may hold commas);
 *        the evaluation set is manifold_grid (labels: chart of largest rho; coordinates: the
 *        angle when d = 1)
 * The test sample (--n-test points, drawn with --seed) gives test_mse. Exit status: 0 written;
 * 2 bad input (an option, the model file, its spec or tensors, the target, a dimension
 * mismatch), one line on stderr before any evaluation; 1 an error while measuring or writing. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/cli.h"
#include "core/moex_error.h"
#include "core/runid.h"
#include "lib/exprun.h"
#include "lib/modelio.h"
#include "model/spectext.h"
#include "record/record.h"
#include "targets/manifold.h"
#include "targets/piecewise.h"
#include "targets/targetfn.h"

#define PROG "moex-eval"

static const char *SUMMARY =
    "Measures an imported model (a moex record with model_spec and its tensors, e.g. from moex_torch.py)\n"
    "on a moex target with moex's metrics and routing diagnostics, into a records file for moex-report:\n"
    "moex-eval MODEL.h5 --target SPEC --out OUT.h5 [options]. Targets: piecewise:E=3,L=2[,family=fig3,scalar=0,seed=1];\n"
    "manifold:kind=circle,d=1,D=16[,embed=axis,E=4,seed=1,fseed=1,f=exp1] (f last). Exit: 0 ok, 1 run error, 2 bad input.";

/* The data of a target: the exprun_data_t and the buffers behind it. */
typedef struct {
  exprun_data_t d;
  double *xte, *yte, *xev, *yev, *coord;
  size_t *label;
  unsigned char *member;
  piecewise *P;
  manifold *M;
  targetfn *f;
} target_t;

static void target_free(target_t *t) {
  free(t->xte); free(t->yte); free(t->xev); free(t->yev); free(t->coord); free(t->label); free(t->member);
  targetfn_free(t->f);
  manifold_free(t->M);
  piecewise_free(t->P);
}

/* key=value fields after "kind:"; `f` takes the rest of the text. Returns the value of key or
 * def; *bad is set (and an error recorded) for an unknown key. */
typedef struct {
  char *key[16], *val[16];
  size_t n;
} fields_t;

static int fields_parse(char *s, fields_t *fl, const char *const *known) {
  fl->n = 0;
  for (char *p = s, *next; p && *p; p = next) {
    char *eq = strchr(p, '=');
    if (!eq) return moex_error(MOEX_EINVAL, "field '%s' is not key=value", p);
    *eq = '\0';
    int ok = 0;
    for (size_t k = 0; known[k]; k++) ok |= !strcmp(known[k], p);
    if (!ok) return moex_error(MOEX_EINVAL, "unknown field '%s'", p);
    for (size_t k = 0; k < fl->n; k++)
      if (!strcmp(fl->key[k], p)) return moex_error(MOEX_EINVAL, "field '%s' given twice", p);
    if (fl->n == 16) return moex_error(MOEX_EINVAL, "too many fields");
    fl->key[fl->n] = p;
    fl->val[fl->n++] = eq + 1;
    next = NULL;
    if (strcmp(p, "f")) {
      next = strchr(eq + 1, ',');
      if (next) *next++ = '\0';
    }
  }
  return MOEX_OK;
}

static const char *field(const fields_t *fl, const char *key, const char *def) {
  for (size_t k = 0; k < fl->n; k++)
    if (!strcmp(fl->key[k], key)) return fl->val[k];
  return def;
}

static int field_size(const fields_t *fl, const char *key, const char *def, size_t lo, size_t hi, size_t *out) {
  const char *v = field(fl, key, def);
  if (!v) return moex_error(MOEX_EINVAL, "field '%s' is required", key);
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (!*v || *end || v[0] == '-' || x < lo || x > hi)
    return moex_error(MOEX_EINVAL, "%s = '%s' must be an integer in %zu..%zu", key, v, lo, hi);
  *out = (size_t)x;
  return MOEX_OK;
}

/* Prefixes the last error with the target's text (copied first: moex_error writes the buffer). */
static int target_error(const char *spec) {
  char why[512];
  snprintf(why, sizeof why, "%s", moex_errmsg());
  return moex_error(MOEX_EINVAL, "--target '%s': %s", spec, why);
}

/* Builds the target's evaluation and test sets. Bad specs are MOEX_EINVAL. */
static int target_make(const char *spec, size_t grid, size_t n_test, unsigned long seed, target_t *t) {
  memset(t, 0, sizeof *t);
  char *s = strdup(spec), *colon = s ? strchr(s, ':') : NULL;
  if (!s) return moex_error(MOEX_ENOMEM, PROG ": out of memory");
  if (!colon) {
    free(s);
    return moex_error(MOEX_EINVAL, "--target '%s': expected piecewise:... or manifold:...", spec);
  }
  *colon = '\0';
  fields_t fl;
  int rc = MOEX_OK, ok_alloc = 1;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r) rc = moex_error(MOEX_ENOMEM, PROG ": out of memory");
  else gsl_rng_set(r, seed);
  if (!rc && !strcmp(s, "piecewise")) {
    static const char *const known[] = {"E", "L", "family", "scalar", "seed", NULL};
    size_t E = 0, L = 0, scalar = 0, pseed = 1;
    rc = fields_parse(colon + 1, &fl, known);
    if (!rc) rc = field_size(&fl, "E", NULL, 1, 64, &E);
    if (!rc) rc = field_size(&fl, "L", NULL, 1, 8, &L);
    if (!rc) rc = field_size(&fl, "scalar", "0", 0, 1, &scalar);
    if (!rc) rc = field_size(&fl, "seed", "1", 0, 1UL << 31, &pseed);
    piecewise_config pc = {.E = E, .L = L, .family = field(&fl, "family", "fig3"), .scalar = (int)scalar, .seed = pseed};
    if (!rc && !(t->P = piecewise_alloc(&pc))) rc = MOEX_EINVAL;
    size_t ng = 1;
    for (size_t l = 0; !rc && l < L; l++) {
      if (ng > (1u << 22) / grid) rc = moex_error(MOEX_EINVAL, "--grid %zu: %zu^%zu evaluation points is too many", grid, grid, L);
      ng *= grid;
    }
    if (!rc) {
      size_t din = piecewise_in_dim(t->P), dout = piecewise_out_dim(t->P);
      t->xev = malloc(ng * din * sizeof *t->xev);
      t->yev = malloc(ng * dout * sizeof *t->yev);
      t->label = malloc(ng * sizeof *t->label);
      t->xte = malloc(n_test * din * sizeof *t->xte);
      t->yte = malloc(n_test * dout * sizeof *t->yte);
      ok_alloc = t->xev && t->yev && t->label && t->xte && t->yte;
      if (ok_alloc) {
        rc = piecewise_grid(t->P, grid, t->xev, t->yev, t->label);
        if (!rc) rc = piecewise_sample(t->P, r, n_test, t->xte, t->yte, NULL);
      }
      t->d = (exprun_data_t){.d_in = din, .d_out = dout, .n_test = n_test, .x_test = t->xte, .y_test = t->yte,
                             .n_eval = ng, .x_eval = t->xev, .y_eval = t->yev, .piece_eval = t->label,
                             .n_pieces = piecewise_pieces(t->P), .n_keep = 4096,
                             .coord_eval = din <= 2 ? t->xev : NULL, .n_coord = din};
    }
  } else if (!rc && !strcmp(s, "manifold")) {
    static const char *const known[] = {"kind", "d", "D", "embed", "E", "seed", "fseed", "f", NULL};
    manifold_config mc;
    manifold_config_default(&mc);
    size_t fseed = 1, mseed = 1;
    rc = fields_parse(colon + 1, &fl, known);
    mc.kind = field(&fl, "kind", "circle");
    mc.embed = field(&fl, "embed", "axis");
    if (!rc) rc = field_size(&fl, "d", "1", 1, MANIFOLD_MAX_D, &mc.d);
    if (!rc) rc = field_size(&fl, "D", "16", 2, 4096, &mc.D);
    if (!rc) rc = field_size(&fl, "E", "4", 1, 4096, &mc.E);
    if (!rc) rc = field_size(&fl, "seed", "1", 0, 1UL << 31, &mseed);
    if (!rc) rc = field_size(&fl, "fseed", "1", 0, 1UL << 31, &fseed);
    mc.seed = mseed;
    if (!rc && !(t->M = manifold_alloc(&mc))) rc = MOEX_EINVAL;
    if (!rc && !(t->f = targetfn_alloc(t->M, field(&fl, "f", "exp1"), fseed))) rc = MOEX_EINVAL;
    if (!rc) {
      size_t D = mc.D, ng = manifold_grid_size(t->M, grid), du = manifold_u_dim(t->M), E = manifold_charts(t->M);
      t->xev = malloc(ng * D * sizeof *t->xev);
      t->yev = malloc(ng * sizeof *t->yev);
      t->coord = malloc(ng * du * sizeof *t->coord);
      t->label = malloc(ng * sizeof *t->label);
      t->member = malloc(ng * E);
      t->xte = malloc(n_test * D * sizeof *t->xte);
      t->yte = malloc(n_test * sizeof *t->yte);
      ok_alloc = t->xev && t->yev && t->coord && t->label && t->member && t->xte && t->yte;
      if (ok_alloc) {
        rc = manifold_grid(t->M, grid, t->xev, t->coord, NULL);
        if (!rc) rc = targetfn_eval_batch(t->f, ng, t->xev, t->yev);
        for (size_t i = 0; !rc && i < ng; i++) {
          const double *x = t->xev + i * D;
          t->label[i] = manifold_argmax_chart(t->M, x);
          for (size_t e = 0; e < E; e++) t->member[i * E + e] = (unsigned char)manifold_in_chart(t->M, e, x);
        }
        if (!rc) rc = manifold_sample(t->M, r, n_test, t->xte, NULL, NULL);
        if (!rc) rc = targetfn_eval_batch(t->f, n_test, t->xte, t->yte);
      }
      t->d = (exprun_data_t){.d_in = D, .d_out = 1, .n_test = n_test, .x_test = t->xte, .y_test = t->yte,
                             .n_eval = ng, .x_eval = t->xev, .y_eval = t->yev, .chart_eval = t->label,
                             .member_eval = t->member, .n_charts = E, .n_keep = 4096,
                             .coord_eval = du == 1 ? t->coord : NULL, .n_coord = 1};
    }
  } else if (!rc) {
    rc = moex_error(MOEX_EINVAL, "unknown target kind '%s' (piecewise or manifold)", s);
  }
  if (!ok_alloc) rc = moex_error(MOEX_ENOMEM, PROG ": out of memory");
  if (rc == MOEX_EINVAL) target_error(spec);
  gsl_rng_free(r);
  free(s);
  return rc;
}

/* One line on stderr, exit status 2 (bad input) or 1. */
static int fail(int status, const char *what) {
  fprintf(stderr, PROG ": %s%s%s\n", what ? what : "", what && *moex_errmsg() ? ": " : "", moex_errmsg());
  return status;
}

typedef struct {
  const char *target, *out, *run_id, *figure, *series, *x_name, *experiment, *model_path;
  size_t grid, n_test;
  double seed, x;
} eval_opts;

/* The options and the one positional argument, the model file. 0, 1 after --help, 2 after a
 * one-line error. */
static int eval_parse(int argc, char **argv, eval_opts *o) {
  *o = (eval_opts){.figure = "eval_err", .x_name = "params_active", .experiment = PROG, .grid = 64, .n_test = 1024,
                   .seed = 1, .x = NAN};
  cli_option_t opts[] = {
      {"--target", CLI_STRING, &o->target, 0, 0, "the target (see the summary)"},
      {"--out", CLI_STRING, &o->out, 0, 0, "records file to write (replaced)"},
      {"--run", CLI_STRING, &o->run_id, 0, 0, "run of MODEL.h5 (default: its only run)"},
      {"--grid", CLI_SIZE, &o->grid, 2, 4096, "evaluation grid points per dimension (default 64)"},
      {"--n-test", CLI_SIZE, &o->n_test, 1, 1 << 20, "test sample size (default 1024)"},
      {"--seed", CLI_DOUBLE, &o->seed, 0, 4294967295.0, "seed of the test sample (default 1)"},
      {"--figure", CLI_STRING, &o->figure, 0, 0, "report figure id (default eval_err)"},
      {"--series", CLI_STRING, &o->series, 0, 0, "report series (default 'imported <run id>')"},
      {"--x-name", CLI_STRING, &o->x_name, 0, 0, "report x axis name (default params_active)"},
      {"--x", CLI_DOUBLE, &o->x, 1e-300, 1e300, "report x value (default: params_active)"},
      {"--experiment", CLI_STRING, &o->experiment, 0, 0, "experiment name of OUT.h5 (default moex-eval; the same as\n"
                                                         "another file's lets moex-merge join them into one figure)"},
  };
  char **optv = malloc((size_t)(argc + 1) * sizeof *optv);
  if (!optv) return 2;
  int optc = 1, extra = 0;
  optv[0] = argv[0];
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1]) {
      optv[optc++] = argv[i];
      if (strcmp(argv[i], "--help") && i + 1 < argc) optv[optc++] = argv[++i];
    } else if (!o->model_path) {
      o->model_path = argv[i];
    } else {
      extra = i;
    }
  }
  optv[optc] = NULL;
  int rc = cli_parse(PROG, SUMMARY, optc, optv, opts, sizeof opts / sizeof *opts);
  free(optv);
  if (rc) return rc == 1 ? 1 : 2;
  if (extra) {
    fprintf(stderr, PROG ": unexpected argument '%s' (one MODEL.h5)\n", argv[extra]);
    return 2;
  }
  if (!o->model_path || !o->target || !o->out) {
    fprintf(stderr, PROG ": %s is required (usage: moex-eval MODEL.h5 --target SPEC --out OUT.h5)\n",
            !o->model_path ? "MODEL.h5" : !o->target ? "--target" : "--out");
    return 2;
  }
  if (!strcmp(o->model_path, o->out)) {
    fprintf(stderr, PROG ": --out '%s' is the model file\n", o->out);
    return 2;
  }
  return 0;
}

/* The model's run (--run, or the file's only run), read whole; its id into src_id. NULL after
 * a one-line error (exit status 2). */
static record_run *eval_source(const eval_opts *o, char *src_id, size_t n) {
  moex_error_clear();
  record_file *f = record_check(o->model_path) ? NULL : record_open(o->model_path);
  if (!f) {
    fail(2, NULL);
    return NULL;
  }
  const char *run_id = o->run_id;
  if (!run_id) {
    if (record_n_runs(f) != 1) {
      fprintf(stderr, PROG ": %s holds %zu runs: choose one with --run\n", o->model_path, record_n_runs(f));
      record_close(f);
      return NULL;
    }
    run_id = record_run_id(f, 0);
  } else if (!record_has_run(f, run_id)) {
    fprintf(stderr, PROG ": --run '%s': no such run in %s\n", run_id, o->model_path);
    record_close(f);
    return NULL;
  }
  record_run *src = record_read_run(f, run_id, RECORD_READ_ALL);
  snprintf(src_id, n, "%s", run_id);
  record_close(f);
  if (!src) fail(2, NULL);
  return src;
}

/* The run: what was measured, from what model (run src_id of src), on what target. */
static int eval_measure(const eval_opts *o, const record_run *src, const char *src_id, moe_model_t *m, target_t *t,
                        record_run **out) {
  char cfg[1024], id[17], ser[160];
  snprintf(cfg, sizeof cfg, "%s|%s|%s|%zu|%zu|%.17g", o->model_path, src_id, o->target, o->grid, o->n_test, o->seed);
  runid_id(cfg, id);
  const char *series = o->series;
  if (!series) {
    snprintf(ser, sizeof ser, "imported %s", src_id);
    series = ser;
  }
  record_run *rec = *out = record_run_alloc(id);
  int rc = rec ? MOEX_OK : MOEX_ENOMEM;
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_str(rec, "source_file", o->model_path);
  if (!rc) rc = record_run_set_str(rec, "source_run", src_id);
  const char *origin = NULL;
  if (!rc && !record_run_get_str(src, "origin", &origin)) rc = record_run_set_str(rec, "origin", origin);
  if (!rc) rc = record_run_set_str(rec, "target", o->target);
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)o->seed);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)m->n_params);
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)moe_spec_n_active(&m->spec));
  if (!rc) rc = record_run_set_str(rec, "surrogate", gate_surrogate_name(m->spec.layer[0].surrogate));
  if (!rc) rc = exprun_measure(m, &t->d, rec);
  if (!rc) rc = exprun_set_figure(rec, o->figure, series, o->x_name, isnan(o->x) ? (double)moe_spec_n_active(&m->spec) : o->x,
                                  "none", NAN, NAN, NULL, NAN);
  if (!rc) rc = record_run_summarize(rec, NULL);
  return rc;
}

/* OUT.h5 with the one run; the summary line. Returns the exit status. */
static int eval_write(const eval_opts *o, int argc, char **argv, record_run *rec, const char *src_id) {
  record_meta_in meta = {.experiment = o->experiment, .grid = o->target, .command_line = cli_command_line(argc, argv)};
  record_writer *w = record_writer_open(o->out, &meta, RECORD_NEW);
  int rc = w ? record_writer_append(w, &rec, 1) : MOEX_EIO;
  int status = 0;
  if (rc) {
    status = fail(1, NULL);
  } else {
    double mse = NAN, sup = NAN;
    record_run_get_double(rec, "test_mse", &mse);
    record_run_get_double(rec, "sup_err", &sup);
    printf(PROG ": %s run %s on %s: test_mse %.4g, sup_err %.4g -> %s\n", o->model_path, src_id, o->target, mse, sup, o->out);
  }
  record_writer_close(w);
  return status;
}

int main(int argc, char **argv) {
  eval_opts o;
  int rc = eval_parse(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : 2;
  /* every input is checked before any evaluation */
  char src_id[64];
  record_run *src = eval_source(&o, src_id, sizeof src_id);
  if (!src) return 2;
  target_t t;
  rc = target_make(o.target, o.grid, o.n_test, (unsigned long)o.seed, &t);
  size_t n_max = t.d.n_eval > t.d.n_test ? t.d.n_eval : t.d.n_test;
  moe_model_t *m = rc ? NULL : modelio_load(src, n_max < 256 ? 256 : n_max);
  if (!rc && !m) rc = MOEX_EINVAL;
  if (!rc && (m->d_in != t.d.d_in || m->d_out != t.d.d_out))
    rc = moex_error(MOEX_EINVAL, "the model maps R^%zu -> R^%zu, the target '%s' R^%zu -> R^%zu", m->d_in, m->d_out,
                    o.target, t.d.d_in, t.d.d_out);
  int status = rc ? fail(rc == MOEX_ENOMEM ? 1 : 2, NULL) : 0;
  record_run *rec = NULL;
  if (!rc && (rc = eval_measure(&o, src, src_id, m, &t, &rec))) status = fail(1, NULL);
  if (!rc) status = eval_write(&o, argc, argv, rec, src_id);
  record_run_free(rec);
  moe_model_free(m);
  target_free(&t);
  record_run_free(src);
  return status;
}
