#!/usr/bin/python3
"""moex_torch: moex's fitted models as PyTorch modules, and PyTorch MoEs as moex records.

Optional: needs only h5py, numpy and torch (Debian 12: python3-h5py, python3-numpy,
python3-torch); moex itself never imports it.

    import moex_torch as mt
    net = mt.load_run("results/paper/paper_exp2.h5", run_id)   # torch.nn.Module, float64
    y = net(torch.from_numpy(x))                               # = the run's stored predictions
    net = mt.build("moe:d_in=2,...;moe:...")                  # a fresh module of a model spec
    mt.save_model(net, "mine.h5")                              # a moex records file (moex-eval)

The model follows src/model (moe.h, gate.c, mlp.c) exactly: experts and dense layers are ReLU
nets, affine layer y = W x + b with W (out, in); the router scores are g(x) = W x (linear, no
bias), W x + b (affine: a one-layer net, tensors router/W1 and router/b1) or a 2-layer ReLU net
(mlp); the K largest scores are selected, ties to the lowest index
(an explicit rule, not torch.topk, whose tie order is not specified); weights: `switch` w_k =
softmax over all E scores at the selected k, `paper` softmax over the K selected scores; layer
output shared(x) + sum_k w_k f_{i_k}(x); layers stack with no residuals. A run trained with
Adam's aux-free balancing (`adam:auxfree=G`, DeepSeek-V3) stores a selection bias b per MoE layer
(params/layer{l}/router/select_bias, E values, in every MoE layer or none, as
experiments/lib/modelio.c reads it): the K largest of s + b are selected (gate_select), the
weights are those of s alone; the module keeps it as the layer's buffer `select_bias` (None
without) and save_model writes it back. The other router options leave nothing in the model
(noise with its W_noise, and jitter, act in training only; balance, zloss and warmup shape the
loss and the schedule), so their runs load as plain ones. Auto-encoder experts
(the paper's Sec. 4.3; spec fields enc, enc_layers, enc_width, enc_shared, decoder, recon_weight):
expert i computes f_i(Enc_i(x)), Enc_i: R^d_in -> R^enc a ReLU net of enc_layers affine layers
(1: affine), one per expert or one for the layer (enc_shared); the router reads x; decoders
(decoder=1, the encoder's shape reversed) serve only moex's reconstruction loss, so the forward
ignores them, but they are loaded and saved. The model spec is the text of src/model/spectext.h,
stored in every run as the attribute `model_spec`; tensors are named as in results/SCHEMA.md
(params/layer{l}/router/W, .../expert{e}/W{j}, b{j}, .../expert{e}/enc/W{j}, .../layer{l}/dec/...).

Command line (used by moex's tests, tests/test_torch.c and tests/test_torch_ae.c):
    moex_torch.py verify FILE.h5 [--tol 1e-12] [--perturbed EPS OUT.h5 [--perturb-what out|enc]]
        every run's module against its eval/y_pred and eval/path, its spec text against the
        stored one (and how many routes a run's selection bias changes); then (OUT.h5: a copy
        of FILE with the last layer's output biases, or with `enc` every encoder's first bias,
        moved by EPS) the same check must fail on every run
    moex_torch.py save-check FILE.h5 --moex-eval BIN --target SPEC --dir DIR [--tol] [--perturb EPS]
        for every model spec of FILE.h5 (with a selection bias where its run holds one, which
        must change some route): a fresh module, saved, measured by moex-eval, whose eval/y_pred
        must equal the module's predictions and whose tensors (decoders, selection biases
        included) moex-eval and load_run must read back bit for bit; then, every tensor moved by
        EPS, not
    moex_torch.py spec TEXT...
        each model spec parsed and formatted back (exit 2 if one is refused)
"""

import datetime
import hashlib
import os
import re
import socket
import subprocess
import sys

import h5py
import numpy as np
import torch
from torch import nn

DTYPE = torch.float64
SCHEMA_VERSION = 1

_MOE_FIELDS = ["d_in", "d_out", "E", "K", "l", "m", "router", "router_width", "surrogate", "shared"]
# auto-encoder experts (src/model/moe.h enc_dim and friends): optional, but all or none
_AE_FIELDS = ["enc", "enc_layers", "enc_width", "enc_shared", "decoder", "recon_weight"]
_DENSE_FIELDS = ["d_in", "d_out", "l", "m"]
_STRINGS = {"router", "surrogate"}
_MLP_MAX_LAYERS = 16  # src/model/mlp.h


def _parse_value(l, key, val):
    """One field's value as spectext.c reads it: strings, recon_weight a finite number >= 0,
    every other field a decimal integer in 0..2^32."""
    if key in _STRINGS:
        return val
    if key == "recon_weight":
        # float() alone would take '1_0', 'inf' or 'nan', which moex's strtod does not
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", val):
            raise ValueError("model spec: layer %d: recon_weight = '%s' is not a finite number >= 0" % (l, val))
        r = float(val)
        if not np.isfinite(r) or r < 0:
            raise ValueError("model spec: layer %d: recon_weight = '%s' is not a finite number >= 0" % (l, val))
        return r
    if not re.fullmatch(r"\d+", val) or int(val) > 2 ** 32:
        raise ValueError("model spec: layer %d: %s = '%s' is not an integer in 0..2^32" % (l, key, val))
    return int(val)


def _check_autoenc(l, lay):
    """The auto-encoder fields of an MoE layer, as moe.c's autoenc_validate checks them."""
    if lay["enc"] < 1:
        raise ValueError("model spec: layer %d: enc = 0 (auto-encoder fields are for enc >= 1; leave them out)" % l)
    if lay["shared"]:
        raise ValueError("model spec: layer %d: auto-encoder experts with a shared expert are not supported" % l)
    if not 1 <= lay["enc_layers"] <= _MLP_MAX_LAYERS:
        raise ValueError("model spec: layer %d: enc_layers = %d must be in 1..%d" % (l, lay["enc_layers"], _MLP_MAX_LAYERS))
    if lay["enc_layers"] >= 2 and lay["enc_width"] < 1:
        raise ValueError("model spec: layer %d: enc_width must be >= 1 for enc_layers >= 2" % l)
    for k in ("enc_shared", "decoder"):
        if lay[k] not in (0, 1):
            raise ValueError("model spec: layer %d: %s = %d must be 0 or 1" % (l, k, lay[k]))
    if lay["recon_weight"] > 0 and not lay["decoder"]:
        raise ValueError("model spec: layer %d: recon_weight %.17g needs decoder=1" % (l, lay["recon_weight"]))


def has_autoenc(lay):
    """Whether a layer dict is an MoE layer of auto-encoder experts."""
    return lay["kind"] == "moe" and lay.get("enc", 0) >= 1


# ---- the model spec (src/model/spectext.h) ------------------------------------------------

def parse_spec(text):
    """The layers of a spec text: a list of dicts (kind 'moe' or 'dense' and the fields)."""
    if not isinstance(text, str) or not text:
        raise ValueError("model spec: empty or not a string")
    layers = []
    for l, part in enumerate(text.split(";")):
        kind, sep, rest = part.partition(":")
        if not sep or kind not in ("moe", "dense"):
            raise ValueError("model spec: layer %d: '%s' is not moe:... or dense:..." % (l, part))
        names = _MOE_FIELDS + _AE_FIELDS if kind == "moe" else _DENSE_FIELDS
        lay = {"kind": kind}
        for fld in rest.split(","):
            key, eq, val = fld.partition("=")
            if not eq or key not in names or key in lay:
                raise ValueError("model spec: layer %d: bad or repeated field '%s'" % (l, fld))
            lay[key] = _parse_value(l, key, val)
        ae = any(k in lay for k in _AE_FIELDS)
        missing = [k for k in names if k not in lay and (k not in _AE_FIELDS or ae)]
        if missing:
            raise ValueError("model spec: layer %d: field '%s' is missing" % (l, missing[0]))
        if kind == "moe":
            if lay["router"] not in ("linear", "affine", "mlp") or lay["surrogate"] not in ("switch", "paper"):
                raise ValueError("model spec: layer %d: router or surrogate unknown" % l)
            if not 1 <= lay["K"] <= lay["E"]:
                raise ValueError("model spec: layer %d: K = %d must be in 1..E = %d" % (l, lay["K"], lay["E"]))
            if ae:
                _check_autoenc(l, lay)
        if l and lay["d_in"] != layers[-1]["d_out"]:
            raise ValueError("model spec: layer %d input dimension %d != layer %d output %d"
                             % (l, lay["d_in"], l - 1, layers[-1]["d_out"]))
        layers.append(lay)
    return layers


def format_spec(layers):
    """The spec text of a list of layer dicts (the inverse of parse_spec)."""
    parts = []
    for lay in layers:
        names = _MOE_FIELDS if lay["kind"] == "moe" else _DENSE_FIELDS
        vals = dict(lay)
        if vals["l"] < 2:
            vals["m"] = 0
        if lay["kind"] == "moe" and vals["router"] != "mlp":
            vals["router_width"] = 0
        text = lay["kind"] + ":" + ",".join("%s=%s" % (k, vals[k]) for k in names)
        if has_autoenc(lay):  # as spectext_format: enc_width 0 for 1 layer, recon_weight %.17g
            if vals["enc_layers"] < 2:
                vals["enc_width"] = 0
            vals["recon_weight"] = "%.17g" % float(vals["recon_weight"])
            vals["enc_shared"], vals["decoder"] = int(bool(vals["enc_shared"])), int(bool(vals["decoder"]))
            text += "," + ",".join("%s=%s" % (k, vals[k]) for k in _AE_FIELDS)
        parts.append(text)
    return ";".join(parts)


# ---- the modules -----------------------------------------------------------------------------

class MLP(nn.Module):
    """l affine layers n_in -> m -> ... -> m -> n_out, ReLU between, none after the last."""

    def __init__(self, n_in, n_out, n_layers, width):
        super().__init__()
        dims = [n_in] + [width] * (n_layers - 1) + [n_out]
        self.lin = nn.ModuleList(nn.Linear(dims[j], dims[j + 1], dtype=DTYPE) for j in range(n_layers))

    def forward(self, x):
        for j, lin in enumerate(self.lin):
            x = lin(x)
            if j + 1 < len(self.lin):
                x = torch.relu(x)
        return x

    def tensors(self, prefix):
        out = {}
        for j, lin in enumerate(self.lin, start=1):
            out["%s/W%d" % (prefix, j)] = lin.weight
            out["%s/b%d" % (prefix, j)] = lin.bias
        return out


def select_topk(S, K):
    """The K largest scores of each row in decreasing order, ties to the lowest index (as
    gate_select: the k-th pick is the first maximum among the experts not yet taken)."""
    n, E = S.shape
    cols = torch.arange(E, device=S.device).expand(n, E)
    taken = torch.zeros(n, E, dtype=torch.bool, device=S.device)
    idx = []
    for _ in range(K):
        masked = S.masked_fill(taken, float("-inf"))
        mx = masked.max(dim=1, keepdim=True).values
        # every untaken column at the maximum is a candidate; the lowest index wins
        cand = (masked == mx) & ~taken
        pick = torch.where(cand, cols, torch.full_like(cols, E)).min(dim=1).values
        idx.append(pick)
        taken = taken | (cols == pick.unsqueeze(1))
    return torch.stack(idx, dim=1)


class MoELayer(nn.Module):
    """Router + E experts, top-K, switch or paper weights, optional shared expert, optional
    selection bias (select_bias=True: a buffer of E zeros, the top-K taken of scores + bias, the
    weights of the scores alone: adam:auxfree's bias in moe.c/gate.c); or experts
    f_i o Enc_i (auto-encoder experts, moe.h enc_dim > 0): `encoders` (E of them, or one with
    enc_shared) R^d_in -> R^enc, each expert R^enc -> R^d_out, and with decoder=1 `decoders` of
    the encoders' shape reversed, which only the reconstruction loss reads (kept so that
    save_model writes them back; the forward does not use them). The router reads x."""

    def __init__(self, lay, select_bias=False):
        super().__init__()
        self.spec = dict(lay)
        self.E, self.K, self.surrogate = lay["E"], lay["K"], lay["surrogate"]
        self.register_buffer("select_bias", torch.zeros(lay["E"], dtype=DTYPE) if select_bias else None)
        if lay["router"] == "linear":
            self.router = nn.Linear(lay["d_in"], lay["E"], bias=False, dtype=DTYPE)
        else:  # affine: one layer with its bias (gate.c holds it as a one-layer net)
            self.router = MLP(lay["d_in"], lay["E"], 2 if lay["router"] == "mlp" else 1, lay["router_width"])
        self.enc_dim = lay.get("enc", 0) if lay["kind"] == "moe" else 0
        self.encoders = self.decoders = None
        self.enc_shared = False
        if self.enc_dim:
            self.enc_shared = bool(lay["enc_shared"])
            n_enc = 1 if self.enc_shared else lay["E"]
            el, ew = lay["enc_layers"], lay["enc_width"]
            self.encoders = nn.ModuleList(MLP(lay["d_in"], self.enc_dim, el, ew) for _ in range(n_enc))
            if lay["decoder"]:
                self.decoders = nn.ModuleList(MLP(self.enc_dim, lay["d_in"], el, ew) for _ in range(n_enc))
        f_in = self.enc_dim or lay["d_in"]
        self.experts = nn.ModuleList(MLP(f_in, lay["d_out"], lay["l"], lay["m"]) for _ in range(lay["E"]))
        self.shared = MLP(lay["d_in"], lay["d_out"], lay["l"], lay["m"]) if lay["shared"] else None
        self.last_choice = None

    def expert_outputs(self, x):
        """(E, n, d_out): every expert on every row; for auto-encoder experts f_e(Enc_e(x)) (moe.c
        encodes each expert's gathered rows and feeds the code to f_e; row by row the same)."""
        if not self.enc_dim:
            return torch.stack([f(x) for f in self.experts])
        if self.enc_shared:
            z = self.encoders[0](x)
            return torch.stack([f(z) for f in self.experts])
        return torch.stack([f(enc(x)) for f, enc in zip(self.experts, self.encoders)])

    def forward(self, x):
        S = self.router(x)
        # gate_select compares s_e + b_e (the sums rounded as there) for the selection only
        sel_scores = S.detach() if self.select_bias is None else S.detach() + self.select_bias
        idx = select_topk(sel_scores, self.K)
        if self.surrogate == "switch":
            # exp(s - max s) / sum over all E, as gate_select (with a bias the first pick need not
            # hold the largest score)
            z = torch.exp(S - S.max(dim=1, keepdim=True).values)
            w = z.gather(1, idx) / z.sum(dim=1, keepdim=True)
        else:
            sel = S.gather(1, idx)
            z = torch.exp(sel - sel[:, :1])
            w = z / z.sum(dim=1, keepdim=True)
        Y = self.expert_outputs(x)  # (E, n, d_out)
        rows = torch.arange(x.shape[0], device=x.device)
        out = self.shared(x) if self.shared is not None else torch.zeros(x.shape[0], Y.shape[2], dtype=x.dtype)
        for k in range(self.K):  # the order moe.c adds them in
            out = out + w[:, k:k + 1] * Y[idx[:, k], rows]
        self.last_choice = idx
        return out

    def tensors(self, prefix):
        out = {}
        if isinstance(self.router, nn.Linear):
            out[prefix + "/router/W"] = self.router.weight
        else:
            out.update(self.router.tensors(prefix + "/router"))
        if self.select_bias is not None:  # after the router, as exprun_record_params writes it
            out[prefix + "/router/select_bias"] = self.select_bias
        # auto-encoder experts: a shared encoder (and decoder) under the layer, else each under
        # its expert (results/SCHEMA.md; the order exprun_record_params writes them in)
        if self.enc_dim and self.enc_shared:
            out.update(self.encoders[0].tensors(prefix + "/enc"))
            if self.decoders is not None:
                out.update(self.decoders[0].tensors(prefix + "/dec"))
        for e, f in enumerate(self.experts):
            out.update(f.tensors("%s/expert%d" % (prefix, e)))
            if self.enc_dim and not self.enc_shared:
                out.update(self.encoders[e].tensors("%s/expert%d/enc" % (prefix, e)))
                if self.decoders is not None:
                    out.update(self.decoders[e].tensors("%s/expert%d/dec" % (prefix, e)))
        if self.shared is not None:
            out.update(self.shared.tensors(prefix + "/shared"))
        return out


class DenseLayer(nn.Module):
    def __init__(self, lay):
        super().__init__()
        self.spec = dict(lay)
        self.net = MLP(lay["d_in"], lay["d_out"], lay["l"], lay["m"])

    def forward(self, x):
        return self.net(x)

    def tensors(self, prefix):
        return self.net.tensors(prefix + "/dense")


class MoexModel(nn.Module):
    """A moex model (src/model/moe.h): a stack of MoE and dense layers, no residuals.
    select_bias=True: every MoE layer carries an adam:auxfree selection bias (zeros until set)."""

    def __init__(self, spec, select_bias=False):
        super().__init__()
        self.layer_specs = parse_spec(spec) if isinstance(spec, str) else [dict(l) for l in spec]
        self.spec = format_spec(self.layer_specs)
        self.layers = nn.ModuleList(MoELayer(l, select_bias) if l["kind"] == "moe" else DenseLayer(l)
                                    for l in self.layer_specs)

    @property
    def has_select_bias(self):
        return any(isinstance(l, MoELayer) and l.select_bias is not None for l in self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def tensors(self):
        """Every parameter by its moex path (params/layer{l}/...)."""
        out = {}
        for l, layer in enumerate(self.layers):
            out.update(layer.tensors("params/layer%d" % l))
        return out

    def paths(self, x):
        """Routing path of each row of x (moe_model_paths: top-1 experts in mixed radix, first
        MoE layer least significant)."""
        with torch.no_grad():
            self.forward(x)
        p = torch.zeros(x.shape[0], dtype=torch.int64)
        radix = 1
        for layer in self.layers:
            if isinstance(layer, MoELayer):
                p = p + layer.last_choice[:, 0] * radix
                radix *= layer.E
        return p


def build(spec, select_bias=False):
    """A fresh module of a model spec (text or list of layer dicts), PyTorch's default init;
    select_bias=True adds a zero selection bias to every MoE layer (as adam:auxfree starts it)."""
    return MoexModel(spec, select_bias)


# ---- reading records ---------------------------------------------------------------------------

def _expected_shapes(layers, select_bias=False):
    return {k: tuple(v.shape) for k, v in MoexModel(layers, select_bias).tensors().items()}


def _has_select_bias(paths):
    """Whether tensors hold an adam:auxfree selection bias: as modelio.c decides, any path under
    params/ ending in /router/select_bias (then every MoE layer must have one)."""
    return any(p.startswith("params/") and p.endswith("/router/select_bias") for p in paths)


def _check_tensors(spec_text, tensors, where):
    """Raises ValueError naming the first tensor that is missing, of another shape, or extra."""
    want = _expected_shapes(parse_spec(spec_text), _has_select_bias(tensors))
    for path, shape in want.items():
        if path not in tensors:
            raise ValueError("%s: tensor %s is missing" % (where, path))
        got = tuple(np.shape(tensors[path]))
        if got != shape:
            raise ValueError("%s: tensor %s has shape %s, the model spec needs %s" % (where, path, got, shape))
    for path in tensors:
        if path not in want:
            raise ValueError("%s: tensor %s is not part of the model spec '%s'" % (where, path, spec_text))


def _run_ids(f):
    return list(f["runs"].keys())


def load_run(path, run_id=None):
    """The model of run `run_id` of a moex records file (default: its only run) as a float64
    torch.nn.Module that reproduces the run's stored predictions (eval/y_pred)."""
    with h5py.File(path, "r") as f:
        ids = _run_ids(f)
        if run_id is None:
            if len(ids) != 1:
                raise ValueError("%s holds %d runs: give run_id" % (path, len(ids)))
            run_id = ids[0]
        if run_id not in ids:
            raise KeyError("%s: no run '%s'" % (path, run_id))
        run = f["runs"][run_id]
        if "model_spec" not in run.attrs:
            raise ValueError("%s run %s: no model_spec attribute (written by moex since issue 22)" % (path, run_id))
        spec = run.attrs["model_spec"]
        tensors = {}
        if "params" in run:
            run["params"].visititems(lambda name, obj: tensors.__setitem__("params/" + name, obj[()])
                                     if isinstance(obj, h5py.Dataset) else None)
    _check_tensors(spec, tensors, "%s run %s" % (path, run_id))
    net = MoexModel(spec, _has_select_bias(tensors))
    with torch.no_grad():
        for p, t in net.tensors().items():
            t.copy_(torch.from_numpy(np.asarray(tensors[p], dtype=np.float64)))
    net.run_id = run_id
    return net


def load_eval(path, run_id):
    """The run's stored evaluation subset: eval/x, eval/y_pred and eval/path (or None)."""
    with h5py.File(path, "r") as f:
        r = f["runs"][run_id]
        path_arr = r["eval/path"][()] if "eval/path" in r else None
        return r["eval/x"][()], r["eval/y_pred"][()], path_arr


# ---- writing records ---------------------------------------------------------------------------

def _vlen(strings):
    return np.array(list(strings), dtype=h5py.string_dtype("utf-8"))


def save_model(module, path, spec=None, run_id=None, attrs=None, experiment="pytorch"):
    """Writes a PyTorch MoE of moex's family as a moex records file (one run; results/SCHEMA.md):
    the model spec as `model_spec` and every tensor by its moex path, ready for moex-eval.

    module: a MoexModel (spec defaults to its own), or any module together with `spec` whose
    state_dict() keys are the moex paths with '/' written as '.' (params.layer0.router.W ...), or
    a dict {moex path: tensor}. Shapes are checked against the spec before anything is written.
    An adam:auxfree selection bias (params/layer{l}/router/select_bias, in every MoE layer or in
    none) is written with the rest; moex-eval selects with it (the spec text does not say so).
    attrs: extra run attributes (str, int or float). Returns the run id."""
    if isinstance(module, MoexModel):
        tensors = module.tensors()
        spec = spec if spec is not None else module.spec
    elif isinstance(module, dict):
        tensors = dict(module)
    else:
        tensors = {k.replace(".", "/"): v for k, v in module.state_dict().items()}
    if spec is None:
        raise ValueError("save_model: a spec is needed for a module that is not a MoexModel")
    spec = spec if isinstance(spec, str) else format_spec(spec)
    spec = format_spec(parse_spec(spec))
    arrays = {p: np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t, dtype=np.float64)
              for p, t in tensors.items()}
    _check_tensors(spec, arrays, "save_model")
    for p, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError("save_model: tensor %s has a non-finite value" % p)
    if run_id is None:
        h = hashlib.sha256(spec.encode())
        for p in sorted(arrays):
            h.update(p.encode())
            h.update(arrays[p].tobytes())
        run_id = h.hexdigest()[:16]
    run_attrs = {"model_spec": spec, "origin": "pytorch " + torch.__version__, "status": "ok"}
    run_attrs.update(attrs or {})
    tmp = path + ".tmp"
    with h5py.File(tmp, "w", track_order=True) as f:
        f.attrs["moex_version"] = "moex_torch.py"
        f.attrs["schema_version"] = np.int64(SCHEMA_VERSION)
        f.attrs["created_utc"] = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        f.attrs["host"] = socket.gethostname()
        f.attrs["command_line"] = " ".join(sys.argv)
        f.attrs["experiment"] = experiment
        f.attrs["grid"] = ""
        runs = f.create_group("runs", track_order=True)
        run = runs.create_group(run_id, track_order=True)
        cols = []
        for k, v in run_attrs.items():
            if isinstance(v, str):
                run.attrs[k] = v
            elif isinstance(v, (bool, int, np.integer)):
                run.attrs[k] = np.int64(v)
            else:
                run.attrs[k] = np.float64(v)
            cols.append(k)
        run.attrs.create("summary_columns", _vlen(cols))
        for p, a in arrays.items():
            run.create_dataset(p, data=a, track_order=True)
        s = f.create_group("summary", track_order=True)
        s.create_dataset("run_id", data=_vlen([run_id]), maxshape=(None,), chunks=(64,))
        for k in cols:
            v = run.attrs[k]
            if isinstance(v, str):
                s.create_dataset(k, data=_vlen([v]), maxshape=(None,), chunks=(64,))
            else:
                s.create_dataset(k, data=np.array([v]), maxshape=(None,), chunks=(64,))
    os.replace(tmp, path)
    return run_id


# ---- the checks of tests/test_torch.c --------------------------------------------------------

def _max_diff(net, x, y):
    with torch.no_grad():
        out = net(torch.from_numpy(x)).numpy()
    return float(np.max(np.abs(out - y)))


def _choices(net, x):
    """(n, sum of K over MoE layers): every row's selected experts, layer by layer."""
    with torch.no_grad():
        net(x)
    return torch.cat([l.last_choice for l in net.layers if isinstance(l, MoELayer)], dim=1)


def _bias_changes(net, x):
    """How many rows of x select other experts (in some layer, at some k) when the module's
    selection bias is set to zero: what the bias decides on these rows (None without a bias)."""
    if not net.has_select_bias:
        return None
    x = torch.from_numpy(x) if not torch.is_tensor(x) else x
    with_b = _choices(net, x)
    saved = [l.select_bias.clone() for l in net.layers if isinstance(l, MoELayer)]
    try:
        with torch.no_grad():
            for l in net.layers:
                if isinstance(l, MoELayer):
                    l.select_bias.zero_()
        without = _choices(net, x)
    finally:
        with torch.no_grad():
            for l, b in zip([l for l in net.layers if isinstance(l, MoELayer)], saved):
                l.select_bias.copy_(b)
    return int((with_b != without).any(dim=1).sum())


def _bias_note(changed, n):
    return "" if changed is None else " select_bias changes %d of %d routes" % (changed, n)


def _kind(spec):
    """A short name of a spec's model kind, for the tables."""
    parts = []
    for l in parse_spec(spec):
        if l["kind"] == "dense":
            parts.append("dense")
        else:
            ae = ""
            if has_autoenc(l):
                ae = ",enc%d%s%s%s" % (l["enc"], "x%d" % l["enc_width"] if l["enc_layers"] >= 2 else "",
                                       "-sh" if l["enc_shared"] else "-pe", "+dec" if l["decoder"] else "")
            parts.append("moe(E%d,K%d,%s,%s%s%s)" % (l["E"], l["K"], l["router"], l["surrogate"],
                                                     ",shared" if l["shared"] else "", ae))
    return "+".join(parts)


def _kind_of(net):
    return _kind(net.spec) + (" +select_bias" if net.has_select_bias else "")


def _verify_file(path, tol, label):
    """Every run of path with a model_spec: the module's predictions against eval/y_pred, and its
    routing paths against eval/path. Returns (runs within tol, runs)."""
    with h5py.File(path, "r") as f:
        ids = [i for i in _run_ids(f) if "model_spec" in f["runs"][i].attrs and "eval/x" in f["runs"][i]]
    good = 0
    for rid in ids:
        net = load_run(path, rid)
        x, y, p = load_eval(path, rid)
        d = _max_diff(net, x, y)
        paths_ok = p is None or bool(np.array_equal(net.paths(torch.from_numpy(x)).numpy(), p))
        with h5py.File(path, "r") as f:
            stored = f["runs"][rid].attrs["model_spec"]
        spec_ok = net.spec == stored  # the text moex wrote round-trips exactly
        if not spec_ok:
            print("%s %s: model_spec '%s' is formatted back as '%s'" % (label, rid, stored, net.spec))
        ok = d <= tol and paths_ok and spec_ok
        good += ok
        used = len(np.unique(p)) if p is not None else 1
        print("%s %s %-4s %-60s max|diff| %.3g paths %s (%d used)%s"
              % (label, rid, "ok" if ok else "FAIL", _kind_of(net), d, "same" if paths_ok else "DIFFER", used,
                 _bias_note(_bias_changes(net, x), len(x))))
    print("%s: %d of %d runs within %g" % (label, good, len(ids), tol))
    return good, len(ids)


def cmd_verify(args):
    """FILE's runs must all match; with --perturbed EPS OUT, a copy whose output biases moved by
    EPS must match on none (the check shown failing on a broken input). Exit 0 when both hold."""
    good, n = _verify_file(args.file, args.tol, "verify")
    ok = n > 0 and good == n
    if args.perturbed:
        eps, out = float(args.perturbed[0]), args.perturbed[1]
        _perturb(args.file, out, eps, args.perturb_what)
        pgood, pn = _verify_file(out, args.tol, "verify perturbed by %g" % eps)
        ok = ok and pgood == 0 and pn == n
    return 0 if ok else 1


def _perturb(inp, out, eps, what="out"):
    """A copy of inp with the output biases of every run's last layer moved by eps (a broken
    input the 1e-12 checks must catch); what="enc": instead the first bias of every encoder of
    every auto-encoder layer (a run without one is left as it is)."""
    import shutil
    shutil.copyfile(inp, out)
    with h5py.File(out, "r+") as f:
        for rid in _run_ids(f):
            run = f["runs"][rid]
            if "model_spec" not in run.attrs:
                continue
            lays = parse_spec(run.attrs["model_spec"])
            if what == "enc":
                for l, lay in enumerate(lays):
                    if has_autoenc(lay):
                        encs = ["enc"] if lay["enc_shared"] else ["expert%d/enc" % e for e in range(lay["E"])]
                        for n in encs:
                            b = run["params/layer%d/%s/b1" % (l, n)]
                            b[...] = b[()] + eps
                continue
            last = len(lays) - 1
            pre = "params/layer%d/" % last
            names = ["dense"] if lays[-1]["kind"] == "dense" else \
                ["expert%d" % e for e in range(lays[-1]["E"])] + (["shared"] if lays[-1]["shared"] else [])
            for n in names:
                b = run[pre + n + "/b%d" % lays[-1]["l"]]
                b[...] = b[()] + eps


def _spread_routers(net):
    """Linear routers of a fresh module set to split the input directions evenly, so that a model
    measured at initialisation on [0,E]^L (positive inputs) routes to several experts."""
    with torch.no_grad():
        for layer in net.layers:
            if isinstance(layer, MoELayer) and isinstance(layer.router, nn.Linear) and layer.router.weight.shape[1] >= 2:
                W = layer.router.weight
                th = (torch.arange(layer.E, dtype=DTYPE) + 0.5) / layer.E * (np.pi / 2)
                W.mul_(0.1)
                W[:, 0] += 4 * torch.cos(th)
                W[:, 1] += 4 * torch.sin(th)


def cmd_save_check(args):
    """For every model spec of FILE: a fresh module (seeded), saved by save_model, measured by
    moex-eval on the target; moex-eval's eval/y_pred and eval/path must equal the module's. With
    --perturb EPS, the same comparison after moving every tensor of the module by EPS must fail
    for every model. Exit 0 when both hold."""
    with h5py.File(args.file, "r") as f:
        specs = []  # (spec, whether its run holds an adam:auxfree selection bias)
        for rid in _run_ids(f):
            run = f["runs"][rid]
            s = run.attrs.get("model_spec")
            if s is None:
                continue
            names = []
            if "params" in run:
                run["params"].visit(lambda n: names.append("params/" + n))
            key = (s, _has_select_bias(names))
            if key not in specs:
                specs.append(key)
    os.makedirs(args.dir, exist_ok=True)
    results = {0.0: 0, args.perturb: 0}
    # each spec as a fresh module, and, where the first layer has a linear router, a variant whose
    # router rows are all equal: every score ties, so both sides must pick the lowest indices
    cases = []
    for k, (spec, bias) in enumerate(specs):
        cases.append((k, spec, bias, False))
        lay0 = parse_spec(spec)[0]
        if lay0["kind"] == "moe" and lay0["router"] == "linear":
            cases.append((k, spec, bias, True))
    for c, (k, spec, bias, tied) in enumerate(cases):
        torch.manual_seed(1000 + k)
        net = build(spec, select_bias=bias)
        _spread_routers(net)
        if tied:
            with torch.no_grad():
                W = net.layers[0].router.weight
                W.copy_(W[:1].expand_as(W))
        if bias:
            # a selection bias that moves routes: seeded normal values, or, on tied scores, steps
            # of 0.5 shared by pairs of experts (0, .5, .5, 1, 1, ...), so that some sums still tie
            with torch.no_grad():
                for l in net.layers:
                    if isinstance(l, MoELayer):
                        if tied:
                            l.select_bias.copy_(0.5 * torch.div(torch.arange(l.E) + 1, 2, rounding_mode="floor"))
                        else:
                            l.select_bias.copy_(torch.randn(l.E, dtype=DTYPE))
        mpath = os.path.join(args.dir, "model%d.h5" % c)
        epath = os.path.join(args.dir, "eval%d.h5" % c)
        save_model(net, mpath)
        r = subprocess.run([args.moex_eval, mpath, "--target", args.target, "--out", epath, "--grid", "32"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print("save-check: moex-eval failed on %s: %s" % (_kind(spec), r.stderr.strip()))
            continue
        with h5py.File(epath, "r") as f:
            rid = _run_ids(f)[0]
        x, y, p = load_eval(epath, rid)
        changed = _bias_changes(net, x)
        # every tensor (decoders too, which no prediction shows) as moex-eval read and wrote it
        # back, and as load_run rebuilds it from the saved file: bit for bit the module's
        mine = {k: v.detach().numpy() for k, v in net.tensors().items()}
        back = load_run(epath, rid).tensors()
        again = load_run(mpath).tensors()
        same = set(back) == set(mine) == set(again) and all(
            np.array_equal(back[k].detach().numpy(), mine[k]) and np.array_equal(again[k].detach().numpy(), mine[k])
            for k in mine)
        if not same:
            print("save-check: %s: the tensors moex-eval wrote back or load_run read are not the module's"
                  % _kind_of(net))
        if changed == 0:
            print("save-check: %s: its selection bias changes no route: the check cannot tell" % _kind_of(net))
            same = False
        for eps in ([0.0, args.perturb] if args.perturb else [0.0]):
            if eps:
                with torch.no_grad():
                    for t in net.tensors().values():
                        t.add_(eps)
            d = _max_diff(net, x, y)
            paths_ok = p is None or bool(np.array_equal(net.paths(torch.from_numpy(x)).numpy(), p))
            ok = d <= args.tol and paths_ok and same
            results[eps] += ok
            used = len(np.unique(p)) if p is not None else 1
            label = "save-check" if not eps else "save-check perturbed by %g" % eps
            print("%s %-4s %-60s max|diff| %.3g paths %s (%d used)%s"
                  % (label, "ok" if ok else "FAIL", _kind_of(net) + (" tied" if tied else ""), d,
                     "same" if paths_ok else "DIFFER", used, _bias_note(changed, len(x)) if not eps else ""))
    print("save-check: %d of %d models within %g" % (results[0.0], len(cases), args.tol))
    ok = cases and results[0.0] == len(cases)
    if args.perturb:
        print("save-check perturbed by %g: %d of %d models within %g" % (args.perturb, results[args.perturb], len(cases), args.tol))
        ok = ok and results[args.perturb] == 0
    return 0 if ok else 1


def cmd_spec(args):
    """Each TEXT parsed and formatted back, one line each (the cross-check of spectext.c's own
    round trip); a text parse_spec refuses prints 'error: <why>' and makes the exit status 2."""
    st = 0
    for text in args.text:
        try:
            print(format_spec(parse_spec(text)))
        except ValueError as e:
            print("error: %s" % e)
            st = 2
    return st


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="moex_torch.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("file")
    v.add_argument("--tol", type=float, default=1e-12)
    v.add_argument("--perturbed", nargs=2, metavar=("EPS", "OUT"))
    v.add_argument("--perturb-what", choices=("out", "enc"), default="out",
                   help="what --perturbed moves: the last layer's output biases, or the encoders' first biases")
    s = sub.add_parser("save-check")
    s.add_argument("file")
    s.add_argument("--moex-eval", required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--tol", type=float, default=1e-12)
    s.add_argument("--perturb", type=float, default=0.0)
    t = sub.add_parser("spec")
    t.add_argument("text", nargs="+")
    a = ap.parse_args(argv)
    return {"verify": cmd_verify, "save-check": cmd_save_check, "spec": cmd_spec}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
