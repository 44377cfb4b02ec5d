/* paper_exp1: the paper's Table 3. A 1-layer MoE (4 experts, 2-layer ReLU of width 10, linear
 * top-1 gate) fits f = sin(5 x1) + cos(3 x2) on the unit circle embedded in R^D; the claim is
 * that the test error does not grow with D. Beyond the paper: rotated and curved embeddings,
 * a dense net with the MoE's active parameter count, both the paper's Adam protocol and a
 * full-batch GSL protocol, several seeds. Writes one HDF5 file; `moex-report` makes the report. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "blas.h"
#include "cli.h"
#include "exprun.h"
#include "manifold.h"
#include "moex_error.h"
#include "record.h"
#include "targetfn.h"

/* Paper, Table 3 (1-4-MoE, Adam, axis embedding): test error at D = 16, 32, 64, 128. */
static double paper_value(size_t D) {
  switch (D) {
    case 16: return 3.40e-4;
    case 32: return 3.38e-4;
    case 64: return 3.17e-4;
    case 128: return 3.42e-4;
    default: return NAN;
  }
}

typedef struct {
  size_t n, D;
  double *x, *y;
  size_t *chart;
  unsigned char *member;
} set_t;

static void set_free(set_t *s) {
  free(s->x); free(s->y); free(s->chart); free(s->member);
}

/* Samples (or the regular grid when grid > 0) with targets and chart labels. */
static int make_set(const manifold *M, const targetfn *f, gsl_rng *r, size_t n, int grid, set_t *s) {
  size_t D = manifold_ambient(M), E = manifold_charts(M);
  if (grid) n = manifold_grid_size(M, n);
  s->n = n;
  s->D = D;
  s->x = malloc(n * D * sizeof *s->x);
  s->y = malloc(n * sizeof *s->y);
  s->chart = malloc(n * sizeof *s->chart);
  s->member = malloc(n * E);
  if (!s->x || !s->y || !s->chart || !s->member) return moex_error(MOEX_ENOMEM, "paper_exp1: out of memory");
  int rc = grid ? manifold_grid(M, n, s->x, NULL, NULL) : manifold_sample(M, r, n, s->x, NULL, NULL);
  if (rc) return rc;
  rc = targetfn_eval_batch(f, n, s->x, s->y);
  for (size_t i = 0; i < n && !rc; i++) {
    s->chart[i] = manifold_argmax_chart(M, s->x + i * D);
    for (size_t c = 0; c < E; c++) s->member[i * E + c] = (unsigned char)(manifold_in_chart(M, c, s->x + i * D) ? 1 : 0);
  }
  return rc;
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

int main(int argc, char **argv) {
  int quick = 0, seeds = 5, jobs = 1;
  size_t n_train = 4096, iters = 2000, bfgs_iters = 2000, grid = 2048;
  double lr = 1e-3;
  const char *out = NULL, *protocols = "adam,bfgs2";
  unsigned long master = 20250530;
  double master_d = (double)master;
  const cli_option_t opts[] = {
      {"--quick", CLI_FLAG, &quick, 0, 0, "reduced grid (D in {16, 64}, 2 seeds, axis and rotated; < 1 min)"},
      {"--seeds", CLI_INT, &seeds, 1, 1000, "seeds per configuration (default 5)"},
      {"--out", CLI_STRING, &out, 0, 0, "output HDF5 file (default results/paper/exp1.h5, quick: results/quick/exp1.h5)"},
      {"--protocol", CLI_STRING, &protocols, 0, 0, "comma list of optimizers: adam, bfgs2, lbfgs, cg-pr, lm, ... (default adam,bfgs2)"},
      {"--iters", CLI_SIZE, &iters, 1, 1e7, "Adam steps (paper: 2000)"},
      {"--bfgs-iters", CLI_SIZE, &bfgs_iters, 1, 1e7, "iteration cap of full-batch optimizers (default 2000)"},
      {"--lr", CLI_DOUBLE, &lr, 1e-8, 10, "Adam learning rate (paper: 1e-3)"},
      {"--n-train", CLI_SIZE, &n_train, 16, 1e7, "training samples (default 4096)"},
      {"--grid", CLI_SIZE, &grid, 16, 1e6, "points of the regular evaluation grid (sup norm)"},
      {"--master-seed", CLI_DOUBLE, &master_d, 0, 4294967295.0, "master seed; run seeds derive from it and the run id"},
      {"--jobs", CLI_INT, &jobs, 1, 1, "workers (only 1 for now: the sweep runner is not built yet)"},
  };
  int rc = cli_parse("paper_exp1", "Table 3 of Wang & E (2025): shallow MoE error against ambient dimension D.",
                     argc, argv, opts, sizeof opts / sizeof *opts);
  if (rc) return rc == 1 ? 0 : 2;
  master = (unsigned long)master_d;
  if (!out) out = quick ? "results/quick/exp1.h5" : "results/paper/exp1.h5";
  size_t Ds_full[] = {16, 32, 64, 128}, Ds_quick[] = {16, 64};
  const char *emb_full[] = {"axis", "rotated", "curved"}, *emb_quick[] = {"axis", "rotated"};
  const size_t *Ds = quick ? Ds_quick : Ds_full;
  size_t nD = quick ? 2 : 4, nemb = quick ? 2 : 3;
  const char *const *embs = quick ? emb_quick : emb_full;
  if (quick) {
    if (seeds == 5) seeds = 2;
    if (n_train == 4096) n_train = 1024;
    if (bfgs_iters == 2000) bfgs_iters = 300;
    if (grid == 2048) grid = 512;
  }
  /* protocols: a comma list, each checked before anything runs */
  char protobuf[256];
  snprintf(protobuf, sizeof protobuf, "%s", protocols);
  const char *proto[8];
  size_t nproto = 0;
  for (char *tok = strtok(protobuf, ","); tok && nproto < 8; tok = strtok(NULL, ",")) {
    if (fit_optimizer_check(tok)) {
      fprintf(stderr, "paper_exp1: --protocol '%s': %s\n", tok, moex_errmsg());
      return 2;
    }
    proto[nproto++] = tok;
  }
  if (!nproto) {
    fprintf(stderr, "paper_exp1: --protocol '%s' names no optimizer\n", protocols);
    return 2;
  }
  moex_blas_set_threads(1);
  char grid_desc[512];
  snprintf(grid_desc, sizeof grid_desc,
           "{D: [%zu..%zu] (%zu values), embed: %zu kinds, model: [moe, dense], protocol: %s, seeds: %d, n_train: %zu}",
           Ds[0], Ds[nD - 1], nD, nemb, protocols, seeds, n_train);
  char *cmd = record_join_argv(argc, argv);
  record_meta_in meta = {.experiment = "paper_exp1", .grid = grid_desc, .command_line = cmd};
  record_writer *w = record_writer_open(out, &meta, RECORD_NEW);
  free(cmd);
  if (!w) {
    fprintf(stderr, "paper_exp1: %s\n", moex_errmsg());
    return 2;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  size_t n_runs = 0, n_failed = 0;
  int status = 0;
  for (size_t ie = 0; ie < nemb && !stop_requested; ie++)
    for (size_t iD = 0; iD < nD && !stop_requested; iD++) {
      size_t D = Ds[iD];
      manifold_config mc;
      manifold_config_default(&mc);
      mc.kind = "circle";
      mc.d = 1;
      mc.D = D;
      mc.embed = embs[ie];
      mc.E = 4;
      mc.seed = master + 7 * D;
      manifold *M = manifold_alloc(&mc);
      targetfn *f = M ? targetfn_alloc(M, "exp1", 1) : NULL;
      if (!f) {
        fprintf(stderr, "paper_exp1: %s\n", moex_errmsg());
        manifold_free(M);
        status = 2;
        goto finish;
      }
      gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
      gsl_rng_set(r, master + D);
      set_t tr = {0}, te = {0}, ev = {0};
      rc = make_set(M, f, r, n_train, 0, &tr);
      if (!rc) rc = make_set(M, f, r, 1024, 0, &te);
      if (!rc) rc = make_set(M, f, r, grid, 1, &ev);
      exprun_data_t data = {.d_in = D, .d_out = 1, .n_train = tr.n, .x_train = tr.x, .y_train = tr.y,
                            .n_test = te.n, .x_test = te.x, .y_test = te.y, .n_eval = ev.n, .x_eval = ev.x,
                            .y_eval = ev.y, .chart_eval = ev.chart, .member_eval = ev.member, .n_charts = 4,
                            .n_keep = 256};
      /* the dense baseline gets the MoE's active parameters: 4D + 10D + 21 = w (D + 2) + 1 */
      size_t w_dense = (size_t)floor((14.0 * (double)D + 20.0) / (double)(D + 2) + 0.5);
      for (int model = 0; model < 2 && !rc && !stop_requested; model++)
        for (size_t ip = 0; ip < nproto && !rc && !stop_requested; ip++)
          for (int sd = 0; sd < seeds && !rc && !stop_requested; sd++) {
            moe_spec_t spec = {.n_layers = 1};
            spec.layer[0] = model == 0 ? moe_layer_default(D, 1, 4, 10) : moe_layer_dense(D, 1, 2, w_dense);
            const char *mname = model == 0 ? "moe" : "dense";
            char config[256], id[17], series[96];
            snprintf(config, sizeof config, "exp1 model=%s embed=%s D=%zu protocol=%s seed=%d", mname, embs[ie], D, proto[ip], sd);
            exprun_id(config, id);
            fit_settings fs;
            fit_settings_default(&fs);
            fs.optimizer = proto[ip];
            fs.log_every = 50;
            if (!strcmp(proto[ip], "adam")) {
              fs.max_iter = iters;
              fs.lr = lr;
              fs.batch = 128;
            } else {
              fs.max_iter = bfgs_iters;
            }
            record_run *rec = record_run_alloc(id);
            snprintf(series, sizeof series, "%s %s %s", mname, proto[ip], embs[ie]);
            int frc = !rec ? MOEX_ENOMEM : exprun_fit(&spec, exprun_seed(master, config), &data, &fs, rec);
            if (!frc) {
              int pv = model == 0 && !strcmp(proto[ip], "adam") && !strcmp(embs[ie], "axis");
              frc = exprun_set_figure(rec, "exp1_err_vs_D", series, "D", (double)D, model == 0 ? "flat" : "none", NAN,
                                      0.15, NULL, pv ? paper_value(D) : NAN);
            }
            if (!frc) frc = record_run_set_str(rec, "model", mname);
            if (!frc) frc = record_run_set_str(rec, "embed", embs[ie]);
            if (!frc) frc = record_run_set_int(rec, "D", (int64_t)D);
            if (!frc) frc = record_run_set_int(rec, "E", model == 0 ? 4 : 0);
            if (!frc) frc = record_run_set_int(rec, "m", model == 0 ? 10 : (int64_t)w_dense);
            if (!frc) frc = record_run_summarize(rec, NULL);
            sigset_t old;
            if (!frc) {
              record_signals_block(&old);
              frc = record_writer_append(w, &rec, 1);
              record_signals_restore(&old);
            }
            if (frc) {
              fprintf(stderr, "paper_exp1: run %s: %s\n", config, moex_errmsg());
              rc = frc;
            } else {
              const char *st = "";
              double mse = NAN;
              record_run_get_str(rec, "status", &st);
              record_run_get_double(rec, "test_mse", &mse);
              n_runs++;
              n_failed += strcmp(st, "ok") != 0;
              printf("paper_exp1: %-40s D=%-4zu seed %d  test_mse %.3e  %s\n", series, D, sd, mse, st);
              fflush(stdout);
            }
            record_run_free(rec);
          }
      set_free(&tr); set_free(&te); set_free(&ev);
      gsl_rng_free(r);
      targetfn_free(f);
      manifold_free(M);
      if (rc) {
        status = 1;
        goto finish;
      }
    }
finish:
  record_writer_close(w);
  if (stop_requested) {
    fprintf(stderr, "paper_exp1: interrupted; %zu runs recorded in %s\n", n_runs, out);
    return 130;
  }
  printf("paper_exp1: %zu runs (%zu failed) recorded in %s\n", n_runs, n_failed, out);
  return status;
}
