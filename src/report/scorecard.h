/* scorecard: the paper's claims, one row each, judged from whatever records a report reads.
 *
 * Each claim (scorecard_claims.c) names where its evidence lives: the experiment, figure and
 * series of the network built by the proof (the construction) and of the trained models, and how
 * the cell is judged, always by a rule of analysis/verdict.h: the series' own claim as the report
 * judged it, or a rule applied here (rate with a stated bound; lower against the paper's own
 * numbers, which carry no spread; lower against a share threshold; within against a reference
 * series). A trained cell is judged per protocol (the series name's second word): "best" is the
 * protocol whose series reach the lowest error (the highest share for a share claim), "paper" is
 * the paper's protocol, `adam`. Several matched series combine: fails if any fails, else not
 * learned if any did not learn, else inconclusive if any is, else holds. A claim with no records
 * says "not run" and the command that runs it; an inconclusive cell says what would decide it. */
#ifndef MOEX_SCORECARD_H
#define MOEX_SCORECARD_H

#include <stddef.h>
#include <stdio.h>

#include "analysis/slope.h"
#include "report/report.h"

/* How a selected series is judged. */
typedef enum {
  SCORECARD_SERIES = 0, /* the series' own claim and verdict, as the report judged it */
  SCORECARD_RATE,       /* verdict_rate on the series' fit with the selector's bound and tol */
  SCORECARD_LEVEL,      /* verdict_lower: every seed below the paper's value at >= 2 x (paper_value) */
  SCORECARD_SHARE,      /* verdict_lower: every seed's `column` above `threshold` at >= 2 x */
  SCORECARD_WITHIN      /* verdict_within: gmean error <= threshold x the `ref_model` series' */
} scorecard_kind;

typedef struct {
  const char *experiment;  /* the record's experiment attribute; NULL: no such cell */
  const char *figure;      /* figure id, '*' matches any run of characters */
  const char *model;       /* the series name's first word; NULL: every series with a claim */
  const char *suffix;      /* what follows the protocol in the series name; NULL: anything */
  scorecard_kind kind;
  double bound, tol;       /* RATE: bound exponent and tol; WITHIN: tol = the factor */
  double threshold;        /* SHARE: the share every seed must exceed */
  const char *column;      /* SHARE: the summary column judged (read again from the record) */
  const char *ref_model;   /* WITHIN: the reference series' first word (same protocol) */
} scorecard_select;

#define SCORECARD_ALT 2    /* a cell takes the first selector that finds records */

typedef struct {
  const char *id;           /* short name, e.g. "Thm 4.8 rate" */
  const char *claim;        /* the claim in one line */
  const char *paper;        /* the paper's own figure for it */
  scorecard_select construction[SCORECARD_ALT];
  scorecard_select trained[SCORECARD_ALT];
  const char *command;      /* what produces its records at full size */
} scorecard_claim;

/* The paper's claims, in the scorecard's order. */
extern const scorecard_claim scorecard_claims[];
extern const size_t scorecard_n_claims;

typedef enum { SCORECARD_CONSTRUCTION = 0, SCORECARD_BEST, SCORECARD_PAPER, SCORECARD_N_CELLS } scorecard_col;

typedef struct {
  int state;                /* 0 not run, 1 judged, -1 no such cell (the claim has no construction) */
  slope_verdict_t verdict;
  char number[160];         /* the deciding number */
  char brief[24];           /* the same, short, for the plain-text table */
  char protocol[96];        /* trained cells */
  char why[320];            /* inconclusive / not learned / not run: what would decide it */
  char figure[256];         /* the figure's file in the report folder (no extension), or "" */
  char record[512];         /* the record it was read from, or "" */
} scorecard_cell;

/* The best protocol against the paper's (adam) under the lower rule, series by series (one model,
 * figure and rest of the name): paired by seed where every run has its pair (issue 31). */
typedef struct {
  int state;               /* 1 judged; 0 not (the best is adam, or no series of both) */
  slope_verdict_t verdict; /* fails if any series fails, holds if every one holds */
  size_t series, paired;   /* series compared, and of them judged on pairs */
} scorecard_versus;

typedef struct {
  const scorecard_claim *claim;
  scorecard_cell cell[SCORECARD_N_CELLS];
  scorecard_versus versus;
} scorecard_row;

typedef struct {
  size_t n;
  scorecard_row *rows;
} scorecard_t;

/* Judges every claim from the loaded files (their figures' `file` names final, as report_write
 * sets them). Returns 0 or a moex error code (out of memory). */
int scorecard_build(report_data *const *files, size_t n_files, scorecard_t *out);
void scorecard_free(scorecard_t *sc);

/* Rows with a decided cell (holds or fails in any cell), and rows in all. */
size_t scorecard_decided(const scorecard_t *sc);

/* The scorecard as a Markdown section (table, then what would decide each undecided cell, then
 * the rules), and as a plain-text table of at most 100 columns. */
void scorecard_write_md(FILE *fp, const scorecard_t *sc);
void scorecard_write_text(FILE *fp, const scorecard_t *sc);

/* The verdict's short name as the scorecard prints it ("holds", ..., "not run", "—"). */
const char *scorecard_cell_verdict(const scorecard_cell *c);

#endif
