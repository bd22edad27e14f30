"""Interpreter equivalence of the lowering: dnn == kernel calls == planned arena.

Each graph runs three times in xDSL's interpreter on the same seeded inputs: (a) the
imported `dnn` module (`run_module`), (b) after `convert-dnn-to-kernel` and (c) after
`plan-memory` too (`run_buffers`, whose numpy views alias as C pointers do). (b) and (c)
must equal (a) bit for bit, floats included (NaN payloads aside): the `dnn` semantics
compute floats in the order of the kernels the lowering calls.

The last tests hand-write planned IR to show the buffer interpreter catches what C
would hide: overlapping live buffers, outputs overlapping inputs, out-of-bounds reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import parse_ir
from onnx import TensorProto, helper, numpy_helper
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import InterpretationError

from xdeeploy.frontend.models.llama import PRESETS, build_llama, random_weights, seeded_inputs
from xdeeploy.frontend.onnx import import_model, load_model
from xdeeploy.interp.run import run_module
from xdeeploy.interp.run_buffers import run_buffers
from xdeeploy.lowering.convert_dnn_to_kernel import ConvertDnnToKernel
from xdeeploy.lowering.dnn_kernels import LOWERINGS
from xdeeploy.lowering.integer_kernels import INTEGER_ONLY_OPS
from xdeeploy.passes.plan_memory import PlanMemory

PEER = Path(__file__).resolve().parents[1].parent / "shared" / "peer-tests" / "deeploy"

Arrays = dict[str, np.ndarray]


# ----------------------------------------------------------------------------- harness


@dataclass
class Graph:
    nodes: list[onnx.NodeProto]
    inputs: Arrays
    outputs: list[str]
    inits: Arrays = field(default_factory=dict)
    opset: int = 17

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "equivalence",
            [
                helper.make_tensor_value_info(
                    n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)
                )
                for n, a in self.inputs.items()
            ],
            [onnx.ValueInfoProto(name=o) for o in self.outputs],
            initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in self.inits.items()],
        )
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="xdeeploy-tests")
        model.ir_version = 8
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        for out, typed in zip(model.graph.output, inferred.graph.output, strict=True):
            out.CopyFrom(typed)
        return model


def node(op: str, ins: list[str], outs: list[str], **attrs: Any) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs, **attrs)


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    g, w = got.reshape(-1), want.reshape(-1)
    if np.issubdtype(want.dtype, np.floating):
        assert np.array_equal(np.isnan(g), np.isnan(w)), f"{what}: NaNs at different places"
        bits = np.dtype(f"u{want.dtype.itemsize}")
        differ = (g.view(bits) != w.view(bits)) & ~np.isnan(w)
    else:
        differ = g != w
    diff = np.flatnonzero(differ)
    assert diff.size == 0, (
        f"{what}: {diff.size} of {want.size} elements differ, first at flat index "
        f"{diff[0]}: {g[diff[0]]!r} != {w[diff[0]]!r}"
    )


def check_levels(model: onnx.ModelProto, inputs: list[np.ndarray]) -> ModuleOp:
    """dnn vs kernel calls vs planned arena, on the same inputs; returns the planned module."""
    module = import_model(model)
    want = run_module(module, inputs)
    ConvertDnnToKernel().apply(Context(), module)
    module.verify()
    lowered = run_buffers(module, inputs)
    PlanMemory().apply(Context(), module)
    module.verify()
    planned = run_buffers(module, inputs)
    assert len(lowered) == len(planned) == len(want)
    for k, w in enumerate(want):
        assert_same(lowered[k], w, f"output {k} after convert-dnn-to-kernel")
        assert_same(planned[k], w, f"output {k} after plan-memory")
    return module


# ----------------------------------------------------------------------------- graphs

rng = np.random.default_rng


def f32(r: np.random.Generator, *shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return r.uniform(lo, hi, shape).astype(np.float32)


def _binary_broadcast() -> Graph:
    r = rng(1)
    return Graph(
        [
            node("Add", ["x", "y"], ["a"]),
            node("Sub", ["a", "z"], ["b"]),
            node("Mul", ["b", "w"], ["c"]),
            node("Div", ["c", "p"], ["d"]),
            node("Max", ["d", "y"], ["e"]),
            node("Min", ["e", "z"], ["out"]),
            node("Pow", ["p", "z"], ["pw"]),
            node("Mul", ["s", "t"], ["st"]),  # rank 0
            node("Add", ["x", "s"], ["xs"]),  # rank-0 broadcast
        ],
        {
            "x": f32(r, 2, 3, 4),
            "y": f32(r, 3, 1),
            "z": f32(r, 4),
            "w": f32(r, 1, 3, 1),
            "p": f32(r, 2, 1, 4, lo=0.5),
            "s": f32(r),
            "t": f32(r),
        },  # fmt: skip
        ["a", "c", "out", "pw", "st", "xs"],
    )


def _compare_where() -> Graph:
    r = rng(2)
    xi = r.integers(-2, 3, (3, 4)).astype(np.float32)
    yi = r.integers(-2, 3, (4,)).astype(np.float32)
    return Graph(
        [
            node("Less", ["x", "y"], ["lt"]),
            node("Equal", ["xi", "yi"], ["eq"]),
            node("Greater", ["xi", "c"], ["gt"]),
            node("Where", ["lt", "x", "y"], ["w1"]),
            node("Where", ["gt", "b", "x"], ["w2"]),  # broadcast condition and operands
        ],
        {
            "x": f32(r, 3, 4),
            "y": f32(r, 3, 4),
            "xi": xi,
            "yi": yi,
            "c": f32(r, 3, 1),
            "b": f32(r, 4),
        },  # fmt: skip
        ["lt", "eq", "gt", "w1", "w2"],
    )


_UNARY_OPS = [
    "Neg", "Abs", "Exp", "Erf", "Tanh", "Relu", "Sigmoid", "Cos", "Sin", "Floor", "Ceil",
    "HardSwish",
]  # fmt: skip


def _unary() -> Graph:
    r = rng(3)
    x = f32(r, 3, 7, lo=-4, hi=4)
    halves = (np.arange(-10, 11, dtype=np.float32) / 2).reshape(3, 7)
    nodes = [node(op, ["x"], [f"y_{op}"]) for op in _UNARY_OPS]
    nodes += [
        node("Sqrt", ["p"], ["y_sqrt"]),
        node("Log", ["p"], ["y_log"]),
        node("Reciprocal", ["p"], ["y_reciprocal"]),
        node("Round", ["h"], ["y_round"]),
        node("HardSigmoid", ["x"], ["y_hardsigmoid"], alpha=0.3, beta=0.4),
        node("LeakyRelu", ["x"], ["y_leaky"], alpha=0.2),
        node("Clip", ["x", "lo", "hi"], ["y_clip"]),
        node("Clip", ["x", "", "hi"], ["y_clip_max"]),
        node("Clip", ["x"], ["y_clip_none"]),
    ]
    return Graph(
        nodes,
        {"x": x, "p": f32(r, 3, 7, lo=0.1, hi=5), "h": halves},
        [o for n in nodes for o in n.output],
        {"lo": np.array(-0.5, np.float32), "hi": np.array(1.25, np.float32)},
    )


def _gelu() -> Graph:
    r = rng(4)
    return Graph(
        [node("Gelu", ["x"], ["erf"]), node("Gelu", ["x"], ["tanh"], approximate="tanh")],
        {"x": f32(r, 2, 9, lo=-4, hi=4)},
        ["erf", "tanh"],
        opset=20,
    )


def _swish() -> Graph:
    r = rng(5)
    return Graph([node("Swish", ["x"], ["y"])], {"x": f32(r, 4, 5, lo=-6, hi=6)}, ["y"], opset=24)


def _cast() -> Graph:
    r = rng(6)
    f = np.array([-300.7, -128.5, -5.5, -0.9, -0.0, 0.0, 0.4, 1.0, 2.5, 127.9, 200.2, 300.7,
                  1e5, -7e4, 65535.6, 3.0], np.float32)  # fmt: skip
    i64 = np.array([-(2**40) - 3, -129, -1, 0, 1, 127, 255, 2**33 + 7], np.int64)
    return Graph(
        [
            node("Cast", ["f"], ["f_i32"], to=TensorProto.INT32),
            node("Cast", ["f"], ["f_i8"], to=TensorProto.INT8),
            node("Cast", ["f"], ["f_u8"], to=TensorProto.UINT8),
            node("Cast", ["f"], ["f_i64"], to=TensorProto.INT64),
            node("Cast", ["f"], ["f_bool"], to=TensorProto.BOOL),
            node("Cast", ["i64"], ["i64_f"], to=TensorProto.FLOAT),
            node("Cast", ["i64"], ["i64_i8"], to=TensorProto.INT8),
            node("Cast", ["i64"], ["i64_u16"], to=TensorProto.UINT16),
            node("Cast", ["i32"], ["i32_i64"], to=TensorProto.INT64),
            node("Cast", ["u8"], ["u8_i32"], to=TensorProto.INT32),
            node("Cast", ["u8"], ["u8_f"], to=TensorProto.FLOAT),
            node("Cast", ["b"], ["b_f"], to=TensorProto.FLOAT),
            node("Cast", ["b"], ["b_i32"], to=TensorProto.INT32),
        ],
        {
            "f": f,
            "i64": i64,
            "i32": r.integers(-(2**31), 2**31 - 1, 6, dtype=np.int32),
            "u8": r.integers(0, 256, 6, dtype=np.uint8),
            "b": r.integers(0, 2, 5).astype(bool),
        },  # fmt: skip
        [
            "f_i32",
            "f_i8",
            "f_u8",
            "f_i64",
            "f_bool",
            "i64_f",
            "i64_i8",
            "i64_u16",
            "i32_i64",
            "u8_i32",
            "u8_f",
            "b_f",
            "b_i32",
        ],  # fmt: skip
    )


def _matmul() -> Graph:
    r = rng(7)
    return Graph(
        [
            node("MatMul", ["a", "b"], ["batched"]),  # [2,1,3,4] @ [3,4,5]
            node("MatMul", ["v", "w"], ["vec_mat"]),  # [4] @ [4,5] (stored weights)
            node("MatMul", ["m", "v"], ["mat_vec"]),  # [3,4] @ [4]
            node("MatMul", ["b", "m2"], ["rhs_2d"]),  # [3,4,5] @ [5,2]
        ],
        {
            "a": f32(r, 2, 1, 3, 4),
            "b": f32(r, 3, 4, 5),
            "v": f32(r, 4),
            "m": f32(r, 3, 4),
            "m2": f32(r, 5, 2),
        },  # fmt: skip
        ["batched", "vec_mat", "mat_vec", "rhs_2d"],
        {"w": f32(r, 4, 5)},
    )


def _gemm() -> Graph:
    r = rng(8)
    return Graph(
        [
            node("Gemm", ["at", "bt", "cn"], ["g1"], transA=1, transB=1, alpha=0.5, beta=2.0),
            node("Gemm", ["a", "b", "cm"], ["g2"]),
            node("Gemm", ["a", "b"], ["g3"], alpha=1.5),
            node("Gemm", ["a", "bt", "cs"], ["g4"], transB=1, beta=-1.0),
            node("Gemm", ["a", "w", "cmn"], ["g5"]),
        ],
        {
            "a": f32(r, 3, 4),
            "at": f32(r, 4, 3),
            "b": f32(r, 4, 5),
            "bt": f32(r, 5, 4),
            "cn": f32(r, 5),
            "cm": f32(r, 3, 1),
            "cmn": f32(r, 3, 5),
        },  # fmt: skip
        ["g1", "g2", "g3", "g4", "g5"],
        {"cs": np.array([0.25], np.float32), "w": f32(r, 4, 5)},
    )


def _conv() -> Graph:
    r = rng(9)
    return Graph(
        [
            node(
                "Conv",
                ["x", "w", "bias"],
                ["grouped"],
                group=2,
                pads=[1, 0, 2, 1],
                strides=[2, 1],
                dilations=[1, 2],
            ),  # fmt: skip
            node("Conv", ["x", "dw"], ["depthwise"], group=4, pads=[1, 1, 1, 1]),
            node("Conv", ["x1", "w1", "b1"], ["conv1d"], pads=[2, 1], strides=[2]),
            node("Conv", ["x1g", "w1g"], ["conv1d_grouped"], group=2, dilations=[2]),
        ],
        {"x": f32(r, 1, 4, 7, 6), "x1": f32(r, 2, 3, 10), "x1g": f32(r, 1, 4, 9)},
        ["grouped", "depthwise", "conv1d", "conv1d_grouped"],
        {
            "w": f32(r, 6, 2, 3, 3),
            "bias": f32(r, 6),
            "dw": f32(r, 4, 1, 3, 3),
            "w1": f32(r, 4, 3, 3),
            "b1": f32(r, 4),
            "w1g": f32(r, 4, 2, 2),
        },  # fmt: skip
    )


def _pool() -> Graph:
    r = rng(10)
    return Graph(
        [
            node(
                "MaxPool",
                ["x"],
                ["max"],
                kernel_shape=[3, 2],
                strides=[2, 2],
                pads=[1, 1, 1, 0],
                dilations=[1, 2],
                ceil_mode=1,
            ),  # fmt: skip
            node("MaxPool", ["x1"], ["max1d"], kernel_shape=[3], strides=[2], pads=[1, 1]),
            node(
                "AveragePool",
                ["x"],
                ["avg_pad"],
                kernel_shape=[3, 3],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
                count_include_pad=1,
                ceil_mode=1,
            ),  # fmt: skip
            node(
                "AveragePool",
                ["x"],
                ["avg"],
                kernel_shape=[2, 3],
                strides=[1, 2],
                pads=[0, 1, 1, 0],
            ),  # fmt: skip
            node("AveragePool", ["x1"], ["avg1d"], kernel_shape=[2], strides=[2]),
            node("GlobalAveragePool", ["x"], ["gap"]),
            node("GlobalMaxPool", ["x"], ["gmp"]),
        ],
        {"x": f32(r, 2, 3, 7, 8), "x1": f32(r, 1, 2, 9)},
        ["max", "max1d", "avg_pad", "avg", "avg1d", "gap", "gmp"],
    )


def _softmax() -> Graph:
    r = rng(11)
    return Graph(
        [node("Softmax", ["x"], ["sm"], axis=1), node("LogSoftmax", ["x"], ["lsm"], axis=-1)],
        {"x": f32(r, 2, 3, 4, lo=-5, hi=5)},
        ["sm", "lsm"],
    )


def _layer_norm() -> Graph:
    r = rng(12)
    return Graph(
        [
            node("LayerNormalization", ["x", "s", "b"], ["ln_last"], axis=-1, epsilon=1e-3),
            node("LayerNormalization", ["y", "s2"], ["ln_tail"], axis=1),  # scale broadcast
        ],
        {"x": f32(r, 2, 3, 5), "y": f32(r, 2, 3, 4)},
        ["ln_last", "ln_tail"],
        {"s": f32(r, 5), "b": f32(r, 5), "s2": f32(r, 4)},
    )


def _rms_norm() -> Graph:
    r = rng(13)
    return Graph(
        [
            node("RMSNormalization", ["x", "s"], ["rms"], axis=-1, epsilon=1e-4),
            node("RMSNormalization", ["y", "s2"], ["rms_tail"], axis=1),
        ],
        {"x": f32(r, 3, 6), "y": f32(r, 2, 3, 4)},
        ["rms", "rms_tail"],
        {"s": f32(r, 6), "s2": f32(r, 3, 4)},
        opset=23,
    )


def _reduce() -> Graph:
    r = rng(14)
    return Graph(
        [
            node("ReduceSum", ["x", "axes02"], ["sum02"], keepdims=0),
            node("ReduceMean", ["x"], ["mean13"], axes=[1, 3]),
            node("ReduceMax", ["x"], ["max12"], axes=[1, 2], keepdims=0),
            node("ReduceMin", ["x"], ["min_all"]),
            node("ReduceMean", ["x"], ["mean_023"], axes=[0, -2, 3], keepdims=0),
        ],
        {"x": f32(r, 2, 3, 4, 5)},
        ["sum02", "mean13", "max12", "min_all", "mean_023"],
        {"axes02": np.array([0, 2], np.int64)},
    )


def _gather() -> Graph:
    r = rng(15)
    return Graph(
        [
            node("Gather", ["d", "i64"], ["g0"], axis=0),
            node("Gather", ["d3", "i32"], ["g1"], axis=1),
            node("Gather", ["tab", "i64"], ["g_int"], axis=0),
        ],
        {
            "d": f32(r, 5, 4),
            "d3": f32(r, 2, 6, 3),
            "i64": np.array([[0, -1], [3, 2]], np.int64),
            "i32": np.array([4, -6, 0], np.int32),
            "tab": r.integers(-100, 100, (5, 3)).astype(np.int64),
        },  # fmt: skip
        ["g0", "g1", "g_int"],
    )


def _movement() -> Graph:
    r = rng(16)
    return Graph(
        [
            node("Transpose", ["x"], ["tr"], perm=[2, 0, 1]),
            node("Reshape", ["x", "shape"], ["rs"]),
            node("Relu", ["rs"], ["rs_relu"]),
            node("Expand", ["e", "eshape"], ["ex"]),
            node("Slice", ["x", "starts", "ends", "axes", "steps"], ["sl_neg"]),
            node("Slice", ["x", "starts2", "ends2"], ["sl_pos"]),
            node("Concat", ["x", "c1", "c2"], ["cat"], axis=1),
            node("Split", ["x", "split"], ["s0", "s1", "s2"], axis=2),
            node("Neg", ["s1"], ["s1_neg"]),
            node("Reshape", ["tr", "shape2"], ["rs_out"]),  # an output that is an alias
        ],
        {"x": f32(r, 2, 3, 6), "e": f32(r, 3, 1), "c1": f32(r, 2, 1, 6), "c2": f32(r, 2, 2, 6)},
        ["tr", "rs_relu", "ex", "sl_neg", "sl_pos", "cat", "s0", "s2", "s1_neg", "rs_out"],
        {
            "shape": np.array([6, 6], np.int64),
            "shape2": np.array([6, -1], np.int64),
            "eshape": np.array([2, 3, 4], np.int64),
            "starts": np.array([-1, 5], np.int64),
            "ends": np.array([-100, 0], np.int64),
            "axes": np.array([0, 2], np.int64),
            "steps": np.array([-1, -2], np.int64),
            "starts2": np.array([0, 1, 1], np.int64),
            "ends2": np.array([2, 3, 5], np.int64),
            "split": np.array([1, 3, 2], np.int64),
        },
    )


def _pad() -> Graph:
    r = rng(17)
    return Graph(
        [
            node("Pad", ["x", "pads", "value"], ["padded"]),
            node("Pad", ["x", "crop"], ["cropped"]),
            node("Pad", ["xi", "pads_i"], ["padded_int"]),
        ],
        {"x": f32(r, 2, 3, 4), "xi": r.integers(-9, 9, (3, 2)).astype(np.int32)},
        ["padded", "cropped", "padded_int"],
        {
            "pads": np.array([0, 1, 2, 1, 0, 1], np.int64),
            "value": np.array(1.5, np.float32),
            "crop": np.array([0, -1, 1, 0, 1, -2], np.int64),
            "pads_i": np.array([1, 0, 0, 2], np.int64),
        },
    )


def _scatter_nd() -> Graph:
    r = rng(18)
    return Graph(
        [
            node("ScatterND", ["data", "rows", "upd_rows"], ["by_row"]),
            node("ScatterND", ["data", "cells", "upd_cells"], ["by_cell"]),  # duplicate index
        ],
        {"data": f32(r, 4, 5, 3), "upd_rows": f32(r, 2, 5, 3), "upd_cells": f32(r, 3, 3)},
        ["by_row", "by_cell"],
        {
            "rows": np.array([[1], [-1]], np.int64),
            "cells": np.array([[0, 2], [3, -1], [0, 2]], np.int64),
        },
    )


def _qdq() -> Graph:
    """QuantizeLinear / DequantizeLinear at graph boundaries, per tensor and per axis."""
    r = rng(21)
    return Graph(
        [
            node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
            node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1),
            node("QuantizeLinear", ["x", "s1", "z1"], ["q1"]),
        ],
        {"x": f32(r, 2, 3, 4) * 4},
        ["q", "y", "q1"],
        {
            "s": np.array([0.05, 0.1, 0.02], np.float32),
            "z": np.array([3, -4, 0], np.int8),
            "s1": np.array(0.03, np.float32),
            "z1": np.array(128, np.uint8),
        },
    )


def _integer() -> Graph:
    r = rng(19)
    i32 = np.array([2**31 - 1, -(2**31), 7, -7, 100, 0], np.int32)
    return Graph(
        [
            node("Add", ["a", "b"], ["add"]),  # wraps around
            node("Less", ["a", "b"], ["less"]),
            node("Sub", ["b", "a"], ["sub"]),
            node("Mul", ["i8", "j8"], ["mul8"]),
            node("Sub", ["u8", "v8"], ["sub_u8"]),
            node("Div", ["n", "dv"], ["div"]),  # truncates; x / 0 = 0
            node("Max", ["a", "b"], ["max"]),
            node("Min", ["n", "dv"], ["min"]),
            node("Pow", ["base", "exp"], ["pow"]),
            node("Equal", ["n", "dv"], ["eq"]),
            node("Greater", ["i8", "j8"], ["gt8"]),
        ],
        {
            "a": i32,
            "b": np.array([1], np.int32),
            "i8": r.integers(-128, 128, (2, 5)).astype(np.int8),
            "j8": r.integers(-128, 128, (5,)).astype(np.int8),
            "u8": r.integers(0, 256, (4,)).astype(np.uint8),
            "v8": r.integers(0, 256, (4,)).astype(np.uint8),
            "n": np.array([[7], [-7], [9], [-(2**62)]], np.int64),
            "dv": np.array([2, -2, 0, -1, 3], np.int64),
            "base": np.array([3, -2, 0, 5, 7, -1], np.int32),
            "exp": np.array([4, 3, 0, 20, 1, 5], np.int32),
        },
        ["add", "less", "sub", "mul8", "sub_u8", "div", "max", "min", "pow", "eq", "gt8"],
    )


def _mlp_chain() -> Graph:
    """Several intermediates alive at once, so that plan-memory packs and reuses."""
    r = rng(20)
    return Graph(
        [
            node("MatMul", ["x", "w1"], ["h1"]),
            node("Relu", ["h1"], ["a1"]),
            node("MatMul", ["a1", "w2"], ["h2"]),
            node("Sigmoid", ["h1"], ["g"]),
            node("Mul", ["h2", "g"], ["m"]),
            node("Reshape", ["h1", "flat"], ["h1_alias"]),  # keeps h1 alive to the end
            node("Add", ["m", "a1"], ["res"]),
            node("Softmax", ["res"], ["y"], axis=-1),
            node("Reshape", ["y", "flat"], ["y_flat"]),
            node("Sub", ["y_flat", "h1_alias"], ["late"]),
        ],
        {"x": f32(r, 4, 8)},
        ["y", "late"],
        {"w1": f32(r, 8, 8), "w2": f32(r, 8, 8), "flat": np.array([2, 16], np.int64)},
    )


GRAPHS: dict[str, Callable[[], Graph]] = {
    "binary_broadcast": _binary_broadcast,
    "compare_where": _compare_where,
    "unary": _unary,
    "gelu": _gelu,
    "swish": _swish,
    "cast": _cast,
    "matmul": _matmul,
    "gemm": _gemm,
    "conv": _conv,
    "pool": _pool,
    "softmax": _softmax,
    "layer_norm": _layer_norm,
    "rms_norm": _rms_norm,
    "reduce": _reduce,
    "gather": _gather,
    "movement": _movement,
    "pad": _pad,
    "scatter_nd": _scatter_nd,
    "qdq": _qdq,
    "integer": _integer,
    "mlp_chain": _mlp_chain,
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_graph_levels_agree(name: str) -> None:
    graph = GRAPHS[name]()
    check_levels(graph.model(), list(graph.inputs.values()))


def test_graphs_cover_every_lowering() -> None:
    seen: set[type] = set()
    for make in GRAPHS.values():
        seen |= {type(op) for op in import_model(make().model()).walk()}
    # Deeploy's integer operators lower only when integer-typed: test_integer_kernels.py
    # runs them through every level.
    missing = sorted(t.__name__ for t in LOWERINGS if t not in seen | INTEGER_ONLY_OPS)
    assert not missing, f"no equivalence graph uses {missing}"


# ----------------------------------------------------------------------------- networks


def _peer(case: str) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    folder = PEER / case
    if not PEER.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    model = load_model(folder / "network.onnx")
    consts = {t.name for t in model.graph.initializer}
    n_inputs = len([i for i in model.graph.input if i.name not in consts])
    with np.load(folder / "inputs.npz") as data:
        arrays = [data[k] for k in data.files if data[k].size]
    return model, arrays[:n_inputs]


@pytest.mark.parametrize("case", ["Models/TinyViT/Demo", "Models/microLlama/FP32/microLlama1"])
def test_peer_network_levels_agree(case: str) -> None:
    check_levels(*_peer(case))


def test_tiny_llama_decode_step_levels_agree() -> None:
    """A decode step at position 5 over filled caches; then again with each present cache
    in its past cache's buffer (`dnn.may_alias`), as a caller updating in place runs it."""
    config = PRESETS["tiny"]
    model = build_llama(config, random_weights(config, seed=3))
    r = rng(4)
    inputs = []
    for name, array in seeded_inputs(model, config, seed=4):
        if name == "pos":
            array = np.full_like(array, 5)
        elif array.dtype == np.float32:  # a past cache
            array = r.uniform(-1, 1, array.shape).astype(np.float32)
        inputs.append(array)
    planned = check_levels(model, inputs)
    separate = run_buffers(planned, inputs)
    in_place = run_buffers(planned, inputs, in_place=True)
    for k, (got, want) in enumerate(zip(in_place, separate, strict=True)):
        np.testing.assert_array_equal(got, want, err_msg=f"output {k} in place")


# ----------------------------------------------------------------------------- bugs caught


_ELEMENTWISE = "1 : i32, array<i32: 4>, array<i32: 1>, array<i32: 1>"
_F4 = "memref<4xf32>"


def _planned(t2_offset: int) -> str:
    """out = (a + b) - (a * b), with t1 = a + b at arena byte 0 and t2 = a * b at
    `t2_offset`; t1 is still live when t2 is written."""
    return f"""
    builtin.module {{
      "memref.global"() <{{sym_name = "main_arena", type = memref<32xi8>, initial_value,
          sym_visibility = "private", alignment = 16 : i64}}> : () -> ()
      func.func @main(%a: {_F4}, %b: {_F4}, %out: {_F4} {{dnn.output}}) {{
        %arena = memref.get_global @main_arena : memref<32xi8>
        %o1 = arith.constant 0 : index
        %t1 = memref.view %arena[%o1][] : memref<32xi8> to {_F4}
        kernel.call @xd_binary_f32(XD_ADD, %a, %b, %t1, {_ELEMENTWISE}) : {_F4}, {_F4}, {_F4}
        %o2 = arith.constant {t2_offset} : index
        %t2 = memref.view %arena[%o2][] : memref<32xi8> to {_F4}
        kernel.call @xd_binary_f32(XD_MUL, %a, %b, %t2, {_ELEMENTWISE}) : {_F4}, {_F4}, {_F4}
        kernel.call @xd_binary_f32(XD_SUB, %t1, %t2, %out, {_ELEMENTWISE}) : {_F4}, {_F4}, {_F4}
        func.return
      }}
    }}
    """


def test_overlapping_live_buffers_change_the_result() -> None:
    a = np.array([1, 2, 3, 4], np.float32)
    b = np.array([5, 6, 7, 8], np.float32)
    want = (a + b) - a * b
    (good,) = run_buffers(parse_ir(_planned(16)), [a, b])
    np.testing.assert_array_equal(good, want)
    # A planning bug: t2 placed over t1 (fully, then half) while t1 is still needed.
    for offset in (0, 8):
        (bad,) = run_buffers(parse_ir(_planned(offset)), [a, b])
        assert not np.array_equal(bad, want), f"t2 at byte {offset} went unnoticed"
    (half,) = run_buffers(parse_ir(_planned(8)), [a, b])
    # t1's last two floats became t2's first two (5, 12), as in C: t1 = [6, 8, 5, 12].
    np.testing.assert_array_equal(half, [6 - 5, 8 - 12, 5 - 21, 12 - 32])


def test_output_overlapping_input_is_reported() -> None:
    text = f"""
    builtin.module {{
      "memref.global"() <{{sym_name = "main_arena", type = memref<32xi8>, initial_value,
          sym_visibility = "private", alignment = 16 : i64}}> : () -> ()
      func.func @main(%a: {_F4}, %out: {_F4} {{dnn.output}}) {{
        %arena = memref.get_global @main_arena : memref<32xi8>
        %o1 = arith.constant 0 : index
        %t1 = memref.view %arena[%o1][] : memref<32xi8> to {_F4}
        kernel.call @xd_copy(%a, %t1, 4 : i32, 4 : i32) : {_F4}, {_F4}
        %o2 = arith.constant 8 : index
        %t2 = memref.view %arena[%o2][] : memref<32xi8> to {_F4}
        kernel.call @xd_softmax_f32(%t1, %t2, 1 : i32, 4 : i32, 1 : i32, 0 : i32) : {_F4}, {_F4}
        kernel.call @xd_copy(%t2, %out, 4 : i32, 4 : i32) : {_F4}, {_F4}
        func.return
      }}
    }}
    """
    with pytest.raises(InterpretationError, match="overlaps an input"):
        run_buffers(parse_ir(text), [np.zeros(4, np.float32)])


def test_out_of_bounds_strided_read_is_reported() -> None:
    # A slice view starting 2 elements in, read with a stride that walks past the end.
    text = f"""
    builtin.module {{
      func.func @main(%x: memref<6xf32>, %out: {_F4} {{dnn.output}}) {{
        %v = memref.reinterpret_cast %x to offset: [2], sizes: [4], strides: [1]
            : memref<6xf32> to memref<4xf32, strided<[1], offset: 2>>
        kernel.call @xd_strided_copy(%v, %out, 4 : i32, 1 : i32, array<i32: 4>,
            array<i32: 2>) : memref<4xf32, strided<[1], offset: 2>>, {_F4}
        func.return
      }}
    }}
    """
    with pytest.raises(InterpretationError, match="outside the buffer"):
        run_buffers(parse_ir(text), [np.arange(6, dtype=np.float32)])
    # A negative stride from the view's end back to the source's start is in bounds.
    ok = text.replace("array<i32: 4>,\n            array<i32: 2>", "array<i32: 4>, array<i32: -1>")
    ok = ok.replace("offset: [2], sizes: [4]", "offset: [5], sizes: [1]").replace(
        "memref<4xf32, strided<[1], offset: 2>>", "memref<1xf32, strided<[1], offset: 5>>"
    )
    (got,) = run_buffers(parse_ir(ok), [np.arange(6, dtype=np.float32)])
    np.testing.assert_array_equal(got, [5, 4, 3, 2])


def test_reading_uninitialized_memory_shows() -> None:
    text = f"""
    builtin.module {{
      func.func @main(%a: {_F4}, %out: {_F4} {{dnn.output}}) {{
        %t = memref.alloc() : {_F4}
        kernel.call @xd_binary_f32(XD_ADD, %a, %t, %out, {_ELEMENTWISE}) : {_F4}, {_F4}, {_F4}
        func.return
      }}
    }}
    """
    (got,) = run_buffers(parse_ir(text), [np.ones(4, np.float32)])
    assert np.all(np.isnan(got))
