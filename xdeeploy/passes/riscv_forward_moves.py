"""`riscv-forward-moves`: uses of a move between unallocated registers read its source.

The riscv lowering renames values with `riscv.mv` (a pointer offset scaled by a one-byte
element): left in, the allocator gives each its own register and copies. Moves out of
an allocated register (a function argument in a0..a7) stay: they free that register.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.riscv import ops as riscv
from xdsl.dialects.riscv.registers import IntRegisterType
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)


class _ForwardMove(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: riscv.MVOp, rewriter: PatternRewriter) -> None:
        source, target = op.rs.type, op.rd.type
        if not isinstance(source, IntRegisterType) or not isinstance(target, IntRegisterType):
            return
        if source.is_allocated or target.is_allocated:
            return  # a move out of an argument register frees it: keep
        rewriter.replace(op, [], [op.rs])


@dataclass(frozen=True)
class ForwardMoves(ModulePass):
    """Moves between unallocated registers are the lowering's renamings (a pointer
    offset scaled by one element byte): their uses read the source instead, so the
    allocator does not copy."""

    name = "riscv-forward-moves"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(_ForwardMove()).rewrite_module(op)
