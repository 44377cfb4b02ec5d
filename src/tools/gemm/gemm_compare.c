/* gemm_compare: the small products of moex's experts timed in one process, interleaved, under
 * moex's own loops (core/kernels.c, called through kern_mm/kern_mtm as the model calls them),
 * OpenBLAS, GSL's reference CBLAS (each opened with dlopen, RTLD_LOCAL, so that their cblas_dgemm
 * do not clash), BLIS (its own typed API, bli_dgemm: BLIS's cblas_dgemm calls dgemm_, which the
 * loader resolves to OpenBLAS's in this process) and libxsmm (JIT kernels, linked statically). Not part of
 * `make all` (it needs libxsmm-dev and libblis-dev): `make gemm-compare`, see README
 * "Performance". One thread everywhere. For each layer shape (n rows, out, in) three products:
 *   fwd  C (n, out) = X (n, in) W^T        (kern_mm, bt = 1: the forward)
 *   dx   C (n, in)  = dZ (n, out) W        (kern_mm, bt = 0: the input gradient)
 *   dw   G (out, in) = dZ^T X              (kern_mtm: the weight gradient)
 * Prints, per shape and product, the median ns per call of each library (rounds interleave the
 * libraries, rotating their order), its ratio to moex's loops and whether its result has the same
 * bits as moex's current path (kern_*, which itself calls OpenBLAS for the larger shapes). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxsmm.h>

#include "core/kernels.h"

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                         double *, int);

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e9 * (double)ts.tv_sec + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double med(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

enum { L_MOEX, L_OPENBLAS, L_GSL, L_BLIS, L_XSMM, NL };
static const char *lname[NL] = {"moex", "openblas", "gslcblas", "blis", "libxsmm"};
static dgemm_fn cb[NL];
typedef void (*bli_dgemm_fn)(int, int, int64_t, int64_t, int64_t, const double *, const double *, int64_t, int64_t,
                             const double *, int64_t, int64_t, const double *, double *, int64_t, int64_t);
static bli_dgemm_fn bli;

typedef struct {
  size_t n, out, in;
  int kind; /* 0 fwd, 1 dx, 2 dw */
  const double *X, *W, *dZ;
  double *C[NL];
  libxsmm_dmmfunction xk;
  double *Wt; /* W^T (in, out) for libxsmm's fwd, made once (not timed) */
} prob;

static void run(prob *p, int lib) {
  int n = (int)p->n, o = (int)p->out, i = (int)p->in;
  double *C = p->C[lib];
  if (lib == L_MOEX) {
    if (p->kind == 0) kern_mm(p->n, p->out, p->in, p->X, p->W, 1, NULL, 0, 0, C);
    else if (p->kind == 1) kern_mm(p->n, p->in, p->out, p->dZ, p->W, 0, NULL, 0, 0, C);
    else { memset(C, 0, p->out * p->in * sizeof *C); kern_mtm(p->n, p->out, p->in, p->dZ, p->X, C, NULL); }
    return;
  }
  if (lib == L_XSMM) {
    /* column-major: fwd C^T (out x n) = Wt^T... as NN on W^T: C^T = W A^T with W given as Wt (in, out) row-major
     * = (out x in) column-major; dx: C^T (in x n) = W^T dZ^T, W row-major (out, in) = (in x out) col-major;
     * dw: G^T (in x out) = X^T dZ, X row-major = (in x n) col-major, dZ row-major (n, out) = (out x n) col-major,
     * so dZ needs a transpose: the kernel is dispatched with TRANS_B */
    if (p->kind == 0) p->xk(p->Wt, p->X, C);
    else if (p->kind == 1) p->xk(p->W, p->dZ, C);
    else p->xk(p->X, p->dZ, C);
    return;
  }
  if (lib == L_BLIS) {
    const double one = 1.0, zero = 0.0; /* trans_t: 0 none, 8 transpose; row-major: (rs, cs) = (ld, 1) */
    if (p->kind == 0) bli(0, 8, n, o, i, &one, p->X, i, 1, p->W, i, 1, &zero, C, o, 1);
    else if (p->kind == 1) bli(0, 0, n, i, o, &one, p->dZ, o, 1, p->W, i, 1, &zero, C, i, 1);
    else bli(8, 0, o, i, n, &one, p->dZ, o, 1, p->X, i, 1, &zero, C, i, 1);
    return;
  }
  if (p->kind == 0) cb[lib](RowMajor, NoTrans, Trans, n, o, i, 1.0, p->X, i, p->W, i, 0.0, C, o);
  else if (p->kind == 1) cb[lib](RowMajor, NoTrans, NoTrans, n, i, o, 1.0, p->dZ, o, p->W, i, 0.0, C, i);
  else cb[lib](RowMajor, Trans, NoTrans, o, i, n, 1.0, p->dZ, o, p->X, i, 0.0, C, i);
}

static void *open_cblas(const char *path, int lib) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) return NULL;
  cb[lib] = (dgemm_fn)dlsym(h, "cblas_dgemm");
  if (lib == L_BLIS) bli = (bli_dgemm_fn)dlsym(h, "bli_dgemm");
  void (*set)(int) = (void (*)(int))dlsym(h, lib == L_BLIS ? "bli_thread_set_num_threads" : "openblas_set_num_threads");
  if (set) set(1);
  return cb[lib] && (lib != L_BLIS || bli) ? h : NULL;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 101;
  if (rounds < 5) rounds = 5;
  /* the model's own path (kern_*) links OpenBLAS's cblas_dgemm (the default build) */
  cb[L_OPENBLAS] = NULL;
  int have[NL] = {1, 0, 0, 0, 0};
  have[L_OPENBLAS] = open_cblas("libopenblas.so.0", L_OPENBLAS) != NULL;
  have[L_GSL] = open_cblas("libgslcblas.so.0", L_GSL) != NULL;
  have[L_BLIS] = open_cblas("libblis.so.4", L_BLIS) != NULL;
  libxsmm_init();
  have[L_XSMM] = 1;
  const size_t shapes[][3] = {{32, 10, 128}, {128, 10, 128}, {128, 4, 128},  {128, 128, 2},
                              {128, 2, 128}, {4096, 128, 2}, {4096, 2, 128}, {64, 64, 64}, {128, 128, 128}};
  const char *kname[3] = {"fwd", "dx", "dw"};
  printf("shape(n,out,in)\tproduct\tflops");
  for (int l = 0; l < NL; l++) printf("\t%s_ns\t%s_same_bits", lname[l], lname[l]);
  printf("\n");
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    size_t n = shapes[s][0], o = shapes[s][1], in = shapes[s][2];
    double *X = malloc(n * in * sizeof *X), *W = malloc(o * in * sizeof *W), *dZ = malloc(n * o * sizeof *dZ);
    double *Wt = malloc(o * in * sizeof *Wt);
    for (size_t k = 0; k < n * in; k++) X[k] = sin(0.37 * (double)k) + 0.1;
    for (size_t k = 0; k < o * in; k++) W[k] = cos(0.11 * (double)k) * 0.3;
    for (size_t k = 0; k < n * o; k++) dZ[k] = sin(0.71 * (double)k + 1.0) * 0.2;
    for (size_t a = 0; a < o; a++)
      for (size_t b = 0; b < in; b++) Wt[b * o + a] = W[a * in + b];
    for (int kind = 0; kind < 3; kind++) {
      prob p = {.n = n, .out = o, .in = in, .kind = kind, .X = X, .W = W, .dZ = dZ, .Wt = Wt};
      size_t csz = kind == 0 ? n * o : kind == 1 ? n * in : o * in;
      for (int l = 0; l < NL; l++) p.C[l] = calloc(csz, sizeof(double));
      double alpha = 1.0, beta = 0.0;
      int flags = kind == 2 ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
      libxsmm_blasint M, N, K, lda, ldb, ldc;
      if (kind == 0) { M = (libxsmm_blasint)o; N = (libxsmm_blasint)n; K = (libxsmm_blasint)in; lda = M; ldb = K; ldc = M; }
      else if (kind == 1) { M = (libxsmm_blasint)in; N = (libxsmm_blasint)n; K = (libxsmm_blasint)o; lda = M; ldb = K; ldc = M; }
      else { M = (libxsmm_blasint)in; N = (libxsmm_blasint)o; K = (libxsmm_blasint)n; lda = M; ldb = N; ldc = M; }
      p.xk = libxsmm_dmmdispatch(M, N, K, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
      int hv[NL];
      memcpy(hv, have, sizeof hv);
      if (!p.xk) hv[L_XSMM] = 0;
      double flops = 2.0 * (double)n * (double)o * (double)in;
      /* calls per timed batch: about 20 us of moex's loops */
      run(&p, L_MOEX);
      double t0 = now_ns();
      for (int k = 0; k < 10; k++) run(&p, L_MOEX);
      double per = (now_ns() - t0) / 10.0;
      int reps = per > 20000.0 ? 1 : (int)(20000.0 / per) + 1;
      double *dt[NL];
      for (int l = 0; l < NL; l++) dt[l] = calloc((size_t)rounds, sizeof(double));
      for (int l = 0; l < NL; l++)
        if (hv[l]) run(&p, l); /* warm-up (and libxsmm's JIT) */
      for (int r = 0; r < rounds; r++)
        for (int j = 0; j < NL; j++) {
          int l = (j + r) % NL;
          if (!hv[l]) continue;
          double a = now_ns();
          for (int k = 0; k < reps; k++) run(&p, l);
          dt[l][r] = (now_ns() - a) / (double)reps;
        }
      printf("%zux%zux%zu\t%s\t%.0f", n, o, in, kname[kind], flops);
      for (int l = 0; l < NL; l++) {
        if (!hv[l]) { printf("\t-\t-"); continue; }
        run(&p, l);
        int same;
        same = memcmp(p.C[l], p.C[L_MOEX], csz * sizeof(double)) == 0;
        printf("\t%.0f\t%s", med(dt[l], rounds), same ? "yes" : "no");
      }
      printf("\n");
      fflush(stdout);
      for (int l = 0; l < NL; l++) { free(dt[l]); free(p.C[l]); }
    }
    free(X); free(W); free(dZ); free(Wt);
  }
  /* Bit identity of libxsmm and OpenBLAS where it matters: an expert's rows are the samples
   * routed to it, any count from 1 to the batch, so each layer shape at every row count */
  const size_t fam[][2] = {{10, 128}, {4, 128}, {64, 64}, {128, 10}};
  printf("\nlibxsmm against OpenBLAS, same bits over rows n = 1..128 (out, in; fwd, dx, dw):\n");
  for (size_t f = 0; f < sizeof fam / sizeof *fam; f++) {
    size_t o = fam[f][0], in = fam[f][1];
    int same[3] = {0, 0, 0}, tried[3] = {0, 0, 0};
    for (size_t n = 1; n <= 128; n++) {
      double *X = malloc(n * in * sizeof *X), *W = malloc(o * in * sizeof *W), *dZ = malloc(n * o * sizeof *dZ);
      double *Wt = malloc(o * in * sizeof *Wt);
      for (size_t k = 0; k < n * in; k++) X[k] = sin(0.37 * (double)k) + 0.1;
      for (size_t k = 0; k < o * in; k++) W[k] = cos(0.11 * (double)k) * 0.3;
      for (size_t k = 0; k < n * o; k++) dZ[k] = sin(0.71 * (double)k + 1.0) * 0.2;
      for (size_t a = 0; a < o; a++)
        for (size_t b = 0; b < in; b++) Wt[b * o + a] = W[a * in + b];
      for (int kind = 0; kind < 3; kind++) {
        prob p = {.n = n, .out = o, .in = in, .kind = kind, .X = X, .W = W, .dZ = dZ, .Wt = Wt};
        size_t csz = kind == 0 ? n * o : kind == 1 ? n * in : o * in;
        p.C[L_OPENBLAS] = calloc(csz, sizeof(double));
        p.C[L_XSMM] = calloc(csz, sizeof(double));
        double alpha = 1.0, beta = 0.0;
        int flags = kind == 2 ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
        libxsmm_blasint M, N, K, lda, ldb, ldc;
        if (kind == 0) { M = (libxsmm_blasint)o; N = (libxsmm_blasint)n; K = (libxsmm_blasint)in; lda = M; ldb = K; ldc = M; }
        else if (kind == 1) { M = (libxsmm_blasint)in; N = (libxsmm_blasint)n; K = (libxsmm_blasint)o; lda = M; ldb = K; ldc = M; }
        else { M = (libxsmm_blasint)in; N = (libxsmm_blasint)o; K = (libxsmm_blasint)n; lda = M; ldb = N; ldc = M; }
        p.xk = libxsmm_dmmdispatch(M, N, K, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
        if (p.xk && have[L_OPENBLAS]) {
          run(&p, L_OPENBLAS);
          run(&p, L_XSMM);
          tried[kind]++;
          same[kind] += memcmp(p.C[L_OPENBLAS], p.C[L_XSMM], csz * sizeof(double)) == 0;
        }
        free(p.C[L_OPENBLAS]);
        free(p.C[L_XSMM]);
      }
      free(X); free(W); free(dZ); free(Wt);
    }
    printf("(%zu, %zu)\tfwd %d of %d\tdx %d of %d\tdw %d of %d\n", o, in, same[0], tried[0], same[1], tried[1], same[2],
           tried[2]);
  }
  libxsmm_finalize();
  return 0;
}
