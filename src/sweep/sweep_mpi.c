/* sweep_mpi: the sweep across MPI ranks (Open MPI), compiled only with `make MPI=1`.
 *
 * Rank 0 is the dispatcher and the only writer: it hands grid positions out one at a time to
 * whichever rank asks (dynamic: fast and slow runs balance themselves), receives each finished
 * run as a byte buffer (record_pack.h, bit for bit) and commits through the same ordered
 * committer as the local pool, so the file equals the local run's. Ranks > 0 only compute.
 *
 * Messages (all MPI_BYTE): REQ worker->0 (empty: "give me work"), WORK 0->worker (u64 position,
 * u64 grid index), RESULT worker->0 (u64 position, u8 ok, then the packed run or a message;
 * also a request for more work), STOP 0->worker. */
#ifdef MOEX_MPI

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/moex_error.h"
#include "record/record_pack.h"
#include "sweep/sweep_mpi.h"

enum { TAG_REQ = 1, TAG_WORK = 2, TAG_RESULT = 3, TAG_STOP = 4 };

static int we_initialised;

int sweep_mpi_start(int *rank) {
  *rank = 0;
  /* run directly (no launcher), an MPI build behaves like the local one: no MPI at all */
  if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_SIZE")) return 1;
  int inited = 0, size = 1;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      moex_error(MOEX_EIO, "sweep: MPI_Init failed");
      return -1;
    }
    we_initialised = 1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) sweep_mpi_finish(); /* nothing to distribute: the local pool runs */
  return size;
}

void sweep_mpi_finish(void) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (we_initialised && !fin) MPI_Finalize();
}

_Noreturn void sweep_mpi_worker(const sweep_options_t *o, const sweep_grid_t *g, sweep_run_fn fn, void *ctx) {
  MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_REQ, MPI_COMM_WORLD);
  for (;;) {
    MPI_Status st;
    MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    if (st.MPI_TAG != TAG_WORK) {
      MPI_Recv(NULL, 0, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      break;
    }
    uint64_t work[2];
    MPI_Recv(work, sizeof work, MPI_BYTE, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    record_run *r = sweep_exec_one(o->experiment, o->master_seed, g, fn, ctx, (size_t)work[1]);
    unsigned char *packed = NULL;
    size_t plen = 0;
    int ok = r && !record_run_pack(r, &packed, &plen);
    record_run_free(r);
    if (!ok) {
      const char *m = moex_errmsg();
      plen = strlen(m);
      packed = malloc(plen + 1);
      if (packed) memcpy(packed, m, plen);
      else plen = 0;
    }
    unsigned char *msg = malloc(9 + plen);
    if (!msg) MPI_Abort(MPI_COMM_WORLD, 1);
    memcpy(msg, &work[0], 8);
    msg[8] = (unsigned char)ok;
    if (plen) memcpy(msg + 9, packed, plen);
    free(packed);
    MPI_Send(msg, (int)(9 + plen), MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
    free(msg);
  }
  sweep_mpi_finish();
  exit(0);
}

static void send_work(int dest, size_t k, size_t i) {
  uint64_t work[2] = {k, i};
  MPI_Send(work, sizeof work, MPI_BYTE, dest, TAG_WORK, MPI_COMM_WORLD);
}

int sweep_mpi_dispatch(sweep_committer_t *c, int size) {
  int nw = size - 1, n_idle = 0, *idle = malloc((size_t)nw * sizeof *idle);
  char *heard = calloc((size_t)size, 1);
  if (!idle || !heard) {
    free(idle);
    free(heard);
    return moex_error(MOEX_ENOMEM, "sweep: out of memory");
  }
  size_t window = 4 * (size_t)nw + 32, next_out = 0;
  int rc = MOEX_OK;
  while (!rc && c->next < c->n_todo) {
    if (sweep_sigflag) {
      rc = MOEX_EINTR;
      break;
    }
    while (n_idle > 0 && next_out < c->n_todo && next_out < c->next + window) {
      send_work(idle[--n_idle], next_out, c->todo[next_out]);
      next_out++;
    }
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) {
      /* polled, so that Ctrl-C and the progress bar are seen between messages */
      struct timespec ts = {0, 1000000L};
      nanosleep(&ts, NULL);
      sweep_progress_draw(c, 0);
      continue;
    }
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    unsigned char *buf = malloc(count > 0 ? (size_t)count : 1);
    if (!buf) {
      rc = moex_error(MOEX_ENOMEM, "sweep: out of memory receiving %d bytes", count);
      break;
    }
    MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    heard[st.MPI_SOURCE] = 1;
    if (st.MPI_TAG == TAG_RESULT && count >= 9) {
      uint64_t k;
      memcpy(&k, buf, 8);
      if (k >= c->n_todo || c->slot[k] || k < c->next)
        rc = moex_error(MOEX_EIO, "sweep: rank %d sent an unexpected result (position %llu)", st.MPI_SOURCE,
                        (unsigned long long)k);
      else if (!buf[8])
        rc = moex_error(MOEX_ENOMEM, "sweep: rank %d: %.*s", st.MPI_SOURCE, count - 9, (const char *)buf + 9);
      else if (!(c->slot[k] = record_run_unpack(buf + 9, (size_t)count - 9)))
        rc = moex_error(MOEX_EIO, "sweep: result from rank %d: %s", st.MPI_SOURCE, moex_errmsg());
    } else if (st.MPI_TAG != TAG_REQ) {
      rc = moex_error(MOEX_EIO, "sweep: unexpected message (tag %d) from rank %d", st.MPI_TAG, st.MPI_SOURCE);
    }
    free(buf);
    if (!rc) idle[n_idle++] = st.MPI_SOURCE;
    if (!rc) rc = sweep_commit_upto(c, sweep_ready_end(c));
  }
  if (!rc) {
    /* every run is in: wait for the first request of ranks that got nothing, then stop all */
    for (int r = 1; r < size; r++)
      if (!heard[r]) MPI_Recv(NULL, 0, MPI_BYTE, r, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    for (int r = 1; r < size; r++) MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, MPI_COMM_WORLD);
  }
  /* interrupted or failed: the workers are left to mpirun, which ends them when rank 0 exits */
  for (size_t k = c->next; k < c->n_todo; k++) {
    record_run_free(c->slot[k]);
    c->slot[k] = NULL;
  }
  free(idle);
  free(heard);
  return rc;
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int sweep_mpi_unused;
#endif
