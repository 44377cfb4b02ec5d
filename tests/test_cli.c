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
  /* each command line (argc words) and the status cli_parse must return */
  struct {
    int argc;
    const char *argv[3];
    int want;
  } cases[] = {{3, {"t", "--seeds", "0"}, 2}, {3, {"t", "--seeds", "2.5"}, 2}, {3, {"t", "--width", "abc"}, 2},
               {2, {"t", "--nope"}, 2},       {2, {"t", "--lr"}, 2},           {3, {"t", "--lr", "nan"}, 2},
               {3, {"t", "--out", ""}, 2},    {2, {"t", "--help"}, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    ck_assert_msg(run(&o, cases[i].argc, cases[i].argv) == cases[i].want, "'%s %s': not %d", cases[i].argv[1],
                  cases[i].argc > 2 ? cases[i].argv[2] : "", cases[i].want);
  ck_assert_int_eq(o.seeds, 0); /* nothing was set by the failed parses */
}
END_TEST

Suite *cli_suite(void) {
  return testutil_suite("cli", TESTUTIL_CASE("parse", 0, test_cli_parses, test_cli_errors));
}
