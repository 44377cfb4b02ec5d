/* cli: command-line options shared by every experiment binary and tool. Table-driven: each
 * option names its type and destination; a bad value is one line on stderr naming the option
 * and the value, and the caller exits with status 2. */
#ifndef MOEX_CLI_H
#define MOEX_CLI_H

#include <stddef.h>

typedef enum { CLI_FLAG, CLI_INT, CLI_SIZE, CLI_DOUBLE, CLI_STRING } cli_type_t;

typedef struct {
  const char *name;  /* "--seeds" */
  cli_type_t type;
  void *dest;        /* int* (flag, int), size_t*, double*, const char** */
  double min, max;   /* accepted range for numbers (inclusive) */
  const char *help;
} cli_option_t;

/* Parses argv against opts (n options). Returns 0, 1 when --help was given (usage printed to
 * stdout), or 2 after printing a one-line error to stderr. */
int cli_parse(const char *prog, const char *summary, int argc, char **argv, const cli_option_t *opts, size_t n);

/* The whole command line joined by spaces (for the records); static storage. */
const char *cli_command_line(int argc, char **argv);

#endif
