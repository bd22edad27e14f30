"""`dnn-map-engines`: which engine computes each op — the cluster (kernel calls split
across its cores) or the NPU (one job).

The NPU takes an integer matrix product by constant int8 weights followed by the
requantization of its accumulators into 8 bits (Deeploy's RQMatMul/RQGemm shape):

    %acc = dnn.matmul %x, %w      (x 8-bit [..., K], its rows; w a constant int8 K x N)
    %y = dnn.requant_shift %acc, %mul, %add {div = 2^s, n_levels = 256}

when the engine can compute it bit for bit: mul constant and within 0..255 (its scale is
unsigned 8-bit), add constant with the rounding 2^(s-1) folded in still an int32, both
per tensor or per output column, s in 0..31, and the clamp the 8-bit type's own. Both
ops then carry `dnn.engine = "npu"` (lowered together into one `npu.matmul` job); every
other op stays on the cluster. Option `engines`: `cluster` (nothing moves) or `npu`
(everything the NPU can take).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, StringAttr, TensorType
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError

ENGINE_ATTR = "dnn.engine"
ENGINES = ("cluster", "npu")


def engine_of(op: object) -> str:
    """The engine an op was mapped to (the cluster unless marked)."""
    attrs = getattr(op, "attributes", {})
    attr = attrs.get(ENGINE_ATTR)
    return attr.data if isinstance(attr, StringAttr) else "cluster"


def _constant(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    return dnn.constant_value(owner.value) if isinstance(owner, dnn.ConstantOp) else None


def _elem(value: SSAValue) -> np.dtype | None:
    ty = value.type
    if not isinstance(ty, TensorType):
        return None
    elem = ty.element_type  # pyright: ignore[reportUnknownMemberType]
    return numpy_dtype(elem) if isinstance(elem, IntegerType) else None


def _per_column(value: np.ndarray, n: int) -> np.ndarray | None:
    """`value` as one entry per output column (n), if it is per tensor or per column."""
    if value.size == 1:
        return np.full(n, value.reshape(-1)[0], dtype=np.int64)
    if value.shape[-1] == n and value.size == n:
        return value.reshape(n).astype(np.int64)
    return None


@dataclass(frozen=True)
class NpuMatmul:
    """A requant_shift(matmul) pair the NPU computes, with its job's constants."""

    matmul: dnn.MatmulOp
    requant: dnn.RequantShiftOp
    weights: np.ndarray
    """int8, K x N."""
    scale: np.ndarray
    """uint8, N."""
    bias: np.ndarray
    """int32, N: the requant's add with its rounding term."""
    shift: int


def npu_matmul(requant: dnn.RequantShiftOp) -> NpuMatmul | None:
    """The NPU job `requant` and the matmul it reads make, if the engine can do it."""
    matmul = requant.input.owner
    if not isinstance(matmul, dnn.MatmulOp) or len(list(matmul.result.uses)) != 1:
        return None
    x, w = _elem(matmul.lhs), _constant(matmul.rhs)
    if x is None or x.itemsize != 1 or w is None or w.ndim != 2 or w.dtype != np.int8:
        return None
    n = w.shape[1]
    mul, add = _constant(requant.mul), _constant(requant.add)
    if mul is None or add is None:
        return None
    scale, bias = _per_column(mul, n), _per_column(add, n)
    div = requant.div.value.data
    shift = div.bit_length() - 1
    out = _elem(requant.result)
    if scale is None or bias is None or not 0 <= shift <= 31 or out is None:
        return None
    if requant.n_levels.value.data != 256 or out.itemsize != 1:
        return None
    if (requant.signed is not None) != (out.kind == "i"):
        return None
    bias = bias + ((1 << (shift - 1)) if shift else 0)
    if scale.min() < 0 or scale.max() > 255 or bias.min() < -(2**31) or bias.max() >= 2**31:
        return None
    return NpuMatmul(matmul, requant, w, scale.astype(np.uint8), bias.astype(np.int32), shift)


@dataclass(frozen=True)
class DnnMapEngines(ModulePass):
    """Option `engines`: cluster (the default: nothing moves) or npu."""

    name = "dnn-map-engines"

    engines: str = "cluster"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.engines not in ENGINES:
            raise DeeployError(
                f"dnn-map-engines: engines={self.engines!r}; use one of {', '.join(ENGINES)}"
            )
        if self.engines == "cluster":
            return
        for requant in [o for o in op.walk() if isinstance(o, dnn.RequantShiftOp)]:
            job = npu_matmul(requant)
            if job is not None:
                for mapped in (job.matmul, job.requant):
                    mapped.attributes[ENGINE_ATTR] = StringAttr("npu")
