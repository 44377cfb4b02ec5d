/* Auto-encoder experts (issue 21): finite-difference gradients of every encoder kind and of the
 * reconstruction term, the term's value by hand, parameter counts, the spec text, and a linear
 * per-expert encoder trained with the reconstruction loss recovering a d-plane in R^D. */
#include "testutil.h"
#include "fitutil.h"
#include "fdcheck.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_rng.h>

#include "analysis/chartfit.h"
#include "core/moex_error.h"
#include "lib/exprun.h"
#include "lib/modelio.h"
#include "lib/reach.h"
#include "fit/fit.h"
#include "fit/fit_moe.h"
#include "model/moe.h"
#include "model/spectext.h"
#include "model/train.h"

START_TEST(test_grad_linear_per_expert) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(6, 2, 3, 5);
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 0, 0.0);
  fd_check_spec(&s, 17, 3, 1);
}
END_TEST

START_TEST(test_grad_relu_per_expert_recon) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(6, 1, 3, 4);
  moe_layer_set_autoenc(&s.layer[0], 3, 2, 5, 0, 0.7);
  fd_check_spec(&s, 19, 5, 1);
}
END_TEST

START_TEST(test_grad_shared_recon_k2) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(5, 2, 4, 3);
  s.layer[0].top_k = 2;
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 1, 1.3);
  fd_check_spec(&s, 15, 7, 1);
  moe_layer_set_autoenc(&s.layer[0], 2, 2, 4, 1, 0.4); /* shared ReLU encoder */
  fd_check_spec(&s, 15, 8, 1);
}
END_TEST

START_TEST(test_grad_per_expert_recon_k2_paper) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(5, 1, 3, 3);
  s.layer[0].top_k = 2;
  s.layer[0].surrogate = GATE_PAPER;
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 0, 2.0);
  fd_check_spec(&s, 14, 9, 1);
}
END_TEST

/* An auto-encoder layer after a dense one: the reconstruction term's gradient reaches the first
 * layer through its input x, both through Enc and directly (x is in the residual). */
START_TEST(test_grad_recon_through_input) {
  moe_spec_t s = {.n_layers = 2};
  s.layer[0] = moe_layer_dense(3, 4, 2, 5);
  s.layer[1] = moe_layer_default(4, 1, 2, 3);
  moe_layer_set_autoenc(&s.layer[1], 2, 1, 0, 0, 3.0);
  fd_check_spec(&s, 13, 11, 1);
  /* and after an MoE layer, with a shared ReLU encoder */
  s.layer[0] = moe_layer_default(3, 4, 2, 4);
  moe_layer_set_autoenc(&s.layer[1], 1, 2, 3, 1, 1.5);
  fd_check_spec(&s, 13, 12, 1);
}
END_TEST

/* The term by hand: E = 1, identity-like linear encoder/decoder set by hand, so that the
 * reconstruction of x is (x1, x2, 0) in R^3: the term is lambda * mean_s x3^2. A wrong
 * normalisation (sum instead of mean, missing lambda, divided by D) fails here, where the
 * finite differences, which see loss and gradient scaled alike, would not. */
START_TEST(test_recon_value_by_hand) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(3, 1, 1, 0);
  s.layer[0].expert_layers = 1;
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 0, 0.25);
  moe_model_t *m = moe_model_alloc(&s, 4);
  ck_assert_ptr_nonnull(m);
  moe_layer_t *L = &m->layer[0];
  double *We = m->theta + moe_layer_enc_off(L, 0), *Wd = m->theta + moe_layer_dec_off(L, 0);
  We[L->enc.w_off[0] + 0] = 1; /* z = (x1, x2) */
  We[L->enc.w_off[0] + 4] = 1;
  Wd[L->dec.w_off[0] + 0] = 1; /* x^ = (z1, z2, 0) */
  Wd[L->dec.w_off[0] + 3] = 1;
  double x[12] = {1, 2, 3, -1, 0.5, 2, 0, 0, -1, 4, 4, 0.5}, t[4] = {0, 0, 0, 0};
  double L0 = moe_model_loss_grad(m, 4, x, t); /* f = 0: the MSE part is 0 */
  double want = 0.25 * (9 + 4 + 1 + 0.25) / 4;
  ck_assert_msg(fabs(L0 - want) < 1e-15, "loss %.17g, want %.17g", L0, want);
  ck_assert_double_eq_tol(moe_model_recon_loss(m, 4), want, 1e-15);
  ck_assert_double_eq_tol(moe_model_recon_loss(m, 8), want / 2, 1e-15); /* part of a batch of 8 */
  moe_model_free(m);
}
END_TEST

START_TEST(test_param_counts) {
  /* D = 10, E = 3, experts 2 -> 4 -> 1 (17), linear encoder 10 -> 2 (22), decoder 2 -> 10 (30),
   * gate 3 x 10 */
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(10, 1, 3, 4);
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 0, 0.5);
  ck_assert_uint_eq(moe_spec_n_params(&s), 30 + 3 * (22 + 30 + 17));
  ck_assert_uint_eq(moe_spec_n_active(&s), 30 + 22 + 17);
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 1, 0.5);
  ck_assert_uint_eq(moe_spec_n_params(&s), 30 + 22 + 30 + 3 * 17);
  ck_assert_uint_eq(moe_spec_n_active(&s), 30 + 22 + 17);
  /* K = 2, no decoder: two experts' encoders per input, or the shared one once */
  s.layer[0].top_k = 2;
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 0, 0.0);
  ck_assert_uint_eq(moe_spec_n_params(&s), 30 + 3 * (22 + 17));
  ck_assert_uint_eq(moe_spec_n_active(&s), 30 + 2 * (22 + 17));
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 1, 0.0);
  ck_assert_uint_eq(moe_spec_n_params(&s), 30 + 22 + 3 * 17);
  ck_assert_uint_eq(moe_spec_n_active(&s), 30 + 22 + 2 * 17);
  /* ReLU encoder 10 -> 5 -> 2 (55 + 12) and decoder 2 -> 5 -> 10 (15 + 60), K = 1 */
  s.layer[0].top_k = 1;
  moe_layer_set_autoenc(&s.layer[0], 2, 2, 5, 0, 1.0);
  ck_assert_uint_eq(moe_spec_n_params(&s), 30 + 3 * (67 + 75 + 17));
  ck_assert_uint_eq(moe_spec_n_active(&s), 30 + 67 + 17);
  /* the model allocates what the spec counts, and the blocks tile it */
  moe_model_t *m = moe_model_alloc(&s, 8);
  ck_assert_uint_eq(m->n_params, moe_spec_n_params(&s));
  const moe_layer_t *L = &m->layer[0];
  ck_assert_uint_eq(moe_layer_enc_off(L, 0), 30);
  ck_assert_uint_eq(moe_layer_dec_off(L, 0), 30 + 67);
  ck_assert_uint_eq(moe_layer_expert_off(L, 0), 30 + 67 + 75);
  ck_assert_uint_eq(moe_layer_enc_off(L, 1), 30 + 159);
  ck_assert_uint_eq(moe_layer_expert_off(L, 2) + 17, m->n_params);
  moe_model_free(m);
}
END_TEST

static void expect_bad_spec(const moe_spec_t *s, const char *needle) {
  ck_assert_int_ne(moe_spec_validate(s), 0);
  ck_assert_msg(strstr(moex_errmsg(), needle) != NULL, "message '%s' lacks '%s'", moex_errmsg(), needle);
}

START_TEST(test_bad_specs) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(6, 1, 3, 4);
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 0, 0.5);
  s.layer[0].decoder = 0;
  expect_bad_spec(&s, "needs a decoder");
  s.layer[0].decoder = 1;
  s.layer[0].recon_weight = -1;
  expect_bad_spec(&s, "reconstruction weight -1");
  s.layer[0].recon_weight = NAN;
  expect_bad_spec(&s, "reconstruction weight nan");
  moe_layer_set_autoenc(&s.layer[0], 2, 0, 0, 0, 0.0);
  expect_bad_spec(&s, "encoder layers 0");
  moe_layer_set_autoenc(&s.layer[0], 2, 2, 0, 0, 0.0);
  expect_bad_spec(&s, "encoder width 0");
  moe_layer_set_autoenc(&s.layer[0], 2, 1, 0, 0, 0.0);
  s.layer[0].shared_expert = 1;
  expect_bad_spec(&s, "shared expert");
  s.layer[0] = moe_layer_default(6, 1, 3, 4);
  s.layer[0].enc_layers = 1;
  expect_bad_spec(&s, "encoder dimension k = 0");
  s.layer[0] = moe_layer_dense(6, 1, 2, 4);
  s.layer[0].enc_dim = 2;
  s.layer[0].enc_layers = 1;
  expect_bad_spec(&s, "is dense");
}
END_TEST

START_TEST(test_spectext_round_trip) {
  moe_spec_t s = {.n_layers = 2}, back;
  s.layer[0] = moe_layer_default(16, 4, 3, 8);
  moe_layer_set_autoenc(&s.layer[0], 3, 2, 7, 0, 0.1);
  s.layer[1] = moe_layer_default(4, 1, 2, 5);
  moe_layer_set_autoenc(&s.layer[1], 1, 1, 0, 1, 0.0);
  char text[1024], again[1024];
  ck_assert_int_eq(spectext_format(&s, text, sizeof text), 0);
  ck_assert_ptr_nonnull(strstr(text, "enc=3,enc_layers=2,enc_width=7,enc_shared=0,decoder=1,recon_weight=0.1"));
  ck_assert_int_eq(spectext_parse(text, &back), 0);
  ck_assert_uint_eq(back.layer[0].enc_dim, 3);
  ck_assert_uint_eq(back.layer[0].enc_width, 7);
  ck_assert(back.layer[0].recon_weight == 0.1); /* %.17g: the same double */
  ck_assert_int_eq(back.layer[1].enc_shared, 1);
  ck_assert_int_eq(back.layer[1].decoder, 0);
  ck_assert_uint_eq(moe_spec_n_params(&back), moe_spec_n_params(&s));
  ck_assert_int_eq(spectext_format(&back, again, sizeof again), 0);
  ck_assert_str_eq(text, again);
  /* an ordinary layer's text has no auto-encoder fields (older records read the same) */
  s.layer[0] = moe_layer_default(16, 4, 3, 8);
  ck_assert_int_eq(spectext_format(&s, text, sizeof text), 0);
  const char *want = "moe:d_in=16,d_out=4,E=3,K=1,l=2,m=8,router=linear,router_width=0,surrogate=switch,shared=0;";
  ck_assert_int_eq(strncmp(text, want, strlen(want)), 0);
}
END_TEST

START_TEST(test_spectext_bad) {
  const char *base = "moe:d_in=6,d_out=1,E=3,K=1,l=2,m=4,router=linear,router_width=0,surrogate=switch,shared=0";
  const char *bad[][2] = {
      {",enc=2,enc_layers=1,enc_width=0,enc_shared=0,decoder=1,recon_weight=-0.5", "recon_weight = '-0.5'"},
      {",enc=2,enc_layers=1,enc_width=0,enc_shared=0,decoder=1,recon_weight=nan", "recon_weight = 'nan'"},
      {",enc=2,enc_layers=1,enc_width=0,enc_shared=0,decoder=1,recon_weight=1x", "recon_weight = '1x'"},
      {",enc=2,enc_layers=1,enc_width=0,enc_shared=2,decoder=1,recon_weight=1", "enc_shared = '2'"},
      {",enc=2,enc_layers=1,enc_width=0,enc_shared=0,decoder=0,recon_weight=1", "needs a decoder"},
      {",enc=2,enc_layers=1,enc_width=0,enc_shared=0,decoder=1", "'recon_weight' is missing"},
      {",recon_weight=0.5", "'enc' is missing"},
      {",enc=0,enc_layers=1,enc_width=0,enc_shared=0,decoder=0,recon_weight=0", "enc = 0"},
      {",enc=-1,enc_layers=1,enc_width=0,enc_shared=0,decoder=0,recon_weight=0", "enc = '-1'"},
  };
  char text[512];
  moe_spec_t s;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(text, sizeof text, "%s%s", base, bad[i][0]);
    ck_assert_msg(spectext_parse(text, &s) != 0, "accepted '%s'", text);
    ck_assert_msg(strstr(moex_errmsg(), bad[i][1]) != NULL, "'%s': message '%s' lacks '%s'", text, moex_errmsg(), bad[i][1]);
  }
  ck_assert_int_ne(spectext_parse("dense:d_in=2,d_out=1,l=1,m=0,enc=1", &s), 0);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "unknown field 'enc' for a dense layer"));
}
END_TEST

/* sin of the largest principal angle between span(U) (D x d, orthonormal columns) and the
 * column space of A (D x k, k >= d, of rank d): A's leading d left singular vectors Q (GSL
 * SVD), then the largest singular value of (I - U U^T) Q (the sine, accurate for small angles,
 * unlike the arccos of U^T Q's). */
static double max_angle_sin(const gsl_matrix *U, const gsl_matrix *A) {
  size_t D = A->size1, k = A->size2, d = U->size2;
  gsl_matrix *Q = gsl_matrix_alloc(D, k), *V = gsl_matrix_alloc(k, k), *R = gsl_matrix_alloc(D, d);
  gsl_vector *S = gsl_vector_alloc(k), *w = gsl_vector_alloc(k);
  gsl_matrix_memcpy(Q, A);
  gsl_linalg_SV_decomp(Q, V, S, w);
  gsl_matrix_view Qd = gsl_matrix_submatrix(Q, 0, 0, D, d);
  /* R = Qd - U (U^T Qd) */
  gsl_matrix *UtQ = gsl_matrix_alloc(d, d);
  gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, U, &Qd.matrix, 0.0, UtQ);
  gsl_matrix_memcpy(R, &Qd.matrix);
  gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, -1.0, U, UtQ, 1.0, R);
  gsl_matrix *V2 = gsl_matrix_alloc(d, d);
  gsl_vector *S2 = gsl_vector_alloc(d), *w2 = gsl_vector_alloc(d);
  gsl_linalg_SV_decomp(R, V2, S2, w2);
  double s = gsl_vector_get(S2, 0);
  gsl_matrix_free(Q); gsl_matrix_free(V); gsl_matrix_free(R); gsl_matrix_free(UtQ); gsl_matrix_free(V2);
  gsl_vector_free(S); gsl_vector_free(w); gsl_vector_free(S2); gsl_vector_free(w2);
  return s;
}

/* Data on a d-plane through 0 in R^D (orthonormal basis U from a QR of a random matrix), target
 * linear in the plane's coordinates; one MoE layer of E = 2 experts with per-expert linear
 * encoders R^D -> R^d and decoders, the router frozen (paper surrogate, K = 1), fitted by lbfgs (bfgs2 stalls at loss 2e-12, an angle of 6e-6; lbfgs reaches 1e-27).
 * Returns the largest sine over the experts of the principal angles between the decoder's range
 * and the plane; *enc_min the smallest singular value of W_enc U (the encoder is injective on
 * the plane when it is bounded away from 0). */
static double fit_plane(double lambda, double *enc_min) {
  const size_t D = 8, d = 2, n = 240, E = 2;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 42);
  gsl_matrix *U = gsl_matrix_alloc(D, d), *Uq = gsl_matrix_alloc(D, D), *Rr = gsl_matrix_alloc(D, d);
  gsl_vector *tau = gsl_vector_alloc(d);
  for (size_t i = 0; i < D * d; i++) U->data[i] = gsl_rng_uniform(r) - 0.5;
  gsl_linalg_QR_decomp(U, tau);
  gsl_linalg_QR_unpack(U, tau, Uq, Rr);
  gsl_matrix_view Ud = gsl_matrix_submatrix(Uq, 0, 0, D, d);
  gsl_matrix_memcpy(U, &Ud.matrix);
  double *x = malloc(n * D * sizeof *x), *y = malloc(n * sizeof *y);
  for (size_t s = 0; s < n; s++) {
    double a[2] = {2 * gsl_rng_uniform(r) - 1, 2 * gsl_rng_uniform(r) - 1};
    for (size_t j = 0; j < D; j++) x[s * D + j] = gsl_matrix_get(U, j, 0) * a[0] + gsl_matrix_get(U, j, 1) * a[1];
    y[s] = 0.5 * a[0] - 0.3 * a[1];
  }
  moe_spec_t spec = {.n_layers = 1};
  spec.layer[0] = moe_layer_default(D, 1, E, 0);
  spec.layer[0].expert_layers = 1;
  spec.layer[0].surrogate = GATE_PAPER;
  moe_layer_set_autoenc(&spec.layer[0], d, 1, 0, 0, lambda);
  spec.layer[0].decoder = 1; /* also when lambda = 0: the broken case trains no decoder */
  moe_model_t *m = moe_model_alloc(&spec, n);
  ck_assert_ptr_nonnull(m);
  moe_model_init_params(m, 7);
  train_data_t td = {.n = n, .d_in = D, .d_out = 1, .x = x, .y = y};
  train_ctx_t tc;
  objective_t obj;
  ck_assert_int_eq(train_objective_init(&tc, &obj, m, &td), 0);
  ck_assert(lambda > 0 ? obj.residual == NULL : obj.residual != NULL);
  fit_settings fs = fitutil_settings("lbfgs");
  fs.max_iter = 20000;
  fs.gtol = 1e-14;
  fs.ftol = 0;
  fit_result *res = fit_result_alloc();
  /* restarts from the iterate (fresh curvature memory) while the loss still halves */
  double prev = INFINITY;
  for (int k = 0; k < 8; k++) {
    ck_assert_int_eq(fit_run(&obj, m->theta, &fs, res), 0);
    if (getenv("FD_DEBUG")) fprintf(stderr, "plane fit: %s, loss %.3g after %zu iterations\n", fit_stop_name(res->stop), res->loss, res->iters);
    if (!(res->loss < 0.5 * prev)) break;
    prev = res->loss;
  }
  moe_model_forward(m, n, x);
  const size_t *cnt = moe_model_layer_counts(m, 0);
  double worst = 0;
  *enc_min = INFINITY;
  const moe_layer_t *L = &m->layer[0];
  for (size_t e = 0; e < E; e++) {
    ck_assert_uint_ge(cnt[e], 20); /* both experts serve a part of the plane */
    gsl_matrix_view Wd = gsl_matrix_view_array(m->theta + moe_layer_dec_off(L, e) + L->dec.w_off[0], D, d);
    double sn = max_angle_sin(U, &Wd.matrix);
    if (sn > worst) worst = sn;
    gsl_matrix_view We = gsl_matrix_view_array(m->theta + moe_layer_enc_off(L, e) + L->enc.w_off[0], d, D);
    gsl_matrix *WU = gsl_matrix_alloc(d, d), *V = gsl_matrix_alloc(d, d);
    gsl_vector *S = gsl_vector_alloc(d), *w = gsl_vector_alloc(d);
    gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, &We.matrix, U, 0.0, WU);
    gsl_linalg_SV_decomp(WU, V, S, w);
    if (gsl_vector_get(S, d - 1) < *enc_min) *enc_min = gsl_vector_get(S, d - 1);
    gsl_matrix_free(WU); gsl_matrix_free(V); gsl_vector_free(S); gsl_vector_free(w);
  }
  fit_result_free(res);
  train_ctx_free(&tc);
  moe_model_free(m);
  free(x); free(y);
  gsl_matrix_free(U); gsl_matrix_free(Uq); gsl_matrix_free(Rr); gsl_vector_free(tau);
  gsl_rng_free(r);
  return worst;
}

START_TEST(test_plane_recovered) {
  double enc_min, s = fit_plane(1.0, &enc_min);
  if (getenv("FD_DEBUG")) fprintf(stderr, "plane: largest principal angle sine %.3g, encoder smallest singular value %.3g\n", s, enc_min);
  ck_assert_msg(s < 1e-6, "largest principal angle sine %.3g", s);
  ck_assert_msg(enc_min > 1e-3, "encoder not injective on the plane (smallest singular value %.3g)", enc_min);
  /* broken: without the reconstruction term the decoders stay at their random start */
  double s0 = fit_plane(0.0, &enc_min);
  ck_assert_msg(s0 > 0.1, "untrained decoders within %.3g of the plane", s0);
}
END_TEST

/* The tensors in the record: each expert's encoder and decoder under its group (a shared one
 * under the layer), named `enc`/`dec`; read back by modelio bit for bit. */
static int has_array(const record_run *r, const char *path) {
  for (size_t i = 0; i < r->n_arrays; i++)
    if (!strcmp(r->arrays[i]->path, path)) return 1;
  return 0;
}

START_TEST(test_record_round_trip) {
  for (int shared = 0; shared < 2; shared++) {
    moe_spec_t s = {.n_layers = 1};
    s.layer[0] = moe_layer_default(7, 1, 3, 4);
    moe_layer_set_autoenc(&s.layer[0], 2, 2, 5, shared, 0.3);
    moe_model_t *m = moe_model_alloc(&s, 8);
    moe_model_init_params(m, 13);
    record_run *r = record_run_alloc("r1");
    ck_assert_int_eq(exprun_record_params(m, r), 0);
    const char *want[] = {"params/layer0/expert1/enc/W1", "params/layer0/expert1/enc/b2", "params/layer0/expert2/dec/W2",
                          "params/layer0/enc/W1", "params/layer0/dec/b2"};
    for (size_t i = 0; i < 5; i++)
      ck_assert_msg(has_array(r, want[i]) == (shared ? i >= 3 : i < 3), "shared %d: %s", shared, want[i]);
    ck_assert(has_array(r, "params/layer0/expert2/W2"));
    moe_model_t *b = modelio_load(r, 8);
    ck_assert_msg(b != NULL, "%s", moex_errmsg());
    ck_assert_uint_eq(b->n_params, m->n_params);
    ck_assert_int_eq(memcmp(b->theta, m->theta, m->n_params * sizeof(double)), 0);
    ck_assert(b->spec.layer[0].recon_weight == 0.3);
    moe_model_free(b);
    record_run_free(r);
    moe_model_free(m);
  }
}
END_TEST

/* The interpretability measure: an affine image of the chart (plus a constant code column) is
 * recovered exactly; a code that carries nothing of the chart (an independent sample) is not,
 * nor one that keeps only one of the two coordinates; too few rows is an error. */
START_TEST(test_chartfit) {
  enum { N = 200 };
  double p[N * 2], z[N * 3], pred[N * 2];
  fd_fill(p, N * 2, 31);
  for (size_t i = 0; i < N; i++) {
    z[3 * i] = 0.3 * p[2 * i] - 2.0 * p[2 * i + 1] + 1.5;
    z[3 * i + 1] = 4.0;
    z[3 * i + 2] = -p[2 * i] + 0.1 * p[2 * i + 1] - 0.2;
  }
  chartfit_t cf;
  ck_assert_int_eq(chartfit_affine(z, N, 3, p, 2, pred, &cf), 0);
  ck_assert_msg(cf.r2 > 1 - 1e-12 && chartfit_recovered(cf.r2), "affine image: R^2 %.17g", cf.r2);
  for (size_t i = 0; i < N * 2; i++) ck_assert_double_eq_tol(pred[i], p[i], 1e-10);
  /* broken: an unrelated code */
  double zr[N * 2];
  fd_fill(zr, N * 2, 32);
  ck_assert_int_eq(chartfit_affine(zr, N, 2, p, 2, NULL, &cf), 0);
  ck_assert_msg(cf.r2 < 0.1 && !chartfit_recovered(cf.r2), "unrelated code: R^2 %g", cf.r2);
  /* broken: a folded code (one coordinate only): about half the variance */
  for (size_t i = 0; i < N; i++) zr[i] = p[2 * i];
  ck_assert_int_eq(chartfit_affine(zr, N, 1, p, 2, NULL, &cf), 0);
  ck_assert_msg(cf.r2 > 0.3 && cf.r2 < 0.7 && !chartfit_recovered(cf.r2), "one coordinate: R^2 %g", cf.r2);
  ck_assert_int_ne(chartfit_affine(z, 4, 3, p, 2, NULL, &cf), 0);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "4 rows"));
  ck_assert(!chartfit_recovered(NAN));
}
END_TEST

/* Fewest parameters to an error, and the verdicts, on made-up curves: a model that reaches the
 * reference error with fewer parameters, one that needs more, one that never reaches it. */
START_TEST(test_reach) {
  double err[] = {0.5, 0.2, 0.1, NAN}, par[] = {100, 200, 400, 50};
  ck_assert_double_eq(reach_min_params(err, par, 4, 0.2), 200);
  ck_assert_double_eq(reach_min_params(err, par, 4, 0.6), 100);
  ck_assert(isnan(reach_min_params(err, par, 4, 0.05)));
  ck_assert_str_eq(reach_verdict(150, 200), "fewer");
  ck_assert_str_eq(reach_verdict(200, 200), "not fewer");
  ck_assert_str_eq(reach_verdict(400, 200), "not fewer");
  ck_assert_str_eq(reach_verdict(NAN, 200), "not reached");
  ck_assert_str_eq(reach_verdict(100, NAN), "no reference");
}
END_TEST

/* The MoE protocols compute plain experts: they refuse auto-encoder layers, naming them. */
START_TEST(test_protocols_refuse) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(4, 1, 2, 3);
  moe_layer_set_autoenc(&s.layer[0], 1, 1, 0, 0, 0.0);
  moe_model_t *m = moe_model_alloc(&s, 16);
  moe_model_init_params(m, 1);
  double x[64], y[16];
  fd_fill(x, 64, 2);
  fd_fill(y, 16, 3);
  train_data_t td = {.n = 16, .d_in = 4, .d_out = 1, .x = x, .y = y};
  const char *protos[] = {"alt", "anneal", "adam+polish"};
  for (size_t i = 0; i < 3; i++) {
    fit_moe_settings ps;
    ck_assert_int_eq(fit_moe_parse(protos[i], &ps), 0);
    ps.budget = 1e6;
    fit_moe_result pr;
    memset(&pr, 0, sizeof pr);
    ck_assert_int_ne(fit_moe_run(&ps, NULL, m, &td, NULL, &pr, NULL), 0);
    ck_assert_msg(strstr(moex_errmsg(), "auto-encoder experts") != NULL, "%s: %s", protos[i], moex_errmsg());
    fit_moe_result_clear(&pr);
  }
  moe_model_free(m);
}
END_TEST

/* moex-eval on a record of auto-encoder experts: measured (exit 0); the spec text with a bad
 * value, or a missing encoder tensor: exit 2, one line naming it, nothing written. */
static void write_run(const char *path, record_run *r) {
  record_meta_in meta = {.experiment = "autoenc_eval", .grid = "", .command_line = "test_autoenc"};
  unlink(path);
  record_writer *w = record_writer_open(path, &meta, RECORD_NEW);
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(record_writer_append(w, &r, 1), 0);
  record_writer_close(w);
}

START_TEST(test_eval_spec_text) {
  char dir[] = "/tmp/moex-aenc-XXXXXX", path[256], out[256], cmd[1024], errf[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/m.h5", dir);
  snprintf(out, sizeof out, "%s/o.h5", dir);
  snprintf(errf, sizeof errf, "%s/err", dir);
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(2, 2, 3, 4);
  moe_layer_set_autoenc(&s.layer[0], 1, 2, 3, 0, 0.25);
  moe_model_t *m = moe_model_alloc(&s, 8);
  moe_model_init_params(m, 5);
  const char *edits[][2] = {
      {NULL, NULL},
      {"recon_weight=0.25", "recon_weight=-1"},
      {"enc_shared=0", "enc_shared=7"},
      {"enc=1,", "enc=0,"},
  };
  const char *want[] = {NULL, "recon_weight = '-1'", "enc_shared = '7'", "enc = 0"};
  for (size_t i = 0; i < 5; i++) {
    record_run *r = record_run_alloc("ae1");
    ck_assert_int_eq(exprun_record_params(m, r), 0);
    const char *text;
    ck_assert_int_eq(record_run_get_str(r, "model_spec", &text), 0);
    char spec[1024];
    snprintf(spec, sizeof spec, "%s", text);
    if (i >= 1 && i <= 3) {
      char *at = strstr(spec, edits[i][0]), buf[1024];
      ck_assert_ptr_nonnull(at);
      snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - spec), spec, edits[i][1], at + strlen(edits[i][0]));
      ck_assert_int_eq(record_run_set_str(r, "model_spec", buf), 0);
    }
    if (i == 4) /* an encoder tensor missing */
      for (size_t a = 0; a < r->n_arrays; a++)
        if (!strcmp(r->arrays[a]->path, "params/layer0/expert1/enc/W2")) strcpy(r->arrays[a]->path, "params/layer0/expert1/enk/W2");
    write_run(path, r);
    record_run_free(r);
    unlink(out);
    snprintf(cmd, sizeof cmd, "%s/moex-eval %s --target piecewise:E=3,L=2 --out %s > /dev/null 2> %s", testutil_bindir(), path,
             out, errf);
    int st = testutil_sh(cmd);
    if (i == 0) {
      ck_assert_msg(st == 0, "moex-eval on auto-encoder experts exited %d", st);
      continue;
    }
    FILE *f = fopen(errf, "r");
    char line[1024] = "", more[256];
    int one = f && fgets(line, sizeof line, f) && !fgets(more, sizeof more, f);
    if (f) fclose(f);
    ck_assert_msg(st == 2 && one, "case %zu: exit %d, '%s'", i, st, line);
    const char *w = i == 4 ? "params/layer0/expert1/enc/W2 is missing" : want[i];
    ck_assert_msg(!strncmp(line, "moex-eval: ", 11) && strstr(line, w), "case %zu: '%s' lacks '%s'", i, line, w);
    ck_assert_int_eq(access(out, F_OK), -1);
  }
  moe_model_free(m);
  testutil_rm_rf(dir);
}
END_TEST

Suite *autoenc_suite(void) {
  return testutil_suite("autoenc",
                        TESTUTIL_CASE("gradients", 0, test_grad_linear_per_expert, test_grad_relu_per_expert_recon,
                                      test_grad_shared_recon_k2, test_grad_per_expert_recon_k2_paper,
                                      test_grad_recon_through_input),
                        TESTUTIL_CASE("shape", 0, test_recon_value_by_hand, test_param_counts, test_bad_specs,
                                      test_spectext_round_trip, test_spectext_bad, test_record_round_trip,
                                      test_chartfit, test_reach, test_protocols_refuse),
                        /* runs moex-eval five times: slow under the sanitizers */
                        TESTUTIL_CASE("eval", 120, test_eval_spec_text),
                        TESTUTIL_CASE("plane", 120, test_plane_recovered));
}
