/* moex-report: figures, tables and verdicts from moex results files.
 *
 *   moex-report FILE.h5 [FILE2.h5 ...] [--out DIR]
 *
 * Writes into DIR (default: the folder of the first FILE) per figure <figure>.tsv, <figure>.gp,
 * <figure>.png and <figure>.svg, and one REPORT.md covering every file; for series whose runs
 * carry routing data (eval/path, eval/label, eval/coord), routing maps <figure>_routes_<k>.png
 * (and, for runs with interp/enc_vs_chart, encoder chart maps <figure>_chart_<k>.png: chartmap.h)
 * with their TSV, listed at the end of REPORT.md. Exit status: 0 when
 * everything was written; 2 on bad input (bad option, a file that cannot be read as a moex
 * record, a damaged one (a checksum that does not match, named by run), an output folder that
 * cannot be written), with nothing written; 1 when the TSV files,
 * scripts and REPORT.md were written but some figure could not be rendered (gnuplot missing or
 * failing; REPORT.md says so). The gnuplot program is $MOEX_GNUPLOT, default "gnuplot". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/moex_error.h"
#include "record/record.h"
#include "report/report.h"
#include "report/chartmap.h"
#include "report/routemap.h"

static const char *SUMMARY =
    "Writes per-figure TSV, gnuplot scripts, PNG and SVG figures and REPORT.md (fitted slopes,\n"
    "verdicts per claim) from moex results files: moex-report FILE.h5 [FILE2.h5 ...] [--out DIR].\n"
    "Exit status: 0 ok, 1 figures not rendered (gnuplot missing or failing), 2 bad input.";

/* The report's one-line summary: figures, verdicts by kind, the scorecard's decided claims. */
static void print_summary(report_data *const *data, int n_files, const char *dir, const report_outcome *oc) {
  size_t n_fig = 0, cnt[SLOPE_N_VERDICTS] = {0};
  for (int i = 0; i < n_files; i++) {
    n_fig += data[i]->n_figures;
    for (size_t f = 0; f < data[i]->n_figures; f++)
      for (size_t s = 0; s < data[i]->figures[f].n_series; s++) {
        const report_series *se = &data[i]->figures[f].series[s];
        if (se->claim != REPORT_CLAIM_NONE) cnt[se->verdict]++;
        /* a rate claim's second exponent (the construction's) is a verdict of its own */
        if (se->claim == REPORT_CLAIM_RATE && isfinite(se->construct_slope)) cnt[se->construct_verdict]++;
      }
  }
  printf("moex-report: wrote %s/REPORT.md: %zu figure%s (%d rendered), verdicts: %zu holds, %zu fails, %zu inconclusive, "
         "%zu not learned\n", dir, n_fig, n_fig == 1 ? "" : "s", oc->rendered, cnt[SLOPE_HOLDS], cnt[SLOPE_FAILS],
         cnt[SLOPE_INCONCLUSIVE], cnt[SLOPE_NOT_LEARNED]);
  if (oc->claims) printf("moex-report: wrote %s/SCORECARD.md: %zu of %zu claims decided\n", dir, oc->decided, oc->claims);
}

int main(int argc, char **argv) {
  const char *out = NULL, *x_col = NULL, *y_col = NULL;
  int table = 0;
  cli_option_t opts[] = {{"--out", CLI_STRING, &out, 0, 0, "output folder (default: the folder of the first FILE)"},
                         {"--x", CLI_STRING, &x_col, 0, 0, "draw every figure against this numeric summary column "
                                                           "(e.g. E, L, pieces, params_active, compute_used); no claim is judged"},
                         {"--y", CLI_STRING, &y_col, 0, 0, "plot this error column instead (e.g. sup_err, test_mse)"},
                         {"--scorecard", CLI_FLAG, &table, 0, 0, "print the scorecard (SCORECARD.md) as a plain-text table at the end"}};
  /* positional arguments are the files; the options go to cli_parse */
  char **optv = malloc((size_t)(argc + 1) * sizeof *optv);
  const char **files = malloc((size_t)(argc + 1) * sizeof *files);
  if (!optv || !files) return 2;
  int optc = 1, n_files = 0;
  optv[0] = argv[0];
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1]) {
      optv[optc++] = argv[i];
      if ((!strcmp(argv[i], "--out") || !strcmp(argv[i], "--x") || !strcmp(argv[i], "--y")) && i + 1 < argc)
        optv[optc++] = argv[++i];
    } else {
      files[n_files++] = argv[i];
    }
  }
  optv[optc] = NULL;
  int rc = cli_parse("moex-report", SUMMARY, optc, optv, opts, sizeof opts / sizeof *opts);
  if (rc == 0 && n_files == 0) {
    fprintf(stderr, "moex-report: no input file (usage: moex-report FILE.h5 [FILE2.h5 ...] [--out DIR])\n");
    rc = 2;
  }
  if (rc) {
    free(optv);
    free(files);
    return rc == 1 ? 0 : 2;
  }
  char *dir = NULL;
  if (out) {
    dir = strdup(out);
  } else {
    dir = strdup(files[0]);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else if (dir) strcpy(dir, ".");
  }
  report_data **data = calloc((size_t)n_files, sizeof *data);
  int status = 0;
  for (int i = 0; i < n_files && !status; i++) {
    /* the whole file, checksums included, in a child first: a damaged file is refused by name
     * (exit 2), also one that would crash the HDF5 library */
    data[i] = record_verify(files[i]) ? NULL : report_load_xy(files[i], x_col, y_col);
    if (!data[i]) {
      fprintf(stderr, "moex-report: %s%s\n", moex_errmsg(), record_salvage_hint(files[i], moex_errmsg()));
      status = 2;
    }
  }
  report_outcome oc;
  if (!status) {
    report_opts ro = {record_join_argv(argc, argv), NULL, NULL};
    /* the table is written into memory and printed last, after the routing maps' lines */
    char *tbuf = NULL;
    size_t tlen = 0;
    if (table) ro.scorecard_text = open_memstream(&tbuf, &tlen);
    if (report_write(data, (size_t)n_files, dir, &ro, &oc)) {
      fprintf(stderr, "moex-report: %s\n", moex_errmsg());
      status = 2;
    } else {
      print_summary(data, n_files, dir, &oc);
      if (oc.not_rendered) {
        fprintf(stderr, "moex-report: %d figure%s not rendered: %s (TSV, scripts and REPORT.md written)\n",
                oc.not_rendered, oc.not_rendered == 1 ? "" : "s", oc.why);
        status = 1;
      }
      /* routing maps, after REPORT.md exists: appended as their own sections */
      if (!oc.not_rendered) {
        char mdpath[4096];
        snprintf(mdpath, sizeof mdpath, "%s/REPORT.md", dir);
        FILE *md = fopen(mdpath, "a");
        size_t total = 0;
        for (int i = 0; i < n_files && md; i++) {
          size_t n = 0;
          if (routemap_write(files[i], dir, md, &n)) {
            fprintf(stderr, "moex-report: %s\n", moex_errmsg());
            status = 1;
          }
          total += n;
        }
        /* encoder chart maps (experiments/autoenc.c), likewise */
        size_t charts = 0;
        for (int i = 0; i < n_files && md; i++) {
          size_t n = 0;
          if (chartmap_write(files[i], dir, md, &n)) {
            fprintf(stderr, "moex-report: %s\n", moex_errmsg());
            status = 1;
          }
          charts += n;
        }
        if (md) fclose(md);
        if (total) printf("moex-report: %zu routing map%s\n", total, total == 1 ? "" : "s");
        if (charts) printf("moex-report: %zu encoder chart map%s\n", charts, charts == 1 ? "" : "s");
      }
    }
    free((char *)ro.command_line);
    if (ro.scorecard_text) {
      fclose(ro.scorecard_text);
      if (!status || status == 1) printf("\n%s", tbuf ? tbuf : "");
      free(tbuf);
    }
  }
  for (int i = 0; i < n_files; i++) report_data_free(data[i]);
  free(data);
  free(dir);
  free(optv);
  free(files);
  return status;
}
