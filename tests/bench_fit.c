/* bench_fit: GSL vector_bfgs2 against liblbfgs on the same fits (theorems/fitting.md).
 * Not part of the suite. Build and run from the worktree root after `make`:
 *   cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Isrc -Itests tests/bench_fit.c build/libmoex.a \
 *      -llbfgs -lgsl -lopenblas -lm -lpthread -o build/bench_fit && build/bench_fit
 * Prints, per problem and optimizer, medians over seeds of iterations, evaluations, final loss
 * and wall time, and the stop reasons seen. */
#include <stdio.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "fit/fit.h"
#include "fit_objectives.h"

#define SEEDS 7

static double median(double *v, size_t n) {
  gsl_sort(v, 1, n);
  return gsl_stats_median_from_sorted_data(v, 1, n);
}

typedef struct {
  const char *name;
  size_t H, N; /* ReLU net width and samples; H == 0: exp model */
} problem;

int main(void) {
  const problem probs[] = {{"relu H=8 N=64 (P=33)", 8, 64},
                           {"relu H=32 N=256 (P=129)", 32, 256},
                           {"relu H=64 N=256 (P=257)", 64, 256},
                           {"exp a*exp(bt)+c N=50 (P=3)", 0, 50}};
  const char *opts[] = {"bfgs2", "lbfgs", "cg-pr"};
  for (int budget = 0; budget < 2; budget++) {
  /* budget 0: each runs to its own stop (max_iter 3000); budget 1: exactly the same cap of
   * 1000 objective evaluations for both, so the losses compare at equal cost */
  printf("\n%s\n\n| problem | optimizer | iters | evals | final loss | wall ms | stops |\n",
         budget ? "Same budget: max_evals = 1000" : "To the optimizer's own stop (max_iter 3000)");
  printf("|---|---|---|---|---|---|---|\n");
  for (size_t p = 0; p < sizeof probs / sizeof probs[0]; p++) {
    for (size_t k = 0; k < 3; k++) {
      double it[SEEDS], ev[SEEDS], lo[SEEDS], wa[SEEDS];
      size_t stops[FIT_N_STOP] = {0};
      for (unsigned long sd = 0; sd < SEEDS; sd++) {
        fitobj o;
        size_t P;
        double th[1024];
        if (probs[p].H) {
          fitobj_netobj(&o, probs[p].H, probs[p].N, 100 + sd);
          P = fitobj_net_params(probs[p].H);
          fitobj_net_init(th, probs[p].H, 200 + sd);
        } else {
          fitobj_exp(&o, probs[p].N);
          P = 3;
          th[0] = 0.8 + 0.1 * (double)sd;
          th[1] = -0.3 - 0.15 * (double)sd;
          th[2] = 0.05 * (double)sd;
        }
        objective_t ob = fitobj_objective(&o);
        fit_settings s;
        fit_settings_default(&s);
        s.optimizer = opts[k];
        s.max_iter = 3000;
        if (budget) s.max_evals = 1000;
        s.log_every = 0;
        fit_result *r = fit_result_alloc();
        if (fit_run(&ob, th, &s, r)) return 1;
        it[sd] = (double)r->iters;
        ev[sd] = (double)r->evals;
        lo[sd] = r->loss;
        wa[sd] = 1e3 * r->wall;
        stops[r->stop]++;
        fit_result_free(r);
        fitobj_free(&o);
        (void)P;
      }
      char sb[160] = "";
      size_t off = 0;
      for (int i = 0; i < FIT_N_STOP; i++)
        if (stops[i]) off += (size_t)snprintf(sb + off, sizeof sb - off, "%s%s %zu", off ? ", " : "", fit_stop_name((fit_stop)i), stops[i]);
      printf("| %s | %s | %.0f | %.0f | %.3g | %.2f | %s |\n", probs[p].name, opts[k],
             median(it, SEEDS), median(ev, SEEDS), median(lo, SEEDS), median(wa, SEEDS), sb);
    }
  }
  }
  return 0;
}
