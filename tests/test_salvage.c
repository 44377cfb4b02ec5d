/* Salvage and the journal (issue 33): a damaged record gives back every run whose checksums
 * verify, from the record where it can be walked and from its journal where not; the journal
 * holds exactly the record's runs across resumes; moex-merge --salvage's lines, summary and exit
 * statuses; moex-report and --resume name the salvage command when they refuse a damaged file. */
#include "testutil.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/moex_error.h"
#include "record/record.h"
#include "test_salvage.h"

static testutil_tmp T;
static void setup(void) { testutil_tmp_make(&T, "salvage"); }
static void teardown(void) { testutil_tmp_remove(&T); }
static const char *P(const char *name) { return testutil_tmp_path(&T, name); }

record_run *salvage_test_run(int k) {
  char id[32];
  snprintf(id, sizeof id, "run%03d", k);
  record_run *r = record_run_alloc(id);
  ck_assert_int_eq(record_run_set_str(r, "figure", "sv_err_vs_x"), 0);
  ck_assert_int_eq(record_run_set_str(r, "series", k % 2 ? "moe adam" : "dense adam"), 0);
  ck_assert_int_eq(record_run_set_str(r, "x_name", "x"), 0);
  ck_assert_int_eq(record_run_set_double(r, "x", 1.0 + k / 2), 0);
  ck_assert_int_eq(record_run_set_double(r, "test_mse", 0.1 / (1 + k) * 2.385), 0);
  ck_assert_int_eq(record_run_set_str(r, "status", "ok"), 0);
  ck_assert_int_eq(record_run_summarize(r, NULL), 0);
  ck_assert_int_eq(record_run_set_int(r, "seed", k * 7 + 3), 0);
  double W[48];
  int64_t path[30];
  for (int i = 0; i < 48; i++) W[i] = sin(k * 1.7 + i);
  for (int i = 0; i < 30; i++) path[i] = (i * 5 + k) % 7;
  size_t dw[2] = {12, 4}, dp[1] = {30};
  ck_assert_int_eq(record_run_add_double(r, "params/layer0/router/W", W, 2, dw), 0);
  ck_assert_int_eq(record_run_add_int(r, "eval/path", path, 1, dp), 0);
  const char *cols[] = {"iter", "loss"};
  record_table *t = record_run_add_table(r, "curve", 2, cols);
  for (int i = 0; i < 20; i++) {
    double row[2] = {i, exp(-0.2 * i) + k};
    ck_assert_int_eq(record_table_append(t, row), 0);
  }
  return r;
}

/* n runs committed in batches of 1, 2, 3, 1, 2, 3, ... */
void salvage_test_make(const char *path, int n) {
  record_meta_in meta = {"salvage_exp", "{\"x\": [1, 2, 3]}", "moex_tests salvage"};
  record_writer *w = record_writer_open(path, &meta, RECORD_NEW);
  ck_assert_ptr_nonnull(w);
  for (int k = 0, b = 1; k < n; k += b, b = b % 3 + 1) {
    record_run *rs[3];
    int m = k + b <= n ? b : n - k;
    for (int j = 0; j < m; j++) rs[j] = salvage_test_run(k + j);
    ck_assert_msg(record_writer_append(w, rs, (size_t)m) == 0, "%s", moex_errmsg());
    for (int j = 0; j < m; j++) record_run_free(rs[j]);
  }
  record_writer_close(w);
}

/* Every run of got equals the clean run of the same id; the number of them. */
size_t salvage_test_same(const char *clean, const char *got) {
  record_file *a = record_open(clean), *b = record_open(got);
  ck_assert_msg(a && b, "%s", moex_errmsg());
  for (size_t i = 0; i < record_n_runs(b); i++) {
    const char *id = record_run_id(b, i);
    ck_assert_msg(record_has_run(a, id), "salvage invented run %s", id);
    record_run *x = record_read_run(a, id, RECORD_READ_ALL), *y = record_read_run(b, id, RECORD_READ_ALL);
    ck_assert_msg(x && y && record_run_compare(x, y) == 0, "run %s kept but not the clean one: %s", id, moex_errmsg());
    record_run_free(x);
    record_run_free(y);
  }
  size_t n = record_n_runs(b);
  record_close(a);
  record_close(b);
  return n;
}

/* The binaries' folder as an absolute path (the tools run inside the scratch folder). */
const char *salvage_test_bin(void) {
  static char abs[512];
  const char *b = testutil_bindir();
  char cwd[256];
  if (b[0] == '/') snprintf(abs, sizeof abs, "%s", b);
  else snprintf(abs, sizeof abs, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : ".", b);
  return abs;
}

static void copy_bytes(const char *from, const char *to, long keep) {
  size_t n;
  char *b = testutil_slurp(from, &n);
  ck_assert_ptr_nonnull(b);
  FILE *f = fopen(to, "wb");
  ck_assert_ptr_nonnull(f);
  size_t k = keep >= 0 && (size_t)keep < n ? (size_t)keep : n;
  ck_assert_uint_eq(fwrite(b, 1, k, f), k);
  fclose(f);
  free(b);
}

START_TEST(test_clean_and_order) {
  salvage_test_make(P("a.h5"), 10);
  record_salvage_stats st;
  ck_assert_msg(record_salvage(P("a.h5"), P("s.h5"), "t", NULL, &st) == 0, "%s", moex_errmsg());
  ck_assert_uint_eq(st.known, 10);
  ck_assert_uint_eq(st.kept, 10);
  ck_assert_uint_eq(st.from_journal, 0);
  ck_assert_int_eq(st.record, 1);
  ck_assert_int_eq(st.journal, 1);
  ck_assert_int_eq(record_verify(P("s.h5")), 0);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 10);
  record_file *f = record_open(P("s.h5"));
  ck_assert_str_eq(record_file_meta(f)->experiment, "salvage_exp");
  for (size_t i = 0; i < 10; i++) {
    char id[32];
    snprintf(id, sizeof id, "run%03zu", i);
    ck_assert_str_eq(record_run_id(f, i), id); /* the committed order */
  }
  record_close(f);
  /* the output has its own journal, and no working files are left */
  ck_assert_int_eq(access(P("s.h5.journal"), F_OK), 0);
  ck_assert_int_ne(access(P("s.h5.salvaging"), F_OK), 0);
}
END_TEST

/* The first half of the file: HDF5 cannot open it; every run comes from the journal. */
START_TEST(test_truncated_half) {
  salvage_test_make(P("a.h5"), 12);
  struct stat sb;
  ck_assert_int_eq(stat(P("a.h5"), &sb), 0);
  copy_bytes(P("a.h5"), P("cut.h5"), sb.st_size / 2);
  copy_bytes(P("a.h5.journal"), P("cut.h5.journal"), -1);
  ck_assert_int_ne(record_verify(P("cut.h5")), 0);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-merge --salvage cut.h5 -o s.h5 >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 0);
  char *out = testutil_slurp(P("out"), NULL);
  ck_assert_msg(strstr(out, "kept 12 of 12 runs") && strstr(out, "12 from its journal"), "%s", out);
  free(out);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 12);
  /* the salvaged record is a record like any: moex-merge takes it */
  snprintf(cmd, sizeof cmd, "%s/moex-merge '%s' '%s' >/dev/null 2>&1", salvage_test_bin(), P("m.h5"), P("s.h5"));
  ck_assert_int_eq(testutil_sh(cmd), 0);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("m.h5")), 12);
  ck_assert_int_eq(access(P("m.h5.journal"), F_OK), 0);
  ck_assert_int_ne(access(P("m.h5.merging.journal"), F_OK), 0);
}
END_TEST

/* Offset in the file of the contiguous array `path` of run id. */
static long array_offset(const char *file, const char *id, const char *path) {
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  char full[256];
  snprintf(full, sizeof full, "runs/%s/%s", id, path);
  hid_t d = H5Dopen2(f, full, H5P_DEFAULT);
  haddr_t a = H5Dget_offset(d);
  H5Dclose(d);
  H5Fclose(f);
  ck_assert(a != HADDR_UNDEF);
  return (long)a;
}

static void flip_at(const char *file, long off) {
  FILE *f = fopen(file, "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, off, SEEK_SET);
  int c = fgetc(f);
  fseek(f, off, SEEK_SET);
  fputc(c ^ 0x5a, f);
  fclose(f);
}

/* a.h5 of n runs, and its copy d.h5 with one byte flipped at byte `at` of a run's array. */
static void damaged_copy(int n, const char *run, const char *array, long at) {
  salvage_test_make(P("a.h5"), n);
  copy_bytes(P("a.h5"), P("d.h5"), -1);
  flip_at(P("d.h5"), array_offset(P("d.h5"), run, array) + at);
}

/* A run's data damaged, no journal: that run is lost (by name, why: checksum), the others kept. */
START_TEST(test_one_run_damaged_no_journal) {
  damaged_copy(8, "run005", "params/layer0/router/W", 9);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-merge --salvage d.h5 -o s.h5 >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 1);
  char *out = testutil_slurp(P("out"), NULL);
  ck_assert_msg(strstr(out, "run run005: not kept: checksum") && strstr(out, "kept 7 of 8 runs") &&
                    strstr(out, "it has none"), "%s", out);
  free(out);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 7);
  /* with the journal beside it, nothing is lost */
  copy_bytes(P("a.h5.journal"), P("d.h5.journal"), -1);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 8);
}
END_TEST

/* A dataset link removed: the run's checksum no longer matches its contents. */
START_TEST(test_missing_dataset_and_group) {
  salvage_test_make(P("a.h5"), 6);
  copy_bytes(P("a.h5"), P("d.h5"), -1);
  hid_t f = H5Fopen(P("d.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert_int_ge(H5Ldelete(f, "runs/run002/curve", H5P_DEFAULT), 0);
  ck_assert_int_ge(H5Adelete(f, "checksum"), 0); /* the root no longer verifies: walked without it */
  H5Fclose(f);
  record_salvage_stats st;
  char *buf = NULL;
  size_t len = 0;
  FILE *lines = open_memstream(&buf, &len);
  ck_assert_int_eq(record_salvage(P("d.h5"), P("s.h5"), "t", lines, &st), 0);
  fclose(lines);
  ck_assert_msg(strstr(buf, "run run002: not kept:") != NULL, "%s", buf);
  free(buf);
  ck_assert_uint_eq(st.kept, 5);
  ck_assert_uint_eq(st.known, 6);
  /* the root's attributes come from the journal when the record's do not verify */
  copy_bytes(P("a.h5.journal"), P("d.h5.journal"), -1);
  ck_assert_int_eq(record_salvage(P("d.h5"), P("s.h5"), "t", NULL, &st), 0);
  ck_assert_uint_eq(st.kept, 6);
  ck_assert_uint_eq(st.from_journal, 1);
  record_file *g = record_open(P("s.h5"));
  ck_assert_str_eq(record_file_meta(g)->experiment, "salvage_exp");
  ck_assert_msg(strstr(record_file_meta(g)->command_line, "moex_tests salvage  [salvaged by: t]") != NULL, "%s",
                record_file_meta(g)->command_line);
  record_close(g);
}
END_TEST

/* The journal holds exactly the record's runs: a damaged tail is dropped by a resuming writer,
 * and a journal that is missing or belongs to another record is rebuilt from the record. */
START_TEST(test_journal_follows_resume) {
  salvage_test_make(P("a.h5"), 5);
  FILE *j = fopen(P("a.h5.journal"), "ab");
  fputs("MXJE garbage of a failed commit", j);
  fclose(j);
  record_meta_in meta = {"salvage_exp", "{\"x\": [1, 2, 3]}", "moex_tests salvage"};
  record_writer *w = record_writer_open(P("a.h5"), &meta, RECORD_RESUME);
  ck_assert_ptr_nonnull(w);
  record_run *r = salvage_test_run(5);
  ck_assert_int_eq(record_writer_append(w, &r, 1), 0);
  record_run_free(r);
  record_writer_close(w);
  rename(P("a.h5.journal"), P("only.h5.journal")); /* the journal alone */
  record_salvage_stats st;
  ck_assert_int_eq(record_salvage(P("only.h5"), P("s.h5"), "t", NULL, &st), 0);
  ck_assert_uint_eq(st.kept, 6);
  ck_assert_uint_eq(st.journal_bad, 0);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 6);
  /* a record without its journal: resuming rebuilds it, runs in order */
  w = record_writer_open(P("a.h5"), &meta, RECORD_RESUME);
  ck_assert_ptr_nonnull(w);
  record_writer_close(w);
  ck_assert_int_eq(rename(P("a.h5.journal"), P("only2.h5.journal")), 0);
  ck_assert_int_eq(record_salvage(P("only2.h5"), P("s2.h5"), "t", NULL, &st), 0);
  ck_assert_uint_eq(st.kept, 6);
  record_file *f = record_open(P("s2.h5"));
  ck_assert_str_eq(record_run_id(f, 0), "run000");
  ck_assert_str_eq(record_run_id(f, 5), "run005");
  record_close(f);
}
END_TEST

/* A journal damaged in its middle: the entries after the damage still count, and the run the
 * damage cost is known by the gap it leaves in the entries' positions. */
START_TEST(test_journal_damaged_middle) {
  salvage_test_make(P("a.h5"), 9);
  size_t n = 0;
  char *b = testutil_slurp(P("a.h5.journal"), &n);
  ck_assert_ptr_nonnull(b);
  memset(b + n / 2, 0, 64);
  FILE *f = fopen(P("x.h5.journal"), "wb");
  fwrite(b, 1, n, f);
  fclose(f);
  free(b);
  record_salvage_stats st;
  ck_assert_int_eq(record_salvage(P("x.h5"), P("s.h5"), "t", NULL, &st), 0);
  ck_assert_uint_eq(st.journal_bad, 1);
  ck_assert_uint_eq(st.kept, 8);
  ck_assert_uint_eq(st.known, 9);
  ck_assert_int_eq(st.record, 0);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 8);
  ck_assert_int_eq(testutil_shf("cd '%s' && %s/moex-merge --salvage x.h5 -o s2.h5 >out 2>err", T.dir, salvage_test_bin()), 1);
  char *out = testutil_slurp(P("out"), NULL);
  ck_assert_msg(strstr(out, "journal: 1 damaged stretch skipped; 1 run known only by position lost there") &&
                    strstr(out, "kept 8 of 9 runs"), "%s", out);
  free(out);
}
END_TEST

static int one_line_has(const char *errf, const char *prog, const char *want) {
  size_t n = 0;
  char *e = testutil_slurp(errf, &n);
  int ok = e && !strncmp(e, prog, strlen(prog)) && strchr(e, '\n') == e + n - 1 && strstr(e, want);
  if (!ok) fprintf(stderr, "got: %s\n", e ? e : "(nothing)");
  free(e);
  return ok;
}

START_TEST(test_tool_errors) {
  salvage_test_make(P("a.h5"), 3);
  char args[1024];
  /* bad command lines, a missing input, the output being the input: 2 */
  const char *bad[] = {"moex-merge --salvage", "moex-merge --salvage a.h5", "moex-merge --salvage a.h5 -o s.h5 extra",
                       "moex-merge --salvage nosuch.h5 -o s.h5", "moex-merge --salvage a.h5 -o a.h5",
                       "moex-merge --salvage a.h5 -o a.h5.journal"};
  const char *want[] = {"usage", "missing -o", "unexpected argument 'extra'", "does not exist", "is the damaged file",
                        "is the damaged record's journal"};
  size_t jn = 0;
  char *j0 = testutil_slurp(P("a.h5.journal"), &jn);
  for (int k = 0; k < 6; k++) {
    snprintf(args, sizeof args, "%s", bad[k]);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s/%s >out 2>err", T.dir, salvage_test_bin(), args);
    ck_assert_msg(testutil_sh(cmd) == 2, "%s", bad[k]);
    ck_assert_msg(one_line_has(P("err"), "moex-merge: ", want[k]), "%s", bad[k]);
  }
  size_t jn1 = 0; /* the journal the output would have replaced is as it was */
  char *j1 = testutil_slurp(P("a.h5.journal"), &jn1);
  ck_assert(j0 && j1 && jn == jn1 && !memcmp(j0, j1, jn));
  free(j0);
  free(j1);
  /* nothing readable (not HDF5, no journal): 3, nothing written */
  FILE *f = fopen(P("junk.h5"), "wb");
  for (int i = 0; i < 5000; i++) fputc(i * 31 % 251, f);
  fclose(f);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-merge --salvage junk.h5 -o j.h5 >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 3);
  ck_assert(one_line_has(P("err"), "moex-merge: ", "nothing to salvage"));
  ck_assert_int_ne(access(P("j.h5"), F_OK), 0);
  /* a folder for a file: 2 */
  mkdir(P("dir.h5"), 0755);
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-merge --salvage dir.h5 -o s.h5 >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 2);
  ck_assert(one_line_has(P("err"), "moex-merge: ", "is not a regular file"));
  /* an output another writer holds: 2, naming it */
  record_lock *l = record_lock_take(P("busy.h5"));
  ck_assert_ptr_nonnull(l);
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-merge --salvage a.h5 -o busy.h5 >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 2);
  ck_assert(one_line_has(P("err"), "moex-merge: ", "is being written by process"));
  record_lock_release(l);
  /* an output that cannot be written: 2 */
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-merge --salvage a.h5 -o nodir/s.h5 >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 2);
}
END_TEST

/* moex-report, moex-merge and --resume refuse a damaged file naming the salvage command. */
START_TEST(test_refusals_name_salvage) {
  damaged_copy(4, "run001", "eval/path", 3);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-report d.h5 --out rep >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 2);
  ck_assert(one_line_has(P("err"), "moex-report: ", "moex-merge --salvage d.h5 -o SALVAGED.h5"));
  snprintf(cmd, sizeof cmd, "cd '%s' && %s/moex-merge m.h5 d.h5 >out 2>err", T.dir, salvage_test_bin());
  ck_assert_int_eq(testutil_sh(cmd), 2);
  ck_assert(one_line_has(P("err"), "moex-merge: ", "moex-merge --salvage d.h5 -o SALVAGED.h5"));
  record_meta_in meta = {"salvage_exp", "{}", "t"};
  ck_assert_ptr_null(record_writer_open(P("d.h5"), &meta, RECORD_RESUME));
  ck_assert_msg(strstr(moex_errmsg(), "moex-merge --salvage") != NULL, "%s", moex_errmsg());
  /* a record whose superblock is gone: no writer replaces it, and the refusal names salvage */
  FILE *z = fopen(P("d.h5"), "r+b");
  for (int i = 0; i < 64; i++) fputc(0, z);
  fclose(z);
  ck_assert_ptr_null(record_writer_open(P("d.h5"), &meta, RECORD_NEW));
  ck_assert_msg(strstr(moex_errmsg(), "not an HDF5 file") && strstr(moex_errmsg(), "moex-merge --salvage"), "%s",
                moex_errmsg());
  /* a refusal that is not about damage names no salvage */
  ck_assert_str_eq(record_salvage_hint("x.h5", "record: cannot open 'x.h5': No such file or directory"), "");
}
END_TEST

/* A reading child that crashes, or hangs, on a run: that run is named, a new child reads on. */
START_TEST(test_child_crash_and_hang) {
  salvage_test_make(P("a.h5"), 5);
  setenv("MOEX_SALVAGE_CRASH", "run001", 1);
  setenv("MOEX_SALVAGE_HANG", "run003", 1);
  setenv("MOEX_VERIFY_CPU_S", "1", 1);
  char *buf = NULL;
  size_t len = 0;
  FILE *lines = open_memstream(&buf, &len);
  record_salvage_stats st;
  ck_assert_int_eq(record_salvage(P("a.h5"), P("s.h5"), "t", lines, &st), 0);
  fclose(lines);
  unsetenv("MOEX_SALVAGE_CRASH");
  unsetenv("MOEX_SALVAGE_HANG");
  ck_assert_int_eq(st.restarts, 2);
  ck_assert_uint_eq(st.kept, 5); /* the journal has both */
  ck_assert_uint_eq(st.from_journal, 2);
  free(buf);
  buf = NULL;
  unlink(P("a.h5.journal"));
  setenv("MOEX_SALVAGE_CRASH", "run001", 1);
  setenv("MOEX_SALVAGE_HANG", "run003", 1);
  lines = open_memstream(&buf, &len);
  ck_assert_int_eq(record_salvage(P("a.h5"), P("s.h5"), "t", lines, &st), 0);
  fclose(lines);
  unsetenv("MOEX_SALVAGE_CRASH");
  unsetenv("MOEX_SALVAGE_HANG");
  ck_assert_uint_eq(st.kept, 3);
  ck_assert_msg(strstr(buf, "run run001: not kept: unreadable group (unreadable: reading it crashed the HDF5 library") &&
                    strstr(buf, "run run003: not kept: unreadable group (unreadable: reading it did not finish"),
                "%s", buf);
  free(buf);
  ck_assert_uint_eq(salvage_test_same(P("a.h5"), P("s.h5")), 3);
}
END_TEST

/* A journal that cannot be created (a folder in its place): the record is not created either. */
START_TEST(test_journal_cannot_create) {
  ck_assert_int_eq(mkdir(P("a.h5.journal"), 0755), 0);
  record_meta_in meta = {"salvage_exp", "{}", "t"};
  ck_assert_ptr_null(record_writer_open(P("a.h5"), &meta, RECORD_NEW));
  ck_assert_msg(strstr(moex_errmsg(), "cannot create the journal") != NULL, "%s", moex_errmsg());
  ck_assert_int_ne(access(P("a.h5"), F_OK), 0);
}
END_TEST

Suite *salvage_suite(void) {
  return testutil_suite("salvage", TESTUTIL_CASE_FIXTURE("salvage", 60, setup, teardown, test_clean_and_order, test_truncated_half,
                                                         test_one_run_damaged_no_journal, test_missing_dataset_and_group,
                                                         test_journal_follows_resume, test_journal_damaged_middle,
                                                         test_tool_errors, test_refusals_name_salvage,
                                                         test_child_crash_and_hang, test_journal_cannot_create));
}
