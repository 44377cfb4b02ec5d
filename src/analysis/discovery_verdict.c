/* discovery_verdict: "finds the pieces where the incentive is at least X". */
#include "analysis/discovery_verdict.h"

#include <math.h>
#include <stdio.h>

#include "core/moex_error.h"

const char discovery_verdict_rule[] =
    "a level holds when at least 80% of its seeds match paths to pieces on >= 95% of the evaluation points; "
    "X = the smallest incentive from which that level and every higher one hold; never when the highest does not";

static int level_holds(const discovery_level_t *l, double share) {
  return (double)l->found >= share * (double)l->runs - 1e-12;
}

static int usable(const discovery_level_t *l) { return l->runs > 0 && isfinite(l->incentive); }

int discovery_verdict(const discovery_level_t *lv, size_t n, double share, discovery_verdict_t *out) {
  if (!out || (n && !lv)) return moex_error(MOEX_EINVAL, "discovery_verdict: NULL argument");
  if (!(share > 0 && share <= 1)) return moex_error(MOEX_EINVAL, "discovery_verdict: share = %g must be in (0, 1]", share);
  for (size_t i = 0; i < n; i++)
    if (lv[i].found > lv[i].runs)
      return moex_error(MOEX_EINVAL, "discovery_verdict: level %zu: found = %zu > runs = %zu", i, lv[i].found, lv[i].runs);
  *out = (discovery_verdict_t){.kind = DISCOVERY_UNDECIDED, .from = NAN, .top = NAN, .levels = 0};
  /* the lowest incentive of a failing level bounds X from below: X is the smallest holding
   * incentive above every failing one */
  double fail_max = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (!usable(&lv[i])) continue;
    out->levels++;
    if (!(lv[i].incentive <= out->top)) out->top = lv[i].incentive;
    if (!level_holds(&lv[i], share) && lv[i].incentive > fail_max) fail_max = lv[i].incentive;
  }
  if (!out->levels) return MOEX_OK;
  if (fail_max >= out->top) {
    out->kind = DISCOVERY_NEVER;
    return MOEX_OK;
  }
  out->kind = DISCOVERY_FINDS;
  out->from = out->top;
  for (size_t i = 0; i < n; i++)
    if (usable(&lv[i]) && lv[i].incentive > fail_max && lv[i].incentive < out->from) out->from = lv[i].incentive;
  return MOEX_OK;
}

char *discovery_verdict_text(const discovery_verdict_t *v, char *buf, size_t n) {
  if (v->kind == DISCOVERY_FINDS) snprintf(buf, n, "finds the pieces where the incentive is at least %.3g", v->from);
  else if (v->kind == DISCOVERY_NEVER) snprintf(buf, n, "never finds the pieces (incentive up to %.3g)", v->top);
  else snprintf(buf, n, "undecided (no runs)");
  return buf;
}
