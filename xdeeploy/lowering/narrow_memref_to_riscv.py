"""`convert-narrow-memref-to-riscv`: loads and stores of 8- and 16-bit integers as
`lb`/`lbu`/`sb` and `lh`/`lhu`/`sh`.

xDSL 0.74's `convert-memref-to-riscv` emits `lw`/`sw` for every integer memref: on an
int8 tile a `sw` writes three neighbouring bytes too, and a `lw` reads them. This pass
runs first and takes the narrow accesses; the rest is left to xDSL's pass:

    %v = memref.load %x[%i] : memref<16xi8>
      →  %p = (pointer arithmetic, as xDSL's)   %v = riscv_mem.lb %p, 0

(`riscv_mem`: xDSL's byte and halfword instructions, printed in GNU syntax.)

A load sign-extends unless the element type is unsigned (`ui8`, `ui16`), whose loads
zero-extend; signless integers are signed as in ONNX's int8. A store keeps the low
bits of the register (the wrap-around of a narrow result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from xdsl.backend.riscv.lowering.convert_memref_to_riscv import get_strided_pointer
from xdsl.backend.riscv.lowering.utils import cast_operands_to_regs
from xdsl.context import Context
from xdsl.dialects import memref
from xdsl.dialects.builtin import (
    IntegerType,
    MemRefType,
    ModuleOp,
    Signedness,
    UnrealizedConversionCastOp,
)
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from xdeeploy.dialects import riscv_mem as riscv

_LOADS = {(8, True): riscv.LbOp, (8, False): riscv.LbuOp,
          (16, True): riscv.LhOp, (16, False): riscv.LhuOp}  # fmt: skip
_STORES = {8: riscv.SbOp, 16: riscv.ShOp}


def _narrow(ty: Any) -> tuple[int, bool] | None:
    """(bit width, signed) of an 8- or 16-bit integer memref's element, else None."""
    if not isinstance(ty, MemRefType):
        return None
    elem = cast(MemRefType[Any], ty).element_type
    if not isinstance(elem, IntegerType) or elem.width.data not in (8, 16):
        return None
    return elem.width.data, elem.signedness.data != Signedness.UNSIGNED


class NarrowLoad(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.LoadOp, rewriter: PatternRewriter) -> None:
        narrow = _narrow(op.memref.type)
        if narrow is None:
            return
        mem, *indices = cast_operands_to_regs(rewriter, op)
        ops, pointer = get_strided_pointer(mem, indices, cast(MemRefType[Any], op.memref.type))
        rewriter.insert(ops)
        load = _LOADS[narrow](pointer, 0, comment=f"load {op.memref.type}")
        cast_back = UnrealizedConversionCastOp.get(load.results, (op.res.type,))
        rewriter.replace(op, [load, cast_back])


class NarrowStore(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.StoreOp, rewriter: PatternRewriter) -> None:
        narrow = _narrow(op.memref.type)
        if narrow is None:
            return
        value, mem, *indices = cast_operands_to_regs(rewriter, op)
        ops, pointer = get_strided_pointer(mem, indices, cast(MemRefType[Any], op.memref.type))
        rewriter.insert(ops)
        store = _STORES[narrow[0]](pointer, value, 0, comment=f"store {op.memref.type}")
        rewriter.replace(op, store)


@dataclass(frozen=True)
class ConvertNarrowMemrefToRiscv(ModulePass):
    """Byte and halfword loads and stores (run before xDSL's convert-memref-to-riscv)."""

    name = "convert-narrow-memref-to-riscv"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([NarrowLoad(), NarrowStore()])
        ).rewrite_module(op)
