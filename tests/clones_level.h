/* clones_level: the body of tests/test_clones_v3.c and _v4.c. Each defines CLONES_LEVEL (v3 or
 * v4) and includes this: src/core/kernels.c and kern_wide.c compiled whole for x86-64-<level>, as the library's
 * clone of that level is (KERN_CLONES, GCC's target_clones), under the names <level>_direct,
 * <level>_mm, ...; test_clones.c runs it where the CPU has the level. */
#define CLONES_STR2(x) #x
#define CLONES_STR(x) CLONES_STR2(x)
#define CLONES_PRAGMA1(x) _Pragma(#x)
#define CLONES_PRAGMA(x) CLONES_PRAGMA1(x)
#define CLONES_TARGET(level) CLONES_PRAGMA(GCC target(CLONES_STR(arch=x86-64-level)))
#define CLONES_CAT2(a, b) a##_##b
#define CLONES_CAT(a, b) CLONES_CAT2(a, b)

#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__)
CLONES_TARGET(CLONES_LEVEL)
#define CLONES_BUILT 1
#else
#define CLONES_BUILT 0
#endif

#include "core/kernels.h"
#include "test_clones_levels.h"

#undef KERN_CLONES
#define KERN_CLONES
#define kern_direct CLONES_CAT(CLONES_LEVEL, direct)
#define kern_mm CLONES_CAT(CLONES_LEVEL, mm)
#define kern_mtm CLONES_CAT(CLONES_LEVEL, mtm)
#define kern_relu_mask CLONES_CAT(CLONES_LEVEL, relu_mask)
#define kern_mm_mask CLONES_CAT(CLONES_LEVEL, mm_mask)
#include "../src/core/kernels.c"
#define kern_wide_hidden CLONES_CAT(CLONES_LEVEL, wide_hidden)
#define kern_wide_relu_out CLONES_CAT(CLONES_LEVEL, wide_relu_out)
#define kern_wide_relu_grad CLONES_CAT(CLONES_LEVEL, wide_relu_grad)
#include "../src/core/kern_wide.c"

const clones_level CLONES_CAT(clones, CLONES_LEVEL) = {CLONES_STR(x86-64-CLONES_LEVEL), CLONES_BUILT, kern_direct,
                                                      kern_mm, kern_mm_mask, kern_mtm, kern_relu_mask,
                                                      kern_wide_relu_out, kern_wide_relu_grad};
