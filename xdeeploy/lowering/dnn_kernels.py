"""Which `runtime_c` kernel computes each `dnn` op, and with which static arguments.

Each function gets the op, its operands' buffers and its results' buffers (allocated
by the caller) and emits `kernel.call`s; everything a kernel needs beyond the buffers
(dimensions, strides, broadcasting) is computed here from the static shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod
from typing import Any

import numpy as np
from xdsl.dialects.builtin import Float32Type, IntegerType, MemRefType, StringAttr
from xdsl.ir import Operation, SSAValue

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import element_type, numpy_dtype
from xdeeploy.dialects.kernel import i32_array
from xdeeploy.lowering.buffers import (
    BufferBuilder,
    broadcast_strides,
    contiguous_strides,
    ctype_enum,
    elem_size,
    numel,
    shape_of,
)

Lower = Callable[[BufferBuilder, Any, list[SSAValue], list[SSAValue]], None]
LOWERINGS: dict[type[Operation], Lower] = {}


def lowers(*op_types: type[Operation]) -> Callable[[Lower], Lower]:
    def register(fn: Lower) -> Lower:
        for t in op_types:
            LOWERINGS[t] = fn
        return fn

    return register


def _require_f32(b: BufferBuilder, *values: SSAValue) -> None:
    for v in values:
        ty = v.type
        assert isinstance(ty, MemRefType)
        if not isinstance(ty.element_type, Float32Type):
            raise b.error(f"element type {ty.element_type} has no C kernel yet (float32 only)")


def _ints(attr: Any) -> list[int]:
    return [int(v) for v in attr.get_values()]


def _enum(name: str) -> StringAttr:
    return StringAttr(name)


# ---------------------------------------------------------------------------- elementwise

_BINARY = {
    dnn.AddOp: "XD_ADD", dnn.SubOp: "XD_SUB", dnn.MulOp: "XD_MUL", dnn.DivOp: "XD_DIV",
    dnn.PowOp: "XD_POW", dnn.MaxOp: "XD_MAX", dnn.MinOp: "XD_MIN",
}  # fmt: skip
_COMPARE = {dnn.EqualOp: "XD_EQUAL", dnn.LessOp: "XD_LESS", dnn.GreaterOp: "XD_GREATER"}


def _broadcast_args(out: SSAValue, *ins: SSAValue) -> list[Any]:
    out_shape = shape_of(out)
    rank = max(len(out_shape), 1)
    dims = list(out_shape) or [1]
    strides = [broadcast_strides(shape_of(v), out_shape) or [0] for v in ins]
    return [rank, i32_array(dims), *(i32_array(s) for s in strides)]


def _as_type(b: BufferBuilder, value: SSAValue, elem: Any) -> SSAValue:
    """`value` itself when it already holds `elem`s, else a widened copy (exact)."""
    ty = value.type
    assert isinstance(ty, MemRefType)
    if ty.element_type == elem:
        return value
    copy = b.alloc(MemRefType(elem, ty.get_shape()))
    b.call("xd_cast", value, ctype_enum(value), copy, ctype_enum(copy), numel(value))
    return copy


def binary_int(b: BufferBuilder, name: str, x: SSAValue, y: SSAValue, out: SSAValue) -> None:
    """out = x `name` y (XD_ADD, XD_SUB, …) on integers broadcast to out, in out's type:
    the operands are widened to it first (int8 + uint8 -> int32). out may be x."""
    ty = out.type
    assert isinstance(ty, MemRefType)
    a, c = _as_type(b, x, ty.element_type), _as_type(b, y, ty.element_type)
    b.call("xd_binary_int", _enum(name), ctype_enum(a), a, c, out,
           *_broadcast_args(out, a, c))  # fmt: skip


@lowers(*_BINARY, *_COMPARE)
def binary(b: BufferBuilder, op: Any, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    lhs, rhs, out = ins[0].type, ins[1].type, outs[0].type
    assert (
        isinstance(lhs, MemRefType) and isinstance(rhs, MemRefType) and isinstance(out, MemRefType)
    )
    if isinstance(lhs.element_type, IntegerType) and isinstance(rhs.element_type, IntegerType):
        if type(op) not in _COMPARE:
            binary_int(b, _BINARY[type(op)], ins[0], ins[1], outs[0])
            return
        # Comparisons in the operands' common type.
        common = element_type(
            np.result_type(numpy_dtype(lhs.element_type), numpy_dtype(rhs.element_type))
        )
        a, c = _as_type(b, ins[0], common), _as_type(b, ins[1], common)
        b.call("xd_compare_int", _enum(_COMPARE[type(op)]), ctype_enum(a), a, c, outs[0],
               *_broadcast_args(outs[0], a, c))  # fmt: skip
        return
    _require_f32(b, *ins)
    if type(op) in _COMPARE:
        b.call("xd_compare_f32", _enum(_COMPARE[type(op)]), ins[0], ins[1], outs[0],
               *_broadcast_args(outs[0], ins[0], ins[1]))  # fmt: skip
    else:
        if type(op) is dnn.PowOp:
            _require_f32(b, outs[0])
        b.call("xd_binary_f32", _enum(_BINARY[type(op)]), ins[0], ins[1], outs[0],
               *_broadcast_args(outs[0], ins[0], ins[1]))  # fmt: skip


@lowers(dnn.WhereOp)
def where(b: BufferBuilder, op: dnn.WhereOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, ins[1], ins[2])
    b.call("xd_where_f32", *ins, outs[0], *_broadcast_args(outs[0], *ins))


_UNARY = {
    dnn.SqrtOp: "XD_SQRT", dnn.NegOp: "XD_NEG", dnn.AbsOp: "XD_ABS", dnn.ExpOp: "XD_EXP",
    dnn.LogOp: "XD_LOG", dnn.ErfOp: "XD_ERF", dnn.TanhOp: "XD_TANH", dnn.ReluOp: "XD_RELU",
    dnn.SigmoidOp: "XD_SIGMOID", dnn.SiluOp: "XD_SILU", dnn.ReciprocalOp: "XD_RECIPROCAL",
    dnn.CosOp: "XD_COS", dnn.SinOp: "XD_SIN", dnn.FloorOp: "XD_FLOOR", dnn.CeilOp: "XD_CEIL",
    dnn.RoundOp: "XD_ROUND", dnn.HardSwishOp: "XD_HARDSWISH",
}  # fmt: skip


def _float(attr: Any, default: float) -> float:
    return default if attr is None else float(attr.value.data)


@lowers(*_UNARY, dnn.GeluOp, dnn.HardSigmoidOp, dnn.LeakyReluOp, dnn.ClipOp)
def unary(b: BufferBuilder, op: Any, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, ins[0])
    alpha, beta = 0.0, 0.0
    match op:
        case dnn.GeluOp():
            tanh = op.approximate is not None and op.approximate.data == "tanh"
            name = "XD_GELU_TANH" if tanh else "XD_GELU"
        case dnn.HardSigmoidOp():
            name, alpha, beta = "XD_HARDSIGMOID", _float(op.alpha, 0.2), _float(op.beta, 0.5)
        case dnn.LeakyReluOp():
            name, alpha = "XD_LEAKY_RELU", _float(op.alpha, 0.01)
        case dnn.ClipOp():
            name, alpha, beta = "XD_CLIP", _float(op.min, -np.inf), _float(op.max, np.inf)
        case _:
            name = _UNARY[type(op)]
    b.call("xd_unary_f32", _enum(name), ins[0], outs[0], numel(ins[0]), alpha, beta)


@lowers(dnn.CastOp)
def cast(b: BufferBuilder, op: dnn.CastOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    b.call("xd_cast", ins[0], ctype_enum(ins[0]), outs[0], ctype_enum(outs[0]), numel(ins[0]))


# ---------------------------------------------------------------------------- linear algebra


@lowers(dnn.MatmulOp)
def matmul(b: BufferBuilder, op: dnn.MatmulOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, *ins)
    a_shape, b_shape = list(shape_of(ins[0])), list(shape_of(ins[1]))
    a2 = [1, *a_shape] if len(a_shape) == 1 else a_shape
    b2 = [*b_shape, 1] if len(b_shape) == 1 else b_shape
    m, k, n = a2[-2], a2[-1], b2[-1]
    batch = list(np.broadcast_shapes(tuple(a2[:-2]), tuple(b2[:-2])))
    a_strides = [s * m * k for s in broadcast_strides(a2[:-2], batch)]
    b_strides = [s * k * n for s in broadcast_strides(b2[:-2], batch)]
    b.call("xd_matmul_f32", ins[0], ins[1], outs[0], m, k, n, len(batch),
           i32_array(batch), i32_array(a_strides), i32_array(b_strides))  # fmt: skip


@lowers(dnn.GemmOp)
def gemm(b: BufferBuilder, op: dnn.GemmOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, *ins)
    m, n = shape_of(outs[0])
    a_shape = shape_of(ins[0])
    k = a_shape[0] if op.trans_a else a_shape[1]
    c = ins[2] if len(ins) > 2 else None
    c_rs, c_cs = broadcast_strides(shape_of(c), (m, n)) if c is not None else (0, 0)
    b.call("xd_gemm_f32", ins[0], ins[1], c, outs[0], m, k, n,
           int(op.trans_a is not None), int(op.trans_b is not None),
           _float(op.alpha, 1.0), _float(op.beta, 1.0), c_rs, c_cs)  # fmt: skip


# ---------------------------------------------------------------------------- windows


def _as_2d(
    b: BufferBuilder, op: dnn.WindowOp, x: Sequence[int], kernel: Sequence[int]
) -> tuple[list[int], ...]:
    """(in hw, kernel hw, strides, pads begin, pads end, dilations) with 1-D as h = 1."""
    strides, pads, dilations = _ints(op.strides), _ints(op.pads), _ints(op.dilations)
    spatial = len(x) - 2
    if spatial == 1:
        return (
            [1, x[2]],
            [1, kernel[0]],
            [1, strides[0]],
            [0, pads[0]],
            [0, pads[1]],
            [1, dilations[0]],
        )
    if spatial == 2:
        return (list(x[2:]), list(kernel), strides, pads[:2], pads[2:], dilations)
    raise b.error(f"{spatial}-D windows have no C kernel (1-D and 2-D only)")


@lowers(dnn.ConvOp)
def conv(b: BufferBuilder, op: dnn.ConvOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, *ins)
    x, w, y = shape_of(ins[0]), shape_of(ins[1]), shape_of(outs[0])
    (h, wd), (kh, kw), (sh, sw), (ph, pw), _, (dh, dw) = _as_2d(b, op, x, w[2:])
    oh, ow = (1, y[2]) if len(y) == 3 else (y[2], y[3])
    bias = ins[2] if len(ins) > 2 else None
    b.call("xd_conv2d_f32", ins[0], ins[1], bias, outs[0], x[0], x[1], h, wd, w[0], kh, kw,
           oh, ow, sh, sw, ph, pw, dh, dw, op.group.value.data)  # fmt: skip


@lowers(dnn.MaxPoolOp, dnn.AveragePoolOp)
def pool(b: BufferBuilder, op: Any, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, *ins)
    x, y = shape_of(ins[0]), shape_of(outs[0])
    (h, wd), (kh, kw), (sh, sw), (ph, pw), (phe, pwe), (dh, dw) = _as_2d(
        b, op, x, _ints(op.kernel_shape)
    )
    oh, ow = (1, y[2]) if len(y) == 3 else (y[2], y[3])
    planes = x[0] * x[1]
    if isinstance(op, dnn.MaxPoolOp):
        b.call("xd_maxpool2d_f32", ins[0], outs[0], planes, h, wd, oh, ow, kh, kw, sh, sw,
               ph, pw, dh, dw)  # fmt: skip
    else:
        b.call("xd_avgpool2d_f32", ins[0], outs[0], planes, h, wd, oh, ow, kh, kw, sh, sw,
               ph, pw, phe, pwe, int(op.count_include_pad is not None))  # fmt: skip


# ---------------------------------------------------------------------------- norms


def _split_at(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    return prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])


@lowers(dnn.SoftmaxOp, dnn.LogSoftmaxOp)
def softmax(b: BufferBuilder, op: Any, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, *ins)
    outer, length, inner = _split_at(shape_of(ins[0]), op.axis.value.data)
    b.call("xd_softmax_f32", ins[0], outs[0], outer, length, inner,
           int(isinstance(op, dnn.LogSoftmaxOp)))  # fmt: skip


def _full_param(
    b: BufferBuilder, param: SSAValue | None, normalized: Sequence[int]
) -> SSAValue | None:
    """A norm's scale/bias expanded to the normalised dims if it broadcasts."""
    if param is None or shape_of(param) == tuple(normalized):
        return param
    full = b.alloc(MemRefType(Float32Type(), list(normalized)))
    strides = broadcast_strides(shape_of(param), normalized) or [0]
    b.call("xd_strided_copy", param, full, 4, max(len(normalized), 1),
           i32_array(list(normalized) or [1]), i32_array(strides))  # fmt: skip
    return full


@lowers(dnn.LayerNormOp, dnn.RmsNormOp)
def norm(b: BufferBuilder, op: Any, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_f32(b, *ins)
    shape, axis = shape_of(ins[0]), op.axis.value.data
    outer, inner = prod(shape[:axis]), prod(shape[axis:])
    params = [_full_param(b, p, shape[axis:]) for p in ins[1:]]
    eps = float(op.epsilon.value.data)
    if isinstance(op, dnn.LayerNormOp):
        bias = params[1] if len(params) > 1 else None
        b.call("xd_layernorm_f32", ins[0], params[0], bias, outs[0], outer, inner, eps)
    else:
        scale = params[0] if params else None
        b.call("xd_rmsnorm_f32", ins[0], scale, outs[0], outer, inner, eps)


_REDUCE = {
    dnn.ReduceSumOp: "XD_RSUM", dnn.ReduceMeanOp: "XD_RMEAN",
    dnn.ReduceMaxOp: "XD_RMAX", dnn.ReduceMinOp: "XD_RMIN",
}  # fmt: skip


@lowers(*_REDUCE)
def reduce(b: BufferBuilder, op: Any, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """One pass per run of adjacent axes, last run first (means of equal-size groups
    compose, as do sums, maxima and minima)."""
    _require_f32(b, *ins)
    axes = sorted(_ints(op.axes))
    runs: list[list[int]] = []
    for a in axes:
        if runs and runs[-1][-1] == a - 1:
            runs[-1].append(a)
        else:
            runs.append([a])
    shape = list(shape_of(ins[0]))
    src = ins[0]
    for k, run in enumerate(reversed(runs)):
        outer = prod(shape[: run[0]])
        length = prod(shape[run[0] : run[-1] + 1])
        inner = prod(shape[run[-1] + 1 :])
        shape = [*shape[: run[0]], 1, *shape[run[-1] + 1 :]]
        last = k == len(runs) - 1
        dst = outs[0] if last else b.alloc(MemRefType(Float32Type(), shape))
        b.call("xd_reduce_f32", _enum(_REDUCE[type(op)]), src, dst, outer, length, inner)
        src = dst


# ---------------------------------------------------------------------------- data movement


def _strided(b: BufferBuilder, x: SSAValue, out: SSAValue, strides: Sequence[int]) -> None:
    dims = list(shape_of(out)) or [1]
    b.call("xd_strided_copy", x, out, elem_size(x), len(dims), i32_array(dims),
           i32_array(list(strides) or [0]))  # fmt: skip


@lowers(dnn.TransposeOp)
def transpose(
    b: BufferBuilder, op: dnn.TransposeOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    own = contiguous_strides(shape_of(ins[0]))
    _strided(b, ins[0], outs[0], [own[p] for p in _ints(op.perm)])


@lowers(dnn.ExpandOp)
def expand(b: BufferBuilder, op: dnn.ExpandOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _strided(b, ins[0], outs[0], broadcast_strides(shape_of(ins[0]), shape_of(outs[0])))


@lowers(dnn.SliceOp)
def slice_(b: BufferBuilder, op: dnn.SliceOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    shape = shape_of(ins[0])
    own = contiguous_strides(shape)
    starts = [slice(s, e, st).indices(d)[0] for s, e, st, d in
              zip(_ints(op.starts), _ints(op.ends), _ints(op.steps), shape, strict=True)]  # fmt: skip
    offset = sum(s * st for s, st in zip(starts, own, strict=True))
    src = b.view(ins[0], [numel(ins[0]) - offset], offset) if offset else ins[0]
    _strided(b, src, outs[0], [st * step for st, step in zip(own, _ints(op.steps), strict=True)])


@lowers(dnn.ConcatOp)
def concat(b: BufferBuilder, op: dnn.ConcatOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    out_shape = shape_of(outs[0])
    axis = op.axis.value.data
    rows, inner = prod(out_shape[:axis]), prod(out_shape[axis + 1 :])
    out_row = out_shape[axis] * inner
    offset = 0
    for x in ins:
        row_len = shape_of(x)[axis] * inner
        dst = b.view(outs[0], [numel(outs[0]) - offset], offset) if offset else outs[0]
        b.call("xd_copy_rows", x, dst, elem_size(x), rows, row_len, row_len, out_row)
        offset += row_len


@lowers(dnn.SplitOp)
def split(b: BufferBuilder, op: dnn.SplitOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    in_shape = shape_of(ins[0])
    axis = op.axis.value.data
    rows, inner = prod(in_shape[:axis]), prod(in_shape[axis + 1 :])
    in_row = in_shape[axis] * inner
    offset = 0
    for y in outs:
        row_len = shape_of(y)[axis] * inner
        src = b.view(ins[0], [numel(ins[0]) - offset], offset) if offset else ins[0]
        b.call("xd_copy_rows", src, y, elem_size(y), rows, row_len, in_row, row_len)
        offset += row_len


@lowers(dnn.GatherOp)
def gather(b: BufferBuilder, op: dnn.GatherOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    idx_ty = ins[1].type
    assert isinstance(idx_ty, MemRefType) and isinstance(idx_ty.element_type, IntegerType)
    width = idx_ty.element_type.width.data
    if width not in (32, 64):
        raise b.error(f"i{width} indices have no C kernel (i32 or i64)")
    outer, length, inner = _split_at(shape_of(ins[0]), op.axis.value.data)
    b.call("xd_gather", ins[0], ins[1], outs[0], elem_size(ins[0]), width // 8, outer, length,
           inner, numel(ins[1]))  # fmt: skip


@lowers(dnn.PadOp)
def pad(b: BufferBuilder, op: dnn.PadOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x_ty = ins[0].type
    assert isinstance(x_ty, MemRefType)
    from xdeeploy.dialects.dtypes import numpy_dtype

    value = b.constant(
        np.array([_float(op.value, 0.0)]).astype(numpy_dtype(x_ty.element_type)), "pad_value"
    )
    pads, rank = _ints(op.pads), len(shape_of(ins[0]))
    b.call("xd_pad", ins[0], outs[0], elem_size(ins[0]), rank, i32_array(shape_of(ins[0])),
           i32_array(pads[:rank]), i32_array(shape_of(outs[0])), value)  # fmt: skip


@lowers(dnn.ScatterNDOp)
def scatter_nd(
    b: BufferBuilder, op: dnn.ScatterNDOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    data, indices, updates = ins
    idx_ty = indices.type
    assert isinstance(idx_ty, MemRefType)
    if idx_ty.element_type != IntegerType(64):
        raise b.error("ScatterND indices must be int64 for the C kernel")
    q = shape_of(indices)[-1]
    data_shape = shape_of(data)
    if outs[0] is not data:
        b.call("xd_copy", data, outs[0], elem_size(data), numel(data))
    b.call("xd_scatter_nd", outs[0], indices, updates, elem_size(data),
           numel(indices) // q, q, i32_array(data_shape[:q]), prod(data_shape[q:]))  # fmt: skip


@lowers(dnn.QuantizeLinearOp, dnn.DequantizeLinearOp)
def qdq(b: BufferBuilder, op: Any, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    x, scale, zero_point = ins
    shape = shape_of(x)
    channels = numel(scale)
    if channels > 1:
        outer, _, inner = _split_at(shape, op.axis.value.data)
    else:
        outer, inner = 1, numel(x)
    if isinstance(op, dnn.QuantizeLinearOp):
        b.call("xd_quantize_linear", x, scale, zero_point, ctype_enum(outs[0]), outs[0],
               outer, channels, inner)  # fmt: skip
    else:
        b.call("xd_dequantize_linear", x, ctype_enum(x), scale, zero_point, outs[0],
               outer, channels, inner)  # fmt: skip


from xdeeploy.lowering import integer_kernels as _integer_kernels  # noqa: E402, F401  (registers)
