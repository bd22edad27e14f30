"""The `kernel` dialect: calls into the hand-written `runtime_c` kernels, on buffers.

`kernel.call` reads like the C call it becomes:

    kernel.call @xd_softmax_f32(%x, %y, 4 : i32, 16 : i32, 1 : i32, 0 : i32)
        : memref<4x16xf32>, memref<4x16xf32>

Every argument is a buffer operand (`%x`), `null`, an enumerator (`XD_ADD`), an
integer, a float or an `array<i32: …>`; the verifier checks the list against the
kernel's C signature in `SIGNATURES` (the mirror of `runtime_c/include/xd_kernels.h`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import func
from xdsl.dialects.builtin import (
    I32,
    ArrayAttr,
    DenseArrayBase,
    Float32Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    MemRefType,
    StringAttr,
    SymbolRefAttr,
    UnitAttr,
    i32,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure, SymbolTable, SymbolUserOpInterface
from xdsl.utils.exceptions import VerifyException

from xdeeploy.dialects.dnn import WeightsAttr


@dataclass(frozen=True)
class Param:
    """One C parameter: `kind` is in/out/inout (buffers), i32, f32, i32[] or enum."""

    kind: str
    elem: str = "*"  # buffers: the element type ("f32", "u8", "i64", or "*" for any)
    nullable: bool = False

    @property
    def is_buffer(self) -> bool:
        return self.kind in ("in", "out", "inout")


def _sig(spec: str) -> tuple[Param, ...]:
    """`"in:f32 out:f32? i32 i32[] enum"` → parameters (`?` marks a nullable buffer)."""
    params = []
    for item in spec.split():
        nullable = item.endswith("?")
        kind, _, elem = item.rstrip("?").partition(":")
        params.append(Param(kind, elem or "*", nullable))
    return tuple(params)


SIGNATURES: dict[str, tuple[Param, ...]] = {
    "xd_binary_f32": _sig("enum in:f32 in:f32 out:f32 i32 i32[] i32[] i32[]"),
    "xd_compare_f32": _sig("enum in:f32 in:f32 out:u8 i32 i32[] i32[] i32[]"),
    "xd_binary_int": _sig("enum enum in in out i32 i32[] i32[] i32[]"),
    "xd_compare_int": _sig("enum enum in in out:u8 i32 i32[] i32[] i32[]"),
    "xd_quantize_linear": _sig("in:f32 in:f32 in enum out i32 i32 i32"),
    "xd_dequantize_linear": _sig("in enum in:f32 in out:f32 i32 i32 i32"),
    "xd_where_f32": _sig("in:u8 in:f32 in:f32 out:f32 i32 i32[] i32[] i32[] i32[]"),
    "xd_unary_f32": _sig("enum in:f32 out:f32 i32 f32 f32"),
    "xd_cast": _sig("in enum out enum i32"),
    "xd_matmul_f32": _sig("in:f32 in:f32 out:f32 i32 i32 i32 i32 i32[] i32[] i32[]"),
    "xd_gemv_f32": _sig("in:f32 in:f32 out:f32 i32 i32 i32"),
    "xd_gemm_f32": _sig("in:f32 in:f32 in:f32? out:f32 i32 i32 i32 i32 i32 f32 f32 i32 i32"),
    "xd_conv2d_f32": _sig(
        "in:f32 in:f32 in:f32? out:f32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 "
        "i32 i32 i32"
    ),
    "xd_maxpool2d_f32": _sig("in:f32 out:f32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32"),
    "xd_avgpool2d_f32": _sig(
        "in:f32 out:f32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32"
    ),
    "xd_softmax_f32": _sig("in:f32 out:f32 i32 i32 i32 i32"),
    "xd_layernorm_f32": _sig("in:f32 in:f32 in:f32? out:f32 i32 i32 f32"),
    "xd_rmsnorm_f32": _sig("in:f32 in:f32? out:f32 i32 i32 f32"),
    "xd_reduce_f32": _sig("enum in:f32 out:f32 i32 i32 i32"),
    "xd_copy": _sig("in out i32 i32"),
    "xd_strided_copy": _sig("in out i32 i32 i32[] i32[]"),
    "xd_copy_rows": _sig("in out i32 i32 i32 i32 i32"),
    "xd_im2col": _sig("in out " + " ".join(["i32"] * 14)),
    "xd_gather": _sig("in in out i32 i32 i32 i32 i32 i32"),
    "xd_pad": _sig("in out i32 i32 i32[] i32[] i32[] in"),
    "xd_scatter_nd": _sig("inout in:i64 in i32 i32 i32 i32[] i32"),
    # Integer operators (Deeploy's): every buffer comes with its xd_type enumerator.
    "xd_requant_shift": _sig(
        "in enum in enum in enum out enum i32 i32[] i32[] i32[] i32[] i32 i32 i32"
    ),
    "xd_matmul_int": _sig("in enum in enum out enum i32 i32 i32 i32 i32[] i32[] i32[]"),
    "xd_gemv_int": _sig("in enum in enum out enum i32 i32 i32"),
    "xd_gemm_int": _sig("in enum in enum in? enum out enum i32 i32 i32 i32 i32 i32 i32 i32 i32"),
    "xd_conv2d_int": _sig("in enum in enum in? enum out enum " + " ".join(["i32"] * 16)),
    "xd_maxpool2d_int": _sig("in out enum " + " ".join(["i32"] * 13)),
    "xd_isoftmax": _sig("in enum out:u8 i32 i32 i32 i32 i32 i32 i32"),
    "xd_ita_max": _sig("in enum out:u8 i32 i32 i32"),
    "xd_irmsnorm": _sig("in enum in enum out:u8 i32 i32 i32"),
    "xd_ilayernorm": _sig("in enum in enum in enum out:u8 i32 i32 i32"),
    "xd_igelu": _sig("in enum out enum i32 i32 i32"),
    "xd_ihardswish": _sig("in enum out enum i32 i32 i32 i32"),
    "xd_true_integer_div": _sig("in enum out enum i32 i32"),
    "xd_integer_mean": _sig("in enum out enum i32 i32 i32 i32"),
    # The NPU's functional model (npu.c), for platforms without the engine.
    "xd_npu_conv2d": _sig("in enum in in:u8? in? out enum " + " ".join(["i32"] * 12)),
    "xd_npu_matmul": _sig("in enum in in:u8? in? out enum i32 i32 i32 i32 i32"),
    "xd_npu_load_weights": _sig("in out i32 i32 i32 i32"),
}

REQUANT_RANGE_ATTR = "kernel.requant_range"
"""On an `xd_requant_shift` call: `array<i64: lo, hi>`, bounds proved at lowering for
x·mul and x·mul + add + round (`integer_kernels.requant_bounds`). Within int32, an
assembly kernel computes them in 32 bits."""

ENUMERATORS: frozenset[str] = frozenset(
    [
        f"XD_{n}"
        for n in ["ADD", "SUB", "MUL", "DIV", "POW", "MAX", "MIN", "EQUAL", "LESS", "GREATER"]
    ]
    + [
        f"XD_{n}"
        for n in [
            "SQRT",
            "NEG",
            "ABS",
            "EXP",
            "LOG",
            "ERF",
            "TANH",
            "RELU",
            "SIGMOID",
            "SILU",
            "RECIPROCAL",
            "COS",
            "SIN",
            "FLOOR",
            "CEIL",
            "ROUND",
            "HARDSWISH",
            "GELU",
            "GELU_TANH",
            "HARDSIGMOID",
            "LEAKY_RELU",
            "CLIP",
        ]
    ]
    + [
        f"XD_T_{n}"
        for n in ["F32", "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "BOOL", "F64"]
    ]
    + [f"XD_R{n}" for n in ["SUM", "MEAN", "MAX", "MIN"]]
)
"""The enumerators of `xd_kernels.h`, printed bare in `kernel.call`."""

_ELEM_NAMES = {"f32": Float32Type(), "u8": IntegerType(8), "i64": IntegerType(64)}


def _elem_ok(want: str, ty: Attribute) -> bool:
    if want == "*":
        return True
    if want == "u8":  # booleans are bytes; i8/ui8/i1 storage all match
        return isinstance(ty, IntegerType) and ty.width.data in (1, 8)
    return ty == _ELEM_NAMES[want]


BUFFER = UnitAttr()
"""Placeholder in `args` for the next buffer operand."""
NULL = StringAttr("NULL")
"""Placeholder in `args` for a NULL pointer (not an enumerator, survives generic form)."""


@irdl_op_definition
class CallOp(IRDLOperation):
    """A call to a `runtime_c` kernel; buffers are operands, the rest static arguments."""

    name = "kernel.call"

    callee = prop_def(SymbolRefAttr)
    args = prop_def(ArrayAttr)
    buffers = var_operand_def(MemRefType)

    def __init__(self, callee: str, args: Sequence[SSAValue | Operation | Attribute | None]):
        operands: list[SSAValue] = []
        attrs: list[Attribute] = []
        for a in args:
            if a is None:
                attrs.append(NULL)
            elif isinstance(a, SSAValue | Operation):
                operands.append(SSAValue.get(a))
                attrs.append(BUFFER)
            else:
                attrs.append(a)
        super().__init__(
            operands=[operands],
            properties={"callee": SymbolRefAttr(callee), "args": ArrayAttr(attrs)},
        )

    @property
    def kernel(self) -> str:
        return self.callee.root_reference.data

    def arguments(self) -> list[SSAValue | Attribute | None]:
        """The C arguments in order: buffers as SSA values, NULL as None."""
        buffers = iter(self.buffers)
        out: list[SSAValue | Attribute | None] = []
        for a in self.args.data:
            if a == BUFFER:
                out.append(next(buffers))
            elif a == NULL:
                out.append(None)
            else:
                out.append(a)
        return out

    def verify_(self) -> None:
        sig = SIGNATURES.get(self.kernel)
        if sig is None:
            raise VerifyException(f"kernel.call: unknown kernel @{self.kernel}")
        if sum(1 for a in self.args.data if a == BUFFER) != len(self.buffers):
            raise VerifyException("kernel.call: buffer placeholders and operands differ")
        args = self.arguments()
        if len(args) != len(sig):
            raise VerifyException(
                f"kernel.call @{self.kernel}: {len(sig)} arguments expected, got {len(args)}"
            )
        for k, (arg, param) in enumerate(zip(args, sig, strict=True)):
            where = f"kernel.call @{self.kernel}: argument {k}"
            if param.is_buffer:
                if arg is None:
                    if not param.nullable:
                        raise VerifyException(f"{where} may not be null")
                    continue
                if not isinstance(arg, SSAValue):
                    raise VerifyException(f"{where} must be a buffer")
                ty = arg.type
                assert isinstance(ty, MemRefType)
                if not _elem_ok(param.elem, ty.element_type):
                    raise VerifyException(f"{where} must hold {param.elem}, not {ty.element_type}")
            elif isinstance(arg, SSAValue) or arg is None:
                raise VerifyException(f"{where} must be a static {param.kind}")
            elif param.kind == "i32" and not isinstance(arg, IntegerAttr):
                raise VerifyException(f"{where} must be an i32")
            elif param.kind == "f32" and not isinstance(arg, FloatAttr):
                raise VerifyException(f"{where} must be an f32")
            elif param.kind == "i32[]" and not isinstance(arg, DenseArrayBase):
                raise VerifyException(f"{where} must be an array<i32: …>")
            elif param.kind == "enum" and (
                not isinstance(arg, StringAttr) or arg.data not in ENUMERATORS
            ):
                raise VerifyException(f"{where} must be an xd_kernels.h enumerator")

    @classmethod
    def parse(cls, parser: Parser) -> CallOp:
        callee = parser.parse_symbol_name().data

        def parse_arg() -> SSAValue | Attribute | None:
            if (operand := parser.parse_optional_unresolved_operand()) is not None:
                return operand  # type: ignore[return-value]  # resolved below
            if parser.parse_optional_keyword("null"):
                return None
            if (ident := parser.parse_optional_keyword_in(ENUMERATORS)) is not None:
                return StringAttr(ident)
            return parser.parse_attribute()

        raw = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parse_arg)
        attributes = parser.parse_optional_attr_dict()
        types: list[Attribute] = []
        if parser.parse_optional_punctuation(":"):
            types = parser.parse_comma_separated_list(parser.Delimiter.NONE, parser.parse_type)
        unresolved = [a for a in raw if not isinstance(a, Attribute) and a is not None]
        if len(unresolved) != len(types):
            parser.raise_error("kernel.call: give one type per buffer operand")
        resolved = iter(parser.resolve_operands(unresolved, types, parser.pos))  # type: ignore[arg-type]
        args = [
            next(resolved) if a is not None and not isinstance(a, Attribute) else a for a in raw
        ]
        op = cls(callee, args)
        op.attributes.update(attributes)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.callee)
        printer.print_string("(")
        for k, arg in enumerate(self.arguments()):
            if k:
                printer.print_string(", ")
            if arg is None:
                printer.print_string("null")
            elif isinstance(arg, SSAValue):
                printer.print_operand(arg)
            elif isinstance(arg, StringAttr):
                printer.print_string(arg.data)
            else:
                printer.print_attribute(arg)
        printer.print_string(")")
        printer.print_op_attributes(self.attributes)
        if self.buffers:
            printer.print_string(" : ")
            printer.print_list([b.type for b in self.buffers], printer.print_attribute)


@irdl_op_definition
class WeightsOp(IRDLOperation):
    """A read-only buffer holding stored weights: `kernel.weights #dnn.weights<…> : memref<…>`."""

    name = "kernel.weights"

    value = prop_def(WeightsAttr)
    result = result_def(MemRefType)

    traits = traits_def(Pure())

    assembly_format = "$value attr-dict `:` type($result)"

    def __init__(self, value: WeightsAttr, result_type: MemRefType):
        super().__init__(properties={"value": value}, result_types=[result_type])

    def verify_(self) -> None:
        ty = self.result.type
        assert isinstance(ty, MemRefType)
        tensor = self.value.type
        if ty.get_shape() != tensor.get_shape() or ty.element_type != tensor.element_type:
            raise VerifyException("kernel.weights: the buffer type must match the weights' type")


class _AsmCalleeIsAKernel(SymbolUserOpInterface):
    """The callee is a `func.func` in the module taking one 1-D memref per buffer, each of
    the operand's element width."""

    def verify(self, op: Operation) -> None:
        assert isinstance(op, AsmCallOp)
        callee = SymbolTable.lookup_symbol(op, op.callee)
        if not isinstance(callee, func.FuncOp):
            raise VerifyException(f"kernel.asm_call: no func.func {op.callee} in the module")
        params = callee.function_type.inputs.data
        if len(params) != len(op.buffers):
            raise VerifyException(
                f"kernel.asm_call: {op.callee} takes {len(params)} buffers, got {len(op.buffers)}"
            )
        for k, (param, buffer) in enumerate(zip(params, op.buffers, strict=True)):
            ty = buffer.type
            assert isinstance(ty, MemRefType)
            if not isinstance(param, MemRefType) or len(param.get_shape()) != 1:
                raise VerifyException(f"kernel.asm_call: {op.callee} parameter {k} is not 1-D")
            if _width(param.element_type) != _width(ty.element_type):
                raise VerifyException(
                    f"kernel.asm_call: buffer {k} holds {ty.element_type}, "
                    f"{op.callee} reads {param.element_type}"
                )


def _width(elem: Attribute) -> object:
    return elem.width.data if isinstance(elem, IntegerType) else elem


@irdl_op_definition
class AsmCallOp(IRDLOperation):
    """A call to a kernel made from the memref-level `func.func` it names, which becomes
    assembly (`convert-kernel-to-asm` makes both):

        kernel.asm_call @xd_asm_matmul_int_1f2e3d4c(%a, %b, %y)
            : memref<4x64xi8>, memref<64x16xi8>, memref<4x16xi32>

    As in `kernel.call`, each buffer is passed as the address of its first element (C's
    calling convention); the kernel reads it as the dense 1-D memref its function takes
    (signed and unsigned integers of one width share the bytes)."""

    name = "kernel.asm_call"

    callee = prop_def(SymbolRefAttr)
    buffers = var_operand_def(MemRefType)

    traits = traits_def(_AsmCalleeIsAKernel())

    assembly_format = "$callee `(` $buffers `)` attr-dict `:` type($buffers)"

    def __init__(self, callee: str, buffers: Sequence[SSAValue | Operation]):
        super().__init__(operands=[buffers], properties={"callee": SymbolRefAttr(callee)})


def i32_attr(value: int) -> IntegerAttr[I32]:
    return IntegerAttr(int(value), i32)


def f32_attr(value: float) -> FloatAttr:
    return FloatAttr(float(value), Float32Type())


def i32_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i32, [int(v) for v in values])


KERNEL = Dialect("kernel", [CallOp, AsmCallOp, WeightsOp], [])
