"""`convert-riscv-scf-rof-to-riscv-cf`: `riscv_scf.rof` (a loop over (stop, start],
counting down) as labels and branches, as xDSL's `convert-riscv-scf-to-riscv-cf` lowers
`riscv_scf.for` (which it only does for `for`):

    mv    iv, start
    bge   stop, iv, end          # (stop, start] empty
  body:
    ...
    addi  iv, iv, -step
    blt   stop, iv, body
  end:

Run after register allocation (the registers are then the loop's), before xDSL's pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import riscv_cf, riscv_scf
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.dialects.riscv import ops as riscv
from xdsl.dialects.riscv.registers import IntRegisterType
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import BlockInsertPoint, InsertPoint
from xdsl.utils.exceptions import PassFailedException

from xdeeploy.dialects.riscv_mem import IMM12


@dataclass
class LowerRof(RewritePattern):
    count: list[int] = field(default_factory=lambda: [0])
    """Labels are numbered per module: every loop gets its own."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: riscv_scf.RofOp, rewriter: PatternRewriter) -> None:
        suffix = f"{self.count[0]}_rof"
        self.count[0] += 1
        init_block = op.parent_block()
        assert init_block is not None
        body = op.body.blocks[0]
        end_block = init_block.split_before(op, arg_types=body.arg_types)
        iv = body.args[0]
        iv_reg = iv.type
        assert isinstance(iv_reg, IntRegisterType)
        last = op.body.blocks[-1]
        yield_op = last.last_op
        assert isinstance(yield_op, riscv_scf.YieldOp)
        step = op.step
        if not isinstance(step, IntegerAttr) or -int(step.value.data) not in IMM12:
            raise PassFailedException("riscv_scf.rof: only a static step of 12 bits lowers")
        down = riscv.AddiOp(iv, -int(step.value.data), rd=iv_reg)
        args = (down.rd, *yield_op.operands)
        rewriter.replace(
            yield_op, [down, riscv_cf.BltOp(op.stop, down.rd, args, args, body, end_block)]
        )
        rewriter.inline_region(op.body, BlockInsertPoint.before(end_block))
        start = riscv.MVOp(op.start, rd=iv_reg)
        entry = (start.rd, *op.iter_args)
        rewriter.insert(
            [start, riscv_cf.BgeOp(op.stop, start.rd, entry, entry, end_block, body)],
            InsertPoint.at_end(init_block),
        )
        rewriter.insert(riscv.LabelOp(f"scf_body_{suffix}"), InsertPoint.at_start(body))
        rewriter.replace(op, riscv.LabelOp(f"scf_body_end_{suffix}"), end_block.args[1:])


@dataclass(frozen=True)
class ConvertRiscvScfRofToRiscvCf(ModulePass):
    """`riscv_scf.rof` loops to `riscv_cf` branches (xDSL lowers only `riscv_scf.for`)."""

    name = "convert-riscv-scf-rof-to-riscv-cf"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(LowerRof(), apply_recursively=False).rewrite_module(op)
