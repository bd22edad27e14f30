"""`dma-double-buffer`: fetch the next tile while the current one is computed.

A tile loop from the tiled bufferization fetches each input tile and waits for it
before computing:

    scf.for %i = %lb to %ub step %s {
      %tile = memref.subview %x[%i * t, …]
      %t = dma.start %tile, %buf
      dma.wait %t
      … compute on %buf …
    }

This pass gives `%buf` a twin and overlaps the copy of tile i+1 with the work on tile i:

    %t0 = dma.start (tile %lb), %buf                     (prologue)
    scf.for %i = %lb to %ub step %s iter_args(%pending = %t0) {
      %cur = arith.select (i even), %buf, %twin          (the tile fetched last time)
      %nxt = arith.select (i even), %twin, %buf
      dma.wait %pending
      %next = scf.if (i + s < ub) { dma.start (tile i + s), %nxt } else { %pending }
      … compute on %cur …
      scf.yield %next
    }

The last iteration starts nothing and hands back the token it already waited for,
which nobody waits for again. The DMA-checking interpreter (a destination is poisoned
until its wait) shows that the compute never reads a tile still in flight.
Only inputs are double-buffered; result tiles are still written back synchronously.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import IndexType, IntegerAttr, ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from xdeeploy.dialects import dma

_PURE = (arith.ConstantOp, arith.AddiOp, arith.MuliOp, arith.SubiOp, arith.DivUIOp,
         arith.RemUIOp, memref.SubviewOp)  # fmt: skip
"""Ops an address may be computed with (cloned into the prologue and the prefetch)."""


def _address_ops(value: SSAValue, body: Block) -> list[Operation] | None:
    """The ops of `body` computing `value`, in order; None if one is not pure."""
    needed: list[Operation] = []
    todo = [value]
    while todo:
        v = todo.pop()
        op = v.owner
        if not isinstance(op, Operation) or op.parent_block() is not body or op in needed:
            continue
        if not isinstance(op, _PURE):
            return None
        needed.append(op)
        todo.extend(op.operands)
    order = {op: k for k, op in enumerate(body.ops)}
    return sorted(needed, key=order.__getitem__)


def _inside(op: Operation, region: Region) -> bool:
    while (parent := op.parent_region()) is not None:
        if parent is region:
            return True
        owner = parent.parent_op()
        if owner is None:
            return False
        op = owner
    return False


def _prefetchable(loop: scf.ForOp) -> dma.StartOp | None:
    """A `dma.start` of the loop body copying into a whole L1 buffer allocated outside
    the loop, waited right after, whose source address the loop index computes."""
    body = loop.body.block
    for op in body.ops:
        if not isinstance(op, dma.StartOp) or not isinstance(op.next_op, dma.WaitOp):
            continue
        if op.next_op.token is not op.token or not op.token.has_one_use():
            continue
        alloc = op.dst.owner
        if not isinstance(alloc, memref.AllocOp) or _inside(alloc, loop.body):
            continue
        others = [u.operation for u in op.dst.uses if u.operation is not op]
        if not all(_inside(u, loop.body) for u in others):
            continue
        if _address_ops(op.src, body) is not None:
            return op
    return None


def _clone_address(
    ops: Iterable[Operation], iv: SSAValue, value: SSAValue, at: InsertPoint
) -> dict[SSAValue, SSAValue]:
    mapping: dict[SSAValue, SSAValue] = {iv: value}
    for op in ops:
        clone = op.clone(mapping)
        Rewriter.insert_op(clone, at)
        for old, new in zip(op.results, clone.results, strict=True):
            mapping[old] = new
    return mapping


def _index(value: int, at: InsertPoint) -> SSAValue:
    const = arith.ConstantOp(IntegerAttr(value, IndexType()))
    Rewriter.insert_op(const, at)
    return const.result


def double_buffer(loop: scf.ForOp, start: dma.StartOp) -> scf.ForOp:
    """Rewrites `loop` so that `start`'s copy runs one iteration ahead (see above);
    returns the new loop."""
    body = loop.body.block
    iv = body.args[0]
    address = _address_ops(start.src, body)
    assert address is not None
    buf = start.dst
    alloc = buf.owner
    assert isinstance(alloc, memref.AllocOp)
    twin = alloc.clone()
    twin.memref.name_hint = f"{buf.name_hint}_next" if buf.name_hint else None
    Rewriter.insert_op(twin, InsertPoint.after(alloc))

    # Prologue: the first tile into `buf`.
    before = InsertPoint.before(loop)
    first = _clone_address(address, iv, loop.lb, before)
    prologue = dma.StartOp(first.get(start.src, start.src), buf)
    Rewriter.insert_op(prologue, before)

    # The new loop carries the pending token; the old body moves into it.
    block = Block(arg_types=[IndexType(), *(a.type for a in body.args[1:]), prologue.token.type])
    new_iv, pending = block.args[0], block.args[-1]
    new_iv.name_hint = iv.name_hint
    pending.name_hint = "pending"
    new_loop = scf.ForOp(loop.lb, loop.ub, loop.step, [*loop.iter_args, prologue.token],
                         Region(block))  # fmt: skip
    new_loop.attributes.update(loop.attributes)
    Rewriter.insert_op(new_loop, InsertPoint.after(loop))
    for old, new in zip(body.args, block.args, strict=False):
        old.replace_all_uses_with(new)
    for op in list(body.ops):
        op.detach()
        block.add_op(op)
    for old, new in zip(loop.results, new_loop.results, strict=False):
        old.replace_all_uses_with(new)
    Rewriter.erase_op(loop)

    # Which buffer holds this iteration's tile: parity of (i - lb) / step.
    wait = start.next_op
    assert isinstance(wait, dma.WaitOp)
    at = InsertPoint.before(start)
    rel = arith.SubiOp(new_iv, new_loop.lb)
    count = arith.DivUIOp(rel, new_loop.step)
    two = _index(2, at)
    Rewriter.insert_op([rel, count], at)
    parity = arith.RemUIOp(count, two)
    zero = _index(0, at)
    even = arith.CmpiOp(parity, zero, "eq")
    cur = arith.SelectOp(even, buf, twin.memref)
    nxt = arith.SelectOp(even, twin.memref, buf)
    cur.result.name_hint = buf.name_hint
    Rewriter.insert_op([parity, even, cur, nxt, dma.WaitOp(pending)], at)

    # Prefetch of the next tile, if there is one.
    following = arith.AddiOp(new_iv, new_loop.step)
    more = arith.CmpiOp(following, new_loop.ub, "ult")
    Rewriter.insert_op([following, more], at)
    then_block = Block()
    mapping = _clone_address(address, new_iv, following.result, InsertPoint.at_end(then_block))
    fetch = dma.StartOp(mapping.get(start.src, start.src), nxt.result)
    then_block.add_ops([fetch, scf.YieldOp(fetch.token)])
    prefetch = scf.IfOp(more, [prologue.token.type], [then_block], [Block([scf.YieldOp(pending)])])
    Rewriter.insert_op(prefetch, at)
    for op in (
        fetch,
        prologue,
        prefetch,
        wait,
        rel,
        count,
        parity,
        even,
        cur,
        nxt,
        following,
        more,
    ):
        if not op.attributes and start.attributes:
            op.attributes.update(start.attributes)

    # The compute reads the current buffer; the old copy goes.
    for use in list(buf.uses):
        if use.operation not in (start, prologue, nxt, cur) and _inside(
            use.operation, new_loop.body
        ):
            use.operation.operands[use.index] = cur.result
    Rewriter.erase_op(wait)
    Rewriter.erase_op(start)
    for op in reversed(address):
        if not any(r.uses for r in op.results):
            Rewriter.erase_op(op)

    terminator = block.last_op
    assert isinstance(terminator, scf.YieldOp)
    Rewriter.replace_op(terminator, scf.YieldOp(*terminator.operands, prefetch.results[0]))
    return new_loop


@dataclass(frozen=True)
class DmaDoubleBuffer(ModulePass):
    name = "dma-double-buffer"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in [f for f in op.ops if isinstance(f, func.FuncOp)]:
            changed = True
            while changed:
                changed = False
                for loop in [o for o in fn.walk() if isinstance(o, scf.ForOp)]:
                    start = _prefetchable(loop)
                    if start is not None:
                        double_buffer(loop, start)
                        changed = True
                        break
