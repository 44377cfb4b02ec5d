/* moex_gsl: the one GSL error policy. GSL's error handler is one process-wide pointer; every
 * change of it in moex goes through this guard, so that concurrent fits, slope fits and
 * constructions on worker threads never race over it. */
#ifndef MOEX_GSL_H
#define MOEX_GSL_H

/* While at least one guard is entered (in any thread), GSL errors do not abort: the first error
 * of each thread since moex_gsl_error_clear() is recorded in thread-local storage. Entering is
 * counted, so nested and concurrent users share it and the previous handler comes back after the
 * last leave. */
void moex_gsl_guard_enter(void);
void moex_gsl_guard_leave(void);
/* GSL error code recorded for this thread (0 if none); *reason (may be NULL) gets its text. */
int moex_gsl_error(const char **reason);
void moex_gsl_error_clear(void);

#endif
