/* What the PyTorch bridge's tests share (test_torch.c, test_torch_ae.c): the interpreter, whether
 * it has torch (asked once, by a test case's fixture, and the reason when not), the fitted
 * fixture's data and settings, and a log of each bridge command in the test's scratch folder. One copy per test file (static). */
#ifndef MOEX_TORCHUTIL_H
#define MOEX_TORCHUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "fit/fit.h"
#include "lib/exprun.h"
#include "targets/piecewise.h"
#include "testutil.h"

static char dir[64];   /* the test case's scratch folder (its fixture makes it) */
static int torch_ok;   /* python imports torch, h5py and numpy */
static char torch_why[512];

#define REQUIRE_TORCH()                                                 \
  do {                                                                  \
    if (!testutil_require_tool(torch_ok, "torch", torch_why)) return; \
  } while (0)

/* $PYTHON, default Debian's /usr/bin/python3 (h5py and torch are Debian packages). */
static inline const char *python(void) {
  const char *p = getenv("PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

/* Sets torch_ok, and torch_why when python cannot import torch, h5py and numpy: the last line
 * of its error (e.g. "ModuleNotFoundError: No module named 'torch'") and where to get them. */
static inline void torch_check(void) {
  char cmd[512], why[400] = "", line[512];
  snprintf(cmd, sizeof cmd, "%s -c 'import torch, h5py, numpy' 2>&1", python());
  FILE *p = popen(cmd, "r");
  if (!p) {
    torch_ok = 0;
    snprintf(torch_why, sizeof torch_why, "cannot run %s", python());
    return;
  }
  while (fgets(line, sizeof line, p)) {
    size_t len = strcspn(line, "\n");
    if (len >= sizeof why) len = sizeof why - 1;
    memcpy(why, line, len);
    why[len] = '\0';
  }
  torch_ok = pclose(p) == 0;
  if (!torch_ok)
    snprintf(torch_why, sizeof torch_why, "%s (Debian: python3-torch python3-h5py python3-numpy; make check installs them)",
             why[0] ? why : "python not found");
}

/* Runs cmd with stdout and stderr into dir/log; its exit status. */
static inline int run_logged(const char *cmd) {
  char full[16384 + 128];
  snprintf(full, sizeof full, "%s > %s/log 2>&1", cmd, dir);
  return testutil_sh(full);
}

/* dir/log's first 16 KiB. */
static inline const char *log_text(void) {
  static char buf[16384];
  char path[128];
  snprintf(path, sizeof path, "%s/log", dir);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
  return buf;
}

/* The measured differences per model (stderr, for the record), without the perturbed rows but
 * with their summary lines. */
static inline void print_unperturbed(const char *text) {
  char line[1024];
  for (const char *p = text; *p;) {
    size_t len = strcspn(p, "\n"), n = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, p, n);
    line[n] = '\0';
    if (!strstr(line, "perturbed by") || strstr(line, " within ")) fprintf(stderr, "%s\n", line);
    p += len + (p[len] == '\n');
  }
}

/* The Table 4 target's data (R^2 -> R^2): 256 training and 64 test samples, a 16 x 16 grid. */
static inline exprun_data_t fixture_data(void) {
  piecewise_config pc = {.E = 3, .L = 2, .family = "fig3", .scalar = 0, .seed = 1};
  piecewise *P = piecewise_alloc(&pc);
  ck_assert_ptr_nonnull(P);
  size_t ntr = 256, nte = 64, g = 16, ng = g * g;
  double *xtr = malloc(ntr * 2 * sizeof *xtr), *ytr = malloc(ntr * 2 * sizeof *ytr);
  double *xte = malloc(nte * 2 * sizeof *xte), *yte = malloc(nte * 2 * sizeof *yte);
  double *xg = malloc(ng * 2 * sizeof *xg), *yg = malloc(ng * 2 * sizeof *yg);
  size_t *pg = malloc(ng * sizeof *pg);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  ck_assert_int_eq(piecewise_sample(P, r, ntr, xtr, ytr, NULL), 0);
  ck_assert_int_eq(piecewise_sample(P, r, nte, xte, yte, NULL), 0);
  ck_assert_int_eq(piecewise_grid(P, g, xg, yg, pg), 0);
  gsl_rng_free(r);
  piecewise_free(P);
  exprun_data_t d = {.d_in = 2, .d_out = 2, .n_train = ntr, .x_train = xtr, .y_train = ytr, .n_test = nte,
                     .x_test = xte, .y_test = yte, .n_eval = ng, .x_eval = xg, .y_eval = yg, .piece_eval = pg,
                     .n_pieces = 9, .n_keep = ng, .coord_eval = xg, .n_coord = 2};
  return d;
}

static inline void fixture_data_free(exprun_data_t *d) {
  free((void *)d->x_train); free((void *)d->y_train); free((void *)d->x_test); free((void *)d->y_test);
  free((void *)d->x_eval); free((void *)d->y_eval); free((void *)d->piece_eval);
}

/* Adam at lr 1e-2, batch 64, for `steps` steps; `optimizer` "adam" or "adam:<router options>". */
static inline fit_settings fixture_settings(const char *optimizer, size_t steps) {
  fit_settings fs;
  fit_settings_default(&fs);
  fs.optimizer = optimizer;
  fs.max_iter = steps;
  fs.lr = 1e-2;
  fs.batch = 64;
  fs.log_every = 10;
  return fs;
}

/* Fits each of the n kinds (model spec texts, PyTorch's initialisation) briefly (Adam, 40 steps)
 * on d, kind k seeded seeds[k], as the experiment binaries do (exprun_fit), and records them as
 * runs <prefix>NN of dir/file in one commit (one fsync). */
static inline void torchutil_fit_kinds(const exprun_data_t *d, const char *file, const char *experiment, const char *prefix,
                                       const char *const *kinds, const unsigned long *seeds, size_t n) {
  fit_settings fs = fixture_settings("adam", 40);
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  record_meta_in meta = {.experiment = experiment, .grid = "", .command_line = experiment};
  record_writer *w = record_writer_open(path, &meta, RECORD_NEW);
  ck_assert_msg(w != NULL, "%s", moex_errmsg());
  record_run **runs = calloc(n, sizeof *runs);
  ck_assert_ptr_nonnull(runs);
  for (size_t k = 0; k < n; k++) {
    moe_spec_t spec;
    ck_assert_msg(spectext_parse(kinds[k], &spec) == 0, "%s", moex_errmsg());
    for (size_t l = 0; l < spec.n_layers; l++) spec.layer[l].init = MLP_INIT_TORCH;
    char id[64];
    snprintf(id, sizeof id, "%s%02zu", prefix, k);
    runs[k] = record_run_alloc(id);
    ck_assert_msg(exprun_fit(&spec, seeds[k], d, &fs, runs[k]) == 0, "%s", moex_errmsg());
  }
  ck_assert_int_eq(record_writer_append(w, runs, n), 0);
  for (size_t k = 0; k < n; k++) record_run_free(runs[k]);
  free(runs);
  record_writer_close(w);
}

/* Runs a `moex_torch.py` check (`what`: verify or save-check) with its log, and expects
 * "<what>: n of n <unit> within 1e-12" and, perturbed by 1e-9, "0 of n". */
static inline void torch_expect_within(const char *cmd, const char *what, size_t n, const char *unit) {
  char want[160];
  int st = run_logged(cmd);
  print_unperturbed(log_text());
  ck_assert_msg(st == 0, "%s failed:\n%s", what, log_text());
  snprintf(want, sizeof want, "\n%s: %zu of %zu %s within 1e-12", what, n, n, unit);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
  snprintf(want, sizeof want, "\n%s perturbed by 1e-09: 0 of %zu %s within 1e-12", what, n, unit);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
}

/* PyTorch -> moex: `moex_torch.py save-check` on the kinds of dir/FILE: a fresh module of each,
 * saved and measured by moex-eval, must give its own predictions within 1e-12, all n_models of
 * them, and none once moved by 1e-9 after saving. */
static inline void torch_save_check(const char *file, size_t n_models) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py save-check %s/%s --moex-eval %s/moex-eval "
           "--target piecewise:E=3,L=2 --dir %s/save --tol 1e-12 --perturb 1e-9", python(), dir, file, testutil_bindir(), dir);
  torch_expect_within(cmd, "save-check", n_models, "models");
}

#endif
