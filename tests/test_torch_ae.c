/* Auto-encoder experts (the paper's Sec. 4.3; src/model/moe.h enc_dim) through the PyTorch bridge
 * (src/tools/moex_torch.py), both ways, as tests/test_torch.c does for the other model kinds: a
 * fitted run of every auto-encoder kind (per-expert and shared encoders, affine and ReLU-net
 * encoders, with and without decoder, linear and mlp routers, K = 1 and 2, a deep stack) is
 * rebuilt in PyTorch and must give the stored predictions within 1e-12 and the stored paths; a
 * fresh PyTorch module of every kind, saved and measured by moex-eval, must give moex-eval's
 * predictions within 1e-12, and every tensor (decoders included, which no prediction shows) must
 * come back bit for bit. Each check must fail when an encoder's bias (load) or every tensor
 * (save) is moved by 1e-9. The spec text's auto-encoder fields round-trip through spectext.c and
 * moex_torch.py alike. The autoenc experiment's --quick records load within 1e-12 too. Needs python3 with torch, h5py and numpy, as test_torch.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "lib/exprun.h"
#include "model/spectext.h"
#include "record/record.h"
#include "targets/piecewise.h"
#include "testutil.h"
#include "torchutil.h"

#define AE1(sh, dec, rw) ",enc=1,enc_layers=1,enc_width=0,enc_shared=" sh ",decoder=" dec ",recon_weight=" rw
/* Every auto-encoder kind moex has, R^2 -> R^2 (the Table 4 target). An auto-encoder layer has no
 * shared expert (moe.c refuses it); a later ordinary layer may. */
static const char *const KINDS[] = {
    /* per-expert affine encoder R^2 -> R^1, no decoder, linear router */
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0" AE1("0", "0", "0"),
    /* per-expert affine encoder R^2 -> R^2 with decoder and reconstruction, K = 2 */
    "moe:d_in=2,d_out=2,E=3,K=2,l=2,m=8,router=linear,router_width=0,surrogate=paper,shared=0,"
    "enc=2,enc_layers=1,enc_width=0,enc_shared=0,decoder=1,recon_weight=0.10000000000000001",
    /* per-expert ReLU-net encoder, decoder, mlp router */
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=mlp,router_width=5,surrogate=switch,shared=0,"
    "enc=2,enc_layers=2,enc_width=5,enc_shared=0,decoder=1,recon_weight=0.5",
    /* per-expert ReLU-net encoder of 3 layers, no decoder, mlp router, K = 2 */
    "moe:d_in=2,d_out=2,E=4,K=2,l=1,m=0,router=mlp,router_width=4,surrogate=paper,shared=0,"
    "enc=1,enc_layers=3,enc_width=4,enc_shared=0,decoder=0,recon_weight=0",
    /* shared affine encoder, no decoder, linear router */
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0" AE1("1", "0", "0"),
    /* shared ReLU-net encoder with decoder, mlp router, K = 2 */
    "moe:d_in=2,d_out=2,E=3,K=2,l=2,m=6,router=mlp,router_width=5,surrogate=paper,shared=0,"
    "enc=2,enc_layers=2,enc_width=6,enc_shared=1,decoder=1,recon_weight=0.25",
    /* shared affine encoder, a decoder that the loss does not weigh (recon_weight 0) */
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0" AE1("1", "1", "0"),
    /* a deep stack: auto-encoder layer, dense layer, auto-encoder layer, ordinary MoE with a shared expert */
    "moe:d_in=2,d_out=3,E=3,K=1,l=2,m=6,router=linear,router_width=0,surrogate=switch,shared=0,"
    "enc=2,enc_layers=2,enc_width=4,enc_shared=0,decoder=1,recon_weight=0.20000000000000001;"
    "dense:d_in=3,d_out=3,l=2,m=6;"
    "moe:d_in=3,d_out=2,E=2,K=2,l=2,m=6,router=mlp,router_width=4,surrogate=paper,shared=0,"
    "enc=1,enc_layers=1,enc_width=0,enc_shared=1,decoder=1,recon_weight=0.050000000000000003;"
    "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=6,router=linear,router_width=0,surrogate=switch,shared=1",
};
#define N_KINDS (sizeof KINDS / sizeof *KINDS)
#define N_TIED 5 /* kinds whose first layer has a linear router (save-check adds a tied variant) */

/* each kind's fit seed: one whose fitted run routes the evaluation grid over two paths or more */
static const unsigned long SEED[N_KINDS] = {100, 21, 22, 23, 24, 25, 26, 107};

/* Fits every kind briefly (Adam, 40 steps) on the Table 4 target and records it through
 * exprun_fit, as the experiment binaries do (autoenc among them), into dir/ae.h5. */
static void make_fixture(void) {
  exprun_data_t d = fixture_data();
  torchutil_fit_kinds(&d, "ae.h5", "torch_ae_kinds", "ae", KINDS, SEED, N_KINDS);
  fixture_data_free(&d);
}

static void setup(void) {
  torch_check();
  if (!torch_ok) return;
  snprintf(dir, sizeof dir, "/tmp/moex-torch-ae-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  make_fixture();
}

static void teardown(void) {
  if (!torch_ok) return;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}

/* The spec text: spectext.c and moex_torch.py read each kind and write it back unchanged, agree
 * on a recon_weight written otherwise (1e-3 -> 0.001, enc_width of a 1-layer encoder -> 0), and
 * both refuse an incomplete or inconsistent set of auto-encoder fields. */
START_TEST(test_ae_spec_text) {
  REQUIRE_TORCH();
  static const char *const loose[] = {
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0,"
      "enc=1,enc_layers=1,enc_width=7,enc_shared=0,decoder=1,recon_weight=1e-3",
      "moe:d_in=2,d_out=2,E=3,K=1,l=1,m=0,router=linear,router_width=0,surrogate=switch,shared=0,"
      "recon_weight=0.3,decoder=1,enc_shared=1,enc_width=3,enc_layers=2,enc=4",
  };
  static const char *const bad[] = {
      /* one field missing: all or none */
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0,"
      "enc=1,enc_layers=1,enc_width=0,enc_shared=0,decoder=0",
      /* enc = 0 with the fields */
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0,"
      "enc=0,enc_layers=1,enc_width=0,enc_shared=0,decoder=0,recon_weight=0",
      /* a reconstruction weight without a decoder */
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0" AE1("0", "0", "0.5"),
      /* with a shared expert */
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=1" AE1("0", "0", "0"),
      /* a ReLU-net encoder of width 0, a non-finite or negative weight, decoder 2 */
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0,"
      "enc=1,enc_layers=2,enc_width=0,enc_shared=0,decoder=0,recon_weight=0",
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0" AE1("0", "1", "inf"),
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0" AE1("0", "1", "-0.5"),
      "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0" AE1("0", "2", "0"),
      /* on a dense layer */
      "dense:d_in=2,d_out=2,l=2,m=8" AE1("0", "0", "0"),
  };
  char cmd[16384], want[8192], buf[4096];
  size_t k = (size_t)snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py spec", python());
  want[0] = '\0';
  for (size_t i = 0; i < N_KINDS + 2; i++) {
    const char *t = i < N_KINDS ? KINDS[i] : loose[i - N_KINDS];
    moe_spec_t s;
    ck_assert_msg(spectext_parse(t, &s) == 0, "%s: %s", t, moex_errmsg());
    ck_assert_int_eq(spectext_format(&s, buf, sizeof buf), 0);
    if (i < N_KINDS) ck_assert_str_eq(buf, t);
    k += (size_t)snprintf(cmd + k, sizeof cmd - k, " '%s'", t);
    strcat(want, buf);
    strcat(want, "\n");
  }
  ck_assert_msg(strstr(want, "enc_width=0,enc_shared=0,decoder=1,recon_weight=0.001\n") != NULL, "%s", want);
  ck_assert_int_lt(k, sizeof cmd);
  ck_assert_msg(run_logged(cmd) == 0, "%s", log_text());
  ck_assert_str_eq(log_text(), want);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    moe_spec_t s;
    ck_assert_msg(spectext_parse(bad[i], &s) != 0, "spectext took '%s'", bad[i]);
    snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py spec '%s'", python(), bad[i]);
    ck_assert_msg(run_logged(cmd) == 2 && !strncmp(log_text(), "error: model spec: layer 0: ", 28),
                  "moex_torch.py took '%s': %s", bad[i], log_text());
  }
}
END_TEST

/* moex -> PyTorch: every kind's module reproduces the stored predictions and paths, and its spec
 * text the stored one; a copy of the file whose encoders' first biases moved by 1e-9 fails the
 * same check on every run, and so does one whose output biases moved. */
START_TEST(test_ae_load_matches) {
  REQUIRE_TORCH();
  char cmd[1024], want[128];
  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py verify %s/ae.h5 --tol 1e-12 --perturbed 1e-9 %s/bad.h5 "
           "--perturb-what enc", python(), dir, dir);
  torch_expect_within(cmd, "verify", N_KINDS, "runs");
  /* every fitted run routes the evaluation points over two paths or more (so that the paths
   * check compares choices, not one constant) */
  size_t multi = 0;
  const char *end = strstr(log_text(), "\nverify: ");
  for (const char *p = log_text(); (p = strstr(p, "paths same (")) != NULL && p < end; p++) multi += atoi(p + 12) >= 2;
  ck_assert_msg(multi == N_KINDS, "%zu of %zu runs route over two paths or more:\n%s", multi, N_KINDS, log_text());
  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py verify %s/ae.h5 --tol 1e-12 --perturbed 1e-9 %s/bad2.h5", python(),
           dir, dir);
  ck_assert_msg(run_logged(cmd) == 0, "verify (output biases moved) failed:\n%s", log_text());
  snprintf(want, sizeof want, "\nverify perturbed by 1e-09: 0 of %zu runs within 1e-12", N_KINDS);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
}
END_TEST

/* PyTorch -> moex: a fresh module of every kind (and a tied-router variant of those whose first
 * router is linear), saved and measured by moex-eval, gives the module's predictions and paths,
 * and moex-eval writes back every tensor, decoders included, bit for bit; the module moved by
 * 1e-9 after saving no longer matches. */
START_TEST(test_ae_save_eval_matches) {
  REQUIRE_TORCH();
  torch_save_check("ae.h5", N_KINDS + N_TIED);
}
END_TEST

/* The autoenc experiment's own records (--quick: every auto-encoder model of Sec. 4.3 beside
 * moe2 and dense, on S^d in R^16 and R^64): every run rebuilt within 1e-12 with its paths. */
START_TEST(test_ae_autoenc_records) {
  REQUIRE_TORCH();
  testutil_require_bin("autoenc");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/autoenc --quick --quiet --jobs 2 --out %s/autoenc.h5", testutil_bindir(), dir);
  ck_assert_msg(run_logged(cmd) == 0, "%s", log_text());
  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py verify %s/autoenc.h5 --tol 1e-12", python(), dir);
  int st = run_logged(cmd);
  ck_assert_msg(st == 0, "verify failed:\n%s", log_text());
  const char *sum = strstr(log_text(), "\nverify: ");
  ck_assert_ptr_nonnull(sum);
  int good = 0, n = -1;
  ck_assert_int_eq(sscanf(sum, "\nverify: %d of %d runs", &good, &n), 2);
  fprintf(stderr, "autoenc --quick: %s\n", sum + 1);
  ck_assert_msg(good == n && n >= 100, "%s", sum);
  /* per-expert and shared encoders, with and without decoders, among them */
  static const char *const kinds[] = {"-pe) ", "-sh) ", "-pe+dec) ", "-sh+dec) "};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    ck_assert_msg(strstr(log_text(), kinds[i]) != NULL, "no %s run:\n%s", kinds[i], log_text());
}
END_TEST

Suite *torch_ae_suite(void) {
  Suite *s = testutil_suite_create("torch_ae");
  TCase *t = testutil_tcase(s, "pytorch_ae", 300, test_ae_spec_text, test_ae_load_matches, test_ae_save_eval_matches,
                            test_ae_autoenc_records);
  tcase_add_unchecked_fixture(t, setup, teardown);
  return s;
}
