"""`riscv-count-down-loops`: a loop that only counts its iterations counts them down to
zero, so its bound takes no register.

`riscv_scf.for %i = 0 to N step 1` whose `%i` the body does not use (the loops of our
kernels carry their pointers instead) needs N in a register for the whole loop: with a
nest of loops, one register per level, live across every inner loop, where the
allocator (which does not spill) runs short. As

    %n = rv32.li N                          (just before the loop: used once, on entry)
    riscv_scf.rof %i = %n down to %zero step 1 { ... }

the loop compares with the `zero` register. xDSL has the `rof` op but no lowering for
it: `convert-riscv-scf-rof-to-riscv-cf` (lowering/) is that lowering.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import riscv_scf, rv32
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.dialects.riscv import ops as riscv
from xdsl.dialects.riscv.registers import Registers
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint


def _constant(value: SSAValue) -> int | None:
    while isinstance(value.owner, riscv.MVOp):
        value = value.owner.rs
    op = value.owner
    if isinstance(op, rv32.GetRegisterOp) and value.type == Registers.ZERO:
        return 0
    if isinstance(op, rv32.LiOp) and isinstance(op.immediate, IntegerAttr):
        return int(op.immediate.value.data)
    return None


class CountDown(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: riscv_scf.ForOp, rewriter: PatternRewriter) -> None:
        step = op.step
        if not isinstance(step, IntegerAttr) or step.value.data != 1:
            return
        if op.body.block.args[0].uses or _constant(op.start) != 0:
            return
        stop = _constant(op.stop)
        if stop is None or stop <= 0:
            return
        count = rv32.LiOp(stop)
        zero = rv32.GetRegisterOp(Registers.ZERO)
        rewriter.insert([count, zero], InsertPoint.before(op))
        loop = riscv_scf.RofOp(count.rd, zero.res, step, list(op.iter_args),
                               rewriter.move_region_contents_to_new_regions(op.body))  # fmt: skip
        rewriter.replace(op, loop)


@dataclass(frozen=True)
class RiscvCountDownLoops(ModulePass):
    """Counting loops (unused induction variable, 0 to a constant) as `rof` to zero."""

    name = "riscv-count-down-loops"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(CountDown(), apply_recursively=False).rewrite_module(op)
