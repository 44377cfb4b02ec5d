/* moex_error: error codes and the last error message of this thread.
 *
 * Every failing public function returns a nonzero code (or NULL) and leaves a one-line
 * message naming the bad value, retrievable with moex_errmsg(). Like GSL, the message
 * carries __FILE__:__LINE__ of where the error was raised (moex_errloc()). */
#ifndef MOEX_ERROR_H
#define MOEX_ERROR_H

enum {
  MOEX_OK = 0,
  MOEX_EINVAL = 1,   /* bad argument or configuration */
  MOEX_ENOMEM = 2,   /* allocation failed */
  MOEX_EIO = 3,      /* file or HDF5 error */
  MOEX_ENUM = 4,     /* NaN/Inf or other numerical failure */
  MOEX_EGSL = 5,     /* an error reported by GSL */
  MOEX_EINTR = 6     /* interrupted by a signal */
};

/* Records a printf-style message for this thread and returns `code`. */
int moex_error_at(const char *file, int line, int code, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));
#define moex_error(code, ...) moex_error_at(__FILE__, __LINE__, (code), __VA_ARGS__)

const char *moex_errmsg(void);  /* message of the last error of this thread, "" if none */
const char *moex_errloc(void);  /* "file:line" of the last error */
void moex_error_clear(void);

#endif
