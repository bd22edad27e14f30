"""The `dnn` dialect: the tensor graph as imported from ONNX, with value semantics.

Every op takes and returns ranked, statically shaped `tensor`s; the result type is
always explicit so that a reader (and every pass) sees shapes without inference.
Parameters that ONNX passes as constant inputs (Reshape's shape, Slice's bounds, …)
are folded into properties or the result type by the frontend.

The ONNX node an op came from travels in the discardable attribute `dnn.node`, so that
errors at any level can name it (see `node_name`).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any, ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float32Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, ParametrizedAttribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from xdeeploy.dialects.dtypes import numpy_dtype

NODE_ATTR = "dnn.node"
"""Discardable attribute holding the ONNX node name an op was imported from."""


def node_name(op: Operation) -> str:
    """The ONNX node name of `op`, or its op name when it did not come from ONNX."""
    attr = op.attributes.get(NODE_ATTR)
    return attr.data if isinstance(attr, StringAttr) else op.name


# ---------------------------------------------------------------------------
# Attributes


@irdl_attr_definition
class WeightsAttr(ParametrizedAttribute):
    """A large constant kept out of the IR text: `#dnn.weights<"digest", tensor<…>>`.

    The digest names an `.npy` blob in the weights store (`xdeeploy.weights`).
    """

    name = "dnn.weights"

    digest: StringAttr
    type: TensorType

    def __init__(self, digest: str, type: TensorType):
        super().__init__(StringAttr(digest), type)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> tuple[StringAttr, TensorType]:
        with parser.in_angle_brackets():
            digest = parser.parse_str_literal("weights digest")
            parser.parse_punctuation(",")
            ty = parser.parse_type()
        if not isinstance(ty, TensorType):
            parser.raise_error("expected a tensor type for #dnn.weights")
        return StringAttr(digest), ty

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.digest.data)
            printer.print_string(", ")
            printer.print_attribute(self.type)


def constant_value(attr: Attribute) -> np.ndarray:
    """The numpy value of a `dnn.constant`'s attribute (dense or stored weights)."""
    if isinstance(attr, WeightsAttr):
        from xdeeploy.weights import load

        return load(attr.digest.data)
    assert isinstance(attr, DenseIntOrFPElementsAttr)
    dtype = numpy_dtype(attr.get_element_type())
    shape = attr.get_shape()
    if dtype == np.bool_:
        flat = np.array(attr.get_values(), dtype=np.bool_)
    else:
        flat = np.frombuffer(attr.data.data, dtype=dtype)
    if flat.size == 1 and prod(shape) != 1:
        flat = np.broadcast_to(flat, (prod(shape),))  # splat
    return flat.reshape(shape).copy()


INLINE_LIMIT = 16
"""Constants with at most this many elements are printed inline (`dense<…>`)."""


def dense_attr(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """`array` as a `dense<…>` attribute of the matching tensor type."""
    from xdeeploy.dialects.dtypes import element_type

    ty = TensorType(element_type(array.dtype), list(array.shape))
    flat = array.reshape(-1)
    values = [bool(v) for v in flat] if array.dtype == np.bool_ else flat.tolist()
    return DenseIntOrFPElementsAttr.from_list(ty, values)  # pyright: ignore[reportCallIssue, reportArgumentType]


def prints_exactly(array: np.ndarray) -> bool:
    """Whether xDSL 0.74 prints every value of `array` in a form it parses back unchanged.

    It prints NaN, infinities and floats that neither `%.5e` nor `%.9g` (with a dot) give
    exactly (e.g. 4171896.0, common in requantization multipliers) as hex bit patterns,
    and its parser then reads `dense<0x4A7EA1E0>` as the integer 0x4A7EA1E0.
    """
    if array.dtype.kind != "f":
        return True
    digits = 9 if array.dtype == np.float32 else 17
    for value in array.reshape(-1).tolist():
        if not np.isfinite(value):
            return False
        short = float(f"{value:.5e}")
        if array.dtype.type(short) == array.dtype.type(value):
            continue
        if "." not in f"{value:.{digits}g}":
            return False
    return True


def constant_attr(array: np.ndarray) -> DenseIntOrFPElementsAttr | WeightsAttr:
    """The attribute of a `dnn.constant` holding `array`: inline when small (and printable
    without loss, see `prints_exactly`), else stored."""
    if array.size <= INLINE_LIMIT and prints_exactly(array):
        return dense_attr(array)
    from xdeeploy.dialects.dtypes import element_type
    from xdeeploy.weights import save

    return WeightsAttr(save(array), TensorType(element_type(array.dtype), list(array.shape)))


# ---------------------------------------------------------------------------
# Verification helpers


def _tensor(value: SSAValue | Operation) -> TensorType:
    ty = SSAValue.get(value).type
    assert isinstance(ty, TensorType)
    return ty  # pyright: ignore[reportUnknownVariableType]


def _shape(value: SSAValue | Operation) -> tuple[int, ...]:
    return _tensor(value).get_shape()


def shape_of(value: SSAValue | Operation) -> tuple[int, ...]:
    """The static shape of a tensor value."""
    return _shape(value)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """Numpy/ONNX multidirectional broadcasting; VerifyException if incompatible."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise VerifyException(
            f"shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast"
        ) from None


def _broadcast(op: Operation, *shapes: Sequence[int]) -> tuple[int, ...]:
    try:
        return broadcast_shapes(*shapes)
    except VerifyException as e:
        raise VerifyException(f"{op.name}: {e}") from None


def _expect_shape(op: Operation, got: Sequence[int], want: Sequence[int]) -> None:
    if tuple(got) != tuple(want):
        raise VerifyException(
            f"{op.name}: result shape {list(got)} but the operands give {list(want)}"
        )


def _expect_same_element(op: Operation, *values: SSAValue) -> None:
    elems = {str(_tensor(v).element_type) for v in values}
    if len(elems) > 1:
        raise VerifyException(f"{op.name}: element types differ: {', '.join(sorted(elems))}")


def _all_integers(*values: SSAValue) -> bool:
    """Whether every value is an integer tensor wider than a boolean."""
    elems = [_tensor(v).element_type for v in values]
    return all(isinstance(e, IntegerType) and e.width.data > 1 for e in elems)


def _axis(op: Operation, axis: int, rank: int) -> None:
    if not 0 <= axis < rank:
        raise VerifyException(f"{op.name}: axis {axis} out of range for rank {rank}")


def _ints(attr: DenseArrayBase[I64] | None) -> tuple[int, ...]:
    return () if attr is None else tuple(int(v) for v in attr.get_values())


def _i64s(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


# ---------------------------------------------------------------------------
# Base classes


class DnnOp(IRDLOperation):
    """Properties print in the attribute dictionary: `dnn.softmax %x {axis = 1 : i64}`."""

    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())


class ElementwiseUnaryOp(DnnOp):
    """`%y = dnn.exp %x : tensor<4xf32>`: same type in and out."""

    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)

    assembly_format = "$input attr-dict `:` type($result)"

    def __init__(self, input: SSAValue | Operation, **props: Attribute):
        super().__init__(
            operands=[input], result_types=[SSAValue.get(input).type], properties=props
        )


class ElementwiseBinaryOp(DnnOp):
    """Binary op with ONNX (numpy) broadcasting; operands share an element type."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    SAME_ELEMENT: ClassVar[bool] = True
    BOOLEAN_RESULT: ClassVar[bool] = False

    def __init__(
        self, lhs: SSAValue | Operation, rhs: SSAValue | Operation, result_type: TensorType
    ):
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        _expect_shape(
            self, _shape(self.result), _broadcast(self, _shape(self.lhs), _shape(self.rhs))
        )
        out = _tensor(self.result).element_type
        if _all_integers(self.lhs, self.rhs) and isinstance(out, IntegerType):
            return  # integers widen exactly: int8 + uint8 -> int32, as Deeploy types it
        if self.SAME_ELEMENT:
            _expect_same_element(self, self.lhs, self.rhs)
        if self.BOOLEAN_RESULT:
            if out != IntegerType(1):
                raise VerifyException(f"{self.name}: result must have element type i1")
        elif out != _tensor(self.lhs).element_type:
            raise VerifyException(f"{self.name}: result element type differs from the operands'")


class ReduceOp(DnnOp):
    """Reduction over `axes` (sorted, non-negative); `keepdims` keeps them as size 1."""

    input = operand_def(TensorType)
    axes = prop_def(DenseArrayBase[I64])
    keepdims = opt_prop_def(UnitAttr)
    result = result_def(TensorType)

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(
        self,
        input: SSAValue | Operation,
        axes: Sequence[int],
        keepdims: bool,
        result_type: TensorType,
    ):
        props: dict[str, Attribute] = {"axes": _i64s(axes)}
        if keepdims:
            props["keepdims"] = UnitAttr()
        super().__init__(operands=[input], result_types=[result_type], properties=props)

    def verify_(self) -> None:
        shape = _shape(self.input)
        axes = _ints(self.axes)
        if list(axes) != sorted(set(axes)):
            raise VerifyException(f"{self.name}: axes must be sorted and unique")
        for a in axes:
            _axis(self, a, len(shape))
        want = [(1 if self.keepdims else None) if i in axes else d for i, d in enumerate(shape)]
        _expect_shape(self, _shape(self.result), [d for d in want if d is not None])
        _expect_same_element(self, self.input, self.result)


# ---------------------------------------------------------------------------
# Constants


@irdl_op_definition
class ConstantOp(DnnOp):
    """`%w = dnn.constant dense<...> : tensor<2xf32>` or `dnn.constant #dnn.weights<...>`."""

    name = "dnn.constant"

    value = prop_def(DenseIntOrFPElementsAttr | WeightsAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, value: DenseIntOrFPElementsAttr | WeightsAttr):
        super().__init__(properties={"value": value}, result_types=[value.type])

    def verify_(self) -> None:
        if self.value.type != self.result.type:
            raise VerifyException("dnn.constant: value type differs from the result type")

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        value = parser.parse_attribute()
        if not isinstance(value, DenseIntOrFPElementsAttr | WeightsAttr):
            parser.raise_error("dnn.constant expects a dense<...> or #dnn.weights<...> value")
        attrs = parser.parse_optional_attr_dict()
        op = cls(value)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.value)
        printer.print_op_attributes(self.attributes)


# ---------------------------------------------------------------------------
# Elementwise


@irdl_op_definition
class AddOp(ElementwiseBinaryOp):
    name = "dnn.add"


@irdl_op_definition
class SubOp(ElementwiseBinaryOp):
    name = "dnn.sub"


@irdl_op_definition
class MulOp(ElementwiseBinaryOp):
    name = "dnn.mul"


@irdl_op_definition
class DivOp(ElementwiseBinaryOp):
    """Integer division truncates toward zero, as in ONNX and C."""

    name = "dnn.div"


@irdl_op_definition
class PowOp(ElementwiseBinaryOp):
    """ONNX allows the exponent to have its own element type."""

    name = "dnn.pow"
    SAME_ELEMENT: ClassVar[bool] = False


@irdl_op_definition
class MaxOp(ElementwiseBinaryOp):
    name = "dnn.max"


@irdl_op_definition
class MinOp(ElementwiseBinaryOp):
    name = "dnn.min"


@irdl_op_definition
class EqualOp(ElementwiseBinaryOp):
    name = "dnn.equal"
    BOOLEAN_RESULT: ClassVar[bool] = True


@irdl_op_definition
class LessOp(ElementwiseBinaryOp):
    name = "dnn.less"
    BOOLEAN_RESULT: ClassVar[bool] = True


@irdl_op_definition
class GreaterOp(ElementwiseBinaryOp):
    name = "dnn.greater"
    BOOLEAN_RESULT: ClassVar[bool] = True


@irdl_op_definition
class WhereOp(DnnOp):
    """`cond ? lhs : rhs` elementwise, all three broadcast together."""

    name = "dnn.where"

    condition = operand_def(TensorType)
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = (
        "$condition `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)"
    )

    def verify_(self) -> None:
        _expect_shape(
            self,
            _shape(self.result),
            _broadcast(self, _shape(self.condition), _shape(self.lhs), _shape(self.rhs)),
        )
        _expect_same_element(self, self.lhs, self.rhs, self.result)
        if _tensor(self.condition).element_type != IntegerType(1):
            raise VerifyException("dnn.where: the condition must have element type i1")


@irdl_op_definition
class SqrtOp(ElementwiseUnaryOp):
    """Square root."""

    name = "dnn.sqrt"


@irdl_op_definition
class NegOp(ElementwiseUnaryOp):
    """Negation."""

    name = "dnn.neg"


@irdl_op_definition
class AbsOp(ElementwiseUnaryOp):
    """Absolute value."""

    name = "dnn.abs"


@irdl_op_definition
class ExpOp(ElementwiseUnaryOp):
    """Exponential."""

    name = "dnn.exp"


@irdl_op_definition
class LogOp(ElementwiseUnaryOp):
    """Natural logarithm."""

    name = "dnn.log"


@irdl_op_definition
class ErfOp(ElementwiseUnaryOp):
    """Error function."""

    name = "dnn.erf"


@irdl_op_definition
class TanhOp(ElementwiseUnaryOp):
    """Hyperbolic tangent."""

    name = "dnn.tanh"


@irdl_op_definition
class ReluOp(ElementwiseUnaryOp):
    """max(x, 0)."""

    name = "dnn.relu"


@irdl_op_definition
class SigmoidOp(ElementwiseUnaryOp):
    """1 / (1 + exp(-x))."""

    name = "dnn.sigmoid"


@irdl_op_definition
class SiluOp(ElementwiseUnaryOp):
    """x * sigmoid(x) (SiLU / swish), fused from ONNX's Mul(x, Sigmoid(x))."""

    name = "dnn.silu"


@irdl_op_definition
class ReciprocalOp(ElementwiseUnaryOp):
    """1 / x."""

    name = "dnn.reciprocal"


@irdl_op_definition
class CosOp(ElementwiseUnaryOp):
    """Cosine."""

    name = "dnn.cos"


@irdl_op_definition
class SinOp(ElementwiseUnaryOp):
    """Sine."""

    name = "dnn.sin"


@irdl_op_definition
class FloorOp(ElementwiseUnaryOp):
    """Round toward minus infinity."""

    name = "dnn.floor"


@irdl_op_definition
class CeilOp(ElementwiseUnaryOp):
    """Round toward plus infinity."""

    name = "dnn.ceil"


@irdl_op_definition
class RoundOp(ElementwiseUnaryOp):
    """Round half to even (ONNX Round)."""

    name = "dnn.round"


@irdl_op_definition
class HardSwishOp(ElementwiseUnaryOp):
    """x * max(0, min(1, x/6 + 1/2)) (ONNX HardSwish)."""

    name = "dnn.hardswish"


@irdl_op_definition
class GeluOp(ElementwiseUnaryOp):
    """GELU; `approximate = "tanh"` selects the tanh approximation (default: erf)."""

    name = "dnn.gelu"

    approximate = opt_prop_def(StringAttr)

    def verify_(self) -> None:
        if self.approximate is not None and self.approximate.data not in ("none", "tanh"):
            raise VerifyException('dnn.gelu: approximate must be "none" or "tanh"')


@irdl_op_definition
class HardSigmoidOp(ElementwiseUnaryOp):
    """max(0, min(1, alpha*x + beta))."""

    name = "dnn.hardsigmoid"

    alpha = prop_def(FloatAttr[Float32Type])
    beta = prop_def(FloatAttr[Float32Type])


@irdl_op_definition
class LeakyReluOp(ElementwiseUnaryOp):
    name = "dnn.leaky_relu"

    alpha = prop_def(FloatAttr[Float32Type])


@irdl_op_definition
class ClipOp(ElementwiseUnaryOp):
    """Clamp to [min, max]; a missing bound is unbounded."""

    name = "dnn.clip"

    min = opt_prop_def(FloatAttr[Float32Type])
    max = opt_prop_def(FloatAttr[Float32Type])


@irdl_op_definition
class CastOp(DnnOp):
    """Element type conversion; float → int truncates toward zero (ONNX Cast)."""

    name = "dnn.cast"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def verify_(self) -> None:
        _expect_shape(self, _shape(self.result), _shape(self.input))


# ---------------------------------------------------------------------------
# Linear algebra and convolution


def matmul_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """numpy.matmul's result shape (1-D operands promoted then squeezed)."""
    if not a or not b:
        raise VerifyException("matmul operands must have rank >= 1")
    a2 = [1, *a] if len(a) == 1 else list(a)
    b2 = [*b, 1] if len(b) == 1 else list(b)
    if a2[-1] != b2[-2]:
        raise VerifyException(f"matmul contraction mismatch: {list(a)} x {list(b)}")
    batch = broadcast_shapes(a2[:-2], b2[:-2])  # batch dims
    out = [*batch, a2[-2], b2[-1]]
    if len(a) == 1:
        del out[-2]
    if len(b) == 1:
        del out[-1]
    return tuple(out)


@irdl_op_definition
class MatmulOp(DnnOp):
    """numpy.matmul semantics, batch dimensions broadcast."""

    name = "dnn.matmul"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        try:
            want = matmul_shape(_shape(self.lhs), _shape(self.rhs))
        except VerifyException as e:
            raise VerifyException(f"{self.name}: {e}") from None
        _expect_shape(self, _shape(self.result), want)


@irdl_op_definition
class GemmOp(DnnOp):
    """alpha * op(A) @ op(B) + beta * C with 2-D A and B, C broadcast to the result."""

    name = "dnn.gemm"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)

    alpha = opt_prop_def(FloatAttr[Float32Type])
    beta = opt_prop_def(FloatAttr[Float32Type])
    trans_a = opt_prop_def(UnitAttr)
    trans_b = opt_prop_def(UnitAttr)

    assembly_format = "$lhs `,` $rhs (`,` $bias^)? attr-dict `:` type($lhs) `,` type($rhs) (`,` type($bias)^)? `->` type($result)"

    def verify_(self) -> None:
        a, b = _shape(self.lhs), _shape(self.rhs)
        if len(a) != 2 or len(b) != 2:
            raise VerifyException("dnn.gemm: operands must be 2-D")
        m, k = (a[1], a[0]) if self.trans_a else a
        k2, n = (b[1], b[0]) if self.trans_b else b
        if k != k2:
            raise VerifyException(f"dnn.gemm: contraction mismatch {k} vs {k2}")
        _expect_shape(self, _shape(self.result), (m, n))
        if self.bias is not None:
            bias = _shape(self.bias)
            if _broadcast(self, bias, (m, n)) != (m, n):
                raise VerifyException(f"dnn.gemm: bias {list(bias)} does not broadcast to {[m, n]}")


def window_out(
    size: int,
    kernel: int,
    stride: int,
    pad_begin: int,
    pad_end: int,
    dilation: int,
    ceil: bool = False,
) -> int:
    """Output length of a sliding window (conv/pool) along one axis."""
    span = dilation * (kernel - 1) + 1
    num = size + pad_begin + pad_end - span
    out = (-(-num // stride) if ceil else num // stride) + 1
    if ceil and (out - 1) * stride >= size + pad_begin:
        out -= 1  # the last window may not start in the end padding (ONNX rule)
    return out


class WindowOp(DnnOp):
    """Shared attributes of conv and pooling over the trailing spatial dims (NC…)."""

    strides = prop_def(DenseArrayBase[I64])
    pads = prop_def(DenseArrayBase[I64])
    dilations = prop_def(DenseArrayBase[I64])

    def window_shape(
        self, input: Sequence[int], kernel: Sequence[int], ceil: bool = False
    ) -> list[int]:
        spatial = len(input) - 2
        strides, pads, dilations = _ints(self.strides), _ints(self.pads), _ints(self.dilations)
        if (
            len(kernel) != spatial
            or len(strides) != spatial
            or len(dilations) != spatial
            or len(pads) != 2 * spatial
        ):
            raise VerifyException(
                f"{self.name}: kernel/strides/dilations need {spatial} entries and pads {2 * spatial}"
            )
        if min(strides + dilations, default=1) < 1 or min(pads, default=0) < 0:
            raise VerifyException(f"{self.name}: strides/dilations must be >= 1 and pads >= 0")
        out = [
            window_out(
                input[2 + i], kernel[i], strides[i], pads[i], pads[i + spatial], dilations[i], ceil
            )
            for i in range(spatial)
        ]
        if min(out, default=1) < 1:
            raise VerifyException(f"{self.name}: the window is larger than the padded input")
        return out


@irdl_op_definition
class ConvOp(WindowOp):
    """N-D convolution (NCW, NCHW): weights O x I/group x K…, optional bias O."""

    name = "dnn.conv"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    group = prop_def(IntegerAttr[I64])

    assembly_format = "$input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)? `->` type($result)"

    def verify_(self) -> None:
        x, w = _shape(self.input), _shape(self.weight)
        group = self.group.value.data
        if len(x) < 3 or len(w) != len(x):
            raise VerifyException("dnn.conv: input and weight must have the same rank >= 3")
        if group < 1 or x[1] != w[1] * group or w[0] % group:
            raise VerifyException(
                f"dnn.conv: channels do not match: input {x[1]}, weight {list(w)}, group {group}"
            )
        spatial = self.window_shape(x, w[2:])
        _expect_shape(self, _shape(self.result), [x[0], w[0], *spatial])
        if self.bias is not None and _shape(self.bias) != (w[0],):
            raise VerifyException(f"dnn.conv: bias must have shape [{w[0]}]")


@irdl_op_definition
class MaxPoolOp(WindowOp):
    name = "dnn.max_pool"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    kernel_shape = prop_def(DenseArrayBase[I64])
    ceil_mode = opt_prop_def(UnitAttr)

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        x = _shape(self.input)
        spatial = self.window_shape(x, _ints(self.kernel_shape), self.ceil_mode is not None)
        _expect_shape(self, _shape(self.result), [x[0], x[1], *spatial])
        _expect_same_element(self, self.input, self.result)


@irdl_op_definition
class AveragePoolOp(WindowOp):
    """Average pooling; `count_include_pad` divides by the full window size."""

    name = "dnn.average_pool"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    kernel_shape = prop_def(DenseArrayBase[I64])
    ceil_mode = opt_prop_def(UnitAttr)
    count_include_pad = opt_prop_def(UnitAttr)

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        x = _shape(self.input)
        spatial = self.window_shape(x, _ints(self.kernel_shape), self.ceil_mode is not None)
        _expect_shape(self, _shape(self.result), [x[0], x[1], *spatial])
        _expect_same_element(self, self.input, self.result)


# ---------------------------------------------------------------------------
# Normalisation and reductions


class AxisOp(DnnOp):
    """Shape-preserving op along one (non-negative) axis."""

    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    axis = prop_def(IntegerAttr[I64])

    def verify_(self) -> None:
        _axis(self, self.axis.value.data, len(_shape(self.input)))


@irdl_op_definition
class SoftmaxOp(AxisOp):
    name = "dnn.softmax"
    assembly_format = "$input attr-dict `:` type($result)"


@irdl_op_definition
class LogSoftmaxOp(AxisOp):
    name = "dnn.log_softmax"
    assembly_format = "$input attr-dict `:` type($result)"


class NormOp(DnnOp):
    """Normalises over dims `axis`..end; scale (and bias) broadcast over those dims.

    Subclasses declare their operands (`input` first: xDSL orders base-class fields last).
    """

    axis = prop_def(IntegerAttr[I64])
    epsilon = prop_def(FloatAttr[Float32Type])

    def verify_(self) -> None:
        x = self.operands[0]
        _axis(self, self.axis.value.data, len(_shape(x)))
        if x.type != self.results[0].type:
            raise VerifyException(f"{self.name}: operand and result types differ")

    def _verify_param(self, param: SSAValue | None) -> None:
        if param is None:
            return
        x = _shape(self.operands[0])
        normalized = x[self.axis.value.data :]
        p = _shape(param)
        try:
            fits = broadcast_shapes(p, normalized) == tuple(normalized)
        except VerifyException:
            fits = False
        if not fits:
            raise VerifyException(
                f"{self.name}: parameter {list(p)} does not broadcast to the normalised dims {list(normalized)}"
            )


@irdl_op_definition
class LayerNormOp(NormOp):
    """ONNX LayerNormalization: (x - mean) / sqrt(var + eps) * scale + bias."""

    name = "dnn.layer_norm"

    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$input `,` $scale (`,` $bias^)? attr-dict `:` type($input) `,` type($scale) (`,` type($bias)^)? `->` type($result)"

    def verify_(self) -> None:
        super().verify_()
        self._verify_param(self.scale)
        self._verify_param(self.bias)


@irdl_op_definition
class RmsNormOp(NormOp):
    """x / sqrt(mean(x²) + eps) * scale, over dims `axis`..end."""

    name = "dnn.rms_norm"

    input = operand_def(TensorType)
    scale = opt_operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = (
        "$input (`,` $scale^)? attr-dict `:` type($input) (`,` type($scale)^)? `->` type($result)"
    )

    def verify_(self) -> None:
        super().verify_()
        self._verify_param(self.scale)


@irdl_op_definition
class ReduceMeanOp(ReduceOp):
    name = "dnn.reduce_mean"


@irdl_op_definition
class ReduceSumOp(ReduceOp):
    name = "dnn.reduce_sum"


@irdl_op_definition
class ReduceMaxOp(ReduceOp):
    name = "dnn.reduce_max"


@irdl_op_definition
class ReduceMinOp(ReduceOp):
    name = "dnn.reduce_min"


# ---------------------------------------------------------------------------
# Data movement


@irdl_op_definition
class GatherOp(DnnOp):
    """ONNX Gather (embedding lookup); negative indices count from the end."""

    name = "dnn.gather"

    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])

    assembly_format = "$data `[` $indices `]` attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        d, i = _shape(self.data), _shape(self.indices)
        axis = self.axis.value.data
        _axis(self, axis, len(d))
        if not isinstance(_tensor(self.indices).element_type, IntegerType):
            raise VerifyException("dnn.gather: indices must be integers")
        _expect_shape(self, _shape(self.result), [*d[:axis], *i, *d[axis + 1 :]])
        _expect_same_element(self, self.data, self.result)


@irdl_op_definition
class TransposeOp(DnnOp):
    name = "dnn.transpose"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    perm = prop_def(DenseArrayBase[I64])

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        x, perm = _shape(self.input), _ints(self.perm)
        if sorted(perm) != list(range(len(x))):
            raise VerifyException(
                f"dnn.transpose: {list(perm)} is not a permutation of rank {len(x)}"
            )
        _expect_shape(self, _shape(self.result), [x[p] for p in perm])
        _expect_same_element(self, self.input, self.result)


@irdl_op_definition
class ReshapeOp(DnnOp):
    """Row-major reshape to the (static) result type."""

    name = "dnn.reshape"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        if prod(_shape(self.input)) != prod(_shape(self.result)):
            raise VerifyException(
                f"dnn.reshape: {list(_shape(self.input))} and {list(_shape(self.result))} hold different element counts"
            )
        _expect_same_element(self, self.input, self.result)


@irdl_op_definition
class ExpandOp(DnnOp):
    """Broadcast to the result shape (ONNX Expand)."""

    name = "dnn.expand"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        out = _shape(self.result)
        if _broadcast(self, _shape(self.input), out) != out:
            raise VerifyException("dnn.expand: the input does not broadcast to the result shape")
        _expect_same_element(self, self.input, self.result)


@irdl_op_definition
class ConcatOp(DnnOp):
    name = "dnn.concat"

    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])

    assembly_format = "$inputs attr-dict `:` functional-type($inputs, $result)"

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("dnn.concat: needs at least one input")
        shapes = [_shape(v) for v in self.inputs]
        axis = self.axis.value.data
        _axis(self, axis, len(shapes[0]))
        for s in shapes:
            if len(s) != len(shapes[0]) or any(
                a != b for i, (a, b) in enumerate(zip(s, shapes[0], strict=True)) if i != axis
            ):
                raise VerifyException(
                    f"dnn.concat: shapes {[list(s) for s in shapes]} differ off axis {axis}"
                )
        want = list(shapes[0])
        want[axis] = sum(s[axis] for s in shapes)
        _expect_shape(self, _shape(self.result), want)
        _expect_same_element(self, *self.inputs, self.result)


@irdl_op_definition
class SliceOp(DnnOp):
    """`x[starts:ends:steps]` per dimension, bounds normalised and clamped (full rank)."""

    name = "dnn.slice"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    starts = prop_def(DenseArrayBase[I64])
    ends = prop_def(DenseArrayBase[I64])
    steps = prop_def(DenseArrayBase[I64])

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        x = _shape(self.input)
        starts, ends, steps = _ints(self.starts), _ints(self.ends), _ints(self.steps)
        if not len(starts) == len(ends) == len(steps) == len(x):
            raise VerifyException(f"dnn.slice: starts/ends/steps need {len(x)} entries")
        if 0 in steps:
            raise VerifyException("dnn.slice: steps must be non-zero")
        want = [
            len(range(*slice(b, e, s).indices(d)))
            for b, e, s, d in zip(starts, ends, steps, x, strict=True)
        ]
        _expect_shape(self, _shape(self.result), want)
        _expect_same_element(self, self.input, self.result)


@irdl_op_definition
class SplitOp(DnnOp):
    """Split along `axis` into the result sizes."""

    name = "dnn.split"

    input = operand_def(TensorType)
    outputs = var_result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])

    assembly_format = "$input attr-dict `:` type($input) `->` type($outputs)"

    def verify_(self) -> None:
        x = _shape(self.input)
        axis = self.axis.value.data
        _axis(self, axis, len(x))
        shapes = [_shape(r) for r in self.outputs]
        if sum(s[axis] for s in shapes) != x[axis] or any(
            len(s) != len(x)
            or any(a != b for i, (a, b) in enumerate(zip(s, x, strict=True)) if i != axis)
            for s in shapes
        ):
            raise VerifyException(
                f"dnn.split: results {[list(s) for s in shapes]} do not tile {list(x)}"
            )


@irdl_op_definition
class PadOp(DnnOp):
    """Constant padding: `pads` = begins… then ends…, as in ONNX."""

    name = "dnn.pad"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    pads = prop_def(DenseArrayBase[I64])
    value = opt_prop_def(FloatAttr[Float32Type])

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        x, pads = _shape(self.input), _ints(self.pads)
        if len(pads) != 2 * len(x):
            raise VerifyException(f"dnn.pad: pads need {2 * len(x)} entries")
        _expect_shape(
            self, _shape(self.result), [d + pads[i] + pads[i + len(x)] for i, d in enumerate(x)]
        )


@irdl_op_definition
class ScatterNDOp(DnnOp):
    """ONNX ScatterND: `data` with the slices addressed by `indices` (…, q) replaced by
    `updates`. The KV-cache update of a decoder: bufferization writes it in place when
    `data` is not used afterwards."""

    name = "dnn.scatter_nd"

    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    updates = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = (
        "$data `[` $indices `]` `=` $updates attr-dict `:` functional-type(operands, results)"
    )

    def verify_(self) -> None:
        d, i, u = _shape(self.data), _shape(self.indices), _shape(self.updates)
        if not i or not 1 <= i[-1] <= len(d):
            raise VerifyException(f"dnn.scatter_nd: indices {list(i)} must end in 1..{len(d)}")
        if not isinstance(_tensor(self.indices).element_type, IntegerType):
            raise VerifyException("dnn.scatter_nd: indices must be integers")
        want = [*i[:-1], *d[i[-1] :]]
        if list(u) != want:
            raise VerifyException(f"dnn.scatter_nd: updates must have shape {want}, not {list(u)}")
        if self.result.type != self.data.type:
            raise VerifyException("dnn.scatter_nd: the result type must be the data type")
        _expect_same_element(self, self.data, self.updates)


# ---------------------------------------------------------------------------
# Deeploy's integer operators. Their exact arithmetic is in xdeeploy/interp
# (integer_reference.py, integer_norms.py); attributes are plain integers here even where
# Deeploy's exporters store them as float tensors.


def _i64_prop() -> Any:
    return prop_def(IntegerAttr[I64])


class IntegerUnaryOp(DnnOp):
    """Shape-preserving integer op with integer parameters."""

    input = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        _expect_shape(self, _shape(self.result), _shape(self.input))


@irdl_op_definition
class RequantShiftOp(DnnOp):
    """y = clip(round((x * mul + add) / div)) to n_levels values, signed or not
    (Deeploy's RequantShift; `div` is a power of two)."""

    name = "dnn.requant_shift"

    input = operand_def(TensorType)
    mul = operand_def(TensorType)
    add = operand_def(TensorType)
    result = result_def(TensorType)
    div = _i64_prop()
    n_levels = _i64_prop()
    signed = opt_prop_def(UnitAttr)

    assembly_format = "$input `,` $mul `,` $add attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        x = _shape(self.input)
        _expect_shape(
            self, _shape(self.result), _broadcast(self, x, _shape(self.mul), _shape(self.add))
        )
        div = self.div.value.data
        if div < 1 or div & (div - 1):
            raise VerifyException(f"dnn.requant_shift: div {div} is not a power of two")
        if self.n_levels.value.data < 2:
            raise VerifyException("dnn.requant_shift: n_levels must be at least 2")


@irdl_op_definition
class ISoftmaxOp(IntegerUnaryOp):
    """Deeploy's iSoftmax: an integer exp polynomial (I-BERT) along the last axis."""

    name = "dnn.i_softmax"

    coeff_a = _i64_prop()
    coeff_b = _i64_prop()
    coeff_c = _i64_prop()
    log2 = _i64_prop()
    n_levels = _i64_prop()


@irdl_op_definition
class ITAMaxOp(IntegerUnaryOp):
    """ITA's integer softmax approximation along the last axis."""

    name = "dnn.ita_max"

    n_levels = _i64_prop()


@irdl_op_definition
class IRMSNormOp(DnnOp):
    """Deeploy's iRMSNorm over the last axis, with an integer weight."""

    name = "dnn.i_rms_norm"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    result = result_def(TensorType)
    d = _i64_prop()
    n_levels = _i64_prop()

    assembly_format = "$input `,` $weight attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        _expect_shape(self, _shape(self.result), _shape(self.input))


@irdl_op_definition
class ILayerNormOp(DnnOp):
    """Deeploy's iLayerNorm over the last axis, with integer weight and bias."""

    name = "dnn.i_layer_norm"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    result = result_def(TensorType)
    d = _i64_prop()
    n_levels = _i64_prop()

    assembly_format = (
        "$input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)"
    )

    def verify_(self) -> None:
        _expect_shape(self, _shape(self.result), _shape(self.input))


@irdl_op_definition
class IGeluOp(IntegerUnaryOp):
    """Deeploy's iGELU (I-BERT's integer GELU)."""

    name = "dnn.i_gelu"

    b = _i64_prop()
    one = _i64_prop()


@irdl_op_definition
class IHardswishOp(IntegerUnaryOp):
    """Deeploy's iHardswish."""

    name = "dnn.i_hardswish"

    one_over_six = _i64_prop()
    six = _i64_prop()
    three = _i64_prop()


@irdl_op_definition
class TrueIntegerDivOp(IntegerUnaryOp):
    """Deeploy's TrueIntegerDiv: division by the constant `y` in integer arithmetic."""

    name = "dnn.true_integer_div"

    delta = _i64_prop()
    eps = _i64_prop()
    eta = _i64_prop()
    y = _i64_prop()


@irdl_op_definition
class IntegerMeanOp(ReduceOp):
    """Deeploy's IntegerMean: the mean of integers, rounded as Deeploy rounds it."""

    name = "dnn.integer_mean"


# ---------------------------------------------------------------------------
# Standard ONNX quantization (QDQ), before `dnn-lower-qdq` turns it into integer ops.


class QuantizationOp(DnnOp):
    """`scale` and `zero_point` are scalars or per-`axis` vectors, as in ONNX."""

    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    zero_point = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])

    assembly_format = (
        "$input `,` $scale `,` $zero_point attr-dict `:` functional-type(operands, results)"
    )

    def verify_(self) -> None:
        _expect_shape(self, _shape(self.result), _shape(self.input))
        x = _shape(self.input)
        for param in (self.scale, self.zero_point):
            p = _shape(param)
            if len(p) > 1 or (p and x and p[0] not in (1, x[self.axis.value.data])):
                raise VerifyException(
                    f"{self.name}: scale/zero point must be scalars or per-axis vectors"
                )
        if not isinstance(_tensor(self.scale).element_type, Float32Type):
            raise VerifyException(f"{self.name}: scale must be f32")
        if x:
            _axis(self, self.axis.value.data, len(x))


@irdl_op_definition
class QuantizeLinearOp(QuantizationOp):
    """ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point)."""

    name = "dnn.quantize_linear"


@irdl_op_definition
class DequantizeLinearOp(QuantizationOp):
    """ONNX DequantizeLinear: (x - zero_point) * scale."""

    name = "dnn.dequantize_linear"


DNN = Dialect(
    "dnn",
    [
        ConstantOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        PowOp,
        MaxOp,
        MinOp,
        EqualOp,
        LessOp,
        GreaterOp,
        WhereOp,
        SqrtOp,
        NegOp,
        AbsOp,
        ExpOp,
        LogOp,
        ErfOp,
        TanhOp,
        ReluOp,
        SigmoidOp,
        SiluOp,
        ReciprocalOp,
        CosOp,
        SinOp,
        FloorOp,
        CeilOp,
        RoundOp,
        HardSwishOp,
        GeluOp,
        HardSigmoidOp,
        LeakyReluOp,
        ClipOp,
        CastOp,
        MatmulOp,
        GemmOp,
        ConvOp,
        MaxPoolOp,
        AveragePoolOp,
        SoftmaxOp,
        LogSoftmaxOp,
        LayerNormOp,
        RmsNormOp,
        ReduceMeanOp,
        ReduceSumOp,
        ReduceMaxOp,
        ReduceMinOp,
        GatherOp,
        TransposeOp,
        ReshapeOp,
        ExpandOp,
        ConcatOp,
        SliceOp,
        SplitOp,
        PadOp,
        ScatterNDOp,
        RequantShiftOp,
        ISoftmaxOp,
        ITAMaxOp,
        IRMSNormOp,
        ILayerNormOp,
        IGeluOp,
        IHardswishOp,
        TrueIntegerDivOp,
        IntegerMeanOp,
        QuantizeLinearOp,
        DequantizeLinearOp,
    ],  # fmt: skip
    [WeightsAttr],
)
