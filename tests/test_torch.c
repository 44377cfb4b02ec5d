/* The PyTorch bridge (src/tools/moex_torch.py) and moex-eval: one fitted run of every model kind
 * moex records is rebuilt in PyTorch and must give the stored predictions within 1e-12; a fresh
 * PyTorch module of every kind, saved and measured by moex-eval, must give moex-eval's stored
 * predictions within 1e-12; each check must fail on a perturbed input. Runs trained with Adam's
 * aux-free balancing (a selection bias in the router) go both ways too. The torch tests need
 * python3 with torch, h5py and numpy (Debian: python3-torch, python3-h5py, python3-numpy; $PYTHON
 * chooses the interpreter, default /usr/bin/python3; `make check` installs them); without them they
 * fail with the reason, unless MOEX_ALLOW_SKIP=torch makes them listed skips (testutil.h).
 * moex-eval's bad-input tests need no Python. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "lib/exprun.h"
#include "lib/modelio.h"
#include "model/spectext.h"
#include "record/record.h"
#include "targets/piecewise.h"
#include "testutil.h"
#include "torchutil.h"

/* The model kinds of the fixture: every layer kind, router, surrogate, K, shared experts,
 * dense layers between, an auto-encoder front (a 1-affine-layer dense encoder). All R^2 -> R^2
 * (the Table 4 target). */
static const char *const KINDS[] = {
    "dense:d_in=2,d_out=2,l=2,m=8",
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0",
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=paper,shared=0",
    "moe:d_in=2,d_out=2,E=4,K=2,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0",
    "moe:d_in=2,d_out=2,E=4,K=2,l=2,m=8,router=linear,router_width=0,surrogate=paper,shared=0",
    "moe:d_in=2,d_out=2,E=3,K=3,l=1,m=0,router=linear,router_width=0,surrogate=paper,shared=0",
    "moe:d_in=2,d_out=2,E=3,K=1,l=3,m=6,router=mlp,router_width=5,surrogate=switch,shared=0",
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=1",
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0;"
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0",
    "moe:d_in=2,d_out=3,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0;"
    "dense:d_in=3,d_out=3,l=2,m=6;"
    "moe:d_in=3,d_out=2,E=2,K=2,l=2,m=8,router=mlp,router_width=4,surrogate=paper,shared=1",
    "dense:d_in=2,d_out=3,l=1,m=0;"
    "moe:d_in=3,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0",
    "moe:d_in=2,d_out=2,E=3,K=2,l=2,m=6,router=linear,router_width=0,surrogate=switch,shared=0;"
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=6,router=mlp,router_width=4,surrogate=paper,shared=0;"
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=6,router=linear,router_width=0,surrogate=switch,shared=1;"
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=6,router=linear,router_width=0,surrogate=switch,shared=0",
    /* the affine router (W x + b, issue 31): alone, and stacked with K = 2, paper, a shared expert */
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=affine,router_width=0,surrogate=switch,shared=0",
    "moe:d_in=2,d_out=2,E=4,K=2,l=2,m=6,router=affine,router_width=0,surrogate=paper,shared=1;"
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=6,router=affine,router_width=0,surrogate=switch,shared=0",
};
#define N_KINDS (sizeof KINDS / sizeof *KINDS)
#define N_TIED 9 /* kinds whose first layer is an MoE layer with a linear router (not affine) */


/* Fits every kind briefly (Adam, 40 steps) on the Table 4 target and records it through
 * exprun_fit, as the experiment binaries do, into dir/kinds.h5. */
static void make_fixture(void) {
  exprun_data_t d = fixture_data();
  size_t ntr = d.n_train, nte = d.n_test;
  double *xtr = (double *)d.x_train, *ytr = (double *)d.y_train, *xte = (double *)d.x_test;
  unsigned long seeds[N_KINDS];
  for (size_t k = 0; k < N_KINDS; k++) seeds[k] = 10 + k;
  torchutil_fit_kinds(&d, "kinds.h5", "torch_kinds", "kind", KINDS, seeds, N_KINDS);
  fit_settings fs = fixture_settings("adam", 40);
  char path[128];
  record_meta_in meta = {.experiment = "torch_kinds", .grid = "", .command_line = "test_torch"};
  record_writer *w;
  /* and a model R^2 -> R (first output of the same data) for a manifold target: the circle in R^2 */
  moe_spec_t spec1 = {.n_layers = 1};
  spec1.layer[0] = moe_layer_default(2, 1, 4, 8);
  for (size_t i = 0; i < ntr; i++) ytr[i] = ytr[2 * i];
  exprun_data_t d1 = {.d_in = 2, .d_out = 1, .n_train = ntr, .x_train = xtr, .y_train = ytr, .n_test = nte,
                      .x_test = xte, .y_test = ytr, .n_eval = nte, .x_eval = xte, .y_eval = ytr, .n_keep = 0};
  snprintf(path, sizeof path, "%s/ev_model.h5", dir);
  w = record_writer_open(path, &meta, RECORD_NEW);
  record_run *rec = record_run_alloc("circle");
  ck_assert_msg(exprun_fit(&spec1, 3, &d1, &fs, rec) == 0, "%s", moex_errmsg());
  ck_assert_int_eq(record_writer_append(w, &rec, 1), 0);
  record_run_free(rec);
  record_writer_close(w);
  fixture_data_free(&d);
}

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/moex-torch-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  make_fixture();
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}

/* the PyTorch test case's fixture: the fitted kinds, when torch is there to check them */
static void setup_torch(void) {
  torch_check();
  if (torch_ok) setup();
}

static void teardown_torch(void) {
  if (torch_ok) teardown();
}

/* moex -> PyTorch: every kind's module reproduces the stored predictions and paths; a copy of
 * the file with the output biases moved by 1e-9 fails the same check on every run. */
START_TEST(test_torch_load_matches) {
  REQUIRE_TORCH();
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py verify %s/kinds.h5 --tol 1e-12 --perturbed 1e-9 %s/bad.h5",
           python(), dir, dir);
  torch_expect_within(cmd, "verify", N_KINDS, "runs");
}
END_TEST

/* PyTorch -> moex: a saved module measured by moex-eval gives the module's predictions; the
 * module moved by 1e-9 after saving no longer does. */
START_TEST(test_torch_save_eval_matches) {
  REQUIRE_TORCH();
  /* every kind, and a tied-router variant of the N_TIED kinds whose first layer is linear-gated */
  torch_save_check("kinds.h5", N_KINDS + N_TIED);
}
END_TEST

/* Models trained with Adam's aux-free balancing (adam:auxfree=G): every MoE layer records a
 * selection bias params/layer{l}/router/select_bias, added to the router scores for the top-K
 * selection only. One of each router, surrogate and K, a shared expert, a dense layer between,
 * auto-encoder experts, an affine router (its own bias in the scores, the selection bias on top). */
static const char *const AUXFREE_KINDS[] = {
    "moe:d_in=2,d_out=2,E=4,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0",
    "moe:d_in=2,d_out=2,E=4,K=2,l=2,m=8,router=linear,router_width=0,surrogate=paper,shared=0",
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=mlp,router_width=5,surrogate=switch,shared=1",
    "moe:d_in=2,d_out=3,E=3,K=2,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0;"
    "dense:d_in=3,d_out=3,l=2,m=6;"
    "moe:d_in=3,d_out=2,E=3,K=1,l=2,m=8,router=mlp,router_width=4,surrogate=paper,shared=0",
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0,"
    "enc=2,enc_layers=2,enc_width=4,enc_shared=0,decoder=1,recon_weight=0.5",
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=affine,router_width=0,surrogate=switch,shared=0",
};
#define N_AUXFREE (sizeof AUXFREE_KINDS / sizeof *AUXFREE_KINDS)
#define AUXFREE_PROTOCOL "adam:auxfree=0.01"
#define AUXFREE_STEPS 60
/* the other router options leave nothing in the model (W_noise and the jitter act in training
 * only): a run of AUXFREE_KINDS[0] with all of them records a plain model */
#define OTHERS_PROTOCOL "adam:noise=1:jitter=0.02:balance=0.01:zloss=0.001:warmup=10"

/* Every row's selected experts (n, sum of K over the MoE layers) after a forward of m. */
static void choices(const moe_model_t *m, size_t n, size_t width, size_t *out) {
  size_t c = 0;
  for (size_t l = 0; l < m->n_layers; l++) {
    size_t K = m->layer[l].spec.top_k;
    if (m->layer[l].spec.kind != MOE_LAYER_MOE) continue;
    const size_t *ch = moe_model_layer_choice(m, l);
    for (size_t i = 0; i < n; i++) memcpy(out + i * width + c, ch + i * K, K * sizeof *out);
    c += K;
  }
}

/* How many of a recorded run's eval/x rows select other experts (in some layer, at some k) when
 * the model moex-eval loads (modelio) selects without its selection bias; asserts first that the
 * loaded model gives the stored paths with it. Independent of the bridge. */
static size_t auxfree_routes_changed(const record_run *run) {
  const record_array *X = record_run_array(run, "eval/x"), *P = record_run_array(run, "eval/path");
  ck_assert_ptr_nonnull(X);
  ck_assert_ptr_nonnull(P);
  size_t n = X->dims[0], width = 0, changed = 0;
  moe_model_t *m = modelio_load(run, n);
  ck_assert_msg(m != NULL, "modelio: %s", moex_errmsg());
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].spec.kind == MOE_LAYER_MOE) width += m->layer[l].spec.top_k;
  size_t *with = malloc(n * width * sizeof *with), *without = malloc(n * width * sizeof *without);
  moe_model_forward(m, n, X->data);
  const size_t *path = moe_model_paths(m);
  for (size_t i = 0; i < n; i++) ck_assert_int_eq((int64_t)path[i], ((const int64_t *)P->data)[i]);
  choices(m, n, width, with);
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_t *L = &m->layer[l];
    if (L->spec.kind != MOE_LAYER_MOE) continue;
    ck_assert_msg(L->sel_bias != NULL, "run %s layer %zu: no selection bias loaded", run->id, l);
    memset(L->sel_bias, 0, L->spec.n_experts * sizeof(double));
  }
  moe_model_forward(m, n, X->data);
  choices(m, n, width, without);
  for (size_t i = 0; i < n; i++) changed += memcmp(with + i * width, without + i * width, width * sizeof *with) != 0;
  free(with);
  free(without);
  moe_model_free(m);
  return changed;
}

/* adam:auxfree runs through the bridge both ways: each kind fitted with the bias (it must be
 * nonzero in every MoE layer and change some routes, so that a bridge ignoring it fails), and a
 * run with the other router options (no bias, nothing but the plain tensors); then `verify` (the
 * module's predictions within 1e-12, the same paths; the output biases moved by 1e-9 fail) and
 * `save-check` (a fresh module, with a bias where the run has one, saved, measured by moex-eval
 * within 1e-12, its tensors back bit for bit; moved by 1e-9 fails). */
START_TEST(test_torch_auxfree) {
  REQUIRE_TORCH();
  exprun_data_t d = fixture_data();
  fit_settings fs = fixture_settings(AUXFREE_PROTOCOL, AUXFREE_STEPS);
  char path[128], cmd[1024], want[128];
  snprintf(path, sizeof path, "%s/auxfree.h5", dir);
  record_meta_in meta = {.experiment = "torch_auxfree", .grid = "", .command_line = "test_torch"};
  record_writer *w = record_writer_open(path, &meta, RECORD_NEW);
  ck_assert_msg(w != NULL, "%s", moex_errmsg());
  record_run *runs[N_AUXFREE + 1];
  for (size_t k = 0; k < N_AUXFREE; k++) {
    moe_spec_t spec;
    ck_assert_msg(spectext_parse(AUXFREE_KINDS[k], &spec) == 0, "%s", moex_errmsg());
    for (size_t l = 0; l < spec.n_layers; l++) spec.layer[l].init = MLP_INIT_TORCH;
    char id[17];
    snprintf(id, sizeof id, "auxfree%zu", k);
    runs[k] = record_run_alloc(id);
    ck_assert_msg(exprun_fit(&spec, 20 + k, &d, &fs, runs[k]) == 0, "%s", moex_errmsg());
    /* a nonzero bias in every MoE layer, and routes that it decides */
    for (size_t l = 0; l < spec.n_layers; l++) {
      if (spec.layer[l].kind != MOE_LAYER_MOE) continue;
      char name[96];
      snprintf(name, sizeof name, "params/layer%zu/router/select_bias", l);
      const record_array *b = record_run_array(runs[k], name);
      ck_assert_msg(b != NULL && b->rank == 1 && b->dims[0] == spec.layer[l].n_experts, "%s: no %s", id, name);
      double mx = 0;
      for (size_t e = 0; e < b->dims[0]; e++) mx = fmax(mx, fabs(((const double *)b->data)[e]));
      ck_assert_msg(mx > 0, "%s: %s is zero", id, name);
    }
    size_t changed = auxfree_routes_changed(runs[k]);
    fprintf(stderr, "auxfree %s: the selection bias changes %zu of %zu routes\n", id, changed, d.n_eval);
    ck_assert_msg(changed > 0, "%s: the selection bias changes no route: a bridge ignoring it would pass", id);
  }
  fit_settings fo = fixture_settings(OTHERS_PROTOCOL, AUXFREE_STEPS);
  moe_spec_t spec;
  ck_assert_msg(spectext_parse(AUXFREE_KINDS[0], &spec) == 0, "%s", moex_errmsg());
  spec.layer[0].init = MLP_INIT_TORCH;
  runs[N_AUXFREE] = record_run_alloc("others");
  ck_assert_msg(exprun_fit(&spec, 30, &d, &fo, runs[N_AUXFREE]) == 0, "%s", moex_errmsg());
  for (size_t i = 0; i < runs[N_AUXFREE]->n_arrays; i++) {
    const char *a = runs[N_AUXFREE]->arrays[i]->path;
    ck_assert_msg(strncmp(a, "params/", 7) || (!strstr(a, "select_bias") && !strstr(a, "noise")), "others: %s recorded", a);
  }
  ck_assert_int_eq(record_writer_append(w, runs, N_AUXFREE + 1), 0);
  for (size_t k = 0; k <= N_AUXFREE; k++) record_run_free(runs[k]);
  record_writer_close(w);
  fixture_data_free(&d);

  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py verify %s --tol 1e-12 --perturbed 1e-9 %s/auxfree-bad.h5", python(),
           path, dir);
  int st = run_logged(cmd);
  print_unperturbed(log_text());
  ck_assert_msg(st == 0, "verify failed:\n%s", log_text());
  snprintf(want, sizeof want, "\nverify: %zu of %zu runs within 1e-12", N_AUXFREE + 1, N_AUXFREE + 1);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
  snprintf(want, sizeof want, "\nverify perturbed by 1e-09: 0 of %zu runs within 1e-12", N_AUXFREE + 1);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());

  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py save-check %s --moex-eval %s/moex-eval "
           "--target piecewise:E=3,L=2 --dir %s/save-auxfree --tol 1e-12 --perturb 1e-9", python(), path, testutil_bindir(), dir);
  st = run_logged(cmd);
  print_unperturbed(log_text());
  ck_assert_msg(st == 0, "save-check failed:\n%s", log_text());
  /* every kind with a bias, the tied-router variant of the 4 whose first layer is linear-gated,
   * and the others' run's model without a bias, tied and not */
  size_t n = N_AUXFREE + 4 + 2;
  snprintf(want, sizeof want, "\nsave-check: %zu of %zu models within 1e-12", n, n);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
  snprintf(want, sizeof want, "\nsave-check perturbed by 1e-09: 0 of %zu models within 1e-12", n);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
  /* and every model with a bias there carried it (a module without one would not print this) */
  const char *t = log_text();
  size_t with_bias = 0;
  for (const char *q = t; (q = strstr(q, "select_bias changes ")) != NULL; q++) with_bias++;
  ck_assert_msg(with_bias == n - 2, "%zu of %zu models printed a selection bias:\n%s", with_bias, n - 2, t);
}
END_TEST

/* bench_torch.py (make bench-torch) on a tiny round: it times both sides (PyTorch eager,
 * TorchScript and dense) and writes a row per (row, implementation) with positive times, and the
 * TorchScript / eager ratio; bad arguments exit 2 before any timing. Speed is never asserted. */
START_TEST(test_torch_bench) {
  REQUIRE_TORCH();
  testutil_require_bin("moex-bench");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s src/tools/bench_torch.py --moex-bench %s/moex-bench --rounds 1 --reps 50 --out %s/bench", python(),
           testutil_bindir(), dir);
  int st = run_logged(cmd);
  ck_assert_msg(st == 0, "bench_torch failed:\n%s", log_text());
  snprintf(cmd, sizeof cmd,
           "[ $(awk -F'\t' 'NR > 1 && $4 > 0 && $5 > 0 && ($1 == \"P1\" || $1 == \"P2\")' %s/bench/bench-torch.tsv | wc -l) -eq 6 ] && "
           "[ $(awk -F'\t' '$2 == \"script\"' %s/bench/bench-torch.tsv | wc -l) -eq 2 ]", dir, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "bench-torch.tsv: not 6 rows with positive times, 2 of them TorchScript's");
  ck_assert_msg(strstr(log_text(), "P2: TorchScript / eager step time ") != NULL, "no TorchScript ratio:\n%s", log_text());
  snprintf(cmd, sizeof cmd, "%s src/tools/bench_torch.py --moex-bench %s/moex-bench --rounds 0 --out %s/bench2", python(),
           testutil_bindir(), dir);
  testutil_expect_usage_error(cmd, "bench_torch.py");
  snprintf(cmd, sizeof cmd, "%s src/tools/bench_torch.py --moex-bench %s/nonexistent --out %s/bench2", python(), dir, dir);
  testutil_expect_usage_error(cmd, "bench_torch.py");
}
END_TEST

/* ---- moex-eval: measured like a moex run, and its bad inputs ------------------------------ */

typedef void (*edit_fn)(record_run *r);
static void write_edited(const char *id, const char *name, edit_fn edit);
/* Moves the last layer's output bias of expert 0 by 1e-9. */
static void edit_moved(record_run *r) {
  const record_array *a = record_run_array(r, "params/layer1/expert0/b2");
  ck_assert_ptr_nonnull(a);
  for (size_t i = 0; i < a->dims[0]; i++) ((double *)a->data)[i] += 1e-9;
}

/* moex-eval on a moex-fitted run gives that run's sup error on the same grid, and its record
 * passes moex-report. */
START_TEST(test_eval_same_as_fit) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/moex-eval %s/kinds.h5 --run kind08 --target piecewise:E=3,L=2 --grid 16 --out %s/ev.h5",
           testutil_bindir(), dir, dir);
  ck_assert_msg(run_logged(cmd) == 0, "%s", log_text());
  char a[128], b[128];
  snprintf(a, sizeof a, "%s/kinds.h5", dir);
  snprintf(b, sizeof b, "%s/ev.h5", dir);
  ck_assert_int_eq(record_check(b), 0);
  record_file *fa = record_open(a), *fb = record_open(b);
  record_run *ra = record_read_run(fa, "kind08", RECORD_READ_ALL);
  record_run *rb = record_read_run(fb, record_run_id(fb, 0), RECORD_READ_ALL);
  double sa, sb;
  ck_assert_int_eq(record_run_get_double(ra, "sup_err", &sa), 0);
  ck_assert_int_eq(record_run_get_double(rb, "sup_err", &sb), 0);
  ck_assert_msg(sa == sb, "sup_err %.17g (fit) against %.17g (moex-eval)", sa, sb);
  const char *same[] = {"eval/y_pred", "eval/path", "metrics/per_piece_max_err", "routing/layer0/share", "routing/layer1/share"};
  for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
    const record_array *x = record_run_array(ra, same[i]), *y = record_run_array(rb, same[i]);
    ck_assert_msg(x && y, "%s missing", same[i]);
    size_t n = x->dims[0] * x->dims[1];
    ck_assert_uint_eq(n, y->dims[0] * y->dims[1]);
    ck_assert_msg(!memcmp(x->data, y->data, n * 8), "%s differs", same[i]);
  }
  int64_t pa, pb;
  ck_assert_int_eq(record_run_get_int(ra, "paths_used", &pa), 0);
  ck_assert_int_eq(record_run_get_int(rb, "paths_used", &pb), 0);
  ck_assert_int_eq(pa, pb);
  record_run_free(rb);
  record_close(fa);
  record_close(fb);
  /* the same comparison fails when one output bias of the fitted run moved by 1e-9 */
  write_edited("kind08", "moved", edit_moved);
  snprintf(cmd, sizeof cmd, "%s/moex-eval %s/moved.h5 --target piecewise:E=3,L=2 --grid 16 --out %s/ev3.h5",
           testutil_bindir(), dir, dir);
  ck_assert_msg(run_logged(cmd) == 0, "%s", log_text());
  snprintf(b, sizeof b, "%s/ev3.h5", dir);
  fb = record_open(b);
  rb = record_read_run(fb, record_run_id(fb, 0), RECORD_READ_ALL);
  const record_array *ya = record_run_array(ra, "eval/y_pred"), *yb = record_run_array(rb, "eval/y_pred");
  ck_assert_msg(memcmp(ya->data, yb->data, ya->dims[0] * ya->dims[1] * 8) != 0, "a moved bias left eval/y_pred unchanged");
  record_run_free(rb);
  record_close(fb);
  record_run_free(ra);
  snprintf(cmd, sizeof cmd, "%s/moex-report %s/ev.h5 --out %s/rep", testutil_bindir(), dir, dir);
  ck_assert_msg(run_logged(cmd) == 0, "%s", log_text());
  /* a manifold target too (the model maps R^2 -> R^2: refused), and a 1-D one accepted */
  snprintf(cmd, sizeof cmd, "%s/moex-eval %s/kinds.h5 --run kind00 --target manifold:kind=circle,d=1,D=2,E=4,f=exp1 "
           "--out %s/ev2.h5", testutil_bindir(), dir, dir);
  ck_assert_int_eq(run_logged(cmd), 2);
  ck_assert_msg(strstr(log_text(), "R^1 -> R^2, the target") == NULL && strstr(log_text(), "the model maps R^2 -> R^2") != NULL,
                "%s", log_text());
  snprintf(cmd, sizeof cmd, "%s/moex-eval %s/ev_model.h5 --target manifold:kind=circle,d=1,D=2,E=4,f=exp1 --grid 64 "
           "--out %s/ev2.h5", testutil_bindir(), dir, dir);
  ck_assert_msg(run_logged(cmd) == 0, "%s", log_text());
  snprintf(b, sizeof b, "%s/ev2.h5", dir);
  fb = record_open(b);
  rb = record_read_run(fb, record_run_id(fb, 0), RECORD_READ_ALL);
  double purity;
  ck_assert_int_eq(record_run_get_double(rb, "route_purity", &purity), 0);
  ck_assert(purity > 0 && purity <= 1);
  ck_assert_ptr_nonnull(record_run_array(rb, "eval/coord"));
  ck_assert_uint_eq(record_run_array(rb, "eval/y_pred")->dims[0], 64);
  record_run_free(rb);
  record_close(fb);
}
END_TEST

/* A copy of run `id` of kinds.h5 changed by `edit`, alone in dir/<name>.h5. */

static void write_edited(const char *id, const char *name, edit_fn edit) {
  char src[128], dst[128];
  snprintf(src, sizeof src, "%s/kinds.h5", dir);
  snprintf(dst, sizeof dst, "%s/%s.h5", dir, name);
  record_file *f = record_open(src);
  ck_assert_ptr_nonnull(f);
  record_run *r = record_read_run(f, id, RECORD_READ_ALL);
  record_close(f);
  ck_assert_ptr_nonnull(r);
  edit(r);
  record_meta_in meta = {.experiment = "torch_bad", .grid = "", .command_line = "test_torch"};
  record_writer *w = record_writer_open(dst, &meta, RECORD_NEW);
  ck_assert_int_eq(record_writer_append(w, &r, 1), 0);
  record_writer_close(w);
  record_run_free(r);
}

static void drop_array(record_run *r, const char *path) {
  for (size_t i = 0; i < r->n_arrays; i++)
    if (!strcmp(r->arrays[i]->path, path)) {
      record_array *a = r->arrays[i];
      free(a->path);
      free(a->data);
      free(a);
      memmove(r->arrays + i, r->arrays + i + 1, (r->n_arrays - i - 1) * sizeof *r->arrays);
      r->n_arrays--;
      return;
    }
  ck_abort_msg("no array %s", path);
}

static void edit_missing(record_run *r) { drop_array(r, "params/layer0/expert1/W2"); }
static void edit_shape(record_run *r) {
  const record_array *a = record_run_array(r, "params/layer0/expert2/b1");
  double v[7] = {0};
  size_t dims[1] = {7};
  ck_assert_ptr_nonnull(a);
  drop_array(r, "params/layer0/expert2/b1");
  ck_assert_int_eq(record_run_add_double(r, "params/layer0/expert2/b1", v, 1, dims), 0);
}
static void edit_spec_fewer(record_run *r) {
  record_run_set_str(r, "model_spec", "moe:d_in=2,d_out=2,E=2,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0");
}
static void edit_spec_more(record_run *r) {
  record_run_set_str(r, "model_spec", "moe:d_in=2,d_out=2,E=4,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0");
}
static void edit_spec_bad(record_run *r) {
  record_run_set_str(r, "model_spec", "moe:d_in=2,d_out=2,E=3,K=5,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0");
}
static void edit_no_spec(record_run *r) {
  for (size_t i = 0; i < r->n_attrs; i++)
    if (!strcmp(r->attrs[i].name, "model_spec")) strcpy(r->attrs[i].name, "model_spex");
}
static void edit_nan(record_run *r) {
  const record_array *a = record_run_array(r, "params/layer0/router/W");
  ((double *)a->data)[1] = NAN;
}
static void edit_int(record_run *r) {
  int64_t v[3] = {0, 0, 0};
  size_t dims[2] = {3, 1};
  drop_array(r, "params/layer0/router/W");
  ck_assert_int_eq(record_run_add_int(r, "params/layer0/router/W", v, 2, dims), 0);
}

/* The bad-input contract, in one run: exit 2, exactly one line on stderr, "moex-eval: ...",
 * naming `want`. */
static void expect_bad(const char *args, const char *want) {
  char cmd[1024], errf[128], line[1024] = "", more[1024];
  snprintf(errf, sizeof errf, "%s/err", dir);
  snprintf(cmd, sizeof cmd, "%s/moex-eval %s > /dev/null 2> %s", testutil_bindir(), args, errf);
  int st = testutil_sh(cmd);
  FILE *f = fopen(errf, "r");
  ck_assert_ptr_nonnull(f);
  int one = fgets(line, sizeof line, f) != NULL && fgets(more, sizeof more, f) == NULL;
  fclose(f);
  ck_assert_msg(st == 2, "'%s' exited %d, not 2 (%s)", args, st, line);
  ck_assert_msg(one, "'%s': not exactly one line on stderr (first: '%s')", args, line);
  ck_assert_msg(!strncmp(line, "moex-eval: ", 11), "'%s': error line '%s'", args, line);
  ck_assert_msg(strstr(line, want) != NULL, "'%s': error '%s' does not name '%s'", args, line, want);
}

START_TEST(test_eval_bad_input) {
  static const struct { const char *name; edit_fn edit; const char *want; } cases[] = {
      {"missing", edit_missing, "tensor params/layer0/expert1/W2 is missing"},
      {"shape", edit_shape, "tensor params/layer0/expert2/b1 has shape (7), the model spec needs (8)"},
      {"fewer", edit_spec_fewer, "tensor params/layer0/router/W has shape (3, 2), the model spec needs (2, 2)"},
      {"more", edit_spec_more, "tensor params/layer0/router/W has shape (3, 2), the model spec needs (4, 2)"},
      {"badspec", edit_spec_bad, "top-K = 5 must be in 1..E = 3"},
      {"nospec", edit_no_spec, "no string attribute model_spec"},
      {"nan", edit_nan, "tensor params/layer0/router/W has a non-finite value at 1"},
      {"int", edit_int, "tensor params/layer0/router/W is int64, not float64"},
  };
  char args[1024];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_edited("kind01", cases[i].name, cases[i].edit);
    snprintf(args, sizeof args, "%s/%s.h5 --target piecewise:E=3,L=2 --out %s/o.h5", dir, cases[i].name, dir);
    expect_bad(args, cases[i].want);
    snprintf(args, sizeof args, "%s/o.h5", dir);
    ck_assert_msg(access(args, F_OK) != 0, "%s: an output was written", cases[i].name);
  }
  expect_bad("", "MODEL.h5 is required");
  snprintf(args, sizeof args, "%s/kinds.h5 --target piecewise:E=3,L=2 --out %s/o.h5", dir, dir);
  char many[64];
  snprintf(many, sizeof many, "holds %zu runs: choose one with --run", N_KINDS);
  expect_bad(args, many);
  snprintf(args, sizeof args, "%s/kinds.h5 --run nope --target piecewise:E=3,L=2 --out %s/o.h5", dir, dir);
  expect_bad(args, "--run 'nope': no such run");
  snprintf(args, sizeof args, "%s/kinds.h5 --run kind01 --target piecewise:E=3,L=2,Q=1 --out %s/o.h5", dir, dir);
  expect_bad(args, "unknown field 'Q'");
  snprintf(args, sizeof args, "%s/kinds.h5 --run kind01 --target piecewise:E=3,L=3 --out %s/o.h5", dir, dir);
  expect_bad(args, "the model maps R^2 -> R^2, the target 'piecewise:E=3,L=3' R^3 -> R^3");
  snprintf(args, sizeof args, "%s/kinds.h5 --run kind01 --target cube:E=3 --out %s/o.h5", dir, dir);
  expect_bad(args, "unknown target kind 'cube'");
  snprintf(args, sizeof args, "%s/nothere.h5 --target piecewise:E=3,L=2 --out %s/o.h5", dir, dir);
  expect_bad(args, "nothere.h5");
  snprintf(args, sizeof args, "%s/kinds.h5 --run kind01 --out %s/o.h5", dir, dir);
  expect_bad(args, "--target is required");
  snprintf(args, sizeof args, "%s/kinds.h5 --run kind01 --target piecewise:E=3,L=2 --grid 1 --out %s/o.h5", dir, dir);
  expect_bad(args, "--grid");
}
END_TEST

/* A spec whose tensors include one the spec has no place for (an extra expert). */
static void edit_extra(record_run *r) {
  const record_array *a = record_run_array(r, "params/layer0/expert0/b2");
  ck_assert_int_eq(record_run_add_double(r, "params/layer0/expert3/b2", a->data, 1, a->dims), 0);
}

START_TEST(test_eval_bad_extra_tensor) {
  write_edited("kind01", "extra", edit_extra);
  char args[512];
  snprintf(args, sizeof args, "%s/extra.h5 --target piecewise:E=3,L=2 --out %s/o.h5", dir, dir);
  expect_bad(args, "tensor params/layer0/expert3/b2 is not part of the model spec");
}
END_TEST

/* The spec text round-trips, and its parser names bad fields. */
START_TEST(test_spectext) {
  for (size_t k = 0; k < N_KINDS; k++) {
    moe_spec_t s;
    char buf[4096];
    ck_assert_msg(spectext_parse(KINDS[k], &s) == 0, "%s", moex_errmsg());
    ck_assert_int_eq(spectext_format(&s, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, KINDS[k]);
  }
  static const struct { const char *text, *want; } bad[] = {
      {"", "empty"},
      {"moe:d_in=2", "field 'd_out' is missing"},
      {"dense:d_in=2,d_out=2,l=2,m=8,E=3", "unknown field 'E' for a dense layer"},
      {"dense:d_in=2,d_out=2,l=2,l=3,m=8", "field 'l' given twice"},
      {"cnn:d_in=2", "unknown kind 'cnn'"},
      {"dense:d_in=x,d_out=2,l=2,m=8", "d_in = 'x' is not an integer"},
      {"moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=conv,router_width=0,surrogate=switch,shared=0", "unknown router 'conv'"},
      {"dense:d_in=2,d_out=3,l=1,m=0;dense:d_in=2,d_out=2,l=1,m=0", "layer 1 input dimension 2 != layer 0 output dimension 3"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    moe_spec_t s;
    ck_assert_int_ne(spectext_parse(bad[i].text, &s), 0);
    ck_assert_msg(strstr(moex_errmsg(), bad[i].want) != NULL, "'%s': '%s'", bad[i].text, moex_errmsg());
  }
}
END_TEST

Suite *torch_suite(void) {
  Suite *s = testutil_suite_create("torch");
  TCase *e = testutil_tcase(s, "eval", 120, test_spectext, test_eval_same_as_fit, test_eval_bad_input, test_eval_bad_extra_tensor);
  tcase_add_unchecked_fixture(e, setup, teardown);
  TCase *t = testutil_tcase(s, "pytorch", 300, test_torch_load_matches, test_torch_save_eval_matches, test_torch_auxfree,
                            test_torch_bench);
  tcase_add_unchecked_fixture(t, setup_torch, teardown_torch);
  return s;
}
