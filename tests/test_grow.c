/* core/grow: the one doubling rule of the growing arrays. */
#include <stdint.h>
#include <stdlib.h>

#include "core/grow.h"
#include "testutil.h"

START_TEST(test_grow_doubles) {
  size_t cap = 0;
  int *p = NULL;
  for (size_t n = 0; n < 100; n++) {
    int *q = moex_grow(p, n, &cap, sizeof *q, 4);
    ck_assert_ptr_nonnull(q);
    if (n < 4) ck_assert_uint_eq(cap, 4);
    ck_assert_uint_gt(cap, n);
    q[n] = (int)n * 3 + 1; /* the room is really there (ASan would see an overflow) */
    p = q;
  }
  ck_assert_uint_eq(cap, 128); /* 4, 8, ..., 128: doubled, never more */
  for (size_t n = 0; n < 100; n++) ck_assert_int_eq(p[n], (int)n * 3 + 1);
  /* below the capacity: the same block, the capacity untouched */
  ck_assert_ptr_eq(moex_grow(p, 5, &cap, sizeof *p, 4), p);
  ck_assert_uint_eq(cap, 128);
  free(p);
}
END_TEST

/* A failed growth leaves the block and its capacity to the caller. */
START_TEST(test_grow_refuses) {
  size_t cap = 2;
  double *p = malloc(2 * sizeof *p);
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_null(moex_grow(p, 2, &cap, SIZE_MAX / 2, 4)); /* the bytes overflow */
  ck_assert_uint_eq(cap, 2);
  ck_assert_ptr_null(moex_grow(p, 2, &cap, 0, 4)); /* no element size */
  size_t zero = 0;
  ck_assert_ptr_null(moex_grow(NULL, 0, &zero, sizeof *p, 0)); /* no first capacity */
  ck_assert_uint_eq(zero, 0);
  free(p);
}
END_TEST

Suite *grow_suite(void) {
  return testutil_suite("grow", TESTUTIL_CASE("grow", 0, test_grow_doubles, test_grow_refuses));
}
