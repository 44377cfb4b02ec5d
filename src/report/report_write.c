/* report_write: the output folder: staging, figures rendered, REPORT.md, moved into place. */
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
#include "core/grow.h"
#include "core/moex_error.h"
#include "record/record.h"
#include "report/report_int.h"
#include "report/scorecard.h"

/* ---- REPORT.md and the output folder ------------------------------------------------------ */



/* Creates dir and its missing parents; *created tells whether dir itself was made here. */
static int mkdir_p(const char *dir, int *created) {
  *created = 0;
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    return moex_error(MOEX_EIO, "report: output folder '%s' exists and is not a folder", dir);
  }
  char *p = report_strdup(dir);
  if (!p) return moex_error(MOEX_ENOMEM, "report: out of memory");
  int rc = 0;
  for (char *c = p + 1; *c && !rc; c++) {
    if (*c != '/') continue;
    *c = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
      rc = moex_error(MOEX_EIO, "report: cannot create output folder '%s': %s", dir, strerror(errno));
    *c = '/';
  }
  if (!rc) {
    if (mkdir(p, 0777) == 0) *created = 1;
    else if (errno != EEXIST) rc = moex_error(MOEX_EIO, "report: cannot create output folder '%s': %s", dir, strerror(errno));
  }
  free(p);
  return rc;
}

typedef struct {
  char **names;  /* files made in the staging folder, in the order they are moved */
  size_t n, cap;
} namelist;

static int names_add(namelist *l, const char *name) {
  char **q = moex_grow(l->names, l->n, &l->cap, sizeof *q, 16);
  if (!q) return moex_error(MOEX_ENOMEM, "report: out of memory");
  l->names = q;
  if (!(l->names[l->n] = report_strdup(name))) return moex_error(MOEX_ENOMEM, "report: out of memory");
  l->n++;
  return 0;
}


static int file_nonempty(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Markdown table cell: '|' escaped, newlines made spaces. */

static int unique_names(report_data *const *files, size_t n_files) {
  for (size_t a = 0; a < n_files; a++)
    for (size_t i = 0; i < files[a]->n_figures; i++) {
      report_figure *f = &files[a]->figures[i];
      for (int k = 1;; k++) {
        int clash = 0;
        for (size_t b = 0; b <= a && !clash; b++)
          for (size_t j = 0; j < files[b]->n_figures && !clash; j++) {
            if (b == a && j >= i) break;
            clash = !strcmp(files[b]->figures[j].file, f->file) || !strcmp(f->file, "REPORT");
          }
        if (!clash && strcmp(f->file, "REPORT")) break;
        size_t n = strlen(files[a]->experiment) + strlen(f->id) + 32;
        char *nm = malloc(n);
        if (!nm) return moex_error(MOEX_ENOMEM, "report: out of memory");
        if (k == 1) report_fmt(nm, n, "%s-%s", files[a]->experiment, f->id);
        else report_fmt(nm, n, "%s-%s-%d", files[a]->experiment, f->id, k);
        report_file_safe(nm);
        free(f->file);
        f->file = nm;
      }
    }
  return 0;
}

static void remove_staging(const char *stage, const namelist *l) {
  char p[4096];
  for (size_t i = 0; i < l->n; i++) {
    report_fmt(p, sizeof p, "%s/%s", stage, l->names[i]);
    unlink(p);
  }
  report_fmt(p, sizeof p, "%s/gnuplot.log", stage);
  unlink(p);
  rmdir(stage);
}

/* SCORECARD.md in the staging folder, listed in l so that it is moved into place with the rest. */
static int write_scorecard(const char *stage, namelist *l, const scorecard_t *sc, const report_opts *opts,
                           size_t n_files) {
  char p[4096];
  int rc = names_add(l, "SCORECARD.md");
  if (rc) return rc;
  report_fmt(p, sizeof p, "%s/SCORECARD.md", stage);
  FILE *fp = fopen(p, "w");
  if (!fp) return moex_error(MOEX_EIO, "report: cannot create '%s'", p);
  fputs("# moex scorecard\n\nWritten by ", fp);
  report_md_code(fp, opts && opts->command_line ? opts->command_line : "moex-report");
  fprintf(fp, " from %zu file%s; the figures and the verdicts of every series are in [REPORT.md](REPORT.md).\n\n",
          n_files, n_files == 1 ? "" : "s");
  scorecard_write_md(fp, sc);
  return report_close_checked(fp, p);
}

int report_write(report_data *const *files, size_t n_files, const char *dir, const report_opts *opts,
                 report_outcome *out) {
  report_outcome dummy;
  if (!out) out = &dummy;
  memset(out, 0, sizeof *out);
  if (!files || !n_files || !dir || !*dir) return moex_error(MOEX_EINVAL, "report: no files or no output folder");
  if (strlen(dir) > 3000) return moex_error(MOEX_EINVAL, "report: output folder name too long");
  int created, rc = mkdir_p(dir, &created);
  if (rc) return rc;
  char stage[4096];
  report_fmt(stage, sizeof stage, "%s/.moex-report-XXXXXX", dir);
  if (!mkdtemp(stage)) {
    rc = moex_error(MOEX_EIO, "report: cannot write in output folder '%s': %s", dir, strerror(errno));
    if (created) rmdir(dir);
    return rc;
  }
  const char *prog = opts && opts->gnuplot ? opts->gnuplot : getenv("MOEX_GNUPLOT");
  if (!prog || !*prog) prog = "gnuplot";
  namelist l = {0};
  int **rendered = calloc(n_files, sizeof *rendered);
  int gp_missing = 0;
  char p[4096], name[1100];
  if (!rendered) rc = moex_error(MOEX_ENOMEM, "report: out of memory");
  if (!rc) rc = unique_names(files, n_files);
  for (size_t a = 0; a < n_files && !rc; a++) {
    rendered[a] = calloc(files[a]->n_figures + 1, sizeof **rendered);
    if (!rendered[a]) rc = moex_error(MOEX_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < files[a]->n_figures && !rc; i++) {
      const report_figure *f = &files[a]->figures[i];
      report_fmt(name, sizeof name, "%s.tsv", f->file);
      report_fmt(p, sizeof p, "%s/%s", stage, name);
      if ((rc = names_add(&l, name)) || (rc = report_write_tsv(f, p))) break;
      report_fmt(name, sizeof name, "%s.gp", f->file);
      report_fmt(p, sizeof p, "%s/%s", stage, name);
      if ((rc = names_add(&l, name)) || (rc = report_write_gp(f, p))) break;
      /* the images are listed before they exist so that an error removes them too */
      char png[1100], svg[1100];
      report_fmt(png, sizeof png, "%s.png", f->file);
      report_fmt(svg, sizeof svg, "%s.svg", f->file);
      if ((rc = names_add(&l, png)) || (rc = names_add(&l, svg))) break;
      char why[sizeof out->why];
      int g = gp_missing ? 2 : report_run_gnuplot(prog, stage, name, why, sizeof why);
      char pp[4096], ps[4096];
      report_fmt(pp, sizeof pp, "%s/%s", stage, png);
      report_fmt(ps, sizeof ps, "%s/%s", stage, svg);
      if (g == 0 && (!file_nonempty(pp) || !file_nonempty(ps))) {
        report_fmt(why, sizeof why, "%s ran on %s but did not make %s and %s", prog, name, png, svg);
        g = 1;
      }
      if (g == 2) gp_missing = 1;
      if (g == 0) {
        rendered[a][i] = 1;
        out->rendered++;
      } else {
        unlink(pp);
        unlink(ps);
        if (!out->not_rendered++ && !gp_missing) report_fmt(out->why, sizeof out->why, "%s", why);
        if (gp_missing && !out->why[0]) report_fmt(out->why, sizeof out->why, "%s", why);
      }
    }
  }
  /* figures redrawn against other axes (--x, --y) judge no claim: no scorecard either */
  int redrawn = 0;
  for (size_t a = 0; a < n_files; a++) redrawn |= files[a]->redrawn;
  scorecard_t sc = {0};
  if (!rc && !redrawn) rc = scorecard_build(files, n_files, &sc);
  if (!rc && !redrawn) rc = write_scorecard(stage, &l, &sc, opts, n_files);
  out->claims = sc.n;
  out->decided = sc.rows ? scorecard_decided(&sc) : 0;
  if (!rc && (rc = names_add(&l, "REPORT.md")) == 0) {
    report_fmt(p, sizeof p, "%s/REPORT.md", stage);
    FILE *fp = fopen(p, "w");
    if (!fp) rc = moex_error(MOEX_EIO, "report: cannot create '%s'", p);
    else {
      time_t now = time(NULL);
      struct tm tm;
      char date[40];
      gmtime_r(&now, &tm);
      strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
      size_t counts[SLOPE_N_VERDICTS] = {0};
      fprintf(fp, "# moex report\n\nGenerated %s by ", date);
      report_md_code(fp, opts && opts->command_line ? opts->command_line : "moex-report");
      fprintf(fp, " from %zu file%s.\n\n", n_files, n_files == 1 ? "" : "s");
      if (out->not_rendered) fprintf(fp, "**Figures not rendered: %s.**\n\n", out->why);
      if (redrawn) fputs("No scorecard: the figures are drawn against other columns (--x, --y), and claims are judged "
                         "only on their own axes.\n\n", fp);
      else scorecard_write_md(fp, &sc);
      fputs("## The records, figure by figure\n\n", fp);
      fputs("Conventions: points are the mean over seeds of each run's plotted error; spread is the sample sd "
            "over seeds, error bars span min to max; failed runs are listed and excluded. Slopes are fitted "
            "in log-log by ordinary least squares over the per-x mean of log errors, with a 95% t interval. "
            "Each claim ends in one verdict line: `- verdict: holds|fails|inconclusive|not learned — <claim> "
            "(rule: <rule>)`. ", fp);
      fprintf(fp, "A shape claim (rate, flat, lower, growth) is `not learned` when %s.\n\n", verdict_learned_text);
      for (size_t a = 0; a < n_files; a++) report_md_file(fp, files[a], rendered[a], out->why, counts);
      fprintf(fp, "## Verdicts at a glance\n\n- holds: %zu\n- fails: %zu\n- inconclusive: %zu\n- not learned: %zu\n",
              counts[SLOPE_HOLDS], counts[SLOPE_FAILS], counts[SLOPE_INCONCLUSIVE], counts[SLOPE_NOT_LEARNED]);
      rc = report_close_checked(fp, p);
    }
  }
  if (!rc && !redrawn && opts && opts->scorecard_text) scorecard_write_text(opts->scorecard_text, &sc);
  scorecard_free(&sc);
  /* move the finished files into place, REPORT.md last */
  for (size_t i = 0; i < l.n && !rc; i++) {
    char src[4096], dst[4096];
    report_fmt(src, sizeof src, "%s/%s", stage, l.names[i]);
    report_fmt(dst, sizeof dst, "%s/%s", dir, l.names[i]);
    if (access(src, F_OK) != 0) continue;  /* an image not rendered */
    if (rename(src, dst) != 0) rc = moex_error(MOEX_EIO, "report: cannot move '%s' to '%s': %s", src, dst, strerror(errno));
  }
  remove_staging(stage, &l);
  if (rc && created) rmdir(dir);
  for (size_t i = 0; i < l.n; i++) free(l.names[i]);
  free(l.names);
  for (size_t a = 0; rendered && a < n_files; a++) free(rendered[a]);
  free(rendered);
  return rc;
}
