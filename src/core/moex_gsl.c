/* moex_gsl: the one GSL error policy: moex's handler, entered and left through a counted guard. */
#include "core/moex_gsl.h"

#include <pthread.h>
#include <stdio.h>

#include <gsl/gsl_errno.h>

/* GSL's handler is one process-wide pointer. moex's handler only writes thread-local state, so
 * one installation serves every thread; a counter under a mutex decides when to install it and
 * when to give the previous handler back. */
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t guard_depth;
static gsl_error_handler_t *guard_prev;
static _Thread_local int tl_gsl_errno;
static _Thread_local char tl_gsl_msg[200];

static void moex_gsl_handler(const char *reason, const char *file, int line, int gsl_errno) {
  if (tl_gsl_errno != 0) return; /* keep the first: later ones are usually consequences */
  tl_gsl_errno = gsl_errno ? gsl_errno : GSL_FAILURE;
  snprintf(tl_gsl_msg, sizeof tl_gsl_msg, "%s (GSL %s, %s:%d)", reason ? reason : "?",
           gsl_strerror(gsl_errno), file ? file : "?", line);
}

void moex_gsl_guard_enter(void) {
  pthread_mutex_lock(&guard_mu);
  if (guard_depth++ == 0) guard_prev = gsl_set_error_handler(&moex_gsl_handler);
  pthread_mutex_unlock(&guard_mu);
}

void moex_gsl_guard_leave(void) {
  pthread_mutex_lock(&guard_mu);
  if (guard_depth > 0 && --guard_depth == 0) {
    gsl_set_error_handler(guard_prev);
    guard_prev = NULL;
  }
  pthread_mutex_unlock(&guard_mu);
}

int moex_gsl_error(const char **reason) {
  if (reason) *reason = tl_gsl_msg;
  return tl_gsl_errno;
}

void moex_gsl_error_clear(void) {
  tl_gsl_errno = 0;
  tl_gsl_msg[0] = '\0';
}

