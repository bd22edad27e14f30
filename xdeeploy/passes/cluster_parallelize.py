"""`cluster-parallelize{cores=8}`: every kernel call splits across the cluster's cores.

A call whose kernel has a split rule (`core_split.py`: rows, channels, the first
non-unit dim, a matrix-vector product's columns) becomes a fork where core `%core`
computes a contiguous chunk of `chunk` units, and one core the remainder:

    kernel.call @xd_softmax_f32(%x, %y, 10 : i32, 16 : i32, 1 : i32, 0 : i32) : …

becomes, on 4 cores (chunks of 3 rows: cores 0-2 full, core 3 one row):

    cluster.fork cores(4) {
    ^bb0(%core : index):
      %x_flat = memref.reinterpret_cast %x to … sizes: [160] …     (the buffer, flat)
      %full = arith.cmpi ult, %core, %c3 : index
      scf.if %full {
        %o = arith.muli %core, %c48 : index                         (3 rows of 16)
        %x_core = memref.subview %x_flat[%o] [160] [1] : …
        …
        kernel.call @xd_softmax_f32(%x_core, %y_core, 3 : i32, 16 : i32, 1 : i32, 0 : i32)
      }
      %last = arith.cmpi eq, %core, %c3 : index
      scf.if %last { … the remaining row, at a static offset … }
      cluster.join
    }

The chunks keep static shapes (at most two variants), so the kernels keep constant
arguments. The fork joins before the next op, which therefore sees the whole result;
the DMA transfers of a tile loop stay outside the forks (issued by the cluster's
controller core). Calls with less than `min-work` elements of work stay on one core:
there a fork (about a hundred instructions on the critical path) costs more than it
saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, prod
from typing import TypeVar

from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import arith, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    NoneAttr,
    StridedLayoutAttr,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import PassFailedException

from xdeeploy.dialects import cluster, dnn, kernel
from xdeeploy.lowering.buffers import contiguous_strides
from xdeeploy.passes.core_split import Arg, CoreSplit, core_split

_Op = TypeVar("_Op", bound=Operation)


def _contiguous(ty: MemRefType) -> bool:
    layout = ty.layout
    if isinstance(layout, NoneAttr):
        return True
    strides = ty.get_strides()
    shape = ty.get_shape()
    expected = contiguous_strides(shape)
    return strides is not None and all(
        s == e for s, e, n in zip(strides, expected, shape, strict=True) if n > 1
    )


def _splittable(call: kernel.CallOp, split: CoreSplit) -> bool:
    """Every buffer a core offsets is one dense block (its pointer arithmetic is flat)."""
    args = call.arguments()
    for pos in split.steps:
        buf = args[pos]
        if not isinstance(buf, SSAValue) or not isinstance(buf.type, MemRefType):
            return False
        if not _contiguous(buf.type):
            return False
    return True


class _CoreBody:
    """Builds one core's share inside the fork's block."""

    def __init__(self, block: Block, call: kernel.CallOp, split: CoreSplit):
        self.builder = Builder(InsertPoint.at_end(block))
        self.core = block.args[0]
        self.call = call
        self.split = split
        self.node = call.attributes.get(dnn.NODE_ATTR)
        self.flats: dict[int, SSAValue] = {}

    def insert(self, op: _Op) -> _Op:
        if self.node is not None:
            op.attributes[dnn.NODE_ATTR] = self.node
        self.builder.insert(op)
        return op

    def index(self, value: int) -> SSAValue:
        return self.insert(arith.ConstantOp(IntegerAttr(value, IndexType()))).result

    def flat(self, pos: int) -> SSAValue:
        """The buffer at argument `pos` as one flat run of elements."""
        if pos not in self.flats:
            buf = self.call.arguments()[pos]
            assert isinstance(buf, SSAValue) and isinstance(buf.type, MemRefType)
            n = prod(buf.type.get_shape())
            ty = MemRefType(buf.type.element_type, [n], NoneAttr(), buf.type.memory_space)
            cast = memref.ReinterpretCastOp(buf, [], [], [], [0], [n], [1], ty)
            self.flats[pos] = self.insert(cast).results[0]
            self.flats[pos].name_hint = f"{buf.name_hint}_flat" if buf.name_hint else None
        return self.flats[pos]

    def chunk_view(self, pos: int, first: int | SSAValue, max_offset: int) -> SSAValue:
        """The buffer from element `first` on (static, or an index value); its type
        spans what remains after the largest offset this variant uses."""
        flat = self.flat(pos)
        assert isinstance(flat.type, MemRefType)
        total = flat.type.get_shape()[0]
        size = total - max_offset
        if isinstance(first, SSAValue):
            dynamic, static, offset = [first], [DYNAMIC_INDEX], None
        else:
            dynamic, static, offset = [], [first], first
        layout = StridedLayoutAttr([1], offset)
        ty = MemRefType(flat.type.element_type, [size], layout, flat.type.memory_space)
        sub = memref.SubviewOp(flat, dynamic, [], [], static, [size], [1], ty)
        view = self.insert(sub).results[0]
        buf = self.call.arguments()[pos]
        assert isinstance(buf, SSAValue)
        view.name_hint = f"{buf.name_hint}_core" if buf.name_hint else None
        return view

    def variant(self, count: int, first_unit: int | None, last_core: int) -> None:
        """The call on `count` units, starting at unit `first_unit` (None: at
        `%core * count`, for cores 0..last_core)."""
        args: list[Arg] = list(self.split.args(count))
        offsets: dict[int, int | SSAValue] = {}
        products: dict[int, SSAValue] = {}
        for pos, step in self.split.steps.items():
            if step == 0:
                continue
            if first_unit is not None:
                offsets[pos] = first_unit * step
            elif count * step == 1:
                offsets[pos] = self.core
            else:
                if count * step not in products:
                    mul = arith.MuliOp(self.core, self.index(count * step))
                    products[count * step] = self.insert(mul).result
                offsets[pos] = products[count * step]
        max_first = first_unit if first_unit is not None else last_core * count
        original = self.call.arguments()
        target = self.split.kernel or self.call.kernel
        for pos, step in self.split.steps.items():
            if step == 0:
                continue
            view = self.chunk_view(pos, offsets[pos], max_first * step)
            # The new call may place its buffers elsewhere (a gemv): find by identity.
            args = [view if a is original[pos] and a is not None else a for a in args]
        call = kernel.CallOp(target, args)
        if target == self.call.kernel:  # what was proved of the call holds for its chunks
            call.attributes.update(self.call.attributes)
        self.insert(call)


@dataclass
class ParallelizeCalls(RewritePattern):
    cores: int
    min_work: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: kernel.CallOp, rewriter: PatternRewriter) -> None:
        parent = op.parent_op()
        while parent is not None:
            if isinstance(parent, cluster.ForkOp):
                return
            parent = parent.parent_op()
        split = core_split(op, self.cores)
        if split is None or split.work < self.min_work or not _splittable(op, split):
            return
        chunk = ceil(split.units / self.cores)
        full = split.units // chunk
        rest = split.units - full * chunk
        used = full + (1 if rest else 0)
        block = Block(arg_types=[IndexType()])
        block.args[0].name_hint = "core"
        body = _CoreBody(block, op, split)
        for pos, step in split.steps.items():
            if step:
                body.flat(pos)  # shared by both variants
        if full == used:
            body.variant(chunk, None, full - 1)
        else:
            below = arith.CmpiOp(body.core, body.index(full), "ult")
            self._guarded(body, below, chunk, None, full - 1)
            self._guarded(
                body, arith.CmpiOp(body.core, body.index(full), "eq"), rest, full * chunk, full
            )
        body.insert(cluster.JoinOp())
        fork = cluster.ForkOp(used, Region(block))
        if body.node is not None:
            fork.attributes[dnn.NODE_ATTR] = body.node
        rewriter.replace(op, fork, [])

    def _guarded(
        self, body: _CoreBody, cond: arith.CmpiOp, count: int, first: int | None, last: int
    ) -> None:
        """`scf.if cond { the call on count units }`."""
        inner = Block()
        outer = body.builder
        then = scf.IfOp(body.insert(cond).result, [], Region(inner))
        body.insert(then)
        body.builder = Builder(InsertPoint.at_end(inner))
        body.variant(count, first, last)
        body.insert(scf.YieldOp())
        body.builder = outer


@dataclass(frozen=True)
class ClusterParallelize(ModulePass):
    """Splits kernel calls across `cores` cores (fork-join per call)."""

    name = "cluster-parallelize"

    cores: int = 8
    min_work: int = 64

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not 1 <= self.cores <= cluster.MAX_CORES:
            raise PassFailedException(
                f"cluster-parallelize: cores={self.cores}, expected 1 to {cluster.MAX_CORES}"
            )
        if self.cores == 1:
            return
        PatternRewriteWalker(
            ParallelizeCalls(self.cores, self.min_work), apply_recursively=False
        ).rewrite_module(op)
