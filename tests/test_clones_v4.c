/* clones_v4: src/core/kernels.c compiled whole for x86-64-v4, as the library's clone of that level
 * is (KERN_CLONES, GCC's target_clones), under other names: test_clones.c runs it where the CPU
 * has the level. No suite of its own. */
#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__)
#pragma GCC target("arch=x86-64-v4")
#define CLONES_BUILT 1
#else
#define CLONES_BUILT 0
#endif

#include "core/kernels.h"
#include "test_clones_levels.h"

#undef KERN_CLONES
#define KERN_CLONES
#define kern_direct v4_direct
#define kern_mm v4_mm
#define kern_mtm v4_mtm
#define kern_relu_mask v4_relu_mask
#define kern_mm_mask v4_mm_mask
#include "../src/core/kernels.c"

const clones_level clones_v4 = {"x86-64-v4", CLONES_BUILT, v4_direct, v4_mm, v4_mm_mask, v4_mtm, v4_relu_mask};
