/* blas: the one place that knows which CBLAS moex is linked with (chosen by the Makefile's
 * BLAS variable: OpenBLAS by default, GSL's reference gslcblas otherwise). */
#ifndef MOEX_BLAS_H
#define MOEX_BLAS_H

#include <stddef.h>

/* Name of the linked CBLAS: "openblas" or "gslcblas". */
const char *moex_blas_name(void);

/* The kernel the CBLAS runs on this machine: OpenBLAS's core name (e.g. "Haswell", "Cooperlake"),
 * which decides the bits of its products, or "gslcblas". */
const char *moex_blas_kernel(void);

/* The BLAS as the records name it, written into buf (at most n bytes): OpenBLAS's own
 * configuration line (version, build options, the core it runs on) or gslcblas with GSL's
 * version. Two runs whose bits may differ by BLAS say so here (results/SCHEMA.md). */
void moex_blas_describe(char *buf, size_t n);

/* Threads the BLAS may use. moex runs one fit per worker, so 1 is the default for fits;
 * a no-op for gslcblas, which is single-threaded. */
void moex_blas_set_threads(int n);

#endif
