/* chartmap: encoded against true chart coordinate (interp/enc_vs_chart) as TSV + gnuplot PNG. */
#include "report/chartmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/moex_error.h"
#include "record/record.h"
#include "report/report_pick.h"

typedef report_pick pick_t;

static int render(const char *tsv, const char *png, const char *title) {
  FILE *gp = popen("${MOEX_GNUPLOT:-gnuplot} 2>/dev/null", "w");
  if (!gp) return moex_error(MOEX_EIO, "chartmap: cannot run gnuplot");
  fprintf(gp, "set terminal pngcairo size 760,680 noenhanced\nset output '%s'\nset datafile separator '\\t'\n", png);
  fprintf(gp, "set title '%s'\nset xlabel 'true chart coordinate phi_1 (chart of the expert)'\n", title);
  fprintf(gp, "set ylabel 'best affine map of the code Enc_i(x), coordinate 1'\nset key top left\nset size ratio -1\n");
  fprintf(gp, "set palette defined (0 '#1b9e77', 1 '#d95f02', 2 '#7570b3', 3 '#e7298a', 4 '#66a61e', 5 '#e6ab02', 6 '#a6761d', 7 '#666666')\n");
  fprintf(gp, "plot '%s' skip 1 using 2:3:1 with points pt 7 ps 0.5 lc palette title 'points (colour: expert)', "
              "x with lines lc rgb 'black' dt 2 title 'recovered exactly'\n", tsv);
  int st = pclose(gp);
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return moex_error(MOEX_EIO, "chartmap: gnuplot failed on %s", tsv);
  return MOEX_OK;
}

static int write_map(record_file *f, const pick_t *p, const char *dir, size_t k, FILE *md, int *written) {
  *written = 0;
  record_array *a = record_read_array(f, p->run_id, "interp/enc_vs_chart");
  if (!a) return MOEX_OK;
  int rc = MOEX_OK;
  if (a->rank != 2 || a->dims[1] != 3 || a->type != RECORD_DOUBLE) {
    rc = moex_error(MOEX_EINVAL, "chartmap: run %s: interp/enc_vs_chart is not (N, 3) doubles", p->run_id);
    record_array_free(a);
    return rc;
  }
  char tsv[4096], png[4096], base[512];
  snprintf(base, sizeof base, "%s_chart_%zu", p->figure, k);
  snprintf(tsv, sizeof tsv, "%s/%s.tsv", dir, base);
  snprintf(png, sizeof png, "%s/%s.png", dir, base);
  FILE *t = fopen(tsv, "w");
  if (!t) {
    record_array_free(a);
    return moex_error(MOEX_EIO, "chartmap: cannot write %s", tsv);
  }
  fprintf(t, "expert\tphi1\tpredicted\n");
  const double *v = a->data;
  for (size_t i = 0; i < a->dims[0]; i++) fprintf(t, "%.0f\t%.9g\t%.9g\n", v[3 * i], v[3 * i + 1], v[3 * i + 2]);
  fclose(t);
  char title[512];
  snprintf(title, sizeof title, "%s: %s at x = %g (run %s)", p->figure, p->series, p->x, p->run_id);
  rc = render(tsv, png, title);
  if (!rc) {
    *written = 1;
    if (md) fprintf(md, "- `%s` at x = %g (run `%s`): ![%s](%s.png) · data: [%s.tsv](%s.tsv)\n", p->series, p->x, p->run_id,
                    base, base, base, base);
  }
  record_array_free(a);
  return rc;
}

int chartmap_write(const char *path, const char *dir, void *vmd, size_t *n_maps) {
  FILE *md = vmd;
  *n_maps = 0;
  record_file *f = record_open(path);
  if (!f) return MOEX_EIO;
  record_summary *s = record_read_summary(f);
  pick_t *picks;
  size_t np;
  int rc = report_pick_largest(s, &picks, &np);
  int header = 0;
  for (size_t j = 0; !rc && j < np; j++) {
    record_array *probe = record_read_array(f, picks[j].run_id, "interp/enc_vs_chart");
    int has = probe != NULL;
    record_array_free(probe);
    if (!has) continue;
    if (md && !header) {
      fprintf(md, "\n### Encoder chart maps of `%s`\n\nEach expert's code against the true coordinate of the chart it "
                  "serves, through the best affine map (points on the diagonal: the chart recovered).\n\n", path);
      header = 1;
    }
    int w = 0;
    rc = write_map(f, &picks[j], dir, j, md, &w);
    *n_maps += (size_t)w;
  }
  free(picks);
  record_summary_free(s);
  record_close(f);
  if (rc == MOEX_EINVAL && !np) moex_error(MOEX_EINVAL, "chartmap: %s has no report columns (figure, series, x)", path);
  return rc;
}
