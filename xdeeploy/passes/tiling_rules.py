"""How each `dnn` op can be cut into tiles: its iteration space and how every operand
follows it (the geometric constraints of `dnn-tile`).

A rule names the op's iteration dims (the result's dims for the ops handled here) and,
for each operand and result in order, which dim each of its axes follows:

* elementwise ops (with ONNX broadcasting): every result dim splits; a broadcast operand
  axis (size 1 against a larger result dim) is a fixed axis of one element;
* matmul: batch dims, rows M and columns N split, the contraction K stays whole (a tile
  of the output is final after one kernel call; no partial sums cross tiles);
* gemm: M and N split, K whole, the bias broadcast like an elementwise operand;
* softmax, layer/RMS norms and Deeploy's integer row ops: the rows split, the normalised
  axes stay whole (a row needs all its elements);
* quantize/dequantize: elementwise, a per-axis scale follows its axis.

Ops without a rule are not tiled: they run on their buffers where they live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from math import prod

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.passes.dnn_map_engines import NpuConv, NpuMatmul
from xdeeploy.passes.tile_solver import Axis, Dim, Operand


@dataclass(frozen=True)
class OpTiling:
    """The iteration space of one op and the access of each operand and result (in the
    order of `op.operands` then `op.results`)."""

    dims: tuple[Dim, ...]
    accesses: tuple[Operand, ...]
    scratch: tuple[Operand, ...] = ()
    """Work buffers the kernel lowering allocates per tile (L1, no DMA)."""


def _shape(value: SSAValue) -> tuple[int, ...]:
    return dnn.shape_of(value)


def _elem_bytes(value: SSAValue) -> int:
    ty = value.type
    assert isinstance(ty, TensorType)
    return numpy_dtype(ty.element_type).itemsize


def _dims(shape: Sequence[int], whole_from: int | None = None) -> tuple[Dim, ...]:
    """Dims d0.. of `shape`; those from `whole_from` on stay whole. The innermost split
    dim prefers multiples of 4 (the 8-bit SIMD width of the cluster cores)."""
    whole = len(shape) if whole_from is None else whole_from
    dims = []
    for i, size in enumerate(shape):
        splittable = i < whole
        innermost = i == whole - 1
        align = 4 if splittable and innermost and size % 4 == 0 else 1
        dims.append(Dim(f"d{i}", size, splittable, align))
    return tuple(dims)


def _broadcast(
    value: SSAValue, out_shape: Sequence[int], name: str, output: bool = False
) -> Operand:
    """An operand broadcast (right-aligned) against the iteration dims d0.. of `out_shape`."""
    shape = _shape(value)
    lead = len(out_shape) - len(shape)
    axes = tuple(
        Axis(None, 1) if size == 1 and out_shape[i + lead] != 1 else Axis(f"d{i + lead}")
        for i, size in enumerate(shape)
    )
    return Operand(name, axes, _elem_bytes(value), output)


def _fixed(value: SSAValue, name: str, output: bool = False) -> Operand:
    """An operand read (or written) whole by every tile (a norm's weights)."""
    return Operand(name, tuple(Axis(None, s) for s in _shape(value)), _elem_bytes(value),
                   output)  # fmt: skip


def _widened(op: Operation) -> list[Operand]:
    """The copies an integer binary op's kernel lowering makes of operands narrower than
    the type it computes in (the result's; the operands' common type for comparisons):
    per-tile scratch in L1."""
    if not isinstance(op, dnn.ElementwiseBinaryOp):
        return []
    types = [v.type for v in (*op.operands, op.results[0])]
    if not all(isinstance(t, TensorType) for t in types):
        return []
    dtypes = [numpy_dtype(t.element_type) for t in types]  # type: ignore[union-attr]
    if any(d.kind not in "iu" for d in dtypes):
        return []
    common = np.result_type(*dtypes[:2]) if op.BOOLEAN_RESULT else dtypes[-1]
    out = _shape(op.results[0])
    return [
        replace(_broadcast(v, out, f"in{k}_wide"), elem_bytes=common.itemsize, scratch=True)
        for k, (v, d) in enumerate(zip(op.operands, dtypes, strict=False))
        if d != common
    ]


def _elementwise(op: Operation) -> OpTiling:
    out = _shape(op.results[0])
    accesses = [_broadcast(v, out, f"in{k}") for k, v in enumerate(op.operands)]
    accesses.append(_broadcast(op.results[0], out, "out", output=True))
    return OpTiling(_dims(out), tuple(accesses), tuple(_widened(op)))


def _rows(op: Operation, whole_from: int) -> OpTiling:
    """Row ops: dims before `whole_from` split; the input and result follow all dims,
    any further operand (weights) is read whole."""
    x, y = op.operands[0], op.results[0]
    shape = _shape(x)
    follow = tuple(Axis(f"d{i}") for i in range(len(shape)))
    accesses = [Operand("in0", follow, _elem_bytes(x))]
    accesses += [_fixed(v, f"in{k}") for k, v in enumerate(op.operands[1:], start=1)]
    accesses.append(Operand("out", follow, _elem_bytes(y), True))
    return OpTiling(_dims(shape, whole_from), tuple(accesses))


def _matmul(op: dnn.MatmulOp) -> OpTiling | None:
    a, b, y = _shape(op.lhs), _shape(op.rhs), _shape(op.result)
    if len(a) < 2 or len(b) < 2:
        return None
    rank = len(y)
    m, n = f"d{rank - 2}", f"d{rank - 1}"
    k = a[-1]

    def batch(shape: Sequence[int]) -> tuple[Axis, ...]:
        lead = rank - len(shape)
        return tuple(
            Axis(None, 1) if s == 1 and y[i + lead] != 1 else Axis(f"d{i + lead}")
            for i, s in enumerate(shape[:-2])
        )

    accesses = (
        Operand("a", (*batch(a), Axis(m), Axis(None, k)), _elem_bytes(op.lhs)),
        Operand("b", (*batch(b), Axis(None, k), Axis(n)), _elem_bytes(op.rhs)),
        Operand("out", tuple(Axis(f"d{i}") for i in range(rank)), _elem_bytes(op.result), True),
    )
    return OpTiling(_dims(y), accesses)


def _gemm(op: dnn.GemmOp) -> OpTiling:
    y = _shape(op.result)
    k = _shape(op.lhs)[0 if op.trans_a else 1]
    a_axes = (Axis(None, k), Axis("d0")) if op.trans_a else (Axis("d0"), Axis(None, k))
    b_axes = (Axis("d1"), Axis(None, k)) if op.trans_b else (Axis(None, k), Axis("d1"))
    accesses = [
        Operand("a", a_axes, _elem_bytes(op.lhs)),
        Operand("b", b_axes, _elem_bytes(op.rhs)),
    ]
    if op.bias is not None:
        accesses.append(_broadcast(op.bias, y, "c"))
    accesses.append(Operand("out", (Axis("d0"), Axis("d1")), _elem_bytes(op.result), True))
    return OpTiling(_dims(y), tuple(accesses))


def _qdq(op: dnn.QuantizeLinearOp | dnn.DequantizeLinearOp) -> OpTiling:
    shape = _shape(op.input)
    follow = tuple(Axis(f"d{i}") for i in range(len(shape)))
    accesses = [Operand("x", follow, _elem_bytes(op.input))]
    for name, param in (("scale", op.scale), ("zero_point", op.zero_point)):
        if dnn.shape_of(param) and _shape(param)[0] > 1:
            accesses.append(Operand(name, (Axis(f"d{op.axis.value.data}"),), _elem_bytes(param)))
        else:
            accesses.append(_fixed(param, name))
    accesses.append(Operand("y", follow, _elem_bytes(op.result), True))
    return OpTiling(_dims(shape), tuple(accesses))


_ELEMENTWISE = (
    dnn.ElementwiseBinaryOp,
    dnn.ElementwiseUnaryOp,
    dnn.WhereOp,
    dnn.CastOp,
    dnn.RequantShiftOp,
    dnn.IGeluOp,
    dnn.IHardswishOp,
    dnn.TrueIntegerDivOp,
)


def npu_rows(rows: int, k: int, n: int, out_bytes: int) -> OpTiling:
    """An NPU matmul job over row tiles: A (rows x K, 8-bit) in, Y (rows x N) out, both
    staged in L1 (the engine streams from there), K and N whole (its weights sit in its
    own memory)."""
    a = Operand("a", (Axis("d0"), Axis(None, k)), 1)
    y = Operand("y", (Axis("d0"), Axis(None, n)), out_bytes, is_output=True)
    return OpTiling((Dim("d0", rows, True, 1),), (a, y))


def npu_tiling(job: NpuMatmul | NpuConv) -> OpTiling | None:
    """The row tiles of an NPU job (`npu_job`): a matmul's (each batch's job alike), a
    gemm's, or a convolution's im2col product. A convolution in the engine's own modes
    stages its input and output whole (one tile)."""
    out_bytes = 4 if job.requant is None else 1
    if isinstance(job, NpuMatmul):
        k, n = job.k_n
        return npu_rows(job.rows, k, n, out_bytes)
    cout, cin_g, kh, kw = job.weights.shape
    if job.kind == "im2col":
        pixels = prod(_shape(job.conv.result)[-2:])
        return npu_rows(pixels, cin_g * kh * kw, cout, out_bytes)
    result = job.requant.op.result if job.requant is not None else job.conv.result
    x, y = _fixed(job.conv.input, "x"), _fixed(result, "y", output=True)
    return OpTiling((Dim("d0", 1, False),), (x, y))


def tiling_of(op: Operation) -> OpTiling | None:
    """The tiling rule of `op`, or None when it is not tiled."""
    if any(not isinstance(v.type, TensorType) for v in (*op.operands, *op.results)):
        return None
    if any(not _shape(v) for v in op.results):
        return None  # 0-d results: nothing to cut
    match op:
        case dnn.SoftmaxOp() | dnn.LogSoftmaxOp() | dnn.LayerNormOp() | dnn.RmsNormOp():
            return _rows(op, op.axis.value.data)
        case dnn.ISoftmaxOp() | dnn.ITAMaxOp() | dnn.IRMSNormOp() | dnn.ILayerNormOp():
            return _rows(op, len(_shape(op.operands[0])) - 1)
        case dnn.MatmulOp():
            return _matmul(op)
        case dnn.GemmOp():
            return _gemm(op)
        case dnn.QuantizeLinearOp() | dnn.DequantizeLinearOp():
            return _qdq(op)
        case _ if isinstance(op, _ELEMENTWISE):
            return _elementwise(op)
        case _:
            return None
