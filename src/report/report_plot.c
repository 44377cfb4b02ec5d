/* report_plot: a figure's TSV and gnuplot script, and running gnuplot on it. */
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/verdict.h"
#include "core/moex_error.h"
#include "record/record.h"
#include "report/report_int.h"

/* snprintf through a va_list: paths and messages here are bounded and truncation is checked
 * where it matters (path_ok), so GCC's -Wformat-truncation guesses do not apply. */
int report_fmt(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return w;
}

/* ---- TSV and gnuplot ---------------------------------------------------------------------- */

/* Writes s with tabs and newlines made spaces (TSV cells). */
static void put_cell(FILE *fp, const char *s) {
  for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, fp);
}

int report_close_checked(FILE *fp, const char *path) {
  int bad = ferror(fp);
  if (fclose(fp) != 0 || bad) return moex_error(MOEX_EIO, "report: cannot write '%s'", path);
  return 0;
}

int report_write_tsv(const report_figure *f, const char *path) {
  FILE *fp = fopen(path, "w");
  if (!fp) return moex_error(MOEX_EIO, "report: cannot create '%s'", path);
  fprintf(fp, "series\tx\tmean\tsd\tmin\tmax\tn_seeds\tpaper_value\n");
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    for (size_t k = 0; k < s->n_x; k++) {
      put_cell(fp, s->name);
      fprintf(fp, "\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%zu\t%.17g\n", s->x[k], s->mean[k], s->sd[k], s->min[k],
              s->max[k], s->n_seeds[k], s->paper[k]);
    }
  }
  return report_close_checked(fp, path);
}

/* A gnuplot double-quoted string: backslash and quote escaped, tabs/newlines made spaces. */
static void put_gpstr(FILE *fp, const char *s) {
  fputc('"', fp);
  for (; *s; s++) {
    if (*s == '\\' || *s == '"') fputc('\\', fp);
    fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, fp);
  }
  fputc('"', fp);
}

int report_write_gp(const report_figure *f, const char *path) {
  FILE *fp = fopen(path, "w");
  if (!fp) return moex_error(MOEX_EIO, "report: cannot create '%s'", path);
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (size_t i = 0; i < f->n_series; i++)
    for (size_t k = 0; k < f->series[i].n_x; k++) {
      const report_series *s = &f->series[i];
      if (s->x[k] > 0 && s->x[k] < xlo) xlo = s->x[k];
      if (s->x[k] > xhi) xhi = s->x[k];
      if (s->min[k] > 0 && s->min[k] < ylo) ylo = s->min[k];
      if (s->max[k] > yhi) yhi = s->max[k];
      if (s->paper[k] > 0 && s->paper[k] < ylo) ylo = s->paper[k];
      if (s->paper[k] > yhi) yhi = s->paper[k];
    }
  fprintf(fp, "# moex-report: figure %s. Reads %s.tsv; draws %s.png and %s.svg.\n", f->id, f->file, f->file,
          f->file);
  fprintf(fp, "# Points: mean over seeds; error bars: min to max over seeds. Slopes fitted by moex (C), not here.\n");
  fprintf(fp, "set datafile separator \"\\t\"\nset logscale xy\nset format y \"%%g\"\nset grid\nset key outside below noenhanced\n");
  fprintf(fp, "set title ");
  put_gpstr(fp, f->id);
  fprintf(fp, " noenhanced\nset xlabel ");
  put_gpstr(fp, f->x_name);
  fprintf(fp, " noenhanced\nset ylabel ");
  char yl[300];
  snprintf(yl, sizeof yl, "%s (mean over seeds, bars min-max)", f->y_name);
  put_gpstr(fp, yl);
  fprintf(fp, " noenhanced\n");
  if (xlo < xhi) fprintf(fp, "set xrange [%.17g:%.17g]\n", xlo / 1.25, xhi * 1.25);
  else if (xlo == xhi) fprintf(fp, "set xrange [%.17g:%.17g]\n", xlo / 2, xhi * 2);
  if (ylo <= yhi && isfinite(ylo)) fprintf(fp, "set yrange [%.17g:%.17g]\n", ylo / 1.5, yhi * 1.5);
  /* tick marks at the measured x values when they are few (log axes show few decades) */
  double xt[16];
  size_t nxt = 0;
  int many = 0;
  for (size_t i = 0; i < f->n_series && !many; i++)
    for (size_t k = 0; k < f->series[i].n_x && !many; k++) {
      double x = f->series[i].x[k];
      size_t t = 0;
      while (t < nxt && xt[t] != x) t++;
      if (t == nxt) {
        if (nxt == 16) many = 1;
        else xt[nxt++] = x;
      }
    }
  if (!many && nxt) {
    fprintf(fp, "set xtics (");
    for (size_t t = 0; t < nxt; t++) fprintf(fp, "%s%.6g", t ? ", " : "", xt[t]);
    fprintf(fp, ")\n");
  }
  /* the bound's (or flatness') reference line of each series: two points, anchored at its first */
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    double b = s->claim == REPORT_CLAIM_RATE ? s->bound_slope : s->claim == REPORT_CLAIM_FLAT ? 0.0 : NAN;
    if (!isfinite(b) || s->n_x < 2 || !(s->x[0] > 0)) continue;
    double x0 = s->x[0], x1 = s->x[s->n_x - 1], y0 = s->mean[0];
    fprintf(fp, "$ref%zu << EOD\n%.17g\t%.17g\n%.17g\t%.17g\nEOD\n", i, x0, y0, x1, y0 * pow(x1 / x0, b));
  }
  /* a within claim's reference (optim_gap: the construction) as a horizontal line across the
   * figure, and the claim's limit (tol times it) dashed: one pair per figure, from the first
   * series that claims it */
  const report_series *wref = NULL;
  double wtol = NAN;
  for (size_t i = 0; i < f->n_series && !wref; i++) {
    const report_series *s = &f->series[i];
    if (s->claim != REPORT_CLAIM_WITHIN) continue;
    const report_series *r = report_find_series(f, s->claim_ref);
    if (r && r != s && report_series_gmean(r) > 0 && isfinite(xlo) && isfinite(xhi)) {
      wref = r;
      wtol = s->claim_tol;
    }
  }
  if (wref) {
    double y = report_series_gmean(wref);
    fprintf(fp, "$within << EOD\n%.17g\t%.17g\t%.17g\n%.17g\t%.17g\t%.17g\nEOD\n", xlo / 1.25, y, wtol * y, xhi * 1.25, y,
            wtol * y);
  }
  fprintf(fp, "set terminal pngcairo size 1100,800 noenhanced\nset output \"%s.png\"\nplot ", f->file);
  int first = 1;
  if (wref) {
    char t1[300], t2[300];
    snprintf(t1, sizeof t1, "%s (line)", wref->name);
    snprintf(t2, sizeof t2, "%g x %s", wtol, wref->name);
    fprintf(fp, "$within using 1:2 with lines lc rgb \"black\" lw 2 title ");
    put_gpstr(fp, t1);
    fprintf(fp, ", \\\n  $within using 1:3 with lines lc rgb \"black\" dt 2 lw 1.5 title ");
    put_gpstr(fp, t2);
    first = 0;
  }
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    char sl[96], title[400];
    report_format_slope(s, sl, sizeof sl);
    snprintf(title, sizeof title, "%s: slope %s", s->name, sl);
    fprintf(fp, "%s\\\n  \"%s.tsv\" skip 1 using 2:(strcol(1) eq ", first ? "" : ", ", f->file);
    put_gpstr(fp, s->name);
    fprintf(fp, " ? $3 : NaN):5:6 with yerrorlines lc %zu lw 2 pt 7 title ", i + 1);
    put_gpstr(fp, title);
    first = 0;
    double b = s->claim == REPORT_CLAIM_RATE ? s->bound_slope : s->claim == REPORT_CLAIM_FLAT ? 0.0 : NAN;
    if (isfinite(b) && s->n_x >= 2 && s->x[0] > 0) {
      snprintf(title, sizeof title, "%s: %s slope %.3g", s->name,
               s->claim == REPORT_CLAIM_RATE ? "bound" : "flat", b);
      fprintf(fp, ", \\\n  $ref%zu using 1:2 with lines dt 2 lc %zu lw 1.5 title ", i, i + 1);
      put_gpstr(fp, title);
    }
    int has_paper = 0;
    for (size_t k = 0; k < s->n_x; k++) has_paper |= isfinite(s->paper[k]);
    if (has_paper) {
      fprintf(fp, ", \\\n  \"%s.tsv\" skip 1 using 2:(strcol(1) eq ", f->file);
      put_gpstr(fp, s->name);
      snprintf(title, sizeof title, "%s: paper", s->name);
      fprintf(fp, " ? $8 : NaN) with points lc %zu pt 6 ps 2 title ", i + 1);
      put_gpstr(fp, title);
    }
  }
  if (first) fprintf(fp, "NaN notitle");
  fprintf(fp, "\nset terminal svg size 1100,800 noenhanced\nset output \"%s.svg\"\nreplot\nunset output\n",
          f->file);
  return report_close_checked(fp, path);
}


/* Runs `prog script` in folder `cwd`, its output into cwd/gnuplot.log. 0 on success; else fills
 * why and returns 1 (failed on this script) or 2 (cannot run the program at all). */
int report_run_gnuplot(const char *prog, const char *cwd, const char *script, char *why, size_t nwhy) {
  char log[4096];
  report_fmt(log, sizeof log, "%s/gnuplot.log", cwd);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    report_fmt(why, nwhy, "cannot fork to run %s: %s", prog, strerror(errno));
    return 2;
  }
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (chdir(cwd) != 0) _exit(126);
    execlp(prog, prog, script, (char *)NULL);
    dprintf(2, "moex-report: cannot run '%s': %s\n", prog, strerror(errno));
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      report_fmt(why, nwhy, "waitpid: %s", strerror(errno));
      return 2;
    }
  char first[300] = "";
  FILE *lf = fopen(log, "r");
  if (lf) {
    /* the first line that is not a mere warning says what went wrong */
    char line[300];
    while (fgets(line, sizeof line, lf))
      if (!first[0] || strstr(first, "warning")) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) report_fmt(first, sizeof first, "%s", line);
      }
    fclose(lf);
  }
  unlink(log);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
    report_fmt(why, nwhy, "gnuplot not found: cannot run '%s' (install gnuplot, e.g. gnuplot-nox)", prog);
    return 2;
  }
  if (WIFEXITED(st)) report_fmt(why, nwhy, "%s failed on %s (exit status %d): %s", prog, script, WEXITSTATUS(st), first);
  else report_fmt(why, nwhy, "%s was killed on %s (signal %d)", prog, script, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return 1;
}
