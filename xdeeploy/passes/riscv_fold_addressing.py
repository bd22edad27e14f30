"""`riscv-fold-addressing`: element addresses as `base + index` plus the constant part in
the load's or store's immediate, as a C compiler addresses arrays.

xDSL's memref lowering computes `base + index * li(size)` and loads at offset 0, so
`a[i]`, `a[i + 1]` … `a[i + 3]` cost an add, a multiply and a constant each. Here:

    mul x, li 2^k            →  slli x, k
    slli (addi x, c), k      →  addi (slli x, k), c << k
    add a, (addi x, c)       →  addi (add a, x), c
    lw (addi p, c), imm      →  lw p, imm + c              (loads and stores alike)

after which `cse` leaves one `add base, index` for the four neighbours, each loaded at
its own immediate. Immediates stay within 12 bits (signed); a wider constant added is
kept as `lui` + `addi` (xDSL's canonicalization would make it an invalid `addi`). Runs
before `canonicalize`, on the lowering's `add x, li c` as on `addi x, c`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import rv32
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.dialects.riscv import ops as riscv
from xdsl.dialects.riscv.abstract_ops import (
    RdRsImmFloatOperation,
    RdRsImmIntegerOperation,
    RsRsImmFloatOperation,
    RsRsImmIntegerOperation,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from xdeeploy.dialects import riscv_mem
from xdeeploy.dialects.riscv_mem import IMM12

LOADS: tuple[type[Operation], ...] = (riscv.LwOp, riscv.FLwOp, riscv_mem.LbOp, riscv_mem.LbuOp,
                                      riscv_mem.LhOp, riscv_mem.LhuOp)  # fmt: skip
STORES: tuple[type[Operation], ...] = (riscv.SwOp, riscv.FSwOp, riscv_mem.SbOp, riscv_mem.ShOp)


def _through_moves(value: SSAValue) -> SSAValue:
    """The value a chain of `mv`s copies (the memref lowering renames indices)."""
    while isinstance(value.owner, riscv.MVOp):
        value = value.owner.rs
    return value


def _li(value: SSAValue) -> int | None:
    op = _through_moves(value).owner
    if isinstance(op, rv32.LiOp) and isinstance(op.immediate, IntegerAttr):
        return int(op.immediate.value.data)
    return None


def _addi(value: SSAValue) -> tuple[SSAValue, int] | None:
    """(x, c) when `value` is `addi x, c` or `add x, li c` with c in 12 bits (through
    moves)."""
    op = _through_moves(value).owner
    if isinstance(op, riscv.AddiOp) and isinstance(op.immediate, IntegerAttr):
        return op.rs1, int(op.immediate.value.data)
    if isinstance(op, riscv.AddOp):
        for x, c in ((op.rs1, op.rs2), (op.rs2, op.rs1)):
            if (k := _li(c)) is not None and k in IMM12:
                return x, k
    return None


def _imm(op: Operation) -> int | None:
    imm = getattr(op, "immediate", None)
    return int(imm.value.data) if isinstance(imm, IntegerAttr) else None


class WideConstantOperand(RewritePattern):
    """`add`/`sub` of a constant beyond 12 bits: the constant as `lui` + `addi`.

    xDSL's canonicalization turns `add x, li c` into `addi x, c` without checking that c
    fits the immediate (0.74), which then fails to verify; a `lui`/`addi` pair is what
    `li` assembles to anyway, and it is not folded."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, riscv.AddOp | riscv.SubOp):
            return
        for index, operand in enumerate(op.operands):
            c = _li(operand)
            if c is None or c in IMM12:
                continue
            c = (c + 2**31) % 2**32 - 2**31
            low = (c & 0xFFF) - (0x1000 if c & 0x800 else 0)
            # The upper 20 bits as GNU `as` reads them (0..0xfffff): xDSL keeps lui's
            # immediate as a signed i20 and prints a negative number, which `as` rejects.
            high = riscv.LuiOp(f"{((c - low) >> 12) & 0xFFFFF:#x}")
            value = riscv.AddiOp(high.rd, low)
            rewriter.insert([high, value], InsertPoint.before(op))
            op.operands[index] = value.rd
            rewriter.notify_op_modified(op)
            return


class MulByPowerOfTwo(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: riscv.MulOp, rewriter: PatternRewriter) -> None:
        for x, c in ((op.rs1, op.rs2), (op.rs2, op.rs1)):
            k = _li(c)
            if k is not None and k > 0 and k & (k - 1) == 0:
                rewriter.replace(op, rv32.SlliOp(x, k.bit_length() - 1, rd=op.rd.type))
                return


class ShiftedOffset(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rv32.SlliOp, rewriter: PatternRewriter) -> None:
        found, k = _addi(op.rs1), _imm(op)
        if found is None or k is None or (found[1] << k) not in IMM12:
            return
        x, c = found
        shifted = rv32.SlliOp(x, k)
        rewriter.replace(op, [shifted, riscv.AddiOp(shifted.rd, c << k, rd=op.rd.type)])


class AddOffset(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: riscv.AddOp, rewriter: PatternRewriter) -> None:
        for a, b in ((op.rs1, op.rs2), (op.rs2, op.rs1)):
            found = _addi(b)
            if found is not None:
                x, c = found
                add = riscv.AddOp(a, x)
                rewriter.replace(op, [add, riscv.AddiOp(add.rd, c, rd=op.rd.type)])
                return


class FoldIntoAccess(RewritePattern):
    """A load or store at `addi p, c` + imm reads p + (imm + c)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, LOADS + STORES):
            return
        assert isinstance(
            op,
            RdRsImmIntegerOperation
            | RdRsImmFloatOperation
            | RsRsImmIntegerOperation
            | RsRsImmFloatOperation,
        )
        found, imm = _addi(op.rs1), _imm(op)
        if found is None or imm is None or imm + found[1] not in IMM12:
            return
        p, c = found
        comment = op.comment
        if isinstance(op, RdRsImmIntegerOperation | RdRsImmFloatOperation):
            new = type(op)(p, imm + c, rd=op.rd.type, comment=comment)  # pyright: ignore[reportCallIssue, reportArgumentType]
        else:
            new = type(op)(p, op.rs2, imm + c, comment=comment)  # pyright: ignore[reportCallIssue]
        rewriter.replace(op, new)


@dataclass(frozen=True)
class RiscvFoldAddressing(ModulePass):
    """Strength-reduced addresses with constant offsets in the access's immediate."""

    name = "riscv-fold-addressing"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [
                    WideConstantOperand(),
                    MulByPowerOfTwo(),
                    ShiftedOffset(),
                    AddOffset(),
                    FoldIntoAccess(),
                ]  # fmt: skip
            )
        ).rewrite_module(op)
