/* report_int: what the report's files (report_load, report_judge, report_plot, report_md,
 * report_write) share with each other; not part of the public API (report.h). */
#ifndef MOEX_REPORT_INT_H
#define MOEX_REPORT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "report/report.h"

char *report_strdup(const char *s); /* NULL for NULL or out of memory */
void report_file_safe(char *s);
report_claim_t report_parse_claim(const char *c);
int report_add_failed_checks(report_series *s, const char *list);
int report_judge(const report_figure *f, report_series *s);
/* verdict_lower of s against r over the x both measured (*shared of them; inconclusive below 2):
 * on the pairs' differences when every run of both at every such x has its pair there, one to one
 * (same pair_key; *paired = 1), else on the seeds' ranges. 0 or an error code (*v inconclusive). */
int report_lower(const report_series *s, const report_series *r, slope_verdict_t *v, int *paired, size_t *shared);
int report_close_checked(FILE *fp, const char *path);
int report_run_gnuplot(const char *prog, const char *cwd, const char *script, char *why, size_t nwhy);
void report_md_code(FILE *fp, const char *s);
void report_md_file(FILE *fp, const report_data *d, const int *rendered, const char *why, size_t *counts);
/* snprintf through a va_list: the report bounds its paths and messages and checks truncation
 * where it matters, so GCC's -Wformat-truncation guesses do not apply. */
int report_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
