"""`plan-memory`: place every `memref.alloc` of a function into one static arena.

Each buffer lives from the op that allocates it to its last use (uses through aliases
such as `memref.reinterpret_cast` count); buffers are placed largest first at the lowest
offset that overlaps no buffer alive at the same time (greedy best fit, the usual
heuristic for static memory planning). Allocations become `memref.view`s into
`memref.global @<fn>_arena`, and the function gets `kernel.arena = {size, lower_bound}`:
the arena size next to the largest total of simultaneously live bytes, which no
placement can beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import (
    DictionaryAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    UnitAttr,
    i8,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from xdeeploy.dialects.dtypes import numpy_dtype

ALIGN = 16
ARENA_ATTR = "kernel.arena"


@dataclass
class Buffer:
    alloc: memref.AllocOp
    size: int
    start: int
    end: int
    offset: int = -1


def _aliases(value: SSAValue) -> list[SSAValue]:
    """`value` and every view derived from it."""
    out, todo = [], [value]
    while todo:
        v = todo.pop()
        out.append(v)
        todo.extend(
            use.operation.results[0]
            for use in v.uses
            if isinstance(use.operation, memref.ReinterpretCastOp)
        )
    return out


def _bytes(ty: MemRefType) -> int:
    return prod(ty.get_shape()) * numpy_dtype(ty.element_type).itemsize


def place(buffers: list[Buffer]) -> int:
    """Assigns offsets; returns the arena size."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.start)):
        overlapping = sorted(
            (p for p in placed if p.start <= buf.end and buf.start <= p.end),
            key=lambda p: p.offset,
        )
        offset = 0
        for p in overlapping:
            if offset + buf.size <= p.offset:
                break
            offset = max(offset, _align(p.offset + p.size))
        buf.offset = offset
        placed.append(buf)
    return max((_align(b.offset + b.size) for b in buffers), default=0)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def lower_bound(buffers: list[Buffer]) -> int:
    events = sorted({b.start for b in buffers})
    return max((sum(b.size for b in buffers if b.start <= t <= b.end) for t in events), default=0)


def plan_function(fn: func.FuncOp) -> tuple[int, int]:
    ops = list(fn.body.block.ops)
    index = {op: i for i, op in enumerate(ops)}
    buffers: list[Buffer] = []
    for op in ops:
        if isinstance(op, memref.AllocOp):
            ty = op.memref.type
            assert isinstance(ty, MemRefType)
            last = max(
                (index[_top(u.operation, fn)] for v in _aliases(op.memref) for u in v.uses),
                default=index[op],
            )
            buffers.append(Buffer(op, _bytes(ty), index[op], last))
    size = place(buffers)
    bound = lower_bound(buffers)
    if buffers:
        _rewrite(fn, buffers, size)
    attrs = {"size": IntegerAttr(size, i64), "lower_bound": IntegerAttr(bound, i64)}
    fn.attributes[ARENA_ATTR] = DictionaryAttr(attrs)
    return size, bound


def _top(op: Operation, fn: func.FuncOp) -> Operation:
    """The op of `fn`'s body that contains `op` (uses inside nested regions)."""
    while op.parent_op() is not fn:
        parent = op.parent_op()
        assert parent is not None
        op = parent
    return op


def _rewrite(fn: func.FuncOp, buffers: list[Buffer], size: int) -> None:
    symbol = f"{fn.sym_name.data}_arena"
    arena_ty = MemRefType(i8, [size])
    glob = memref.GlobalOp.get(StringAttr(symbol), arena_ty, UnitAttr(), alignment=ALIGN)
    Rewriter.insert_op(glob, InsertPoint.before(fn))
    block = fn.body.block
    get = memref.GetGlobalOp(symbol, arena_ty)
    get.memref.name_hint = "arena"
    Rewriter.insert_op(get, InsertPoint.at_start(block))
    for buf in buffers:
        offset = arith.ConstantOp(IntegerAttr(buf.offset, IndexType()))
        view = memref.ViewOp(get.memref, offset.result, [], buf.alloc.memref.type)
        view.attributes.update(buf.alloc.attributes)
        name = buf.alloc.memref.name_hint
        offset.result.name_hint = f"{name}_offset" if name else None
        view.result.name_hint = name
        Rewriter.replace_op(buf.alloc, [offset, view], [view.result])


@dataclass(frozen=True)
class PlanMemory(ModulePass):
    name = "plan-memory"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in [f for f in op.ops if isinstance(f, func.FuncOp) and not f.is_declaration]:
            plan_function(fn)
