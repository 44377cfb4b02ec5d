/* clones_v3: kernels.c built for x86-64-v3 under the names v3_* (tests/clones_level.h). */
#define CLONES_LEVEL v3
#include "clones_level.h"
