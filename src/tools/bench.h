/* bench: what moex-bench's row files (bench_tta.c: time to accuracy; bench_hot.c: the MoE
 * protocols' hot paths; bench_wide.c: the blocked dense net) share with its main (moex-bench.c): the row, the clock, medians. */
#ifndef MOEX_BENCH_H
#define MOEX_BENCH_H

#include <stddef.h>

typedef struct {
  const char *id, *what;
  double median_s, q1_s, q3_s, gflops, frac;
  long allocs, rss_kib;
  int seeds, reached; /* time-to-accuracy rows: seeds run, seeds that got there; else -1 */
} bench_row;

#define BENCH_MAX_ROWS 64

double bench_now(void);
/* Median of v (n), sorted in place. */
double bench_median(double *v, size_t n);
/* Median and quartiles of n timings (sorted in place) into the row. */
void bench_row_times(bench_row *r, double *dt, size_t n);
long bench_peak_rss_kib(void);
/* Allocator calls made so far (the --wrap'ed malloc/calloc/realloc). */
long bench_alloc_calls(void);
/* A row's text, kept for the program's life (rows hold pointers). */
const char *bench_keep(const char *s);

/* Time to accuracy (bench_tta.c): table 1 (Table 3's MoE, "T1") or 2 (Table 4's 2-3-MoE,
 * "T2"); appends rows to rows[*nr] (at most BENCH_MAX_ROWS). Returns 0, or 1 after a message. */
int bench_tta(int table, int quick, bench_row *rows, int *nr);

/* Hot paths (bench_hot.c) against the DGEMM rate `rate`: "H1" an LM iteration of the frozen-route
 * polish on the 2-3-MoE (Jacobian and solve), "H2" the soft surrogate's full-batch gradient on
 * P3's model, "H3" one round of alt on Table 4. Returns 0, or 1 after a message. */
int bench_hot(const char *which, int quick, double rate, bench_row *rows, int *nr);

/* H4 (bench_wide.c): a step of the widest dense net of the studies, layer by layer and by blocks
 * of hidden units, interleaved; two rows. Returns 0, or 1 after a message. */
int bench_wide(int quick, double rate, bench_row *rows, int *nr);

#endif
