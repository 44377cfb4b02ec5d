/* Seeded fuzz over salvage (issue 33): damaged copies of a record and of its journal (bytes
 * flipped, 4 KiB blocks zeroed, the file cut at a random length), each salvaged. Never a crash, a
 * hang or a sanitizer report; every run salvage keeps is the clean file's, bit for bit (0 damaged
 * runs passed as good); and of the runs the damage did not touch, at least 99% are kept.
 *
 * Which runs the damage touched: a run has two copies, in the record and in the journal. The
 * journal's bytes of each run are known (its entry); the record's are not (HDF5 spreads a run over
 * object headers, heaps and B-trees shared with other runs), so a run counts as touched when the
 * record was damaged anywhere and its journal entry was damaged too. Cases without a journal
 * (the record alone, as on a laptop it was copied to) are counted apart: what the record's own
 * walk keeps there is reported, not held to the 99%. MOEX_FUZZ_LOG=FILE appends the figures. */
#include "testutil.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record_internal.h"
#include "test_salvage.h"

/* 300 cases; a third of them under the sanitizers (make asan), where each costs five times more */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define N_CASES 100
#else
#define N_CASES 300
#endif
#define N_RUNS 8

static testutil_tmp T;
/* In memory where there is a tmpfs: every salvage writes a record, and its fsyncs would be most
 * of the time spent (durability is not what is tested here). */
static void setup(void) {
  if (access("/dev/shm", W_OK) == 0) setenv("TMPDIR", "/dev/shm", 1);
  testutil_tmp_make(&T, "svfuzz");
}
static void teardown(void) { testutil_tmp_remove(&T); }
static const char *P(const char *name) { return testutil_tmp_path(&T, name); }

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1DULL;
}

typedef struct {
  size_t lo, hi; /* damaged bytes [lo, hi) */
} span;

/* A damaged copy of b (n bytes) at path: kind 0 flips 1-4 bytes, 1 zeroes up to 4 KiB, 2 cuts
 * the file; the damaged spans in s (at most 4). */
static int damage_to(const char *path, const unsigned char *b, size_t n, int kind, span *s) {
  unsigned char *c = malloc(n);
  memcpy(c, b, n);
  size_t len = n;
  int ns = 0;
  if (kind == 0) {
    for (int k = 1 + (int)(rnd() % 4); k > 0; k--) {
      size_t o = (size_t)(rnd() % n);
      c[o] ^= (unsigned char)(1 + rnd() % 255);
      s[ns++] = (span){o, o + 1};
    }
  } else if (kind == 1) {
    size_t o = (size_t)(rnd() % n), l = 1 + (size_t)(rnd() % 4096);
    if (o + l > n) l = n - o;
    memset(c + o, 0, l);
    s[ns++] = (span){o, o + l};
  } else {
    len = (size_t)(rnd() % n);
    s[ns++] = (span){len, n};
  }
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(c, 1, len, f), len);
  fclose(f);
  free(c);
  return ns;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

static int overlaps(const span *s, int ns, size_t lo, size_t hi) {
  for (int k = 0; k < ns; k++)
    if (s[k].lo < hi && lo < s[k].hi) return 1;
  return 0;
}

/* The byte range of each run's entry in the clean journal, by position. */
static void entry_spans(const unsigned char *j, size_t n, span *e) {
  record_meta m;
  size_t o = record_journal_parse_header(j, n, &m);
  ck_assert_uint_gt(o, 0);
  record_meta_free(&m);
  for (int i = 0; i < N_RUNS; i++) {
    uint64_t pos;
    while (record_journal_parse_mark(j, n, o)) o += RECORD_JOURNAL_MARK;
    size_t ro, rl, el = record_journal_parse_entry(j, n, o, &pos, &ro, &rl);
    ck_assert_uint_gt(el, 0);
    ck_assert_uint_eq(pos, (uint64_t)i);
    e[i] = (span){o, o + el};
    o += el;
  }
  while (record_journal_parse_mark(j, n, o)) o += RECORD_JOURNAL_MARK;
  ck_assert_uint_eq(o, n);
}

/* 1 when run i of the clean record (id "run%03d") is in the salvaged file. */
static int kept(record_file *f, int i) {
  char id[32];
  snprintf(id, sizeof id, "run%03d", i);
  return f && record_has_run(f, id);
}

START_TEST(test_salvage_fuzz) {
  setenv("MOEX_VERIFY_CPU_S", "2", 1); /* a damaged heap that loops HDF5 costs 2 s, not 10 */
  salvage_test_make(P("clean.h5"), N_RUNS);
  size_t nh, nj;
  unsigned char *h = (unsigned char *)testutil_slurp(P("clean.h5"), &nh), *j = (unsigned char *)testutil_slurp(P("clean.h5.journal"), &nj);
  ck_assert(h && j);
  span ent[N_RUNS];
  entry_spans(j, nj, ent);
  size_t untouched = 0, kept_untouched = 0, kept_all = 0, lost = 0, from_journal = 0, cases_j = 0;
  size_t nojournal_runs = 0, nojournal_kept = 0, restarts = 0;
  for (int c = 0; c < N_CASES; c++) {
    /* which copies are damaged: 0 the record, 1 the journal, 2 both, 3 the record with no journal */
    int which = (int)(rnd() % 4), kind_h = (int)(rnd() % 3), kind_j = (int)(rnd() % 3);
    span sh[4], sj[4];
    int nsh = 0, nsj = 0;
    unlink(P("d.h5"));
    unlink(P("d.h5.journal"));
    if (which != 1) nsh = damage_to(P("d.h5"), h, nh, kind_h, sh);
    else spit(P("d.h5"), h, nh);
    if (which == 1 || which == 2) nsj = damage_to(P("d.h5.journal"), j, nj, kind_j, sj);
    else if (which == 0) spit(P("d.h5.journal"), j, nj);
    record_salvage_stats st;
    int rc = record_salvage(P("d.h5"), P("s.h5"), "fuzz", NULL, &st);
    ck_assert_msg(rc == 0 || (rc == MOEX_EIO && st.kept == 0), "case %d: %s", c, moex_errmsg());
    record_file *f = NULL;
    if (rc == 0) {
      ck_assert_msg(record_check(P("s.h5")) == 0, "case %d: the salvaged record: %s", c, moex_errmsg());
      ck_assert_uint_eq(salvage_test_same(P("clean.h5"), P("s.h5")), st.kept); /* 0 damaged runs passed as good */
      f = record_open(P("s.h5"));
    }
    restarts += (size_t)st.restarts;
    for (int i = 0; i < N_RUNS; i++) {
      int k = kept(f, i);
      if (which == 3) {
        nojournal_runs++;
        nojournal_kept += (size_t)k;
        continue;
      }
      int touched = nsh > 0 && (which == 0 ? 0 : overlaps(sj, nsj, ent[i].lo, ent[i].hi));
      untouched += !touched;
      kept_untouched += !touched && k;
    }
    if (which != 3) {
      cases_j++;
      kept_all += st.kept;
      lost += (size_t)N_RUNS - st.kept;
      from_journal += st.from_journal;
    }
    record_close(f);
    unlink(P("s.h5"));
    unlink(P("s.h5.journal"));
  }
  free(h);
  free(j);
  double share = untouched ? (double)kept_untouched / (double)untouched : 1.0;
  char line[600];
  snprintf(line, sizeof line,
           "salvage fuzz: %d cases (%zu with a journal): runs kept %zu, lost %zu (%zu from the journal); untouched runs "
           "kept %zu of %zu (%.2f%%, judged on the journal's copy: the bar tests the journal); without a journal the "
           "record's own walk kept %zu of %zu runs (%.0f%%, held to no bar); %zu reading restarts\n",
           N_CASES, cases_j, kept_all, lost, from_journal, kept_untouched, untouched, 100 * share, nojournal_kept,
           nojournal_runs, nojournal_runs ? 100.0 * (double)nojournal_kept / (double)nojournal_runs : 0.0, restarts);
  fputs(line, stderr);
  const char *log = getenv("MOEX_FUZZ_LOG");
  FILE *lf = log ? fopen(log, "a") : NULL;
  if (lf) {
    fputs(line, lf);
    fclose(lf);
  }
  ck_assert_msg(share >= 0.99, "%s", line);
}
END_TEST

Suite *salvage_fuzz_suite(void) {
  return testutil_suite("salvage_fuzz", TESTUTIL_CASE_FIXTURE("fuzz", 600, setup, teardown, test_salvage_fuzz));
}
