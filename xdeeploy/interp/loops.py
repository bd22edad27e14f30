"""Interpreter functions for tiled buffer-level IR: loops over tiles of larger buffers.

xDSL's own `ScfFunctions` and `ArithFunctions` run the loops and the index arithmetic
(on Python ints, with the interpreter's `index_bitwidth`); this file adds what they lack:
unsigned division on indices, `memref.subview`, a window of a buffer that *aliases* it
as the C pointer `base + Σ offset_i · stride_i` does, built on `buffers.Memory` so that
kernels and DMA transfers see the same bytes, and `memref.memory_space_cast` (the same
buffer: memory spaces only matter to the planner).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import DYNAMIC_INDEX, IntegerType, MemRefType
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import SSAValue
from xdsl.utils.comparisons import to_signed, to_unsigned
from xdsl.utils.exceptions import InterpretationError

from xdeeploy.dialects import dnn
from xdeeploy.interp.buffers import BufferFunctions, Memory


def _bitwidth(interpreter: Interpreter, value: SSAValue) -> int:
    ty = value.type
    return ty.width.data if isinstance(ty, IntegerType) else interpreter.index_bitwidth


def _static_strides(ty: MemRefType, what: str) -> list[int]:
    """The memref's strides in elements; a dynamic stride has no pointer form here."""
    strides = ty.get_strides()
    if strides is None or any(s is None for s in strides):
        raise InterpretationError(f"{what}: the buffer type {ty} has dynamic strides")
    return [int(s) for s in strides if s is not None]


def _subview_offsets(op: memref.SubviewOp, dynamic: Sequence[int]) -> list[int]:
    """The offsets per source dimension, the dynamic ones taken from `dynamic` in order."""
    values = iter(dynamic)
    return [next(values) if o == DYNAMIC_INDEX else int(o) for o in op.static_offsets.get_values()]


def _check_in_bounds(op: memref.SubviewOp, offsets: Sequence[int]) -> None:
    source = op.source.type
    assert isinstance(source, MemRefType)
    shape = source.get_shape()
    sizes, steps = op.static_sizes.get_values(), op.static_strides.get_values()
    for dim, (o, n, s) in enumerate(zip(offsets, sizes, steps, strict=True)):
        if n > 0 and not (o >= 0 and o + (n - 1) * s < shape[dim]):
            raise InterpretationError(
                f"node '{dnn.node_name(op)}': memref.subview reads {n} elements from "
                f"offset {o} (step {s}) of dimension {dim}, which has {shape[dim]}"
            )


@register_impls
class LoopFunctions(InterpreterFunctions):
    """`arith.divui` / `arith.remui`, `memref.subview` (static sizes and strides) and
    `memref.memory_space_cast`."""

    @impl(arith.DivUIOp)
    def run_divui(
        self, interpreter: Interpreter, op: arith.DivUIOp, args: PythonValues
    ) -> PythonValues:
        width = _bitwidth(interpreter, op.result)
        lhs, rhs = (to_unsigned(a, width) for a in args)
        if rhs == 0:
            raise InterpretationError(f"node '{dnn.node_name(op)}': arith.divui by zero")
        return (to_signed(lhs // rhs, width),)

    @impl(arith.RemUIOp)
    def run_remui(
        self, interpreter: Interpreter, op: arith.RemUIOp, args: PythonValues
    ) -> PythonValues:
        width = _bitwidth(interpreter, op.result)
        lhs, rhs = (to_unsigned(a, width) for a in args)
        if rhs == 0:
            raise InterpretationError(f"node '{dnn.node_name(op)}': arith.remui by zero")
        return (to_signed(lhs % rhs, width),)

    @impl(memref.SubviewOp)
    def run_subview(
        self, interpreter: Interpreter, op: memref.SubviewOp, args: PythonValues
    ) -> PythonValues:
        if op.sizes or op.strides:
            raise InterpretationError(
                f"node '{dnn.node_name(op)}': memref.subview with dynamic sizes or strides"
            )
        source, *dynamic = args
        offsets = _subview_offsets(op, [int(d) for d in dynamic])
        _check_in_bounds(op, offsets)
        src_ty, ty = op.source.type, op.result.type
        assert isinstance(src_ty, MemRefType) and isinstance(ty, MemRefType)
        start = sum(o * s for o, s in zip(offsets, _static_strides(src_ty, op.name), strict=True))
        memory = interpreter.get_data(BufferFunctions, "memory", Memory)
        return (memory.alias(source, start, ty.get_shape(), _static_strides(ty, op.name)),)

    @impl(memref.MemorySpaceCastOp)
    def run_memory_space_cast(
        self, interpreter: Interpreter, op: memref.MemorySpaceCastOp, args: PythonValues
    ) -> PythonValues:
        return args
