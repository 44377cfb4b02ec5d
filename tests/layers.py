#!/usr/bin/env python3
"""layers: moex's dependencies point down only, and no two parts depend on each other.

  layers.py ROOT OBJ...     check the tree at ROOT and the library objects OBJ (exit 1 on a fault)
  layers.py --self-test     show that each rule fails on a broken input (exit 1 if it does not)

Rules:
  1. includes: a file may include a header of its own folder or of a lower layer, never one of a
     higher layer or of another folder of the same layer (model and targets know nothing of each
     other); the order is the README's:
       core < model, targets < fit, analysis < record < sweep < report, construct
            < experiments/lib < experiments, src/tools
  2. include cycles: no chain of includes between files returns to where it started (two
     headers including each other, directly or through others).
  3. module cycles: no two modules (a .c and its .h, one node) include each other's headers,
     directly or through others: a module that needs another's types while that one needs it
     back wants a header of shared vocabulary below both.
  4. link cycles: no chain of symbol references between the library's objects (nm: an undefined
     symbol of one object defined by another) returns to where it started, so a .c calling into
     a file that calls it back (a dispatcher and its adapters) is caught even when the headers
     hide it.
"""
import os
import re
import subprocess
import sys

RANK = {"core": 0, "model": 1, "targets": 1, "fit": 2, "analysis": 2, "record": 3, "sweep": 4,
        "report": 5, "construct": 5, "lib": 6, "experiments": 7, "tools": 7}
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """Layer name of a source path relative to the root, or None (tests, outside the tree)."""
    p = rel.split("/")
    if p[0] == "src" and len(p) == 3:
        return p[1]
    if p[0] == "experiments":
        return "lib" if len(p) == 3 and p[1] == "lib" else "experiments"
    return None


def header_layer(inc):
    """Layer of an include spelled "layer/name.h" (src/) or "lib/name.h" (experiments/lib)."""
    p = inc.split("/")
    return p[0] if len(p) == 2 and p[0] in RANK else None


def find_cycle(graph):
    """A cycle as a list of nodes, or None. graph: node -> set of nodes."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check_includes(files):
    """files: {relpath: text}. Returns the list of faults."""
    faults, graph = [], {}
    for rel, text in sorted(files.items()):
        lay = layer_of(rel)
        if lay is None:
            continue
        for inc in INC.findall(text):
            hl = header_layer(inc)
            if hl is None:
                # a project header must be named with its layer, or the rules cannot see it
                if not inc.startswith("<"):
                    faults.append(f"{rel}: includes \"{inc}\": not spelled layer/name.h, so no rule can check it")
                continue
            if hl != lay and RANK[hl] >= RANK[lay]:
                faults.append(f"{rel}: includes \"{inc}\": layer {hl} is not below {lay}")
            target = ("experiments/" if hl == "lib" else "src/") + inc
            graph.setdefault(rel, set()).add(target)
    c = find_cycle(graph)
    if c:
        faults.append("include cycle: " + " -> ".join(c))
    # modules: X.c and X.h are one node; an edge to every other module whose header X includes
    mods = {}
    for rel, targets in graph.items():
        m = os.path.splitext(rel)[0]
        mods.setdefault(m, set()).update(os.path.splitext(t)[0] for t in targets if os.path.splitext(t)[0] != m)
    c = find_cycle(mods)
    if c:
        faults.append("module cycle (each includes the next one's header): " + " -> ".join(c))
    return faults


def check_links(objs):
    """objs: {name: (defined set, undefined set)}. Returns the list of faults."""
    where, faults = {}, []
    for o, (defs, _) in objs.items():
        for s in defs:
            if s in where:
                faults.append(f"symbol {s} defined in {where[s]} and {o}")
            where[s] = o
    graph = {o: {where[s] for s in und if s in where and where[s] != o} for o, (_, und) in objs.items()}
    c = find_cycle(graph)
    return faults + (["link cycle: " + " -> ".join(c)] if c else [])


def nm_symbols(obj):
    out = subprocess.run(["nm", "-P", obj], check=True, capture_output=True, text=True).stdout
    defs, und = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        name, kind = f[0], f[1]
        if kind == "U":
            und.add(name)
        elif kind.isupper():
            defs.add(name)
    return defs, und


def self_test():
    bad = 0
    ok_tree = {"src/core/a.c": '#include "core/a.h"\n', "src/model/m.c": '#include "core/a.h"\n'}
    cases = [
        ("upward include", {"src/core/a.c": '#include "model/m.h"\n'}),
        ("sideways include", {"src/model/m.c": '#include "targets/t.h"\n'}),
        ("include cycle", {"src/fit/f.h": '#include "fit/g.h"\n', "src/fit/g.h": '#include "fit/f.h"\n'}),
        ("experiment layer from the library", {"src/sweep/s.c": '#include "lib/exprun.h"\n'}),
        ("include without its layer", {"src/model/m.c": '#include "fit.h"\n'}),
        ("module cycle", {"src/fit/f.c": '#include "fit/g.h"\n', "src/fit/g.h": '#include "fit/f.h"\n'}),
    ]
    if check_includes(ok_tree):
        print("layers self-test: a clean tree was faulted", file=sys.stderr)
        bad = 1
    for name, tree in cases:
        if not check_includes(tree):
            print(f"layers self-test: {name} not caught", file=sys.stderr)
            bad = 1
    links = {"fit.o": ({"fit_run"}, {"fit_adam"}), "fit_adam.o": ({"fit_adam"}, {"fit_run"})}
    if not check_links(links):
        print("layers self-test: link cycle not caught", file=sys.stderr)
        bad = 1
    if not check_links({"a.o": ({"a", "x"}, set()), "b.o": ({"x"}, set())}):
        print("layers self-test: a symbol defined twice not caught", file=sys.stderr)
        bad = 1
    if check_links({"a.o": ({"a"}, {"b"}), "b.o": ({"b"}, set())}):
        print("layers self-test: an acyclic link graph was faulted", file=sys.stderr)
        bad = 1
    if not bad:
        print("layers self-test: every rule fails on its broken input")
    return bad


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    root, objs = argv[1], argv[2:]
    files = {}
    for top in ("src", "experiments"):
        for d, _, names in os.walk(os.path.join(root, top)):
            for n in names:
                if n.endswith((".c", ".h")):
                    p = os.path.join(d, n)
                    files[os.path.relpath(p, root)] = open(p, encoding="utf-8").read()
    faults = check_includes(files)
    faults += check_links({os.path.basename(o): nm_symbols(o) for o in objs})
    for f in faults:
        print("layers: " + f, file=sys.stderr)
    if not faults:
        print(f"layers: {len(files)} files, {len(objs)} objects: no upward include, no cycle")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
