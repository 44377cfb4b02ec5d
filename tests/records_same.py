#!/usr/bin/python3
"""records_same: are two moex record files the same, bit for bit, but for timings and provenance?

Usage: records_same.py [--ignore ATTR]... A.h5 B.h5
       (exit 0: same; 1: different, the first differences printed; --ignore drops one more
       attribute name wherever it stands, e.g. command_line for two invocations that must give
       the same runs)

Ignored, because they differ between any two runs of the same code: the file attributes
created_utc, moex_version and host, every dataset or attribute named wall_s (in runs and in the
summary table), and the wall_s column of each curve. Everything else (every run's tensors,
predictions, curves, metrics, configuration, seed, the summary's other columns) must be equal
bit for bit: floats are compared by their bytes, so NaN equals NaN only with the same payload.

The `checksum` attributes (root, runs, datasets; added by issue 19) are compared where both files
have them and ignored where only one does, so that a record from before them compares with one
from after on every other value. The root's, each run's and each curve's checksum are never
compared: they cover the provenance, the run's wall_s and the curve's wall_s column, which differ
between any two runs; the values they cover are compared one by one instead."""
import sys

import h5py
import numpy as np

IGNORED_ATTRS = {"created_utc", "moex_version", "host", "wall_s"}


def attrs_of(obj):
    return {k: obj.attrs[k] for k in obj.attrs.keys() if k not in IGNORED_ATTRS}


NEW_ATTRS = {"checksum"}


def one_sided(aa, ba):
    """Drops the new attributes that only one side has (a file from before them)."""
    for k in NEW_ATTRS:
        if (k in aa) != (k in ba):
            aa.pop(k, None)
            ba.pop(k, None)


def same_value(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc" or a.dtype.kind in "iu":
        return a.tobytes() == b.tobytes()
    return bool(np.all(a == b))


def curve_without_wall(ds):
    data = ds[()]
    cols = ds.attrs.get("columns")
    if cols is None:
        return data
    names = [c.decode() if isinstance(c, bytes) else str(c) for c in np.atleast_1d(cols)]
    if "wall_s" in names and data.ndim == 2:
        data = np.delete(data, names.index("wall_s"), axis=1)
    return data


def compare(a, b, path, diffs):
    if set(a.keys()) != set(b.keys()):
        diffs.append(f"{path}: members differ: {sorted(set(a.keys()) ^ set(b.keys()))}")
        return
    aa, ba = attrs_of(a), attrs_of(b)
    one_sided(aa, ba)
    aa.pop("checksum", None)  # root and runs: covers provenance and wall_s
    ba.pop("checksum", None)
    if set(aa) != set(ba):
        diffs.append(f"{path}: attributes differ: {sorted(set(aa) ^ set(ba))}")
    for k in aa:
        if k in ba and not same_value(aa[k], ba[k]):
            diffs.append(f"{path}@{k}: {aa[k]!r} != {ba[k]!r}")
    for k in a.keys():
        p = f"{path}/{k}".replace("//", "/")
        x, y = a[k], b[k]
        if isinstance(x, h5py.Group) != isinstance(y, h5py.Group):
            diffs.append(f"{p}: group against dataset")
        elif isinstance(x, h5py.Group):
            compare(x, y, p, diffs)
        elif k == "wall_s":
            continue
        else:
            if k == "curve":
                u, v = curve_without_wall(x), curve_without_wall(y)
            else:
                u, v = x[()], y[()]
            if not same_value(u, v):
                diffs.append(f"{p}: data differ")
            xa, ya = attrs_of(x), attrs_of(y)
            one_sided(xa, ya)
            if k == "curve":  # its checksum covers the wall_s column
                xa.pop("checksum", None)
                ya.pop("checksum", None)
            if set(xa) != set(ya) or any(not same_value(xa[q], ya[q]) for q in xa if q in ya):
                diffs.append(f"{p}: dataset attributes differ")


def main(argv):
    argv = list(argv)
    while len(argv) > 2 and argv[1] == "--ignore":
        IGNORED_ATTRS.add(argv[2])
        del argv[1:3]
    if len(argv) != 3:
        print("usage: records_same.py [--ignore ATTR]... A.h5 B.h5", file=sys.stderr)
        return 2
    diffs = []
    with h5py.File(argv[1], "r") as a, h5py.File(argv[2], "r") as b:
        compare(a, b, "/", diffs)
    for d in diffs[:20]:
        print(f"records_same: {argv[1]} vs {argv[2]}: {d}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
