#!/usr/bin/python3
"""moex_records: a moex records file (results/SCHEMA.md) as pandas data frames, checksums verified.

    import moex_records as mr
    df = mr.runs("results/paper/paper_exp2.h5")        # one row per run: configuration, metrics
    df.groupby(["model", "m"]).test_mse.median()
    c = mr.curve("results/paper/paper_exp2.h5", df.run_id[0])   # iter, loss, grad_norm, ...
    W = mr.array("results/paper/paper_exp2.h5", df.run_id[0], "params/layer0/router/W")
    mr.provenance("results/paper/paper_exp2.h5")       # moex_version, command_line, grid, ...

Every value is checked before it is returned, as moex's own reader does: the root attributes
against the root checksum, each run's attributes (and the list of its datasets with their
checksums) against the run's checksum, and a curve's or an array's values against the dataset's
checksum (FNV-1a 64 over the canonical stream of results/SCHEMA.md, "Integrity"). A mismatch
raises RecordError naming the file and the run. Strings come back as str, int64 attributes as
integers (pandas' nullable Int64 where some runs lack the column), doubles as float.

Damage that makes the HDF5 library itself crash cannot be caught from Python: `moex-report`
and `moex-merge` check a file in a contained child process first (SCHEMA.md). Depends only on
Debian's python3-h5py, python3-numpy and python3-pandas.

    python3 moex_records.py FILE.h5 [--curve RUN_ID]   prints the runs (or one curve) as a table
"""
import sys

import h5py
import numpy as np

SCHEMA_VERSION = 1
_FNV_OFFSET, _FNV_PRIME, _MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1
_STR, _INT, _DOUBLE, _TABLE = 1, 2, 3, 4
_ROOT_KEYS = ("moex_version", "created_utc", "host", "command_line", "experiment", "grid")


class RecordError(Exception):
    """A records file that moex would refuse: damaged, or not a moex record."""


class _Fnv:
    """FNV-1a 64 over the canonical stream: integers as 8 little-endian bytes, doubles as their
    IEEE bits, strings as their length then their UTF-8 bytes (src/record/record_checksum.c)."""

    def __init__(self):
        self.h = _FNV_OFFSET

    def bytes(self, data):
        h = self.h
        for b in data:
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        self.h = h

    def u64(self, v):
        self.bytes(int(v & _MASK).to_bytes(8, "little"))

    def str(self, s):
        b = s.encode("utf-8")
        self.u64(len(b))
        self.bytes(b)

    def values(self, a):
        self.bytes(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes())

    def hex(self):
        return "fnv1a64:%016x" % self.h


def _text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _attr_kind(v):
    if isinstance(v, (str, bytes)):
        return _STR
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return _INT
    if isinstance(v, (np.floating, float)):
        return _DOUBLE
    return None


def _dataset_sum(path, ds):
    """The checksum of a dataset's values as stored (path relative to its run group)."""
    data = ds[()]
    s = _Fnv()
    s.str(path)
    if "columns" in ds.attrs:  # a table
        cols = [_text(c) for c in ds.attrs["columns"]]
        s.u64(_TABLE)
        s.u64(data.shape[0])
        s.u64(len(cols))
        for c in cols:
            s.str(c)
    else:
        s.u64(_INT if data.dtype.kind in "iu" else _DOUBLE)
        s.u64(data.ndim)
        s.u64(data.shape[0])
        s.u64(data.shape[1] if data.ndim == 2 else 1)
    s.values(data.astype("<i8" if data.dtype.kind in "iu" else "<f8", copy=False))
    return s.hex(), data


def _datasets(group, prefix=""):
    out = []
    for name, obj in group.items():
        p = prefix + name
        if isinstance(obj, h5py.Dataset):
            out.append((p, obj))
        else:
            out.extend(_datasets(obj, p + "/"))
    return out


def _open(path):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise RecordError("%s: cannot open as HDF5: %s" % (path, e)) from None
    try:
        _check_root(path, f)
    except Exception:
        f.close()
        raise
    return f


def _check_root(path, f):
    a = f.attrs
    if "schema_version" not in a or "runs" not in f:
        raise RecordError("%s: not a moex record (no schema_version or /runs)" % path)
    if int(a["schema_version"]) != SCHEMA_VERSION:
        raise RecordError("%s: schema_version %d is not %d" % (path, int(a["schema_version"]), SCHEMA_VERSION))
    if "checksum" not in a:  # written before checksums: read as moex reads it
        return
    s = _Fnv()
    for k in _ROOT_KEYS:
        s.str(_text(a[k]) if k in a else "")
    s.u64(int(a["schema_version"]))
    if s.hex() != _text(a["checksum"]):
        raise RecordError("%s: the root attributes do not match their checksum (the file is damaged)" % path)


def _run_attrs(path, f, rid, sealed):
    """The run's attributes ({name: value}) after its checksum is verified."""
    g = f["runs"][rid]
    attrs = {k: g.attrs[k] for k in g.attrs.keys() if k not in ("summary_columns", "checksum")}
    if "checksum" not in g.attrs:
        if sealed:
            raise RecordError("%s: run '%s' has no checksum in a sealed file (damaged)" % (path, rid))
        return {k: (_text(v) if isinstance(v, bytes) else v) for k, v in attrs.items()}
    summ = set(_text(c) for c in g.attrs["summary_columns"]) if "summary_columns" in g.attrs else set()
    s = _Fnv()
    s.str(rid)
    s.u64(len(attrs))
    for name in sorted(attrs, key=lambda n: n.encode("utf-8")):
        v, kind = attrs[name], _attr_kind(attrs[name])
        if kind is None:
            raise RecordError("%s: run '%s': attribute '%s' has a type moex does not write" % (path, rid, name))
        s.str(name)
        s.u64(kind)
        s.u64(1 if name in summ else 0)
        if kind == _STR:
            s.str(_text(v))
        else:
            s.values(np.array([v], dtype="<i8" if kind == _INT else "<f8"))
    ds = sorted(_datasets(g), key=lambda t: t[0].encode("utf-8"))
    s.u64(len(ds))
    for p, d in ds:
        if "checksum" not in d.attrs:
            raise RecordError("%s: run '%s': dataset '%s' has no checksum (damaged)" % (path, rid, p))
        s.str(p)
        s.u64(int(_text(d.attrs["checksum"])[8:], 16))
    if s.hex() != _text(g.attrs["checksum"]):
        raise RecordError("%s: run '%s' is damaged: its attributes do not match its checksum" % (path, rid))
    return {k: (_text(v) if isinstance(v, bytes) else v) for k, v in attrs.items()}


def provenance(path):
    """The root attributes (moex_version, created_utc, host, command_line, experiment, grid,
    schema_version) as a dict, verified."""
    with _open(path) as f:
        return {k: (_text(v) if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                for k, v in f.attrs.items() if k != "checksum"}


def run_ids(path):
    """The run ids in the order the runs were written."""
    with _open(path) as f:
        return list(f["runs"].keys())


def runs(path):
    """One row per run (in the order written): run_id, then every attribute of the runs
    (configuration, seed, status, metrics), each run verified against its checksum."""
    import pandas as pd

    with _open(path) as f:
        sealed = "checksum" in f.attrs
        rows = [dict(_run_attrs(path, f, rid, sealed), run_id=rid) for rid in f["runs"].keys()]
    cols = ["run_id"]
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    data = {}
    for c in cols:
        vals = [r.get(c) for r in rows]
        kinds = {_attr_kind(v) for v in vals if v is not None}
        if kinds == {_INT}:
            data[c] = pd.array([None if v is None else int(v) for v in vals],
                               dtype="int64" if None not in vals else "Int64")
        elif kinds <= {_INT, _DOUBLE} and kinds:
            data[c] = np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
        else:
            data[c] = pd.Series([v if v is None else str(v) for v in vals], dtype=object)
    return pd.DataFrame(data, columns=cols)


def _dataset(path, run_id, name):
    with _open(path) as f:
        if run_id not in f["runs"]:
            raise RecordError("%s: no run '%s'" % (path, run_id))
        _run_attrs(path, f, run_id, "checksum" in f.attrs)  # the list of datasets and their sums
        g = f["runs"][run_id]
        if name not in g or not isinstance(g[name], h5py.Dataset):
            raise RecordError("%s: run '%s' has no dataset '%s'" % (path, run_id, name))
        d = g[name]
        got, data = _dataset_sum(name, d)
        if "checksum" in d.attrs and got != _text(d.attrs["checksum"]):
            raise RecordError("%s: run '%s' is damaged: '%s' does not match its checksum" % (path, run_id, name))
        cols = [_text(c) for c in d.attrs["columns"]] if "columns" in d.attrs else None
        return data, cols


def array(path, run_id, name):
    """A run's named array (e.g. "params/layer0/router/W", "eval/pred") as numpy, verified."""
    return _dataset(path, run_id, name)[0]


def curve(path, run_id, name="curve"):
    """A run's table (its training curve by default; "routing/load_curve") as a DataFrame."""
    import pandas as pd

    data, cols = _dataset(path, run_id, name)
    if cols is None:
        raise RecordError("%s: run '%s': '%s' is an array, not a table" % (path, run_id, name))
    return pd.DataFrame(data, columns=cols)


def _main(argv):
    import argparse

    ap = argparse.ArgumentParser(prog="moex_records.py", description="A moex record as a table.")
    ap.add_argument("file")
    ap.add_argument("--curve", metavar="RUN_ID", help="print this run's training curve instead")
    a = ap.parse_args(argv)
    try:
        df = curve(a.file, a.curve) if a.curve else runs(a.file)
    except RecordError as e:
        print("moex_records: %s" % e, file=sys.stderr)
        return 2
    print(df.to_string(max_rows=40, max_cols=12))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
