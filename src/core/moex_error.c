/* moex_error: per-thread last error message. */
#include "core/moex_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[512];
static _Thread_local char err_loc[256];

int moex_error_at(const char *file, int line, int code, const char *fmt, ...) {
  /* Formatted into a private buffer first: callers routinely pass moex_errmsg() (this very
   * buffer) as an argument to add context, and vsnprintf into the buffer it reads from is
   * undefined (it gave "X: X: <tail of X>" and garbage). */
  char buf[sizeof err_msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  memcpy(err_msg, buf, sizeof err_msg);
  snprintf(err_loc, sizeof err_loc, "%s:%d", file, line);
  return code;
}

const char *moex_errmsg(void) { return err_msg; }
const char *moex_errloc(void) { return err_loc; }
void moex_error_clear(void) { err_msg[0] = '\0'; err_loc[0] = '\0'; }
