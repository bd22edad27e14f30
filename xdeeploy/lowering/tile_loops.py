"""Tiled bufferization of one op: loops over tiles staged in L1 by DMA.

Given the decision `dnn-tile` recorded on an op (tile size per iteration dim and a loop
order), this emits, in the order of that decision:

    %a_l1 = memref.alloc() : memref<tile…, "L1">        (one per operand, hoisted)
    scf.for %i = 0 to n_i {                              (dims with more than one tile)
      %a_tile = memref.subview %a[%i * t_i, …] …         (the operand's tile in L2)
      %t = dma.start %a_tile, %a_l1 …                    (placed in the innermost loop
      dma.wait %t                                         the operand depends on: it stays
      scf.for %j … {                                      in L1 across deeper loops)
        … the op's own kernel lowering, on the L1 buffers …
        dma.start %y_l1, %y_tile  /  dma.wait            (results written back per tile)
      }
    }

Every tile has the same static shape (tile sizes divide the dims), so the kernel calls
keep constant arguments and only the subview offsets move with the loops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod

from xdsl.builder import Builder
from xdsl.dialects import arith, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    IndexType,
    MemRefType,
    NoneAttr,
    StridedLayoutAttr,
    StringAttr,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

from xdeeploy.dialects import dma
from xdeeploy.lowering.buffers import BufferBuilder, contiguous_strides
from xdeeploy.passes.dnn_tile import TileChoice
from xdeeploy.passes.tile_solver import Axis, Operand
from xdeeploy.passes.tiling_rules import OpTiling

L1 = StringAttr("L1")

Lower = Callable[[BufferBuilder, Operation, list[SSAValue], list[SSAValue]], None]


def _extent(axis: Axis, tiles: dict[str, int]) -> int:
    if axis.dim is None:
        return axis.extent
    return axis.stride * (tiles[axis.dim] - 1) + axis.window


def _layout(ty: MemRefType) -> tuple[list[int], int]:
    """(strides, static offset) of a buffer."""
    layout = ty.layout
    if isinstance(layout, StridedLayoutAttr):
        strides = [s if isinstance(s, int) else 0 for s in layout.get_strides()]
        offset = layout.get_offset()
        return strides, offset if isinstance(offset, int) else 0
    return contiguous_strides(ty.get_shape()), 0


class _TileEmitter:
    def __init__(
        self, b: BufferBuilder, tiling: OpTiling, choice: TileChoice, buffers: Sequence[SSAValue]
    ):
        self.b = b
        self.tiling = tiling
        self.names = [d.name for d in tiling.dims]
        self.tiles = {d.name: t for d, t in zip(tiling.dims, choice.tiles, strict=True)}
        counts = {d.name: d.size // self.tiles[d.name] for d in tiling.dims}
        self.loops = [self.names[i] for i in choice.order if counts[self.names[i]] > 1]
        self.counts = counts
        self.buffers = list(buffers)
        self.ivs: dict[str, SSAValue] = {}
        self.offsets: dict[tuple[str, int], SSAValue] = {}

    # -- building blocks

    def index(self, value: int) -> SSAValue:
        return self.b.index(value)

    def depth(self, access: Operand) -> int:
        """Index of the innermost loop whose dim `access` follows (-1: none)."""
        dims = {a.dim for a in access.axes if a.dim is not None}
        return max((k for k, d in enumerate(self.loops) if d in dims), default=-1)

    def tile_shape(self, buf: SSAValue, access: Operand) -> list[int]:
        """The shape of `buf`'s tile; a whole buffer keeps its own shape (a 0-d
        constant may be stored as one element)."""
        shape = [_extent(a, self.tiles) for a in access.axes]
        ty = buf.type
        assert isinstance(ty, MemRefType)
        return list(ty.get_shape()) if prod(shape) == prod(ty.get_shape()) else shape

    def tile_view(self, buf: SSAValue, access: Operand) -> SSAValue:
        """The tile of `buf` at the current loop indices (the buffer itself if whole)."""
        ty = buf.type
        assert isinstance(ty, MemRefType)
        shape = self.tile_shape(buf, access)
        if list(ty.get_shape()) == shape:
            return buf
        strides, base = _layout(ty)
        dynamic: list[SSAValue] = []
        static: list[int] = []
        for axis in access.axes:
            if axis.dim is None or axis.dim not in self.ivs:
                static.append(0)
                continue
            dynamic.append(self.offset(axis.dim, self.tiles[axis.dim] * axis.stride))
            static.append(DYNAMIC_INDEX)
        layout = StridedLayoutAttr(strides, None if dynamic else base)
        result = MemRefType(ty.element_type, shape, layout, ty.memory_space)
        sub = memref.SubviewOp(buf, dynamic, [], [], static, shape, [1] * len(shape), result)
        view = self.b.insert(sub).results[0]
        view.name_hint = f"{buf.name_hint}_tile" if buf.name_hint else None
        return view

    def offset(self, dim: str, step: int) -> SSAValue:
        """The first element of the current tile along `dim`, `step` elements per tile
        (computed once per loop body and shared by the operands)."""
        key = (dim, step)
        if key not in self.offsets:
            iv = self.ivs[dim]
            if step == 1:
                self.offsets[key] = iv
            else:
                product = self.b.insert(arith.MuliOp(iv, self.index(step))).results[0]
                product.name_hint = f"o{dim}"
                self.offsets[key] = product
        return self.offsets[key]

    def copy(self, src: SSAValue, dst: SSAValue) -> None:
        start = self.b.insert(dma.StartOp(src, dst))
        self.b.insert(dma.WaitOp(start.results[0]))

    # -- the nest

    def emit(self, lower: Lower, op: Operation, n_inputs: int) -> None:
        accesses = self.tiling.accesses
        l1 = [self.b.alloc(MemRefType(_elem(buf), self.tile_shape(buf, acc), NoneAttr(), L1))
              for buf, acc in zip(self.buffers, accesses, strict=True)]  # fmt: skip
        for buf, tile in zip(self.buffers, l1, strict=True):
            tile.name_hint = f"{buf.name_hint}_l1" if buf.name_hint else None
        inputs = list(range(n_inputs))
        outputs = list(range(n_inputs, len(accesses)))
        depths = [self.depth(a) for a in accesses]

        def level(k: int) -> None:
            for i in inputs:
                if depths[i] == k:
                    self.copy(self.tile_view(self.buffers[i], accesses[i]), l1[i])
            if k + 1 < len(self.loops):
                self._loop(k + 1, level)
            else:
                lower(self.b, op, l1[:n_inputs], l1[n_inputs:])
            for i in outputs:
                if depths[i] == k:
                    self.copy(l1[i], self.tile_view(self.buffers[i], accesses[i]))

        level(-1)

    def _loop(self, k: int, body: Callable[[int], None]) -> None:
        dim = self.loops[k]
        lb, ub, step = self.index(0), self.index(self.counts[dim]), self.index(1)
        block = Block(arg_types=[IndexType()])
        block.args[0].name_hint = f"t{dim}"
        self.b.insert(scf.ForOp(lb, ub, step, [], Region(block)))
        outer = self.b.builder
        self.b.builder = Builder(InsertPoint.at_end(block))
        self.ivs[dim] = block.args[0]
        body(k)
        self.b.builder.insert(scf.YieldOp())
        self.b.builder = outer
        del self.ivs[dim]
        self.offsets = {k: v for k, v in self.offsets.items() if k[0] != dim}


def _elem(buf: SSAValue) -> Attribute:
    ty = buf.type
    assert isinstance(ty, MemRefType)
    return ty.element_type


def lower_tiled(
    b: BufferBuilder,
    op: Operation,
    ins: list[SSAValue],
    outs: list[SSAValue],
    lower: Lower,
    tiling: OpTiling,
    choice: TileChoice,
) -> None:
    """Emits `op` as loops over tiles staged in L1 (see the module docstring).

    Buffers the kernel lowering allocates for itself (widened copies, expanded weights)
    become L1 buffers hoisted before the loops, so that nothing is allocated per tile.
    """
    emitter = _TileEmitter(b, tiling, choice, [*ins, *outs])
    with b.hoisted_allocs(L1):
        emitter.emit(lower, op, len(ins))
