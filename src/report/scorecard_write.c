/* scorecard_write: the scorecard as a Markdown section and as a plain-text table. */
#include "report/scorecard.h"

#include <string.h>

#include "analysis/verdict.h"
#include "report/report_int.h"

static const char *const cell_name[SCORECARD_N_CELLS] = {"by construction", "trained, best protocol",
                                                          "trained, the paper's protocol (adam)"};

static void md_text(FILE *fp, const char *s) {
  for (; *s; s++) {
    if (*s == '|') fputc('\\', fp);
    fputc(*s == '\n' ? ' ' : *s, fp);
  }
}

static void md_cell(FILE *fp, const scorecard_cell *c, int with_proto) {
  fprintf(fp, " **%s**", scorecard_cell_verdict(c));
  if (c->state != 1) return;
  if (with_proto && c->protocol[0]) {
    fputs(" ", fp);
    report_md_code(fp, c->protocol);
  }
  fputs(" ", fp);
  md_text(fp, c->number);
}

/* The figure and record of every judged cell, each once. */
static void md_links(FILE *fp, const scorecard_row *r) {
  int any = 0;
  for (int k = 0; k < SCORECARD_N_CELLS; k++) {
    const scorecard_cell *c = &r->cell[k];
    if (c->state != 1) continue;
    int seen = 0;
    for (int j = 0; j < k && !seen; j++)
      seen = r->cell[j].state == 1 && !strcmp(r->cell[j].figure, c->figure) && !strcmp(r->cell[j].record, c->record);
    if (seen) continue;
    fprintf(fp, "%s[%s](%s.png) ", any ? "<br>" : "", c->figure, c->figure);
    report_md_code(fp, c->record);
    any = 1;
  }
  if (!any) fputs("—", fp);
}

void scorecard_write_md(FILE *fp, const scorecard_t *sc) {
  fprintf(fp, "## Scorecard: the paper's claims\n\n");
  fprintf(fp, "%zu of %zu claims decided (a cell `holds` or `fails`). Every cell is computed from the records "
              "this report read; the rules are listed below the table.\n\n",
          scorecard_decided(sc), sc->n);
  fputs("| claim | the paper | by construction | trained, best protocol | trained, paper's protocol (adam) | figure · record |\n"
        "|---|---|---|---|---|---|\n",
        fp);
  for (size_t i = 0; i < sc->n; i++) {
    const scorecard_row *r = &sc->rows[i];
    fputs("| **", fp);
    md_text(fp, r->claim->id);
    fputs("**: ", fp);
    md_text(fp, r->claim->claim);
    fputs(" | ", fp);
    md_text(fp, r->claim->paper);
    fputs(" |", fp);
    for (int k = 0; k < SCORECARD_N_CELLS; k++) {
      md_cell(fp, &r->cell[k], k == SCORECARD_BEST);
      fputs(" |", fp);
    }
    fputs(" ", fp);
    md_links(fp, r);
    fputs(" |\n", fp);
  }
  fputs("\n### What would decide the rest\n\n", fp);
  int any = 0;
  for (size_t i = 0; i < sc->n; i++)
    for (int k = 0; k < SCORECARD_N_CELLS; k++) {
      const scorecard_cell *c = &sc->rows[i].cell[k];
      if (c->state < 0 || (c->state == 1 && (c->verdict == SLOPE_HOLDS || c->verdict == SLOPE_FAILS))) continue;
      if (k == SCORECARD_PAPER && sc->rows[i].cell[SCORECARD_BEST].state == 0) continue; /* said once */
      fprintf(fp, "- %s, %s: %s — ", sc->rows[i].claim->id, cell_name[k], scorecard_cell_verdict(c));
      md_text(fp, c->why);
      fputs("\n", fp);
      any = 1;
    }
  if (!any) fputs("Nothing: every cell is decided.\n", fp);
  fputs("\n### The best protocol against the paper's\n\n", fp);
  any = 0;
  for (size_t i = 0; i < sc->n; i++) {
    const scorecard_row *r = &sc->rows[i];
    if (!r->versus.state) continue;
    fprintf(fp, "- %s: ", r->claim->id);
    report_md_code(fp, r->cell[SCORECARD_BEST].protocol);
    fprintf(fp, " below `adam`: **%s** (%zu series, %zu of them paired by seed)\n", slope_verdict_name(r->versus.verdict),
            r->versus.series, r->versus.paired);
    any = 1;
  }
  if (!any) fputs("No claim whose best protocol is not adam has series of both.\n", fp);
  fputs("\n### How the cells are judged\n\n", fp);
  fprintf(fp, "- rate, flat, lower, growth, grows: the rule of the series' own claim in the sections below "
              "(`rate`: %s).\n",
          verdict_rate->text);
  fprintf(fp, "- level (Tables 3 and 4): the `lower` rule against the paper's own values, which have no spread: %s.\n",
          verdict_lower->text);
  fputs("- E^L paths: the `lower` rule with the threshold as the lower series: every seed's share of pieces on "
        "distinct paths above 0.9 at >= 2 sizes holds; every seed at or below it at some size fails.\n", fp);
  fprintf(fp, "- within (Sec. 4.3 variants, tol 2): %s.\n", verdict_within->text);
  fprintf(fp, "- not learned: %s.\n", verdict_learned_text);
  fputs("- Several series in one cell (embeddings, figures): fails if any fails, else not learned if any, else "
        "inconclusive if any, else holds; the number is the deciding series'. The best protocol is the one whose "
        "series reach the lowest error (geometric mean), or the highest share of pieces; it is held against "
        "adam's series of the same model by the `lower` rule, on the pairs' differences where the runs are paired "
        "(one `pair_key`: the same initial parameters), series by series (fails if any fails, holds if all hold).\n\n",
        fp);
}

/* `s` in w columns, the last one a space (cut with '~' when longer) */
static void text_col(FILE *fp, const char *s, int w) {
  int n = (int)strlen(s);
  if (n < w) fprintf(fp, "%-*s", w, s);
  else fprintf(fp, "%.*s~ ", w - 2, s);
}

static void text_cell(FILE *fp, const scorecard_cell *c, int proto_w) {
  const char *v = c->state < 0 ? "-" : c->state == 1 && c->verdict == SLOPE_INCONCLUSIVE ? "inconcl." : scorecard_cell_verdict(c);
  text_col(fp, v, 12);
  text_col(fp, c->state == 1 ? c->brief : "", 16);
  if (proto_w) text_col(fp, c->state == 1 ? c->protocol : "", proto_w);
}

/* 14 + 28 + 44 + at most 11: at most 97 columns (the header 100) */
void scorecard_write_text(FILE *fp, const scorecard_t *sc) {
  fprintf(fp, "%-14s%-28s%-44s%s\n", "claim", "by construction", "trained: best protocol", "paper's (adam)");
  for (size_t i = 0; i < sc->n; i++) {
    const scorecard_row *r = &sc->rows[i];
    text_col(fp, r->claim->id, 14);
    text_cell(fp, &r->cell[SCORECARD_CONSTRUCTION], 0);
    text_cell(fp, &r->cell[SCORECARD_BEST], 16);
    const scorecard_cell *p = &r->cell[SCORECARD_PAPER];
    fputs(p->state == 1 && p->verdict == SLOPE_INCONCLUSIVE ? "inconcl." : scorecard_cell_verdict(p), fp);
    fputs("\n", fp);
  }
  fprintf(fp, "%zu of %zu claims decided (holds or fails in a cell).\n", scorecard_decided(sc), sc->n);
}
