"""`convert-narrow-arith-to-riscv`: the integer casts xDSL 0.74's arith lowering lacks
(`extsi`, `extui`, `trunci`), for 8- and 16-bit values in 32-bit registers.

A narrow value's register bits above its width are unspecified (a narrow add may carry
into them; `sb`/`sh` ignore them), so the extensions normalise:

    extsi iN → i32:  slli rd, rs, 32-N ; srai rd, rd, 32-N
                     (nothing after lb/lh: the load sign-extended already)
    extui iN → i32:  andi rd, rs, 0xFF            (N = 8)
                     slli rd, rs, 16 ; srli rd, rd, 16   (N = 16)
    trunci i32 → iN: the same register (its low N bits are the value)

Run before xDSL's `convert-arith-to-riscv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.backend.riscv.lowering.utils import cast_operands_to_regs
from xdsl.context import Context
from xdsl.dialects import arith, rv32
from xdsl.dialects.builtin import IntegerType, ModuleOp, UnrealizedConversionCastOp
from xdsl.dialects.riscv import ops as riscv
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from xdeeploy.dialects import riscv_mem

XLEN = 32


def _width(ty: Attribute) -> int | None:
    return ty.width.data if isinstance(ty, IntegerType) else None


def _narrow(ty: Attribute) -> int | None:
    """The width of an 8- or 16-bit integer type, else None."""
    width = _width(ty)
    return width if width in (8, 16) else None


_EXTENDING_LOADS = {(8, True): riscv_mem.LbOp, (16, True): riscv_mem.LhOp,
                    (8, False): riscv_mem.LbuOp, (16, False): riscv_mem.LhuOp}  # fmt: skip


def _extending_load(value: SSAValue, width: int, signed: bool) -> bool:
    """`value` is the register of a load that already extends `width` bits as asked
    (`lb`/`lh` sign-, `lbu`/`lhu` zero-extend), seen as an integer."""
    cast = value.owner
    if not isinstance(cast, UnrealizedConversionCastOp) or len(cast.inputs) != 1:
        return False
    return isinstance(cast.inputs[0].owner, _EXTENDING_LOADS[width, signed])


def _replace(
    rewriter: PatternRewriter, op: Operation, value: SSAValue, ops: Sequence[Operation] = ()
) -> None:
    """`op` becomes `ops` (none: `value`'s register as it is), seen as its result type."""
    result = ops[-1].results[0] if ops else value
    back = UnrealizedConversionCastOp.get((result,), (op.results[0].type,))
    rewriter.replace(op, [*ops, back])


def _shifted(value: SSAValue, width: int, down: type[rv32.SraiOp | rv32.SrliOp]) -> list[Operation]:
    """The low `width` bits moved to the top, then back down by `down` (arithmetic or
    logical): the value sign- or zero-extended from `width` bits."""
    up = rv32.SlliOp(value, XLEN - width)
    return [up, down(up.rd, XLEN - width)]


class ExtSI(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.ExtSIOp, rewriter: PatternRewriter) -> None:
        width = _narrow(op.input.type)
        if width is None or _width(op.result.type) != XLEN:
            return
        (value,) = cast_operands_to_regs(rewriter, op)
        if _extending_load(op.input, width, True):
            _replace(rewriter, op, value)
        else:
            _replace(rewriter, op, value, _shifted(value, width, rv32.SraiOp))


class ExtUI(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.ExtUIOp, rewriter: PatternRewriter) -> None:
        width = _width(op.input.type)
        if width not in (1, 8, 16) or _width(op.result.type) != XLEN:
            return
        (value,) = cast_operands_to_regs(rewriter, op)
        # A comparison's i1 is 0 or 1 in its register; any other i1 (`true` is `li -1`)
        # keeps only its low bit.
        if (width == 1 and isinstance(op.input.owner, arith.CmpiOp | arith.CmpfOp)) or (
            width != 1 and _extending_load(op.input, width, False)
        ):
            _replace(rewriter, op, value)
        elif width == 1:
            _replace(rewriter, op, value, [riscv.AndiOp(value, 1)])
        elif width == 8:
            _replace(rewriter, op, value, [riscv.AndiOp(value, 0xFF)])
        else:
            _replace(rewriter, op, value, _shifted(value, width, rv32.SrliOp))


class TruncI(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.TruncIOp, rewriter: PatternRewriter) -> None:
        if _narrow(op.result.type) is None or _width(op.input.type) != XLEN:
            return
        (value,) = cast_operands_to_regs(rewriter, op)
        _replace(rewriter, op, value)


@dataclass(frozen=True)
class ConvertNarrowArithToRiscv(ModulePass):
    """Sign/zero extensions and truncations of 8- and 16-bit integers (and i1 zero-extended:
    free for a comparison's)."""

    name = "convert-narrow-arith-to-riscv"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([ExtSI(), ExtUI(), TruncI()])
        ).rewrite_module(op)
