"""Ops mapped to the NPU (`dnn-map-engines`) as its jobs, in `convert-dnn-to-kernel`:
a requant_shift(matmul) pair as one `npu.matmul`, a conv (with the requant_shift of
its result) as one `npu.conv2d` between transposes into and out of HWC. For both:

* the weights packed at compile time into the engine's layout ([N', K'], zero-padded),
  stored like any weights and read from the engine's memory (memory space "NPU");
* the scale (uint8) and bias (int32, the requantization's rounding folded in) as small
  constants, one per output column;
* the activation and the result seen as rows x features.

The matmul's int32 accumulators never exist in memory: the engine requantizes them.
"""

from __future__ import annotations

from math import prod

import numpy as np
from xdsl.dialects.builtin import IntegerType, MemRefType, StringAttr, TensorType, i8
from xdsl.ir import Attribute, SSAValue

from xdeeploy import weights
from xdeeploy.dialects import dnn, kernel, npu
from xdeeploy.interp import npu as npu_model
from xdeeploy.lowering.buffers import BufferBuilder, elem_size, shape_of
from xdeeploy.passes.dnn_map_engines import NpuConv, NpuMatmul, NpuProduct


def lower_npu_matmul(b: BufferBuilder, job: NpuMatmul, x: SSAValue, out: SSAValue) -> None:
    """The job reading buffer `x` (the matmul's activation) and writing `out` (the
    requantization's result)."""
    scale = b.constant(job.scale, "npu_scale")
    bias = b.constant(job.bias, "npu_bias")
    _matmul_job(b, job.weights, x, out, (scale, bias), job.shift)


def lower_npu_product(b: BufferBuilder, job: NpuProduct, x: SSAValue, out: SSAValue) -> None:
    """The job reading the 8-bit activation `x` and writing the int32 accumulators
    `out`."""
    _matmul_job(b, job.weights, x, out, None, 0)


def _matmul_job(b: BufferBuilder, weights: np.ndarray, x: SSAValue, out: SSAValue,
                requant: tuple[SSAValue, SSAValue] | None, shift: int) -> None:  # fmt: skip
    """`npu.matmul` of `x` and `out` seen as rows x features, by the packed weights."""
    k, n = weights.shape
    rows = prod(shape_of(x)[:-1])
    w = _stored(b, npu_model.pack_weights("matmul", weights))
    x_rows = b.view(x, [rows, k]) if list(shape_of(x)) != [rows, k] else x
    out_rows = b.view(out, [rows, n]) if list(shape_of(out)) != [rows, n] else out
    b.insert(npu.MatmulOp(x_rows, w, out_rows, requant, shift))


def lower_npu_conv(b: BufferBuilder, job: NpuConv, x: SSAValue, out: SSAValue) -> None:
    """The job reading buffer `x` (NCHW, N = 1) and writing `out` (NCHW: the conv's
    result, or the requantization's when fused). The engine streams height x width x
    channels: the input is transposed into an HWC buffer and the output back from one."""
    _, cin, h, wd = shape_of(x)
    _, cout, oh, ow = shape_of(out)
    x_hwc = b.alloc(MemRefType(_elem(x), [h, wd, cin]))
    b.call("xd_strided_copy", x, x_hwc, elem_size(x), 3, kernel.i32_array([h, wd, cin]),
           kernel.i32_array([wd, 1, h * wd]))  # fmt: skip
    y_hwc = b.alloc(MemRefType(_elem(out), [oh, ow, cout]))
    w = _stored(b, npu_model.pack_weights(job.kind, job.weights))
    requant = None
    if job.requant is not None:
        requant = (b.constant(job.requant.scale, "npu_scale"),
                   b.constant(job.requant.bias, "npu_bias"))  # fmt: skip
    shift = job.requant.shift if job.requant is not None else 0
    b.insert(npu.Conv2dOp(job.kind, x_hwc, w, y_hwc, requant, job.stride, job.pads, shift))
    b.call("xd_strided_copy", y_hwc, out, elem_size(out), 3, kernel.i32_array([cout, oh, ow]),
           kernel.i32_array([1, ow * cout, cout]))  # fmt: skip


def _elem(value: SSAValue) -> Attribute:
    ty = value.type
    assert isinstance(ty, MemRefType)
    return ty.element_type


def _stored(b: BufferBuilder, packed: np.ndarray) -> SSAValue:
    """Packed weights, stored like any weights, read from the engine's memory."""
    stored = dnn.WeightsAttr(weights.save(packed), TensorType(i8, packed.shape))
    space = StringAttr(npu.WEIGHT_SPACE)
    w = b.insert(kernel.WeightsOp(stored, MemRefType(IntegerType(8), packed.shape,
                                                     memory_space=space)))  # fmt: skip
    w.results[0].name_hint = "npu_weights"
    return w.results[0]
