"""`dnn-annotate-memory`: the memory level of every buffer, as memref memory spaces.

After bufferization (and tiling, which already put the tiles into `"L1"`), every other
buffer gets a level: activations, arguments and results live in `"L2"`; constants and
weights too, unless they do not fit next to the activations, then they go to `"L3"`
(the model's weights in external memory, streamed in by DMA tile by tile). Views
(`memref.subview`, `memref.reinterpret_cast`, `memref.view`, `arith.select`) are in
the level of the buffer they look into.

    %w = kernel.weights <…> : memref<64x64xi8>  →  memref<64x64xi8, "L2">
    %t = memref.subview %w[…] : … → memref<8x64xi8, strided<[64, 1], offset: ?>, "L2">

The L2 need counted against `l2-size` is the weights plus the largest total of
activation buffers alive at once (the arena's lower bound; `plan-memory` gets close to
it). With `l2-size=0` everything not in L1 stays in L2.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import FunctionType, MemRefType, ModuleOp, NoneAttr, StringAttr
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from xdeeploy.dialects import kernel
from xdeeploy.passes.plan_memory import activation_lower_bound, buffer_bytes

L2, L3 = StringAttr("L2"), StringAttr("L3")
_VIEWS = (memref.SubviewOp, memref.ReinterpretCastOp, memref.ViewOp, arith.SelectOp)


def _unplaced(value: SSAValue) -> MemRefType | None:
    ty = value.type
    if isinstance(ty, MemRefType) and isinstance(ty.memory_space, NoneAttr):
        return ty
    return None


def _in(ty: MemRefType, space: Attribute) -> MemRefType:
    return MemRefType(ty.element_type, ty.get_shape(), ty.layout, space)


def _constant_bytes(fn: func.FuncOp) -> int:
    total = 0
    for op in fn.walk():
        if isinstance(op, kernel.WeightsOp | memref.GetGlobalOp):
            ty = op.results[0].type
            assert isinstance(ty, MemRefType)
            total += buffer_bytes(ty)
    return total


def _space_of(op: Operation, constants: Attribute) -> Attribute | None:
    if isinstance(op, kernel.WeightsOp | memref.GetGlobalOp):
        return constants
    if isinstance(op, memref.AllocOp):
        return L2
    if isinstance(op, _VIEWS):
        source = op.operands[1] if isinstance(op, arith.SelectOp) else op.operands[0]
        ty = source.type
        return ty.memory_space if isinstance(ty, MemRefType) else None
    return None


def annotate_function(fn: func.FuncOp, module: ModuleOp, l2_size: int) -> None:
    need = _constant_bytes(fn) + activation_lower_bound(fn)
    constants = L3 if l2_size and need > l2_size else L2
    block = fn.body.block
    for arg in list(block.args):
        if (ty := _unplaced(arg)) is not None:
            Rewriter.replace_value_with_new_type(arg, _in(ty, L2))
    fn.function_type = FunctionType.from_lists([a.type for a in block.args], [])
    globals_by_name = {g.sym_name.data: g for g in module.ops if isinstance(g, memref.GlobalOp)}
    for op in list(fn.walk()):
        space = _space_of(op, constants)
        if space is None or isinstance(space, NoneAttr):
            continue
        for result in list(op.results):
            if (ty := _unplaced(result)) is not None:
                Rewriter.replace_value_with_new_type(result, _in(ty, space))
        if isinstance(op, memref.GetGlobalOp):
            glob = globals_by_name[op.name_.root_reference.data]
            gty = glob.type
            if isinstance(gty, MemRefType) and isinstance(gty.memory_space, NoneAttr):
                glob.properties["type"] = _in(gty, space)


@dataclass(frozen=True)
class DnnAnnotateMemory(ModulePass):
    """Option `l2-size`: bytes of L2; weights that do not fit go to L3 (0: no limit)."""

    name = "dnn-annotate-memory"

    l2_size: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in [f for f in op.ops if isinstance(f, func.FuncOp) and not f.is_declaration]:
            annotate_function(fn, op, self.l2_size)
