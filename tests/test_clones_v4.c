/* clones_v4: kernels.c built for x86-64-v4 under the names v4_* (tests/clones_level.h). */
#define CLONES_LEVEL v4
#include "clones_level.h"
