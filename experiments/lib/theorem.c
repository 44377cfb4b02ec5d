/* theorem: shared plumbing of the theorem verifiers (see theorem.h). */
#include "lib/theorem.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/blas.h"
#include "analysis/verdict.h"
#include "lib/exprun.h"
#include "core/moex_error.h"

int theorem_cli(const char *id, const char *summary, int argc, char **argv,
                const cli_option_t *extra, size_t n_extra, int seeds_default,
                const theorem_fault_t *faults, size_t n_faults, theorem_opts_t *o) {
  cli_option_t opts[THEOREM_MAX_OPTS];
  if (n_extra + 6 > THEOREM_MAX_OPTS) {
    fprintf(stderr, "%s: too many options (%zu)\n", id, n_extra);
    return 2;
  }
  o->quick = 0;
  o->seeds = seeds_default;
  o->out = NULL;
  o->inject = NULL;
  o->fault = -1;
  o->n_widths = 0;
  o->jobs = 1;
  const char *widths = NULL;
  /* the --help line names every fault */
  static char inject_help[1024];
  size_t k = (size_t)snprintf(inject_help, sizeof inject_help, "build fault NAME into the network on purpose (`list` prints them):");
  for (size_t i = 0; i < n_faults && k < sizeof inject_help; i++)
    k += (size_t)snprintf(inject_help + k, sizeof inject_help - k, "%s %s", i ? "," : "", faults[i].name);
  opts[0] = (cli_option_t){"--quick", CLI_FLAG, &o->quick, 0, 0, "small sizes (< 20 s)"};
  opts[1] = (cli_option_t){"--seeds", CLI_INT, &o->seeds, 1, 100, "seeds per width (random features and targets)"};
  opts[2] = (cli_option_t){"--out", CLI_STRING, &o->out, 0, 0, "output HDF5 file (default results/theorems/<id>.h5)"};
  opts[3] = (cli_option_t){"--inject", CLI_STRING, &o->inject, 0, 0, inject_help};
  opts[4] = (cli_option_t){"--widths", CLI_STRING, &widths, 0, 0,
                           "expert widths of the sweep, e.g. 16,32,64 (at least 3, increasing; default: the full or --quick list)"};
  opts[5] = (cli_option_t){"--jobs", CLI_INT, &o->jobs, 1, 256,
                           "worker threads for the sweep's independent items (default 1); records and output do not depend on it"};
  for (size_t i = 0; i < n_extra; i++) opts[6 + i] = extra[i];
  int rc = cli_parse(id, summary, argc, argv, opts, n_extra + 6);
  if (rc) return rc;
  if (widths) {
    const char *p = widths;
    while (*p) {
      char *end;
      errno = 0;
      unsigned long v = strtoul(p, &end, 10);
      if (end == p || errno || v < 1 || v > 4096 || (*end && *end != ',') || o->n_widths == THEOREM_MAX_WIDTHS ||
          (o->n_widths && v <= o->widths[o->n_widths - 1])) {
        fprintf(stderr, "%s: --widths '%s': need up to %d increasing widths in 1..4096, comma separated\n", id, widths,
                THEOREM_MAX_WIDTHS);
        return 2;
      }
      o->widths[o->n_widths++] = (size_t)v;
      p = *end ? end + 1 : end;
    }
    if (o->n_widths < 3) {
      fprintf(stderr, "%s: --widths '%s': need at least 3 widths for a rate\n", id, widths);
      return 2;
    }
  }
  if (o->inject) {
    if (!strcmp(o->inject, "list")) {
      for (size_t i = 0; i < n_faults; i++) printf("%s\n", faults[i].name);
      return 1;
    }
    for (size_t i = 0; i < n_faults; i++)
      if (!strcmp(o->inject, faults[i].name)) o->fault = (int)i;
    if (o->fault < 0) {
      fprintf(stderr, "%s: --inject '%s': unknown fault (`--inject list` names them)\n", id, o->inject);
      return 2;
    }
  }
  moex_blas_set_threads(1); /* the verifiers' products are small: threads only spin */
  if (!o->out) {
    static char path[256];
    snprintf(path, sizeof path, "results/theorems/%s.h5", id);
    o->out = path;
    if ((mkdir("results", 0777) && errno != EEXIST) || (mkdir("results/theorems", 0777) && errno != EEXIST)) {
      fprintf(stderr, "%s: cannot create results/theorems: %s\n", id, strerror(errno));
      return 2;
    }
  }
  return 0;
}

const size_t *theorem_widths(const theorem_opts_t *o, const size_t *full, size_t n_full, const size_t *quick,
                             size_t n_quick, size_t *n) {
  if (o->n_widths) {
    *n = o->n_widths;
    return o->widths;
  }
  *n = o->quick ? n_quick : n_full;
  return o->quick ? quick : full;
}

/* ---- independent work items ---------------------------------------------------------------- */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t n, next;    /* next: the position in `order` of the next item to start */
  size_t stop_at;    /* the first item (in item order) after which nothing starts; n: none */
  const size_t *order;
  theorem_run_fn run;
  void *ctx;
  char **buf;        /* (n) each item's lines */
  size_t *len;
  int *rc;
  unsigned char *state; /* 0 waiting, 1 running, 2 finished */
} items_t;

static void *items_worker(void *arg) {
  items_t *p = arg;
  pthread_mutex_lock(&p->mu);
  while (p->next < p->n) {
    size_t i = p->order ? p->order[p->next] : p->next;
    p->next++;
    if (i > p->stop_at) continue; /* after a failure: never wanted */
    p->state[i] = 1;
    pthread_mutex_unlock(&p->mu);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc = out ? p->run(p->ctx, i, out) : moex_error(MOEX_ENOMEM, "theorem: no memory for an item's output");
    if (out) fclose(out);
    pthread_mutex_lock(&p->mu);
    p->buf[i] = buf;
    p->len[i] = buf ? len : 0;
    p->rc[i] = rc;
    p->state[i] = 2;
    if (rc && i < p->stop_at) p->stop_at = i;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int theorem_items(int jobs, size_t n, const size_t *order, theorem_run_fn run, theorem_done_fn done, void *ctx) {
  if (jobs <= 1 || n <= 1) {
    for (size_t i = 0; i < n; i++) {
      int rc = run(ctx, i, stdout);
      fflush(stdout);
      int d = done ? done(ctx, i, rc) : rc;
      if (rc || d) return rc ? rc : d;
    }
    return 0;
  }
  items_t p = {.n = n, .next = 0, .stop_at = n, .order = order, .run = run, .ctx = ctx};
  p.buf = calloc(n, sizeof *p.buf);
  p.len = calloc(n, sizeof *p.len);
  p.rc = calloc(n, sizeof *p.rc);
  p.state = calloc(n, 1);
  size_t nth = (size_t)jobs < n ? (size_t)jobs : n, started = 0;
  pthread_t *th = calloc(nth, sizeof *th);
  if (!p.buf || !p.len || !p.rc || !p.state || !th) {
    free(p.buf); free(p.len); free(p.rc); free(p.state); free(th);
    return moex_error(MOEX_ENOMEM, "theorem: out of memory for %zu items", n);
  }
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  /* the workers block the signals: they are taken on this thread, between commits */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (size_t t = 0; t < nth; t++)
    if (pthread_create(&th[t], NULL, items_worker, &p) == 0) started++;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  int result = 0;
  if (!started) { /* no thread: run them here */
    items_worker(&p);
  }
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&p.mu);
    while (p.state[i] != 2) pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    if (p.len[i]) fwrite(p.buf[i], 1, p.len[i], stdout);
    fflush(stdout);
    free(p.buf[i]);
    p.buf[i] = NULL;
    int rc = p.rc[i], d = done ? done(ctx, i, rc) : rc;
    if (rc || d) {
      result = rc ? rc : d;
      pthread_mutex_lock(&p.mu);
      if (i < p.stop_at) p.stop_at = i;
      pthread_mutex_unlock(&p.mu);
      break;
    }
  }
  for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
  for (size_t i = 0; i < n; i++) free(p.buf[i]);
  pthread_mutex_destroy(&p.mu);
  pthread_cond_destroy(&p.cv);
  free(p.buf); free(p.len); free(p.rc); free(p.state); free(th);
  return result;
}

void theorem_order_by_cost(size_t n, const double *cost, size_t *order) {
  for (size_t i = 0; i < n; i++) order[i] = i;
  for (size_t i = 1; i < n; i++) { /* insertion sort: stable, n is small */
    size_t v = order[i], k = i;
    for (; k > 0 && cost[order[k - 1]] < cost[v]; k--) order[k] = order[k - 1];
    order[k] = v;
  }
}

int theorem_injected(const theorem_opts_t *o, const theorem_fault_t *faults, const char *name) {
  return o->fault >= 0 && !strcmp(faults[o->fault].name, name);
}

void theorem_checks_init(theorem_checks_t *c) {
  c->ok = 1;
  c->failed[0] = '\0';
}

static void add_name(theorem_checks_t *c, const char *name) {
  size_t n = strlen(name);
  for (const char *q = c->failed; *q;) {
    size_t k = strcspn(q, ",");
    if (k == n && !strncmp(q, name, n)) return;
    q += k + (q[k] == ',');
  }
  size_t old = strlen(c->failed);
  if (old + n + 2 > sizeof c->failed) return; /* the list is full; checks_ok still says it */
  if (old) c->failed[old++] = ',';
  memcpy(c->failed + old, name, n + 1);
}

int theorem_check(theorem_checks_t *c, const char *name, int pass) {
  if (!pass) {
    c->ok = 0;
    add_name(c, name);
  }
  return pass;
}

void theorem_checks_merge(theorem_checks_t *all, const theorem_checks_t *run) {
  if (run->ok) return;
  all->ok = 0;
  char buf[THEOREM_CHECKS_LEN];
  memcpy(buf, run->failed, sizeof buf);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) add_name(all, tok);
}

int theorem_record_checks(record_run *rec, const theorem_checks_t *c) {
  int rc = record_run_set_int(rec, "checks_ok", c->ok ? 1 : 0);
  if (!rc) rc = record_run_set_str(rec, "failed_checks", c->failed);
  return rc;
}

int theorem_set_construct(record_run *rec, double slope, double tol) {
  int rc = record_run_set_double(rec, "construct_slope", slope);
  if (!rc) rc = record_run_set_double(rec, "construct_tol", tol);
  return rc;
}

int theorem_finish(const char *id, const theorem_checks_t *all, const slope_verdict_t *verdicts, size_t n) {
  int bad = !all->ok;
  for (size_t i = 0; i < n; i++) bad |= verdicts[i] == SLOPE_FAILS;
  if (all->ok) printf("%s: checks: all hold\n", id);
  else printf("%s: checks: FAILED: %s\n", id, all->failed);
  printf("%s: %s\n", id, bad ? "FAILED (exit 1)" : "all checks and verdicts pass");
  fflush(stdout);
  return bad ? 1 : 0;
}

record_writer *theorem_writer(const char *id, const theorem_opts_t *o, const char *grid,
                              int argc, char **argv) {
  char *cmd = record_join_argv(argc, argv);
  record_meta_in meta = {.experiment = id, .grid = grid, .command_line = cmd ? cmd : ""};
  record_writer *w = record_writer_open(o->out, &meta, RECORD_NEW);
  free(cmd);
  if (!w) fprintf(stderr, "%s: %s\n", id, moex_errmsg());
  return w;
}

int theorem_forward(moe_model_t *m, size_t n, const double *x, double *y, size_t *choice,
                    size_t *path, size_t tap_layer, double *tap) {
  if (!m || !x || !y) return moex_error(MOEX_EINVAL, "theorem: NULL forward argument");
  if (tap && tap_layer >= m->n_layers)
    return moex_error(MOEX_EINVAL, "theorem: tap layer %zu of %zu", tap_layer, m->n_layers);
  size_t L = m->n_layers, dt = tap ? m->layer[tap_layer].spec.d_out : 0;
  for (size_t s0 = 0; s0 < n; s0 += m->n_max) {
    size_t c = n - s0 < m->n_max ? n - s0 : m->n_max;
    const double *yc = moe_model_forward(m, c, x + s0 * m->d_in);
    if (!yc) return MOEX_EINVAL;
    memcpy(y + s0 * m->d_out, yc, c * m->d_out * sizeof *y);
    if (tap) memcpy(tap + s0 * dt, m->layer[tap_layer].y, c * dt * sizeof *tap);
    if (path) memcpy(path + s0, moe_model_paths(m), c * sizeof *path);
    if (choice)
      for (size_t l = 0; l < L; l++) {
        const size_t *ch = m->layer[l].spec.kind == MOE_LAYER_MOE ? moe_model_layer_choice(m, l) : NULL;
        size_t K = m->layer[l].spec.top_k;
        for (size_t s = 0; s < c; s++) choice[(s0 + s) * L + l] = ch ? ch[s * K] : SIZE_MAX;
      }
  }
  return MOEX_OK;
}

void theorem_count(moe_model_t *m, theorem_counts_t *c) {
  memset(c, 0, sizeof *c);
  c->expert_layers_min = SIZE_MAX;
  for (size_t l = 0; l < m->n_layers; l++) {
    const moe_layer_spec_t *s = &m->layer[l].spec;
    if (s->kind != MOE_LAYER_MOE) {
      c->dense_layers++;
      continue;
    }
    c->moe_layers++;
    c->experts += s->n_experts;
    if (s->expert_layers < c->expert_layers_min) c->expert_layers_min = s->expert_layers;
    if (s->expert_layers > c->expert_layers_max) c->expert_layers_max = s->expert_layers;
    for (size_t e = 0; e < s->n_experts; e++) {
      moe_expert_view_t v = moe_expert_params(m, l, e);
      size_t nz = 0;
      for (size_t k = 0; k < v.n; k++) nz += v.p[k] != 0;
      c->empty_experts += nz == 0;
    }
  }
  if (!c->moe_layers) c->expert_layers_min = 0;
}

int theorem_commit(record_writer *w, record_run *rec) {
  sigset_t old;
  record_signals_block(&old);
  int rc = record_writer_append(w, &rec, 1);
  record_signals_restore(&old);
  return rc;
}

record_run *theorem_run_done(const char *id, record_run *rec, int rc) {
  if (!rc) rc = record_run_summarize(rec, NULL);
  if (!rc) return rec;
  fprintf(stderr, "%s: record: %s\n", id, moex_errmsg());
  record_run_free(rec);
  return NULL;
}

int theorem_commit_all(record_writer *w, record_run **recs, size_t n) {
  int rc = 0;
  for (size_t k = 0; k < n; k++) {
    if (!recs[k]) continue;
    int r2 = theorem_commit(w, recs[k]);
    record_run_free(recs[k]);
    recs[k] = NULL;
    if (r2 && !rc) rc = r2;
  }
  return rc;
}

int theorem_set_run(record_run *rec, const char *id, const char *series, double m, double bound,
                    double tol, unsigned long seed, double test_mse, double sup_err) {
  char fig[96];
  snprintf(fig, sizeof fig, "%s_err_vs_m", id);
  int rc = exprun_set_figure(rec, fig, series, "m", m, "rate", bound, tol, NULL, NAN);
  /* the theorems bound the sup norm: the report must fit and judge that, not the MSE */
  if (!rc) rc = record_run_set_str(rec, "y_name", "sup_err");
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_set_double(rec, "test_mse", test_mse);
  if (!rc) rc = record_run_set_double(rec, "sup_err", sup_err);
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  return rc;
}

int theorem_rate(const double *x, const double *err, size_t n_x, size_t n_seed, double bound,
                 double tol, slope_fit_t *fit, slope_verdict_t *v) {
  *v = SLOPE_INCONCLUSIVE;
  int rc = slope_fit(x, err, n_x, n_seed, SLOPE_AGG_MEAN, fit);
  if (rc) return rc;
  verdict_input in = {.fit = fit, .bound = bound, .tol = tol};
  return verdict_judge(verdict_rate, &in, v);
}

int theorem_growth(const double *E, const double *w, size_t n, double g_bound, double tol,
                   slope_fit_t *fit, slope_verdict_t *v) {
  *v = SLOPE_INCONCLUSIVE;
  int rc = slope_fit(E, w, n, 1, SLOPE_AGG_MEAN, fit);
  if (rc) return rc;
  verdict_input in = {.fit = fit, .bound = g_bound, .tol = tol};
  return verdict_judge(verdict_growth, &in, v);
}

void theorem_print_verdict(const char *id, slope_verdict_t v, const slope_fit_t *fit, double bound) {
  printf("%s: verdict %s (slope %.3f [%.3f, %.3f], bound %.3f)\n", id, slope_verdict_name(v), fit->slope,
         fit->ci_lo, fit->ci_hi, bound);
  fflush(stdout);
}
