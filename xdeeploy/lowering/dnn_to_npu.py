"""A requant_shift(matmul) pair mapped to the NPU (`dnn-map-engines`) as one
`npu.matmul` job, in `convert-dnn-to-kernel`:

* the weights packed at compile time into the engine's layout ([N', K'], zero-padded),
  stored like any weights and read from the engine's memory (memory space "NPU");
* the scale (uint8) and bias (int32, the requantization's rounding folded in) as small
  constants, one per output column;
* the activation and the result seen as rows x features.

The matmul's int32 accumulators never exist in memory: the engine requantizes them.
"""

from __future__ import annotations

from math import prod

from xdsl.dialects.builtin import IntegerType, MemRefType, StringAttr, TensorType, i8
from xdsl.ir import SSAValue

from xdeeploy import weights
from xdeeploy.dialects import dnn, kernel, npu
from xdeeploy.interp import npu as npu_model
from xdeeploy.lowering.buffers import BufferBuilder, shape_of
from xdeeploy.passes.dnn_map_engines import NpuMatmul


def lower_npu_matmul(b: BufferBuilder, job: NpuMatmul, x: SSAValue, out: SSAValue) -> None:
    """The job reading buffer `x` (the matmul's activation) and writing `out` (the
    requantization's result)."""
    x_shape, out_shape = shape_of(x), shape_of(out)
    k, n = job.weights.shape
    rows = prod(x_shape[:-1])
    packed = npu_model.pack_weights("matmul", job.weights)
    stored = dnn.WeightsAttr(weights.save(packed), TensorType(i8, packed.shape))
    w = b.insert(kernel.WeightsOp(stored, MemRefType(IntegerType(8), packed.shape,
                                                     memory_space=StringAttr(npu.WEIGHT_SPACE))))  # fmt: skip
    w.results[0].name_hint = "npu_weights"
    scale = b.constant(job.scale, "npu_scale")
    bias = b.constant(job.bias, "npu_bias")
    x_rows = b.view(x, [rows, k]) if list(x_shape) != [rows, k] else x
    out_rows = b.view(out, [rows, n]) if list(out_shape) != [rows, n] else out
    b.insert(npu.MatmulOp(x_rows, w.results[0], out_rows, (scale, bias), job.shift))
