#!/usr/bin/python3
"""records_py_test.py REC.h5 RUNS.tsv DIR: src/tools/moex_records.py against moex's own reader.
   records_py_test.py --frames FILE.h5...: each record's frame against its /summary.

RUNS.tsv is written by tests/test_records_py.c through the C API (run_id, seed, test_mse as a
hex float, status, one line per run of REC.h5). Checked: runs() has one row per run in the
written order with the C reader's values bit for bit and the documented types; curve() and
array() return the stored values; and each kind of damage (a run attribute, a dataset's value, a
root attribute) raises RecordError naming what is damaged, while the undamaged parts still read.
Copies go to DIR. Exit 0 when all hold, 1 with the first failure."""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tools"))
import moex_records as mr  # noqa: E402


def fail(msg):
    print("records_py_test: FAILED: " + msg)
    sys.exit(1)


def expect_error(fn, must_name, what):
    try:
        fn()
    except mr.RecordError as e:
        if must_name not in str(e):
            fail("%s: the error does not name '%s': %s" % (what, must_name, e))
        return
    fail("%s: no RecordError" % what)


def frames(paths):
    """--frames FILE...: runs() of each record against its /summary, read with h5py alone: the
    same run ids in the same order, and every summary value of every run (where the run has that
    column) equal bit for bit, strings as str and integers as integers."""
    n_runs = n_vals = 0
    for path in paths:
        df = mr.runs(path)
        with h5py.File(path, "r") as f:
            s = f["summary"]
            ids = list(s["run_id"].asstr()[()])
            if list(df.run_id) != ids:
                fail("%s: run ids differ from /summary's" % path)
            for i, rid in enumerate(ids):
                cols = [c.decode() if isinstance(c, bytes) else c for c in f["runs"][rid].attrs["summary_columns"]]
                for c in cols:
                    d = s[c]
                    want = d.asstr()[i] if d.dtype.kind == "O" else d[i]
                    got = df[c][i]
                    if d.dtype.kind == "O":
                        ok = isinstance(got, str) and got == want
                    elif d.dtype.kind == "i":
                        ok = isinstance(got, (int, np.integer)) and int(got) == int(want)
                    else:
                        ok = np.float64(got).tobytes() == np.float64(want).tobytes()
                    if not ok:
                        fail("%s: run %s column %s: %r in the frame, %r in /summary" % (path, rid, c, got, want))
                    n_vals += 1
        n_runs += len(ids)
    print("records_py_test: %d records, %d runs, %d summary values equal to the frames'" % (len(paths), n_runs, n_vals))


def main(rec, tsv, tmp):
    want = [ln.rstrip("\n").split("\t") for ln in open(tsv) if ln.strip()]
    df = mr.runs(rec)
    if list(df.run_id) != [w[0] for w in want]:
        fail("run ids or their order differ from the C reader's")
    for i, (rid, seed, mse, status) in enumerate(want):
        if int(df.seed[i]) != int(seed) or df.status[i] != status:
            fail("run %s: seed or status differ" % rid)
        if df.test_mse[i] != float.fromhex(mse):
            fail("run %s: test_mse %r is not the C reader's %r" % (rid, df.test_mse[i], float.fromhex(mse)))
    if str(df.seed.dtype) != "int64" or df.test_mse.dtype != np.float64 or not isinstance(df.status[0], str):
        fail("types: seed %s, test_mse %s, status %s" % (df.seed.dtype, df.test_mse.dtype, type(df.status[0])))
    rid = want[0][0]
    with h5py.File(rec, "r") as f:
        raw_curve = f["runs"][rid]["curve"][()]
        raw_w = f["runs"][rid]["params/layer0/router/W"][()]
    c = mr.curve(rec, rid)
    if list(c.columns[:2]) != ["iter", "loss"] or not np.array_equal(c.to_numpy(), raw_curve, equal_nan=True):
        fail("curve() differs from the stored table")
    if not np.array_equal(mr.array(rec, rid, "params/layer0/router/W"), raw_w):
        fail("array() differs from the stored array")
    p = mr.provenance(rec)
    if p["experiment"] != "sweep_demo" or p["schema_version"] != 1:
        fail("provenance: %r" % p)
    # a run attribute changed behind the checksum: the run is named; the others are not touched
    bad = os.path.join(tmp, "attr.h5")
    shutil.copy(rec, bad)
    with h5py.File(bad, "r+") as f:
        a = f["runs"][rid].attrs
        a.modify("test_mse", a["test_mse"] * 2)
    expect_error(lambda: mr.runs(bad), rid, "a changed test_mse")
    # a dataset's value changed: its reading names the run and the dataset; the runs still read
    bad = os.path.join(tmp, "data.h5")
    shutil.copy(rec, bad)
    with h5py.File(bad, "r+") as f:
        d = f["runs"][rid]["curve"]
        d[0, 1] = d[0, 1] + 1.0
    expect_error(lambda: mr.curve(bad, rid), "'curve' does not match", "a changed curve value")
    if len(mr.runs(bad)) != len(want):
        fail("a damaged curve made the runs unreadable")
    # a root attribute changed
    bad = os.path.join(tmp, "root.h5")
    shutil.copy(rec, bad)
    with h5py.File(bad, "r+") as f:
        f.attrs.modify("host", "elsewhere")
    expect_error(lambda: mr.provenance(bad), "root", "a changed root attribute")
    # a schema this reader does not know
    bad = os.path.join(tmp, "schema.h5")
    shutil.copy(rec, bad)
    with h5py.File(bad, "r+") as f:
        f.attrs.modify("schema_version", np.int64(2))
    expect_error(lambda: mr.runs(bad), "schema_version 2", "an unknown schema version")
    # not a record at all
    junk = os.path.join(tmp, "junk.h5")
    with open(junk, "wb") as f:
        f.write(b"not hdf5")
    expect_error(lambda: mr.runs(junk), "junk.h5", "a file that is not HDF5")
    expect_error(lambda: mr.curve(rec, "0000000000000000"), "no run", "an unknown run id")
    print("records_py_test: %d runs, values and types as moex reads them, 5 kinds of damage refused" % len(want))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--frames":
        frames(sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    main(*sys.argv[1:])
