/* fit_router: the router training options of the gradient protocol (issue 17), written as
 * options of Adam in the convention of the MoE protocols (fit_moe.h), colon-separated:
 *   adam:balance=A   Switch load-balancing loss A * E * sum_e f_e P_e per MoE layer (1e-2 in Switch)
 *   adam:zloss=B     ST-MoE router z-loss B * mean_x logsumexp(s(x))^2 (1e-3 in ST-MoE)
 *   adam:noise=1     noisy top-k (Shazeer et al. 2017), W_noise trained with the model
 *   adam:jitter=J    Switch's multiplicative jitter of the router input, U(1 - J, 1 + J)
 *   adam:auxfree=G   DeepSeek-V3's aux-loss-free bias, moved by G after each step
 *   adam:warmup=N    linear learning-rate warm-up over N steps before the schedule
 * combinable (adam:balance=0.01:zloss=0.001). Noise and jitter are training-only. */
#ifndef MOEX_FIT_ROUTER_H
#define MOEX_FIT_ROUTER_H

#include <stddef.h>

#include "model/moe.h"

typedef struct {
  moe_router_opts_t router; /* for moe_model_router_setup */
  size_t warmup;            /* fit_settings.warmup */
} fit_router_settings;

/* FIT_ROUTER_NONE when `name` does not start with "adam:"; 0 with *o filled; MOEX_EINVAL with a
 * message naming the unknown option or the bad value. */
#define FIT_ROUTER_NONE (-1)
int fit_router_parse(const char *name, fit_router_settings *o);

#endif
