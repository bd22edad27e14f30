"""`dnn-lower-qdq`: ONNX QDQ patterns become integer `dnn` ops and `dnn.requant_shift`.

onnxruntime's `quantize_static` (QDQ format) writes a quantized op as its float op
between DequantizeLinear of every input and QuantizeLinear of the output:

    q_a ─ dequantize_linear(s_a, z_a) ─┐
    q_w ─ dequantize_linear(s_w, z_w) ─┴─ matmul ─ quantize_linear(s_y, z_y) ─ q_y

where a quantized tensor q stands for the real tensor (q - z) * s. This pass computes
the same q_y with integer ops only:

* MatMul, Gemm, Conv: acc = op(q_a - z_a, q_w - z_w) (+ the bias, quantized to the
  accumulator's scale s_a * s_w) is exact in i32, and

      q_y = requant_shift(acc, mul, z_y * 2^shift) {div = 2^shift}
          = clip(floor(acc * mul / 2^shift + 1/2) + z_y)

  with mul / 2^shift = S = float32(float32(s_a * s_w) / s_y), the ratio onnxruntime's
  QLinearMatMul/QLinearConv/QGemm kernels multiply the accumulator with. S has 24
  significant bits, so a mul < 2^31 represents it exactly (see `fixed_point`): the
  result is round(acc * S) + z_y with the exact product, where onnxruntime rounds
  float32(float32(acc) * S) half to even. The two differ only where acc * S lies within
  float32 rounding of a tie, by one unit.
  Per-channel weights (scale along the output channel) give a per-channel `mul`.
* Add: both operands are brought to a common fixed-point scale 2^-shift of s_y,
  x = q_a * round(s_a/s_y * 2^shift) + q_b * round(s_b/s_y * 2^shift) in i32, and the
  zero points go into the requant's `add`; the multipliers get as many bits as the i32
  sum allows (22-24 for 8-bit inputs; onnxruntime's QLinearAdd rounds through float32
  as well).
* Mul: (q_a - z_a) * (q_b - z_b) in i32, requantized with S = s_a * s_b / s_y.
* Data movement (reshape, transpose, slice, expand, concat, max_pool) between equal
  quantization parameters commutes with quantization: it moves the integers.
* A MatMul/Gemm/Conv whose result is used in float (no QuantizeLinear after it) keeps
  the integer op and scales the accumulator back: float32(acc) * float32(s_a * s_w),
  bit for bit what onnxruntime's MatMulIntegerToFloat computes.

Quantized operands are widened to i32 (minus their zero point) at run time; constant
ones (weights) are centred at compile time and stay i8 where the values fit (int8 with
zero point 0, the usual symmetric weights).
The i32 operand is also what makes the integer matmul/conv accumulate in 32 bits
(numpy's type promotion of two 8-bit operands would wrap).

Whatever does not match (non-constant scales, scales along the contraction axis,
storage types other than (u)int8/(u)int16, a ratio no fixed point within `MAX_SHIFT`
represents, ...) stays QDQ + float op, which is still correct. Q(DQ(q)) with equal
parameters is q, and Q of a constant is folded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    Float32Type,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.transforms.dead_code_elimination import region_dce

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import element_type, numpy_dtype
from xdeeploy.interp import reference as ref

MUL_LIMIT = 1 << 31
"""Requant multipliers stay below 2^31 (an i32 operand; the product x * mul needs 64 bits)."""

MAX_SHIFT = 46
"""Largest requant shift: z_y * 2^shift + |acc| * mul + 2^(shift-1) stays below 2^63 for
16-bit zero points and i32 accumulators."""

ACC_LIMIT = 1 << 31
"""Accumulators are i32, as in onnxruntime's integer kernels."""

QUANT_TYPES = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16))
"""Storage types of quantized activations and weights that are lowered."""


# ----------------------------------------------------------------------------- helpers


def constant_of(value: SSAValue) -> np.ndarray | None:
    """The value of a `dnn.constant`, else None."""
    owner = value.owner
    if isinstance(owner, dnn.ConstantOp):
        return dnn.constant_value(owner.value)
    return None


def _tensor_type(value: SSAValue) -> TensorType:
    ty = value.type
    assert isinstance(ty, TensorType)
    return ty  # pyright: ignore[reportUnknownVariableType]


def _dtype(value: SSAValue) -> np.dtype:
    return numpy_dtype(_tensor_type(value).element_type)


def _rank(value: SSAValue) -> int:
    return len(dnn.shape_of(value))


def _with_element(value: SSAValue, dtype: np.dtype | type) -> TensorType:
    return TensorType(element_type(dtype), list(dnn.shape_of(value)))


def along(vector: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A per-axis vector shaped to broadcast against a rank-`rank` tensor along `axis`
    (trailing dimensions only: [C, 1, 1] for axis 1 of rank 4); scalars stay scalars."""
    if vector.ndim == 0:
        return vector
    return vector.reshape([vector.size] + [1] * (rank - 1 - axis))


def _narrowest(array: np.ndarray, *candidates: type) -> np.ndarray:
    """`array` (integers) in the first of `candidates` that holds all its values."""
    for dt in candidates:
        info = np.iinfo(dt)
        if array.size == 0 or (array.min() >= info.min and array.max() <= info.max):
            return array.astype(dt)
    raise ValueError("no candidate integer type holds the values")


def fixed_point(ratio: np.ndarray, max_shift: int = MAX_SHIFT) -> tuple[np.ndarray, int] | None:
    """(mul, shift) with mul / 2^shift closest to `ratio` (one shift for all channels).

    The shift is the largest one keeping every mul below 2^31: the largest ratio gets a
    31-bit multiplier, and a float32 ratio (24 significant bits) within 2^7 of it is
    represented exactly. None if a ratio is not positive and finite or too large.
    """
    r = np.asarray(ratio, dtype=np.float64)
    if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        return None
    _, exponent = math.frexp(float(r.max()))  # max = f * 2^exponent, f in [0.5, 1)
    shift = min(31 - exponent, max_shift)
    while shift >= 0 and np.rint(r.max() * 2.0**shift) >= MUL_LIMIT:
        shift -= 1  # only a float64 ratio just below a power of two rounds up to 2^31
    if shift < 0:
        return None
    return np.rint(r * 2.0**shift).astype(np.int64), shift


@dataclass(frozen=True)
class Quant:
    """Constant quantization parameters of a quantize_linear/dequantize_linear."""

    scale: np.ndarray  # float32: shape () per tensor, (C,) per axis
    zero_point: np.ndarray  # int64, the shape of `scale`
    dtype: np.dtype  # the integer storage type
    axis: int | None  # the quantized axis of the tensor; None per tensor

    @property
    def per_tensor(self) -> bool:
        return self.axis is None

    def same_as(self, other: Quant) -> bool:
        return (
            self.dtype == other.dtype
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )

    def range(self) -> tuple[int, int]:
        info = np.iinfo(self.dtype)
        return int(info.min), int(info.max)

    def scale_in(self, rank: int, offset: int = 0) -> np.ndarray:
        """The scale broadcastable against a rank-`rank` result whose axis `axis + offset`
        is this tensor's quantized axis."""
        if self.axis is None:
            return self.scale
        return along(self.scale, rank, self.axis + offset)

    def zero_point_in(self, rank: int) -> np.ndarray:
        if self.axis is None:
            return self.zero_point
        return along(self.zero_point, rank, self.axis)


def quant_of(op: dnn.QuantizationOp) -> Quant | None:
    """The parameters of `op` when its scale and zero point are usable constants."""
    scale, zero_point = constant_of(op.scale), constant_of(op.zero_point)
    if scale is None or zero_point is None or scale.dtype != np.float32:
        return None
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        return None
    if zero_point.dtype.kind not in "iu" or zero_point.size not in (1, scale.size):
        return None
    if scale.size == 1:
        return Quant(
            scale.reshape(()), zero_point.reshape(()).astype(np.int64), zero_point.dtype, None
        )
    zp = np.broadcast_to(zero_point.reshape(-1), (scale.size,)).astype(np.int64)
    return Quant(scale.reshape(-1), zp, zero_point.dtype, op.axis.value.data)


def dequantized(value: SSAValue) -> tuple[dnn.DequantizeLinearOp, Quant] | None:
    """The dequantize_linear producing `value`, with its parameters."""
    op = value.owner
    if not isinstance(op, dnn.DequantizeLinearOp):
        return None
    quant = quant_of(op)
    if quant is None or quant.dtype != _dtype(op.input):
        return None
    return op, quant


def _activation(value: SSAValue) -> tuple[dnn.DequantizeLinearOp, Quant] | None:
    """A dequantized operand in one of the lowered storage types."""
    found = dequantized(value)
    if found is None or found[1].dtype not in QUANT_TYPES:
        return None
    return found


def _output_quant(op: Operation) -> tuple[dnn.QuantizeLinearOp, Quant] | None:
    """The quantize_linear that is the only user of `op`'s result, per tensor."""
    result = op.results[0]
    if not result.has_one_use():
        return None
    user = result.get_user_of_unique_use()
    if not isinstance(user, dnn.QuantizeLinearOp):
        return None
    quant = quant_of(user)
    if quant is None or not quant.per_tensor or quant.dtype not in QUANT_TYPES:
        return None
    return user, quant


# ----------------------------------------------------------------------------- building

Lowered = tuple[Operation, list[Operation], SSAValue]
"""(the op whose result is replaced, the new ops, the value replacing it)."""


class _Builder:
    """Collects the ops of one rewrite; each carries the float op's attributes (its
    ONNX node name), so that errors at every level still name the node."""

    def __init__(self, attributes: dict[str, Attribute]):
        self.ops: list[Operation] = []
        self.attributes = dict(attributes)

    def add(self, op: Operation) -> SSAValue:
        op.attributes.update(self.attributes)
        self.ops.append(op)
        return op.results[0]

    def constant(self, array: np.ndarray) -> SSAValue:
        return self.add(dnn.ConstantOp(dnn.constant_attr(np.array(array, order="C"))))

    def cast(self, value: SSAValue, dtype: np.dtype | type) -> SSAValue:
        return self.add(dnn.CastOp(operands=[value], result_types=[_with_element(value, dtype)]))

    def binary(self, cls: type[dnn.ElementwiseBinaryOp], lhs: SSAValue, rhs: SSAValue) -> SSAValue:
        shape = dnn.broadcast_shapes(dnn.shape_of(lhs), dnn.shape_of(rhs))
        elem = _tensor_type(lhs).element_type
        return self.add(cls(lhs, rhs, TensorType(elem, list(shape))))

    def centered(self, dq: dnn.DequantizeLinearOp, quant: Quant, wide: bool = False) -> SSAValue:
        """q - z as integers. A constant is centred now, in the narrowest type (i32 if
        `wide`); anything else is widened to i32 at run time and the zero point
        subtracted unless it is 0."""
        zp = quant.zero_point_in(_rank(dq.input))
        data = constant_of(dq.input)
        if data is not None:
            centered = data.astype(np.int64) - zp
            if wide:
                return self.constant(_narrowest(centered, np.int32))
            return self.constant(_narrowest(centered, np.int8, np.int16, np.int32))
        x = self.cast(dq.input, np.int32)
        if np.any(zp != 0):
            x = self.binary(dnn.SubOp, x, self.constant(zp.astype(np.int32)))
        return x

    def requant(
        self,
        x: SSAValue,
        mul: np.ndarray,
        shift: int,
        add: np.ndarray,
        out: Quant,
        result_type: Attribute,
    ) -> SSAValue:
        """requant_shift(x, mul, add) {div = 2^shift} into `out`'s storage type; the
        output zero point is already in `add`."""
        bits = out.dtype.itemsize * 8
        props: dict[str, Attribute] = {
            "div": IntegerAttr(1 << shift, i64),
            "n_levels": IntegerAttr(1 << bits, i64),
        }
        if out.dtype.kind == "i":
            props["signed"] = UnitAttr()
        operands = [
            x,
            self.constant(mul.astype(np.int32)),
            self.constant(_narrowest(add, np.int32, np.int64)),
        ]
        return self.add(
            dnn.RequantShiftOp(operands=operands, result_types=[result_type], properties=props)
        )


@dataclass
class _Accumulated:
    """An integer op's i32 result and its real scale (float32, broadcastable to it)."""

    builder: _Builder
    acc: SSAValue
    scale: np.ndarray


def _scale_product(*scales: np.ndarray) -> np.ndarray:
    """float32 product, left to right, as onnxruntime computes a_scale * b_scale."""
    out = np.float32(1.0) * scales[0]
    for s in scales[1:]:
        out = (out * s).astype(np.float32)
    return np.asarray(out, dtype=np.float32)


def _finish(op: Operation, result: _Accumulated) -> Lowered | None:
    """The ops replacing `op` (or the quantize_linear after it) and the value to use.

    Requantized when a per-tensor quantize_linear is the only user of `op`; otherwise
    scaled back to float like onnxruntime's MatMulIntegerToFloat.
    """
    b = result.builder
    quantized = _output_quant(op)
    if quantized is not None:
        q, out = quantized
        ratio = (result.scale / out.scale).astype(np.float32)  # float32 as onnxruntime
        fp = fixed_point(ratio)
        if fp is None:
            return None
        mul, shift = fp
        add = np.asarray(out.zero_point << shift, dtype=np.int64)
        y = b.requant(result.acc, mul, shift, add, out, q.result.type)
        return q, b.ops, y
    if not isinstance(_tensor_type(op.results[0]).element_type, Float32Type):
        return None
    acc = b.cast(result.acc, np.float32)
    y = b.binary(dnn.MulOp, acc, b.constant(result.scale.astype(np.float32)))
    return op, b.ops, y


def _bias_in_acc(value: SSAValue, acc_scale: np.ndarray, factor: float) -> np.ndarray | None:
    """A constant bias in units of the accumulator's scale, as i32 (None if it is not a
    constant or does not fit). onnxruntime quantizes the bias with exactly that scale
    (s_a * s_w, zero point 0), and then this is the stored integer."""
    found = dequantized(value)
    if found is not None:
        dq, quant = found
        data = constant_of(dq.input)
        if data is None:
            return None
        zp = quant.zero_point_in(data.ndim)
        real = (data.astype(np.float64) - zp) * quant.scale_in(data.ndim).astype(np.float64)
    else:
        data = constant_of(value)
        if data is None or data.dtype.kind != "f":
            return None
        real = data.astype(np.float64)
    units = np.rint(real * factor / acc_scale.astype(np.float64))
    if units.size and np.abs(units).max() >= ACC_LIMIT:
        return None
    return units.astype(np.int32)


# ----------------------------------------------------------------------------- patterns


def _lower_matmul(op: dnn.MatmulOp) -> _Accumulated | None:
    a, w = _activation(op.lhs), _activation(op.rhs)
    if a is None or w is None:
        return None
    (dq_a, qa), (dq_w, qw) = a, w
    rank = _rank(op.result)
    ra, rw = _rank(op.lhs), _rank(op.rhs)
    # A scale may vary along the rows of the lhs or the columns of the rhs, never along
    # the contraction axis (it would not factor out of the sum).
    if not qa.per_tensor and (ra < 2 or rw < 2 or qa.axis != ra - 2):
        return None
    if not qw.per_tensor and (rw < 2 or ra < 2 or qw.axis != rw - 1):
        return None
    sa = qa.scale if qa.per_tensor else along(qa.scale, rank, rank - 2)
    sw = qw.scale if qw.per_tensor else along(qw.scale, rank, rank - 1)
    b = _Builder(op.attributes)
    both_constant = constant_of(dq_a.input) is not None and constant_of(dq_w.input) is not None
    lhs = b.centered(dq_a, qa, wide=both_constant)
    rhs = b.centered(dq_w, qw)
    acc = b.add(
        dnn.MatmulOp(operands=[lhs, rhs], result_types=[_with_element(op.result, np.int32)])
    )
    return _Accumulated(b, acc, _scale_product(sa, sw))


def _float_prop(attr: FloatAttr | None) -> float:
    return 1.0 if attr is None else float(attr.value.data)


def _lower_gemm(op: dnn.GemmOp) -> _Accumulated | None:
    a, w = _activation(op.lhs), _activation(op.rhs)
    if a is None or w is None:
        return None
    (dq_a, qa), (dq_w, qw) = a, w
    n_axis = 0 if op.trans_b is not None else 1
    if not qa.per_tensor or (not qw.per_tensor and qw.axis != n_axis):
        return None
    alpha, beta = _float_prop(op.alpha), _float_prop(op.beta)
    acc_scale = _scale_product(qa.scale, qw.scale)  # () or (N,): the columns of the result
    b = _Builder(op.attributes)
    both_constant = constant_of(dq_a.input) is not None and constant_of(dq_w.input) is not None
    lhs = b.centered(dq_a, qa, wide=both_constant)
    rhs = b.centered(dq_w, qw)
    props = {k: v for k, v in op.properties.items() if k in ("trans_a", "trans_b")}
    acc = b.add(
        dnn.GemmOp(
            operands=[[lhs], [rhs], []],
            result_types=[_with_element(op.result, np.int32)],
            properties=props,
        )
    )
    if op.bias is not None:
        bias = _bias_in_acc(op.bias, acc_scale, beta / alpha)
        if bias is None:
            return None
        acc = b.binary(dnn.AddOp, acc, b.constant(bias))
    if alpha != 1.0:
        acc_scale = _scale_product(acc_scale, np.asarray(alpha, np.float32))
    return _Accumulated(b, acc, acc_scale)


def _lower_conv(op: dnn.ConvOp) -> _Accumulated | None:
    x, w = _activation(op.input), _activation(op.weight)
    if x is None or w is None:
        return None
    (dq_x, qx), (dq_w, qw) = x, w
    if not qx.per_tensor or (not qw.per_tensor and qw.axis != 0):
        return None
    rank = _rank(op.result)
    acc_scale = _scale_product(qx.scale, qw.scale)  # () or (O,)
    b = _Builder(op.attributes)
    # Widening subtracts the input zero point before the conv, so that the zero padding
    # is the real 0 (padding the raw integers with 0 would pad with -z_x * s_x).
    data = b.centered(dq_x, qx, wide=True)
    weight = b.centered(dq_w, qw)
    acc = b.add(
        dnn.ConvOp(
            operands=[[data], [weight], []],
            result_types=[_with_element(op.result, np.int32)],
            properties=dict(op.properties),
        )
    )
    if op.bias is not None:
        bias = _bias_in_acc(op.bias, acc_scale, 1.0)
        if bias is None:
            return None
        acc = b.binary(dnn.AddOp, acc, b.constant(along(bias, rank, 1)))
    return _Accumulated(b, acc, along(acc_scale, rank, 1))


@dataclass(frozen=True)
class _Operand:
    """A dequantized operand of an elementwise op."""

    dq: dnn.DequantizeLinearOp
    quant: Quant
    data: np.ndarray | None  # the quantized values when they are a constant
    scale: np.ndarray  # float32, broadcastable against the result


def _elementwise_operand(value: SSAValue, out_rank: int) -> _Operand | None:
    """A per-axis scale is only lowered for constants: an activation quantized per
    channel would need the requant's parameters to follow its broadcasting."""
    found = _activation(value)
    if found is None:
        return None
    dq, quant = found
    data = constant_of(dq.input)
    if not quant.per_tensor and data is None:
        return None
    return _Operand(dq, quant, data, quant.scale_in(out_rank, out_rank - _rank(value)))


def _lower_mul(op: dnn.MulOp) -> Lowered | None:
    if _output_quant(op) is None:
        return None  # a mul with a float result gains nothing from integers
    rank = _rank(op.result)
    a, c = _elementwise_operand(op.lhs, rank), _elementwise_operand(op.rhs, rank)
    if a is None or c is None:
        return None
    b = _Builder(op.attributes)
    # (q_a - z_a) * (q_b - z_b) is exact in i32; both sides i32 (dnn.mul wants equal types).
    prod = b.binary(
        dnn.MulOp, b.centered(a.dq, a.quant, wide=True), b.centered(c.dq, c.quant, wide=True)
    )
    return _finish(op, _Accumulated(b, prod, _scale_product(a.scale, c.scale)))


def _lower_add(op: dnn.AddOp) -> Lowered | None:
    quantized = _output_quant(op)
    if quantized is None:
        return None  # an add with a float result gains nothing from integers
    q, out = quantized
    rank = _rank(op.result)
    a, c = _elementwise_operand(op.lhs, rank), _elementwise_operand(op.rhs, rank)
    if a is None or c is None:
        return None
    operands = (a, c)
    # s / s_y in float32, as onnxruntime's QLinearAdd forms its ratios.
    ratios = [(o.scale / out.scale).astype(np.float32).astype(np.float64) for o in operands]
    shift = _add_shift(operands, ratios)
    if shift is None:
        return None
    b = _Builder(op.attributes)
    terms: list[SSAValue] = []
    add = np.asarray(out.zero_point << shift, dtype=np.int64)
    for operand, ratio in zip(operands, ratios, strict=True):
        if operand.data is not None:  # a constant: scaled and centred now
            terms.append(b.constant(_scaled_constant(operand, ratio, shift)))
            continue
        # q * m at run time; the zero point's share, z * m, goes into the requant's add.
        m = np.rint(ratio * 2.0**shift).astype(np.int64)
        widened = b.cast(operand.dq.input, np.int32)
        terms.append(b.binary(dnn.MulOp, widened, b.constant(m.astype(np.int32))))
        add = add - operand.quant.zero_point * m
    x = b.binary(dnn.AddOp, terms[0], terms[1])
    y = b.requant(x, np.asarray(1, np.int64), shift, add, out, q.result.type)
    return q, b.ops, y


def _scaled_constant(operand: _Operand, ratio: np.ndarray, shift: int) -> np.ndarray:
    """round((q - z) * s / s_y * 2^shift) of a constant operand, as i32. `ratio` is laid
    out like the result's trailing dimensions, hence like the operand's."""
    assert operand.data is not None
    zp = operand.quant.zero_point_in(operand.data.ndim).astype(np.float64)
    return np.rint((operand.data.astype(np.float64) - zp) * ratio * 2.0**shift).astype(np.int32)


def _add_shift(operands: Sequence[_Operand], ratios: Sequence[np.ndarray]) -> int | None:
    """The largest shift at which the i32 sum of both rescaled operands cannot overflow
    (|q| * m for a run-time operand, the rounded constant otherwise) and no run-time
    operand's multiplier rounds to 0."""
    for shift in range(MAX_SHIFT, -1, -1):
        total = 0.0
        for operand, ratio in zip(operands, ratios, strict=True):
            if operand.data is None:
                m = np.rint(ratio * 2.0**shift)
                if m.min() <= 0:
                    return None  # smaller shifts only round it further down
                lo, hi = operand.quant.range()
                total += max(abs(lo), abs(hi)) * float(m.max())
            else:
                zp = operand.quant.zero_point_in(operand.data.ndim)
                centered = np.abs(operand.data.astype(np.float64) - zp).max(initial=0.0)
                total += float(centered) * float(ratio.max()) * 2.0**shift + 1
        if total < ACC_LIMIT - 1:
            return shift
    return None


MOVES: tuple[type[Operation], ...] = (
    dnn.ReshapeOp,
    dnn.TransposeOp,
    dnn.SliceOp,
    dnn.ExpandOp,
    dnn.ConcatOp,
    dnn.MaxPoolOp,
)
"""Ops that commute with quantization when input and output parameters are equal: they
move or select values (max_pool compares them, which the monotone map preserves)."""


def _lower_move(op: Operation) -> Lowered | None:
    quantized = _output_quant(op)
    if quantized is None or not op.operands:
        return None
    q, out = quantized
    inputs: list[SSAValue] = []
    for operand in op.operands:
        found = dequantized(operand)
        if found is None or not found[1].same_as(out):
            return None
        inputs.append(found[0].input)
    b = _Builder(op.attributes)
    moved = type(op).create(
        operands=inputs,
        result_types=[_with_element(op.results[0], out.dtype)],
        properties=dict(op.properties),
    )
    y = b.add(moved)
    return q, b.ops, y


def _lower_contraction(op: Operation) -> Lowered | None:
    """MatMul, Gemm, Conv: an integer accumulator, requantized or scaled to float."""
    if not isinstance(_tensor_type(op.results[0]).element_type, Float32Type):
        return None
    if isinstance(op, dnn.MatmulOp):
        acc = _lower_matmul(op)
    elif isinstance(op, dnn.GemmOp):
        acc = _lower_gemm(op)
    else:
        assert isinstance(op, dnn.ConvOp)
        acc = _lower_conv(op)
    return None if acc is None else _finish(op, acc)


class LowerQuantizedOp(RewritePattern):
    """The float op of a QDQ pattern becomes integer ops (see the module docstring)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        lowered: Lowered | None = None
        if isinstance(op, dnn.MatmulOp | dnn.GemmOp | dnn.ConvOp):
            lowered = _lower_contraction(op)
        elif isinstance(op, dnn.AddOp):
            lowered = _lower_add(op)
        elif isinstance(op, dnn.MulOp):
            lowered = _lower_mul(op)
        elif isinstance(op, MOVES):
            lowered = _lower_move(op)
        if lowered is None:
            return
        replaced, ops, value = lowered
        if replaced.results[0].name_hint is not None:
            value.name_hint = replaced.results[0].name_hint
        # The new ops read only values defined before `op`, so they go right before it.
        rewriter.insert(ops, InsertPoint.before(op))
        rewriter.replace(replaced, [], [value])
        if replaced is not op and not op.results[0].uses:
            rewriter.erase(op)


class FoldQuantizeOfDequantize(RewritePattern):
    """quantize_linear(dequantize_linear(q, s, z), s, z) is q: |q - z| * s / s is within
    float32 rounding of the integer q - z, which rounds back to it."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dnn.QuantizeLinearOp, rewriter: PatternRewriter) -> None:
        found = dequantized(op.input)
        out = quant_of(op)
        if found is None or out is None or not found[1].same_as(out):
            return
        if found[0].input.type != op.result.type:
            return
        rewriter.replace(op, [], [found[0].input])


class FoldQuantizeConstant(RewritePattern):
    """quantize_linear of a constant (a weight the quantizer saw as an activation, e.g.
    a transposed embedding) is computed now, so that the weight is stored quantized."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dnn.QuantizeLinearOp, rewriter: PatternRewriter) -> None:
        data, scale, zp = constant_of(op.input), constant_of(op.scale), constant_of(op.zero_point)
        if data is None or scale is None or zp is None:
            return
        value = ref.quantize_linear(data, scale, zp, axis=op.axis.value.data)
        const = dnn.ConstantOp(dnn.constant_attr(np.asarray(value)))
        const.attributes.update(op.attributes)
        rewriter.replace(op, const)


@dataclass(frozen=True)
class DnnLowerQdq(ModulePass):
    name = "dnn-lower-qdq"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [FoldQuantizeConstant(), FoldQuantizeOfDequantize(), LowerQuantizedOp()]
            ),
            post_walk_func=region_dce,
        ).rewrite_module(op)


__all__ = ["DnnLowerQdq", "Quant", "fixed_point", "quant_of"]
