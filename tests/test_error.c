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

Suite *error_suite(void) {
  Suite *s = suite_create("error");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_error_message_and_location);
  suite_add_tcase(s, tc);
  return s;
}
