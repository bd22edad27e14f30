"""Lowerings of integer-typed `dnn` ops to the integer kernels of `runtime_c/src/integer.c`.

Deeploy's integer operators (`dnn.requant_shift`, `dnn.i_softmax`, …) need integer
operands (the module has been through `dnn-infer-int-types`, or was written typed).
`dnn.matmul`, `dnn.gemm`, `dnn.conv` and `dnn.max_pool` dispatch on their operands'
element types: integer operands take the integer kernels, everything else the float
lowerings of `dnn_kernels` unchanged. Every buffer is passed with its `xd_type`, so the
kernels read any integer operand type and store into the result's type.

Registration happens when `dnn_kernels` imports this module (at its end).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from math import prod
from typing import Any

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerType, MemRefType, StringAttr, i64
from xdsl.ir import SSAValue

from xdeeploy.dialects import dnn, kernel
from xdeeploy.dialects.kernel import i32_array
from xdeeploy.interp.integer_reference import true_integer_div_coeff
from xdeeploy.lowering import dnn_kernels as fk
from xdeeploy.lowering.buffers import (
    BufferBuilder,
    broadcast_strides,
    contiguous_strides,
    ctype_enum,
    numel,
    shape_of,
)
from xdeeploy.lowering.dnn_kernels import lowers
from xdeeploy.passes import value_range as vr
from xdeeploy.passes.value_range import value_range

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1

INTEGER_ONLY_OPS: frozenset[type[dnn.DnnOp]] = frozenset({
    dnn.RequantShiftOp, dnn.ISoftmaxOp, dnn.ITAMaxOp, dnn.IRMSNormOp, dnn.ILayerNormOp,
    dnn.IGeluOp, dnn.IHardswishOp, dnn.TrueIntegerDivOp, dnn.IntegerMeanOp,
})  # fmt: skip
"""The ops lowered only when integer-typed (Deeploy's integer operators): imported ONNX
graphs carry them as fake-quantized floats until `dnn-infer-int-types` types them."""


def _is_int(value: SSAValue) -> bool:
    ty = value.type
    assert isinstance(ty, MemRefType)
    return isinstance(ty.element_type, IntegerType) and ty.element_type.width.data > 1


def _all_int(*values: SSAValue) -> bool:
    return all(_is_int(v) for v in values)


def _require_int(b: BufferBuilder, *values: SSAValue) -> None:
    for v in values:
        if not _is_int(v):
            ty = v.type
            assert isinstance(ty, MemRefType)
            raise b.error(
                f"element type {ty.element_type}: the integer kernels need integer tensors "
                "(type the graph with dnn-infer-int-types first)"
            )


def _require_bytes(b: BufferBuilder, value: SSAValue, what: str) -> None:
    ty = value.type
    assert isinstance(ty, MemRefType)
    if not (isinstance(ty.element_type, IntegerType) and ty.element_type.width.data == 8):
        raise b.error(f"{what} must be an 8-bit integer tensor, not {ty.element_type}")


def _i32(b: BufferBuilder, what: str, value: int) -> int:
    """`value` as a kernel's int32_t argument; an error names it when it does not fit."""
    if not _I32_MIN <= value <= _I32_MAX:
        raise b.error(f"{what} = {value} does not fit the kernel's int32 argument")
    return value


def _v(attr: Any) -> int:
    return int(attr.value.data)


def _rows(b: BufferBuilder, value: SSAValue) -> tuple[int, int]:
    """(rows, row length) of a tensor processed row-wise over its last axis."""
    shape = shape_of(value)
    if not shape:
        raise b.error("a 0-d tensor has no last axis to normalise over")
    length = shape[-1]
    return (prod(shape[:-1]) if length else 0), length


def _log2_d(b: BufferBuilder, d: int) -> int:
    """Deeploy's parsers turn `D` into a shift as ``int(math.log2(D))``."""
    if d <= 0:
        raise b.error(f"D must be positive, got {d}")
    return int(math.log2(d))


def _no_type() -> StringAttr:
    """The xd_type passed with an absent (NULL) operand."""
    return StringAttr("XD_T_I32")


# ---------------------------------------------------------------------------- RequantShift


@lowers(dnn.RequantShiftOp)
def requant_shift(
    b: BufferBuilder, op: dnn.RequantShiftOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    _require_int(b, *ins, outs[0])
    levels = _v(op.n_levels)
    lo, hi = (-(levels // 2), levels // 2 - 1) if op.signed is not None else (0, levels - 1)
    x, mul, add = ins
    shift = _v(op.div).bit_length() - 1
    call = b.call("xd_requant_shift", x, ctype_enum(x), mul, ctype_enum(mul), add,
                  ctype_enum(add), outs[0], ctype_enum(outs[0]),
                  *fk._broadcast_args(outs[0], x, mul, add), shift,
                  _i32(b, "the lowest level", lo), _i32(b, "the highest level", hi))  # fmt: skip
    bounds = requant_bounds(op, shift)
    if bounds is not None:
        call.attributes[kernel.REQUANT_RANGE_ATTR] = DenseArrayBase.from_list(i64, list(bounds))


def requant_bounds(op: dnn.RequantShiftOp, shift: int) -> tuple[int, int] | None:
    """Bounds of x·mul and of x·mul + add + 2^(shift-1), the values the requantization
    computes before its shift, from what produces x, mul and add."""
    x, m, a = (value_range(v) for v in (op.input, op.mul, op.add))
    if x is None or m is None or a is None:
        return None
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    rounded = vr.add(a, (rnd, rnd))
    products = vr.product(x, m)
    total = vr.add(products, rounded)
    return min(products[0], rounded[0], total[0]), max(products[1], rounded[1], total[1])


# ---------------------------------------------------------------------------- linear algebra


def _matmul_int(b: BufferBuilder, ins: list[SSAValue], out: SSAValue) -> None:
    a_shape, b_shape = list(shape_of(ins[0])), list(shape_of(ins[1]))
    a2 = [1, *a_shape] if len(a_shape) == 1 else a_shape
    b2 = [*b_shape, 1] if len(b_shape) == 1 else b_shape
    m, k, n = a2[-2], a2[-1], b2[-1]
    batch = list(np.broadcast_shapes(tuple(a2[:-2]), tuple(b2[:-2])))
    a_strides = [s * m * k for s in broadcast_strides(a2[:-2], batch)]
    b_strides = [s * k * n for s in broadcast_strides(b2[:-2], batch)]
    b.call("xd_matmul_int", ins[0], ctype_enum(ins[0]), ins[1], ctype_enum(ins[1]), out,
           ctype_enum(out), m, k, n, len(batch), i32_array(batch), i32_array(a_strides),
           i32_array(b_strides))  # fmt: skip


@lowers(dnn.MatmulOp)
def matmul(b: BufferBuilder, op: dnn.MatmulOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    if not _all_int(*ins):
        fk.matmul(b, op, ins, outs)
        return
    _require_int(b, outs[0])
    _matmul_int(b, ins, outs[0])


def _integral(b: BufferBuilder, what: str, attr: Any) -> int:
    value = 1.0 if attr is None else float(attr.value.data)
    if not value.is_integer():
        raise b.error(f"integer gemm needs an integral {what}, got {value}")
    return _i32(b, what, int(value))


@lowers(dnn.GemmOp)
def gemm(b: BufferBuilder, op: dnn.GemmOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    if not _all_int(*ins):
        fk.gemm(b, op, ins, outs)
        return
    _require_int(b, outs[0])
    m, n = shape_of(outs[0])
    a_shape = shape_of(ins[0])
    k = a_shape[0] if op.trans_a else a_shape[1]
    c = ins[2] if len(ins) > 2 else None
    c_rs, c_cs = broadcast_strides(shape_of(c), (m, n)) if c is not None else (0, 0)
    b.call("xd_gemm_int", ins[0], ctype_enum(ins[0]), ins[1], ctype_enum(ins[1]), c,
           ctype_enum(c) if c is not None else _no_type(), outs[0], ctype_enum(outs[0]),
           m, k, n, int(op.trans_a is not None), int(op.trans_b is not None),
           _integral(b, "alpha", op.alpha), _integral(b, "beta", op.beta), c_rs, c_cs)  # fmt: skip


# ---------------------------------------------------------------------------- windows


@lowers(dnn.ConvOp)
def conv(b: BufferBuilder, op: dnn.ConvOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    if not _all_int(*ins):
        fk.conv(b, op, ins, outs)
        return
    _require_int(b, outs[0])
    x, w, y = shape_of(ins[0]), shape_of(ins[1]), shape_of(outs[0])
    (h, wd), (kh, kw), (sh, sw), (ph, pw), _, (dh, dw) = fk._as_2d(b, op, x, w[2:])
    oh, ow = (1, y[2]) if len(y) == 3 else (y[2], y[3])
    bias = ins[2] if len(ins) > 2 else None
    b.call("xd_conv2d_int", ins[0], ctype_enum(ins[0]), ins[1], ctype_enum(ins[1]), bias,
           ctype_enum(bias) if bias is not None else _no_type(), outs[0], ctype_enum(outs[0]),
           x[0], x[1], h, wd, w[0], kh, kw, oh, ow, sh, sw, ph, pw, dh, dw,
           op.group.value.data)  # fmt: skip


@lowers(dnn.MaxPoolOp)
def max_pool(
    b: BufferBuilder, op: dnn.MaxPoolOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    if not _all_int(*ins):
        fk.pool(b, op, ins, outs)
        return
    x, y = shape_of(ins[0]), shape_of(outs[0])
    (h, wd), (kh, kw), (sh, sw), (ph, pw), _, (dh, dw) = fk._as_2d(
        b, op, x, fk._ints(op.kernel_shape)
    )
    oh, ow = (1, y[2]) if len(y) == 3 else (y[2], y[3])
    b.call("xd_maxpool2d_int", ins[0], outs[0], ctype_enum(ins[0]), x[0] * x[1], h, wd, oh, ow,
           kh, kw, sh, sw, ph, pw, dh, dw)  # fmt: skip


# ---------------------------------------------------------------------------- softmax and norms


@lowers(dnn.ISoftmaxOp)
def i_softmax(
    b: BufferBuilder, op: dnn.ISoftmaxOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    _require_int(b, ins[0])
    _require_bytes(b, outs[0], "the iSoftmax result")
    log2 = _v(op.log2)
    if log2 <= 0:
        raise b.error(f"iSoftmax: log2 must be positive, got {log2}")
    rows, length = _rows(b, ins[0])
    params = [
        _i32(b, name, _v(attr))
        for name, attr in (("coeffA", op.coeff_a), ("coeffB", op.coeff_b), ("coeffC", op.coeff_c))
    ]
    b.call("xd_isoftmax", ins[0], ctype_enum(ins[0]), outs[0], rows, length, *params,
           _i32(b, "log2", log2), _i32(b, "n_levels", _v(op.n_levels)))  # fmt: skip


@lowers(dnn.ITAMaxOp)
def ita_max(b: BufferBuilder, op: dnn.ITAMaxOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_int(b, ins[0])
    _require_bytes(b, outs[0], "the ITAMax result")
    rows, length = _rows(b, ins[0])
    b.call("xd_ita_max", ins[0], ctype_enum(ins[0]), outs[0], rows, length,
           _i32(b, "n_levels", _v(op.n_levels)))  # fmt: skip


def _row_params(b: BufferBuilder, length: int, *params: SSAValue) -> None:
    for p in params:
        if numel(p) != length:
            raise b.error(f"a weight/bias of {numel(p)} elements for rows of {length}")


@lowers(dnn.IRMSNormOp)
def i_rms_norm(
    b: BufferBuilder, op: dnn.IRMSNormOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    _require_int(b, *ins)
    _require_bytes(b, outs[0], "the iRMSNorm result")
    rows, length = _rows(b, ins[0])
    _row_params(b, length, ins[1])
    b.call("xd_irmsnorm", ins[0], ctype_enum(ins[0]), ins[1], ctype_enum(ins[1]), outs[0],
           rows, length, _log2_d(b, _v(op.d)))  # fmt: skip


@lowers(dnn.ILayerNormOp)
def i_layer_norm(
    b: BufferBuilder, op: dnn.ILayerNormOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    _require_int(b, *ins)
    _require_bytes(b, outs[0], "the iLayerNorm result")
    rows, length = _rows(b, ins[0])
    _row_params(b, length, ins[1], ins[2])
    b.call("xd_ilayernorm", ins[0], ctype_enum(ins[0]), ins[1], ctype_enum(ins[1]), ins[2],
           ctype_enum(ins[2]), outs[0], rows, length, _log2_d(b, _v(op.d)))  # fmt: skip


# ---------------------------------------------------------------------------- elementwise


@lowers(dnn.IGeluOp)
def i_gelu(b: BufferBuilder, op: dnn.IGeluOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    _require_int(b, ins[0], outs[0])
    b.call("xd_igelu", ins[0], ctype_enum(ins[0]), outs[0], ctype_enum(outs[0]), numel(ins[0]),
           _i32(b, "b", _v(op.b)), _i32(b, "one", _v(op.one)))  # fmt: skip


@lowers(dnn.IHardswishOp)
def i_hardswish(
    b: BufferBuilder, op: dnn.IHardswishOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    _require_int(b, ins[0], outs[0])
    params = [
        _i32(b, name, _v(attr))
        for name, attr in (("one_over_six", op.one_over_six), ("six", op.six), ("three", op.three))
    ]
    b.call("xd_ihardswish", ins[0], ctype_enum(ins[0]), outs[0], ctype_enum(outs[0]),
           numel(ins[0]), *params)  # fmt: skip


@lowers(dnn.TrueIntegerDivOp)
def true_integer_div(
    b: BufferBuilder, op: dnn.TrueIntegerDivOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    _require_int(b, ins[0], outs[0])
    try:
        coeff = true_integer_div_coeff(
            Delta=_v(op.delta), eps=_v(op.eps), eta=_v(op.eta), y=_v(op.y)
        )
    except ZeroDivisionError:
        raise b.error("TrueIntegerDiv: y * eta + eps is 0") from None
    b.call("xd_true_integer_div", ins[0], ctype_enum(ins[0]), outs[0], ctype_enum(outs[0]),
           numel(ins[0]), _i32(b, "the coefficient Delta*eta // (y*eta + eps)", coeff))  # fmt: skip


# ---------------------------------------------------------------------------- IntegerMean


def _contiguous_run(axes: Sequence[int]) -> bool:
    return list(axes) == list(range(axes[0], axes[-1] + 1))


@lowers(dnn.IntegerMeanOp)
def integer_mean(
    b: BufferBuilder, op: dnn.IntegerMeanOp, ins: list[SSAValue], outs: list[SSAValue]
) -> None:
    """One pass over all reduced axes (Deeploy's rounding does not compose): axes that
    are not adjacent are first gathered behind the kept ones by a strided copy."""
    _require_int(b, ins[0], outs[0])
    shape = list(shape_of(ins[0]))
    axes = sorted(fk._ints(op.axes))
    length = prod(shape[a] for a in axes)
    if length == 0:
        raise b.error("IntegerMean over an empty axis")
    keepdims = op.keepdims is not None
    shift = length.bit_length() - 1 if length & (length - 1) == 0 and not keepdims else -1
    src = ins[0]
    if not axes:
        outer, inner = numel(src), 1
    elif _contiguous_run(axes):
        outer, inner = prod(shape[: axes[0]]), prod(shape[axes[-1] + 1 :])
    else:
        kept = [i for i in range(len(shape)) if i not in axes]
        perm = kept + axes
        ty = src.type
        assert isinstance(ty, MemRefType)
        gathered = b.alloc(MemRefType(ty.element_type, [shape[p] for p in perm]))
        own = contiguous_strides(shape)
        fk._strided(b, src, gathered, [own[p] for p in perm])
        src, outer, inner = gathered, prod(shape[k] for k in kept), 1
    b.call("xd_integer_mean", src, ctype_enum(src), outs[0], ctype_enum(outs[0]), outer, length,
           inner, shift)  # fmt: skip
