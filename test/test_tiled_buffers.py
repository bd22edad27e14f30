"""Tiled buffer-level IR: loops over tiles staged in L1 by DMA, as the tiling lowering
produces them, run three ways that must agree.

Each case is a hand-written tiled module and the untiled module it replaces (the same
signature, one kernel call on whole buffers). (a) The buffer interpreter runs both,
before and after `plan-memory`: the tiled result must equal the untiled one bit for
bit. (b) The `c` target's output of both, built with the project's build helpers, must
give the same bits too (and the interpreter's, where the kernels are exact). (c)
Dropping a `dma.wait`, or computing on a tile before its wait, must be an interpreter
error. (d) `plan-memory` puts the L1 tiles, all alive through the loops, into the L1
arena, which is then their aligned sizes' sum.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import parse_ir
from xdsl.context import Context
from xdsl.dialects import memref
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, MemRefType, ModuleOp

from xdeeploy import weights
from xdeeploy.errors import DeeployError
from xdeeploy.interp.run_buffers import run_buffers
from xdeeploy.lowering.emit_c import CEmitter
from xdeeploy.passes.plan_memory import L1_ARENA_ATTR, PlanMemory, is_l1
from xdeeploy.tools.build import build_shared_library, compile_module
from xdeeploy.tools.host import HostLibrary

Array = np.ndarray[Any, Any]


def planned(text: str) -> ModuleOp:
    module = parse_ir(text)
    PlanMemory().apply(Context(), module)
    module.verify()
    return module


def run_c(text: str, inputs: list[Array], folder: Path) -> list[Array]:
    build = compile_module(planned(text), folder)
    return HostLibrary(build, build_shared_library(build)).run(inputs)


def assert_same_bits(got: Array, want: Array, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, what
    assert got.tobytes() == want.tobytes(), (
        f"{what}: {np.count_nonzero(got != want)} of {got.size} elements differ"
    )


# ---------------------------------------------------------------------------------- cases


@dataclass
class Case:
    tiled: str
    untiled: str
    inputs: Callable[[np.random.Generator], list[Array]]
    l1_bytes: int
    exact_kernels: bool = True
    """Whether the C kernels compute the same bits as the interpreter's numpy."""


F_2x64 = "memref<2x64xf32, strided<[64, 1], offset: ?>>"
L1_2x64 = 'memref<2x64xf32, "L1">'
SOFTMAX_ARGS = (
    '%x: memref<8x64xf32> {dnn.name = "x"}, %y: memref<8x64xf32> {dnn.name = "y", dnn.output}'
)


def _softmax_rows() -> Case:
    """The lead's example: softmax over rows, two rows per tile."""
    tiled = f"""
func.func @main({SOFTMAX_ARGS}) {{
  %xt = memref.alloc() {{dnn.node = "sm"}} : {L1_2x64}
  %yt = memref.alloc() {{dnn.node = "sm"}} : {L1_2x64}
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c4 step %c1 {{
    %row = arith.muli %i, %c2 : index
    %xs = memref.subview %x[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to {F_2x64}
    %t0 = dma.start %xs, %xt : {F_2x64}, {L1_2x64} -> !dma.token
    dma.wait %t0 : !dma.token
    kernel.call @xd_softmax_f32(%xt, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : {L1_2x64}, {L1_2x64}
    %ys = memref.subview %y[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to {F_2x64}
    %t1 = dma.start %yt, %ys : {L1_2x64}, {F_2x64} -> !dma.token
    dma.wait %t1 : !dma.token
  }}
  func.return
}}"""
    return Case(tiled, _softmax_untiled(), _softmax_inputs, 1024, exact_kernels=False)


def _softmax_untiled() -> str:
    return f"""
func.func @main({SOFTMAX_ARGS}) {{
  kernel.call @xd_softmax_f32(%x, %y, 8 : i32, 64 : i32, 1 : i32, 0 : i32) : memref<8x64xf32>, memref<8x64xf32>
  func.return
}}"""


def _softmax_inputs(r: np.random.Generator) -> list[Array]:
    return [r.standard_normal((8, 64)).astype(np.float32)]


def _double_buffered() -> Case:
    """Softmax over rows, double buffered: tile i + 1 is fetched into one L1 buffer
    (chosen by the parity of i) while tile i is computed from the other; its token is
    carried to the next iteration, which waits for it. The last tile (3, odd: in %b) is
    computed after the loop."""
    tiled = f"""
func.func @main({SOFTMAX_ARGS}) {{
  %a = memref.alloc() : {L1_2x64}
  %b = memref.alloc() : {L1_2x64}
  %yt = memref.alloc() : {L1_2x64}
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %x0 = memref.subview %x[0, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1]>>
  %first = dma.start %x0, %a : memref<2x64xf32, strided<[64, 1]>>, {L1_2x64} -> !dma.token
  %last = scf.for %i = %c0 to %c3 step %c1 iter_args(%t = %first) -> (!dma.token) {{
    %parity = arith.remui %i, %c2 : index
    %even = arith.cmpi eq, %parity, %c0 : index
    %cur = arith.select %even, %a, %b : {L1_2x64}
    %nxt = arith.select %even, %b, %a : {L1_2x64}
    dma.wait %t : !dma.token
    %i1 = arith.addi %i, %c1 : index
    %row1 = arith.muli %i1, %c2 : index
    %xs = memref.subview %x[%row1, 0] [2, 64] [1, 1] : memref<8x64xf32> to {F_2x64}
    %next = dma.start %xs, %nxt : {F_2x64}, {L1_2x64} -> !dma.token
    kernel.call @xd_softmax_f32(%cur, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : {L1_2x64}, {L1_2x64}
    %row = arith.muli %i, %c2 : index
    %ys = memref.subview %y[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to {F_2x64}
    %out = dma.start %yt, %ys : {L1_2x64}, {F_2x64} -> !dma.token
    dma.wait %out : !dma.token
    scf.yield %next : !dma.token
  }}
  dma.wait %last : !dma.token
  kernel.call @xd_softmax_f32(%b, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : {L1_2x64}, {L1_2x64}
  %y3 = memref.subview %y[6, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: 384>>
  %out3 = dma.start %yt, %y3 : {L1_2x64}, memref<2x64xf32, strided<[64, 1], offset: 384>> -> !dma.token
  dma.wait %out3 : !dma.token
  func.return
}}"""
    return Case(tiled, _softmax_untiled(), _softmax_inputs, 1536, exact_kernels=False)


def _double_buffered_if() -> Case:
    """Double buffering as `dma-double-buffer` writes it: all four tiles in the loop,
    the fetch of tile i + 1 under an `scf.if` whose else yields the (already waited)
    token again, so that the last iteration fetches nothing."""
    tiled = f"""
func.func @main({SOFTMAX_ARGS}) {{
  %a = memref.alloc() : {L1_2x64}
  %b = memref.alloc() : {L1_2x64}
  %yt = memref.alloc() : {L1_2x64}
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %x0 = memref.subview %x[0, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1]>>
  %first = dma.start %x0, %a : memref<2x64xf32, strided<[64, 1]>>, {L1_2x64} -> !dma.token
  %last = scf.for %i = %c0 to %c4 step %c1 iter_args(%t = %first) -> (!dma.token) {{
    %parity = arith.remui %i, %c2 : index
    %even = arith.cmpi eq, %parity, %c0 : index
    %cur = arith.select %even, %a, %b : {L1_2x64}
    %nxt = arith.select %even, %b, %a : {L1_2x64}
    dma.wait %t : !dma.token
    %i1 = arith.addi %i, %c1 : index
    %more = arith.cmpi ult, %i1, %c4 : index
    %next = scf.if %more -> (!dma.token) {{
      %row1 = arith.muli %i1, %c2 : index
      %xs = memref.subview %x[%row1, 0] [2, 64] [1, 1] : memref<8x64xf32> to {F_2x64}
      %started = dma.start %xs, %nxt : {F_2x64}, {L1_2x64} -> !dma.token
      scf.yield %started : !dma.token
    }} else {{
      scf.yield %t : !dma.token
    }}
    kernel.call @xd_softmax_f32(%cur, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : {L1_2x64}, {L1_2x64}
    %row = arith.muli %i, %c2 : index
    %ys = memref.subview %y[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to {F_2x64}
    %out = dma.start %yt, %ys : {L1_2x64}, {F_2x64} -> !dma.token
    dma.wait %out : !dma.token
    scf.yield %next : !dma.token
  }}
  func.return
}}"""
    return Case(tiled, _softmax_untiled(), _softmax_inputs, 1536, exact_kernels=False)


BIAS = np.arange(-12, 12, dtype=np.float32).reshape(2, 12) / 8
X_TILE = "memref<1x4x4xf32, strided<[96, 12, 1], offset: ?>>"
L1_TILE = 'memref<1x4x4xf32, "L1">'
BROW = "memref<12xf32, strided<[1], offset: 12>>"


def _add_broadcast() -> Case:
    """y = x + bias[1], x 1x8x12 in 1x4x4 tiles; the bias row is a reinterpret_cast
    (static offset 12) of a constant global, and its tiles, subviews of that view, are
    broadcast over the tile's rows by stride 0. One loop over the six tiles, column
    major (column t / 2, row t & 1), fetches a bias tile only when the column changes."""
    glob = (
        '"memref.global"() <{sym_name = "bias", type = memref<2x12xf32>, initial_value = '
        f'dense<{BIAS.tolist()}> : tensor<2x12xf32>, sym_visibility = "private", constant}}> '
        ": () -> ()"
    )
    args = "%x: memref<1x8x12xf32>, %y: memref<1x8x12xf32> {dnn.output}"
    brow = (
        "%g = memref.get_global @bias : memref<2x12xf32>\n"
        "  %brow = memref.reinterpret_cast %g to offset: [12], sizes: [12], strides: [1] "
        f": memref<2x12xf32> to {BROW}"
    )
    tiled = f"""
{glob}
func.func @main({args}) {{
  %xt = memref.alloc() : {L1_TILE}
  %bt = memref.alloc() : memref<4xf32, "L1">
  %yt = memref.alloc() : {L1_TILE}
  {brow}
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  scf.for %t = %c0 to %c6 step %c1 {{
    %j = arith.divui %t, %c2 : index
    %i = arith.andi %t, %c1 : index
    %r = arith.muli %i, %c4 : index
    %c = arith.muli %j, %c4 : index
    %xs = memref.subview %x[0, %r, %c] [1, 4, 4] [1, 1, 1] : memref<1x8x12xf32> to {X_TILE}
    %t0 = dma.start %xs, %xt : {X_TILE}, {L1_TILE} -> !dma.token
    dma.wait %t0 : !dma.token
    %new_column = arith.cmpi eq, %i, %c0 : index
    scf.if %new_column {{
      %bs = memref.subview %brow[%c] [4] [1] : {BROW} to memref<4xf32, strided<[1], offset: ?>>
      %t1 = dma.start %bs, %bt : memref<4xf32, strided<[1], offset: ?>>, memref<4xf32, "L1"> -> !dma.token
      dma.wait %t1 : !dma.token
    }}
    kernel.call @xd_binary_f32(XD_ADD, %xt, %bt, %yt, 3 : i32, array<i32: 1, 4, 4>, array<i32: 16, 4, 1>, array<i32: 0, 0, 1>) : {L1_TILE}, memref<4xf32, "L1">, {L1_TILE}
    %ys = memref.subview %y[0, %r, %c] [1, 4, 4] [1, 1, 1] : memref<1x8x12xf32> to {X_TILE}
    %t2 = dma.start %yt, %ys : {L1_TILE}, {X_TILE} -> !dma.token
    dma.wait %t2 : !dma.token
  }}
  func.return
}}"""
    untiled = f"""
{glob}
func.func @main({args}) {{
  {brow}
  kernel.call @xd_binary_f32(XD_ADD, %x, %brow, %y, 3 : i32, array<i32: 1, 8, 12>, array<i32: 96, 12, 1>, array<i32: 0, 0, 1>) : memref<1x8x12xf32>, {BROW}, memref<1x8x12xf32>
  func.return
}}"""
    return Case(tiled, untiled, lambda r: [r.standard_normal((1, 8, 12)).astype(np.float32)], 144)


B_WEIGHTS = (np.arange(16 * 12, dtype=np.float32).reshape(16, 12) % 7 - 3) / 2
B_TILE = "memref<16x6xf32, strided<[12, 1], offset: ?>>"


def _matmul() -> Case:
    """y = a @ w, 4x6 output tiles (rows and columns), K = 16 whole; w is stored
    weights, whose column tiles are strided (rows of 6 out of 12). Values are small
    multiples of 1/2, so every summation order gives the same float bits."""
    w = f'kernel.weights <"{weights.save(B_WEIGHTS)}", tensor<16x12xf32>> : memref<16x12xf32>'
    args = "%a: memref<8x16xf32>, %y: memref<8x12xf32> {dnn.output}"
    tiled = f"""
func.func @main({args}) {{
  %at = memref.alloc() : memref<4x16xf32, "L1">
  %bt = memref.alloc() : memref<16x6xf32, "L1">
  %yt = memref.alloc() : memref<4x6xf32, "L1">
  %w = {w}
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  scf.for %i = %c0 to %c2 step %c1 {{
    %r = arith.muli %i, %c4 : index
    %as = memref.subview %a[%r, 0] [4, 16] [1, 1] : memref<8x16xf32> to memref<4x16xf32, strided<[16, 1], offset: ?>>
    %t0 = dma.start %as, %at : memref<4x16xf32, strided<[16, 1], offset: ?>>, memref<4x16xf32, "L1"> -> !dma.token
    dma.wait %t0 : !dma.token
    scf.for %j = %c0 to %c2 step %c1 {{
      %c = arith.muli %j, %c6 : index
      %bs = memref.subview %w[0, %c] [16, 6] [1, 1] : memref<16x12xf32> to {B_TILE}
      %t1 = dma.start %bs, %bt : {B_TILE}, memref<16x6xf32, "L1"> -> !dma.token
      dma.wait %t1 : !dma.token
      kernel.call @xd_matmul_f32(%at, %bt, %yt, 4 : i32, 16 : i32, 6 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) : memref<4x16xf32, "L1">, memref<16x6xf32, "L1">, memref<4x6xf32, "L1">
      %ys = memref.subview %y[%r, %c] [4, 6] [1, 1] : memref<8x12xf32> to memref<4x6xf32, strided<[12, 1], offset: ?>>
      %t2 = dma.start %yt, %ys : memref<4x6xf32, "L1">, memref<4x6xf32, strided<[12, 1], offset: ?>> -> !dma.token
      dma.wait %t2 : !dma.token
    }}
  }}
  func.return
}}"""
    untiled = f"""
func.func @main({args}) {{
  %w = {w}
  kernel.call @xd_matmul_f32(%a, %w, %y, 8 : i32, 16 : i32, 12 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) : memref<8x16xf32>, memref<16x12xf32>, memref<8x12xf32>
  func.return
}}"""

    def inputs(r: np.random.Generator) -> list[Array]:
        return [(r.integers(-8, 8, (8, 16)) / 2).astype(np.float32)]

    return Case(tiled, untiled, inputs, 256 + 384 + 96)


def _int_add(mlir: str, xd: str, dtype: type[np.integer[Any]]) -> Case:
    """y = a + b (wrapping) on 2x6x10 integers in 1x6x5 tiles: rank 3, a size-1 axis,
    tile rows of 5 out of 10 (strided on both sides of the DMA)."""
    full = f"memref<2x6x10x{mlir}>"
    src = f"memref<1x6x5x{mlir}, strided<[60, 10, 1], offset: ?>>"
    tile = f'memref<1x6x5x{mlir}, "L1">'
    args = f"%a: {full}, %b: {full}, %y: {full} {{dnn.output}}"
    tiled = f"""
func.func @main({args}) {{
  %at = memref.alloc() : {tile}
  %bt = memref.alloc() : {tile}
  %yt = memref.alloc() : {tile}
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c5 = arith.constant 5 : index
  %c10 = arith.constant 10 : index
  scf.for %i = %c0 to %c2 step %c1 {{
    scf.for %k = %c0 to %c10 step %c5 {{
      %as = memref.subview %a[%i, 0, %k] [1, 6, 5] [1, 1, 1] : {full} to {src}
      %t0 = dma.start %as, %at : {src}, {tile} -> !dma.token
      %bs = memref.subview %b[%i, 0, %k] [1, 6, 5] [1, 1, 1] : {full} to {src}
      %t1 = dma.start %bs, %bt : {src}, {tile} -> !dma.token
      dma.wait %t0 : !dma.token
      dma.wait %t1 : !dma.token
      kernel.call @xd_binary_int(XD_ADD, {xd}, %at, %bt, %yt, 3 : i32, array<i32: 1, 6, 5>, array<i32: 30, 5, 1>, array<i32: 30, 5, 1>) : {tile}, {tile}, {tile}
      %ys = memref.subview %y[%i, 0, %k] [1, 6, 5] [1, 1, 1] : {full} to {src}
      %t2 = dma.start %yt, %ys : {tile}, {src} -> !dma.token
      dma.wait %t2 : !dma.token
    }}
  }}
  func.return
}}"""
    untiled = f"""
func.func @main({args}) {{
  kernel.call @xd_binary_int(XD_ADD, {xd}, %a, %b, %y, 3 : i32, array<i32: 2, 6, 10>, array<i32: 60, 10, 1>, array<i32: 60, 10, 1>) : {full}, {full}, {full}
  func.return
}}"""
    info = np.iinfo(dtype)

    def inputs(r: np.random.Generator) -> list[Array]:
        return [
            r.integers(info.min, info.max, (2, 6, 10), endpoint=True, dtype=dtype) for _ in "ab"
        ]

    tile_bytes = -(-30 * np.dtype(dtype).itemsize // 16) * 16
    return Case(tiled, untiled, inputs, 3 * tile_bytes)


def _rank5() -> Case:
    """y = -x on a 2x3x4x5x6 tensor in 1x1x2x1x6 tiles: four nested loops (one with step
    2, used as the offset directly), a rank-5 DMA whose size-1 axes do not break runs."""
    full = "memref<2x3x4x5x6xf32>"
    src = "memref<1x1x2x1x6xf32, strided<[360, 120, 30, 6, 1], offset: ?>>"
    tile = 'memref<1x1x2x1x6xf32, "L1">'
    args = f"%x: {full}, %y: {full} {{dnn.output}}"
    tiled = f"""
func.func @main({args}) {{
  %xt = memref.alloc() : {tile}
  %yt = memref.alloc() : {tile}
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  scf.for %i = %c0 to %c2 step %c1 {{
    scf.for %j = %c0 to %c3 step %c1 {{
      scf.for %k = %c0 to %c4 step %c2 {{
        scf.for %l = %c0 to %c5 step %c1 {{
          %xs = memref.subview %x[%i, %j, %k, %l, 0] [1, 1, 2, 1, 6] [1, 1, 1, 1, 1] : {full} to {src}
          %t0 = dma.start %xs, %xt : {src}, {tile} -> !dma.token
          dma.wait %t0 : !dma.token
          kernel.call @xd_unary_f32(XD_NEG, %xt, %yt, 12 : i32, 0.0 : f32, 0.0 : f32) : {tile}, {tile}
          %ys = memref.subview %y[%i, %j, %k, %l, 0] [1, 1, 2, 1, 6] [1, 1, 1, 1, 1] : {full} to {src}
          %t1 = dma.start %yt, %ys : {tile}, {src} -> !dma.token
          dma.wait %t1 : !dma.token
        }}
      }}
    }}
  }}
  func.return
}}"""
    untiled = f"""
func.func @main({args}) {{
  kernel.call @xd_unary_f32(XD_NEG, %x, %y, 720 : i32, 0.0 : f32, 0.0 : f32) : {full}, {full}
  func.return
}}"""
    return Case(
        tiled, untiled, lambda r: [r.standard_normal((2, 3, 4, 5, 6)).astype(np.float32)], 96
    )


CASES: dict[str, Callable[[], Case]] = {
    "softmax_rows": _softmax_rows,
    "double_buffered": _double_buffered,
    "double_buffered_if": _double_buffered_if,
    "add_broadcast_2d": _add_broadcast,
    "matmul_rows_cols": _matmul,
    "add_i8": lambda: _int_add("i8", "XD_T_I8", np.int8),
    "add_u8": lambda: _int_add("ui8", "XD_T_U8", np.uint8),
    "add_i16": lambda: _int_add("i16", "XD_T_I16", np.int16),
    "add_i32": lambda: _int_add("i32", "XD_T_I32", np.int32),
    "neg_rank5": _rank5,
}


# ---------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", CASES)
def test_interpreter_matches_untiled(name: str) -> None:
    case = CASES[name]()
    inputs = case.inputs(np.random.default_rng(0))
    (want,) = run_buffers(parse_ir(case.untiled), inputs)
    (tiled,) = run_buffers(parse_ir(case.tiled), inputs)
    assert_same_bits(tiled, want, "tiled")
    (planned_tiled,) = run_buffers(planned(case.tiled), inputs)
    assert_same_bits(planned_tiled, want, "tiled, after plan-memory")


@pytest.mark.parametrize("name", CASES)
def test_c_matches_untiled(name: str, tmp_path: Path) -> None:
    case = CASES[name]()
    inputs = case.inputs(np.random.default_rng(1))
    (want,) = run_c(case.untiled, inputs, tmp_path / "untiled")
    (got,) = run_c(case.tiled, inputs, tmp_path / "tiled")
    assert_same_bits(got, want, "tiled C vs untiled C")
    (interpreted,) = run_buffers(parse_ir(case.tiled), inputs)
    if case.exact_kernels:
        assert_same_bits(got, interpreted, "C vs interpreter")
    else:
        np.testing.assert_allclose(got, interpreted, rtol=1e-5, atol=1e-7)


def _first_wait(text: str) -> tuple[list[str], int]:
    lines = text.splitlines()
    return lines, next(k for k, line in enumerate(lines) if "dma.wait" in line)


def _without_first_wait(text: str) -> str:
    lines, k = _first_wait(text)
    return "\n".join(lines[:k] + lines[k + 1 :])


def _first_wait_after_compute(text: str) -> str:
    """The first wait moved after the next kernel call: the call reads a tile in flight."""
    lines, k = _first_wait(text)
    call = next(c for c in range(k, len(lines)) if "kernel.call" in lines[c])
    return "\n".join(lines[:k] + lines[k + 1 : call + 1] + [lines[k]] + lines[call + 1 :])


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("break_it", [_without_first_wait, _first_wait_after_compute])
def test_early_read_is_an_error(name: str, break_it: Callable[[str], str]) -> None:
    case = CASES[name]()
    inputs = case.inputs(np.random.default_rng(2))
    with pytest.raises(DeeployError, match=r"uses the destination of dma\.start #\d+ before"):
        run_buffers(parse_ir(break_it(case.tiled)), inputs)


def test_forgotten_output_wait_is_an_error() -> None:
    case = _softmax_rows()
    text = case.tiled.replace("    dma.wait %t1 : !dma.token\n", "")
    with pytest.raises(DeeployError, match=r"@xd_softmax_f32 writes the source of dma\.start #2"):
        run_buffers(parse_ir(text), case.inputs(np.random.default_rng(0)))
    # Dropped in the last iteration only (a peeled epilogue), the end of the run reports it.
    case = _double_buffered()
    text = case.tiled.replace("  dma.wait %out3 : !dma.token\n", "")
    with pytest.raises(DeeployError, match=r"never waited for: dma\.start #8$"):
        run_buffers(parse_ir(text), case.inputs(np.random.default_rng(0)))


def _attr_size(module: ModuleOp, attr: str) -> int:
    (fn,) = [op for op in module.ops if op.name == "func.func"]
    arena = fn.attributes[attr]
    assert isinstance(arena, DictionaryAttr)
    size = arena.data["size"]
    assert isinstance(size, IntegerAttr)
    return size.value.data


@pytest.mark.parametrize("name", CASES)
def test_plan_memory_l1_arena(name: str) -> None:
    case = CASES[name]()
    module = planned(case.tiled)
    assert _attr_size(module, L1_ARENA_ATTR) == case.l1_bytes
    assert not any(isinstance(op, memref.AllocOp) for op in module.walk())
    l1_views = [
        op
        for op in module.walk()
        if isinstance(op, memref.ViewOp)
        and isinstance(op.result.type, MemRefType)
        and is_l1(op.result.type)
    ]
    assert l1_views and all(
        isinstance(v.source.owner, memref.GetGlobalOp)
        and v.source.owner.name_.root_reference.data == "main_l1_arena"
        for v in l1_views
    )


def test_alloc_inside_a_loop_is_an_error() -> None:
    text = _softmax_rows().tiled.replace(
        "    %row = arith.muli",
        '    %scratch = memref.alloc() {dnn.node = "tile_scratch"} : memref<4xf32, "L1">\n'
        "    %row = arith.muli",
    )
    with pytest.raises(DeeployError, match=r"^node 'tile_scratch': memref.alloc inside scf.for"):
        planned(text)


def test_c_output_is_deterministic() -> None:
    def emit() -> str:
        out = io.StringIO()
        CEmitter(out).emit_module(planned(_double_buffered().tiled))
        return out.getvalue()

    first = emit()
    assert first == emit()
    assert re.search(r"XD_L1_SECTION static uint64_t main_l1_arena\[192\];", first)
