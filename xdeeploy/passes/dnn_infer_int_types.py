"""`dnn-infer-int-types`: give a fake-quantized graph real integer tensor types.

Deeploy's integer networks arrive as float32 tensors holding integer values. Given the
types of @main's inputs (as Deeploy infers them from the data: `input-types=ui8,i8`),
this pass walks the graph once and gives every value the type Deeploy's type checkers
would: RequantShift → int8/uint8 from `n_levels` and `signed`; MatMul, Gemm, Conv, Add,
Sub, Mul, iGELU, iHardswish, TrueIntegerDiv → int32; iSoftmax, ITAMax → uint8; iRMSNorm,
iLayerNorm → int8; data movement and MaxPool keep their input's type. Integer-valued
constants read by integer ops take the narrowest type holding them. An op without an
integer rule stays float and gets its integer operands through a `dnn.cast`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    Float32Type,
    FunctionType,
    IntegerType,
    ModuleOp,
    Signedness,
    TensorType,
    UnitAttr,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.transforms.dead_code_elimination import region_dce

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import element_type, numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.interp.integer_reference import infer_input_type

INFERRED_ATTR = "dnn.inferred"
"""Marks an op whose integer result type this pass inferred: its values are checked to
fit that type (a declared ONNX integer type wraps around, as ONNX says)."""

I32 = IntegerType(32)
I8 = IntegerType(8)
U8 = IntegerType(8, Signedness.UNSIGNED)

TYPE_NAMES: dict[str, Attribute] = {
    "i8": I8, "ui8": U8, "i16": IntegerType(16), "ui16": IntegerType(16, Signedness.UNSIGNED),
    "i32": I32, "ui32": IntegerType(32, Signedness.UNSIGNED), "i64": IntegerType(64),
    "f32": Float32Type(),
}  # fmt: skip


def _is_int(ty: Attribute) -> bool:
    return (
        isinstance(ty, TensorType)
        and isinstance(ty.element_type, IntegerType)
        and ty.element_type.width.data > 1
    )


def _elem(value: SSAValue) -> Attribute:
    ty = value.type
    assert isinstance(ty, TensorType)
    return ty.element_type


def _requant_type(op: dnn.RequantShiftOp, _: Sequence[Attribute]) -> Attribute:
    levels = op.n_levels.value.data
    signed = op.signed is not None
    for width in (8, 16, 32):
        if levels <= 1 << width:
            return IntegerType(width) if signed else IntegerType(width, Signedness.UNSIGNED)
    raise DeeployError(
        f"node '{dnn.node_name(op)}' (dnn.requant_shift): {levels} levels do not fit 32 bits"
    )


def _same(_: Operation, operands: Sequence[Attribute]) -> Attribute:
    return operands[0]


def _widest(_: Operation, operands: Sequence[Attribute]) -> Attribute:
    """The narrowest type holding every operand's values (int8 and uint8 join in int16)."""
    return element_type(np.result_type(*(numpy_dtype(t) for t in operands)))


def _fixed(ty: Attribute) -> Callable[[Operation, Sequence[Attribute]], Attribute]:
    return lambda _op, _operands: ty


RULES: dict[type[Operation], Callable[[Operation, Sequence[Attribute]], Attribute]] = {
    dnn.RequantShiftOp: _requant_type,  # type: ignore[dict-item]
    dnn.AddOp: _fixed(I32), dnn.SubOp: _fixed(I32), dnn.MulOp: _fixed(I32),
    dnn.MatmulOp: _fixed(I32), dnn.GemmOp: _fixed(I32), dnn.ConvOp: _fixed(I32),
    dnn.IGeluOp: _fixed(I32), dnn.IHardswishOp: _fixed(I32), dnn.TrueIntegerDivOp: _fixed(I32),
    dnn.ISoftmaxOp: _fixed(U8), dnn.ITAMaxOp: _fixed(U8),
    dnn.IRMSNormOp: _fixed(I8), dnn.ILayerNormOp: _fixed(I8),
    dnn.MaxPoolOp: _same, dnn.IntegerMeanOp: _same, dnn.GatherOp: _same,
    dnn.TransposeOp: _same, dnn.ReshapeOp: _same, dnn.ExpandOp: _same, dnn.SliceOp: _same,
    dnn.SplitOp: _same, dnn.PadOp: _same, dnn.ConcatOp: _widest,
}  # fmt: skip
"""Result element type of an op whose first operand (data) is an integer tensor."""

SAME_TYPE_OPERANDS: set[type[Operation]] = {dnn.ConcatOp}
"""Ops whose operands must share the result's element type (casts widen exactly)."""

INDEX_OPERANDS: dict[type[Operation], set[int]] = {dnn.GatherOp: {1}, dnn.ScatterNDOp: {1}}
"""Operands that are indices, not data: they keep their own type."""


@dataclass
class Typer:
    rewriter: Rewriter
    constants: dict[tuple[SSAValue, Attribute | None], SSAValue]

    def integer_constant(self, value: SSAValue) -> SSAValue | None:
        """An integer-typed copy of a float constant holding integers, else None."""
        const = value.owner
        if not isinstance(const, dnn.ConstantOp) or _is_int(value.type):
            return value if _is_int(value.type) else None
        key = (value, None)
        if key not in self.constants:
            array = dnn.constant_value(const.value)
            if array.dtype.kind == "f" and (
                not np.all(np.isfinite(array)) or np.any(array != np.round(array))
            ):
                return None
            try:
                dtype = infer_input_type(array.astype(np.int64))
            except ValueError:
                return None
            new = dnn.ConstantOp(dnn.constant_attr(array.astype(dtype)))
            new.result.name_hint = value.name_hint
            self.rewriter.insert_op(new, InsertPoint.after(const))
            self.constants[key] = new.result
        return self.constants[key]

    def coerce(self, op: Operation, elem: Attribute) -> None:
        """Gives every operand of `op` the element type `elem` (Concat's inputs share one)."""
        for k, v in enumerate(op.operands):
            ty = v.type
            assert isinstance(ty, TensorType)
            if ty.element_type == elem:
                continue
            cast = dnn.CastOp(operands=[v], result_types=[TensorType(elem, ty.get_shape())])
            self.rewriter.insert_op(cast, InsertPoint.before(op))
            op.operands[k] = cast.result

    def as_float(self, value: SSAValue, before: Operation) -> SSAValue:
        ty = value.type
        assert isinstance(ty, TensorType)
        cast = dnn.CastOp(
            operands=[value], result_types=[TensorType(Float32Type(), ty.get_shape())]
        )
        self.rewriter.insert_op(cast, InsertPoint.before(before))
        return cast.result

    def type_op(self, op: Operation) -> None:
        if isinstance(op, dnn.ConstantOp) or not isinstance(op, dnn.DnnOp):
            return
        index_operands = INDEX_OPERANDS.get(type(op), set())
        data = [v for k, v in enumerate(op.operands) if k not in index_operands]
        if not any(_is_int(v.type) for v in data):
            return
        rule = RULES.get(type(op))
        if isinstance(op, dnn.CastOp):
            return
        if rule is not None:
            converted = [
                v if k in index_operands else self.integer_constant(v)
                for k, v in enumerate(op.operands)
            ]
            if all(c is not None for c in converted):
                for k, c in enumerate(converted):
                    assert c is not None
                    if c is not op.operands[k]:
                        op.operands[k] = c
                out = rule(
                    op, [_elem(v) for k, v in enumerate(op.operands) if k not in index_operands]
                )
                if type(op) in SAME_TYPE_OPERANDS:
                    self.coerce(op, out)
                for r in list(op.results):
                    ty = r.type
                    assert isinstance(ty, TensorType)
                    Rewriter.replace_value_with_new_type(r, TensorType(out, ty.get_shape()))
                op.attributes[INFERRED_ATTR] = UnitAttr()
                self._verify(op)
                return
        # No integer rule (or a non-integer constant operand): the op stays float.
        for k, v in enumerate(op.operands):
            if k not in index_operands and _is_int(v.type):
                op.operands[k] = self.as_float(v, op)

    @staticmethod
    def _verify(op: Operation) -> None:
        try:
            op.verify()
        except Exception as e:  # noqa: BLE001 - reported with the node's name
            raise DeeployError(
                f"node '{dnn.node_name(op)}' ({op.name}): cannot be typed: {e}"
            ) from None


def type_function(fn: func.FuncOp, input_types: Sequence[str]) -> None:
    block: Block = fn.body.block
    if len(input_types) > len(block.args):
        raise DeeployError(
            f"input-types lists {len(input_types)} types for {len(block.args)} inputs"
        )
    for arg, name in zip(list(block.args), input_types, strict=False):
        if not name:
            continue
        if name not in TYPE_NAMES:
            raise DeeployError(
                f"input-types: unknown type '{name}' (use one of {', '.join(TYPE_NAMES)})"
            )
        ty = arg.type
        assert isinstance(ty, TensorType)
        Rewriter.replace_value_with_new_type(arg, TensorType(TYPE_NAMES[name], ty.get_shape()))
    typer = Typer(Rewriter(), {})
    for op in list(block.ops):
        typer.type_op(op)
    region_dce(fn.body)  # the float constants that integer copies replaced
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    fn.function_type = FunctionType.from_lists(
        [a.type for a in block.args], [v.type for v in ret.operands]
    )


def type_name(dtype: np.dtype) -> str:
    """The `input-types` spelling of a numpy dtype (`uint8` → `ui8`)."""
    ty = element_type(dtype)
    for name, t in TYPE_NAMES.items():
        if t == ty:
            return name
    raise DeeployError(f"no input-types name for {dtype}")


@dataclass(frozen=True)
class DnnInferIntTypes(ModulePass):
    name = "dnn-infer-int-types"

    input_types: tuple[str, ...] = ()

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in op.ops:
            if isinstance(fn, func.FuncOp) and fn.sym_name.data == "main":
                type_function(fn, self.input_types)
