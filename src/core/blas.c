/* blas: linked CBLAS identity and threading. */
#include "core/blas.h"

#ifdef MOEX_OPENBLAS
/* From OpenBLAS's cblas.h; declared here so that the rest of moex includes only gsl_cblas.h. */
void openblas_set_num_threads(int num_threads);
const char *moex_blas_name(void) { return "openblas"; }
void moex_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
#else
const char *moex_blas_name(void) { return "gslcblas"; }
void moex_blas_set_threads(int n) { (void)n; }
#endif
