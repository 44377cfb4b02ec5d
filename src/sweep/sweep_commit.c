/* sweep_commit: what the local pool (sweep.c) and the MPI dispatcher (sweep_mpi.c) share:
 * executing one run, the ordered committer (the only code touching the file), progress and the
 * interrupt flag. Neither of the two calls the other for these. */
#include "sweep/sweep_commit.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "core/runid.h"
volatile sig_atomic_t sweep_sigflag;


int sweep_interrupted(void) { return sweep_sigflag != 0; }

_Noreturn void sweep_exit_interrupted(void) {
  fflush(stdout);
  fflush(stderr);
  _exit(130);
}

double sweep_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- one run ---------------------------------------------------------------------------- */

/* The run's seed derives from its pair configuration (sweep_grid_pair_config: the configuration
 * without the axes that only choose how it fits), recorded as pair_key, so that the runs of two
 * protocols at one configuration and seed index start from the same draw and compare paired. */
record_run *sweep_exec_one(const char *experiment, unsigned long master, const sweep_grid_t *g,
                           sweep_run_fn fn, void *ctx, size_t i) {
  char config[1024], pair[1024], id[17];
  sweep_grid_config(g, experiment, i, config, sizeof config);
  sweep_grid_pair_config(g, experiment, i, pair, sizeof pair);
  runid_id(config, id);
  unsigned long seed = runid_seed(master, pair);
  record_run *rec = record_run_alloc(id);
  if (!rec) return NULL;
  moex_error_clear();
  int rc = fn(ctx, g, i, seed, rec), e = 0;
  if (rc) {
    /* the message is this thread's: take it before anything else can replace it */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", *moex_errmsg() ? moex_errmsg() : "run failed (no message)");
    int64_t s;
    e = record_run_set_str(rec, "status", "error");
    if (!e) e = record_run_set_str(rec, "error", msg);
    if (!e) e = record_run_summarize(rec, "status");
    if (!e) e = record_run_summarize(rec, "error");
    if (!e) e = record_run_set_str(rec, "config", config);
    if (!e && record_run_get_int(rec, "seed", &s)) e = record_run_set_int(rec, "seed", (int64_t)seed);
  }
  if (!e) e = record_run_set_str(rec, "pair_key", pair);
  if (!e) e = record_run_summarize(rec, "pair_key");
  if (e) {
    record_run_free(rec);
    return NULL;
  }
  return rec;
}

/* ---- committer: ordered commits and progress ------------------------------------------- */

static void fmt_time(double s, char *buf, size_t len) {
  if (!isfinite(s) || s < 0) {
    snprintf(buf, len, "--:--");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void sweep_progress_draw(sweep_committer_t *c, int force) {
  if (c->o->quiet || !c->tty) return;
  double now = sweep_now();
  if (!force && now - c->last_draw < 0.2) return;
  c->last_draw = now;
  size_t done = c->next, todo = c->n_todo;
  double el = now - c->t0, eta = done ? el / (double)done * (double)(todo - done) : NAN;
  char e1[32], e2[32], best[96] = "";
  fmt_time(el, e1, sizeof e1);
  fmt_time(eta, e2, sizeof e2);
  if (c->o->progress_metric && isfinite(c->best)) snprintf(best, sizeof best, "  best %s %.4g", c->o->progress_metric, c->best);
  enum { W = 24 };
  char bar[W + 1];
  size_t fill = todo ? done * W / todo : W;
  for (size_t k = 0; k < W; k++) bar[k] = k < fill ? '#' : '.';
  bar[W] = '\0';
  fprintf(stderr, "\r%s [%s] %zu/%zu  elapsed %s  ETA %s%s\033[K", c->o->experiment, bar, done + c->stats->skipped,
          c->stats->total, e1, e2, best);
  fflush(stderr);
}

/* One plain line per committed run (not a terminal). */
static void progress_line(sweep_committer_t *c, const record_run *r, size_t gi) {
  if (c->o->quiet) return;
  double v;
  const char *st = "?";
  record_run_get_str(r, "status", &st);
  if (c->o->progress_metric && !record_run_get_double(r, c->o->progress_metric, &v) && isfinite(v) &&
      !(v >= c->best))
    c->best = v;
  if (c->tty) return;
  char cfg[1024];
  sweep_grid_config(c->g, "", gi, cfg, sizeof cfg);
  printf("%s: [%zu/%zu] %s%s", c->o->experiment, c->next + c->stats->skipped, c->stats->total, r->id, cfg);
  if (c->o->progress_metric && !record_run_get_double(r, c->o->progress_metric, &v))
    printf("  %s %.4e", c->o->progress_metric, v);
  printf("  %s\n", st);
  fflush(stdout);
}

/* A run the file refuses (e.g. a summary column of another type) is replaced by a minimal
 * error record, so the sweep goes on and the problem is visible in the file. */
static record_run *refused_record(const record_run *r, const char *why) {
  record_run *e = record_run_alloc(r->id);
  char msg[600];
  snprintf(msg, sizeof msg, "commit refused: %s", why);
  if (e && !record_run_set_str(e, "status", "error") && !record_run_set_str(e, "error", msg) &&
      !record_run_summarize(e, NULL))
    return e;
  record_run_free(e);
  return NULL;
}

static int commit(sweep_committer_t *c, record_run *const *runs, size_t n) {
  sigset_t old;
  record_signals_block(&old);
  int rc = record_writer_append(c->w, runs, n);
  record_signals_restore(&old);
  return rc;
}

size_t sweep_ready_end(const sweep_committer_t *c) {
  size_t k = c->next;
  while (k < c->n_todo && c->slot[k]) k++;
  return k;
}

int sweep_commit_upto(sweep_committer_t *c, size_t k1) {
  size_t k0 = c->next;
  if (k1 <= k0) return MOEX_OK;
  int rc = commit(c, c->slot + k0, k1 - k0);
  /* a file that cannot be written (a full disk, an I/O error) ends the sweep: the record keeps
   * every earlier commit, and no run may be recorded as failed for what the disk did */
  if (rc && rc != MOEX_EINVAL)
    return moex_error(MOEX_EIO, "sweep: cannot commit to %s: %s; it holds the %zu runs committed before, --resume finishes it",
                      c->o->out, moex_errmsg(), record_writer_n_runs(c->w));
  if (rc) {
    /* all or none: find the offender(s) one by one */
    for (size_t k = k0; k < k1; k++) {
      if (!(rc = commit(c, c->slot + k, 1))) continue;
      if (rc != MOEX_EINVAL)
        return moex_error(MOEX_EIO, "sweep: cannot commit to %s: %s; it holds the %zu runs committed before, --resume finishes it",
                          c->o->out, moex_errmsg(), record_writer_n_runs(c->w));
      record_run *e = refused_record(c->slot[k], moex_errmsg());
      if (!e || commit(c, &e, 1)) {
        record_run_free(e);
        return moex_error(MOEX_EIO, "sweep: cannot commit run %s to %s: %s", c->slot[k]->id, c->o->out, moex_errmsg());
      }
      record_run_free(c->slot[k]);
      c->slot[k] = e;
    }
  }
  for (size_t k = k0; k < k1; k++) {
    const char *st = "";
    record_run_get_str(c->slot[k], "status", &st);
    c->stats->done++;
    c->stats->failed += strcmp(st, "ok") != 0;
    c->next = k + 1;
    progress_line(c, c->slot[k], c->todo[k]);
    record_run_free(c->slot[k]);
    c->slot[k] = NULL;
  }
  sweep_progress_draw(c, 1);
  return MOEX_OK;
}

