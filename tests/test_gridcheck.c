/* Impossible grids are refused before the first run: exit 2, one line naming the axis and the
 * value, nothing written (experiments/lib/gridcheck.c). */
#include "testutil.h"

#include <sys/stat.h>

#include "lib/driver.h"
#include "lib/gridcheck.h"

START_TEST(test_gridcheck_impossible_values) {
  char dir[] = "/tmp/moex-grid-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  const struct { const char *prog, *args, *want; } cases[] = {
      {"paper_exp1", "--set D=0", "axis D = '0': must be an integer in 2..4096"},
      {"paper_exp1", "--set D=100000000", "axis D = '100000000'"},
      {"paper_exp1", "--set D=1", "axis D = '1'"},             /* d = 1 < D */
      {"paper_exp1", "--set 'D=16,-3'", "axis D = '-3'"},
      {"paper_exp1", "--set embed=flat", "axis embed = 'flat': must be one of axis,rotated,curved"},
      {"paper_exp1", "--set model=moe,mlp", "axis model = 'mlp'"},
      {"paper_exp1", "--set protocol=sgd", "axis protocol = 'sgd'"},
      {"paper_exp1", "--set surrogate=soft", "axis surrogate = 'soft'"},
      {"paper_exp1", "--set init=zero", "axis init = 'zero'"},
      {"paper_exp1", "--set D=4096 --n-train 10000000", "the largest run (embed=axis D=4096"},
      {"paper_exp1", "--mem-limit 1M", "above --mem-limit 1 MiB"},
      {"paper_exp1", "--mem-limit 12Q", "--mem-limit '12Q'"},
      {"paper_exp2", "--set m=0", "axis m = '0': must be an integer in 1..65536"},
      {"paper_exp2", "--set model=3-3-moe", "axis model = '3-3-moe'"},
      {"gating", "--set E=1", "axis E = '1': must be an integer in 2..64"},
      {"gating", "--set w=0", "axis w = '0'"},
      {"manifold_rates", "--set point=amb-d2-D2", "axis point = 'amb-d2-D2': D = 2 must be in 3..4096 (d < D)"},
      {"manifold_rates", "--set point=rate-d4-m8", "d = 4 must be 1, 2 or 3"},
      {"piecewise_depth", "--set target=eq4-E9-L1", "axis target = 'eq4-E9-L1'"},
      {"piecewise_depth", "--set m=5000", "axis m = '5000'"},
      {"variants", "--set model=moe", "axis model = 'moe'"},
      {"autoenc", "--set d=4", "axis d = '4': must be an integer in 1..3"},
      {"autoenc", "--set protocol=alt", "axis protocol = 'alt': is an MoE protocol"},
      {"autoenc", "--set model=ae-pe-d2", "axis model = 'ae-pe-d2'"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    char exe[512], cmd[2048], out[128], errf[128], line[1024] = "", extra[256];
    snprintf(exe, sizeof exe, "%s/%s", testutil_bindir(), cases[k].prog);
    testutil_require_bin(cases[k].prog); /* every experiment is built by `make all`: none may pass unseen */
    snprintf(out, sizeof out, "%s/out.h5", dir);
    snprintf(errf, sizeof errf, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s --quick --quiet %s --out %s > /dev/null 2> %s", exe, cases[k].args, out, errf);
    int st = testutil_sh(cmd);
    FILE *f = fopen(errf, "r");
    int one = f && fgets(line, sizeof line, f) && !fgets(extra, sizeof extra, f);
    if (f) fclose(f);
    ck_assert_msg(st == 2, "%s %s: exit %d", cases[k].prog, cases[k].args, st);
    ck_assert_msg(one, "%s %s: not one line: '%s'", cases[k].prog, cases[k].args, line);
    ck_assert_msg(strncmp(line, cases[k].prog, strlen(cases[k].prog)) == 0 && strstr(line, cases[k].want),
                  "%s %s: '%s'", cases[k].prog, cases[k].args, line);
    /* nothing written: no record, no lock, no working copy */
    const char *ext[] = {"", ".lock", ".tmp"};
    for (int e = 0; e < 3; e++) {
      char p[160];
      snprintf(p, sizeof p, "%s%s", out, ext[e]);
      ck_assert_msg(access(p, F_OK) == -1, "%s %s: left %s", cases[k].prog, cases[k].args, p);
    }
  }
  testutil_rm_rf(dir);
}
END_TEST

START_TEST(test_gridcheck_sizes) {
  double b;
  ck_assert_int_eq(gridcheck_parse_size("t", "8G", &b), 0);
  ck_assert(b == 8.0 * 1024 * 1024 * 1024);
  ck_assert_int_eq(gridcheck_parse_size("t", "512M", &b), 0);
  ck_assert(b == 512.0 * 1024 * 1024);
  ck_assert_int_eq(gridcheck_parse_size("t", "none", &b), 0);
  ck_assert(b == 0);
  ck_assert_int_eq(gridcheck_parse_size("t", "1000", &b), 0);
  ck_assert(b == 1000);
  ck_assert(gridcheck_default_budget() > 0);
  /* the estimate grows with D and n_train, and is 0 for an experiment it does not know */
  driver_opts_t o;
  driver_opts_default(&o, 1, 100, 100, 1024);
  sweep_grid_t g = {.n_axes = 1, .seeds = 1};
  g.axis[0] = (sweep_axis_t){.name = "D", .n = 2, .values = {"16", "4096"}};
  double small = gridcheck_run_bytes("paper_exp1", &o, &g, 0), big = gridcheck_run_bytes("paper_exp1", &o, &g, 1);
  ck_assert(small > 0 && big > 100 * small);
  ck_assert(gridcheck_run_bytes("no_such_experiment", &o, &g, 0) == 0);
  /* piecewise_depth's largest default run (E = 4, L = 3, m = 128: about 50 MB measured) fits two
   * at once in a 24 GiB machine's default budget (the old estimate said 9.3 GiB) */
  driver_opts_t op;
  driver_opts_default(&op, 2, 5000, 2000, 4096);
  sweep_grid_t gp = {.n_axes = 2, .seeds = 1};
  gp.axis[0] = (sweep_axis_t){.name = "target", .n = 2, .values = {"eq4-E2-L1", "eq4-E4-L3"}};
  gp.axis[1] = (sweep_axis_t){.name = "m", .n = 1, .values = {"128"}};
  double pw_small = gridcheck_run_bytes("piecewise_depth", &op, &gp, 0), pw_big = gridcheck_run_bytes("piecewise_depth", &op, &gp, 1);
  ck_assert_msg(pw_big < 1024.0 * 1024 * 1024, "piecewise_depth estimate %g (E2-L1: %g)", pw_big, pw_small);
  /* generic rules for an experiment without its own: sizes >= 1, d < D, K <= E */
  sweep_grid_t h = {.n_axes = 2, .seeds = 1};
  h.axis[0] = (sweep_axis_t){.name = "d", .n = 1, .values = {"3"}};
  h.axis[1] = (sweep_axis_t){.name = "D", .n = 2, .values = {"8", "3"}};
  FILE *saved = stderr;
  stderr = fopen("/dev/null", "w");
  int r1 = gridcheck_run("other", &o, &h, 1, 0);
  h.axis[1].values[1] = "4";
  int r2 = gridcheck_run("other", &o, &h, 1, 0);
  h.axis[0] = (sweep_axis_t){.name = "K", .n = 1, .values = {"3"}};
  h.axis[1] = (sweep_axis_t){.name = "E", .n = 1, .values = {"2"}};
  int r3 = gridcheck_run("other", &o, &h, 1, 0);
  h.axis[1].values[0] = "0";
  int r4 = gridcheck_run("other", &o, &h, 1, 0);
  fclose(stderr);
  stderr = saved;
  ck_assert_int_eq(r1, 2);
  ck_assert_int_eq(r2, 0);
  ck_assert_int_eq(r3, 2);
  ck_assert_int_eq(r4, 2);
}
END_TEST

Suite *gridcheck_suite(void) {
  return testutil_suite("gridcheck", TESTUTIL_CASE("core", 60, test_gridcheck_impossible_values, test_gridcheck_sizes));
}
