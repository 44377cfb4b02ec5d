/* What the PyTorch bridge's tests share (test_torch.c, test_torch_ae.c): the interpreter, whether
 * it has torch (asked once, by a test case's fixture, and the reason when not), and a log of each
 * bridge command in the test's scratch folder. One copy per test file (static). */
#ifndef MOEX_TORCHUTIL_H
#define MOEX_TORCHUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char dir[64];   /* the test case's scratch folder (its fixture makes it) */
static int torch_ok;   /* python imports torch, h5py and numpy */
static char torch_why[512];

#define REQUIRE_TORCH()                                                 \
  do {                                                                  \
    if (!testutil_require_tool(torch_ok, "torch", torch_why)) return; \
  } while (0)

/* $PYTHON, default Debian's /usr/bin/python3 (h5py and torch are Debian packages). */
static inline const char *python(void) {
  const char *p = getenv("PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

/* Sets torch_ok, and torch_why when python cannot import torch, h5py and numpy: the last line
 * of its error (e.g. "ModuleNotFoundError: No module named 'torch'") and where to get them. */
static inline void torch_check(void) {
  char cmd[512], why[400] = "", line[512];
  snprintf(cmd, sizeof cmd, "%s -c 'import torch, h5py, numpy' 2>&1", python());
  FILE *p = popen(cmd, "r");
  if (!p) {
    torch_ok = 0;
    snprintf(torch_why, sizeof torch_why, "cannot run %s", python());
    return;
  }
  while (fgets(line, sizeof line, p)) {
    size_t len = strcspn(line, "\n");
    if (len >= sizeof why) len = sizeof why - 1;
    memcpy(why, line, len);
    why[len] = '\0';
  }
  torch_ok = pclose(p) == 0;
  if (!torch_ok)
    snprintf(torch_why, sizeof torch_why, "%s (Debian: python3-torch python3-h5py python3-numpy; make check installs them)",
             why[0] ? why : "python not found");
}

/* Runs cmd with stdout and stderr into dir/log; its exit status. */
static inline int run_logged(const char *cmd) {
  char full[16384 + 128];
  snprintf(full, sizeof full, "%s > %s/log 2>&1", cmd, dir);
  return testutil_sh(full);
}

/* dir/log's first 16 KiB. */
static inline const char *log_text(void) {
  static char buf[16384];
  char path[128];
  snprintf(path, sizeof path, "%s/log", dir);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
  return buf;
}

/* The measured differences per model (stderr, for the record), without the perturbed rows but
 * with their summary lines. */
static inline void print_unperturbed(const char *text) {
  char line[1024];
  for (const char *p = text; *p;) {
    size_t len = strcspn(p, "\n"), n = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, p, n);
    line[n] = '\0';
    if (!strstr(line, "perturbed by") || strstr(line, " within ")) fprintf(stderr, "%s\n", line);
    p += len + (p[len] == '\n');
  }
}

/* PyTorch -> moex: `moex_torch.py save-check` on the kinds of dir/FILE: a fresh module of each,
 * saved and measured by moex-eval, must give its own predictions within 1e-12, all n_models of
 * them, and none once moved by 1e-9 after saving. */
static inline void torch_save_check(const char *file, size_t n_models) {
  char cmd[1024], want[128];
  snprintf(cmd, sizeof cmd, "%s src/tools/moex_torch.py save-check %s/%s --moex-eval %s/moex-eval "
           "--target piecewise:E=3,L=2 --dir %s/save --tol 1e-12 --perturb 1e-9", python(), dir, file, testutil_bindir(), dir);
  int st = run_logged(cmd);
  print_unperturbed(log_text());
  ck_assert_msg(st == 0, "save-check failed:\n%s", log_text());
  snprintf(want, sizeof want, "\nsave-check: %zu of %zu models within 1e-12", n_models, n_models);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
  snprintf(want, sizeof want, "\nsave-check perturbed by 1e-09: 0 of %zu models within 1e-12", n_models);
  ck_assert_msg(strstr(log_text(), want) != NULL, "%s", log_text());
}

#endif
