"""`convert-arith-extras-to-riscv`: the arith ops xDSL 0.74's `convert-arith-to-riscv`
rejects (NotImplementedError), for integers of up to 32 bits in 32-bit registers:

    select %c, %a, %b:    sub m, zero, c ; xor d, a, b ; and p, d, m ; xor r, b, p
                          (r = b ^ ((a ^ b) & -c): branch-free)
    maxsi / minsi %a, %b: slt l, a, b, then the select of b / a on l (maxui / minui: sltu)
    mulsi_extended (i32): mul lo, a, b ; mulh hi, a, b
    mului_extended (i32): mul lo, a, b ; mulhu hi, a, b

and two it lowers wrongly or wastefully:

    cmpi:  xDSL 0.74 reads predicates 2..9 as slt sle ult ule ugt uge, MLIR numbers them
           slt sle sgt sge ult ule ugt uge (its sgt is an unsigned less-than, its sle a
           sge). Here by MLIR's numbers, as LLVM's RISCV/i32-icmp.ll lowers them:
               eq: xor, sltiu 1         ne: xor, sltu zero
               slt: slt a, b            sgt: slt b, a
               sle: slt b, a ; xori 1   sge: slt a, b ; xori 1     (unsigned: sltu)
           A signed compare with a constant in -2048..2047 is `slti` (sle/sgt: with c+1).
    shli / shrui / shrsi of an i32 or index by a constant 0..31: slli / srli / srai,
           the amount an immediate rather than a register kept live (xDSL: sll / srl / sra).
    andi / ori / xori of an i32 with a constant in -2048..2047: the immediate forms.

The select's mask needs a condition of 0 or 1. Comparisons give that, but xDSL lowers
`arith.constant true` to `li -1`, so any other condition is first `andi c, 1`; a constant
condition picks its operand with no instruction. A constant operand in -2048..2047 is an
immediate: min/max compare with `slti`/`sltiu`, selects xor with `xori` (none for 0).

The bits of an i1, i8 or i16 above its width are unspecified (a narrow add carries into
them; `sb`/`sh` ignore them), so comparisons, min and max first sign-extend narrow
operands (`slli`, `srai`; not after `lb`/`lh`, nor for constants, which `li` loads
sign-extended). Sign extension keeps the unsigned order too: `sltu` needs nothing else.
Min and max pick the operands' registers as they were, so an i1 stays 0 or 1.

Run before xDSL's `convert-arith-to-riscv`, which lowers the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.backend.riscv.lowering.utils import (
    cast_op_results,
    cast_operands_to_regs,
    register_type_for_type,
)
from xdsl.backend.utils import cast_to_regs
from xdsl.context import Context
from xdsl.dialects import arith, rv32
from xdsl.dialects.builtin import IndexType, IntegerAttr, IntegerType, ModuleOp, i1
from xdsl.dialects.riscv import ops as riscv
from xdsl.dialects.riscv.registers import Registers
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.comparisons import to_signed

from xdeeploy.dialects.riscv_mem import IMM12
from xdeeploy.lowering.narrow_arith_to_riscv import _extending_load, _shifted

XLEN = 32

Operand = SSAValue | int
"""A register, or a constant that fits a 12-bit immediate."""


def _width(ty: Attribute) -> int | None:
    """The bits of an integer that fits one register (index: all of it), else None."""
    if isinstance(ty, IndexType):
        return XLEN
    if isinstance(ty, IntegerType) and ty.width.data <= XLEN:
        return ty.width.data
    return None


def _attr(value: SSAValue) -> int | None:
    """The integer an `arith.constant` holds, as its attribute spells it."""
    op = value.owner
    if isinstance(op, arith.ConstantOp) and isinstance(op.value, IntegerAttr):
        return int(op.value.value.data)
    return None


def _constant(value: SSAValue) -> int | None:
    """An integer constant's value, sign-extended from its width (as registers hold it)."""
    raw, width = _attr(value), _width(value.type)
    return to_signed(raw, width) if raw is not None and width is not None else raw


def _imm(value: SSAValue) -> int | None:
    k = _constant(value)
    return k if k is not None and k in IMM12 else None


def _regs(rewriter: PatternRewriter, *values: SSAValue) -> list[SSAValue]:
    """`values` cast to registers before the op being rewritten: unlike
    `cast_operands_to_regs`, only these (an immediate operand needs no register)."""
    return cast_to_regs(values, register_type_for_type, rewriter)


def _sign_extended(ops: list[Operation], value: SSAValue, reg: SSAValue) -> SSAValue:
    """`reg`, the register of `value`, its bits above `value`'s width copies of its sign
    (the instructions appended to `ops`)."""
    width = _width(value.type)
    assert width is not None
    if width == XLEN or (width in (8, 16) and _extending_load(value, width, signed=True)):
        return reg
    raw = _attr(value)
    if raw is not None and raw == _constant(value):
        return reg
    shift = _shifted(reg, width, rv32.SraiOp)
    ops.extend(shift)
    return shift[-1].results[0]


def _xor(ops: list[Operation], x: SSAValue, y: Operand) -> SSAValue:
    """x ^ y (its instruction appended to `ops`; none for y = 0)."""
    if isinstance(y, int):
        if y == 0:
            return x
        op = riscv.XoriOp(x, y)
    else:
        op = riscv.XorOp(x, y)
    ops.append(op)
    return op.rd


def _mask(ops: list[Operation], cond: SSAValue, zero_or_one: bool) -> SSAValue:
    """All ones where `cond` (its bit 0) is 1, else zero."""
    if not zero_or_one:
        bit = riscv.AndiOp(cond, 1)
        ops.append(bit)
        cond = bit.rd
    zero = rv32.GetRegisterOp(Registers.ZERO)
    mask = riscv.SubOp(zero, cond)
    ops.extend((zero, mask))
    return mask.rd


def _select(ops: list[Operation], mask: SSAValue, a: Operand, b: Operand) -> SSAValue:
    """b ^ ((a ^ b) & mask): a where `mask` is all ones, b where it is zero. At most one
    of `a`, `b` a constant."""
    if isinstance(a, int):
        assert isinstance(b, SSAValue)
        diff = _xor(ops, b, a)
    else:
        diff = _xor(ops, a, b)
    picked = riscv.AndOp(diff, mask)
    ops.append(picked)
    return _xor(ops, b, picked.rd) if isinstance(b, SSAValue) else _xor(ops, picked.rd, b)


def _zero_or_one(value: SSAValue, depth: int = 4) -> bool:
    """`value`, an i1, is 0 or 1 in its register: a comparison, false, or and/or/xor of
    such (`depth` bounds the walk up a DAG)."""
    op = value.owner
    if isinstance(op, arith.CmpiOp | arith.CmpfOp) or _constant(value) == 0:
        return True
    if depth and isinstance(op, arith.AndIOp | arith.OrIOp | arith.XOrIOp):
        return _zero_or_one(op.lhs, depth - 1) and _zero_or_one(op.rhs, depth - 1)
    return False


def _replace(
    rewriter: PatternRewriter, op: Operation, ops: list[Operation], *results: SSAValue
) -> None:
    """`op` becomes `ops`, its results the registers `results`, seen as its types."""
    cast_op_results(rewriter, op)
    rewriter.replace(op, ops, list(results))


class Select(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.SelectOp, rewriter: PatternRewriter) -> None:
        if _width(op.result.type) is None or op.cond.type != i1:
            return
        known = _constant(op.cond)
        if known is not None:
            rewriter.replace(op, [], [op.lhs if known & 1 else op.rhs])
            return
        # b is used twice, a once: b as the immediate saves more.
        b_imm = _imm(op.rhs)
        a_imm = _imm(op.lhs) if b_imm is None else None
        (cond,) = _regs(rewriter, op.cond)
        a: Operand = a_imm if a_imm is not None else _regs(rewriter, op.lhs)[0]
        b: Operand = b_imm if b_imm is not None else _regs(rewriter, op.rhs)[0]
        ops: list[Operation] = []
        mask = _mask(ops, cond, _zero_or_one(op.cond))
        _replace(rewriter, op, ops, _select(ops, mask, a, b))


_Less = type[riscv.SltOp | riscv.SltuOp]
_LessImm = type[riscv.SltiOp | riscv.SltiuOp]

_EXTREMES: dict[type[Operation], tuple[_Less, _LessImm, bool]] = {
    arith.MaxSIOp: (riscv.SltOp, riscv.SltiOp, True),
    arith.MinSIOp: (riscv.SltOp, riscv.SltiOp, False),
    arith.MaxUIOp: (riscv.SltuOp, riscv.SltiuOp, True),
    arith.MinUIOp: (riscv.SltuOp, riscv.SltiuOp, False),
}
"""Per op: `lhs < rhs` with rhs a register / an immediate, and whether that picks rhs
(max) or lhs (min)."""


class MinMax(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        found = _EXTREMES.get(type(op))
        if found is None or _width(op.results[0].type) is None:
            return
        less, less_imm, pick_rhs = found
        lhs, rhs = op.operands
        # Commutative: a constant (a clamp's bound) goes right, where it is an immediate.
        if _imm(lhs) is not None and _imm(rhs) is None:
            lhs, rhs = rhs, lhs
        ops: list[Operation] = []
        (a,) = _regs(rewriter, lhs)
        k = _imm(rhs)
        # Compared sign-extended, picked as they were: an i1 from a comparison stays 0/1.
        if k is not None:
            b: Operand = k
            below = less_imm(_sign_extended(ops, lhs, a), k)
        else:
            (b,) = _regs(rewriter, rhs)
            below = less(_sign_extended(ops, lhs, a), _sign_extended(ops, rhs, b))
        ops.append(below)
        mask = _mask(ops, below.rd, zero_or_one=True)
        picked = _select(ops, mask, b, a) if pick_rhs else _select(ops, mask, a, b)
        _replace(rewriter, op, ops, picked)


class MulExtended(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, arith.MulSIExtendedOp):
            high_op = riscv.MulhOp
        elif isinstance(op, arith.MulUIExtendedOp):
            high_op = riscv.MulhuOp
        else:
            return
        if op.results[0].type != IntegerType(XLEN):
            return
        lhs, rhs = cast_operands_to_regs(rewriter, op)
        low, high = riscv.MulOp(lhs, rhs), high_op(lhs, rhs)
        _replace(rewriter, op, [low, high], low.rd, high.rd)


def _compare(ops: list[Operation], predicate: int, a: SSAValue, b: SSAValue) -> SSAValue:
    """0 or 1 for `a <predicate> b`, MLIR's numbering: eq ne slt sle sgt sge ult ule ugt uge."""
    if predicate in (0, 1):
        diff = _xor(ops, a, b)
        if predicate == 0:
            equal = riscv.SltiuOp(diff, 1)
            ops.append(equal)
            return equal.rd
        zero = rv32.GetRegisterOp(Registers.ZERO)
        differ = riscv.SltuOp(zero, diff)
        ops.extend((zero, differ))
        return differ.rd
    less = riscv.SltOp if predicate < 6 else riscv.SltuOp
    kind = (predicate - 2) % 4  # lt, le, gt, ge; a <= b is !(b < a), a >= b is !(a < b)
    compare = less(b, a) if kind in (1, 2) else less(a, b)
    ops.append(compare)
    return _xor(ops, compare.rd, 1) if kind in (1, 3) else compare.rd


class Cmpi(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.CmpiOp, rewriter: PatternRewriter) -> None:
        if _width(op.lhs.type) is None:
            return
        predicate = op.predicate.value.data
        ops: list[Operation] = []
        (lhs_reg,) = _regs(rewriter, op.lhs)
        a = _sign_extended(ops, op.lhs, lhs_reg)
        bound = _constant(op.rhs)
        # A clamp's bounds are constants: as slti immediates they take no register.
        if bound is not None and predicate in (2, 3, 4, 5):
            limit = bound + 1 if predicate in (3, 4) else bound
            if limit in IMM12:
                less = riscv.SltiOp(a, limit)
                ops.append(less)
                negated = predicate in (4, 5)
                _replace(rewriter, op, ops, _xor(ops, less.rd, 1) if negated else less.rd)
                return
        (rhs_reg,) = _regs(rewriter, op.rhs)
        b = _sign_extended(ops, op.rhs, rhs_reg)
        _replace(rewriter, op, ops, _compare(ops, predicate, a, b))


_SHIFTS: dict[type[Operation], type[rv32.SlliOp | rv32.SrliOp | rv32.SraiOp]] = {
    arith.ShLIOp: rv32.SlliOp,
    arith.ShRUIOp: rv32.SrliOp,
    arith.ShRSIOp: rv32.SraiOp,
}


class ConstantShift(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        shift = _SHIFTS.get(type(op))
        if shift is None or _width(op.results[0].type) != XLEN:
            return
        value, amount = op.operands
        k = _constant(amount)
        if k is None or k not in range(XLEN):
            return
        (reg,) = _regs(rewriter, value)
        ops: list[Operation] = [shift(reg, k)]
        _replace(rewriter, op, ops, ops[0].results[0])


_BITWISE: dict[type[Operation], type[riscv.AndiOp | riscv.OriOp | riscv.XoriOp]] = {
    arith.AndIOp: riscv.AndiOp,
    arith.OrIOp: riscv.OriOp,
    arith.XOrIOp: riscv.XoriOp,
}


class ConstantBitwise(RewritePattern):
    """and/or/xor with a constant in -2048..2047 as `andi`/`ori`/`xori` (xDSL loads the
    constant into a register kept live)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        bitwise = _BITWISE.get(type(op))
        if bitwise is None or _width(op.results[0].type) != XLEN:
            return
        lhs, rhs = op.operands
        k = _imm(rhs)
        if k is None:
            lhs, k = rhs, _imm(lhs)
        if k is None:
            return
        (reg,) = _regs(rewriter, lhs)
        ops: list[Operation] = [bitwise(reg, k)]
        _replace(rewriter, op, ops, ops[0].results[0])


@dataclass(frozen=True)
class ConvertArithExtrasToRiscv(ModulePass):
    """select, min/max and widening multiplies of integers up to 32 bits; comparisons by
    MLIR's predicate numbers; i32 shifts and bitwise ops with constants as immediates."""

    name = "convert-arith-extras-to-riscv"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # Selects first: their conditions are still `arith.cmpi` (known 0 or 1) then.
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [Select(), MinMax(), MulExtended(), ConstantShift(), ConstantBitwise()]
            )
        ).rewrite_module(op)
        PatternRewriteWalker(Cmpi()).rewrite_module(op)
