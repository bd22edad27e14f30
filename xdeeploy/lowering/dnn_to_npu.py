"""Ops mapped to the NPU (`dnn-map-engines`) as its jobs, in `convert-dnn-to-kernel`:
a matmul (with the requant_shift reading it) as `npu.matmul` jobs, one per batch; a
gemm as one job and the cluster's addition of C; a convolution (with its requant_shift)
as one `npu.conv2d` between transposes into and out of HWC, or as an im2col gather and
one `npu.matmul`. For all:

* constant weights packed at compile time into the engine's layout ([N', K'] for a
  matmul, zero-padded), stored like any weights and read from the engine's memory
  (memory space "NPU"); weights computed at run time moved there by `npu.load_weights`
  before each job, into one buffer of that memory the jobs reuse;
* the scale (uint8) and bias (int32, the requantization's rounding folded in) as small
  constants, one per output column;
* activations and results seen as rows x features.

A fused requantization's int32 accumulators never exist in memory. Where `dnn-tile`
chose tiles for a job (the engine streams from L1), its rows go through L1 by DMA in
those tiles, or, for a convolution in the engine's own modes, its whole input and
output, the DMA transfers doing the transposes.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import numpy as np
from xdsl.dialects import memref
from xdsl.dialects.builtin import (
    IntegerType,
    MemRefType,
    StridedLayoutAttr,
    StringAttr,
    TensorType,
    i8,
)
from xdsl.ir import Attribute, Operation, SSAValue

from xdeeploy import weights
from xdeeploy.dialects import dma, dnn, kernel, npu
from xdeeploy.interp import npu as npu_model
from xdeeploy.lowering.buffers import BufferBuilder, broadcast_strides, elem_size, shape_of
from xdeeploy.lowering.dnn_kernels import binary_int
from xdeeploy.lowering.tile_loops import L1, lower_tiled
from xdeeploy.passes.dnn_map_engines import NpuConv, NpuMatmul, Requant
from xdeeploy.passes.dnn_tile import TileChoice
from xdeeploy.passes.tiling_rules import npu_rows

Buffers = Callable[[SSAValue], SSAValue]
"""The buffer of a tensor value."""


def lower_npu_matmul(b: BufferBuilder, job: NpuMatmul, buffer: Buffers, out: SSAValue,
                     choice: TileChoice | None = None) -> None:  # fmt: skip
    """The jobs reading the activation (and B, when computed at run time) and writing
    `out`: the requantization's result when fused, else the int32 product (plus a
    gemm's C). With `choice`, each job's rows go through L1 in those tiles."""
    a = buffer(job.activation)
    k, n = job.k_n
    rows, batch = job.rows, list(job.batch)
    a_steps = [s * rows * k for s in broadcast_strides(shape_of(a)[:-2], batch)]
    weights_of = _constant_weights(b, job) if job.weights is not None else _loaded_weights(
        b, buffer(job.source), k, n, batch)  # type: ignore[arg-type]  # fmt: skip
    for job_index, index in enumerate(product(*(range(d) for d in batch))):
        w = weights_of(index)
        requant = _job_requant(b, job.requant, job_index)
        shift = job.requant.shift if job.requant is not None else 0
        a_at = sum(i * s for i, s in zip(index, a_steps, strict=True))
        x = _rows(b, a, [rows, k], a_at)
        y = _rows(b, out, [rows, n], job_index * rows * n)
        if choice is not None:
            _tiled_job(b, job.op, x, w, y, requant, shift, choice)
        else:
            b.insert(npu.MatmulOp(x, w, y, requant, shift))
    if job.addend is not None:
        binary_int(b, "XD_ADD", out, buffer(job.addend), out)


def _constant_weights(b: BufferBuilder, job: NpuMatmul) -> Callable[[tuple[int, ...]], SSAValue]:
    """The packed weights of each batch index (a broadcast B packed once)."""
    assert job.weights is not None
    w = job.weights
    stored: dict[tuple[int, ...], SSAValue] = {}

    def weights_of(index: tuple[int, ...]) -> SSAValue:
        key = _broadcast_index(index, w.shape[:-2])
        if key not in stored:
            stored[key] = _stored(b, npu_model.pack_weights("matmul", w[key]))
        return stored[key]

    return weights_of


def _loaded_weights(b: BufferBuilder, source: SSAValue, k: int, n: int,
                    batch: list[int]) -> Callable[[tuple[int, ...]], SSAValue]:  # fmt: skip
    """Loads B's matrix of each batch index into one buffer of the engine's memory."""
    padded = [npu.round_up(n, npu.COUT_SUBTILE), npu.round_up(k, npu.CIN_SUBTILE["pointwise"])]
    loaded = b.alloc(_npu_weights(padded))
    loaded.name_hint = "npu_loaded_weights"
    steps = [s * k * n for s in broadcast_strides(shape_of(source)[:-2], batch)]

    def weights_of(index: tuple[int, ...]) -> SSAValue:
        at = sum(i * s for i, s in zip(index, steps, strict=True))
        b.insert(npu.LoadWeightsOp(_rows(b, source, [k, n], at), loaded))
        return loaded

    return weights_of


def _tiled_job(b: BufferBuilder, op: Operation, x: SSAValue, w: SSAValue, y: SSAValue,
               requant: tuple[SSAValue, SSAValue] | None, shift: int,
               choice: TileChoice) -> None:  # fmt: skip
    """`npu.matmul` of rows x (in L2) into y, over the row tiles of `choice`, each staged
    in L1 by DMA (the engine streams its activations from L1)."""
    rows, k = shape_of(x)
    n = shape_of(y)[1]
    y_bytes = 1 if requant is not None else 4

    def job_on(tb: BufferBuilder, _: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
        tb.insert(npu.MatmulOp(ins[0], w, outs[0], requant, shift))

    lower_tiled(b, op, [x], [y], job_on, npu_rows(rows, k, n, y_bytes), choice)


def _broadcast_index(index: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The element of an array of `shape` that broadcasting reads at batch `index`."""
    tail = index[len(index) - len(shape) :] if shape else ()
    return tuple(i if d > 1 else 0 for i, d in zip(tail, shape, strict=True))


def lower_npu_conv(b: BufferBuilder, job: NpuConv, x: SSAValue, out: SSAValue,
                   choice: TileChoice | None = None) -> None:  # fmt: skip
    """The job reading buffer `x` (NCHW, N = 1) and writing `out` (NCHW: the conv's
    result, or the requantization's when fused). The engine streams height x width x
    channels: the input is transposed into an HWC buffer (or gathered into im2col
    patches, pixels x taps, whose rows go through L1 in the tiles of `choice`) and the
    output back from one; with `choice` (one tile), the HWC buffers are in L1 and the
    transposes DMA transfers."""
    _, cin, h, wd = shape_of(x)
    _, cout, oh, ow = shape_of(out)
    requant = _job_requant(b, job.requant, 0)
    shift = job.requant.shift if job.requant is not None else 0
    if job.kind == "im2col":
        _, cin_g, kh, kw = job.weights.shape
        patches = b.alloc(MemRefType(_elem(x), [oh * ow, cin_g * kh * kw]))
        patches.name_hint = "patches"
        b.call("xd_im2col", x, patches, elem_size(x), cin, h, wd, kh, kw, *job.strides,
               *job.dilations, job.pads[0], job.pads[1], oh, ow)  # fmt: skip
        w = _stored(b, npu_model.pack_weights("matmul", job.weights.reshape(cout, -1).T))
        y_hwc = b.alloc(MemRefType(_elem(out), [oh * ow, cout]))
        if choice is not None:
            _tiled_job(b, job.conv, patches, w, y_hwc, requant, shift, choice)
        else:
            b.insert(npu.MatmulOp(patches, w, y_hwc, requant, shift))
    elif choice is not None:
        _staged_conv(b, job, x, out, requant, shift)
        return
    else:
        x_hwc = b.alloc(MemRefType(_elem(x), [h, wd, cin]))
        b.call("xd_strided_copy", x, x_hwc, elem_size(x), 3, kernel.i32_array([h, wd, cin]),
               kernel.i32_array([wd, 1, h * wd]))  # fmt: skip
        y_hwc = b.alloc(MemRefType(_elem(out), [oh, ow, cout]))
        w = _stored(b, npu_model.pack_weights(job.kind, job.weights))
        b.insert(npu.Conv2dOp(job.kind, x_hwc, w, y_hwc, requant, job.stride, job.pads, shift))
    b.call("xd_strided_copy", y_hwc, out, elem_size(out), 3, kernel.i32_array([cout, oh, ow]),
           kernel.i32_array([1, ow * cout, cout]))  # fmt: skip


def _staged_conv(b: BufferBuilder, job: NpuConv, x: SSAValue, out: SSAValue,
                 requant: tuple[SSAValue, SSAValue] | None, shift: int) -> None:  # fmt: skip
    """The job on HWC buffers in L1, filled and emptied by DMA transfers that transpose
    (a DMA moves any strided view): x seen as height x width x channels, the result
    written back through the same view of `out`."""
    _, cin, h, wd = shape_of(x)
    _, cout, oh, ow = shape_of(out)
    x_hwc = b.alloc(MemRefType(_elem(x), [h, wd, cin], memory_space=L1))
    y_hwc = b.alloc(MemRefType(_elem(out), [oh, ow, cout], memory_space=L1))
    w = _stored(b, npu_model.pack_weights(job.kind, job.weights))
    b.insert(dma.WaitOp(b.insert(dma.StartOp(_hwc_view(b, x), x_hwc))))
    b.insert(npu.Conv2dOp(job.kind, x_hwc, w, y_hwc, requant, job.stride, job.pads, shift))
    b.insert(dma.WaitOp(b.insert(dma.StartOp(y_hwc, _hwc_view(b, out)))))


def _hwc_view(b: BufferBuilder, nchw: SSAValue) -> SSAValue:
    """An NCHW buffer (N = 1) seen as height x width x channels (an alias, strided)."""
    _, c, h, wd = shape_of(nchw)
    strides = [wd, 1, h * wd]
    ty = MemRefType(_elem(nchw), [h, wd, c], StridedLayoutAttr(strides, 0))
    cast = memref.ReinterpretCastOp(nchw, [], [], [], [0], [h, wd, c], strides, ty)
    return b.insert(cast).results[0]


def _job_requant(b: BufferBuilder, requant: Requant | None,
                 job: int) -> tuple[SSAValue, SSAValue] | None:  # fmt: skip
    if requant is None:
        return None
    return (b.constant(requant.scale[job], "npu_scale"),
            b.constant(requant.bias[job], "npu_bias"))  # fmt: skip


def _rows(b: BufferBuilder, buf: SSAValue, shape: list[int], offset: int) -> SSAValue:
    """`buf` seen as the dense `shape` from element `offset` (itself if it is that)."""
    if offset == 0 and list(shape_of(buf)) == shape:
        return buf
    return b.view(buf, shape, offset)


def _elem(value: SSAValue) -> Attribute:
    ty = value.type
    assert isinstance(ty, MemRefType)
    return ty.element_type


def _npu_weights(shape: list[int]) -> MemRefType:
    return MemRefType(IntegerType(8), shape, memory_space=StringAttr(npu.WEIGHT_SPACE))


def _stored(b: BufferBuilder, packed: np.ndarray) -> SSAValue:
    """Packed weights, stored like any weights, read from the engine's memory."""
    stored = dnn.WeightsAttr(weights.save(packed), TensorType(i8, packed.shape))
    w = b.insert(kernel.WeightsOp(stored, _npu_weights(list(packed.shape))))
    w.results[0].name_hint = "npu_weights"
    return w.results[0]
