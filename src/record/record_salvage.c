/* record_salvage: a new, clean record from a damaged one, holding every run whose checksums
 * verify: the record's own copy where it can be walked (record_salvage_walk.c), the journal's
 * (record_journal.c) where it cannot. Damage so costs the runs it touched in both copies and no
 * others. Runs keep the order they were committed in. */
#include "record/record_salvage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/moex_error.h"

#define BATCH 256 /* runs per commit of the output */

typedef struct {
  const char *id;
  record_run *run;    /* borrowed from the walk or the journal */
  int from_journal;
  uint64_t pos, seq;  /* position in the record (when known), order found */
  const char *why;    /* why run is NULL */
} cand;

typedef struct {
  cand *c;
  size_t n;
  uint64_t top; /* highest position of a journal entry joined + 1 */
} cands;

static int by_id(const void *a, const void *b) { return strcmp(((const cand *)a)->id, ((const cand *)b)->id); }
static int by_pos(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

static const char UNCOMMITTED[] = "uncommitted (in the journal after its last commit mark, and the record cannot say)";

/* The runs of both sources, each id once: the record's copy when it verified, else the
 * journal's. n_walk of them come from the walk, sorted by id for the journal's look-ups. The
 * journal's entries after its last commit mark (a commit that may not have happened) count only
 * for ids the record lists; when the record can be walked the others are dropped (*dropped), when
 * it cannot they are named, not kept. */
static int join(record_salvage_walk *w, record_journal_contents *jc, cands *cs, size_t *dropped) {
  cs->c = calloc(w->n_ids + jc->n + 1, sizeof *cs->c);
  if (!cs->c) return moex_error(MOEX_ENOMEM, "record: out of memory");
  for (size_t i = 0; i < w->n_ids; i++)
    cs->c[cs->n++] = (cand){w->ids[i], w->runs[i], 0, i, i, w->why[i]};
  size_t n_walk = cs->n;
  qsort(cs->c, n_walk, sizeof *cs->c, by_id);
  for (size_t k = 0; k < jc->n; k++) {
    record_run *r = jc->e[k].run;
    cand key = {.id = r->id};
    cand *hit = n_walk ? bsearch(&key, cs->c, n_walk, sizeof *cs->c, by_id) : NULL;
    for (size_t j = n_walk; !hit && j < cs->n; j++) /* a duplicate entry: the later one counts */
      if (!strcmp(cs->c[j].id, r->id)) hit = &cs->c[j];
    int committed = k < jc->n_committed || (hit && hit < cs->c + n_walk);
    if (!committed && !w->open_error) {
      (*dropped)++;
      continue;
    }
    if (jc->e[k].pos + 1 > cs->top) cs->top = jc->e[k].pos + 1;
    if (!hit) {
      hit = &cs->c[cs->n++];
      *hit = (cand){r->id, NULL, 0, jc->e[k].pos, w->n_ids + k, committed ? NULL : UNCOMMITTED};
    }
    if (!committed) continue; /* a committed copy of the same id stays */
    hit->pos = jc->e[k].pos;
    if (!hit->run || hit->from_journal) {
      hit->run = r;
      hit->from_journal = 1;
    }
  }
  qsort(cs->c, cs->n, sizeof *cs->c, by_pos);
  return 0;
}

/* The kind of damage a reader's message names (results/SCHEMA.md, "Salvage"). */
static const char *why_kind(const char *msg) {
  if (msg == UNCOMMITTED) return "uncommitted";
  if (strstr(msg, "checksum")) return "checksum";
  if (strstr(msg, "has no dataset") || strstr(msg, "cannot open '") || strstr(msg, "cannot read '"))
    return "missing dataset";
  return "unreadable group";
}

/* Commits the kept runs to the writer, in batches. (Runs of one record cannot disagree on a
 * summary column's type, which is all a writer refuses of a valid run.) */
static int write_runs(record_writer *wr, cands *cs) {
  record_run *batch[BATCH];
  size_t nb = 0;
  for (size_t i = 0; i <= cs->n; i++) {
    if (i < cs->n && cs->c[i].run) batch[nb++] = cs->c[i].run;
    if (nb == 0 || (nb < BATCH && i < cs->n)) continue;
    int rc = record_writer_append(wr, batch, nb);
    if (rc) return rc;
    nb = 0;
  }
  return 0;
}

/* "cmd" of the damaged record's command line and the salvage's. */
static char *salvage_cmd(const record_meta *m, const char *command_line) {
  const char *a = m && m->command_line ? m->command_line : "";
  size_t n = strlen(a) + strlen(command_line ? command_line : "") + 32;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s  [salvaged by: %s]", a, command_line ? command_line : "moex-merge --salvage");
  return s;
}

/* The kept runs into out, written aside (out.salvaging) and renamed: out is the whole salvage
 * or as it was. */
static int write_out(const char *out, const record_meta *m, const char *command_line, cands *cs) {
  record_lock *lock = record_lock_take(out);
  if (!lock) return MOEX_EIO;
  size_t n = strlen(out) + 16;
  char *tmp = malloc(n), *cl = salvage_cmd(m, command_line);
  int rc = tmp && cl ? 0 : moex_error(MOEX_ENOMEM, "record: out of memory");
  if (!rc) {
    snprintf(tmp, n, "%s.salvaging", out);
    record_meta_in mi = {m ? m->experiment : "salvaged", m && m->grid ? m->grid : "", cl};
    record_writer *w = record_writer_open(tmp, &mi, RECORD_NEW);
    rc = w ? write_runs(w, cs) : MOEX_EIO;
    record_writer_close(w);
    if (!rc) rc = record_rename(tmp, out);
    if (rc) {
      char *j = record_journal_path(tmp);
      unlink(tmp);
      if (j) unlink(j);
      free(j);
    }
  }
  free(tmp);
  free(cl);
  record_lock_release(lock);
  return rc;
}

/* Runs known to have existed though no source names them: the positions the journal's intact
 * entries skip, and a run cut off at its damaged end when the record cannot be walked to say
 * what was committed; the journal's entries joined give at least top positions. */
static size_t lost_unnamed(const record_journal_contents *jc, uint64_t top, int record_ok, size_t named) {
  uint64_t at_least = top + (uint64_t)(jc->tail_bad && !record_ok);
  return at_least > named ? (size_t)(at_least - named) : 0;
}

static void report_lost(FILE *lines, const record_salvage_walk *w, const cands *cs, const record_journal_contents *jc,
                        record_salvage_stats *st) {
  for (size_t i = 0; i < cs->n; i++) {
    const cand *c = &cs->c[i];
    st->known++;
    if (c->run) {
      st->kept++;
      st->from_journal += c->from_journal;
      continue;
    }
    const char *why = c->why ? c->why : w->open_error ? w->open_error : "unreadable";
    if (lines) fprintf(lines, "run %s: not kept: %s (%s)\n", c->id, why_kind(why), why);
  }
  size_t unnamed = lost_unnamed(jc, cs->top, st->record, cs->n);
  st->known += unnamed;
  if (lines && jc->n_bad)
    fprintf(lines, "journal: %zu damaged stretch%s skipped%s; %zu run%s known only by position lost there%s\n",
            jc->n_bad, jc->n_bad == 1 ? "" : "es", jc->tail_bad ? " (one at its end)" : "", unnamed,
            unnamed == 1 ? "" : "s", jc->tail_bad && !st->record ? " (at least: its end is cut)" : "");
}

static int check_input(const char *in, const char *out, const char *jpath, int *in_exists) {
  struct stat si, so;
  *in_exists = stat(in, &si) == 0;
  if (!*in_exists && access(jpath, F_OK) != 0)
    return moex_error(MOEX_EINVAL, "salvage: '%s' does not exist, nor its journal '%s'", in, jpath);
  if (*in_exists && !S_ISREG(si.st_mode)) return moex_error(MOEX_EINVAL, "salvage: '%s' is not a regular file", in);
  int out_exists = stat(out, &so) == 0;
  if (*in_exists && out_exists && so.st_dev == si.st_dev && so.st_ino == si.st_ino)
    return moex_error(MOEX_EINVAL, "salvage: the output '%s' is the damaged file itself; write to a new file", out);
  struct stat sj; /* the output in place of the journal would destroy the second copy */
  if (out_exists && stat(jpath, &sj) == 0 && so.st_dev == sj.st_dev && so.st_ino == sj.st_ino)
    return moex_error(MOEX_EINVAL, "salvage: the output '%s' is the damaged record's journal; write to a new file", out);
  return 0;
}

int record_salvage(const char *in, const char *out, const char *command_line, FILE *lines, record_salvage_stats *st) {
  rh5_quiet();
  memset(st, 0, sizeof *st);
  if (!in || !out) return moex_error(MOEX_EINVAL, "salvage: needs a damaged record and an output path");
  char *jpath = record_journal_path(in);
  if (!jpath) return moex_error(MOEX_ENOMEM, "record: out of memory");
  int in_exists, rc = check_input(in, out, jpath, &in_exists);
  record_salvage_walk w = {0};
  record_journal_contents jc = {0};
  if (!rc && in_exists) rc = record_salvage_walk_run(in, &w);
  if (!rc && !in_exists) w.open_error = record_strdup("the record is missing");
  if (!rc && access(jpath, F_OK) == 0) st->journal = record_journal_read(jpath, &jc) ? -1 : 1;
  if (st->journal == 1 && w.has_meta && jc.has_meta && !record_meta_same(&w.meta, &jc.meta)) {
    /* another record's journal (a copy laid beside it, a crash between the two renames): its
     * runs are not this record's */
    record_journal_contents_free(&jc);
    st->journal = -2;
    if (lines)
      fprintf(lines, "journal '%s': ignored: its header is not this record's root attributes (another record's)\n",
              jpath);
  }
  st->record = !w.open_error;
  st->restarts = w.restarts;
  st->journal_bad = jc.n_bad;
  const record_meta *m = w.has_meta ? &w.meta : jc.has_meta ? &jc.meta : NULL;
  if (!rc && !m && !w.n_ids && !jc.n)
    rc = moex_error(MOEX_EIO, "salvage: nothing to salvage: '%s': %s; %s", in, w.open_error ? w.open_error : "no runs",
                    st->journal == 1    ? "its journal holds no run"
                    : st->journal == -2 ? "its journal is another record's"
                    : st->journal       ? "its journal is unreadable"
                                        : "no journal beside it");
  cands cs = {0};
  size_t dropped = 0;
  if (!rc) rc = join(&w, &jc, &cs, &dropped);
  if (!rc && dropped && lines)
    fprintf(lines, "journal: %zu run%s after its last commit mark not kept: the record does not hold %s (a commit "
            "that did not finish)\n", dropped, dropped == 1 ? "" : "s", dropped == 1 ? "it" : "them");
  if (!rc) rc = write_out(out, m, command_line, &cs);
  if (!rc) report_lost(lines, &w, &cs, &jc, st);
  free(cs.c);
  record_salvage_walk_free(&w);
  record_journal_contents_free(&jc);
  free(jpath);
  return rc;
}

int record_rename(const char *from, const char *to) {
  if (rename(from, to) != 0)
    return moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", from, to, strerror(errno));
  char *jf = record_journal_path(from), *jt = record_journal_path(to);
  int rc = !jf || !jt ? moex_error(MOEX_ENOMEM, "record: out of memory") : 0;
  int has = !rc && access(jf, F_OK) == 0;
  if (has && rename(jf, jt) != 0)
    rc = moex_error(MOEX_EIO, "record: cannot rename '%s' to '%s': %s", jf, jt, strerror(errno));
  else if (!rc && !has) unlink(jt); /* no stale journal beside the new record */
  free(jf);
  free(jt);
  const char *slash = strrchr(to, '/');
  char *dir = slash ? strndup(to, slash == to ? 1 : (size_t)(slash - to)) : record_strdup(".");
  if (!rc && dir) rc = rh5_fsync_path(dir);
  free(dir);
  if (rc) { /* the record itself is in place: a caller must not report it as not written */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", moex_errmsg());
    moex_error(rc, "'%s' is written and in place, but: %s", to, msg);
  }
  return rc;
}
