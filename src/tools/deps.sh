#!/bin/sh
# Installs the Debian packages moex needs, and only those that are missing.
# Silent when nothing is missing. As root: apt-get. Otherwise sudo, if present.
# Otherwise: print the exact command and exit 2.
set -eu
PKGS="libgsl-dev libhdf5-dev hdf5-tools gnuplot-nox libopenblas-dev pkg-config check liblbfgs-dev valgrind python3-h5py"
[ "${MOEX_MPI:-0}" = 1 ] && PKGS="$PKGS libopenmpi-dev openmpi-bin"
# MOEX_TORCH=1 (make check, make bench-torch): PyTorch, for the bridge's tests (tests/test_torch.c
# fails without it) and the benchmark, and pandas for the records reader's (moex_records.py,
# tests/test_records_py.c); not in every make deps, since make demo needs neither: torch is about
# 140 MB to download, 600 MB installed, a minute to install (bookworm's 1.13.1); pandas 55 s.
[ "${MOEX_TORCH:-0}" = 1 ] && PKGS="$PKGS python3-torch python3-pandas"
missing=""
for p in $PKGS; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"
else
  echo "moex: missing Debian packages:$missing; run as root: apt-get update && $cmd" >&2
  exit 2
fi
echo "moex: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
