/* clones_levels: kernels.c's and kern_wide.c's entry points compiled for one instruction-set level under that level's
 * names (tests/test_clones_v3.c, tests/test_clones_v4.c), for test_clones.c to hold each clone the
 * library may dispatch to against the baseline, whichever the CPU running the tests picks. */
#ifndef MOEX_TEST_CLONES_LEVELS_H
#define MOEX_TEST_CLONES_LEVELS_H

#include <stddef.h>

typedef struct {
  const char *name; /* the -march level, as __builtin_cpu_supports spells it */
  int built;        /* 0 where the compiler cannot build that level (the copy is the baseline) */
  int (*direct)(size_t n, size_t p, size_t q);
  void (*mm)(size_t n, size_t p, size_t q, const double *A, const double *B, int bt, const double *bias, int acc,
             int relu, double *C);
  void (*mm_mask)(size_t n, size_t p, size_t q, const double *A, const double *B, int bt, const double *mask,
                  double *C);
  void (*mtm)(size_t n, size_t p, size_t q, const double *A, const double *X, double *G, double *colsum);
  void (*relu_mask)(size_t len, const double *x, double *d);
  void (*wide_relu_out)(size_t n, size_t m, size_t ldh, double *H, size_t dout, const double *W2, size_t ldw,
                        double *y);
  void (*wide_relu_grad)(size_t n, size_t m, size_t ldh, const double *H, size_t dout, const double *dy,
                         const double *W2, size_t ldw, double *dW2, double *dz);
} clones_level;

extern const clones_level clones_v3, clones_v4;

#endif
