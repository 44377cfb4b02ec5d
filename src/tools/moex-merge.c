/* moex-merge: joins results files of one experiment (shards, partial or resumed runs) into one.
 *
 *   moex-merge OUT.h5 IN.h5 [IN2.h5 ...]
 *
 * Runs are written through the record writer, in order of first appearance (file by file, run by
 * run), into OUT.h5.merging and renamed to OUT.h5 only when complete: OUT.h5 is either as it was
 * or the whole merge. Refused, with one line on stderr, exit status 2 and OUT.h5 untouched: an
 * input that is not a moex record, inputs of different experiments, a run id present in two
 * inputs with different content (record_run_compare), a damaged input (record_verify: a checksum
 * that does not match, named by run, or a file the HDF5 library cannot read), OUT.h5 being one of
 * the inputs, summary
 * columns whose types disagree, an OUT.h5 being written by another process (its lock, held for
 * the whole merge). Identical duplicates are kept once. OUT.h5's root attributes are
 * those of the first input (grid, experiment); its command_line is the first input's followed by
 * the merge command.
 *
 *   moex-merge --salvage DAMAGED.h5 -o OUT.h5
 *
 * writes to OUT.h5 a clean record of every run of DAMAGED.h5 whose checksums verify, read from
 * the record where it can still be walked and from its journal (DAMAGED.h5.journal) where not
 * (record_salvage(); results/SCHEMA.md, "Salvage"); prints one line per run it could not keep,
 * then `kept N of M runs`. Exit status: 0 every known run kept, 1 some lost (OUT.h5 holds the
 * rest), 2 a bad command line or input, or OUT.h5 not written (or written but its journal not
 * put beside it: the message then starts "'OUT.h5' is written and in place"), 3 nothing could be read (neither
 * the record nor its journal; OUT.h5 not written). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record.h"

/* runs per commit: each commit costs two fsyncs, so batches are large; runs are small */
#define BATCH 256

static int fail(const char *fmt, const char *a, const char *b, const char *c) {
  fprintf(stderr, "moex-merge: ");
  fprintf(stderr, fmt, a, b, c);
  fputc('\n', stderr);
  return 2;
}

/* A failed merge's OUT.h5.merging and its journal. */
static void drop_merging(const char *tmp) {
  unlink(tmp);
  size_t n = strlen(tmp) + 16;
  char *j = malloc(n);
  if (j) {
    snprintf(j, n, "%s.journal", tmp);
    unlink(j);
  }
  free(j);
}

/* moex-merge --salvage DAMAGED.h5 -o OUT.h5 (the two in either order) */
static int salvage_main(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--salvage") && i + 1 < argc && !in) in = argv[++i];
    else if (!strcmp(argv[i], "-o") && i + 1 < argc && !out) out = argv[++i];
    else return fail("salvage: unexpected argument '%s'; usage: moex-merge --salvage DAMAGED.h5 -o OUT.h5%s%s", argv[i], "", "");
  }
  if (!in || !out) return fail("salvage: usage: moex-merge --salvage DAMAGED.h5 -o OUT.h5 (missing %s)%s%s", in ? "-o OUT.h5" : "DAMAGED.h5", "", "");
  char *cmd = record_join_argv(argc, argv);
  record_salvage_stats st;
  int rc = record_salvage(in, out, cmd, stdout, &st);
  free(cmd);
  if (rc) {
    fail("%s%s%s", moex_errmsg(), "", "");
    return rc == MOEX_EINVAL ? 2 : st.known == 0 && !st.record && st.journal != 1 ? 3 : 2;
  }
  printf("moex-merge: salvage: kept %zu of %zu runs from '%s' into '%s' (%zu from its journal%s)\n", st.kept, st.known, in,
         out, st.from_journal, st.journal == 1 ? "" : st.journal == -2 ? "; it was another record's, ignored" : st.journal ? ", which is unreadable" : "; it has none");
  return st.kept == st.known ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf("usage: moex-merge OUT.h5 IN.h5 [IN2.h5 ...]\nJoins results files of one experiment into OUT.h5 "
           "(crash-safe); refuses other experiments and runs with the same id but different content.\n"
           "usage: moex-merge --salvage DAMAGED.h5 -o OUT.h5\nWrites every run of DAMAGED.h5 whose checksums verify "
           "(from the record, or its journal) to OUT.h5; exit 0 all kept, 1 some lost, 2 bad input, 3 nothing readable.\n");
    return 0;
  }
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--salvage")) return salvage_main(argc, argv);
  if (argc < 3) return fail("usage: moex-merge OUT.h5 IN.h5 [IN2.h5 ...] (got %s%s%s)", argc < 2 ? "no" : "one",
                            " argument", argc < 2 ? "s" : "");
  const char *out = argv[1];
  int n_in = argc - 2, status = 0;
  record_file **in = calloc((size_t)n_in, sizeof *in);
  struct stat so;
  int out_exists = stat(out, &so) == 0;
  for (int i = 0; i < n_in && !status; i++) {
    const char *p = argv[2 + i];
    struct stat si;
    if (out_exists && stat(p, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
      status = fail("output '%s' is also an input ('%s')%s; write the merge to a new file", out, p, "");
      break;
    }
    /* verified whole first (in a child: a file that crashes HDF5 is refused too), so that no
     * damaged run reaches OUT.h5 */
    if (record_verify(p) || !(in[i] = record_open(p))) {
      status = fail("%s%s%s", moex_errmsg(), record_salvage_hint(p, moex_errmsg()), "");
      break;
    }
    const char *e0 = record_file_meta(in[0])->experiment, *ei = record_file_meta(in[i])->experiment;
    if (strcmp(e0 ? e0 : "", ei ? ei : "") != 0) {
      char msg[512];
      snprintf(msg, sizeof msg, "'%s' holds experiment '%s'", argv[2], e0 ? e0 : "");
      status = fail("%s, but '%s' holds experiment '%s'; refusing to merge", msg, p, ei ? ei : "");
    }
  }
  /* every duplicate id must have the same content everywhere before anything is written */
  for (int i = 1; i < n_in && !status; i++)
    for (size_t k = 0; k < record_n_runs(in[i]) && !status; k++) {
      const char *id = record_run_id(in[i], k);
      for (int j = 0; j < i && !status; j++) {
        if (!record_has_run(in[j], id)) continue;
        record_run *a = record_read_run(in[j], id, RECORD_READ_ALL);
        record_run *b = a ? record_read_run(in[i], id, RECORD_READ_ALL) : NULL;
        if (!a || !b) status = fail("%s%s%s", moex_errmsg(), "", "");
        else if (record_run_compare(a, b)) {
          char msg[1024];
          snprintf(msg, sizeof msg, "%s", moex_errmsg());
          char where[1024];
          snprintf(where, sizeof where, "run '%s' differs between '%s' and '%s'", id, argv[2 + j], argv[2 + i]);
          status = fail("%s: %s; refusing to merge%s", where, msg, "");
        }
        record_run_free(a);
        record_run_free(b);
        break;  /* compared with its first occurrence; that one was checked against the others */
      }
    }
  char *tmp = NULL;
  record_writer *w = NULL;
  /* OUT.h5 itself is locked for the whole merge: a sweep writing it, or a second merge into it,
   * would otherwise lose its runs under our final rename */
  record_lock *lock = NULL;
  if (!status && !(lock = record_lock_take(out))) status = fail("%s%s%s", moex_errmsg(), "", "");
  if (!status) {
    size_t n = strlen(out) + 16;
    tmp = malloc(n);
    snprintf(tmp, n, "%s.merging", out);
    const record_meta *m = record_file_meta(in[0]);
    char *cmd = record_join_argv(argc, argv);
    size_t nc = strlen(m->command_line ? m->command_line : "") + strlen(cmd ? cmd : "") + 32;
    char *cl = malloc(nc);
    snprintf(cl, nc, "%s  [merged by: %s]", m->command_line ? m->command_line : "", cmd ? cmd : "moex-merge");
    record_meta_in mi = {m->experiment, m->grid ? m->grid : "", cl};
    w = record_writer_open(tmp, &mi, RECORD_NEW);
    if (!w) status = fail("%s%s%s", moex_errmsg(), "", "");
    free(cmd);
    free(cl);
  }
  size_t total = 0, nb = 0;
  record_run **batch = calloc(BATCH, sizeof *batch);
  if (!batch && !status) status = fail("out of memory%s%s%s", "", "", "");
  for (int i = 0; i < n_in && !status; i++) {
    size_t nr = record_n_runs(in[i]);
    for (size_t k = 0; k < nr && !status; k++) {
      const char *id = record_run_id(in[i], k);
      int dup = 0;
      for (int j = 0; j < i && !dup; j++) dup = record_has_run(in[j], id);
      if (dup) continue;
      if (!(batch[nb] = record_read_run(in[i], id, RECORD_READ_ALL))) {
        status = fail("%s%s%s", moex_errmsg(), "", "");
        break;
      }
      nb++;
      int last = i == n_in - 1 && k == nr - 1;
      if (nb == BATCH || last) {
        if (record_writer_append(w, batch, nb)) status = fail("%s (while merging '%s')%s", moex_errmsg(), argv[2 + i], "");
        total += nb;
        for (size_t t = 0; t < nb; t++) record_run_free(batch[t]);
        nb = 0;
      }
    }
  }
  /* the last input may end with duplicates only */
  if (!status && nb && record_writer_append(w, batch, nb)) status = fail("%s%s%s", moex_errmsg(), "", "");
  total += nb;
  for (size_t t = 0; t < nb; t++) record_run_free(batch[t]);
  free(batch);
  if (w) record_writer_close(w);
  if (!status && record_rename(tmp, out)) status = fail("%s%s%s", moex_errmsg(), "", "");
  if (status && tmp) drop_merging(tmp);
  record_lock_release(lock);
  if (!status) printf("moex-merge: wrote %s: %zu runs from %d files\n", out, total, n_in);
  for (int i = 0; i < n_in; i++) record_close(in[i]);
  free(in);
  free(tmp);
  return status;
}
