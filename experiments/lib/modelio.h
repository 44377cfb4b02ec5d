/* modelio: a model rebuilt from a record, the inverse of exprun_record_params and
 * exprun_record_spec: the spec from the run's `model_spec` attribute, every parameter from its
 * named array (params/layer{l}/..., results/SCHEMA.md). Used by moex-eval to measure models
 * fitted elsewhere (e.g. saved by src/tools/moex_torch.py). */
#ifndef MOEX_MODELIO_H
#define MOEX_MODELIO_H

#include <stddef.h>

#include "model/moe.h"
#include "record/record.h"

/* Builds the model of run (read with RECORD_READ_ALL) for up to n_max samples per forward.
 * Refuses, with a one-line message naming what is wrong: no or a bad `model_spec`, a tensor
 * of the spec that is missing, not float64 or of another shape, a non-finite value, and an
 * array under params/ that the spec does not have. NULL on error. */
moe_model_t *modelio_load(const record_run *run, size_t n_max);

#endif
