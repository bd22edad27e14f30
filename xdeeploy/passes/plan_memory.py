"""`plan-memory`: place every `memref.alloc` of a function into static arenas.

Each buffer lives from the op that allocates it to its last use (uses through aliases
such as `memref.subview` or an `arith.select` between buffers count; a use inside a
loop counts at the loop, so a buffer used in a loop lives through all of it); buffers
are placed largest first at the lowest offset that overlaps no buffer alive at the same
time (greedy best fit, the usual heuristic for static memory planning). Allocations
become `memref.view`s into `memref.global @<fn>_arena`, and the function gets
`kernel.arena = {size, lower_bound}`: the arena size next to the largest total of
simultaneously live bytes, which no placement can beat.

Buffers in the `"L1"` memory space (tiles staged in a scratchpad) go to a second arena,
`@<fn>_l1_arena` (memory space `"L1"`), planned the same way, with `kernel.l1_arena`;
buffers in the NPU's memory (`"NPU"`: weights loaded at run time) to a third,
`@<fn>_npu_arena` with `kernel.npu_arena`; every other space (none, `"L2"`, `"L3"`) is
main memory. Allocations must be at the
function's top level: a loop reuses its buffers, so they are planned outside it.
A main-memory buffer of another space is a view of the arena followed by a
`memref.memory_space_cast` back to its type (a view keeps its base's space).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import (
    DictionaryAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    NoneAttr,
    StringAttr,
    UnitAttr,
    i8,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue, Use
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError

ALIGN = 16
ARENA_ATTR = "kernel.arena"
L1_ARENA_ATTR = "kernel.l1_arena"
NPU_ARENA_ATTR = "kernel.npu_arena"
L1 = StringAttr("L1")
NPU = StringAttr("NPU")


@dataclass
class Buffer:
    alloc: memref.AllocOp
    size: int
    start: int
    end: int
    offset: int = -1


VIEWS = (
    memref.ReinterpretCastOp, memref.SubviewOp, memref.ViewOp, memref.MemorySpaceCastOp,
)  # fmt: skip


def _derived(use: Use) -> list[SSAValue]:
    """The values `use` makes from the used value that name (part of) its memory."""
    op = use.operation
    if isinstance(op, VIEWS) and use.index == 0:
        return [op.results[0]]
    if isinstance(op, arith.SelectOp) and use.index > 0:
        return [op.result]
    if isinstance(op, scf.ForOp) and use.index >= 3:  # an init of the loop-carried values
        return [op.results[use.index - 3]]
    parent = op.parent_op()
    if isinstance(op, scf.YieldOp) and isinstance(parent, scf.ForOp | scf.IfOp):
        return [parent.results[use.index]]
    return []


def _aliases(value: SSAValue) -> list[SSAValue]:
    """`value` and every value derived from it that names (part of) the same memory."""
    out, todo = [], [value]
    while todo:
        v = todo.pop()
        out.append(v)
        todo.extend(d for use in v.uses for d in _derived(use))
    return out


def buffer_bytes(ty: MemRefType) -> int:
    return prod(ty.get_shape()) * numpy_dtype(ty.element_type).itemsize


def last_use(value: SSAValue, fn: func.FuncOp, index: dict[Operation, int], first: int) -> int:
    """The position in `index` (top-level ops of `fn`) of the last op using `value`
    through any alias; `first` if nothing uses it."""
    return max(
        (index[_top(u.operation, fn)] for v in _aliases(value) for u in v.uses), default=first
    )


def arena_of(fn: func.FuncOp, attr: str = ARENA_ATTR) -> tuple[int, int]:
    """(size, lower bound) that `plan-memory` recorded on `fn` under `attr`; (0, 0) if none."""
    arena = fn.attributes.get(attr)
    if not isinstance(arena, DictionaryAttr):
        return 0, 0
    size, bound = arena.data["size"], arena.data["lower_bound"]
    assert isinstance(size, IntegerAttr) and isinstance(bound, IntegerAttr)
    return size.value.data, bound.value.data


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


def _check_top_level(fn: func.FuncOp) -> None:
    for op in fn.walk():
        parent = op.parent_op()
        if isinstance(op, memref.AllocOp) and parent is not fn:
            assert parent is not None
            raise DeeployError(
                f"node '{dnn.node_name(op)}': memref.alloc inside {parent.name}: plan-memory "
                "needs every allocation at the function's top level (allocate a loop's "
                "buffers before it)"
            )


def is_l1(ty: MemRefType) -> bool:
    return ty.memory_space == L1


def _buffers(fn: func.FuncOp) -> dict[Attribute, list[Buffer]]:
    """The allocs of `fn` with their lifetimes, by arena space: main memory (NoneAttr),
    L1 and the NPU's memory."""
    ops = list(fn.body.block.ops)
    index = {op: i for i, op in enumerate(ops)}
    arenas: dict[Attribute, list[Buffer]] = {NoneAttr(): [], L1: [], NPU: []}
    for op in ops:
        if isinstance(op, memref.AllocOp):
            ty = op.memref.type
            assert isinstance(ty, MemRefType)
            last = last_use(op.memref, fn, index, index[op])
            space = ty.memory_space if ty.memory_space in (L1, NPU) else NoneAttr()
            arenas[space].append(Buffer(op, buffer_bytes(ty), index[op], last))
    return arenas


def activation_lower_bound(fn: func.FuncOp) -> int:
    """The largest total of main-memory buffers alive at once: no arena is smaller."""
    return lower_bound(_buffers(fn)[NoneAttr()])


def plan_function(fn: func.FuncOp) -> None:
    """Plans main memory into `@<fn>_arena`, L1 into `@<fn>_l1_arena` and the NPU's
    memory into `@<fn>_npu_arena` (those two if it has any)."""
    _check_top_level(fn)
    arenas = _buffers(fn)
    _plan_arena(fn, arenas[NoneAttr()], "arena", NoneAttr(), ARENA_ATTR)
    if arenas[L1]:
        _plan_arena(fn, arenas[L1], "l1_arena", L1, L1_ARENA_ATTR)
    if arenas[NPU]:
        _plan_arena(fn, arenas[NPU], "npu_arena", NPU, NPU_ARENA_ATTR)


def _plan_arena(
    fn: func.FuncOp, buffers: list[Buffer], suffix: str, space: Attribute, attr: str
) -> None:
    size = place(buffers)
    bound = lower_bound(buffers)
    if buffers:
        _rewrite(fn, buffers, size, suffix, space)
    attrs = {"size": IntegerAttr(size, i64), "lower_bound": IntegerAttr(bound, i64)}
    fn.attributes[attr] = DictionaryAttr(attrs)


def _top(op: Operation, fn: func.FuncOp) -> Operation:
    """The op of `fn`'s body that contains `op` (uses inside nested regions)."""
    while op.parent_op() is not fn:
        parent = op.parent_op()
        assert parent is not None
        op = parent
    return op


def _rewrite(
    fn: func.FuncOp, buffers: list[Buffer], size: int, suffix: str, space: Attribute
) -> None:
    symbol = f"{fn.sym_name.data}_{suffix}"
    arena_ty = MemRefType(i8, [size], memory_space=space)
    glob = memref.GlobalOp.get(StringAttr(symbol), arena_ty, UnitAttr(), alignment=ALIGN)
    Rewriter.insert_op(glob, InsertPoint.before(fn))
    block = fn.body.block
    get = memref.GetGlobalOp(symbol, arena_ty)
    get.memref.name_hint = suffix
    Rewriter.insert_op(get, InsertPoint.at_start(block))
    for buf in buffers:
        ty = buf.alloc.memref.type
        assert isinstance(ty, MemRefType)
        offset = arith.ConstantOp(IntegerAttr(buf.offset, IndexType()))
        view = memref.ViewOp(get.memref, offset.result, [], _in_space(ty, space))
        view.attributes.update(buf.alloc.attributes)
        name = buf.alloc.memref.name_hint
        offset.result.name_hint = f"{name}_offset" if name else None
        view.result.name_hint = name
        new_ops: list[Operation] = [offset, view]
        if ty.memory_space != space:  # "L2" / "L3": main memory, typed as the alloc was
            new_ops.append(memref.MemorySpaceCastOp(view.result, ty))
            new_ops[-1].results[0].name_hint = name
        Rewriter.replace_op(buf.alloc, new_ops, [new_ops[-1].results[0]])


def _in_space(ty: MemRefType, space: Attribute) -> MemRefType:
    """`ty` in the arena's memory space (a view keeps its base's space)."""
    return MemRefType(ty.element_type, ty.get_shape(), memory_space=space)


@dataclass(frozen=True)
class PlanMemory(ModulePass):
    name = "plan-memory"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in [f for f in op.ops if isinstance(f, func.FuncOp) and not f.is_declaration]:
            plan_function(fn)
