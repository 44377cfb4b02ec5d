/* bench_journal: what the journal (record_journal.c) costs per commit, in time and space
 * (results/SCHEMA.md, "Journal"). Not part of the suite. Build and run from the worktree root
 * after `make`:
 *   cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags hdf5) tests/bench_journal.c \
 *      build/libmoex.a $(pkg-config --libs hdf5) -lm -lpthread -o build/bench_journal && build/bench_journal DIR
 * Commits 200 runs, one per commit, of two sizes (a small run and one with large tensors) into
 * DIR/bench.h5, and prints per size the mean commit time, the mean time of its journal part,
 * and the sizes of the record and of its journal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "record/record.h"

static record_run *run_of(int k, size_t n_values) {
  char id[32];
  snprintf(id, sizeof id, "run%04d", k);
  record_run *r = record_run_alloc(id);
  record_run_set_str(r, "status", "ok");
  record_run_set_double(r, "test_mse", 1.0 / (k + 3));
  record_run_set_int(r, "seed", k);
  record_run_summarize(r, NULL);
  double *x = malloc(n_values * sizeof *x);
  for (size_t i = 0; i < n_values; i++) x[i] = sin(0.001 * (double)i + k);
  size_t d[1] = {n_values};
  record_run_add_double(r, "params/W", x, 1, d);
  free(x);
  const char *cols[] = {"iter", "loss", "grad_norm"};
  record_table *t = record_run_add_table(r, "curve", 3, cols);
  for (int i = 0; i < 200; i++) record_table_append(t, (double[]){i, exp(-0.01 * i), 1.0 / (i + 1)});
  return r;
}

static long size_of(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  const size_t sizes[2] = {2500, 67000}; /* about 25 kB and 540 kB per run, as in SCHEMA.md's cost table */
  for (int s = 0; s < 2; s++) {
    char path[1024], jpath[1100];
    snprintf(path, sizeof path, "%s/bench.h5", dir);
    snprintf(jpath, sizeof jpath, "%s.journal", path);
    record_meta_in meta = {"bench_journal", "{}", "bench_journal"};
    record_writer *w = record_writer_open(path, &meta, RECORD_NEW);
    if (!w) return fprintf(stderr, "cannot open %s\n", path), 1;
    double tot = 0, jt = 0;
    for (int k = 0; k < 200; k++) {
      record_run *r = run_of(k, sizes[s]);
      if (record_writer_append(w, &r, 1)) return fprintf(stderr, "commit failed\n"), 1;
      double t;
      record_writer_last_commit(w, &t, NULL, NULL);
      tot += t;
      jt += record_writer_last_journal(w);
      record_run_free(r);
    }
    record_writer_close(w);
    printf("%zu values per run: commit %.1f ms mean, of which journal %.1f ms; record %ld bytes, journal %ld bytes (%.0f%%)\n",
           sizes[s], 1e3 * tot / 200, 1e3 * jt / 200, size_of(path), size_of(jpath),
           100.0 * (double)size_of(jpath) / (double)size_of(path));
  }
  return 0;
}
