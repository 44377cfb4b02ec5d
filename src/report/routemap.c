/* routemap: routing maps (path against the reference decomposition) as TSV + gnuplot PNG. */
#include "report/routemap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/moex_error.h"
#include "record/record.h"
#include "report/report_pick.h"

/* The chosen run of one series: largest x, then the first written. */
typedef report_pick pick_t;

/* Renders one map with gnuplot; 1-D coordinates: two strips (path, label) against the
 * coordinate; 2-D: two panels coloured by path and by label. */
static int render(const char *tsv, const char *png, int ncoord, const char *title, const char *lab_name,
                  long long cmax) {
  FILE *gp = popen("${MOEX_GNUPLOT:-gnuplot} 2>/dev/null", "w");
  if (!gp) return moex_error(MOEX_EIO, "routemap: cannot run gnuplot");
  fprintf(gp, "set terminal pngcairo size 1100,%d noenhanced\nset output '%s'\n", ncoord == 1 ? 420 : 560, png);
  /* a fixed colour range, so that a map with one path is not stretched over a tiny range */
  fprintf(gp, "set cbrange [0:%lld]\n", cmax > 0 ? cmax : 1);
  fprintf(gp, "set datafile separator '\\t'\nset key off\nset palette defined (0 '#1b9e77', 1 '#d95f02', 2 '#7570b3', 3 '#e7298a', 4 '#66a61e', 5 '#e6ab02', 6 '#a6761d', 7 '#666666')\n");
  if (ncoord == 1) {
    fprintf(gp, "set multiplot layout 2,1 title '%s'\n", title);
    fprintf(gp, "set ylabel 'path'\nunset xlabel\nplot '%s' skip 1 using 1:3:3 with points pt 7 ps 0.6 lc palette\n", tsv);
    fprintf(gp, "set ylabel '%s'\nset xlabel 'intrinsic coordinate (angle)'\nplot '%s' skip 1 using 1:4:4 with points pt 7 ps 0.6 lc palette\n",
            lab_name, tsv);
  } else {
    fprintf(gp, "set multiplot layout 1,2 title '%s'\nset size ratio -1\nset xlabel 'x1'\nset ylabel 'x2'\n", title);
    fprintf(gp, "set title 'routing path'\nplot '%s' skip 1 using 1:2:4 with points pt 5 ps 0.5 lc palette\n", tsv);
    fprintf(gp, "set title '%s'\nplot '%s' skip 1 using 1:2:5 with points pt 5 ps 0.5 lc palette\n", lab_name, tsv);
  }
  fprintf(gp, "unset multiplot\n");
  int st = pclose(gp);
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return moex_error(MOEX_EIO, "routemap: gnuplot failed on %s", tsv);
  return MOEX_OK;
}

/* Writes one map's TSV (coordinates, path, label) and PNG. */
static int write_map(record_file *f, const pick_t *p, const char *dir, size_t k, FILE *md, int *written) {
  *written = 0;
  record_array *c = record_read_array(f, p->run_id, "eval/coord");
  record_array *pa = c ? record_read_array(f, p->run_id, "eval/path") : NULL;
  record_array *la = pa ? record_read_array(f, p->run_id, "eval/label") : NULL;
  int rc = MOEX_OK;
  if (!c || !pa || !la || c->dims[0] != pa->dims[0] || la->dims[0] != pa->dims[0] || c->dims[1] > 2) goto done;
  char tsv[4096], png[4096], base[512];
  snprintf(base, sizeof base, "%s_routes_%zu", p->figure, k);
  snprintf(tsv, sizeof tsv, "%s/%s.tsv", dir, base);
  snprintf(png, sizeof png, "%s/%s.png", dir, base);
  FILE *t = fopen(tsv, "w");
  if (!t) {
    rc = moex_error(MOEX_EIO, "routemap: cannot write %s", tsv);
    goto done;
  }
  int nc = (int)c->dims[1];
  fprintf(t, nc == 1 ? "coord\tunused\tpath\tlabel\n" : "x1\tx2\tunused\tpath\tlabel\n");
  const double *cd = c->data;
  const int64_t *pd = pa->data, *ld = la->data;
  long long cmax = 0;
  for (size_t i = 0; i < pa->dims[0]; i++) {
    if (pd[i] > cmax) cmax = pd[i];
    if (ld[i] > cmax) cmax = ld[i];
    if (nc == 1) fprintf(t, "%.9g\t0\t%lld\t%lld\n", cd[i], (long long)pd[i], (long long)ld[i]);
    else fprintf(t, "%.9g\t%.9g\t0\t%lld\t%lld\n", cd[2 * i], cd[2 * i + 1], (long long)pd[i], (long long)ld[i]);
  }
  fclose(t);
  char title[512];
  snprintf(title, sizeof title, "%s: %s at x = %g (run %s)", p->figure, p->series, p->x, p->run_id);
  rc = render(tsv, png, nc, title, nc == 1 ? "chart (largest rho)" : "piece", cmax);
  if (!rc) {
    *written = 1;
    if (md) fprintf(md, "- `%s` at x = %g (run `%s`): ![%s](%s.png) · data: [%s.tsv](%s.tsv)\n", p->series, p->x, p->run_id,
                    base, base, base, base);
  }
done:
  record_array_free(c);
  record_array_free(pa);
  record_array_free(la);
  return rc;
}

int routemap_write(const char *path, const char *dir, void *vmd, size_t *n_maps) {
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
    record_array *probe = record_read_array(f, picks[j].run_id, "eval/path");
    int has_map = probe != NULL;
    record_array_free(probe);
    if (!has_map) continue; /* dense models route nowhere */
    if (md && !header) {
      fprintf(md, "\n### Routing maps of `%s`\n\nWhich expert path serves each evaluation point, against the reference "
                  "decomposition (the chart of largest rho, or the piece); colours are indices.\n\n", path);
      header = 1;
    }
    int w = 0;
    rc = write_map(f, &picks[j], dir, j, md, &w);
    *n_maps += (size_t)w;
  }
  free(picks);
  record_summary_free(s);
  record_close(f);
  if (rc == MOEX_EINVAL) moex_error(MOEX_EINVAL, "routemap: %s has no report columns (figure, series, x)", path);
  return rc;
}
