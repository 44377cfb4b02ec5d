/* Salvage's use of the journal (issue 33's review): runs the journal shows existed but lost
 * (gaps in its positions, its cut end) are counted and change the exit status; a journal of
 * another record is ignored, said in one line; an unreadable journal is not read as empty; a
 * commit cuts a stale tail off the journal. */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record_internal.h"
#include "test_salvage.h"

static testutil_tmp T;
static void setup(void) { testutil_tmp_make(&T, "salvage_journal"); }
static void teardown(void) { testutil_tmp_remove(&T); }
static const char *P(const char *name) { return testutil_tmp_path(&T, name); }

static void write_bytes(const char *to, const char *b, size_t n) {
  FILE *f = fopen(to, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* moex-merge --salvage IN -o OUT in the scratch folder: its exit status; its stdout in *out. */
static int salvage_tool(const char *in, const char *out, char **stdout_text) {
  int st = testutil_shf("cd '%s' && %s/moex-merge --salvage %s -o %s >out 2>err", T.dir, salvage_test_bin(), in, out);
  *stdout_text = testutil_slurp(P("out"), NULL);
  ck_assert_ptr_nonnull(*stdout_text);
  return st;
}

/* A journal cut at two thirds, the record gone: the run cut in two is known lost (exit 1), and
 * the count says so; beside an intact record, the cut end is a commit's tail, no run lost. */
START_TEST(test_journal_cut_end) {
  salvage_test_make(P("a.h5"), 9);
  size_t n = 0;
  char *b = testutil_slurp(P("a.h5.journal"), &n);
  ck_assert_ptr_nonnull(b);
  write_bytes(P("x.h5.journal"), b, 2 * n / 3);
  record_journal_contents jc;
  ck_assert_int_eq(record_journal_read(P("x.h5.journal"), &jc), 0);
  size_t whole = jc.n, committed = jc.n_committed; /* the entries after the last mark: not kept */
  ck_assert_int_eq(jc.tail_bad, 1);
  ck_assert_uint_eq(jc.top, whole);
  record_journal_contents_free(&jc);
  ck_assert(whole >= 3 && whole < 9 && committed <= whole && committed >= 3);
  char *out, want[128];
  ck_assert_int_eq(salvage_tool("x.h5", "s.h5", &out), 1);
  snprintf(want, sizeof want, "kept %zu of %zu runs", committed, whole + 1);
  ck_assert_msg(strstr(out, want) && strstr(out, "journal: 1 damaged stretch skipped (one at its end); 1 run known only "
                                                 "by position lost there (at least: its end is cut)"),
                "want '%s' in: %s", want, out);
  free(out);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), committed);
  /* the same cut journal beside the intact record: all 9 from the record, exit 0 */
  write_bytes(P("a.h5.journal"), b, 2 * n / 3);
  ck_assert_int_eq(salvage_tool("a.h5", "s2.h5", &out), 0);
  ck_assert_msg(strstr(out, "kept 9 of 9 runs"), "%s", out);
  free(out);
  free(b);
}
END_TEST

/* Another record's journal beside a record: ignored (its runs are not this record's), in one
 * line; the record's own runs kept. Read alone (the record gone), it is used. */
START_TEST(test_journal_of_another_record) {
  salvage_test_make(P("a.h5"), 3);
  record_meta_in meta = {"salvage_exp", "{}", "another sweep"};
  record_writer *w = record_writer_open(P("b.h5"), &meta, RECORD_NEW);
  ck_assert_ptr_nonnull(w);
  record_run *rs[3];
  for (int k = 0; k < 3; k++) rs[k] = salvage_test_run(100 + k);
  ck_assert_int_eq(record_writer_append(w, rs, 3), 0);
  for (int k = 0; k < 3; k++) record_run_free(rs[k]);
  record_writer_close(w);
  ck_assert_int_eq(rename(P("b.h5.journal"), P("a.h5.journal")), 0);
  char *out;
  ck_assert_int_eq(salvage_tool("a.h5", "s.h5", &out), 0);
  ck_assert_msg(strstr(out, "ignored: its header is not this record's root attributes") &&
                    strstr(out, "kept 3 of 3 runs") && strstr(out, "it was another record's, ignored"),
                "%s", out);
  free(out);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 3);
  record_salvage_stats st;
  ck_assert_int_eq(record_salvage(P("a.h5"), P("s2.h5"), "t", NULL, &st), 0);
  ck_assert_int_eq(st.journal, -2);
  ck_assert_uint_eq(st.known, 3);
  ck_assert_uint_eq(st.from_journal, 0);
  /* the record gone: the journal is all there is, and is read */
  ck_assert_int_eq(unlink(P("a.h5")), 0);
  ck_assert_int_eq(salvage_tool("a.h5", "s3.h5", &out), 0);
  ck_assert_msg(strstr(out, "kept 3 of 3 runs") && strstr(out, "3 from its journal"), "%s", out);
  free(out);
  ck_assert_uint_eq(salvage_test_same(P("b.h5"), P("s3.h5")), 3);
}
END_TEST

/* A journal that cannot be read whole (a folder in its place: read fails with EISDIR) is an
 * error, not an empty journal. */
START_TEST(test_journal_read_fails) {
  salvage_test_make(P("a.h5"), 3);
  ck_assert_int_eq(unlink(P("a.h5.journal")), 0);
  ck_assert_int_eq(mkdir(P("a.h5.journal"), 0755), 0);
  unsigned char *b = NULL;
  size_t n = 0;
  ck_assert_int_eq(record_journal_slurp(P("a.h5.journal"), &b, &n), MOEX_EIO);
  ck_assert_msg(strstr(moex_errmsg(), "cannot read the journal"), "%s", moex_errmsg());
  char *out;
  ck_assert_int_eq(salvage_tool("a.h5", "s.h5", &out), 0);
  ck_assert_msg(strstr(out, "kept 3 of 3 runs") && strstr(out, "which is unreadable"), "%s", out);
  free(out);
}
END_TEST

/* A stale tail beyond the journal's committed length (a failed commit's entries its rollback
 * could not cut off, here two runs never committed) is cut by the next commit: the journal
 * then holds exactly the record's runs, and salvage of it alone invents none. */
START_TEST(test_stale_tail_cut) {
  record_meta_in meta = {"salvage_exp", "{}", "t"};
  record_writer *w = record_writer_open(P("a.h5"), &meta, RECORD_NEW);
  ck_assert_ptr_nonnull(w);
  record_run *r[3];
  for (int k = 0; k < 3; k++) r[k] = salvage_test_run(k);
  ck_assert_int_eq(record_writer_append(w, r, 2), 0);
  record_run *stale[2] = {salvage_test_run(50), salvage_test_run(51)};
  unsigned char *b;
  size_t n;
  ck_assert_int_eq(record_journal_entries(stale, 2, 2, &b, &n), 0);
  FILE *f = fopen(P("a.h5.journal"), "ab");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
  free(b);
  ck_assert_int_eq(record_writer_append(w, &r[2], 1), 0);
  record_writer_close(w);
  for (int k = 0; k < 3; k++) record_run_free(r[k]);
  for (int k = 0; k < 2; k++) record_run_free(stale[k]);
  record_journal_contents jc;
  ck_assert_int_eq(record_journal_read(P("a.h5.journal"), &jc), 0);
  ck_assert_msg(jc.n == 3 && jc.n_bad == 0, "the journal holds %zu runs (%zu damaged stretches), the record 3", jc.n,
                jc.n_bad);
  record_journal_contents_free(&jc);
}
END_TEST

/* The crash between a commit's journal fsync and the record's rename: the record of 4 commits
 * beside the journal of 5 without its last commit mark. The 5th commit's runs are not the
 * record's: not kept (one line), kept 7 of 7, exit 0. The journal alone: they are named as not
 * kept (uncommitted), exit 1. */
START_TEST(test_uncommitted_tail) {
  record_meta_in meta = {"salvage_exp", "{}", "t"};
  record_writer *w = record_writer_open(P("a.h5"), &meta, RECORD_NEW);
  ck_assert_ptr_nonnull(w);
  for (int k = 0, b = 1, c = 0; c < 5; k += b, b = b % 3 + 1, c++) { /* commits of 1, 2, 3, 1, 2 runs */
    if (c == 4) {
      ck_assert_int_eq(testutil_shf("cp '%s' '%s'", P("a.h5"), P("c.h5")), 0);
    }
    record_run *rs[3];
    for (int j = 0; j < b; j++) rs[j] = salvage_test_run(k + j);
    ck_assert_int_eq(record_writer_append(w, rs, (size_t)b), 0);
    for (int j = 0; j < b; j++) record_run_free(rs[j]);
  }
  record_writer_close(w);
  size_t n = 0;
  char *b = testutil_slurp(P("a.h5.journal"), &n);
  ck_assert_ptr_nonnull(b);
  ck_assert(n > RECORD_JOURNAL_MARK && record_journal_parse_mark((unsigned char *)b, n, n - RECORD_JOURNAL_MARK));
  write_bytes(P("c.h5.journal"), b, n - RECORD_JOURNAL_MARK);
  free(b);
  char *out;
  ck_assert_int_eq(salvage_tool("c.h5", "s.h5", &out), 0);
  ck_assert_msg(strstr(out, "journal: 2 runs after its last commit mark not kept") && strstr(out, "kept 7 of 7 runs"),
                "%s", out);
  free(out);
  ck_assert_uint_eq(salvage_test_same(P("c.h5"), P("s.h5")), 7);
  ck_assert_int_eq(unlink(P("c.h5")), 0);
  ck_assert_int_eq(salvage_tool("c.h5", "s2.h5", &out), 1);
  ck_assert_msg(strstr(out, "run run007: not kept: uncommitted") && strstr(out, "run run008: not kept: uncommitted") &&
                    strstr(out, "kept 7 of 9 runs"), "%s", out);
  free(out);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s2.h5")), 7);
}
END_TEST

/* An output whose journal cannot be put in place (a folder there): the record was written and
 * the message says so rather than "not written". */
START_TEST(test_output_journal_fails) {
  salvage_test_make(P("a.h5"), 3);
  ck_assert_int_eq(mkdir(P("s.h5.journal"), 0755), 0);
  char *out;
  ck_assert_int_eq(salvage_tool("a.h5", "s.h5", &out), 2);
  free(out);
  char *err = testutil_slurp(P("err"), NULL);
  ck_assert_msg(err && strstr(err, "'s.h5' is written and in place, but: record: cannot rename"), "%s", err);
  free(err);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 3);
}
END_TEST

Suite *salvage_journal_suite(void) {
  return testutil_suite("salvage_journal",
                        TESTUTIL_CASE_FIXTURE("salvage_journal", 60, setup, teardown, test_journal_cut_end,
                                              test_journal_of_another_record, test_journal_read_fails, test_stale_tail_cut,
                                              test_uncommitted_tail, test_output_journal_fails));
}
