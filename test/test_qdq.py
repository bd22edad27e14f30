"""QDQ models from onnxruntime's `quantize_static`, lowered by `dnn-lower-qdq` (and
`dnn-fuse-requant`), against onnxruntime.

Each case builds a small float model with onnx.helper, quantizes it (QDQ format, a
seeded calibration set; per-tensor and per-channel weights; int8 symmetric and uint8
asymmetric activations), imports it, lowers it, checks that no float op of the pattern
is left, and compares the quantized output with onnxruntime's two ways of running the
QDQ model: its fused integer kernels (default optimizations: QLinearMatMul,
QLinearConv, QGemm, QLinearAdd, ...) and the QDQ graph literally (DequantizeLinear,
float op, QuantizeLinear; no optimizations).

Exactness: the pre-rounding value v = float op output / s_y + z_y (taken from the
literal run) is the exact real result to within float32 rounding (2e-5 LSB measured for
the K = 32 matmul, far below `TIE`). Where v is not within
`TIE` of a rounding boundary the correctly rounded integer is unambiguous, and we
assert that our integer result equals both of onnxruntime's exactly; only elements at
a near-tie may differ, by at most 1 LSB (onnxruntime rounds half to even through
float32, the requant rounds the exact fixed-point product half up).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.frontend.onnx import import_model
from xdeeploy.interp.run import run_module
from xdeeploy.lowering.generic_pipeline import INTEGER_PASSES
from xdeeploy.passes.dnn_fuse_requant import DnnFuseRequant
from xdeeploy.passes.dnn_lower_qdq import DnnLowerQdq, fixed_point

OPSET = 17
TIE = 1 / 256
"""Half-width (in LSB) of the band around x.5 where rounding is left to float noise."""

N_CALIBRATION = 16


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Case:
    """A float model and how to feed it."""

    name: str
    build: Callable[[np.random.Generator], onnx.ModelProto]
    float_ops: tuple[type[dnn.DnnOp], ...]  # the ops that must be gone after lowering
    has_weights: bool


def _model(
    nodes: list[onnx.NodeProto],
    inputs: Mapping[str, list[int]],
    output: tuple[str, list[int]],
    initializers: Mapping[str, np.ndarray],
) -> onnx.ModelProto:
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info(k, f32, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(output[0], f32, output[1])],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def _weights(rng: np.random.Generator, *shape: int) -> np.ndarray:
    # Rows of different magnitude, so per-channel scales really differ.
    w = rng.standard_normal(shape).astype(np.float32)
    return w * rng.uniform(0.2, 2.0, (shape[0],) + (1,) * (len(shape) - 1)).astype(np.float32)


def _matmul(rng: np.random.Generator) -> onnx.ModelProto:
    w = _weights(rng, 16, 32).T.copy()  # [32, 16]: per-channel along the output columns
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    return _model([node], {"x": [2, 4, 32]}, ("y", [2, 4, 16]), {"w": w})


def _gemm(rng: np.random.Generator) -> onnx.ModelProto:
    w = _weights(rng, 16, 32)  # transB: rows are output columns
    bias = rng.standard_normal(16).astype(np.float32)
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="gemm", transB=1)
    return _model([node], {"x": [4, 32]}, ("y", [4, 16]), {"w": w, "b": bias})


def _conv(rng: np.random.Generator) -> onnx.ModelProto:
    w = _weights(rng, 8, 3, 3, 3)
    bias = rng.standard_normal(8).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1])
    return _model([node], {"x": [1, 3, 8, 8]}, ("y", [1, 8, 8, 8]), {"w": w, "b": bias})


def _grouped_conv(rng: np.random.Generator) -> onnx.ModelProto:
    w = _weights(rng, 8, 2, 3, 3)
    bias = rng.standard_normal(8).astype(np.float32)
    node = helper.make_node(
        "Conv", ["x", "w", "b"], ["y"], name="conv", group=2, strides=[2, 2], pads=[0, 0, 1, 1]
    )
    return _model([node], {"x": [1, 4, 9, 9]}, ("y", [1, 8, 4, 4]), {"w": w, "b": bias})


def _add(rng: np.random.Generator) -> onnx.ModelProto:
    node = helper.make_node("Add", ["a", "b"], ["y"], name="add")
    return _model([node], {"a": [4, 16], "b": [4, 16]}, ("y", [4, 16]), {})


def _add_constant(rng: np.random.Generator) -> onnx.ModelProto:
    c = rng.standard_normal((1, 16)).astype(np.float32)
    node = helper.make_node("Add", ["a", "c"], ["y"], name="add")
    return _model([node], {"a": [4, 16]}, ("y", [4, 16]), {"c": c})


def _mul(rng: np.random.Generator) -> onnx.ModelProto:
    node = helper.make_node("Mul", ["a", "b"], ["y"], name="mul")
    return _model([node], {"a": [4, 16], "b": [4, 16]}, ("y", [4, 16]), {})


def _mul_constant(rng: np.random.Generator) -> onnx.ModelProto:
    c = rng.uniform(-2.0, 2.0, (1, 16)).astype(np.float32)
    node = helper.make_node("Mul", ["a", "c"], ["y"], name="mul")
    return _model([node], {"a": [4, 16]}, ("y", [4, 16]), {"c": c})


def _conv_moves(rng: np.random.Generator) -> onnx.ModelProto:
    """Conv, then ops that only move or select its quantized values."""
    w = _weights(rng, 4, 3, 3, 3)
    shape = np.array([4, 16], np.int64)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["p"], ["t"], name="transpose", perm=[0, 1, 3, 2]),
        helper.make_node("Reshape", ["t", "shape"], ["y"], name="reshape"),
    ]
    return _model(nodes, {"x": [1, 3, 8, 8]}, ("y", [4, 16]), {"w": w, "shape": shape})


CASES = [
    Case("matmul", _matmul, (dnn.MatmulOp,), True),
    Case("gemm", _gemm, (dnn.GemmOp,), True),
    Case("conv", _conv, (dnn.ConvOp,), True),
    Case("grouped_conv", _grouped_conv, (dnn.ConvOp,), True),
    Case("add", _add, (dnn.AddOp,), False),
    Case("add_constant", _add_constant, (dnn.AddOp,), False),
    Case("mul", _mul, (dnn.MulOp,), False),
    Case("mul_constant", _mul_constant, (dnn.MulOp,), False),
    Case(
        "conv_moves", _conv_moves, (dnn.ConvOp, dnn.MaxPoolOp, dnn.TransposeOp, dnn.ReshapeOp), True
    ),
]


# ----------------------------------------------------------------------------- quantization


@dataclass(frozen=True)
class Scheme:
    name: str
    activation: QuantType
    symmetric: bool
    per_channel: bool


SCHEMES = [
    Scheme("s8sym-tensor", QuantType.QInt8, True, False),
    Scheme("s8sym-channel", QuantType.QInt8, True, True),
    Scheme("u8asym-tensor", QuantType.QUInt8, False, False),
    Scheme("u8asym-channel", QuantType.QUInt8, False, True),
]


def feeds(
    model: onnx.ModelProto, rng: np.random.Generator, spread: float = 1.0
) -> dict[str, np.ndarray]:
    """Inputs with a positive bias, so that asymmetric activations get a zero point."""
    out: dict[str, np.ndarray] = {}
    for value in model.graph.input:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        out[value.name] = (rng.standard_normal(shape) * spread + 0.5).astype(np.float32)
    return out


class SeededReader(CalibrationDataReader):
    def __init__(self, model: onnx.ModelProto, seed: int):
        rng = np.random.default_rng(seed)
        self.batches = iter([feeds(model, rng) for _ in range(N_CALIBRATION)])

    # The base class annotates `dict`, but the protocol ends the data with None.
    def get_next(self) -> dict[str, np.ndarray] | None:  # pyright: ignore[reportIncompatibleMethodOverride]
        return next(self.batches, None)


def quantize(model: onnx.ModelProto, scheme: Scheme, folder: Path) -> onnx.ModelProto:
    src, dst = folder / "float.onnx", folder / "qdq.onnx"
    onnx.save(model, src)
    quantize_static(
        str(src),
        str(dst),
        SeededReader(model, seed=7),
        quant_format=QuantFormat.QDQ,
        per_channel=scheme.per_channel,
        activation_type=scheme.activation,
        weight_type=QuantType.QInt8,
        extra_options={"ActivationSymmetric": scheme.symmetric},
    )
    return onnx.load(dst)


def integer_output(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str, float, int]:
    """The QDQ model with its final DequantizeLinear removed (the graph returns the
    quantized output), the name of the float value before the final QuantizeLinear, and
    that quantizer's scale and zero point."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    name = graph.output[0].name
    dq = next(n for n in graph.node if n.op_type == "DequantizeLinear" and n.output[0] == name)
    q = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.output[0] == dq.input[0])
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    scale, zero_point = inits[q.input[1]], inits[q.input[2]]
    graph.node.remove(dq)
    del graph.output[:]
    elem = helper.np_dtype_to_tensor_dtype(zero_point.dtype)
    graph.output.append(helper.make_tensor_value_info(q.output[0], elem, None))
    return out, q.input[0], float(scale), int(zero_point)


def run_ort(
    model: onnx.ModelProto,
    inputs: Mapping[str, np.ndarray],
    optimize: bool,
    outputs: list[str] | None = None,
) -> list[np.ndarray]:
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return [np.asarray(r) for r in session.run(outputs, dict(inputs))]


def with_output(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return out


def lower(model: onnx.ModelProto, fuse: bool) -> ModuleOp:
    module = import_model(model)
    DnnLowerQdq().apply(Context(), module)
    if fuse:
        DnnFuseRequant().apply(Context(), module)
    module.verify()
    return module


def ops_of(module: ModuleOp) -> list[Any]:
    return [op for op in module.walk() if isinstance(op, dnn.DnnOp)]


@dataclass
class Comparison:
    fused_lsb: int  # max |ours - onnxruntime fused|
    literal_lsb: int  # max |ours - onnxruntime QDQ graph|
    near_ties: int  # elements within TIE of a rounding boundary
    size: int


def compare(
    model: onnx.ModelProto, module: ModuleOp, inputs: Mapping[str, np.ndarray]
) -> Comparison:
    int_model, before_q, scale, zero_point = integer_output(model)
    ours = run_module(module, list(inputs.values()))
    fused = run_ort(int_model, inputs, optimize=True)[0]
    literal, pre = run_ort(with_output(int_model, before_q), inputs, optimize=False)
    assert fused.dtype == literal.dtype
    ours_q = np.asarray(ours[0])
    # Our module still ends in the boundary DequantizeLinear: go back to its integers.
    q = np.rint(ours_q.astype(np.float64) / scale) + zero_point
    v = pre.astype(np.float64) / np.float64(np.float32(scale)) + zero_point
    near_tie = np.abs(v - np.floor(v) - 0.5) < TIE
    d_fused = np.abs(q - fused.astype(np.float64))
    d_literal = np.abs(q - literal.astype(np.float64))
    # Away from ties the rounding is unambiguous: exact agreement is required there.
    assert not np.any(d_fused[~near_tie]), np.argwhere(d_fused[~near_tie] != 0)[:5]
    assert not np.any(d_literal[~near_tie]), np.argwhere(d_literal[~near_tie] != 0)[:5]
    return Comparison(int(d_fused.max()), int(d_literal.max()), int(near_tie.sum()), v.size)


# Without weights, per-channel quantization is the per-tensor case.
COMBINATIONS = [(c, s) for c in CASES for s in SCHEMES if c.has_weights or not s.per_channel]


@pytest.mark.parametrize(
    ("case", "scheme"), COMBINATIONS, ids=[f"{c.name}-{s.name}" for c, s in COMBINATIONS]
)
@pytest.mark.parametrize("fuse", [False, True], ids=["lower", "lower+fuse"])
def test_qdq_lowering_matches_onnxruntime(
    case: Case, scheme: Scheme, fuse: bool, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    qdq = quantize(case.build(rng), scheme, tmp_path)
    module = lower(qdq, fuse)
    left = [op.name for op in ops_of(module) if isinstance(op, case.float_ops) and _is_float(op)]
    assert not left, f"float ops left after dnn-lower-qdq: {left}"
    assert any(isinstance(op, dnn.RequantShiftOp) for op in ops_of(module))
    worst = Comparison(0, 0, 0, 0)
    for seed, spread in ((1, 1.0), (2, 1.5)):  # 1.5: beyond the calibration range, saturating
        inputs = feeds(case.build(np.random.default_rng(0)), np.random.default_rng(seed), spread)
        got = compare(qdq, module, inputs)
        worst = Comparison(
            max(worst.fused_lsb, got.fused_lsb),
            max(worst.literal_lsb, got.literal_lsb),
            worst.near_ties + got.near_ties,
            worst.size + got.size,
        )
    print(f"{case.name} {scheme.name} fuse={fuse}: {worst}")
    assert worst.fused_lsb <= 1 and worst.literal_lsb <= 1


def _is_float(op: dnn.DnnOp) -> bool:
    ty = op.results[0].type
    assert isinstance(ty, TensorType)
    return numpy_dtype(ty.element_type).kind == "f"


# ----------------------------------------------------------------------------- fixed point


@pytest.mark.parametrize("ratio", [0.5, 1e-3, 3.7e-5, 0.999999, 1.0, 123.456, 2.0**-40])
def test_fixed_point_represents_float32_ratios_exactly(ratio: float) -> None:
    r = np.float32(ratio)
    found = fixed_point(np.array(r))
    assert found is not None
    mul, shift = found
    assert 0 < int(mul) < 2**31
    # A float32 ratio has 24 significant bits: mul / 2^shift is exactly it with a 31-bit
    # mul. Below 2^-15 the shift stops at MAX_SHIFT and mul gets fewer bits.
    if r >= 2.0**-15:
        assert int(mul) * 2.0**-shift == float(r)
        assert int(mul) >= 2**30


# ----------------------------------------------------------------------------- float outputs


@pytest.mark.parametrize("scheme", SCHEMES, ids=[s.name for s in SCHEMES])
def test_matmul_with_float_output_is_bitwise_onnxruntime(scheme: Scheme, tmp_path: Path) -> None:
    """Without a QuantizeLinear after the MatMul (onnxruntime's
    OpTypesToExcludeOutputQuantization), the integer accumulator is scaled back to
    float: f32(acc) * f32(s_a * s_w), which is what MatMulIntegerToFloat computes."""
    model = _matmul(np.random.default_rng(0))
    src, dst = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save(model, src)
    quantize_static(
        str(src),
        str(dst),
        SeededReader(model, seed=7),
        quant_format=QuantFormat.QDQ,
        per_channel=scheme.per_channel,
        activation_type=scheme.activation,
        weight_type=QuantType.QInt8,
        extra_options={
            "ActivationSymmetric": scheme.symmetric,
            "OpTypesToExcludeOutputQuantization": ["MatMul"],
        },
    )
    qdq = onnx.load(dst)
    module = lower(qdq, fuse=True)
    matmuls = [op for op in ops_of(module) if isinstance(op, dnn.MatmulOp)]
    assert matmuls and not any(_is_float(op) for op in matmuls)
    inputs = feeds(model, np.random.default_rng(1))
    ours = run_module(module, list(inputs.values()))[0]
    fused = run_ort(qdq, inputs, optimize=True)[0]
    literal = run_ort(qdq, inputs, optimize=False)[0]
    print(f"float output {scheme.name}: max |ours - fused| = {np.abs(ours - fused).max()}")
    np.testing.assert_array_equal(ours, fused)
    np.testing.assert_allclose(ours, literal, rtol=1e-5, atol=1e-5 * float(np.abs(literal).max()))


# ----------------------------------------------------------------------------- llama int8


def _decode_steps(
    run: Callable[[dict[str, np.ndarray]], Sequence[Any]],
    model: onnx.ModelProto,
    steps: int,
) -> list[np.ndarray]:
    """Logits of `steps` calls on seeded tokens, each with the caches of the call before."""
    names = [o.name for o in model.graph.output]
    shapes = {
        i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }
    caches = {k: np.zeros(v, np.float32) for k, v in shapes.items() if k.startswith("past_")}
    n_tokens = shapes["tokens"][0]
    vocab = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    rng = np.random.default_rng(11)
    logits: list[np.ndarray] = []
    for step in range(steps):
        feed = {
            "tokens": rng.integers(0, vocab, n_tokens, dtype=np.int64),
            "pos": np.array([step * n_tokens], np.int64),
            **caches,
        }
        outputs = [np.asarray(o) for o in run(feed)]
        logits.append(outputs[0])
        caches = {
            n.replace("present_", "past_"): v
            for n, v in zip(names, outputs, strict=True)
            if n.startswith("present_")
        }
    return logits


@pytest.mark.parametrize(
    ("preset", "mode"), [("tiny", "decode"), ("tiny", "prompt"), ("stories260k", "decode")]
)
def test_llama_int8_runs_lowered_like_onnxruntime(preset: str, mode: str, tmp_path: Path) -> None:
    import json

    from xdeeploy.frontend.models.llama import META_QUANT, read_llama_info
    from xdeeploy.tools import deeploy

    path = tmp_path / "int8.onnx"
    argv = [
        "model",
        "llama",
        "--preset",
        preset,
        "--mode",
        mode,
        "--quant",
        "int8",
        "-o",
        str(path),
    ]
    assert deeploy.main(argv) == 0
    model = onnx.load(path)
    assert read_llama_info(model).quant == "int8"
    described = json.loads({p.key: p.value for p in model.metadata_props}[META_QUANT])
    quantized = described["quantized"]["MatMul"]
    assert "logits" in quantized and not any(
        ".attn.scores" in n or ".attn.context" in n for n in quantized
    )

    module = import_model(model)
    for p in INTEGER_PASSES:  # the tensor passes the C backends run, canonicalize included
        p.apply(Context(), module)
    integer = [op for op in ops_of(module) if isinstance(op, dnn.MatmulOp) and not _is_float(op)]
    assert len(integer) == len(quantized)  # every quantized MatMul runs on integers

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in model.graph.input]
    want = _decode_steps(lambda feed: session.run(None, feed), model, steps=4)
    got = _decode_steps(lambda feed: run_module(module, [feed[n] for n in inputs]), model, steps=4)
    worst = max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True))
    print(f"llama {preset} {mode} int8: max |logit - onnxruntime| = {worst}")
    # The float parts compute as onnxruntime does and the integer MatMuls are exact, so
    # every int8 activation agrees; a float op rounding differently could move one by a
    # step, which would show as a small logit difference, never a large one.
    assert worst <= 1e-3 * max(float(np.abs(w).max()) for w in want)


# ----------------------------------------------------------------------------- frontend gaps


def test_import_rank1_per_tensor_dequantize_without_axis(tmp_path: Path) -> None:
    qdq = quantize(_gemm(np.random.default_rng(0)), SCHEMES[0], tmp_path)
    module = import_model(qdq)  # a per-tensor Q/DQ ignores `axis`, as ONNX says
    assert any(isinstance(op, dnn.DequantizeLinearOp) for op in module.walk())


def test_weights_stay_quantized_at_opset_21(tmp_path: Path) -> None:
    model = _matmul(np.random.default_rng(0))
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", 21))
    module = lower(quantize(model, SCHEMES[0], tmp_path), fuse=False)
    assert not [op for op in ops_of(module) if isinstance(op, dnn.MatmulOp) and _is_float(op)]
