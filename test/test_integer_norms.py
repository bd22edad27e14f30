"""Deeploy's integer softmax/norm operators (xdeeploy.interp.integer_norms), bit-exact
against Deeploy's peer test data.

Single-op networks go inputs.npz -> our function -> outputs.npz. Inside larger networks
each node of our op types is checked on its own: its input comes from activations.npz
(QuantLib module outputs; a value named ``__QL_REPLACED__<X>_<Op>_output_0`` in the ONNX
graph is the activation whose key ends in ``_ql_replaced__<x>``), its output is compared
with the activation it produces — or, where that was not recorded (the softmax
outputs), with the next recorded activation downstream, recomputed from our output
through the graph's own MatMul/Reshape/Transpose/RequantShift nodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import peer_case
from onnx import numpy_helper

from xdeeploy.interp.integer_norms import (
    i_layer_norm,
    i_layer_norm_output_type,
    i_rms_norm,
    i_rms_norm_output_type,
    i_softmax,
    i_softmax_output_type,
    ita_max,
    ita_max_output_type,
    ita_partial_max,
    ita_partial_max_output_type,
)

Array = np.ndarray[Any, Any]


# --------------------------------------------------------------------------- peer access


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """Node attributes as Python values; 1-element tensors (Deeploy's style) as scalars."""
    out: dict[str, Any] = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            arr = numpy_helper.to_array(v)
            v = arr.item() if arr.size == 1 else arr
        out[a.name] = int(v) if isinstance(v, float) and v.is_integer() else v
    return out


def _requant_shift(x: Array, mul: Array, add: Array, attrs: dict[str, Any]) -> Array:
    """Test-only RequantShift (QuantLib/Deeploy with rounding): clip(floor((x*mul + add +
    div/2) / div)). Used only to carry our softmax outputs to the next recorded activation."""
    div = int(attrs["div"])
    n_levels, signed = int(attrs["n_levels_out"]), bool(attrs["signed"])
    v = (x.astype(np.int64) * mul.astype(np.int64) + add.astype(np.int64) + div // 2) // div
    lo = -(n_levels // 2) if signed else 0
    return np.clip(v, lo, lo + n_levels - 1)


class _Net:
    """A peer network with its recorded tensors, able to recompute simple nodes."""

    def __init__(self, folder: Path, aliases: dict[str, str] | None = None) -> None:
        model = onnx.load(folder / "network.onnx")
        self.nodes = list(model.graph.node)
        self.inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.acts = dict(np.load(folder / "activations.npz"))
        inputs, outputs = np.load(folder / "inputs.npz"), np.load(folder / "outputs.npz")
        # Deeploy binds npz arrays to graph inputs/outputs by position.
        graph_in = [i.name for i in model.graph.input if i.name not in self.inits]
        self.known: dict[str, Array] = {
            name: inputs[key] for name, key in zip(graph_in, inputs.files, strict=False)
        }
        self.known |= {
            o.name: outputs[key] for o, key in zip(model.graph.output, outputs.files, strict=False)
        }
        self.known |= {name: self.acts[key] for name, key in (aliases or {}).items()}

    def of_type(self, op_type: str) -> list[onnx.NodeProto]:
        return [n for n in self.nodes if n.op_type == op_type]

    def recorded(self, name: str) -> Array | None:
        """The recorded value of an ONNX tensor, if the peer data has it."""
        if name in self.known:
            return self.known[name]
        m = re.fullmatch(r"__(QL_REPLACED__.+?)_[A-Za-z]+_output_0", name)
        if m is None:
            return None
        suffix = "_" + m.group(1).lower()
        keys = [k for k in self.acts if k.endswith(suffix)]
        assert len(keys) <= 1, f"{name}: ambiguous activations {keys}"
        return self.acts[keys[0]] if keys else None

    def value(self, name: str, env: dict[str, Array]) -> Array:
        """``env`` first, then recorded data, then recomputed from the producing node."""
        if name in env:
            return env[name]
        if name in self.inits:
            return self.inits[name]
        rec = self.recorded(name)
        return rec if rec is not None else self.compute(name, env)

    def compute(self, name: str, env: dict[str, Array]) -> Array:
        """Recompute ``name`` from its producer (Reshape, Transpose, MatMul, RequantShift)."""
        node = self.producer[name]
        ins = [self.value(i, env) for i in node.input]
        attrs = _attrs(node)
        if node.op_type == "Reshape":
            out = ins[0].reshape(ins[1].astype(np.int64))
        elif node.op_type == "Transpose":
            out = ins[0].transpose(attrs["perm"])
        elif node.op_type == "MatMul":
            out = ins[0].astype(np.int64) @ ins[1].astype(np.int64)
        elif node.op_type == "RequantShift":
            out = _requant_shift(ins[0], ins[1], ins[2], attrs)
        else:
            raise NotImplementedError(f"test cannot recompute {node.op_type} ({name})")
        env[name] = out
        return out

    def consumer(self, name: str) -> onnx.NodeProto:
        (node,) = [n for n in self.nodes if name in n.input]
        return node


@cache
def _net(case: str, aliases: tuple[tuple[str, str], ...] = ()) -> _Net:
    return _Net(peer_case(case), dict(aliases))


def _npz_first(path: Path) -> Array:
    with np.load(path) as data:
        return data[data.files[0]]


def _softmax_fn(node: onnx.NodeProto) -> Callable[[Array], Array]:
    a = _attrs(node)
    if node.op_type == "ITAMax":
        return lambda x: ita_max(x, n_levels=a["n_levels"])
    return lambda x: i_softmax(
        x,
        coeff_a=a["coeffA"],
        coeff_b=a["coeffB"],
        coeff_c=a["coeffC"],
        log2=a["log2"],
        n_levels=a["n_levels"],
    )


def _check_softmax_downstream(net: _Net, node: onnx.NodeProto, target: str) -> list[str]:
    """Our softmax on the recorded input, carried to the recorded ``target`` tensor."""
    x = net.value(node.input[0], {})
    ours = _softmax_fn(node)(x)
    assert ours.dtype == np.uint8
    expected = net.recorded(target)
    assert expected is not None, target
    got = net.compute(target, {node.output[0]: ours.astype(np.int64)})
    if np.array_equal(got, expected):
        return []
    return [f"{node.name}: {int((got != expected).sum())} of {got.size} differ at {target}"]


# --------------------------------------------------------------------------- single-op cases


@pytest.mark.parametrize("kernel", ["generic", "pulp"])
def test_softmax_regular(kernel: str) -> None:
    folder = peer_case("Kernels/Integer/Softmax/Regular")
    (node,) = onnx.load(folder / "network.onnx").graph.node
    a = _attrs(node)
    x, expected = _npz_first(folder / "inputs.npz"), _npz_first(folder / "outputs.npz")
    got = i_softmax(
        x,
        coeff_a=a["coeffA"],
        coeff_b=a["coeffB"],
        coeff_c=a["coeffC"],
        log2=a["log2"],
        n_levels=a["n_levels"],
        kernel="pulp" if kernel == "pulp" else "generic",
    )
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_rms_norm_kernel() -> None:
    folder = peer_case("Kernels/Integer/RMSNorm")
    model = onnx.load(folder / "network.onnx")
    (node,) = model.graph.node
    weight = numpy_helper.to_array(model.graph.initializer[0])
    a = _attrs(node)
    x, expected = _npz_first(folder / "inputs.npz"), _npz_first(folder / "outputs.npz")
    got = i_rms_norm(x, weight, d=a["D"], n_levels=a["n_levels"])
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, _npz_first(folder / "activations.npz"))


# --------------------------------------------------------------------------- per node


def test_micro_llama_rms_norm_nodes() -> None:
    net = _net("Models/microLlama/INT8/microLlama1")
    nodes = net.of_type("iRMSNorm")
    assert len(nodes) == 17
    errors = []
    for node in nodes:
        x, expected = net.recorded(node.input[0]), net.recorded(node.output[0])
        assert x is not None and expected is not None, node.name
        a = _attrs(node)
        got = i_rms_norm(x, net.inits[node.input[1]], d=a["D"], n_levels=a["n_levels"])
        if not np.array_equal(got, expected):
            errors.append(f"{node.name}: {int((got != expected).sum())} differ")
    assert not errors, errors


def test_micro_llama_softmax_nodes() -> None:
    # Outputs were not recorded; each feeds one RequantShift whose output was.
    net = _net("Models/microLlama/INT8/microLlama1")
    nodes = net.of_type("iSoftmax")
    assert len(nodes) == 8
    errors = []
    for node in nodes:
        rqs = net.consumer(node.output[0])
        assert rqs.op_type == "RequantShift"
        errors += _check_softmax_downstream(net, node, rqs.output[0])
    assert not errors, errors


def test_attention_softmax_node() -> None:
    # softmax(QK^T) @ V -> RequantShift; the unnamed tensors map to activations by shape.
    aliases = (
        ("x.16", "_ql_replaced__integerize_signed_act_pass_3"),  # softmax input
        ("onnx::Reshape_43", "net_l1_func__ql_replaced__integerize_signed_act_pass_2"),  # V
        ("onnx::Transpose_65", "_ql_replaced__integerize_signed_act_pass_4"),  # attn @ V
    )
    net = _net("Kernels/Integer/Attention", aliases)
    (node,) = net.of_type("iSoftmax")
    assert not _check_softmax_downstream(net, node, "onnx::Transpose_65")


def test_icct_itamax_node() -> None:
    net = _net("Models/CCT/Int/ICCT")
    (node,) = net.of_type("ITAMax")
    target = "__QL_REPLACED__INTEGERIZE_SIGNED_ACT_PASS_3_RequantShift_output_0"  # attn @ V
    assert not _check_softmax_downstream(net, node, target)


def test_icct_layer_norm_nodes() -> None:
    # The first one's input (unsigned, 0..74) is the tokenizer's MaxPool output, recorded
    # before the graph's Transpose/Reshape; the others read RequantShift outputs.
    aliases = (("_conv_layers.0.3_MaxPool_output_0", "tokenizer_conv_layers_0_3"),)
    net = _net("Models/CCT/Int/ICCT", aliases)
    nodes = net.of_type("iLayerNorm")
    assert len(nodes) == 3
    errors = []
    for node in nodes:
        x = net.value(node.input[0], {})
        expected = net.recorded(node.output[0])
        assert expected is not None, node.name
        a = _attrs(node)
        w, b = net.inits[node.input[1]], net.inits[node.input[2]]
        got = i_layer_norm(x, w, b, d=a["D"], n_levels=a["n_levels"])
        if not np.array_equal(got, expected):
            errors.append(f"{node.name}: {int((got != expected).sum())} differ")
    assert not errors, errors
    first_input = net.value(nodes[0].input[0], {})
    assert first_input.min() >= 0  # the unsigned-input path is covered


# --------------------------------------------------------------------------- own checks


def _ita_partial_max_loops(x: Array, group_width: int, n_levels: int) -> Array:
    """ITAPartialMax element by element, straight from the algorithm's description."""
    rows = x.reshape(-1, x.shape[-1])
    out = np.zeros(rows.shape, dtype=np.int64)
    for r, row in enumerate(rows.tolist()):
        global_max, acc = -128, 0
        for g in range(0, len(row), group_width):
            group = row[g : g + group_width]
            m = max(group)
            rescale = (m - global_max + 16) >> 5 if m > global_max else 0
            global_max = max(global_max, m)
            acc = (acc >> rescale) + sum(256 >> ((global_max - v + 16) >> 5) for v in group)
        inv = ((n_levels // 2 - 1) * 256) // acc
        for j, v in enumerate(row):
            stored = (inv >> ((global_max - v + 16) >> 5)) - n_levels // 2  # before (int8_t)
            out[r, j] = (stored + 128) & 0xFF  # int8 wrap, then the +128 of an unsigned type
    return out.reshape(x.shape)


def test_ita_partial_max_matches_loops() -> None:
    rng = np.random.default_rng(7)
    for group_width, signed in [(1, True), (4, True), (8, False), (32, True)]:
        lo = -128 if signed else 0
        x = rng.integers(lo, lo + 256, size=(3, 5, 32))
        got = ita_partial_max(x, group_width=group_width, n_levels=256)
        assert got.dtype == np.uint8 and got.max() <= 127
        np.testing.assert_array_equal(got, _ita_partial_max_loops(x, group_width, 256))


def test_softmax_family_shift_invariant() -> None:
    # Deeploy stores an unsigned input with an offset; these ops only see differences.
    rng = np.random.default_rng(3)
    x = rng.integers(0, 200, size=(4, 16))
    soft = partial(i_softmax, coeff_a=1, coeff_b=86, coeff_c=3888, log2=64, n_levels=256)
    np.testing.assert_array_equal(soft(x), soft(x - 100))
    np.testing.assert_array_equal(ita_max(x, n_levels=256), ita_max(x - 128, n_levels=256))


def test_softmax_hand_computed() -> None:
    # x_tilde = [0, -5], log2 = 3: z = -(-5 / 3) = 1 with C's truncating division (floor
    # division would give 2), p = -5 + 3 = -2; y = [(0 + 4)² + 1, ((-2 + 4)² + 1) >> 1]
    # = [17, 2], sum 19; q = y * 255 // 19.
    got = i_softmax(np.array([[0, -5]]), coeff_a=1, coeff_b=4, coeff_c=1, log2=3, n_levels=256)
    np.testing.assert_array_equal(got, [[17 * 255 // 19, 2 * 255 // 19]])


def test_generic_and_pulp_softmax_differ_where_documented() -> None:
    x = np.array([[127, -73, 124]])  # x_tilde = [0, -200, -3]
    generic = partial(i_softmax, coeff_b=1, coeff_c=1, log2=1, n_levels=256)
    pulp = partial(generic, kernel="pulp")
    # log2 = 1: z = 200 is cast to int8 (-56) and clamped to 0 in Generic: p = -200,
    # y = [2, 199² + 1, 2 >> 3] = [2, 39602, 0]. PULP casts to uint8 and clamps to 31:
    # p = -169, y = [2, (168² + 1) >> 31, 0] = [2, 0, 0].
    np.testing.assert_array_equal(generic(x, coeff_a=1), [[0, 39602 * 255 // 39604, 0]])
    np.testing.assert_array_equal(pulp(x, coeff_a=1), [[255, 0, 0]])
    # PULP ignores coeffA.
    np.testing.assert_array_equal(pulp(x, coeff_a=5), pulp(x, coeff_a=1))


def test_norms_hand_computed() -> None:
    # iLayerNorm: mean = -5 / 4 truncates to -1 (not -2); centred [-2, -1, 1, 1],
    # var = 7 // 4 + 1 = 2, std = 1; out = centred * 100, cast to int8 (-200 -> 56).
    got = i_layer_norm(np.array([[-3, -2, 0, 0]]), np.full(4, 100), np.zeros(4), d=1)
    np.testing.assert_array_equal(got, [[56, -100, 100, 100]])
    # iRMSNorm: 63 // 4 + 1 = 16, std = 4 (without the +1 it would be 3).
    got = i_rms_norm(np.array([[6, 3, 3, 3]]), np.full(4, 4), d=1)
    np.testing.assert_array_equal(got, [[6, 3, 3, 3]])
    # iRMSNorm: std = isqrt(50 // 4 + 1) = 3; -5 / 3 truncates to -1, then >> 1 floors.
    got = i_rms_norm(np.array([[-5, 5, 0, 0]]), np.ones(4), d=1)
    np.testing.assert_array_equal(got, [[-1, 1, 0, 0]])
    got = i_rms_norm(np.array([[-5, 5, 0, 0]]), np.ones(4), d=2)
    np.testing.assert_array_equal(got, [[-1, 0, 0, 0]])


def test_layer_norm_wraps_rms_norm_clamps() -> None:
    x = np.array([[-128, 127, 0, 5]])
    big = np.full(4, 1 << 20)
    # iLayerNorm: mean = 4 // 4 = 1, var = (129² + 126² + 1 + 4²) // 4 + 1 = 8134, std = 90;
    # (x - mean) * w / std truncates toward zero, then the (int8_t) cast wraps.
    quotients = [-(129 * 2**20 // 90), 126 * 2**20 // 90, -(2**20 // 90), 4 * 2**20 // 90]
    wrapped = [((q + 128) & 0xFF) - 128 for q in quotients]
    np.testing.assert_array_equal(i_layer_norm(x, big, np.zeros(4), d=1), [wrapped])
    # iRMSNorm clamps to [-128, 127] instead.
    np.testing.assert_array_equal(i_rms_norm(x, big, d=1), [[-128, 127, 0, 127]])


def test_output_types() -> None:
    for fn in (i_softmax_output_type, ita_max_output_type, ita_partial_max_output_type):
        for signed in (True, False):
            t = fn(n_levels=256, input_signed=signed)
            assert (t.signed, t.n_levels, t.dtype, t.c_type, t.signprop_offset) == (
                False,
                256,
                np.dtype(np.uint8),
                "uint8_t",
                128,
            )
    for fn in (i_rms_norm_output_type, i_layer_norm_output_type):
        t = fn(n_levels=256, input_signed=False)
        assert (t.signed, t.n_levels, t.dtype, t.c_type, t.signprop_offset) == (
            True,
            256,
            np.dtype(np.int8),
            "int8_t",
            0,
        )
    with pytest.raises(ValueError):
        i_softmax_output_type(n_levels=256, input_signed=True, input_bits=16)


def test_rejects_what_deeploy_cannot_run() -> None:
    x = np.zeros((2, 4), dtype=np.int8)
    with pytest.raises(ValueError):
        ita_max(x, n_levels=256, axis=0)
    with pytest.raises(ValueError):
        ita_partial_max(x, group_width=3, n_levels=256)
    with pytest.raises(ValueError):
        i_softmax(np.full((1, 2), 300), coeff_a=1, coeff_b=1, coeff_c=1, log2=1, n_levels=256)
    with pytest.raises(TypeError):
        i_rms_norm(x.astype(np.float32), np.ones(4), d=1)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError):
        i_rms_norm(x, np.full(4, 0.5), d=1)
