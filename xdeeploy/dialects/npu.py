"""The `npu` dialect: jobs for an N-EUREKA-like neural engine, on buffers.

The engine computes int8 convolutions (3x3 dense, 3x3 depthwise, 1x1 pointwise) and
matrix products (a pointwise convolution over rows) with the requantization fused:

    npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 8 (%x, %w) requant(%scale, %bias)
        -> %y : memref<8x8x16xui8, "L1">, memref<32x9x28xi8, "NPU">,
                memref<16xui8, "L1">, memref<16xi32, "L1"> -> memref<8x8x16xi8, "L1">

    npu.matmul shift 8 (%a, %w) requant(%scale, %bias) -> %y : ...

    npu.load_weights %b -> %w : memref<48x64xi8> -> memref<64x64xi8, "NPU">

`load_weights` is the transfer of a matrix product's right operand computed at run time
(an activation: attention's K or V) into the engine's memory, packed on the way; weights
known at compile time are packed by the compiler and stay there.

Data layout, as the engine streams it: activations height x width x channels (rows x
features for `matmul`), 8 bits, signed or unsigned; weights signed 8 bits in the engine's
own memory (memory space `"NPU"`, filled by DMA like the chip's), output channel major,
each filter's taps then its input channels: [Cout', 9, Cin'] (dense), [C', 9]
(depthwise), [Cout', Cin'] (pointwise, matmul), the primed counts rounded up to the
engine's subtiles (`CIN_SUBTILE`, `COUT_SUBTILE`) with zero filters and channels.

Per output element: acc = Σ x·w (exact, 32 bits suffice for 8-bit operands), then with
`requant`: clamp((acc · scale[c] + bias[c]) >> shift) to the output's 8-bit range, in
exact 64-bit arithmetic (scale unsigned 8 bits, bias int32 — a requantization's rounding
term is folded into the bias by whoever maps a `requant_shift` here). Without `requant`
the output is the int32 accumulator.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I32,
    DenseArrayBase,
    IntegerAttr,
    IntegerType,
    MemRefType,
    Signedness,
    StringAttr,
    i32,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    prop_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

WEIGHT_SPACE = "NPU"
"""The memory space of the engine's weight memory."""

KINDS = ("dense3x3", "depthwise3x3", "pointwise")
CIN_SUBTILE = {"dense3x3": 28, "depthwise3x3": 28, "pointwise": 32}
"""Input channels the engine consumes per pass: weights are padded to multiples."""
COUT_SUBTILE = 32
"""Output channels per pass (dense and pointwise)."""


def _space(ty: MemRefType) -> str | None:
    space = ty.memory_space
    return space.data if isinstance(space, StringAttr) else None


def _int(ty: Attribute) -> IntegerType | None:
    return ty if isinstance(ty, IntegerType) else None


def _byte(ty: MemRefType, what: str, op: str) -> None:
    elem = _int(ty.element_type)
    if elem is None or elem.width.data != 8:
        raise VerifyException(f"{op}: the {what} must hold 8-bit integers, not {ty.element_type}")


def round_up(n: int, multiple: int) -> int:
    """`n` rounded up to a multiple of `multiple` (a padded channel count)."""
    return -(-n // multiple) * multiple


class _Job(IRDLOperation):
    """What `conv2d` and `matmul` share: operands, the requantization and its checks."""

    input = operand_def(MemRefType)
    weights = operand_def(MemRefType)
    scale = opt_operand_def(MemRefType)
    bias = opt_operand_def(MemRefType)
    output = operand_def(MemRefType)

    shift = prop_def(IntegerAttr[I32])

    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    def _head(self, printer: Printer) -> None:
        """The op's own properties, printed after its name."""
        printer.print_string(f" shift {self.shift.value.data}")

    def print(self, printer: Printer) -> None:
        self._head(printer)
        printer.print_string(" (")
        printer.print_list([self.input, self.weights], printer.print_operand)
        printer.print_string(")")
        if self.scale is not None and self.bias is not None:
            printer.print_string(" requant(")
            printer.print_list([self.scale, self.bias], printer.print_operand)
            printer.print_string(")")
        printer.print_string(" -> ")
        printer.print_operand(self.output)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        ins = [o.type for o in (self.input, self.weights, self.scale, self.bias) if o is not None]
        printer.print_list(ins, printer.print_attribute)
        printer.print_string(" -> ")
        printer.print_attribute(self.output.type)

    @staticmethod
    def _parse_operands(
        parser: Parser,
    ) -> tuple[list[SSAValue], tuple[SSAValue, SSAValue] | None, SSAValue, dict[str, Attribute]]:
        """`(%x, %w) [requant(%scale, %bias)] -> %y attrs : types -> type`."""
        names = parser.parse_comma_separated_list(
            parser.Delimiter.PAREN, parser.parse_unresolved_operand
        )
        requant = []
        if parser.parse_optional_keyword("requant"):
            requant = parser.parse_comma_separated_list(
                parser.Delimiter.PAREN, parser.parse_unresolved_operand
            )
        parser.parse_punctuation("->")
        out = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        types = parser.parse_comma_separated_list(parser.Delimiter.NONE, parser.parse_type)
        parser.parse_punctuation("->")
        out_type = parser.parse_type()
        operands = [*names, *requant]
        if len(types) != len(operands):
            parser.raise_error(f"{len(operands)} operand types expected, got {len(types)}")
        resolved: list[SSAValue] = [
            parser.resolve_operand(o, t) for o, t in zip(operands, types, strict=True)
        ]
        pair = (resolved[2], resolved[3]) if requant else None
        output: SSAValue = parser.resolve_operand(out, out_type)
        return resolved[:2], pair, output, attributes

    @staticmethod
    def _parse_shift(parser: Parser) -> int:
        parser.parse_keyword("shift")
        return parser.parse_integer()

    def _types(self) -> tuple[MemRefType, MemRefType, MemRefType]:
        x, w, y = self.input.type, self.weights.type, self.output.type
        assert isinstance(x, MemRefType) and isinstance(w, MemRefType)
        assert isinstance(y, MemRefType)
        return x, w, y

    def _verify_job(self, out_channels: int, weight_rows: int) -> None:
        """Element types, weight memory, the requantization's operands against
        `out_channels`, and weights with at least `weight_rows` (padded) filters."""
        x, w, y = self._types()
        name = self.name
        _byte(x, "input", name)
        _byte(w, "weights", name)
        weights_elem = _int(w.element_type)
        assert weights_elem is not None
        if weights_elem.signedness.data == Signedness.UNSIGNED:
            raise VerifyException(f"{name}: the weights are signed 8-bit integers")
        if _space(w) != WEIGHT_SPACE:
            raise VerifyException(
                f"{name}: the weights must be in the engine's memory (memory space \""
                f'{WEIGHT_SPACE}"), not {w.memory_space}'
            )
        if w.get_shape()[0] < weight_rows:
            raise VerifyException(
                f"{name}: {w.get_shape()[0]} filters in the weights, {weight_rows} needed"
            )
        shift = self.shift.value.data
        if not 0 <= shift <= 31:
            raise VerifyException(f"{name}: shift {shift} is not in 0..31")
        if (self.scale is None) != (self.bias is None):
            raise VerifyException(f"{name}: requant takes both a scale and a bias")
        out = _int(y.element_type)
        if self.scale is None:
            if out is None or out.width.data != 32:
                raise VerifyException(f"{name}: without requant the output is int32")
            return
        if out is None or out.width.data != 8:
            raise VerifyException(f"{name}: a requantized output holds 8-bit integers")
        scale, bias = self.scale.type, self.bias.type  # type: ignore[union-attr]
        assert isinstance(scale, MemRefType) and isinstance(bias, MemRefType)
        if scale.element_type != IntegerType(8, Signedness.UNSIGNED):
            raise VerifyException(f"{name}: the scale is unsigned 8-bit (ui8)")
        if bias.element_type != i32:
            raise VerifyException(f"{name}: the bias is int32")
        for what, ty in (("scale", scale), ("bias", bias)):
            if list(ty.get_shape()) != [out_channels]:
                raise VerifyException(
                    f"{name}: the {what} needs one value per output channel ({out_channels})"
                )


@irdl_op_definition
class Conv2dOp(_Job):
    """A 2-D convolution job: `kind` dense3x3, depthwise3x3 or pointwise; stride 1 or 2;
    zero padding [top, left, bottom, right] of 0 or 1 (3x3 only)."""

    name = "npu.conv2d"

    kind = prop_def(StringAttr)
    stride = prop_def(IntegerAttr[I32])
    padding = prop_def(DenseArrayBase)

    def __init__(
        self,
        kind: str,
        x: SSAValue | Operation,
        weights: SSAValue | Operation,
        output: SSAValue | Operation,
        requant: tuple[SSAValue | Operation, SSAValue | Operation] | None = None,
        stride: int = 1,
        padding: Sequence[int] = (0, 0, 0, 0),
        shift: int = 0,
    ):
        scale, bias = ([requant[0]], [requant[1]]) if requant else ([], [])
        super().__init__(
            operands=[x, weights, scale, bias, output],
            properties={
                "kind": StringAttr(kind),
                "stride": IntegerAttr(stride, i32),
                "padding": DenseArrayBase.from_list(i32, list(padding)),
                "shift": IntegerAttr(shift, i32),
            },
        )

    def _head(self, printer: Printer) -> None:
        printer.print_string(f" {self.kind.data} stride {self.stride.value.data} pad [")
        printer.print_string(", ".join(map(str, self.pads)))
        printer.print_string("]")
        super()._head(printer)

    @classmethod
    def parse(cls, parser: Parser) -> Conv2dOp:
        kind = parser.parse_identifier()
        parser.parse_keyword("stride")
        stride = parser.parse_integer()
        parser.parse_keyword("pad")
        pads = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_integer)
        shift = cls._parse_shift(parser)
        (x, w), requant, out, attributes = cls._parse_operands(parser)
        op = cls(kind, x, w, out, requant, stride, pads, shift)
        op.attributes.update(attributes)
        return op

    @property
    def pads(self) -> list[int]:
        return [int(v) for v in self.padding.get_values()]  # pyright: ignore[reportUnknownArgumentType, reportAttributeAccessIssue]

    def verify_(self) -> None:
        kind = self.kind.data
        if kind not in KINDS:
            raise VerifyException(f"npu.conv2d: kind {kind!r} is not one of {', '.join(KINDS)}")
        x, w, y = self._types()
        if len(x.get_shape()) != 3 or len(y.get_shape()) != 3:
            raise VerifyException("npu.conv2d: input and output are height x width x channels")
        h, wd, cin = x.get_shape()
        oh, ow, cout = y.get_shape()
        stride, pads = self.stride.value.data, self.pads
        taps = 1 if kind == "pointwise" else 3
        if stride not in (1, 2):
            raise VerifyException(f"npu.conv2d: stride {stride} (the engine does 1 or 2)")
        if len(pads) != 4 or any(p not in ((0,) if taps == 1 else (0, 1)) for p in pads):
            raise VerifyException(
                f"npu.conv2d: padding {pads}: [top, left, bottom, right], each 0"
                + ("" if taps == 1 else " or 1")
            )
        want = ((h + pads[0] + pads[2] - taps) // stride + 1,
                (wd + pads[1] + pads[3] - taps) // stride + 1)  # fmt: skip
        if (oh, ow) != want:
            raise VerifyException(f"npu.conv2d: the output is {want[0]}x{want[1]}, not {oh}x{ow}")
        cin_p = round_up(cin, CIN_SUBTILE[kind])
        if kind == "depthwise3x3":
            if cout != cin:
                raise VerifyException("npu.conv2d: depthwise keeps the channel count")
            layout = [cin_p, 9]
        else:
            layout = [round_up(cout, COUT_SUBTILE), *([9] if taps == 3 else []), cin_p]
        if list(w.get_shape()) != layout:
            raise VerifyException(
                f"npu.conv2d: {kind} weights are laid out {layout}, not {list(w.get_shape())}"
            )
        self._verify_job(cout, layout[0])


@irdl_op_definition
class MatmulOp(_Job):
    """A matrix product job: rows x features times the weights' filters (a pointwise
    convolution over the rows), one output column per filter."""

    name = "npu.matmul"

    def __init__(
        self,
        a: SSAValue | Operation,
        weights: SSAValue | Operation,
        output: SSAValue | Operation,
        requant: tuple[SSAValue | Operation, SSAValue | Operation] | None = None,
        shift: int = 0,
    ):
        scale, bias = ([requant[0]], [requant[1]]) if requant else ([], [])
        super().__init__(
            operands=[a, weights, scale, bias, output],
            properties={"shift": IntegerAttr(shift, i32)},
        )

    @classmethod
    def parse(cls, parser: Parser) -> MatmulOp:
        shift = cls._parse_shift(parser)
        (a, w), requant, out, attributes = cls._parse_operands(parser)
        op = cls(a, w, out, requant, shift)
        op.attributes.update(attributes)
        return op

    def verify_(self) -> None:
        x, w, y = self._types()
        if len(x.get_shape()) != 2 or len(y.get_shape()) != 2:
            raise VerifyException("npu.matmul: input and output are rows x features")
        m, k = x.get_shape()
        ym, n = y.get_shape()
        if ym != m:
            raise VerifyException(f"npu.matmul: {m} input rows, {ym} output rows")
        layout = [round_up(n, COUT_SUBTILE), round_up(k, CIN_SUBTILE["pointwise"])]
        if list(w.get_shape()) != layout:
            raise VerifyException(
                f"npu.matmul: the weights are laid out {layout}, not {list(w.get_shape())}"
            )
        self._verify_job(n, layout[0])


@irdl_op_definition
class LoadWeightsOp(IRDLOperation):
    """Moves a K x N signed 8-bit matrix (a product's right operand known only at run
    time) into the engine's memory as `matmul` weights: transposed to [N', K'] and
    zero-padded to the subtiles — the DMA transfer that packs as it copies."""

    name = "npu.load_weights"

    source = operand_def(MemRefType)
    weights = operand_def(MemRefType)

    assembly_format = "$source `->` $weights attr-dict `:` type($source) `->` type($weights)"

    def __init__(self, source: SSAValue | Operation, weights: SSAValue | Operation):
        super().__init__(operands=[source, weights])

    def verify_(self) -> None:
        src, w = self.source.type, self.weights.type
        assert isinstance(src, MemRefType) and isinstance(w, MemRefType)
        for what, ty in (("source", src), ("weights", w)):
            elem = _int(ty.element_type)
            if elem is None or elem.width.data != 8 or elem.signedness.data == Signedness.UNSIGNED:
                raise VerifyException(
                    f"npu.load_weights: the {what} holds signed 8-bit integers, not "
                    f"{ty.element_type}"
                )
        if len(src.get_shape()) != 2:
            raise VerifyException("npu.load_weights: the source is a K x N matrix")
        if _space(w) != WEIGHT_SPACE:
            raise VerifyException(
                f'npu.load_weights: the weights go to the engine\'s memory ("{WEIGHT_SPACE}"),'
                f" not {w.memory_space}"
            )
        k, n = src.get_shape()
        layout = [round_up(n, COUT_SUBTILE), round_up(k, CIN_SUBTILE["pointwise"])]
        if list(w.get_shape()) != layout:
            raise VerifyException(
                f"npu.load_weights: {k}x{n} packs into {layout}, not {list(w.get_shape())}"
            )


NPU = Dialect("npu", [Conv2dOp, MatmulOp, LoadWeightsOp], [])
