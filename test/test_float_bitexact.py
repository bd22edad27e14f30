"""The generated C and the interpreter compute the same float bits: the interpreter
(`xdeeploy.interp.reference`, the tensor passes the C backends run, then `run_module`)
mirrors the C kernels' elementary functions (xd_math) and loop orders, so float graphs
compiled for `generic` give results identical to the interpreter's, whole Llamas
included.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx_builders import single_node_model
from xdsl.context import Context

from xdeeploy.frontend.models.llama import PRESETS, build_llama, random_weights, write_llama
from xdeeploy.frontend.onnx import import_model
from xdeeploy.interp.run import run_module
from xdeeploy.lowering.generic_pipeline import INTEGER_PASSES
from xdeeploy.tools.generate import GenericSession, InterpSession
from xdeeploy.tools.host import build_and_load

Array = npt.NDArray[Any]
F32 = np.float32
STEPS = 6


def assert_bit_identical(got: Array, want: Array, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, what
    if got.dtype != F32:
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    differ = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
    assert differ.size == 0, (
        f"{what}: {differ.size} of {got.size} floats differ, first at flat index "
        f"{differ[0]}: C {got.reshape(-1)[differ[0]]!r}, interp {want.reshape(-1)[differ[0]]!r}"
    )


def interp(model: onnx.ModelProto, inputs: Sequence[Array]) -> list[Array]:
    """The interpreter after the same tensor passes as the C (as `InterpSession`)."""
    module = import_model(model)
    for p in INTEGER_PASSES:
        p.apply(Context(), module)
    return run_module(module, inputs)


def compare(model: onnx.ModelProto, inputs: Sequence[Array], tmp_path: Path) -> None:
    got = build_and_load(model, tmp_path / "build").run(list(inputs))
    want = interp(model, inputs)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert_bit_identical(g, w, f"output {k}")


# ----------------------------------------------------------------------------- Llamas


def decode_both(model: onnx.ModelProto) -> None:
    """Greedy decoding: the C's logits equal the interpreter's at every step."""
    c, ours = GenericSession(model), InterpSession(model)
    token = 1
    for pos in range(STEPS):
        logits = c.step(token, pos)
        assert_bit_identical(logits, ours.step(token, pos), f"logits at position {pos}")
        token = int(np.argmax(logits.reshape(-1)[-logits.shape[-1] :]))


def test_float_llama_decodes_bit_identical() -> None:
    config = PRESETS["tiny"]
    decode_both(build_llama(config, random_weights(config, seed=0)))


def test_int8_llama_decodes_bit_identical(tmp_path: Path) -> None:
    """The quantized Llama still has float softmax, RMSNorm, SiLU and attention."""
    path = tmp_path / "q.onnx"
    write_llama(path, preset="tiny", quant="int8")
    decode_both(onnx.load(path))


def test_float_llama_prompt_bit_identical(tmp_path: Path) -> None:
    """Several tokens at once: matmuls with several rows, a causal mask per row."""
    config = PRESETS["tiny"]
    model = build_llama(config, random_weights(config, seed=1), n_tokens=5)
    rng = np.random.default_rng(2)
    inputs: list[Array] = [rng.integers(0, config.vocab_size, 5), np.array([9], np.int64)]
    for value in model.graph.input[2:]:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        inputs.append(rng.standard_normal(shape).astype(F32))
    compare(model, inputs, tmp_path)


# ----------------------------------------------------------------------------- single ops


def _rng(*salt: object) -> np.random.Generator:
    return np.random.default_rng([sum(map(ord, repr(salt))), 99])


def _spread(shape: tuple[int, ...], lo: float, hi: float, salt: str) -> Array:
    return _rng(salt, shape).uniform(lo, hi, shape).astype(F32)


# id -> (op, inputs, attrs, constant inputs, opset)
Case = tuple[str, dict[str, Array], dict[str, Any], dict[str, Array], int]
UNARY_RANGES = {
    "Exp": (-90.0, 90.0), "Log": (1e-30, 1e6), "Tanh": (-12.0, 12.0), "Erf": (-5.0, 5.0),
    "Sin": (-1e4, 1e4), "Cos": (-1e4, 1e4), "Sigmoid": (-40.0, 40.0),
}  # fmt: skip
CASES: dict[str, Case] = {
    **{
        op.lower(): (op, {"x": _spread((7, 41), lo, hi, op)}, {}, {}, 17)
        for op, (lo, hi) in UNARY_RANGES.items()
    },
    "gelu": ("Gelu", {"x": _spread((5, 33), -8, 8, "gelu")}, {}, {}, 20),
    "gelu-tanh": (
        "Gelu", {"x": _spread((5, 33), -8, 8, "gelu-tanh")}, {"approximate": "tanh"}, {}, 20,
    ),
    "softmax-last": ("Softmax", {"x": _spread((3, 37), -20, 20, "sm")}, {"axis": -1}, {}, 17),
    "softmax-middle": ("Softmax", {"x": _spread((2, 19, 3), -9, 9, "smm")}, {"axis": 1}, {}, 17),
    "log-softmax": ("LogSoftmax", {"x": _spread((4, 23), -30, 30, "lsm")}, {"axis": 1}, {}, 17),
    "layernorm": (
        "LayerNormalization", {"x": _spread((3, 4, 29), -3, 5, "ln")}, {"axis": -1},
        {"scale": _spread((29,), 0.5, 2, "lns"), "bias": _spread((29,), -1, 1, "lnb")}, 17,
    ),
    "layernorm-tail": (
        "LayerNormalization", {"x": _spread((3, 4, 6), -3, 5, "lnt")}, {"axis": 1},
        {"scale": _spread((4, 6), 0.5, 2, "lnts")}, 17,
    ),
    "rmsnorm": (
        "RMSNormalization", {"x": _spread((5, 27), -3, 3, "rms")}, {"axis": -1},
        {"scale": _spread((27,), 0.5, 2, "rmss")}, 23,
    ),
    "reduce-mean-runs": (
        "ReduceMean", {"x": _spread((3, 4, 5, 6), -9, 9, "rm")}, {"keepdims": 0},
        {"axes": np.array([0, 2, 3], np.int64)}, 18,
    ),
    "reduce-sum": (
        "ReduceSum", {"x": _spread((6, 50, 2), -9, 9, "rs")}, {"keepdims": 1},
        {"axes": np.array([1], np.int64)}, 18,
    ),
    "matmul-k13": (
        "MatMul", {"a": _spread((5, 13), -2, 2, "a13"), "b": _spread((13, 7), -2, 2, "b13")},
        {}, {}, 17,
    ),
    "matmul-batched": (
        "MatMul", {"a": _spread((2, 1, 3, 21), -2, 2, "ab"), "b": _spread((4, 21, 6), -2, 2, "bb")},
        {}, {}, 17,
    ),
    "matmul-vector": (
        "MatMul", {"a": _spread((19,), -2, 2, "av"), "b": _spread((19, 5), -2, 2, "bv")}, {}, {},
        17,
    ),
    "gemm-trans-b": (
        "Gemm", {"a": _spread((4, 37), -2, 2, "ga"), "b": _spread((6, 37), -2, 2, "gb")},
        {"transB": 1, "alpha": 0.75, "beta": 1.5}, {"c": _spread((6,), -1, 1, "gc")}, 17,
    ),
    "gemm-trans-both": (
        "Gemm", {"a": _spread((37, 4), -2, 2, "ta"), "b": _spread((6, 37), -2, 2, "tb")},
        {"transA": 1, "transB": 1}, {}, 17,
    ),
    "gemm-row-trans-both": (
        "Gemm", {"a": _spread((29, 1), -2, 2, "ra"), "b": _spread((3, 29), -2, 2, "rb")},
        {"transA": 1, "transB": 1}, {}, 17,
    ),
    "conv": (
        "Conv", {"x": _spread((2, 4, 9, 8), -2, 2, "cx")},
        {"pads": [1, 2, 1, 0], "strides": [2, 1], "group": 2},
        {"w": _spread((6, 2, 3, 3), -1, 1, "cw"), "b": _spread((6,), -1, 1, "cb")}, 17,
    ),
    "average-pool": (
        "AveragePool", {"x": _spread((1, 3, 7, 9), -4, 4, "ap")},
        {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0], "strides": [2, 2]}, {}, 17,
    ),
    "average-pool-with-pads": (
        "AveragePool", {"x": _spread((1, 2, 6, 5), -4, 4, "apc")},
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, {}, 17,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_single_op_bit_identical(case: str, tmp_path: Path) -> None:
    op, inputs, attrs, constants, opset = CASES[case]
    model = single_node_model(op, inputs, attrs, initializers=constants, opset=opset)
    compare(model, list(inputs.values()), tmp_path)


def test_signed_zeros_bit_identical(tmp_path: Path) -> None:
    """Max, Min, ReduceMax and MaxPool choose between +0 and -0 as the C does."""
    x = np.array([[0.0, -0.0, 1.0, -0.0], [-0.0, 0.0, -1.0, 0.0]], F32).reshape(1, 2, 2, 2)
    y = np.array([[-0.0, 0.0, 1.0, 0.0], [0.0, -0.0, -1.0, -0.0]], F32).reshape(1, 2, 2, 2)
    nodes = [
        helper.make_node("Max", ["x", "y"], ["max"]),
        helper.make_node("Min", ["x", "y"], ["min"]),
        helper.make_node("ReduceMax", ["x", "axes"], ["rmax"], keepdims=0),
        helper.make_node("ReduceMin", ["y", "axes"], ["rmin"], keepdims=0),
        helper.make_node("MaxPool", ["y"], ["pool"], kernel_shape=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes, "zeros",
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, 2, 2, 2]) for n in "xy"],
        [onnx.ValueInfoProto(name=n) for n in ("max", "min", "rmax", "rmin", "pool")],
        [numpy_helper.from_array(np.array([2, 3], np.int64), "axes")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    compare(model, [x, y], tmp_path)
