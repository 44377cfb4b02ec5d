/* discovery_plot: the discovery map's table, figures per (E, L) and verdict lines
 * (discovery_map_write of lib/discovery_map.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "lib/discovery_map.h"

static int fclose_ok(FILE *f) { return f && fclose(f) == 0; }

static int write_cells(const discovery_map_t *m, const char *prefix) {
  char path[4096];
  snprintf(path, sizeof path, "%s_map.tsv", prefix);
  FILE *f = fopen(path, "w");
  if (!f) return moex_error(MOEX_EIO, "discovery: cannot write '%s'", path);
  fprintf(f, "E\tL\trouter\tprotocol\tcontrast\tincentive\truns\tfound\tshare\n");
  for (size_t k = 0; k < m->n; k++) {
    const discovery_cell_t *x = &m->cell[k];
    fprintf(f, "%ld\t%ld\t%s\t%s\t%.17g\t%.6g\t%zu\t%zu\t%.6g\n", x->E, x->L, x->router, x->protocol, x->contrast,
            x->incentive, x->runs, x->found, (double)x->found / (double)x->runs);
  }
  return fclose_ok(f) ? MOEX_OK : moex_error(MOEX_EIO, "discovery: cannot write '%s'", path);
}

static int same_series(const discovery_cell_t *a, const discovery_cell_t *b) {
  return !strcmp(a->router, b->router) && !strcmp(a->protocol, b->protocol);
}

/* Cells of (E, L): the distinct contrasts (sorted by incentive) and series, first appearance. */
static size_t pick(const discovery_map_t *m, long E, long L, const discovery_cell_t **lv, const discovery_cell_t **se,
                   size_t *n_se) {
  size_t n_lv = 0;
  *n_se = 0;
  for (size_t k = 0; k < m->n; k++) {
    const discovery_cell_t *x = &m->cell[k];
    if (x->E != E || x->L != L) continue;
    size_t j;
    for (j = 0; j < n_lv && lv[j]->contrast != x->contrast; j++) {}
    if (j == n_lv) lv[n_lv++] = x;
    for (j = 0; j < *n_se && !same_series(se[j], x); j++) {}
    if (j == *n_se) se[(*n_se)++] = x;
  }
  for (size_t a = 1; a < n_lv; a++) /* insertion sort by incentive */
    for (size_t b = a; b > 0 && lv[b]->incentive < lv[b - 1]->incentive; b--) {
      const discovery_cell_t *t = lv[b];
      lv[b] = lv[b - 1];
      lv[b - 1] = t;
    }
  return n_lv;
}

static double share_at(const discovery_map_t *m, const discovery_cell_t *lv, const discovery_cell_t *se) {
  for (size_t k = 0; k < m->n; k++) {
    const discovery_cell_t *x = &m->cell[k];
    if (x->E == lv->E && x->L == lv->L && x->contrast == lv->contrast && same_series(x, se))
      return (double)x->found / (double)x->runs;
  }
  return NAN;
}

static void write_gp(FILE *g, const char *base, long E, long L, size_t n_se) {
  fprintf(g, "# the discovery map at E = %ld, L = %ld: gnuplot %s_E%ld_L%ld.gp\n", E, L, base, E, L);
  fprintf(g, "set terminal pngcairo size 900,560\nset output '%s_E%ld_L%ld.png'\n", base, E, L);
  fprintf(g, "set datafile separator \"\\t\"\nset logscale x\nset yrange [-0.05:1.05]\nset grid\n");
  fprintf(g, "set key outside below noenhanced\nset xlabel 'routing incentive (single-path / oracle-routed MSE)'\n");
  fprintf(g, "set ylabel 'share of seeds matching paths to pieces on >= 95%%'\n");
  fprintf(g, "set title 'discovery: E = %ld, L = %ld (%ld pieces)' noenhanced\n", E, L, (long)pow((double)E, (double)L));
  fprintf(g, "plot for [i=2:%zu] '%s_E%ld_L%ld.tsv' using 1:i with linespoints title columnheader(i)\n", n_se + 1, base, E,
          L);
}

static int write_figure(const discovery_map_t *m, const char *prefix, long E, long L) {
  const discovery_cell_t **lv = malloc(2 * (m->n + 1) * sizeof *lv), **se = lv ? lv + m->n + 1 : NULL;
  if (!lv) return moex_error(MOEX_ENOMEM, "discovery: out of memory");
  size_t n_se, n_lv = pick(m, E, L, lv, se, &n_se);
  char path[4096];
  const char *slash = strrchr(prefix, '/'), *base = slash ? slash + 1 : prefix;
  snprintf(path, sizeof path, "%s_E%ld_L%ld.tsv", prefix, E, L);
  FILE *t = fopen(path, "w");
  snprintf(path, sizeof path, "%s_E%ld_L%ld.gp", prefix, E, L);
  FILE *g = t ? fopen(path, "w") : NULL;
  if (t) {
    fprintf(t, "incentive");
    for (size_t s = 0; s < n_se; s++) fprintf(t, "\t%s %s", se[s]->router, se[s]->protocol);
    for (size_t a = 0; a < n_lv; a++) {
      fprintf(t, "\n%.6g", lv[a]->incentive);
      for (size_t s = 0; s < n_se; s++) fprintf(t, "\t%.6g", share_at(m, lv[a], se[s]));
    }
    fprintf(t, "\n");
  }
  if (g) write_gp(g, base, E, L, n_se);
  int ok = fclose_ok(t) & fclose_ok(g);
  free(lv);
  return ok ? MOEX_OK : moex_error(MOEX_EIO, "discovery: cannot write the figure of E = %ld, L = %ld beside '%s'", E, L, prefix);
}

/* One verdict line (printed and tabulated) for protocol with router (NULL: any), over every
 * (E, L) or (E > 0) over that one. */
static int verdict_line(const discovery_map_t *m, const char *protocol, const char *router, long E, long L, FILE *out,
                        FILE *t) {
  discovery_verdict_t v;
  char text[160], where[48] = "";
  int rc = discovery_map_verdict(m, protocol, router, E, L, &v);
  if (rc) return rc;
  discovery_verdict_text(&v, text, sizeof text);
  if (E > 0) snprintf(where, sizeof where, " at E = %ld, L = %ld", E, L);
  if (out) fprintf(out, "discovery: %s, %s router%s: %s (%zu levels)\n", protocol, router ? router : "any", where, text,
                   v.levels);
  const char *kind = v.kind == DISCOVERY_FINDS ? "finds" : v.kind == DISCOVERY_NEVER ? "never" : "undecided";
  fprintf(t, "%s\t%s\t%ld\t%ld\t%s\t%.6g\t%.6g\t%zu\n", protocol, router ? router : "any", E, L, kind, v.from, v.top,
          v.levels);
  return MOEX_OK;
}

/* Whether cell k is the first of its protocol, of its (protocol, router), of its (protocol, E, L). */
static void firsts(const discovery_map_t *m, size_t k, int *p, int *r, int *el) {
  const discovery_cell_t *x = &m->cell[k];
  *p = *r = *el = 1;
  for (size_t j = 0; j < k; j++) {
    const discovery_cell_t *y = &m->cell[j];
    if (strcmp(y->protocol, x->protocol)) continue;
    *p = 0;
    if (!strcmp(y->router, x->router)) *r = 0;
    if (y->E == x->E && y->L == x->L) *el = 0;
  }
}

static int write_verdicts(const discovery_map_t *m, const char *prefix, FILE *out) {
  char path[4096];
  snprintf(path, sizeof path, "%s_verdicts.tsv", prefix);
  FILE *t = fopen(path, "w");
  if (!t) return moex_error(MOEX_EIO, "discovery: cannot write '%s'", path);
  fprintf(t, "protocol\trouter\tE\tL\tverdict\tfrom_incentive\ttop_incentive\tlevels\n");
  int rc = MOEX_OK;
  /* all (E, L) first, then per (E, L); E = L = 0 in the table means all */
  for (int pass = 0; pass < 2; pass++)
    for (size_t k = 0; k < m->n && !rc; k++) {
      const discovery_cell_t *x = &m->cell[k];
      int fp, fr, fel;
      firsts(m, k, &fp, &fr, &fel);
      if (pass == 0 && fp) rc = verdict_line(m, x->protocol, NULL, 0, 0, out, t);
      if (pass == 0 && !rc && fr) rc = verdict_line(m, x->protocol, x->router, 0, 0, out, t);
      if (pass == 1 && fel) rc = verdict_line(m, x->protocol, NULL, x->E, x->L, out, t);
    }
  if (!fclose_ok(t) && !rc) rc = moex_error(MOEX_EIO, "discovery: cannot write '%s'", path);
  return rc;
}

int discovery_map_write(const discovery_map_t *m, const char *prefix, FILE *out) {
  int rc = write_cells(m, prefix);
  for (size_t k = 0; k < m->n && !rc; k++) {
    int first = 1;
    for (size_t j = 0; j < k && first; j++) first = !(m->cell[j].E == m->cell[k].E && m->cell[j].L == m->cell[k].L);
    if (first) rc = write_figure(m, prefix, m->cell[k].E, m->cell[k].L);
  }
  if (!rc) rc = write_verdicts(m, prefix, out);
  return rc;
}
