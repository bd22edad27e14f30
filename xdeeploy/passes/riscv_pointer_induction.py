"""`riscv-pointer-induction`: a loop-carried element offset used only as `base + offset`
is carried as the pointer itself.

After the memref lowering (and `riscv-fold-addressing`), a loop walking a buffer reads

    riscv_scf.for ... iter_args(%o = %init) {
      %p = riscv.add %base, %o          // once per iteration (cse)
      lb 0(%p), lb 1(%p), ...
      %next = riscv.addi %o, 4
      riscv_scf.yield %next
    }

which keeps `%base` in a register through the loop and adds it every iteration. When
every use of `%o` is such an add with one loop-invariant base, or its own increment
(used by the yield alone), and the loop's result for it is unused, the loop carries
`%base + %init` instead: the adds disappear and `%base` is free. Rewriting inner loops
first makes their initial pointers `base + outer offset` — an add of the same kind — so
the outer loops follow, and at the end each buffer's base is used once, at the top.
Induction variables are left alone: the loop compares them signed, and an address
range may straddle 2^31.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import riscv_scf, rv32
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.dialects.riscv import ops as riscv
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

from xdeeploy.dialects.riscv_mem import IMM12


def _defined_outside(value: SSAValue, loop: Operation) -> bool:
    owner = value.owner
    op = owner if isinstance(owner, Operation) else owner.parent_op()
    return op is None or not loop.is_ancestor(op)


@dataclass(frozen=True)
class _Walk:
    """How a loop-carried offset addresses one buffer: `base + (offset << shift)`."""

    base: SSAValue
    shift: int


def _scaled(value: SSAValue) -> tuple[SSAValue, int] | None:
    """(base, shift) when every use of `value` is `add base, value`, one base."""
    bases = set()
    for use in value.uses:
        user = use.operation
        if not isinstance(user, riscv.AddOp):
            return None
        bases.add(user.rs2 if use.index == 0 else user.rs1)
    return (bases.pop(), 0) if len(bases) == 1 else None


def _walk(arg: SSAValue, loop: riscv_scf.ForOp, k: int) -> _Walk | None:
    """How iter arg k walks a buffer, if that is its only use besides one increment
    (`addi`) that only the yield uses, and the base is loop-invariant."""
    yield_op = loop.body.block.last_op
    found: set[tuple[SSAValue, int]] = set()
    increments = 0
    for use in arg.uses:
        user = use.operation
        if isinstance(user, riscv.AddiOp):
            if [(u.operation, u.index) for u in user.rd.uses] != [(yield_op, k)]:
                return None
            increments += 1
        elif isinstance(user, riscv.AddOp):
            found.add((user.rs2 if use.index == 0 else user.rs1, 0))
        elif isinstance(user, rv32.SlliOp) and isinstance(user.immediate, IntegerAttr):
            scaled = _scaled(user.rd)
            if scaled is None:
                return None
            found.add((scaled[0], int(user.immediate.value.data)))
        else:
            return None
    if increments != 1 or len(found) != 1:
        return None
    base, shift = found.pop()
    return _Walk(base, shift) if _defined_outside(base, loop) else None


class CarryPointers(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: riscv_scf.ForOp, rewriter: PatternRewriter) -> None:
        yield_op = op.body.block.last_op
        assert yield_op is not None
        for k, arg in enumerate(op.body.block.args[1:]):
            if op.res[k].uses:
                continue
            walk = _walk(arg, op, k)
            if walk is None:
                continue
            increment = yield_op.operands[k].owner
            assert isinstance(increment, riscv.AddiOp)
            assert isinstance(increment.immediate, IntegerAttr)
            step = int(increment.immediate.value.data) << walk.shift
            if step not in IMM12:
                continue
            init: SSAValue = op.iter_args[k]
            before: list[Operation] = []
            if walk.shift:
                before.append(shifted := rv32.SlliOp(init, walk.shift))
                init = shifted.rd
            before.append(start := riscv.AddOp(walk.base, init))
            rewriter.insert(before, InsertPoint.before(op))
            op.operands[len(op.operands) - len(op.iter_args) + k] = start.rd
            rewriter.notify_op_modified(op)
            rewriter.replace(increment, riscv.AddiOp(arg, step))
            for use in list(arg.uses):
                user = use.operation
                if isinstance(user, rv32.SlliOp):
                    for add in [u.operation for u in user.rd.uses]:
                        rewriter.replace(add, [], [arg])
                    rewriter.erase(user)
                elif isinstance(user, riscv.AddOp):
                    rewriter.replace(user, [], [arg])
            return


class AddBeforeMove(RewritePattern):
    """`parallel_mov` then `add base, r` / `slli r` → the add / shift, then the move
    (the loop lowering copies every initial value into a fresh register: the outer
    loop's offset must meet the add)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, riscv.AddOp):
            operands = [(0, op.rs1, op.rs2), (1, op.rs2, op.rs1)]
        elif isinstance(op, rv32.SlliOp):
            operands = [(0, op.rs1, None)]
        else:
            return
        for index, moved, other in operands:
            move = moved.owner
            if not isinstance(move, riscv.ParallelMovOp) or len(list(moved.uses)) != 1:
                continue
            if other is not None and not _defined_before(other, move):
                continue
            j = next(k for k, r in enumerate(move.results) if r is moved)
            source = move.inputs[j]
            new = op.clone()
            new.operands[index] = source
            rewriter.insert(new, InsertPoint.before(move))
            move.operands[j] = new.results[0]
            rewriter.notify_op_modified(move)
            rewriter.replace(op, [], [moved])
            return


def _defined_before(value: SSAValue, op: Operation) -> bool:
    """`value` is available just before `op` (a block argument of an enclosing block,
    or an op earlier in the same block or an enclosing one)."""
    owner = value.owner
    if not isinstance(owner, Operation):
        block = owner
        return block.is_ancestor(op) if hasattr(block, "is_ancestor") else True
    cursor: Operation | None = op
    while cursor is not None:
        if owner.parent is cursor.parent and owner.parent is not None:
            return owner.parent.get_operation_index(owner) < owner.parent.get_operation_index(
                cursor
            )
        cursor = cursor.parent_op()
    return False


@dataclass(frozen=True)
class RiscvPointerInduction(ModulePass):
    """Loop-carried offsets into buffers become loop-carried pointers."""

    name = "riscv-pointer-induction"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([AddBeforeMove(), CarryPointers()])
        ).rewrite_module(op)
