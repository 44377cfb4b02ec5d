/* cli: typed options, ranges, and the exit status 2 contract. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "core/cli.h"

typedef struct {
  int quick, seeds;
  size_t width;
  double lr;
  const char *out;
} opts_t;

static int run(opts_t *o, int argc, const char **argv) {
  const cli_option_t table[] = {
      {"--quick", CLI_FLAG, &o->quick, 0, 0, "reduced grid"},
      {"--seeds", CLI_INT, &o->seeds, 1, 100, "seeds"},
      {"--width", CLI_SIZE, &o->width, 1, 4096, "expert width"},
      {"--lr", CLI_DOUBLE, &o->lr, 1e-9, 10, "learning rate"},
      {"--out", CLI_STRING, &o->out, 0, 0, "output file"},
  };
  FILE *saved = stdout;
  stdout = fopen("/dev/null", "w"); /* --help prints usage */
  int rc = cli_parse("t", "test", argc, (char **)argv, table, sizeof table / sizeof *table);
  fclose(stdout);
  stdout = saved;
  return rc;
}

START_TEST(test_cli_parses) {
  opts_t o = {.seeds = 5, .width = 10, .lr = 1e-3};
  const char *argv[] = {"t", "--quick", "--seeds", "7", "--width", "128", "--lr", "2.5e-4", "--out", "x.h5"};
  ck_assert_int_eq(run(&o, 10, argv), 0);
  ck_assert_int_eq(o.quick, 1);
  ck_assert_int_eq(o.seeds, 7);
  ck_assert_uint_eq(o.width, 128);
  ck_assert_double_eq(o.lr, 2.5e-4);
  ck_assert_str_eq(o.out, "x.h5");
  ck_assert_str_eq(cli_command_line(3, (char **)argv), "t --quick --seeds");
}
END_TEST

START_TEST(test_cli_errors) {
  opts_t o = {0};
  const char *a1[] = {"t", "--seeds", "0"};
  ck_assert_int_eq(run(&o, 3, a1), 2);
  const char *a2[] = {"t", "--seeds", "2.5"};
  ck_assert_int_eq(run(&o, 3, a2), 2);
  const char *a3[] = {"t", "--width", "abc"};
  ck_assert_int_eq(run(&o, 3, a3), 2);
  const char *a4[] = {"t", "--nope"};
  ck_assert_int_eq(run(&o, 2, a4), 2);
  const char *a5[] = {"t", "--lr"};
  ck_assert_int_eq(run(&o, 2, a5), 2);
  const char *a6[] = {"t", "--lr", "nan"};
  ck_assert_int_eq(run(&o, 3, a6), 2);
  const char *a7[] = {"t", "--out", ""};
  ck_assert_int_eq(run(&o, 3, a7), 2);
  const char *a8[] = {"t", "--help"};
  ck_assert_int_eq(run(&o, 2, a8), 1);
  ck_assert_int_eq(o.seeds, 0); /* nothing was set by the failed parses */
}
END_TEST

Suite *cli_suite(void) {
  return testutil_suite("cli", TESTUTIL_CASE("parse", 0, test_cli_parses, test_cli_errors));
}
