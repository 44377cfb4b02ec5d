/* report_md: REPORT.md's text for a figure and for a records file. */
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

static void md_cell(FILE *fp, const char *s) {
  for (; *s; s++) {
    if (*s == '|') fputc('\\', fp);
    fputc(*s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s, fp);
  }
}

void report_md_code(FILE *fp, const char *s) {
  fputs("`", fp);
  for (; *s; s++) fputc(*s == '`' ? '\'' : *s == '\n' ? ' ' : *s, fp);
  fputs("`", fp);
}

static void write_figure_md(FILE *fp, const report_figure *f, int rendered, const char *why, size_t *counts) {
  char a[64], b[64], c[64], e[64], sl[96], cl[1024];
  fprintf(fp, "### Figure `%s`: %s against %s\n\n", f->id, f->y_name, f->x_name);
  if (rendered) fprintf(fp, "![%s](%s.png)\n\n[SVG](%s.svg) · data: [%s.tsv](%s.tsv) · script: [%s.gp](%s.gp)\n\n", f->id, f->file, f->file, f->file, f->file, f->file, f->file);
  else fprintf(fp, "_Figure not rendered: %s._ Data: [%s.tsv](%s.tsv), script: [%s.gp](%s.gp).\n\n", why, f->file, f->file, f->file, f->file);
  fprintf(fp, "Measured %s: mean ± sd over seeds (min – max), seeds per point; error bars in the figure span min to max.\n\n", f->y_name);
  fprintf(fp, "| series | %s | mean ± sd | min – max | seeds | paper |\n|---|---:|---|---|---:|---:|\n", f->x_name);
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    for (size_t k = 0; k < s->n_x; k++) {
      fputs("| ", fp);
      md_cell(fp, s->name);
      fprintf(fp, " | %.6g | %s ± %s | %s – %s | %zu | %s |\n", s->x[k], report_format_value(s->mean[k], a, sizeof a),
              report_format_value(s->sd[k], b, sizeof b), report_format_value(s->min[k], c, sizeof c),
              report_format_value(s->max[k], e, sizeof e), s->n_seeds[k], report_format_value(s->paper[k], cl, sizeof cl));
    }
  }
  fprintf(fp, "\nFitted exponents: OLS slope of log %s against log %s over the per-%s mean of log errors, with its 95%% interval.\n\n",
          f->y_name, f->x_name, f->x_name);
  fprintf(fp, "| series | slope [95%% interval] | R² | sizes | claim | bound exponent | tol | construction exponent | tol |\n"
              "|---|---|---:|---:|---|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    static const char *kind[] = {"none", "rate", "flat", "lower", "growth", "grows", "within"};
    fputs("| ", fp);
    md_cell(fp, s->name);
    fprintf(fp, " | %s | %s | %zu | %s", report_format_slope(s, sl, sizeof sl),
            s->fitted ? report_format_value(s->fit.r2, a, sizeof a) : "—", s->fit.n, kind[s->claim]);
    if (s->claim == REPORT_CLAIM_LOWER || s->claim == REPORT_CLAIM_WITHIN) {
      fputs(s->claim == REPORT_CLAIM_LOWER ? " than " : " of ", fp);
      md_cell(fp, s->claim_ref ? s->claim_ref : "");
    }
    fprintf(fp, " | %s | %s", report_format_value(s->claim == REPORT_CLAIM_FLAT || s->claim == REPORT_CLAIM_GROWS ? 0.0 : s->bound_slope, b, sizeof b),
            report_format_value(s->claim_tol, c, sizeof c));
    fprintf(fp, " | %s | %s |\n", report_format_value(s->construct_slope, b, sizeof b),
            report_format_value(isfinite(s->construct_slope) ? s->construct_tol : NAN, c, sizeof c));
  }
  fputs("\n", fp);
  int any = 0;
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    if (s->claim == REPORT_CLAIM_NONE) continue;
    any = 1;
    counts[s->verdict]++;
    fprintf(fp, "- verdict: %s — ", slope_verdict_name(s->verdict));
    report_format_claim(f, s, cl, sizeof cl);
    for (char *p = cl; *p; p++)
      if (*p == '\n') *p = ' ';
    fputs(cl, fp);
    /* the note says why: the reason a claim is inconclusive, or the checks that failed */
    int show_note = s->note && (s->verdict == SLOPE_INCONCLUSIVE || s->verdict == SLOPE_NOT_LEARNED || s->n_check_failed);
    if (show_note) {
      fputs(" [", fp);
      for (const char *p = s->note; *p; p++) fputc(*p == '\n' ? ' ' : *p, fp);
      fputs("]", fp);
    }
    fprintf(fp, " (rule: %s)\n", report_claim_rule(s->claim));
    if (s->claim == REPORT_CLAIM_RATE && isfinite(s->construct_slope)) {
      counts[s->construct_verdict]++;
      fprintf(fp, "- verdict: %s — ", slope_verdict_name(s->construct_verdict));
      report_format_construct_claim(f, s, cl, sizeof cl);
      fputs(cl, fp);
      if (show_note && s->n_check_failed) {
        fputs(" [", fp);
        for (const char *p = s->note; *p; p++) fputc(*p == '\n' ? ' ' : *p, fp);
        fputs("]", fp);
      }
      fprintf(fp, " (rule: %s)\n", verdict_rate->text);
    }
  }
  if (!any) fputs("No claims for this figure.\n", fp);
  fputs("\n", fp);
}

void report_md_file(FILE *fp, const report_data *d, const int *rendered, const char *why, size_t *counts) {
  fprintf(fp, "## Experiment `%s`\n\n", d->experiment);
  fputs("- file: ", fp);
  report_md_code(fp, d->path);
  fputs("\n- moex version: ", fp);
  report_md_code(fp, d->moex_version);
  fprintf(fp, "\n- created: %s on host ", d->created_utc);
  report_md_code(fp, d->host);
  fputs("\n- command: ", fp);
  report_md_code(fp, d->command_line);
  fputs("\n- grid: ", fp);
  report_md_code(fp, d->grid);
  size_t ok = d->n_runs - d->n_failed - d->n_unassigned;
  fprintf(fp, "\n- runs: %zu (plotted %zu, failed %zu, without a figure %zu)\n\n", d->n_runs, ok, d->n_failed,
          d->n_unassigned);
  for (size_t i = 0; i < d->n_figures; i++) write_figure_md(fp, &d->figures[i], rendered[i], why, counts);
  if (!d->n_figures) fputs("No figures: no ok run names a `figure`.\n\n", fp);
  fprintf(fp, "### Failed runs of `%s` (excluded from means and slopes)\n\n", d->experiment);
  if (!d->n_failed) {
    fputs("None.\n\n", fp);
    return;
  }
  fputs("| run | figure | series | x | seed | status |\n|---|---|---|---:|---:|---|\n", fp);
  for (size_t i = 0; i < d->n_failed; i++) {
    const report_failed *r = &d->failed[i];
    char a[64];
    fprintf(fp, "| %s | ", r->run_id);
    md_cell(fp, r->figure);
    fputs(" | ", fp);
    md_cell(fp, r->series);
    fprintf(fp, " | %s | ", report_format_value(r->x, a, sizeof a));
    if (r->seed == LLONG_MIN) fputs("—", fp);
    else fprintf(fp, "%lld", r->seed);
    fputs(" | ", fp);
    md_cell(fp, r->status);
    fputs(" |\n", fp);
  }
  fputs("\n", fp);
}

/* Gives every figure of every file a distinct output name. */
