/* plan_record: what a run records of its fit plan (results/SCHEMA.md, "Fit settings" and "MoE
 * protocols"): the settings it ran with, and an MoE protocol's options, compute and tables. */
#ifndef MOEX_PLAN_RECORD_H
#define MOEX_PLAN_RECORD_H

#include "fit/fit_plan.h"
#include "model/moe.h"
#include "record/record.h"

/* Writes into rec the attributes of plan p run with settings s (fit_plan_settings) on a model of
 * spec `spec` (its surrogate as specified, for a protocol that changes it), and out's protocol
 * part. Returns 0 or an error code. */
int plan_record(record_run *rec, const fit_plan *p, const moe_spec_t *spec, const fit_settings *s,
                const fit_plan_result *out);

#endif
