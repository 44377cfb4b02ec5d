/* discovery_verdict: the discovery map's rule (issue 31), beside analysis/verdict.h: "a protocol
 * finds the pieces where the routing incentive is at least X". Input: one point per incentive
 * level, the runs at that level and how many of them found the pieces (their best path-to-piece
 * matching covers >= 95% of the evaluation points). A level holds when it has runs and the share
 * that found the pieces is at least `share` (0.8: 4 of 5 seeds). X is the smallest incentive from
 * which every level, that one and all above it, holds; when the highest level does not hold, the
 * protocol never finds them (over the incentives measured). No level with runs: undecided. */
#ifndef MOEX_DISCOVERY_VERDICT_H
#define MOEX_DISCOVERY_VERDICT_H

#include <stddef.h>

#define DISCOVERY_SHARE 0.8 /* 4 of 5 seeds */

typedef struct {
  double incentive; /* the level's measured routing incentive */
  size_t runs, found;
} discovery_level_t;

typedef enum { DISCOVERY_FINDS = 0, DISCOVERY_NEVER = 1, DISCOVERY_UNDECIDED = 2 } discovery_kind_t;

typedef struct {
  discovery_kind_t kind;
  double from;    /* FINDS: X; NaN otherwise */
  double top;     /* the highest incentive with runs (NaN when none) */
  size_t levels;  /* levels with runs */
} discovery_verdict_t;

/* Judges n levels (any order; those without runs or with a non-finite incentive are skipped).
 * Returns 0, or MOEX_EINVAL for share outside (0, 1], found > runs, or n > 0 with lv NULL. */
int discovery_verdict(const discovery_level_t *lv, size_t n, double share, discovery_verdict_t *out);

/* "finds the pieces where the incentive is at least 21.3", "never finds the pieces (incentive up
 * to 1.1e+03)" or "undecided (no runs)" into buf; returns buf. */
char *discovery_verdict_text(const discovery_verdict_t *v, char *buf, size_t n);

extern const char discovery_verdict_rule[]; /* the rule, as the study prints it */

#endif
