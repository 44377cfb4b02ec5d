/* The fit plan (src/fit/fit_plan): each protocol text parsed into its kind, optimizer, protocol
 * type and options; the canonical text round-trips; bad texts refused with their old messages. */
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_plan.h"
#include "testutil.h"

/* Canonical texts: format(parse(s)) must give s back. */
static const char *const CANONICAL[] = {
    "bfgs2", "lbfgs", "lm", "nmsimplex2", "cg-pr", "adam",
    "adam:balance=0.01", "adam:balance=0.01:zloss=0.001:noise=1:jitter=0.01:auxfree=0.001:warmup=200",
    "adam:noise=0", "adam:warmup=7",
    "adam+polish", "lbfgs+polish:polish=lm", "adam+polish:polish=lm-or-lbfgs", "bfgs2+polish:init=kmeans:pol=50",
    "alt", "alt:init=kmeans", "alt:xinit=model:em=5:eiters=3:cap=64:soft=1:top=3:gevals=9:l2=0.5",
    "anneal", "anneal:temps=1/0.2:loss=comp:sigma=0.3", "anneal:polish=lbfgs:lm=svd",
    "oracle", "oracle:base=adam", "oracle:init=random",
};

START_TEST(test_plan_canonical_round_trip) {
  for (size_t i = 0; i < sizeof CANONICAL / sizeof *CANONICAL; i++) {
    fit_plan p, q;
    char buf[FIT_PLAN_TEXT_MAX];
    ck_assert_msg(fit_plan_parse(CANONICAL[i], &p) == 0, "'%s' refused: %s", CANONICAL[i], moex_errmsg());
    ck_assert_int_eq(fit_plan_format(&p, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, CANONICAL[i]);
    ck_assert_int_eq(fit_plan_parse(buf, &q), 0);
    ck_assert_int_eq(q.kind, p.kind);
    ck_assert_ptr_eq(q.opt, p.opt);
    ck_assert_mem_eq(&q.router, &p.router, sizeof p.router);
    ck_assert_mem_eq(&q.moe, &p.moe, sizeof p.moe);
  }
}
END_TEST

/* Texts that are not canonical read as the canonical one: defaults dropped, order fixed. */
START_TEST(test_plan_canonical_form) {
  static const char *const pairs[][2] = {
      {"alt:em=20", "alt"},
      {"alt:cap=64:init=kmeans", "alt:init=kmeans:cap=64"},
      {"anneal:sigma=0.30", "anneal:sigma=0.3"},
      {"anneal:temps=1/0.5/0.25/0.1/0.05", "anneal"},
      {"adam:zloss=1e-3:balance=1E-2", "adam:balance=0.01:zloss=0.001"},
      {"oracle:init=labels:base=none", "oracle"},
      {"adam+polish:xinit=model", "adam+polish"},
      {":alt", "alt"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
    fit_plan p;
    char buf[FIT_PLAN_TEXT_MAX];
    ck_assert_msg(fit_plan_parse(pairs[i][0], &p) == 0, "'%s' refused: %s", pairs[i][0], moex_errmsg());
    ck_assert_int_eq(fit_plan_format(&p, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, pairs[i][1]);
    ck_assert_str_eq(p.text, pairs[i][0]); /* what the records keep: the text as given */
  }
  fit_plan p;
  char tiny[6];
  ck_assert_int_eq(fit_plan_parse("alt:init=kmeans", &p), 0);
  ck_assert_int_eq(fit_plan_format(&p, tiny, sizeof tiny), MOEX_EINVAL);
}
END_TEST

START_TEST(test_plan_kinds) {
  fit_plan p;
  ck_assert_int_eq(fit_plan_parse("bfgs2", &p), 0);
  ck_assert(p.kind == FIT_PLAN_FULL_BATCH && p.opt == fit_bfgs2 && !fit_plan_adam_budget(&p));
  ck_assert(fit_plan_is_optimizer(&p, fit_bfgs2) && !fit_plan_is_optimizer(&p, fit_lm));
  ck_assert_int_eq(fit_plan_parse("adam", &p), 0);
  ck_assert(p.kind == FIT_PLAN_ADAM && p.opt == fit_adam && !p.router_opts && fit_plan_adam_budget(&p));
  ck_assert_int_eq(fit_plan_parse("adam:zloss=0.001:warmup=30", &p), 0);
  ck_assert(p.kind == FIT_PLAN_ADAM && p.router_opts && p.router.router.zloss == 0.001 && p.router.warmup == 30);
  ck_assert(!fit_plan_is_optimizer(&p, fit_adam));
  ck_assert_int_eq(fit_plan_parse("lbfgs+polish", &p), 0);
  ck_assert(fit_plan_is_moe_protocol(&p) && p.moe.type == fit_proto_polish && p.opt == fit_lbfgs);
  ck_assert_str_eq(p.moe.base, "lbfgs");
  ck_assert(!p.moe.xinit_data && p.moe.rinit == FIT_RINIT_RANDOM);
  ck_assert_int_eq(fit_plan_parse("alt:init=kmeans", &p), 0);
  ck_assert(p.moe.type == fit_proto_alternate && p.moe.xinit_data && p.moe.rinit == FIT_RINIT_KMEANS);
  ck_assert_int_eq(fit_plan_parse("oracle", &p), 0);
  ck_assert(p.moe.type == fit_proto_oracle && p.moe.rinit == FIT_RINIT_LABELS && fit_plan_adam_budget(&p));
  /* fit_moe_parse, the protocol part of the same parser */
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse("adam:balance=0.01", &ps), FIT_MOE_PLAIN);
  ck_assert_int_eq(fit_moe_parse("anneal:sigma=0.2", &ps), 0);
  ck_assert(ps.type == fit_proto_anneal && ps.sigma == 0.2);
}
END_TEST

/* Every bad text refused, each with a message naming its bad part. */
START_TEST(test_plan_refused) {
  static const char *const bad[][2] = {
      {"", "empty protocol name"},
      {":::", "names nothing"},
      {"nonsense", "unknown protocol 'nonsense'"},
      {"bfgs2:em=3", "unknown protocol 'bfgs2:em=3'"},
      {"bogus+polish", "unknown optimizer 'bogus' before +polish"},
      {"alt:init=bogus", "init=bogus"},
      {"alt:frobnicate=1", "unknown protocol option 'frobnicate'"},
      {"adam:balance=-1", "balance=-1"},
      {"adam:", "names no option after adam:"},
      {"adam:mystery=1", "unknown Adam option 'mystery'"},
      {"anneal:soft=1", "soft=1 is an option of alt only"},
      {"alt:base=adam", "only the oracle protocol takes it"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    fit_plan p;
    ck_assert_msg(fit_plan_parse(bad[i][0], &p) == MOEX_EINVAL, "'%s' accepted", bad[i][0]);
    ck_assert_msg(strstr(moex_errmsg(), bad[i][1]) != NULL, "'%s': message '%s' lacks '%s'", bad[i][0], moex_errmsg(),
                  bad[i][1]);
  }
  char longer[FIT_PLAN_TEXT_MAX + 8];
  memset(longer, 'a', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  fit_plan p;
  ck_assert_int_eq(fit_plan_parse(longer, &p), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "too long"));
  ck_assert_int_eq(fit_plan_parse(NULL, &p), MOEX_EINVAL);
}
END_TEST

Suite *fit_plan_suite(void) {
  return testutil_suite("fit_plan", TESTUTIL_CASE("parse", 0, test_plan_canonical_round_trip, test_plan_canonical_form,
                                                  test_plan_kinds, test_plan_refused));
}
