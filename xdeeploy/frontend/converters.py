"""One converter per ONNX op type: an ONNX node → `dnn` ops.

A converter receives a `NodeContext` and returns the SSA values of the node's outputs.
Inputs that ONNX passes as tensors but we need at compile time (Reshape's shape, Slice's
bounds, …) are read with `ctx.const`, which names the node when they are not constant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.utils.exceptions import VerifyException

from xdeeploy.dialects import dnn
from xdeeploy.errors import DeeployError

if TYPE_CHECKING:
    from xdeeploy.frontend.onnx import Importer


@dataclass
class NodeContext:
    importer: Importer
    node: onnx.NodeProto

    # -- errors and attributes ------------------------------------------------

    def error(self, msg: str) -> DeeployError:
        return DeeployError(f"node '{self.node.name}' (OpType '{self.node.op_type}'): {msg}")

    @property
    def opset(self) -> int:
        return self.importer.opsets.get(self.node.domain or "", self.importer.opsets.get("", 0))

    def attr(self, name: str, default: Any = None) -> Any:
        """A node attribute as a Python value; tensor attributes become scalars or lists,
        since Deeploy's exporters store some scalars as float tensors."""
        for a in self.node.attribute:
            if a.name == name:
                value = onnx.helper.get_attribute_value(a)
                if isinstance(value, onnx.TensorProto):
                    arr = onnx.numpy_helper.to_array(value)
                    return arr.item() if arr.size == 1 else arr.tolist()
                if isinstance(value, bytes):
                    return value.decode()
                if isinstance(value, list) and value and isinstance(value[0], bytes):
                    return [v.decode() for v in value]
                return value
        return default

    # -- operands -------------------------------------------------------------

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    @property
    def n_inputs(self) -> int:
        return len(self.node.input)

    def input(self, i: int) -> SSAValue:
        if not self.has_input(i):
            raise self.error(f"input {i} is missing")
        return self.importer.value(self.node.input[i])

    def const(self, i: int) -> np.ndarray:
        """Input `i` as a compile-time constant."""
        name = self.node.input[i] if self.has_input(i) else ""
        if name not in self.importer.consts:
            raise self.error(f"input {i} ('{name}') must be a compile-time constant")
        return self.importer.consts[name]

    def is_const(self, i: int) -> bool:
        return self.has_input(i) and self.node.input[i] in self.importer.consts

    def shape(self, i: int) -> tuple[int, ...]:
        return self.type_of(self.node.input[i]).get_shape()

    def type_of(self, name: str) -> TensorType:
        return self.importer.tensor_type(name, self.node)

    def out_type(self, i: int = 0) -> TensorType:
        return self.type_of(self.node.output[i])

    # -- building ---------------------------------------------------------------

    def emit(self, op: Operation) -> Operation:
        """Inserts `op`, tags it with the node name and verifies it (errors name the node)."""
        if self.node.name:
            op.attributes[dnn.NODE_ATTR] = StringAttr(self.node.name)
        self.importer.builder.insert(op)
        try:
            op.verify()
        except VerifyException as e:
            raise self.error(str(e).strip().splitlines()[0]) from None
        return op

    def axis(self, axis: int, rank: int) -> int:
        if not -rank <= axis < rank:
            raise self.error(f"axis {axis} out of range for rank {rank}")
        return axis % rank


Converter = Callable[[NodeContext], Sequence[SSAValue]]
CONVERTERS: dict[tuple[str, str], Converter] = {}


def converts(*op_types: str, domain: str = "") -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            CONVERTERS[(domain, op_type)] = fn
        return fn

    return register


def _i64s(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def _int(v: int) -> IntegerAttr:
    return IntegerAttr(int(v), i64)


def _f32(v: float) -> FloatAttr:
    return FloatAttr(float(np.float32(v)), f32)


# ---------------------------------------------------------------------------
# Elementwise

_BINARY: dict[str, type[dnn.ElementwiseBinaryOp]] = {
    "Add": dnn.AddOp, "Sub": dnn.SubOp, "Mul": dnn.MulOp, "Div": dnn.DivOp, "Pow": dnn.PowOp,
    "Max": dnn.MaxOp, "Min": dnn.MinOp, "Equal": dnn.EqualOp, "Less": dnn.LessOp,
    "Greater": dnn.GreaterOp,
}  # fmt: skip


@converts(*_BINARY)
def binary(ctx: NodeContext) -> Sequence[SSAValue]:
    cls = _BINARY[ctx.node.op_type]
    operands = [ctx.input(i) for i in range(ctx.n_inputs) if ctx.has_input(i)]
    if len(operands) == 1:  # variadic Max/Min of one input
        return operands
    value = operands[0]
    for k, rhs in enumerate(operands[1:], start=1):
        last = k == len(operands) - 1
        ty = ctx.out_type() if last else _broadcast_type(value, rhs)
        value = ctx.emit(cls(value, rhs, ty)).results[0]
    return [value]


def _broadcast_type(a: SSAValue, b: SSAValue) -> TensorType:
    ta, tb = a.type, b.type
    assert isinstance(ta, TensorType) and isinstance(tb, TensorType)
    return TensorType(ta.element_type, list(dnn.broadcast_shapes(ta.get_shape(), tb.get_shape())))


@converts("Where")
def where(ctx: NodeContext) -> Sequence[SSAValue]:
    op = dnn.WhereOp(
        operands=[ctx.input(0), ctx.input(1), ctx.input(2)], result_types=[ctx.out_type()]
    )
    return ctx.emit(op).results


_UNARY: dict[str, type[dnn.ElementwiseUnaryOp]] = {
    "Sqrt": dnn.SqrtOp, "Neg": dnn.NegOp, "Abs": dnn.AbsOp, "Exp": dnn.ExpOp, "Log": dnn.LogOp,
    "Erf": dnn.ErfOp, "Tanh": dnn.TanhOp, "Relu": dnn.ReluOp, "Sigmoid": dnn.SigmoidOp,
    "Reciprocal": dnn.ReciprocalOp, "Cos": dnn.CosOp, "Sin": dnn.SinOp, "Floor": dnn.FloorOp,
    "Ceil": dnn.CeilOp, "Round": dnn.RoundOp, "HardSwish": dnn.HardSwishOp,
}  # fmt: skip


@converts(*_UNARY)
def unary(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(_UNARY[ctx.node.op_type](ctx.input(0))).results


@converts("Swish")
def swish(ctx: NodeContext) -> Sequence[SSAValue]:
    """x * sigmoid(alpha * x): SiLU for alpha = 1, else spelled out."""
    x = ctx.input(0)
    alpha = float(ctx.attr("alpha", 1.0))
    if alpha == 1.0:
        return ctx.emit(dnn.SiluOp(x)).results
    ty = x.type
    assert isinstance(ty, TensorType)
    scale = ctx.emit(dnn.ConstantOp(dnn.constant_attr(np.array(alpha, dtype=np.float32)))).results[
        0
    ]
    scaled = ctx.emit(dnn.MulOp(x, scale, ty)).results[0]
    gate = ctx.emit(dnn.SigmoidOp(scaled)).results[0]
    return ctx.emit(dnn.MulOp(x, gate, ty)).results


@converts("Identity", "Dropout")
def identity(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.node.op_type == "Dropout" and len(ctx.node.output) > 1 and ctx.node.output[1]:
        raise ctx.error("the mask output of Dropout is not supported")
    return [ctx.input(0)]


@converts("Gelu")
@converts("Gelu", domain="com.microsoft")
def gelu(ctx: NodeContext) -> Sequence[SSAValue]:
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.error(f"approximate = '{approximate}' is not supported (use 'none' or 'tanh')")
    props: dict[str, Attribute] = {}
    if approximate == "tanh":
        props["approximate"] = StringAttr("tanh")
    return ctx.emit(dnn.GeluOp(ctx.input(0), **props)).results


@converts("HardSigmoid")
def hardsigmoid(ctx: NodeContext) -> Sequence[SSAValue]:
    op = dnn.HardSigmoidOp(
        ctx.input(0), alpha=_f32(ctx.attr("alpha", 0.2)), beta=_f32(ctx.attr("beta", 0.5))
    )
    return ctx.emit(op).results


@converts("LeakyRelu")
def leaky_relu(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(dnn.LeakyReluOp(ctx.input(0), alpha=_f32(ctx.attr("alpha", 0.01)))).results


@converts("Clip")
def clip(ctx: NodeContext) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {}
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
    else:
        lo = ctx.const(1).item() if ctx.has_input(1) else None
        hi = ctx.const(2).item() if ctx.has_input(2) else None
    if lo is not None:
        props["min"] = _f32(lo)
    if hi is not None:
        props["max"] = _f32(hi)
    return ctx.emit(dnn.ClipOp(ctx.input(0), **props)).results


@converts("Cast")
def cast(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(dnn.CastOp(operands=[ctx.input(0)], result_types=[ctx.out_type()])).results


# ---------------------------------------------------------------------------
# Linear algebra, convolution, pooling


@converts("MatMul")
def matmul(ctx: NodeContext) -> Sequence[SSAValue]:
    op = dnn.MatmulOp(operands=[ctx.input(0), ctx.input(1)], result_types=[ctx.out_type()])
    return ctx.emit(op).results


@converts("Gemm")
def gemm(ctx: NodeContext) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {}
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    if alpha != 1.0:
        props["alpha"] = _f32(alpha)
    if beta != 1.0:
        props["beta"] = _f32(beta)
    if ctx.attr("transA", 0):
        props["trans_a"] = UnitAttr()
    if ctx.attr("transB", 0):
        props["trans_b"] = UnitAttr()
    operands = [[ctx.input(0)], [ctx.input(1)], [ctx.input(2)] if ctx.has_input(2) else []]
    op = dnn.GemmOp(operands=operands, result_types=[ctx.out_type()], properties=props)
    return ctx.emit(op).results


@dataclass(frozen=True)
class Window:
    """strides/pads/dilations with ONNX defaults, auto_pad resolved to explicit pads."""

    strides: list[int]
    pads: list[int]
    dilations: list[int]

    def props(self) -> dict[str, Attribute]:
        return {
            "strides": _i64s(self.strides),
            "pads": _i64s(self.pads),
            "dilations": _i64s(self.dilations),
        }


def _window(ctx: NodeContext, kernel: Sequence[int]) -> Window:
    spatial = len(kernel)
    strides = list(ctx.attr("strides", [1] * spatial))
    dilations = list(ctx.attr("dilations", [1] * spatial))
    pads = list(ctx.attr("pads", [0] * 2 * spatial))
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        in_shape = ctx.shape(0)[2:]
        pads = [0] * 2 * spatial
        for i in range(spatial):
            out = -(-in_shape[i] // strides[i])
            total = max(
                0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - in_shape[i]
            )
            small, big = total // 2, total - total // 2
            pads[i], pads[i + spatial] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
    elif auto_pad == "VALID":
        pads = [0] * 2 * spatial
    elif auto_pad != "NOTSET":
        raise ctx.error(f"auto_pad = '{auto_pad}' is not supported")
    return Window(strides, pads, dilations)


@converts("Conv")
def conv(ctx: NodeContext) -> Sequence[SSAValue]:
    kernel = ctx.attr("kernel_shape") or list(ctx.shape(1)[2:])
    props = _window(ctx, kernel).props()
    props["group"] = _int(ctx.attr("group", 1))
    operands = [[ctx.input(0)], [ctx.input(1)], [ctx.input(2)] if ctx.has_input(2) else []]
    return ctx.emit(
        dnn.ConvOp(operands=operands, result_types=[ctx.out_type()], properties=props)
    ).results


@converts("MaxPool", "AveragePool")
def pool(ctx: NodeContext) -> Sequence[SSAValue]:
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        raise ctx.error("the Indices output of MaxPool is not supported")
    if ctx.attr("storage_order", 0):
        raise ctx.error("storage_order = 1 is not supported")
    is_max = ctx.node.op_type == "MaxPool"
    if not is_max and any(d != 1 for d in ctx.attr("dilations", [1])):
        raise ctx.error("dilated AveragePool is not supported")
    kernel = list(ctx.attr("kernel_shape"))
    window = _window(ctx, kernel)
    ceil = bool(ctx.attr("ceil_mode", 0))
    props = window.props() | {"kernel_shape": _i64s(kernel)}
    if ceil:
        props["ceil_mode"] = UnitAttr()
    if not is_max and ctx.attr("count_include_pad", 0):
        props["count_include_pad"] = UnitAttr()
    # With ceil_mode, ONNX shape inference keeps a last window that starts in the end
    # padding while onnxruntime (and we) drop it: the result shape is computed here.
    x, n = ctx.shape(0), len(kernel)
    spatial = [
        dnn.window_out(
            x[2 + i],
            kernel[i],
            window.strides[i],
            window.pads[i],
            window.pads[i + n],
            window.dilations[i],
            ceil,
        )  # fmt: skip
        for i in range(n)
    ]
    result = TensorType(ctx.out_type().element_type, [x[0], x[1], *spatial])
    cls = dnn.MaxPoolOp if is_max else dnn.AveragePoolOp
    return ctx.emit(cls(operands=[ctx.input(0)], result_types=[result], properties=props)).results


@converts("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: NodeContext) -> Sequence[SSAValue]:
    rank = len(ctx.shape(0))
    cls = dnn.ReduceMeanOp if ctx.node.op_type == "GlobalAveragePool" else dnn.ReduceMaxOp
    return ctx.emit(cls(ctx.input(0), list(range(2, rank)), True, ctx.out_type())).results


# ---------------------------------------------------------------------------
# Normalisation and reductions


@converts("Softmax", "LogSoftmax")
def softmax(ctx: NodeContext) -> Sequence[SSAValue]:
    rank = len(ctx.shape(0))
    axis = ctx.axis(ctx.attr("axis", -1 if ctx.opset >= 13 else 1), rank)
    if ctx.opset < 13 and axis != rank - 1:
        raise ctx.error(
            f"opset {ctx.opset} Softmax over axis {axis} (not the last) is not supported"
        )
    cls = dnn.SoftmaxOp if ctx.node.op_type == "Softmax" else dnn.LogSoftmaxOp
    op = cls(
        operands=[ctx.input(0)], result_types=[ctx.out_type()], properties={"axis": _int(axis)}
    )
    return ctx.emit(op).results


@converts("LayerNormalization")
def layer_norm(ctx: NodeContext) -> Sequence[SSAValue]:
    if any(o for o in ctx.node.output[1:]):
        raise ctx.error("the Mean / InvStdDev outputs are not supported")
    if ctx.attr("stash_type", 1) != 1:
        raise ctx.error("only stash_type = 1 (float32) is supported")
    axis = ctx.axis(ctx.attr("axis", -1), len(ctx.shape(0)))
    props = {"axis": _int(axis), "epsilon": _f32(ctx.attr("epsilon", 1e-5))}
    operands = [[ctx.input(0)], [ctx.input(1)], [ctx.input(2)] if ctx.has_input(2) else []]
    return ctx.emit(
        dnn.LayerNormOp(operands=operands, result_types=[ctx.out_type()], properties=props)
    ).results


@converts("RMSNorm")
@converts("RMSNormalization")
def rms_norm(ctx: NodeContext) -> Sequence[SSAValue]:
    axis = ctx.axis(ctx.attr("axis", -1), len(ctx.shape(0)))
    # Deeploy's RMSNorm calls it `eps` (default 1e-6); ONNX RMSNormalization `epsilon` (1e-5).
    default = 1e-6 if ctx.node.op_type == "RMSNorm" else 1e-5
    props = {"axis": _int(axis), "epsilon": _f32(ctx.attr("eps", ctx.attr("epsilon", default)))}
    operands = [[ctx.input(0)], [ctx.input(1)] if ctx.has_input(1) else []]
    return ctx.emit(
        dnn.RmsNormOp(operands=operands, result_types=[ctx.out_type()], properties=props)
    ).results


_REDUCE: dict[str, type[dnn.ReduceOp]] = {
    "ReduceMean": dnn.ReduceMeanOp, "ReduceSum": dnn.ReduceSumOp,
    "ReduceMax": dnn.ReduceMaxOp, "ReduceMin": dnn.ReduceMinOp,
}  # fmt: skip


@converts(*_REDUCE)
def reduce(ctx: NodeContext) -> Sequence[SSAValue]:
    rank = len(ctx.shape(0))
    # Axes moved from attribute to input in opset 18 (13 for ReduceSum).
    axes_as_input = ctx.opset >= (13 if ctx.node.op_type == "ReduceSum" else 18)
    if axes_as_input:
        axes = ctx.const(1).tolist() if ctx.has_input(1) else []
    else:
        axes = list(ctx.attr("axes", []))
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return [ctx.input(0)]
        axes = list(range(rank))
    axes = sorted({ctx.axis(a, rank) for a in axes})
    keepdims = bool(ctx.attr("keepdims", 1))
    return ctx.emit(_REDUCE[ctx.node.op_type](ctx.input(0), axes, keepdims, ctx.out_type())).results


# ---------------------------------------------------------------------------
# Data movement


@converts("Gather")
def gather(ctx: NodeContext) -> Sequence[SSAValue]:
    axis = ctx.axis(ctx.attr("axis", 0), len(ctx.shape(0)))
    op = dnn.GatherOp(
        operands=[ctx.input(0), ctx.input(1)],
        result_types=[ctx.out_type()],
        properties={"axis": _int(axis)},
    )
    return ctx.emit(op).results


@converts("Transpose")
def transpose(ctx: NodeContext) -> Sequence[SSAValue]:
    rank = len(ctx.shape(0))
    perm = ctx.attr("perm", list(reversed(range(rank))))
    op = dnn.TransposeOp(
        operands=[ctx.input(0)], result_types=[ctx.out_type()], properties={"perm": _i64s(perm)}
    )
    return ctx.emit(op).results


@converts("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def reshape(ctx: NodeContext) -> Sequence[SSAValue]:
    """All pure re-shapes take their target shape from shape inference's result type."""
    if ctx.shape(0) == ctx.out_type().get_shape():
        return [ctx.input(0)]
    return ctx.emit(dnn.ReshapeOp(operands=[ctx.input(0)], result_types=[ctx.out_type()])).results


@converts("Expand")
def expand(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.shape(0) == ctx.out_type().get_shape():
        return [ctx.input(0)]
    return ctx.emit(dnn.ExpandOp(operands=[ctx.input(0)], result_types=[ctx.out_type()])).results


@converts("Concat")
def concat(ctx: NodeContext) -> Sequence[SSAValue]:
    inputs = [ctx.input(i) for i in range(ctx.n_inputs) if ctx.has_input(i)]
    axis = ctx.axis(ctx.attr("axis"), len(ctx.shape(0)))
    op = dnn.ConcatOp(
        operands=[inputs], result_types=[ctx.out_type()], properties={"axis": _int(axis)}
    )
    return ctx.emit(op).results


@converts("Slice")
def slice_(ctx: NodeContext) -> Sequence[SSAValue]:
    shape = ctx.shape(0)
    rank = len(shape)
    if ctx.opset < 10:
        starts, ends = ctx.attr("starts"), ctx.attr("ends")
        axes, steps = ctx.attr("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = ctx.const(1).tolist(), ctx.const(2).tolist()
        axes = ctx.const(3).tolist() if ctx.has_input(3) else list(range(len(starts)))
        steps = ctx.const(4).tolist() if ctx.has_input(4) else [1] * len(starts)
    full_starts, full_ends, full_steps = [0] * rank, list(shape), [1] * rank
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        a = ctx.axis(a, rank)
        if st == 0:
            raise ctx.error("a Slice step of 0 is invalid")
        # Python's slice.indices clamps exactly as ONNX does (including huge sentinels).
        b, e2, st2 = slice(int(s), int(e), int(st)).indices(shape[a])
        full_starts[a], full_ends[a], full_steps[a] = b, e2, st2
        if st2 < 0 and e2 < 0:
            full_ends[a] = -shape[a] - 1  # "before the first element" for negative steps
    props = {"starts": _i64s(full_starts), "ends": _i64s(full_ends), "steps": _i64s(full_steps)}
    return ctx.emit(
        dnn.SliceOp(operands=[ctx.input(0)], result_types=[ctx.out_type()], properties=props)
    ).results


@converts("Split")
def split(ctx: NodeContext) -> Sequence[SSAValue]:
    axis = ctx.axis(ctx.attr("axis", 0), len(ctx.shape(0)))
    types = [ctx.out_type(i) for i in range(len(ctx.node.output))]
    op = dnn.SplitOp(operands=[ctx.input(0)], result_types=[types], properties={"axis": _int(axis)})
    return ctx.emit(op).results


@converts("Pad")
def pad(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.attr("mode", "constant") != "constant":
        raise ctx.error(f"mode '{ctx.attr('mode')}' is not supported (only 'constant')")
    rank = len(ctx.shape(0))
    if ctx.opset < 11:
        pads, value = list(ctx.attr("pads")), float(ctx.attr("value", 0.0))
    else:
        pads = ctx.const(1).tolist()
        value = float(ctx.const(2).item()) if ctx.has_input(2) else 0.0
        if ctx.has_input(3):
            axes = [ctx.axis(a, rank) for a in ctx.const(3).tolist()]
            full = [0] * 2 * rank
            for k, a in enumerate(axes):
                full[a], full[a + rank] = pads[k], pads[k + len(axes)]
            pads = full
    props: dict[str, Attribute] = {"pads": _i64s(pads)}
    if value != 0.0:
        props["value"] = _f32(value)
    return ctx.emit(
        dnn.PadOp(operands=[ctx.input(0)], result_types=[ctx.out_type()], properties=props)
    ).results


@converts("ScatterND")
def scatter_nd(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.attr("reduction", "none") != "none":
        raise ctx.error(f"reduction '{ctx.attr('reduction')}' is not supported (only 'none')")
    operands = [ctx.input(0), ctx.input(1), ctx.input(2)]
    return ctx.emit(dnn.ScatterNDOp(operands=operands, result_types=[ctx.out_type()])).results


# ---------------------------------------------------------------------------- Deeploy integer ops


def _int_attr(ctx: NodeContext, *names: str, default: int | None = None) -> IntegerAttr:
    """An integer attribute under any of `names` (Deeploy stores some as float tensors)."""
    for name in names:
        value = ctx.attr(name)
        if value is not None:
            if isinstance(value, list):
                if len(value) != 1:
                    raise ctx.error(f"attribute '{name}' must be a scalar, got {len(value)} values")
                value = value[0]
            if float(value) != int(value):
                raise ctx.error(f"attribute '{name}' = {value} is not an integer")
            return _int(int(value))
    if default is None:
        raise ctx.error(f"attribute '{names[0]}' is missing")
    return _int(default)


@converts("RequantShift")
@converts("RequantShift", domain="ai.onnx.contrib")
def requant_shift(ctx: NodeContext) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {
        "div": _int_attr(ctx, "div"),
        "n_levels": _int_attr(ctx, "n_levels_out", "n_levels"),
    }
    if _int_attr(ctx, "signed", default=1).value.data:
        props["signed"] = UnitAttr()
    operands = [ctx.input(0), ctx.input(1), ctx.input(2)]
    op = dnn.RequantShiftOp(operands=operands, result_types=[ctx.out_type()], properties=props)
    return ctx.emit(op).results


def _integer_unary(cls: type[dnn.IntegerUnaryOp], **attrs: tuple[str, ...]) -> Converter:
    def convert(ctx: NodeContext) -> Sequence[SSAValue]:
        props: dict[str, Attribute] = {k: _int_attr(ctx, *names) for k, names in attrs.items()}
        op = cls(operands=[ctx.input(0)], result_types=[ctx.out_type()], properties=props)
        return ctx.emit(op).results

    return convert


CONVERTERS[("", "iSoftmax")] = _integer_unary(
    dnn.ISoftmaxOp,
    coeff_a=("coeffA",), coeff_b=("coeffB",), coeff_c=("coeffC",), log2=("log2",),
    n_levels=("n_levels",),
)  # fmt: skip
CONVERTERS[("", "ITAMax")] = _integer_unary(dnn.ITAMaxOp, n_levels=("n_levels",))
CONVERTERS[("", "iGELU")] = _integer_unary(dnn.IGeluOp, b=("b",), one=("one",))
CONVERTERS[("", "iHardswish")] = _integer_unary(
    dnn.IHardswishOp, one_over_six=("one_over_six",), six=("six",), three=("three",)
)
CONVERTERS[("", "TrueIntegerDiv")] = _integer_unary(
    dnn.TrueIntegerDivOp, delta=("Delta",), eps=("eps",), eta=("eta",), y=("y",)
)


@converts("iRMSNorm")
def i_rms_norm(ctx: NodeContext) -> Sequence[SSAValue]:
    props = {"d": _int_attr(ctx, "D"), "n_levels": _int_attr(ctx, "n_levels")}
    op = dnn.IRMSNormOp(
        operands=[ctx.input(0), ctx.input(1)], result_types=[ctx.out_type()], properties=props
    )
    return ctx.emit(op).results


@converts("iLayerNorm")
def i_layer_norm(ctx: NodeContext) -> Sequence[SSAValue]:
    props = {"d": _int_attr(ctx, "D"), "n_levels": _int_attr(ctx, "n_levels")}
    operands = [ctx.input(0), ctx.input(1), ctx.input(2)]
    op = dnn.ILayerNormOp(operands=operands, result_types=[ctx.out_type()], properties=props)
    return ctx.emit(op).results


@converts("IntegerMean")
def integer_mean(ctx: NodeContext) -> Sequence[SSAValue]:
    rank = len(ctx.shape(0))
    axes = ctx.attr("axes") or list(range(rank))
    axes = sorted({ctx.axis(a, rank) for a in axes})
    keepdims = bool(ctx.attr("keepdims", 1))
    return ctx.emit(dnn.IntegerMeanOp(ctx.input(0), axes, keepdims, ctx.out_type())).results


@converts("QuantizeLinear", "DequantizeLinear")
def qdq(ctx: NodeContext) -> Sequence[SSAValue]:
    rank = len(ctx.shape(0))
    per_tensor = len(ctx.shape(1)) == 0 or ctx.shape(1) == (1,)
    # ONNX ignores `axis` for per-tensor parameters (a rank-1 bias keeps the default 1).
    axis = 0 if per_tensor or not rank else ctx.axis(ctx.attr("axis", 1), rank)
    if ctx.attr("block_size", 0):
        raise ctx.error("blocked quantization (block_size) is not supported")
    if ctx.has_input(2):
        zero_point = ctx.input(2)
    else:  # ONNX default: a uint8 zero point of 0
        zero_point = ctx.emit(dnn.ConstantOp(dnn.constant_attr(np.array(0, np.uint8)))).results[0]
    cls = dnn.QuantizeLinearOp if ctx.node.op_type == "QuantizeLinear" else dnn.DequantizeLinearOp
    op = cls(
        operands=[ctx.input(0), ctx.input(1), zero_point],
        result_types=[ctx.out_type()],
        properties={"axis": _int(axis)},
    )
    return ctx.emit(op).results
