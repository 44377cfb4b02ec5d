#!/usr/bin/python3
"""bench_torch: moex-bench's P1 and P2 against PyTorch eager and TorchScript, side by side (issues 20, 32).

One Adam step (forward, MSE loss, backward, update) of the same two models moex-bench times, on
the same shapes and the same kind of data, float64, one thread (torch.set_num_threads(1), and
moex-bench's one BLAS thread), in rounds that interleave the two: each round times PyTorch on
both rows, then runs `moex-bench --only P1` and `--only P2` as child processes and reads their
medians from their TSV. The ratio printed is the median over rounds of PyTorch's median step
over moex's, so drift of a shared machine's load hits both sides alike.

    P1  Table 3's model: one MoE layer, D = 128, E = 4 experts R^128 -> 10 -> R, linear top-1
        router (switch weights), batch 128
    P2  Table 4's 2-3-MoE: two MoE layers, E = 3 experts R^2 -> 128 -> R^2 each, batch 128

Three PyTorch implementations of the same MoE layer are timed:
    dispatch  each expert run on its own samples (index_select, then index_add of the weighted
              outputs): what an eager MoE layer does (Switch, fairseq's MoE layers), fair to
              moex, which computes the selected expert only;
    script    the same module compiled by torch.jit.script (TorchScript: the fastest PyTorch
              path on a CPU in Debian's 1.13; the graph executor optimizes during the warm-up);
    dense     every expert on every sample, then the selected one gathered (moex_torch.py's
              reference module, written to match src/model bit for bit, not for speed; its
              top-K loop over a tensor bound does not script).

Usage: bench_torch.py --moex-bench BIN [--rounds 5] [--reps 2000] [--out DIR]
Writes DIR/bench-torch.tsv (row, impl, round, torch_us, moex_us) and prints the table.
Needs Debian's python3-torch (make bench-torch installs it; make check never does).
"""

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moex_torch as mt  # noqa: E402

DTYPE = torch.float64


class DispatchMoE(nn.Module):
    """One MoE layer of moex's family (linear bias-free router, top-1, switch weight
    softmax(s)_top, 2-layer ReLU experts), each expert applied to its own samples only."""

    def __init__(self, d_in, d_out, E, m):
        super().__init__()
        self.router = nn.Linear(d_in, E, bias=False, dtype=DTYPE)
        self.w1 = nn.ModuleList(nn.Linear(d_in, m, dtype=DTYPE) for _ in range(E))
        self.w2 = nn.ModuleList(nn.Linear(m, d_out, dtype=DTYPE) for _ in range(E))
        self.E, self.d_out = E, d_out

    def forward(self, x):
        p = torch.softmax(self.router(x), dim=1)
        top = p.argmax(dim=1)
        out = torch.zeros(x.shape[0], self.d_out, dtype=x.dtype)
        # written so that torch.jit.script takes it (a module list is iterated, not indexed; no
        # continue in the unrolled loop; nonzero without as_tuple): eager runs the same code
        for e, (l1, l2) in enumerate(zip(self.w1, self.w2)):
            idx = (top == e).nonzero().squeeze(1)
            if idx.numel() > 0:
                h = torch.relu(l1(x.index_select(0, idx)))
                y = l2(h) * p.index_select(0, idx)[:, e:e + 1]
                out = out.index_add(0, idx, y)
        return out


def p1_data(g):
    a = 2 * math.pi * torch.rand(128, generator=g, dtype=DTYPE)
    x = torch.zeros(128, 128, dtype=DTYPE)
    x[:, 0], x[:, 1] = torch.cos(a), torch.sin(a)
    t = (torch.sin(5 * torch.cos(a)) + torch.cos(3 * torch.sin(a))).unsqueeze(1)
    return x, t


def p2_data(g):
    x = 3 * torch.rand(128, 2, generator=g, dtype=DTYPE)
    k = torch.floor(x) + 1
    t = k * (x - k + 1) ** 2 * (x - k) ** 2
    return x, t


SPECS = {
    "P1": "moe:d_in=128,d_out=1,E=4,K=1,l=2,m=10,router=linear,router_width=0,surrogate=switch,shared=0",
    "P2": "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=128,router=linear,router_width=0,surrogate=switch,shared=0;"
          "moe:d_in=2,d_out=2,E=3,K=1,l=2,m=128,router=linear,router_width=0,surrogate=switch,shared=0",
}


IMPLS = ("dispatch", "script", "dense")


def model(row, impl):
    if impl == "dense":
        return mt.build(SPECS[row])
    if impl == "script":
        net = model(row, "dispatch")
        ts = torch.jit.script(net)
        x = (p1_data if row == "P1" else p2_data)(torch.Generator().manual_seed(7))[0]
        if not torch.equal(ts(x), net(x)):  # the same module: the same outputs, bit for bit
            raise RuntimeError("torch.jit.script of %s's module computes other values than eager" % row)
        return ts
    if row == "P1":
        return DispatchMoE(128, 1, 4, 10)
    return nn.Sequential(DispatchMoE(2, 2, 3, 128), DispatchMoE(2, 2, 3, 128))


def torch_step_us(row, impl, reps, seed):
    """Median microseconds of one Adam step, after a warm-up of 20 steps."""
    g = torch.Generator().manual_seed(seed)
    x, t = (p1_data if row == "P1" else p2_data)(g)
    torch.manual_seed(seed)
    net = model(row, impl)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    dt = []
    for r in range(reps + 20):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((net(x) - t) ** 2)
        loss.backward()
        opt.step()
        if r >= 20:
            dt.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(dt)


def moex_step_us(bench, row, reps):
    """moex-bench --only ROW's median (it runs ten times its --reps steps; --reps at least 5)."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([bench, "--only", row, "--no-dgemm", "--reps", str(max(5, reps // 10)), "--out", d], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(d, os.listdir(d)[0])) as f:
            for rec in csv.DictReader(f, delimiter="\t"):
                if rec["id"] == row:
                    return float(rec["median_us"])
    raise RuntimeError("moex-bench wrote no %s row" % row)


def main(argv):
    ap = argparse.ArgumentParser(description="moex-bench P1/P2 against PyTorch eager and TorchScript, interleaved")
    ap.add_argument("--moex-bench", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--out", default="results/bench")
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.reps < 10:
        print("bench_torch.py: --rounds %d / --reps %d: need at least 1 and 10" % (a.rounds, a.reps), file=sys.stderr)
        return 2
    if not os.access(a.moex_bench, os.X_OK):
        print("bench_torch.py: --moex-bench '%s' is not an executable" % a.moex_bench, file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for rnd in range(a.rounds):
        for row in ("P1", "P2"):
            tu = {impl: torch_step_us(row, impl, a.reps, 1 + rnd) for impl in IMPLS}
            mu = moex_step_us(a.moex_bench, row, a.reps)
            for impl, v in tu.items():
                rows.append((row, impl, rnd, v, mu))
            print("round %d %s: moex %.1f us, torch dispatch %.1f us, script %.1f us, dense %.1f us"
                  % (rnd + 1, row, mu, tu["dispatch"], tu["script"], tu["dense"]), flush=True)
    path = os.path.join(a.out, "bench-torch.tsv")
    with open(path, "w") as f:
        f.write("row\timpl\tround\ttorch_us\tmoex_us\n")
        for r in rows:
            f.write("%s\t%s\t%d\t%.3f\t%.3f\n" % r)
    print("torch %s, %d thread, float64; moex-bench %s; %d rounds" % (torch.__version__, torch.get_num_threads(), a.moex_bench,
                                                                     a.rounds))
    print("%-3s %-9s %12s %12s %8s" % ("row", "impl", "torch_us", "moex_us", "ratio"))
    for row in ("P1", "P2"):
        for impl in IMPLS:
            sel = [r for r in rows if r[0] == row and r[1] == impl]
            ratio = statistics.median(r[3] / r[4] for r in sel)
            print("%-3s %-9s %12.1f %12.1f %7.1fx" % (row, impl, statistics.median(r[3] for r in sel),
                                                     statistics.median(r[4] for r in sel), ratio))
    for row in ("P1", "P2"):  # the same round's two PyTorch paths, so that drift hits both alike
        eager = {r[2]: r[3] for r in rows if r[0] == row and r[1] == "dispatch"}
        ts = [r[3] / eager[r[2]] for r in rows if r[0] == row and r[1] == "script"]
        print("%s: TorchScript / eager step time %.3f (median over rounds)" % (row, statistics.median(ts)))
    print("wrote %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
