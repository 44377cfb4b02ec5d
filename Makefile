# moex: build, test, demo.  GNU make.
#
#   make            library (build/libmoex.a) and every binary (build/bin/)
#   make check      install what is missing, build, run the suite, then again under ASan/UBSan
#   make demo       install what is missing, build, run the quick scorecard (results/quick/SCORECARD.md)
#   make scorecard  the paper's claims judged from whatever records of paper, theorems and studies exist
#   make valgrind   the unit tests under valgrind (zero errors, zero definite leaks)
#   make bench      the benchmarks (the tests run moex-bench --quick, never assert a timing)
#   make paper      the paper's Tables 3 and 4 in full, with results/paper/REPORT.md
#   make studies    the five scaling studies in full, with results/studies/REPORT.md
#
# BLAS is chosen here, and only here: GSL's reference CBLAS (gslcblas) or OpenBLAS.
# OpenBLAS is the default because `make bench` measures it faster on the experts' dgemm.
BLAS ?= openblas

# MPI=1: MPI-enabled binaries (Open MPI's mpicc; experiments run under `mpirun -np N`), built in
# their own folder; `make deps` then also installs Open MPI.
MPI ?= 0
ifeq ($(MPI),1)
  CC := mpicc
  CPPFLAGS += -DMOEX_MPI
  B ?= build-mpi
  DEPS_ENV = MOEX_MPI=1
endif

CC      ?= cc
# -O3 vectorizes the elementwise loops (Adam's update); -fno-math-errno lets sqrt inline there;
# -ffp-contract=off (already implied by -std=c11, stated so that -std=gnu11 cannot undo it) keeps
# the AVX2 copies of the hot loops (src/core/kernels.h) bit-identical to the baseline ones: no fused
# multiply-adds; tests/test_clones.c fails without it. None of the three reorders floating-point arithmetic.
OPT     ?= -O3
CFLAGS  ?= -std=c11 $(OPT) -fno-math-errno -g -Wall -Wextra -Werror
# not overridable: a CFLAGS from the environment or the command line (the ASan build) keeps it
override CFLAGS += -ffp-contract=off
# pkg-config for the flags; it is only asked once the set-up step has run (see deps).
PKGS     = gsl hdf5
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ifeq ($(BLAS),openblas)
  BLAS_CFLAGS = -DMOEX_OPENBLAS
  BLAS_LIBS   = -lopenblas
  GSL_LIBS    = -lgsl
else
  BLAS_CFLAGS =
  BLAS_LIBS   =
  GSL_LIBS    = -lgsl -lgslcblas
endif
HDF5_LIBS = $(shell pkg-config --libs hdf5 2>/dev/null)
GIT_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -Isrc -Iexperiments $(PKG_CFLAGS) $(BLAS_CFLAGS)
# -MMD -MP: each object's header dependencies, written by the compiler beside it
DEPFLAGS  = -MMD -MP
LDLIBS   += -llbfgs $(GSL_LIBS) $(BLAS_LIBS) $(HDF5_LIBS) -lm -lpthread

B        ?= build
# src/<layer>/*.c is the library; experiments/lib/*.c what the experiment binaries share
LIB_SRC   = $(sort $(filter-out src/tools/%,$(wildcard src/*/*.c)))
LIB_OBJ   = $(LIB_SRC:src/%.c=$(B)/obj/%.o)
EXPLIB_SRC = $(sort $(wildcard experiments/lib/*.c))
EXPLIB_OBJ = $(EXPLIB_SRC:experiments/lib/%.c=$(B)/obj/explib/%.o)
LIBS_A    = $(B)/libmoexexp.a $(B)/libmoex.a
EXP_SRC   = $(sort $(wildcard experiments/*.c))
# src/tools/bench_*.c are parts of moex-bench, not binaries of their own
TOOL_SRC  = $(sort $(filter-out src/tools/bench_%,$(wildcard src/tools/*.c)))
BENCH_SRC = $(sort $(wildcard src/tools/bench_*.c))
BINS      = $(EXP_SRC:experiments/%.c=$(B)/bin/%) $(TOOL_SRC:src/tools/%.c=$(B)/bin/%)
TEST_SRC  = $(sort $(wildcard tests/test_*.c))
TEST_OBJ  = $(TEST_SRC:tests/%.c=$(B)/tobj/%.o) $(B)/tobj/main.o
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

.PHONY: all deps check check-mpi unit asan valgrind demo scorecard bench bench-torch gemm-compare paper studies theorems clean layers mutate install uninstall FORCE
.DEFAULT_GOAL := all

all: $(LIBS_A) $(BINS)

deps:
	@$(DEPS_ENV) sh src/tools/deps.sh

$(B)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/explib/%.o: experiments/lib/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# The code version goes only into the objects that record it, rebuilt when it changes.
$(B)/version.stamp: FORCE | $(B)/obj
	@echo '$(GIT_VERSION)' > $@.tmp; cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
$(B)/obj/record/record_write.o: CPPFLAGS += -DMOEX_VERSION='"$(GIT_VERSION)"'
$(B)/obj/record/record_write.o: $(B)/version.stamp
FORCE:

# archives are made anew: `ar r` would keep the member of a source file since removed
$(B)/libmoex.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libmoexexp.a: $(EXPLIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/bin/%: experiments/%.c $(LIBS_A) | $(B)/bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -MF $(B)/obj/bin-$*.d $< -o $@ $(LIBS_A) $(LDLIBS)

# The benchmark counts allocations made by moex code through the linker's --wrap.
$(B)/bin/moex-bench: src/tools/moex-bench.c $(BENCH_SRC) $(LIBS_A) | $(B)/bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -MF $(B)/obj/bin-moex-bench.d $< $(BENCH_SRC) -o $@ -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc $(LIBS_A) $(LDLIBS)

$(B)/bin/%: src/tools/%.c $(LIBS_A) | $(B)/bin
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -MF $(B)/obj/bin-$*.d $< -o $@ $(LIBS_A) $(LDLIBS)

# Every tests/test_*.c defines one or more `Suite *NAME_suite(void)`; the list is generated,
# so a new test file needs no edit anywhere else.
$(B)/tobj/suites.inc: $(TEST_SRC) | $(B)/tobj
	@grep -ho '^Suite \*[a-z0-9_]*_suite(void)' $(TEST_SRC) | sed 's/^Suite \*\([a-z0-9_]*\)(void)/MOEX_SUITE(\1)/' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(B)/tobj/main.o: tests/main.c $(B)/tobj/suites.inc
	$(CC) $(CPPFLAGS) -I$(B)/tobj $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/tobj/%.o: tests/%.c | $(B)/tobj
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/moex_tests: $(TEST_OBJ) $(LIBS_A)
	$(CC) $(CFLAGS) $(TEST_OBJ) -o $@ $(LIBS_A) $(CHECK_LIBS) $(LDLIBS)

$(B)/obj $(B)/bin $(B)/tobj:
	@mkdir -p $@

# the compiler's dependency files (-MMD -MP)
-include $(shell find $(B)/obj $(B)/tobj -name '*.d' 2>/dev/null)

# The unit and end-to-end suite. MOEX_BIN lets end-to-end tests find the binaries of this build.
# tests/main.c runs the test cases in MOEX_TEST_JOBS worker processes (default: the core count);
# each case's wall and CPU seconds go to $(B)/test-times.tsv.
# A test whose tool is missing fails unless MOEX_ALLOW_SKIP names it (tests/testutil.h). This suite
# never has an MPI build (make check-mpi builds one and runs those two tests against it), so their
# skip is allowed here, added to the caller's list, and listed above the summary line.
TEST_ALLOW_SKIP = MOEX_ALLOW_SKIP=$${MOEX_ALLOW_SKIP:+$$MOEX_ALLOW_SKIP,}mpi
unit: all $(B)/moex_tests
	$(TEST_ALLOW_SKIP) MOEX_BIN=$(B)/bin MOEX_TEST_TIMES=$(B)/test-times.tsv $(B)/moex_tests

# The same suite built with sanitizers, in its own build folder. Its tests run several times
# slower, and two at a time: Check's timeouts (tcase_set_timeout, default 4 s) are scaled.
ASAN_TIMEOUT_MULTIPLIER ?= 3
asan:
	CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-$(ASAN_TIMEOUT_MULTIPLIER)} $(MAKE) --no-print-directory B=build-asan OPT=-O1 \
	  CFLAGS="-std=c11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  unit

# make check builds with one job per core unless make was given its own -j. It installs PyTorch
# too (deps.sh, MOEX_TORCH=1): without it the bridge's tests fail.
NPROC   := $(shell nproc 2>/dev/null || echo 1)
CHECK_J  = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC))
check: deps
	@MOEX_TORCH=1 sh src/tools/deps.sh
	@$(MAKE) --no-print-directory $(CHECK_J) unit
	@sh tests/selffail.sh $(B)/moex_tests
	@sh tests/install.sh $(B)
	@$(MAKE) --no-print-directory $(CHECK_J) layers
	@$(MAKE) --no-print-directory $(CHECK_J) asan

# The layering rules (tests/layers.py): no upward include, no include cycle, no link cycle between
# the library's objects; each rule is first shown failing on a broken input (--self-test).
# Debian's python3 (deps.sh installs it with python3-h5py).
PYTHON ?= /usr/bin/python3
layers: $(LIB_OBJ) $(EXPLIB_OBJ)
	@$(PYTHON) tests/layers.py --self-test
	@$(PYTHON) tests/layers.py . $(LIB_OBJ) $(EXPLIB_OBJ)

# The tests' mutation score (tests/mutate.py; not part of `make check`): a scratch clone of the
# committed HEAD, built once, then each mutation of the script's table applied alone, rebuilt and
# tested by the suites that cover its file; fails below 90% killed. About 15 min on 2 cores, at
# the lowest priority. MUTATE_ARGS: --only M01,M02, --jobs N, --keep, --write-md (tests/MUTATION.md).
mutate: deps
	nice -n 19 $(PYTHON) tests/mutate.py $(MUTATE_ARGS)

# The MPI build, and the sweep suite's `mpirun -np 3` test against it (skipped by `make check`
# when there is no MPI build).
check-mpi:
	@MOEX_MPI=1 sh src/tools/deps.sh
	@$(MAKE) --no-print-directory MPI=1 B=build-mpi all
	@$(MAKE) --no-print-directory all build/moex_tests
	MOEX_BIN=build/bin MOEX_MPI_BIN=build-mpi/bin CK_RUN_SUITE=sweep build/moex_tests

valgrind: deps all $(B)/moex_tests
	$(TEST_ALLOW_SKIP) MOEX_BIN=$(B)/bin CK_FORK=no MOEX_VALGRIND=1 valgrind --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite $(B)/moex_tests

demo: deps
	@$(MAKE) --no-print-directory all
	@bash src/tools/demo.sh $(B)/bin

# The scorecard (results/scorecard/SCORECARD.md, and REPORT.md opening on it) from whatever records
# `make paper`, `make theorems` and `make studies` left (the studies' constructions/ subfolder is
# optim_gap's input, not a study of its own).
SCORECARD_RECORDS = $(wildcard results/paper/*.h5 results/theorems/*.h5 results/studies/*.h5)
scorecard: all
	@if [ -z "$(SCORECARD_RECORDS)" ]; then echo "scorecard: no records yet: run make theorems, make paper or make studies" >&2; exit 2; fi
	$(B)/bin/moex-report $(SCORECARD_RECORDS) --out results/scorecard --scorecard

# The small-product comparison of README "Performance" (needs libxsmm-dev and libblis-dev, which
# are not among moex's dependencies: none of them is kept, see there). One thread; interleaved.
gemm-compare: $(B)/libmoex.a
	$(CC) $(CPPFLAGS) $(CFLAGS) src/tools/gemm/gemm_compare.c -o $(B)/gemm_compare $(B)/libmoex.a -lxsmm -lopenblas -ldl -lpthread -lm
	OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1 nice -n 10 $(B)/gemm_compare $(GEMM_ROUNDS)

# Both CBLAS builds, so the choice of BLAS above stays a measured one.
bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory B=build-gslcblas BLAS=gslcblas build-gslcblas/bin/moex-bench
	@$(B)/bin/moex-bench $(BENCH_ARGS)
	@build-gslcblas/bin/moex-bench --no-p5 --no-t $(BENCH_ARGS)

# P1 and P2 against PyTorch eager, side by side in interleaved rounds (src/tools/bench_torch.py;
# installs Debian's python3-torch, which nothing else needs).
bench-torch: deps
	@MOEX_TORCH=1 sh src/tools/deps.sh
	@$(MAKE) --no-print-directory all
	$(PYTHON) src/tools/bench_torch.py --moex-bench $(B)/bin/moex-bench --out results/bench $(BENCH_TORCH_ARGS)

# The runs of `make paper` and `make studies` go through a pool of POOL_J at a time (a sub-make
# with -j, each run's output printed whole as it ends: -Otarget), so that one run's last seeds do
# not leave a core idle; the records do not depend on it (same seed, same bits at any --jobs),
# and each command line is the one the sequential recipe ran. POOL_J=1: one after the other.
POOL_J ?= $(NPROC)
POOL    = $(MAKE) --no-print-directory -j$(POOL_J) -Otarget

# The paper's two experiments in full (both protocols; bfgs2 gets Adam's compute, see driver.h),
# then two extensions, the MoE protocols at 10x compute, and the report (results/paper/REPORT.md).
# PAPER_RUNS is the report's order; the pool starts them longest first (PAPER_POOL).
PAPER_RUNS = paper_exp1 paper_exp2 paper_exp1_20k paper_exp1_bfgs2_long paper_exp2_bfgs2_long \
  paper_exp1_gsl paper_exp2_gsl paper_exp2_alt
PAPER_POOL = paper_exp1_gsl paper_exp2_gsl paper_exp1_20k paper_exp1_bfgs2_long paper_exp2_bfgs2_long \
  paper_exp1 paper_exp2 paper_exp2_alt
# per run: the binary, the arguments before --out, those after it (before PAPER_ARGS)
PAPER_BIN_paper_exp1 = paper_exp1
PAPER_BIN_paper_exp2 = paper_exp2
# Table 3 again with ten times the paper's Adam steps: at 2000 the seed spread hides any trend in D
PAPER_BIN_paper_exp1_20k = paper_exp1
PAPER_PRE_paper_exp1_20k = --set protocol=adam --iters 20000
# The dense nets under bfgs2 without the matched evaluation cap (to max-iter 2000 or their own stop):
# what full-batch quasi-Newton reaches when compute is not the limit (about 4 min on 2 cores)
PAPER_BIN_paper_exp1_bfgs2_long = paper_exp1
PAPER_PRE_paper_exp1_bfgs2_long = --set 'model=dense;protocol=bfgs2' --max-evals none
PAPER_BIN_paper_exp2_bfgs2_long = paper_exp2
PAPER_PRE_paper_exp2_bfgs2_long = --set 'model=dense;protocol=bfgs2' --max-evals none
# The GSL protocols of issue 16 (theorems/fitting.md) on the MoEs, at 10 times Adam's compute
# (per-sample gradients): Table 3 under alt (hard and soft EM, k-means routes), adam+polish and anneal; Table 4
# under its best protocol, adam+polish with LM for the one-layer 1-6-MoE's experts and lbfgs for the
# stacks' (polish=lm-or-lbfgs; results/FINDINGS.md, Table 4), and alt (hard and soft) and anneal on
# the deep models
PAPER_BIN_paper_exp1_gsl = paper_exp1
PAPER_PRE_paper_exp1_gsl = --set model=moe --protocol 'alt:init=kmeans,alt:init=kmeans:soft=1,adam+polish,anneal' --compute 10x
PAPER_BIN_paper_exp2_gsl = paper_exp2
PAPER_PRE_paper_exp2_gsl = --set 'model=2-3-moe,1-6-moe,4-3-moe' --protocol adam+polish:polish=lm-or-lbfgs --compute 10x
PAPER_BIN_paper_exp2_alt = paper_exp2
PAPER_PRE_paper_exp2_alt = --set 'model=2-3-moe,4-3-moe' --protocol 'alt,alt:soft=1,anneal' --compute 10x
paper-run-%:
	$(B)/bin/$(PAPER_BIN_$*) $(PAPER_PRE_$*) --out results/paper/$*.h5 $(PAPER_ARGS)

paper: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p results/paper
	@$(POOL) $(PAPER_POOL:%=paper-run-%)
	$(B)/bin/moex-report $(PAPER_RUNS:%=results/paper/%.h5) --out results/paper

# The scaling studies in full, the optimization-gap study and their report (STUDIES_ARGS='--seeds 5'
# for five: 73 to 76 min on 2 idle cores, results/PERFORMANCE.md).
# manifold_rates and piecewise_depth also under adam+polish, the best trained row of optim_gap
# on most targets (issue 17): the rate in d and the pieces with depth under the best protocol
STUDY_POST_manifold_rates = --protocol adam,adam+polish
STUDY_POST_piecewise_depth = --protocol adam,adam+polish
# error against E, L and the pieces E^L at one width (issue 18's figures)
STUDY_BIN_piecewise_depth_el = piecewise_depth
STUDY_PRE_piecewise_depth_el = --el
# the optimization gap (issue 17) on Thm 5.3's construction of Eq. (4) (Fig. 3 pieces) and Thm
# 4.8's depth-2 MoE on S^2 in R^32 (its width sweep only: about 20 s), made first in a subfolder
# so that the report below does not read them as studies
STUDY_PRE_optim_gap = --construction results/studies/constructions/thm_5_3_fig3.h5 --eq4-m 8 \
  --construction-s2 results/studies/constructions/thm_4_8_s2.h5
# the flatness claim on the discovery map's targets (issue 31): the MoE fitted by grow and the dense net of
# its active parameters, test error against the pieces E^L, L = 1, 2, 3
STUDY_BIN_discovery_flat = discovery
STUDY_PRE_discovery_flat = --flat
# the discovery map (issue 31): does training find the E^L pieces when routing pays? Its figures
# (share of seeds matching paths to pieces against the routing incentive) per (E, L) drawn after
STUDY_POOL = optim_gap discovery autoenc manifold_rates piecewise_depth gating variants piecewise_depth_el discovery_flat
studies-run-%:
	$(B)/bin/$(or $(STUDY_BIN_$*),$*) $(STUDY_PRE_$*) --out results/studies/$*.h5 $(STUDY_POST_$*) $(STUDIES_ARGS)
studies-run-optim_gap: studies-cons-thm_5_3 studies-cons-thm_4_8
studies-cons-thm_5_3:
	$(B)/bin/thm_5_3 --family fig3 --widths 4,8,16 --seeds 1 --out results/studies/constructions/thm_5_3_fig3.h5
studies-cons-thm_4_8:
	$(B)/bin/thm_4_8 --width-only --kind sphere --d 2 --D 32 --E 6 --widths 32,64,128 --seeds 1 --out results/studies/constructions/thm_4_8_s2.h5

studies: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p results/studies/constructions
	@$(POOL) $(STUDY_POOL:%=studies-run-%)
	cd results/studies && for g in discovery_E*_L*.gp; do gnuplot $$g || exit 1; done
	$(B)/bin/moex-report results/studies/*.h5 --out results/studies

# (the run targets are not .PHONY: make skips the pattern rules for phony targets; no file has
# their names)

clean:
	rm -rf build build-asan build-gslcblas build-mpi

# ---- install: the binaries, the libraries, the headers, moex.pc and the Python modules ----------
# make install [PREFIX=/usr/local] [DESTDIR=staging]; make uninstall removes exactly those files.
# The experiment binaries take a moex- prefix (moex-thm_3_1, moex-paper_exp1, ...) so that short
# names such as explore or gating cannot shadow another package's; the tools keep theirs. The
# headers go to include/moex/<layer>/ (experiments/lib's to include/moex/lib/), included as in the
# tree ("fit/fit.h", "lib/driver.h"); fit_ctx.h, *_int.h and *_internal.h are internals and stay.
# moex.pc's Libs are this build's own link line, so a program built with
# `cc prog.c $(pkg-config --cflags --libs moex)` links the same BLAS as moex's binaries.
PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
LIBDIR   = $(PREFIX)/lib
INCDIR   = $(PREFIX)/include/moex
PCDIR    = $(LIBDIR)/pkgconfig
PYVER   := $(shell $(PYTHON) -c 'import sys; print("python%d.%d" % sys.version_info[:2])' 2>/dev/null || echo python3)
PYDIR   ?= $(LIBDIR)/$(PYVER)/dist-packages
INST_HDR = $(filter-out src/tools/% src/fit/fit_ctx.h %_int.h %_internal.h,$(wildcard src/*/*.h)) $(wildcard experiments/lib/*.h)
INST_PY  = src/tools/moex_torch.py src/tools/moex_records.py src/tools/moex_arith.py
inst_bin = $(if $(filter $(TOOL_SRC:src/tools/%.c=%),$(1)),$(1),moex-$(1))
inst_hdr = $(patsubst experiments/%,%,$(patsubst src/%,%,$(1)))
install: all
	@set -e; d="$(DESTDIR)"; \
	  install -d "$$d$(BINDIR)" "$$d$(LIBDIR)" "$$d$(PCDIR)" "$$d$(PYDIR)"; \
	  $(foreach b,$(BINS:$(B)/bin/%=%),install -m 755 $(B)/bin/$(b) "$$d$(BINDIR)/$(call inst_bin,$(b))";) \
	  install -m 644 $(LIBS_A) "$$d$(LIBDIR)/"; \
	  $(foreach h,$(INST_HDR),install -D -m 644 $(h) "$$d$(INCDIR)/$(call inst_hdr,$(h))";) \
	  $(foreach p,$(INST_PY),install -m 644 $(p) "$$d$(PYDIR)/";) \
	  { echo 'prefix=$(PREFIX)'; echo 'libdir=$${prefix}/lib'; echo 'includedir=$${prefix}/include/moex'; echo; \
	    echo 'Name: moex'; echo 'Description: Mixture-of-experts approximation experiments (Wang & E, arXiv 2505.24205)'; \
	    echo 'Version: $(GIT_VERSION)'; echo 'Cflags: -I$${includedir} $(PKG_CFLAGS) $(BLAS_CFLAGS)'; \
	    echo 'Libs: -L$${libdir} -lmoexexp -lmoex $(LDLIBS)'; } > "$$d$(PCDIR)/moex.pc"; \
	  echo "install: moex in $$d$(PREFIX) (pkg-config: PKG_CONFIG_PATH=$$d$(PCDIR))"

uninstall:
	@d="$(DESTDIR)"; \
	  rm -f $(foreach b,$(BINS:$(B)/bin/%=%),"$$d$(BINDIR)/$(call inst_bin,$(b))") \
	    $(foreach l,$(LIBS_A),"$$d$(LIBDIR)/$(notdir $(l))") "$$d$(PCDIR)/moex.pc" \
	    $(foreach p,$(INST_PY),"$$d$(PYDIR)/$(notdir $(p))") \
	    $(foreach h,$(INST_HDR),"$$d$(INCDIR)/$(call inst_hdr,$(h))"); \
	  rm -rf "$$d$(INCDIR)"; \
	  echo "uninstall: moex removed from $$d$(PREFIX)"

# ---- theorems: every verifier at full size, then the report; fails if any verifier did --------
THEOREM_IDS = thm_3_1 thm_4_8 cor_4_9 thm_5_2 thm_5_3
# worker threads (--jobs) of the verifiers that have many independent items, ID=N; the others
# get 1. The five run side by side, so the cores stay busy until the last one (cor_4_9, the long
# pole: its two seeds) ends; the records do not depend on these numbers.
THEOREM_JOBS = thm_4_8=2 cor_4_9=2 thm_5_2=2
theorems: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p results/theorems
	@# the verifiers run side by side (background jobs; an interrupt stops them all), each one's
	@# stdout and stderr into results/theorems/<id>.log, printed in order as they end; every
	@# verifier runs even when one fails (exit 1: a check or a verdict failed), the report is
	@# written from all of them, then make fails naming those that did
	@pids=""; trap 'kill $$pids 2>/dev/null; exit 130' INT TERM; \
	  for t in $(THEOREM_IDS); do \
	    j=1; for tj in $(THEOREM_JOBS); do if [ "$${tj%%=*}" = "$$t" ]; then j="$${tj#*=}"; fi; done; \
	    $(B)/bin/$$t --jobs $$j --out results/theorems/$$t.h5 > results/theorems/$$t.log 2>&1 & pids="$$pids $$!"; \
	  done; \
	  echo "theorems: running $(THEOREM_IDS) side by side (logs in results/theorems/<id>.log)"; \
	  failed=""; set -- $$pids; \
	  for t in $(THEOREM_IDS); do wait $$1 || failed="$$failed $$t"; shift; echo "== $$t"; cat results/theorems/$$t.log; done; \
	  $(B)/bin/moex-report $(THEOREM_IDS:%=results/theorems/%.h5) --out results/theorems || exit 1; \
	  if [ -n "$$failed" ]; then echo "theorems: FAILED:$$failed (see results/theorems/REPORT.md)"; exit 1; fi
