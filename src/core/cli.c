/* cli: table-driven option parsing with one-line errors. */
#include "core/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const char *prog, const char *summary, const cli_option_t *opts, size_t n) {
  printf("usage: %s [options]\n%s\n\noptions:\n", prog, summary);
  for (size_t i = 0; i < n; i++) {
    const char *arg = opts[i].type == CLI_FLAG ? "" : opts[i].type == CLI_STRING ? " S" : " N";
    printf("  %s%-*s %s\n", opts[i].name, (int)(22 - strlen(opts[i].name)), arg, opts[i].help);
  }
  printf("  --help                 this text\n");
}

static int bad(const char *prog, const char *opt, const char *val, const char *why) {
  fprintf(stderr, "%s: %s '%s' %s\n", prog, opt, val, why);
  return 2;
}

int cli_parse(const char *prog, const char *summary, int argc, char **argv, const cli_option_t *opts, size_t n) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(prog, summary, opts, n);
      return 1;
    }
    const cli_option_t *o = NULL;
    for (size_t k = 0; k < n; k++)
      if (!strcmp(a, opts[k].name)) o = &opts[k];
    if (!o) {
      fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, a);
      return 2;
    }
    if (o->type == CLI_FLAG) {
      *(int *)o->dest = 1;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: option %s needs a value\n", prog, a);
      return 2;
    }
    const char *v = argv[++i];
    if (o->type == CLI_STRING) {
      if (!*v) return bad(prog, a, v, "must not be empty");
      *(const char **)o->dest = v;
      continue;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (*v == '\0' || *end || errno || !isfinite(x)) return bad(prog, a, v, "is not a number");
    if ((o->type == CLI_INT || o->type == CLI_SIZE) && x != floor(x)) return bad(prog, a, v, "is not an integer");
    if (x < o->min || x > o->max) {
      char why[128];
      snprintf(why, sizeof why, "is out of range [%g, %g]", o->min, o->max);
      return bad(prog, a, v, why);
    }
    if (o->type == CLI_INT) *(int *)o->dest = (int)x;
    else if (o->type == CLI_SIZE) *(size_t *)o->dest = (size_t)x;
    else *(double *)o->dest = x;
  }
  return 0;
}

const char *cli_command_line(int argc, char **argv) {
  static char buf[4096];
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; i < argc && off < sizeof buf - 1; i++) {
    int w = snprintf(buf + off, sizeof buf - off, "%s%s", i ? " " : "", argv[i]);
    if (w < 0) break;
    off += (size_t)w;
  }
  return buf;
}
