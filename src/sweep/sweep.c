/* sweep: the runner. A pool of worker threads runs fn on private record_runs; the main thread
 * alone touches HDF5 (not thread-safe in this build) and commits finished runs in grid order,
 * buffering those that finish early, so the file's contents do not depend on --jobs. */
#include "sweep/sweep.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/blas.h"
#include "core/moex_error.h"
#include "core/runid.h"
#include "sweep/sweep_commit.h"
#include "sweep/sweep_mpi.h"

static void on_signal(int sig) {
  (void)sig;
  sweep_sigflag = 1;
}

/* ---- the local pool ---------------------------------------------------------------------- */

/* Shared by the main thread and the workers. Reference counted: after an interrupt, workers
 * still inside fn are abandoned (detached) and the last one out frees the pool, so nothing
 * they touch belongs to the caller except ctx. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv_main, cv_work;
  int refs;
  int stop;
  size_t n_todo, take, window;
  const size_t *todo;     /* pool copy */
  record_run **slot;      /* the committer's slots (main frees them; a worker after stop frees its own) */
  size_t committed;       /* the committer's `next`, read by workers under mu */
  sweep_run_fn fn;
  void *ctx;
  char *experiment;
  unsigned long master;
  sweep_grid_t grid;      /* a copy: abandoned workers never read the caller's grid */
  char *grid_text;
  int *busy;              /* per thread */
  size_t *todo_copy;
  record_run **slot_copy;
} pool_t;

typedef struct {
  pool_t *p;
  int id;
} worker_arg;

static void pool_unref(pool_t *p) {
  /* called with mu held; unlocks */
  int last = --p->refs == 0;
  pthread_mutex_unlock(&p->mu);
  if (!last) return;
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv_main);
  pthread_cond_destroy(&p->cv_work);
  if (p->slot_copy)
    for (size_t k = 0; k < p->n_todo; k++) record_run_free(p->slot_copy[k]);
  free(p->slot_copy);
  free(p->todo_copy);
  free(p->busy);
  free(p->experiment);
  free(p->grid_text);
  free(p);
}

static void *worker(void *arg) {
  worker_arg *wa = arg;
  pool_t *p = wa->p;
  int me = wa->id;
  free(wa);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->take < p->n_todo && p->take >= p->committed + p->window)
      pthread_cond_wait(&p->cv_work, &p->mu);
    if (p->stop || p->take >= p->n_todo) break;
    size_t k = p->take++;
    p->busy[me] = 1;
    pthread_mutex_unlock(&p->mu);
    record_run *r = sweep_exec_one(p->experiment, p->master, &p->grid, p->fn, p->ctx, p->todo[k]);
    char msg[512];
    if (!r) snprintf(msg, sizeof msg, "%s", moex_errmsg());
    pthread_mutex_lock(&p->mu);
    p->busy[me] = 0;
    if (p->stop) {
      record_run_free(r);
      break;
    }
    if (!r) {
      /* out of memory in a worker: stop the sweep, the main thread reports it */
      p->stop = 2;
      pthread_cond_broadcast(&p->cv_main);
      break;
    }
    p->slot[k] = r;
    pthread_cond_signal(&p->cv_main);
  }
  pthread_cond_broadcast(&p->cv_main);
  pool_unref(p);
  return NULL;
}

/* Deep copy of the grid's names and values into one block. */
static int grid_copy(const sweep_grid_t *g, sweep_grid_t *out, char **text) {
  size_t len = 0;
  for (size_t a = 0; a < g->n_axes; a++) {
    len += strlen(g->axis[a].name) + 1;
    for (size_t k = 0; k < g->axis[a].n; k++) len += strlen(g->axis[a].values[k]) + 1;
  }
  char *t = malloc(len + 1), *q = t;
  if (!t) return moex_error(MOEX_ENOMEM, "sweep: out of memory");
  *out = *g;
  out->owned = NULL;
  for (size_t a = 0; a < g->n_axes; a++) {
    size_t l = strlen(g->axis[a].name) + 1;
    memcpy(q, g->axis[a].name, l);
    out->axis[a].name = q;
    q += l;
    for (size_t k = 0; k < g->axis[a].n; k++) {
      l = strlen(g->axis[a].values[k]) + 1;
      memcpy(q, g->axis[a].values[k], l);
      out->axis[a].values[k] = q;
      q += l;
    }
  }
  *text = t;
  return MOEX_OK;
}

/* Starts nth workers on p into th[]; *started counts those running (each holds a reference to
 * p). Workers never take the sweep's signals: only the main thread sees Ctrl-C. Returns 0, or an
 * error after which the started ones still run and must be joined. */
static int pool_start(pool_t *p, size_t nth, pthread_t *th, size_t *started) {
  sigset_t all, old;
  sigemptyset(&all);
  sigaddset(&all, SIGINT);
  sigaddset(&all, SIGTERM);
  sigaddset(&all, SIGHUP);
  sigaddset(&all, SIGQUIT);
  int rc = MOEX_OK;
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (size_t t = 0; t < nth && !rc; t++) {
    worker_arg *wa = malloc(sizeof *wa);
    if (!wa) {
      rc = moex_error(MOEX_ENOMEM, "sweep: out of memory");
      break;
    }
    wa->p = p;
    wa->id = (int)t;
    pthread_mutex_lock(&p->mu);
    p->refs++;
    pthread_mutex_unlock(&p->mu);
    if (pthread_create(&th[t], NULL, worker, wa)) {
      free(wa);
      pthread_mutex_lock(&p->mu);
      p->refs--;
      pthread_mutex_unlock(&p->mu);
      rc = moex_error(MOEX_EIO, "sweep: cannot start worker thread %zu", t);
      break;
    }
    (*started)++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

static int run_pool(sweep_committer_t *c, sweep_run_fn fn, void *ctx, int jobs) {
  pool_t *p = calloc(1, sizeof *p);
  if (!p) return moex_error(MOEX_ENOMEM, "sweep: out of memory");
  size_t nth = (size_t)jobs < c->n_todo ? (size_t)jobs : c->n_todo;
  p->n_todo = c->n_todo;
  p->todo_copy = malloc(c->n_todo * sizeof *p->todo_copy);
  p->slot_copy = calloc(c->n_todo, sizeof *p->slot_copy);
  p->busy = calloc(nth, sizeof *p->busy);
  p->experiment = strdup(c->o->experiment);
  if (!p->todo_copy || !p->slot_copy || !p->busy || !p->experiment || grid_copy(c->g, &p->grid, &p->grid_text)) {
    free(p->todo_copy); free(p->slot_copy); free(p->busy); free(p->experiment); free(p);
    return moex_error(MOEX_ENOMEM, "sweep: out of memory");
  }
  memcpy(p->todo_copy, c->todo, c->n_todo * sizeof *c->todo);
  p->todo = p->todo_copy;
  /* the committer works on the pool's slots (they outlive an abandoned sweep) */
  free(c->slot);
  c->slot = p->slot_copy;
  p->slot = p->slot_copy;
  /* bounded buffering: a slow early run holds back at most `window` finished ones */
  p->window = nth * 4 > 32 ? nth * 4 : 32;
  p->fn = fn;
  p->ctx = ctx;
  p->master = c->o->master_seed;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv_main, NULL);
  pthread_cond_init(&p->cv_work, NULL);
  p->refs = 1;
  int rc = MOEX_OK;
  pthread_t *th = calloc(nth ? nth : 1, sizeof *th);
  size_t started = 0;
  if (!th) rc = moex_error(MOEX_ENOMEM, "sweep: out of memory");
  if (!rc) rc = pool_start(p, nth, th, &started);

  pthread_mutex_lock(&p->mu);
  while (!rc && c->next < c->n_todo) {
    if (sweep_sigflag) {
      rc = MOEX_EINTR;
      break;
    }
    if (p->stop == 2) {
      rc = moex_error(MOEX_ENOMEM, "sweep: out of memory in a worker");
      break;
    }
    if (!c->slot[c->next]) {
      /* a short timed wait: the signal flag and the progress bar are looked at in between */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50 * 1000000L;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&p->cv_main, &p->mu, &ts);
      pthread_mutex_unlock(&p->mu);
      sweep_progress_draw(c, 0);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    /* commit without the lock: workers only write slots past `next`, and the ready prefix
     * is not touched by anyone else */
    size_t k1 = sweep_ready_end(c);
    pthread_mutex_unlock(&p->mu);
    rc = sweep_commit_upto(c, k1);
    pthread_mutex_lock(&p->mu);
    p->committed = c->next;
    pthread_cond_broadcast(&p->cv_work);
  }
  /* stop: idle workers are joined, busy ones abandoned (detached) */
  p->stop = p->stop ? p->stop : 1;
  int busy[1024];
  size_t nb = started < 1024 ? started : 1024;
  for (size_t t = 0; t < nb; t++) busy[t] = p->busy[t];
  pthread_cond_broadcast(&p->cv_work);
  pthread_mutex_unlock(&p->mu);
  size_t abandoned = 0;
  for (size_t t = 0; t < started; t++) {
    if (t < nb && busy[t]) {
      pthread_detach(th[t]);
      abandoned++;
    } else {
      pthread_join(th[t], NULL);
    }
  }
  free(th);
  pthread_mutex_lock(&p->mu);
  /* finished but uncommitted runs are dropped (not in the file: --resume reruns them) */
  for (size_t k = 0; k < p->n_todo; k++) {
    record_run_free(p->slot[k]);
    p->slot[k] = NULL;
  }
  c->slot = NULL;
  c->abandoned = abandoned;
  pool_unref(p);
  return rc;
}

/* ---- the sweep -------------------------------------------------------------------------- */

typedef struct {
  char id[17];
  size_t i;
} id_entry;

static int cmp_id(const void *a, const void *b) {
  const id_entry *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

int sweep_run(const sweep_options_t *o, const sweep_grid_t *g, sweep_run_fn fn, void *ctx, sweep_stats_t *stats) {
  sweep_stats_t st_local;
  if (!stats) stats = &st_local;
  memset(stats, 0, sizeof *stats);
  if (!o || !g || !fn || !o->experiment || !o->out)
    return moex_error(MOEX_EINVAL, "sweep: options, grid, run function, experiment and out are required");
  if (g->n_axes > SWEEP_MAX_AXES) return moex_error(MOEX_EINVAL, "sweep: %zu axes (at most %d)", g->n_axes, SWEEP_MAX_AXES);
  for (size_t a = 0; a < g->n_axes; a++) {
    if (!g->axis[a].name || !*g->axis[a].name) return moex_error(MOEX_EINVAL, "sweep: axis %zu has no name", a);
    if (g->axis[a].n == 0) return moex_error(MOEX_EINVAL, "sweep: axis '%s' has no values", g->axis[a].name);
    if (g->axis[a].n > SWEEP_MAX_VALUES)
      return moex_error(MOEX_EINVAL, "sweep: axis '%s' has %zu values (at most %d)", g->axis[a].name, g->axis[a].n, SWEEP_MAX_VALUES);
  }
  if (g->seeds == 0) return moex_error(MOEX_EINVAL, "sweep: seeds = 0 (must be >= 1)");
  size_t N = sweep_grid_size(g);
  if (N == 0) return moex_error(MOEX_EINVAL, "sweep: the grid is too large");
  size_t sn = o->shard_n > 1 ? o->shard_n : 1, si = o->shard_n > 1 ? o->shard_i : 0;
  if (si >= sn) return moex_error(MOEX_EINVAL, "sweep: shard %zu/%zu: i must be in 0..n-1", o->shard_i, o->shard_n);
  moex_blas_set_threads(1);

#ifdef MOEX_MPI
  int rank = 0, size = sweep_mpi_start(&rank);
  if (size < 0) return MOEX_EIO;
  if (rank > 0) sweep_mpi_worker(o, g, fn, ctx);
#endif

  /* this shard's runs, their ids (two configurations with one id would overwrite each other) */
  size_t n_mine = N / sn + (N % sn > si);
  id_entry *ids = malloc((n_mine ? n_mine : 1) * sizeof *ids);
  size_t *todo = malloc((n_mine ? n_mine : 1) * sizeof *todo);
  if (!ids || !todo) {
    free(ids);
    free(todo);
    return moex_error(MOEX_ENOMEM, "sweep: out of memory for %zu runs", n_mine);
  }
  char config[1024];
  size_t m = 0;
  for (size_t i = si; i < N; i += sn) {
    sweep_grid_config(g, o->experiment, i, config, sizeof config);
    runid_id(config, ids[m].id);
    ids[m++].i = i;
  }
  qsort(ids, m, sizeof *ids, cmp_id);
  for (size_t k = 1; k < m; k++)
    if (!strcmp(ids[k].id, ids[k - 1].id)) {
      char c2[1024];
      sweep_grid_config(g, o->experiment, ids[k - 1].i, config, sizeof config);
      sweep_grid_config(g, o->experiment, ids[k].i, c2, sizeof c2);
      int e = moex_error(MOEX_EINVAL, "sweep: runs '%s' and '%s' have the same id %s", config, c2, ids[k].id);
      free(ids);
      free(todo);
      return e;
    }
  free(ids);

  char desc[4096];
  sweep_grid_describe(g, desc, sizeof desc);
  record_meta_in meta = {.experiment = o->experiment, .grid = desc, .command_line = o->command_line ? o->command_line : ""};
  record_writer *w = record_writer_open(o->out, &meta, o->resume ? RECORD_RESUME : RECORD_NEW);
  if (!w) {
    free(todo);
    return MOEX_EIO; /* the writer's message names the file */
  }
  stats->total = n_mine;
  size_t n_todo = 0;
  for (size_t i = si; i < N; i += sn) {
    sweep_grid_config(g, o->experiment, i, config, sizeof config);
    char id[17];
    runid_id(config, id);
    if (record_writer_has(w, id)) stats->skipped++;
    else todo[n_todo++] = i;
  }

  sweep_committer_t c = {.o = o, .g = g, .w = w, .stats = stats, .n_todo = n_todo, .todo = todo,
                         .t0 = sweep_now(), .best = NAN, .tty = isatty(STDERR_FILENO)};
  c.slot = calloc(n_todo ? n_todo : 1, sizeof *c.slot);
  int rc = c.slot ? MOEX_OK : moex_error(MOEX_ENOMEM, "sweep: out of memory");

  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sweep_sigflag = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sweep_progress_draw(&c, 1);

  int jobs = o->jobs;
  if (jobs <= 0) {
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    jobs = nc > 0 ? (int)nc : 1;
  }
#ifdef MOEX_MPI
  if (!rc && size > 1) rc = sweep_mpi_dispatch(&c, size); /* also with nothing to do: it stops the ranks */
  else
#endif
  if (!rc && n_todo) rc = run_pool(&c, fn, ctx, jobs);
  free(c.slot); /* NULL when the pool took it over */
  record_writer_close(w);
  /* a signal during the last commit: every run is in, the sweep is complete (status 0) */
  if (c.tty && !o->quiet) {
    sweep_progress_draw(&c, 1);
    fputc('\n', stderr);
  }
  stats->interrupted = rc == MOEX_EINTR;
  if (rc == MOEX_EINTR)
    moex_error(MOEX_EINTR, "sweep: interrupted with %zu of %zu runs in %s (%zu abandoned in flight); --resume finishes it",
               stats->skipped + stats->done, stats->total, o->out, c.abandoned);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  free(todo);
#ifdef MOEX_MPI
  /* after an error or an interrupt, ranks may be waiting or running: rank 0 leaves without
   * MPI_Finalize and mpirun ends the job */
  if (size > 1 && rc == MOEX_OK) sweep_mpi_finish();
#endif
  return rc;
}
