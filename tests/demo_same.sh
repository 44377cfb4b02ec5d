#!/bin/sh
# demo_same: the records of `make demo` from this tree equal those of revision REV (default
# HEAD), bit for bit but for timings and provenance (tests/records_same.py). Shows that a
# refactor changed no result. Also shows that the comparison can fail: a copy of one record
# with a single prediction changed in its last bit must be reported as different.
#   sh tests/demo_same.sh [REV]
set -eu
rev=${1:-HEAD}
top=$(git rev-parse --show-toplevel)
cd "$top"
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach "$tmp/old" "$rev" >/dev/null 2>&1
echo "demo_same: building $rev"
make -C "$tmp/old" --no-print-directory -s all >/dev/null
(cd "$tmp/old" && bash src/tools/demo.sh build/bin >/dev/null)
echo "demo_same: building this tree"
make --no-print-directory -s all >/dev/null
mkdir -p "$tmp/new"
# this tree's demo, into its own folder (results/quick is the demo's fixed output)
# (build/ a link, so that the recorded command lines read alike)
(cd "$tmp/new" && ln -s "$top/build" build && bash "$top/src/tools/demo.sh" build/bin >/dev/null)
bad=0
# the same files on both sides
if [ "$(cd "$tmp/old/results/quick" && ls *.h5)" != "$(cd "$tmp/new/results/quick" && ls *.h5)" ]; then
  echo "demo_same: the two demos wrote different sets of records" >&2
  bad=1
fi
for f in "$tmp/old/results/quick/"*.h5; do
  b=$(basename "$f")
  if /usr/bin/python3 "$top/tests/records_same.py" "$f" "$tmp/new/results/quick/$b"; then
    echo "demo_same: $b: same"
  else
    bad=1
  fi
done
# the comparison must be able to fail
first=$(ls "$tmp/new/results/quick/"*.h5 | head -n 1)
cp "$first" "$tmp/mutant.h5"
/usr/bin/python3 - "$tmp/mutant.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    run = f["runs"][sorted(f["runs"].keys())[0]]
    def find(g):
        for k in g:
            if isinstance(g[k], h5py.Dataset) and g[k].dtype.kind == "f" and g[k].size > 0 and k != "wall_s":
                return g[k]
            if isinstance(g[k], h5py.Group):
                d = find(g[k])
                if d is not None:
                    return d
    d = find(run)
    a = d[()]
    flat = a.reshape(-1).view(np.uint64)
    flat[0] ^= np.uint64(1)
    d[()] = a
PY
if /usr/bin/python3 "$top/tests/records_same.py" "$first" "$tmp/mutant.h5" >/dev/null; then
  echo "demo_same: a one-bit change was not detected: the comparison is broken" >&2
  exit 1
fi
echo "demo_same: a one-bit change is detected"
[ "$bad" = 0 ] && echo "demo_same: every record equals $rev's" || { echo "demo_same: records differ from $rev's" >&2; exit 1; }
