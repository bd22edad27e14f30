"""Building blocks shared by the lowerings to buffers: strides, views, constants."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import prod

import numpy as np
from xdsl.builder import Builder
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import (
    IndexType,
    IntegerAttr,
    MemRefType,
    NoneAttr,
    StridedLayoutAttr,
    StringAttr,
    TensorType,
    UnitAttr,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from xdeeploy.dialects import dnn, kernel
from xdeeploy.dialects.dtypes import element_type, numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.weights import save


def contiguous_strides(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Strides of `shape` over `out_shape` (right-aligned), 0 on broadcast dimensions."""
    own = contiguous_strides(shape)
    lead = len(out_shape) - len(shape)
    return [
        0 if i < lead or shape[i - lead] == 1 and out_shape[i] != 1 else own[i - lead]
        for i in range(len(out_shape))
    ]


def memref_of(ty: Attribute) -> MemRefType:
    assert isinstance(ty, TensorType)
    return MemRefType(ty.element_type, ty.get_shape())


def numel(value: SSAValue) -> int:
    ty = value.type
    assert isinstance(ty, MemRefType | TensorType)
    return prod(ty.get_shape())


def shape_of(value: SSAValue) -> tuple[int, ...]:
    ty = value.type
    assert isinstance(ty, MemRefType | TensorType)
    return ty.get_shape()


def elem_size(value: SSAValue) -> int:
    ty = value.type
    assert isinstance(ty, MemRefType | TensorType)
    return numpy_dtype(ty.element_type).itemsize


def ctype_enum(value: SSAValue) -> StringAttr:
    """The `xd_type` enumerator of a buffer's element type."""
    ty = value.type
    assert isinstance(ty, MemRefType | TensorType)
    names = {
        "float32": "XD_T_F32", "float64": "XD_T_F64", "int8": "XD_T_I8", "uint8": "XD_T_U8",
        "int16": "XD_T_I16", "uint16": "XD_T_U16", "int32": "XD_T_I32", "uint32": "XD_T_U32",
        "int64": "XD_T_I64", "uint64": "XD_T_U64", "bool": "XD_T_BOOL",
    }  # fmt: skip
    return StringAttr(names[numpy_dtype(ty.element_type).name])


@dataclass
class BufferBuilder:
    """Inserts buffer-level ops for one function; errors name the dnn op being lowered."""

    builder: Builder
    func: Operation
    """Module-level symbols (constants, the arena) are inserted before this function."""
    op: Operation | None = None
    constants: dict[bytes, str] = field(default_factory=dict)
    """Small constants by value → their `memref.global`: shared by a module's functions,
    so that each symbol is defined once."""
    _hoist: tuple[Attribute, Block | None] | None = None
    """While hoisting: the memory space of new allocs and the block they are hoisted in."""
    _hoist_before: Operation | None = None

    def error(self, msg: str) -> DeeployError:
        where = f"node '{dnn.node_name(self.op)}' ({self.op.name})" if self.op else "lowering"
        return DeeployError(f"{where}: {msg}")

    def insert(self, op: Operation) -> Operation:
        if self.op is not None and dnn.NODE_ATTR in self.op.attributes:
            op.attributes[dnn.NODE_ATTR] = self.op.attributes[dnn.NODE_ATTR]
        if (
            self._hoist is not None
            and self._hoist_before is not None
            and isinstance(op, memref.AllocOp)
        ):
            Rewriter.insert_op(op, InsertPoint.before(self._hoist_before))
            return op
        self.builder.insert(op)
        if (
            self._hoist is not None
            and self._hoist_before is None
            and op.parent_block() is self._hoist[1]
        ) and not isinstance(op, memref.AllocOp):
            self._hoist_before = op
        return op

    def alloc(self, ty: MemRefType) -> SSAValue:
        if self._hoist is not None:
            ty = MemRefType(ty.element_type, ty.get_shape(), ty.layout, self._hoist[0])
        return self.insert(memref.AllocOp([], [], ty)).results[0]

    @contextmanager
    def hoisted_allocs(self, space: Attribute) -> Iterator[None]:
        """Allocs made inside go into `space` and before the first other op inserted
        meanwhile at the current level (a loop nest): buffers are never allocated per
        iteration, so they can be planned statically."""
        point = self.builder.insertion_point
        self._hoist, self._hoist_before = (space, point.block), None
        try:
            yield
        finally:
            self._hoist, self._hoist_before = None, None

    def call(self, name: str, *args: SSAValue | Attribute | int | float | None) -> kernel.CallOp:
        converted: list[SSAValue | Attribute | None] = []
        for a in args:
            if isinstance(a, bool | int):
                converted.append(kernel.i32_attr(int(a)))
            elif isinstance(a, float):
                converted.append(kernel.f32_attr(a))
            else:
                converted.append(a)
        call = kernel.CallOp(name, converted)
        self.insert(call)
        return call

    def view(self, buf: SSAValue, shape: Sequence[int], offset: int = 0) -> SSAValue:
        """`buf` seen as a dense `shape` starting `offset` elements in (an alias, no copy)."""
        ty = buf.type
        assert isinstance(ty, MemRefType)
        strides = contiguous_strides(shape)
        layout: Attribute = StridedLayoutAttr(strides, offset) if offset else NoneAttr()
        result = MemRefType(ty.element_type, list(shape), layout)
        op = memref.ReinterpretCastOp(buf, [], [], [], [offset], list(shape), strides, result)
        return self.insert(op).results[0]

    def constant(self, array: np.ndarray, name_hint: str = "const") -> SSAValue:
        """A small constant as a `memref.global` (deduplicated) read by `memref.get_global`."""
        array = np.ascontiguousarray(array)
        ty = MemRefType(element_type(array.dtype), list(array.shape))
        if not dnn.prints_exactly(array):  # kept out of the text, stored like weights
            stored = dnn.WeightsAttr(save(array), TensorType(ty.element_type, ty.get_shape()))
            weights = kernel.WeightsOp(stored, ty)
            weights.result.name_hint = name_hint
            return self.insert(weights).results[0]
        key = array.dtype.str.encode() + str(array.shape).encode() + array.tobytes()
        if key not in self.constants:
            symbol = f"xd_const{len(self.constants)}"
            dense = dnn.dense_attr(array)
            glob = memref.GlobalOp.get(StringAttr(symbol), ty, dense, constant=UnitAttr())
            Rewriter.insert_op(glob, InsertPoint.before(self.func))
            self.constants[key] = symbol
        get = memref.GetGlobalOp(self.constants[key], ty)
        get.memref.name_hint = name_hint
        return self.insert(get).results[0]

    def index(self, value: int) -> SSAValue:
        return self.insert(arith.ConstantOp(IntegerAttr(value, IndexType()))).results[0]
