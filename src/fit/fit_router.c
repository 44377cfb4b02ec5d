/* fit_router: the router training options of the Adam protocol, `adam:k=v[:k=v...]` (issue 17),
 * parsed into the model's options (model/moe.h) and Adam's warm-up. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_router.h"

static int parse_num(const char *k, const char *v, double lo, double hi, int open_hi, double *out) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (end == v || *end || errno || !isfinite(x) || !(x > lo) || x > hi || (open_hi && x == hi))
    return moex_error(MOEX_EINVAL, "protocol option %s=%s must be a number in (%g, %g%s", k, v, lo, hi, open_hi ? ")" : "]");
  *out = x;
  return MOEX_OK;
}

int fit_router_parse(const char *name, fit_router_settings *o) {
  if (!name || strncmp(name, "adam:", 5)) return FIT_ROUTER_NONE;
  memset(o, 0, sizeof *o);
  char buf[256];
  if (strlen(name) >= sizeof buf) return moex_error(MOEX_EINVAL, "protocol name '%.40s...' too long", name);
  snprintf(buf, sizeof buf, "%s", name + 5);
  int any = 0, rc = MOEX_OK;
  for (char *save = NULL, *kv = strtok_r(buf, ":", &save); kv && !rc; kv = strtok_r(NULL, ":", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) return moex_error(MOEX_EINVAL, "protocol option '%s' is not key=value", kv);
    *eq = '\0';
    const char *k = kv, *v = eq + 1;
    any = 1;
    if (!strcmp(k, "balance")) rc = parse_num(k, v, 0, 1e3, 0, &o->router.balance);
    else if (!strcmp(k, "zloss")) rc = parse_num(k, v, 0, 1e3, 0, &o->router.zloss);
    else if (!strcmp(k, "jitter")) rc = parse_num(k, v, 0, 1, 1, &o->router.jitter);
    else if (!strcmp(k, "auxfree")) rc = parse_num(k, v, 0, 1e3, 0, &o->router.auxfree);
    else if (!strcmp(k, "noise")) {
      if (!strcmp(v, "0")) o->router.noise = 0;
      else if (!strcmp(v, "1")) o->router.noise = 1;
      else rc = moex_error(MOEX_EINVAL, "protocol option noise=%s (expected 0 or 1)", v);
    } else if (!strcmp(k, "warmup")) {
      char *end;
      errno = 0;
      unsigned long long x = strtoull(v, &end, 10);
      if (*v < '0' || *v > '9' || *end || errno || x < 1 || x > 100000000ULL)
        rc = moex_error(MOEX_EINVAL, "protocol option warmup=%s must be an integer in 1..100000000 (steps)", v);
      else o->warmup = (size_t)x;
    } else {
      rc = moex_error(MOEX_EINVAL, "unknown Adam option '%s' (balance, zloss, noise, jitter, auxfree, warmup)", k);
    }
  }
  if (!rc && !any) rc = moex_error(MOEX_EINVAL, "protocol '%s' names no option after adam:", name);
  return rc;
}
