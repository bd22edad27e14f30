"""Bit-exact checks of `xdeeploy.interp.integer_reference` against Deeploy's golden data.

A tiny evaluator walks each peer ONNX graph with the integer reference functions
(attributes and initializers read with `onnx`) and compares:

* whole single-op cases: the graph outputs against `outputs.npz`;
* cases with `activations.npz`: every golden intermediate tensor must be reproduced
  by some node we compute (matched by value). Ops that are not part A (iSoftmax,
  ITAMax, iLayerNorm, iRMSNorm) are not evaluated: where their output, or the
  output of a node downstream of them, is itself a golden activation, that
  activation is injected ("seeded") and the walk goes on from there.

Inputs are bound as Deeploy's harness does: npz arrays in file order, positionally,
to the graph inputs that are not initializers (extra npz arrays are ignored).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from conftest import peer_case
from onnx import numpy_helper

from xdeeploy.interp import integer_reference as ir

Arr = npt.NDArray[Any]

# ---------------------------------------------------------------------------
# Loading


def _to_int(a: Arr) -> Arr:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        assert np.all(a == np.round(a)), "non-integral integer data"
    return a.astype(np.int64)


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        out[a.name] = v
    return out


class Case:
    def __init__(self, folder: Path) -> None:
        if not (folder / "network.onnx").is_file():
            pytest.skip(f"peer case {folder} not found")
        self.model = onnx.load(str(folder / "network.onnx"))
        g = self.model.graph
        self.inits = {i.name: _to_int(numpy_helper.to_array(i)) for i in g.initializer}
        real_inputs = [i.name for i in g.input if i.name not in self.inits]
        ins = np.load(folder / "inputs.npz")
        outs = np.load(folder / "outputs.npz")
        arrays = [ins[k] for k in ins.files if ins[k].size]
        self.feeds = {
            name: _to_int(arr).reshape(_shape(g, name, arr.shape))
            for name, arr in zip(real_inputs, arrays, strict=False)
        }
        self.raw_inputs = dict(zip(real_inputs, arrays, strict=False))
        self.expected = {
            o.name: _to_int(outs[k]) for o, k in zip(g.output, outs.files, strict=False)
        }
        act = folder / "activations.npz"
        self.activations: dict[str, Arr] = {}
        if act.is_file():
            a = np.load(act)
            self.activations = {k: _to_int(a[k]) for k in a.files}


def _shape(g: onnx.GraphProto, name: str, fallback: tuple[int, ...]) -> tuple[int, ...]:
    for vi in g.input:
        if vi.name == name:
            dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
            if dims and all(d > 0 for d in dims):
                return tuple(dims)
    return fallback


# ---------------------------------------------------------------------------
# The evaluator


def _eval_node(node: onnx.NodeProto, args: list[Arr]) -> list[Arr] | None:
    """Outputs of `node` with the part-A functions, or None if the op is not ours."""
    at = _attrs(node)
    op = node.op_type
    x = args[0] if args else np.zeros(0, np.int64)
    if op == "Constant":
        return [_to_int(at["value"])]
    if op == "RequantShift":
        n_levels = at["n_levels"] if "n_levels" in at else at["n_levels_out"]
        return [
            ir.requant_shift(
                x,
                args[1],
                args[2],
                div=ir.attr_int(at["div"]),
                n_levels=ir.attr_int(n_levels),
                signed=bool(ir.attr_int(at["signed"])),
            )
        ]
    if op == "Add":
        return [ir.add(x, args[1])]
    if op == "Sub":
        return [ir.sub(x, args[1])]
    if op == "Mul":
        return [ir.mul(x, args[1])]
    if op == "MatMul":
        return [ir.matmul(x, args[1])]
    if op == "Gemm":
        return [
            ir.gemm(
                x,
                args[1],
                args[2] if len(args) > 2 else None,
                alpha=int(at.get("alpha", 1.0)),
                beta=int(at.get("beta", 1.0)),
                trans_a=bool(at.get("transA", 0)),
                trans_b=bool(at.get("transB", 0)),
            )
        ]
    if op == "Conv":
        nsp = x.ndim - 2
        return [
            ir.conv(
                x,
                args[1],
                args[2] if len(args) > 2 else None,
                strides=at.get("strides", [1] * nsp),
                pads=at.get("pads", [0] * 2 * nsp),
                dilations=at.get("dilations", [1] * nsp),
                group=at.get("group", 1),
            )
        ]
    if op == "MaxPool":
        nsp = x.ndim - 2
        assert at.get("ceil_mode", 0) == 0
        return [
            ir.max_pool(
                x,
                kernel_shape=at["kernel_shape"],
                strides=at.get("strides", [1] * nsp),
                pads=at.get("pads", [0] * 2 * nsp),
            )
        ]
    if op == "Gather":
        return [ir.gather(x, args[1], axis=at.get("axis", 0))]
    if op == "Concat":
        return [ir.concat(args, axis=at["axis"])]
    if op == "Transpose":
        return [ir.transpose(x, perm=at.get("perm"))]
    if op == "Reshape":
        return [ir.reshape(x, shape=[int(v) for v in args[1]])]
    if op == "IntegerMean":
        return [ir.integer_mean(x, axes=at["axes"], keepdims=bool(at.get("keepdims", 1)))]
    if op == "TrueIntegerDiv":
        kw = {k: ir.attr_int(at[k]) for k in ("Delta", "eps", "eta", "y")}
        return [ir.true_integer_div(x, **kw)]
    if op == "IntegerDiv":
        kw = {k: ir.attr_int(at[k]) for k in ("Delta", "eps", "eta")}
        return [ir.integer_div(x, args[1], **kw)]
    if op == "iHardswish":
        kw = {k: ir.attr_int(at[k]) for k in ("one_over_six", "six", "three")}
        return [ir.ihardswish(x, **kw)]
    if op == "iGELU":
        return [ir.igelu(x, b=ir.attr_int(at["b"]), one=ir.attr_int(at["one"]))]
    return None


_FOREIGN = {"iSoftmax", "ITAMax", "ITAPartialMax", "iLayerNorm", "iRMSNorm"}


def _key_for(node: onnx.NodeProto, keys: list[str]) -> str | None:
    """The activation named after `node` (quantlib module path ↔ ONNX node name)."""
    name = node.name.lstrip("_").lower().replace(".", "_")
    suffix = "_" + node.op_type.lower()
    if name.endswith(suffix):
        name = name[: -len(suffix)]
    if not name:
        return None
    hits = [k for k in keys if k == name or k.endswith("_" + name)]
    return hits[0] if len(hits) == 1 else None


class Trace:
    """Values of one walk over a graph."""

    def __init__(self) -> None:
        self.values: dict[str, Arr] = {}
        self.computed: dict[str, str] = {}  # value name -> op type that computed it
        self.seeded: set[str] = set()  # activation keys injected
        self.skipped: list[str] = []  # nodes neither computed nor seeded


def evaluate(
    case: Case, seeds: dict[str, str] | None = None, *, use_activations: bool = True
) -> Trace:
    """Walk the graph in order. `seeds` maps value names to activation keys to
    inject where a value cannot be computed (besides the name-matched ones)."""
    t = Trace()
    t.values.update(case.inits)
    t.values.update(case.feeds)
    keys = list(case.activations) if use_activations else []
    for node in case.model.graph.node:
        ready = all(i in t.values for i in node.input if i)
        outs = None
        if ready and node.op_type not in _FOREIGN:
            outs = _eval_node(node, [t.values[i] for i in node.input if i])
        if outs is not None:
            for name, v in zip(node.output, outs, strict=True):
                t.values[name] = v
                t.computed[name] = node.op_type
            continue
        # Not computable: seed from the golden activations.
        key = (seeds or {}).get(node.output[0]) or _key_for(node, keys)
        if key is not None and len(node.output) == 1:
            t.values[node.output[0]] = case.activations[key]
            t.seeded.add(key)
        else:
            t.skipped.append(f"{node.op_type} {node.name}")
    return t


def _digest(a: Arr) -> str:
    return hashlib.sha1(np.ascontiguousarray(a, dtype=np.int64).tobytes()).hexdigest()


def check_activations(case: Case, t: Trace) -> tuple[int, list[str]]:
    """Every golden activation that was not seeded must equal some computed value.
    Returns (number matched, op types of the computing nodes)."""
    by_digest: dict[tuple[int, str], str] = {}
    for name, op in t.computed.items():
        v = t.values[name]
        by_digest.setdefault((v.size, _digest(v)), op)
    missing, ops = [], []
    for key, val in case.activations.items():
        if key in t.seeded:
            continue
        op = by_digest.get((val.size, _digest(val)))
        if op is None:
            missing.append(key)
        else:
            ops.append(op)
    assert not missing, f"golden activations not reproduced: {missing}"
    return len(ops), ops


def check_outputs(case: Case, t: Trace, *, require_all: bool = True) -> int:
    n = 0
    for name, exp in case.expected.items():
        got = t.values.get(name)
        if got is None:
            assert not require_all, f"output {name} not computed; skipped {t.skipped}"
            continue
        assert got.shape == exp.reshape(got.shape).shape
        diff = np.flatnonzero(got.ravel() != exp.ravel())
        assert diff.size == 0, (
            f"{name}: {diff.size} mismatches, first at {diff[0]}: "
            f"got {got.ravel()[diff[0]]}, expected {exp.ravel()[diff[0]]}"
        )
        n += 1
    return n


# ---------------------------------------------------------------------------
# Type propagation: Deeploy's output-type rules must hold every computed value

_TYPE_RULES: dict[str, Callable[[onnx.NodeProto, list[np.dtype[Any]]], np.dtype[Any]]] = {
    "RequantShift": lambda n, ts: ir.requant_shift_type(
        signed=bool(ir.attr_int(_attrs(n)["signed"])),
        n_levels=ir.attr_int(_attrs(n).get("n_levels", _attrs(n).get("n_levels_out"))),
    ),
    "Add": lambda n, ts: ir.add_type(*ts[:2]),
    "Sub": lambda n, ts: ir.sub_type(*ts[:2]),
    "Mul": lambda n, ts: ir.mul_type(*ts[:2]),
    "MatMul": lambda n, ts: ir.matmul_type(*ts[:2]),
    "Gemm": lambda n, ts: ir.gemm_type(*ts[:2]),
    "Conv": lambda n, ts: ir.conv_type(*ts[:2]),
    "MaxPool": lambda n, ts: ir.max_pool_type(ts[0]),
    "Gather": lambda n, ts: ir.gather_type(ts[0]),
    "Concat": lambda n, ts: ir.concat_type(*ts),
    "Transpose": lambda n, ts: ir.transpose_type(ts[0]),
    "Reshape": lambda n, ts: ir.reshape_type(ts[0]),
    "IntegerMean": lambda n, ts: ir.integer_mean_type(ts[0]),
    "TrueIntegerDiv": lambda n, ts: ir.true_integer_div_type(),
    "iHardswish": lambda n, ts: ir.ihardswish_type(ts[0]),
    "iGELU": lambda n, ts: ir.igelu_type(ts[0]),
}


def check_types(case: Case, t: Trace) -> None:
    """Infer input types like Deeploy's harness, propagate the output-type rules over
    the computed nodes, and check each computed value fits its type."""
    types: dict[str, np.dtype[Any]] = {}
    for name, v in case.inits.items():
        types[name] = ir.infer_input_type(v)
    for name, v in case.feeds.items():
        types[name] = ir.infer_input_type(v)
    for node in case.model.graph.node:
        out = node.output[0]
        if out not in t.computed or node.op_type == "Constant":
            types[out] = np.dtype(np.int8)  # seeded values: 8-bit outputs of foreign ops
            if out in t.values:
                types[out] = ir.infer_input_type(t.values[out])
            continue
        ts = [types[i] for i in node.input if i in types]
        types[out] = _TYPE_RULES[node.op_type](node, ts)
        assert ir.fits(t.values[out], types[out]), (
            f"{node.op_type} {node.name}: values [{t.values[out].min()}, "
            f"{t.values[out].max()}] overflow {types[out]}"
        )


# ---------------------------------------------------------------------------
# Whole single-op graphs

WHOLE = [
    "Kernels/Integer/Add/Regular",
    "Kernels/Integer/Add/Regular_RQ",
    "Kernels/Integer/Concat",
    "Kernels/Integer/Conv/Regular_2D",
    "Kernels/Integer/GEMM/Batch_RQ",
    "Kernels/Integer/GEMM/Regular",
    "Kernels/Integer/Hardswish/Regular",
    "Kernels/Integer/Hardswish/Regular_RQ",
    "Kernels/Integer/MatMul/Batch",
    "Kernels/Integer/MatMul/Regular",
    "Kernels/Integer/MatMul/Regular_RQ",
    "Kernels/Integer/MaxPool/Regular_2D",
    "Kernels/Integer/Sub",
    "Kernels/Integer/TrueIntegerDiv",
]


@pytest.mark.parametrize("rel", WHOLE)
def test_whole_graph(rel: str) -> None:
    case = Case(peer_case(rel))
    t = evaluate(case, use_activations=False)
    assert not t.skipped, t.skipped
    assert check_outputs(case, t) == len(case.expected) >= 1
    check_types(case, t)
    if case.activations:
        check_activations(case, t)


# ---------------------------------------------------------------------------
# Networks with other people's ops: per-node checks against activations.npz

NETWORKS = {
    # RequantShift_43 (after iSoftmax·V) has an unnamed golden activation.
    "Kernels/Integer/Attention": {
        "onnx::Transpose_65": "_ql_replaced__integerize_signed_act_pass_4"
    },
    "Models/CCT/Int/ICCT": {},
    "Models/microLlama/INT8/microLlama1": {},
}

# Ops of ours each network must compute (on the way to golden activations/outputs).
NETWORK_OPS = {
    "Kernels/Integer/Attention": {"RequantShift", "Add", "MatMul", "Transpose", "Reshape"},
    "Models/CCT/Int/ICCT": {"RequantShift", "Add", "MatMul", "Conv", "MaxPool", "iGELU"},
    "Models/microLlama/INT8/microLlama1": {
        "RequantShift",
        "Add",
        "MatMul",
        "Concat",
        "TrueIntegerDiv",
        "iHardswish",
    },
}


@pytest.mark.parametrize("rel", list(NETWORKS))
def test_network_nodes(rel: str) -> None:
    case = Case(peer_case(rel))
    t = evaluate(case, NETWORKS[rel])
    n, _ = check_activations(case, t)
    assert n > 0
    missing_ops = NETWORK_OPS[rel] - set(t.computed.values())
    assert not missing_ops, f"not exercised: {missing_ops}"
    check_outputs(case, t)
    check_types(case, t)


def test_icct_chain_gather_mean_gemm() -> None:
    """Gather, IntegerMean and Gemm have no golden activation of their own in ICCT:
    the chain from seeded values to the checked activations and output covers them."""
    case = Case(peer_case("Models/CCT/Int/ICCT"))
    t = evaluate(case, NETWORKS["Models/CCT/Int/ICCT"])
    ops = set(t.computed.values())
    assert {"Gather", "IntegerMean", "Gemm", "Reshape", "Transpose"} <= ops
    key = "classifier__ql_replaced__integerize_pact_lin_pass_6"  # the Gemm output
    gemm_out = next(n for n, op in t.computed.items() if op == "Gemm")
    np.testing.assert_array_equal(t.values[gemm_out], case.activations[key])
    assert check_outputs(case, t) == 1


# ---------------------------------------------------------------------------
# Input type inference as in Deeploy's harness


def test_input_types_of_peer_cases() -> None:
    expect = {
        "Kernels/Integer/Add/Regular": ["int8", "int8"],
        "Kernels/Integer/Concat": ["int16", "int16"],
        "Kernels/Integer/TrueIntegerDiv": ["int16"],
        "Models/CCT/Int/ICCT": ["int8"],
        "Kernels/Integer/Sub": ["int8", "int8"],
    }
    for rel, dts in expect.items():
        case = Case(peer_case(rel))
        got = [str(ir.infer_input_type(v)) for v in case.raw_inputs.values()]
        assert got == dts, rel


# ---------------------------------------------------------------------------
# Unit checks of the formulas (no peer data)


def test_requant_shift_rounding_and_clipping() -> None:
    x = np.array([-3, -2, -1, 0, 1, 2, 3, 1000, -1000])
    # div 4: (x + 2) >> 2, round half up
    got = ir.requant_shift(x, 1, 0, div=4, n_levels=256, signed=True)
    np.testing.assert_array_equal(got, [-1, 0, 0, 0, 0, 1, 1, 127, -128])
    got = ir.requant_shift(x, 1, 0, div=4, n_levels=256, signed=False)
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 0, 1, 1, 250, 0])
    # div 1: no rounding term; n_levels 16 signed: [-8, 7]
    got = ir.requant_shift(x, 3, 1, div=1, n_levels=16, signed=True)
    np.testing.assert_array_equal(got, [-8, -5, -2, 1, 4, 7, 7, 7, -8])
    # per-channel mul/add broadcast along axis 1
    xc = np.ones((1, 2, 3), dtype=np.int8)
    got = ir.requant_shift(
        xc, np.array([[2], [4]]), np.array([[0], [8]]), div=2, n_levels=256, signed=True
    )
    np.testing.assert_array_equal(got, [[[1, 1, 1], [6, 6, 6]]])
    with pytest.raises(ValueError):
        ir.requant_shift(x, 1, 0, div=3, n_levels=256, signed=True)


def test_type_rules() -> None:
    assert ir.requant_shift_type(signed=True, n_levels=256) == np.int8
    assert ir.requant_shift_type(signed=False, n_levels=256) == np.uint8
    assert ir.requant_shift_type(signed=True, n_levels=65536) == np.int16
    assert ir.requant_shift_type(signed=True, n_levels=16) == np.int8
    assert ir.add_type(np.int8, np.int8) == np.int32
    assert ir.matmul_type(np.int8, np.int8) == np.int32
    assert ir.ihardswish_type(np.int8) == np.int32
    assert ir.igelu_type(np.int8) == np.int32
    assert ir.max_pool_type(np.int8) == np.int8
    assert ir.integer_mean_type(np.int8) == np.int8
    # unsigned first at each width
    assert ir.infer_input_type(np.array([0, 127])) == np.uint8
    assert ir.infer_input_type(np.array([-1, 127])) == np.int8
    assert ir.infer_input_type(np.array([0, 255])) == np.uint8
    assert ir.infer_input_type(np.array([-1, 128])) == np.int16
    assert ir.infer_input_type(np.array([0.0, 3.0])) == np.uint8
    assert ir.infer_input_type(np.zeros(3, np.float32)) == np.float32
    assert ir.infer_input_type(np.zeros(3, np.int64)) == np.uint8
    assert ir.infer_input_type(np.array([0.5, 3.0])) == np.float32
    assert ir.signprop_storage(np.uint8) == (np.int8, 128)
    assert ir.signprop_storage(np.int16) == (np.int16, 0)
    assert ir.attr_int(np.array([256.0], dtype=np.float32)) == 256
    assert ir.attr_int(7) == 7
    with pytest.raises(ValueError):
        ir.concat_type(np.int8, np.int16)


def test_integer_mean_rounding() -> None:
    x = np.array([[1, 2, 2, 2], [-1, -2, -2, -2], [-1, -1, 0, 0]])
    # power-of-two length: (s + 2) >> 2 -> 7/4 -> 2, -7/4 -> -2, -2/4 -> 0 (half up)
    np.testing.assert_array_equal(ir.integer_mean(x, axes=[1], keepdims=False), [2, -2, 0])
    y = np.array([[1, 1, 1], [-1, -1, 0], [2, 2, 1]])
    # length 3: trunc((s ± 1) / 3), half away from zero
    np.testing.assert_array_equal(ir.integer_mean(y, axes=[-1], keepdims=False), [1, -1, 2])


def test_integer_div_rounding() -> None:
    a = np.array([5, -5, 7, -7, 0])
    b = np.array([2, 2, 2, 2, 3])
    # Delta 1, eta 1, eps 0: a / b rounded half away from zero
    got = ir.integer_div(a, b, Delta=1, eps=0, eta=1)
    np.testing.assert_array_equal(got, [3, -3, 4, -4, 0])
    got = ir.integer_div(a, b, Delta=4, eps=1, eta=2)  # 8a / (2b + 1)
    np.testing.assert_array_equal(got, [8, -8, 11, -11, 0])


def test_true_integer_div_and_activations() -> None:
    assert ir.true_integer_div_coeff(Delta=16384, eps=1, eta=200000, y=2) == 8191
    np.testing.assert_array_equal(
        ir.true_integer_div(np.array([-12, 3]), Delta=16384, eps=1, eta=200000, y=2),
        [-98292, 24573],
    )
    x = np.arange(-128, 128)
    h = ir.ihardswish(x, one_over_six=33, six=1530, three=765)
    assert h[128] == 0 and h[-1] == 127 * 892 * 33 and h[0] == -128 * 637 * 33
    assert ir.ihardswish(np.array([-766]), one_over_six=33, six=1530, three=765)[0] == 0
    g = ir.igelu(x, b=-40, one=1743)
    assert g[128] == 0 and g[-1] == 127 * 1743 and g[0] == 0
    fused = ir.requantized_igelu(x, b=-40, one=1743, mul=13, add=0, div=16384)
    np.testing.assert_array_equal(
        fused, ir.requant_shift(g, 13, 0, div=16384, n_levels=256, signed=True)
    )


def test_golden_data_use_the_unrounded_requant_add() -> None:
    """Deeploy's harness rounds RequantShift's add to a multiple of mul
    (EmulateCMSISRequantPass); the golden ICCT activations are computed without
    that rounding (with it, two of them differ in one element each)."""
    case = Case(peer_case("Models/CCT/Int/ICCT"))
    for node in case.model.graph.node:
        if node.op_type == "RequantShift":
            add, mul = case.inits[node.input[2]], case.inits[node.input[1]]
            if np.any(add != 0):
                case.inits[node.input[2]] = ir.cmsis_emulated_add(add, mul)
    t = evaluate(case)
    with pytest.raises(AssertionError, match="not reproduced"):
        check_activations(case, t)
    assert check_outputs(case, t) == 1  # the classifier output survives
