/* moex_error: message and location of the last error. */
#include "testutil.h"

#include <string.h>

#include "core/moex_error.h"

START_TEST(test_error_message_and_location) {
  moex_error_clear();
  ck_assert_str_eq(moex_errmsg(), "");
  int rc = moex_error(MOEX_EINVAL, "bad width m = %d", 0);
  ck_assert_int_eq(rc, MOEX_EINVAL);
  ck_assert_str_eq(moex_errmsg(), "bad width m = 0");
  ck_assert_ptr_nonnull(strstr(moex_errloc(), "test_error.c:"));
  moex_error_clear();
  ck_assert_str_eq(moex_errloc(), "");
}
END_TEST

/* A message formatted from the previous one (the usual way to add context) keeps both parts
 * intact: the buffer was once formatted from itself, giving "outer: outer: <garbage>". */
START_TEST(test_error_nested_context) {
  moex_error(MOEX_EIO, "record: cannot rename 'a.tmp' to 'a.h5': No such file or directory");
  int rc = moex_error(MOEX_EIO, "sweep: cannot commit run %s to %s: %s", "0123456789abcdef", "same.h5", moex_errmsg());
  ck_assert_int_eq(rc, MOEX_EIO);
  ck_assert_str_eq(moex_errmsg(), "sweep: cannot commit run 0123456789abcdef to same.h5: record: cannot rename "
                                  "'a.tmp' to 'a.h5': No such file or directory");
  /* three levels, and a message longer than the buffer is cut, never garbled */
  moex_error(MOEX_EIO, "%s: and more", moex_errmsg());
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "sweep: cannot commit run 0123456789abcdef"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "No such file or directory: and more"));
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  moex_error(MOEX_EIO, "%s", big);
  moex_error(MOEX_EIO, "ctx: %s", moex_errmsg());
  ck_assert(strncmp(moex_errmsg(), "ctx: xxxx", 9) == 0);
  for (const char *p = moex_errmsg() + 5; *p; ++p) ck_assert_int_eq(*p, 'x');
}
END_TEST

Suite *error_suite(void) {
  return testutil_suite("error", TESTUTIL_CASE("core", 0, test_error_message_and_location, test_error_nested_context));
}
