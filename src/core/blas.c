/* blas: linked CBLAS identity and threading. */
#include "core/blas.h"

#include <stdio.h>

#ifdef MOEX_OPENBLAS
/* From OpenBLAS's cblas.h; declared here so that the rest of moex includes only gsl_cblas.h. */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);
char *openblas_get_config(void);
const char *moex_blas_name(void) { return "openblas"; }
const char *moex_blas_kernel(void) { return openblas_get_corename(); }
void moex_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
void moex_blas_describe(char *buf, size_t n) { snprintf(buf, n, "%s", openblas_get_config()); }
#else
#include <gsl/gsl_version.h>
const char *moex_blas_name(void) { return "gslcblas"; }
const char *moex_blas_kernel(void) { return "gslcblas"; }
void moex_blas_set_threads(int n) { (void)n; }
void moex_blas_describe(char *buf, size_t n) { snprintf(buf, n, "gslcblas (GSL %s)", GSL_VERSION); }
#endif
