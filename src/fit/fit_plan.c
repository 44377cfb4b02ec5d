/* fit_plan: the one parser of a fit's protocol text, and its canonical form (fit_plan.h). */
#include "fit/fit_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

#define POLISH_SUFFIX "+polish"

/* A protocol family the head names (the text before the first ':'): its parse. */
typedef struct {
  const char *head; /* exact head, or NULL: the family decides by `match` */
  int (*match)(const char *head);
  int (*parse)(fit_plan *p, const char *head, const char *opts);
} plan_family;

static int parse_protocol(fit_plan *p, const fit_protocol_type *type, const char *opts) {
  p->kind = FIT_PLAN_PROTOCOL;
  fitm_defaults(&p->moe, type);
  return fitm_parse_options(&p->moe, p->text, opts);
}

static int is_polish(const char *head) {
  size_t hl = strlen(head), sl = strlen(POLISH_SUFFIX);
  return hl > sl && !strcmp(head + hl - sl, POLISH_SUFFIX);
}

static int parse_polish(fit_plan *p, const char *head, const char *opts) {
  char opt[32];
  size_t n = strlen(head) - strlen(POLISH_SUFFIX);
  snprintf(opt, sizeof opt, "%.*s", (int)(n < sizeof opt ? n : sizeof opt - 1), head);
  if (n >= sizeof opt || !(p->opt = fit_type_find(opt)))
    return moex_error(MOEX_EINVAL, "protocol '%s': unknown optimizer '%s' before +polish", p->text, opt);
  int rc = parse_protocol(p, fit_proto_polish, opts);
  if (!rc) snprintf(p->moe.base, sizeof p->moe.base, "%s", p->opt->name);
  return rc;
}

static int parse_alt(fit_plan *p, const char *h, const char *o) { (void)h; return parse_protocol(p, fit_proto_alternate, o); }
static int parse_anneal(fit_plan *p, const char *h, const char *o) { (void)h; return parse_protocol(p, fit_proto_anneal, o); }
static int parse_oracle(fit_plan *p, const char *h, const char *o) { (void)h; return parse_protocol(p, fit_proto_oracle, o); }
static int parse_grow(fit_plan *p, const char *h, const char *o) { (void)h; return parse_protocol(p, fit_proto_grow, o); }

/* adam:k=v...: Adam with the router options of fit_router.h */
static int parse_adam_opts(fit_plan *p, const char *head, const char *opts) {
  p->kind = FIT_PLAN_ADAM;
  p->opt = fit_adam;
  p->router_opts = 1;
  /* fit_router_parse reads "adam:k=v...": the head and its options as they stand in the text */
  return fit_router_parse(opts - strlen(head) - 1, &p->router);
}

static const plan_family FAMILIES[] = {
    {NULL, is_polish, parse_polish},
    {"alt", NULL, parse_alt},
    {"anneal", NULL, parse_anneal},
    {"oracle", NULL, parse_oracle},
    {"grow", NULL, parse_grow},
};

/* A plain optimizer, or adam with options; anything else is unknown. */
static int parse_optimizer(fit_plan *p, const char *head, const char *opts) {
  const fit_type *T = fit_type_find(head);
  if (T == fit_adam && opts) return parse_adam_opts(p, head, opts);
  if (!T || opts)
    return moex_error(MOEX_EINVAL, "unknown protocol '%s' (an optimizer, OPT+polish, alt, anneal, oracle or grow)", p->text);
  p->kind = T == fit_adam ? FIT_PLAN_ADAM : FIT_PLAN_FULL_BATCH;
  p->opt = T;
  return MOEX_OK;
}

int fit_plan_parse(const char *text, fit_plan *p) {
  if (!p) return moex_error(MOEX_EINVAL, "fit_plan: NULL plan");
  memset(p, 0, sizeof *p);
  if (!text || !*text) return moex_error(MOEX_EINVAL, "empty protocol name");
  if (strlen(text) >= sizeof p->text) return moex_error(MOEX_EINVAL, "protocol name '%.40s...' too long", text);
  snprintf(p->text, sizeof p->text, "%s", text);
  char head[FIT_PLAN_TEXT_MAX];
  size_t hl = strcspn(text, ":");
  const char *opts = text[hl] ? text + hl + 1 : NULL;
  while (hl == 0 && *text == ':') { /* strtok's reading: leading separators skipped */
    text++;
    hl = strcspn(text, ":");
    opts = text[hl] ? text + hl + 1 : NULL;
    if (!*text) return moex_error(MOEX_EINVAL, "protocol '%s' names nothing", p->text);
  }
  snprintf(head, sizeof head, "%.*s", (int)hl, text);
  for (size_t i = 0; i < sizeof FAMILIES / sizeof *FAMILIES; i++)
    if (FAMILIES[i].head ? !strcmp(head, FAMILIES[i].head) : FAMILIES[i].match(head))
      return FAMILIES[i].parse(p, head, opts);
  return parse_optimizer(p, head, opts);
}

/* ---- the canonical text ---------------------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t n, len;
  int over;
} plan_out;

static void out_put(plan_out *o, const char *fmt, const char *k, const char *v) {
  int w = snprintf(o->buf + o->len, o->n - o->len, fmt, k, v);
  if (w < 0 || (size_t)w >= o->n - o->len) o->over = 1;
  else o->len += (size_t)w;
}

/* The shortest %g form that reads back to x. */
static void num_text(double x, char *s, size_t n) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(s, n, "%.*g", prec, x);
    if (strtod(s, NULL) == x) return;
  }
}

static void opt_num(plan_out *o, const char *k, double x, double def) {
  char v[32];
  if (x == def) return;
  num_text(x, v, sizeof v);
  out_put(o, ":%s=%s", k, v);
}

static void opt_size(plan_out *o, const char *k, size_t x, size_t def) {
  char v[32];
  if (x == def) return;
  snprintf(v, sizeof v, "%zu", x);
  out_put(o, ":%s=%s", k, v);
}

static void opt_str(plan_out *o, const char *k, const char *x, const char *def) {
  if (strcmp(x, def)) out_put(o, ":%s=%s", k, x);
}

static void format_router(plan_out *o, const fit_plan *p) {
  const moe_router_opts_t *r = &p->router.router;
  size_t before = o->len;
  out_put(o, "%s%s", "adam", "");
  opt_num(o, "balance", r->balance, 0);
  opt_num(o, "zloss", r->zloss, 0);
  opt_size(o, "noise", (size_t)r->noise, 0);
  opt_num(o, "jitter", r->jitter, 0);
  opt_num(o, "auxfree", r->auxfree, 0);
  opt_size(o, "warmup", p->router.warmup, 0);
  if (o->len == before + 4) out_put(o, "%s%s", ":noise=0", ""); /* adam: with only zeros */
}

static void format_temps(plan_out *o, const fit_moe_settings *m, const fit_moe_settings *def) {
  if (m->n_temps == def->n_temps && !memcmp(m->temps, def->temps, m->n_temps * sizeof *m->temps)) return;
  out_put(o, "%s%s", ":temps=", "");
  for (size_t k = 0; k < m->n_temps; k++) {
    char v[32];
    num_text(m->temps[k], v, sizeof v);
    out_put(o, "%s%s", k ? "/" : "", v);
  }
}

static void format_protocol(plan_out *o, const fit_plan *p) {
  const fit_moe_settings *m = &p->moe;
  fit_moe_settings def;
  fitm_defaults(&def, m->type);
  if (m->type == fit_proto_polish) out_put(o, "%s%s", m->base, POLISH_SUFFIX);
  else out_put(o, "%s%s", m->type->name, "");
  opt_str(o, "init", fit_rinit_name(m->rinit), fit_rinit_name(def.rinit));
  opt_str(o, "xinit", m->xinit_data ? "data" : "model", def.xinit_data ? "data" : "model");
  if (m->type == fit_proto_oracle) opt_str(o, "base", *m->base ? m->base : "none", "none");
  opt_str(o, "polish", m->polisher, def.polisher);
  opt_str(o, "lm", m->lm_solver, def.lm_solver);
  opt_size(o, "pol", m->polish_evals, def.polish_evals);
  opt_size(o, "em", m->em_max, def.em_max);
  opt_size(o, "eiters", m->em_expert_iters, def.em_expert_iters);
  opt_size(o, "cap", m->path_cap, def.path_cap);
  opt_size(o, "soft", (size_t)m->soft, (size_t)def.soft);
  opt_size(o, "top", m->soft_top, def.soft_top);
  opt_size(o, "gevals", m->gate_evals, def.gate_evals);
  opt_num(o, "l2", m->gate_l2, def.gate_l2);
  format_temps(o, m, &def);
  opt_str(o, "loss", m->comp ? "comp" : "mse", def.comp ? "comp" : "mse");
  opt_num(o, "sigma", m->sigma, def.sigma);
}

int fit_plan_format(const fit_plan *p, char *buf, size_t n) {
  if (!p || !buf || !n) return moex_error(MOEX_EINVAL, "fit_plan_format: NULL argument");
  plan_out o = {.buf = buf, .n = n};
  buf[0] = '\0';
  if (p->kind == FIT_PLAN_PROTOCOL) format_protocol(&o, p);
  else if (p->router_opts) format_router(&o, p);
  else out_put(&o, "%s%s", p->opt ? p->opt->name : "?", "");
  if (o.over) return moex_error(MOEX_EINVAL, "fit_plan_format: the text needs more than %zu bytes", n);
  return MOEX_OK;
}

/* fit_moe.h's entry point, kept for the protocol code's callers: the plan's protocol part. */
int fit_moe_parse(const char *name, fit_moe_settings *o) {
  fit_plan p;
  int rc = fit_plan_parse(name, &p);
  if (rc) return rc;
  if (p.kind != FIT_PLAN_PROTOCOL) return FIT_MOE_PLAIN;
  *o = p.moe;
  return MOEX_OK;
}
