"""`dnn-map-engines`: which engine computes each op — the cluster (kernel calls split
across its cores) or the NPU (one job).

The NPU takes 8-bit convolutions (3x3 dense or depthwise, 1x1; N = 1, constant int8
weights, strides 1 or 2, padding up to 1), with the requantization that reads them
fused when it can, and an integer matrix product by constant int8 weights followed by
the requantization of its accumulators into 8 bits (Deeploy's RQMatMul/RQGemm shape):

    %acc = dnn.matmul %x, %w      (x 8-bit [..., K], its rows; w a constant int8 K x N)
    %y = dnn.requant_shift %acc, %mul, %add {div = 2^s, n_levels = 256}

and, without a requantization to fuse, such a matmul into its int32 accumulators
(reading x through the int32 widening `dnn-lower-qdq` puts before it); with the
requantization:
    %y = dnn.requant_shift %acc, %mul, %add {div = 2^s, n_levels = 256}

when the engine can compute it bit for bit: mul constant and within 0..255 (its scale is
unsigned 8-bit), add constant with the rounding 2^(s-1) folded in still an int32, both
per tensor or per output column, s in 0..31, and the clamp the 8-bit type's own. Both
ops then carry `dnn.engine = "npu"` (lowered together into one `npu.matmul` job); every
other op stays on the cluster. Option `engines`: `cluster` (nothing moves), `npu`
(everything the NPU can take) or `auto`: each job where the platform's cost model
(option `platform`, its `[cost]` table) puts it faster — the cluster's cores on the
multiply-accumulates and the requantization, against the NPU's job (and, for a
convolution, the transposes into and out of HWC). The weights stay in the engine's
memory across inferences: jobs are mapped while their packed weights fit the
platform's `[npu] weight_memory`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.dialects.npu import CIN_SUBTILE, COUT_SUBTILE, round_up
from xdeeploy.errors import DeeployError
from xdeeploy.passes.dnn_lower_qdq import constant_of

if TYPE_CHECKING:  # the cost model reads lowered modules: imported where auto needs it
    from xdeeploy.platforms.cost_model import CostModel

ENGINE_ATTR = "dnn.engine"
ENGINES = ("cluster", "npu", "auto")


def engine_of(op: object) -> str:
    """The engine an op was mapped to (the cluster unless marked)."""
    attrs = getattr(op, "attributes", {})
    attr = attrs.get(ENGINE_ATTR)
    return attr.data if isinstance(attr, StringAttr) else "cluster"


def _elem(value: SSAValue) -> np.dtype | None:
    ty = value.type
    if not isinstance(ty, TensorType):
        return None
    elem = ty.element_type  # pyright: ignore[reportUnknownMemberType]
    return numpy_dtype(elem) if isinstance(elem, IntegerType) else None


def _per_channel(value: np.ndarray, n: int, axis: int) -> np.ndarray | None:
    """`value` as one entry per output channel (n of them, on `axis` from the end of the
    output's shape), if it is per tensor or per channel."""
    if value.size == 1:
        return np.full(n, value.reshape(-1)[0], dtype=np.int64)
    if value.size == n and value.ndim >= -axis and value.shape[axis] == n:
        return value.reshape(n).astype(np.int64)
    return None


@dataclass(frozen=True)
class Requant:
    """A requant_shift as the engine's normalisation: scale (uint8) and bias (int32,
    the rounding folded in) per output channel, and the shift."""

    op: dnn.RequantShiftOp
    scale: np.ndarray
    bias: np.ndarray
    shift: int


def _requant(requant: dnn.RequantShiftOp, n: int, axis: int) -> Requant | None:
    """`requant` as the engine computes it, if it can: constants per tensor or per
    channel, scale within 8 bits unsigned, bias within int32, an 8-bit output."""
    mul, add = constant_of(requant.mul), constant_of(requant.add)
    if mul is None or add is None:
        return None
    scale, bias = _per_channel(mul, n, axis), _per_channel(add, n, axis)
    shift = requant.div.value.data.bit_length() - 1
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
    return Requant(requant, scale.astype(np.uint8), bias.astype(np.int32), shift)


def only_user(value: SSAValue) -> Operation | None:
    """The one op using `value`, if there is exactly one use."""
    uses = list(value.uses)
    return uses[0].operation if len(uses) == 1 else None


@dataclass(frozen=True)
class NpuConv:
    """A convolution (and the requant_shift of its result) the NPU computes."""

    conv: dnn.ConvOp
    requant: Requant | None
    kind: str
    weights: np.ndarray
    """int8, ONNX layout [Cout, Cin/group, kh, kw]."""
    stride: int
    pads: list[int]
    """[top, left, bottom, right]"""


def npu_conv(conv: dnn.ConvOp) -> NpuConv | None:
    """`conv` (with the requant_shift reading it, when the engine can fuse it) as one
    job: N = 1, 8-bit input, constant int8 weights, no bias; 3x3 dense or depthwise or
    1x1 pointwise; equal strides 1 or 2, no dilation, padding at most 1 (3x3)."""
    x, w = _elem(conv.input), constant_of(conv.weight)
    if x is None or x.itemsize != 1 or w is None or w.ndim != 4 or w.dtype != np.int8:
        return None
    shape = conv.input.type.get_shape()  # type: ignore[union-attr]
    if len(shape) != 4 or shape[0] != 1 or conv.bias is not None:
        return None
    cout, cin_g, kh, kw = w.shape
    group = conv.group.value.data
    strides, pads = list(conv.strides.get_values()), list(conv.pads.get_values())  # type: ignore[union-attr]
    dilations = list(conv.dilations.get_values())  # type: ignore[union-attr]
    if (kh, kw) == (1, 1) and group == 1:
        kind, most = "pointwise", 0
    elif (kh, kw) == (3, 3) and group == 1:
        kind, most = "dense3x3", 1
    elif (kh, kw) == (3, 3) and group == shape[1] == cout and cin_g == 1:
        kind, most = "depthwise3x3", 1
    else:
        return None
    if strides[0] != strides[1] or strides[0] not in (1, 2) or dilations != [1, 1]:
        return None
    if max(pads) > most:
        return None
    user = only_user(conv.result)
    requant = _requant(user, cout, -3) if isinstance(user, dnn.RequantShiftOp) else None
    order = [int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])]
    return NpuConv(conv, requant, kind, w, int(strides[0]), order)


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


@dataclass(frozen=True)
class NpuProduct:
    """A matmul by constant int8 weights the NPU computes into int32 accumulators (no
    requantization follows that it could fuse), reading an 8-bit activation — directly,
    or the one a `dnn.cast` widens to int32 for it (the QDQ lowering's form)."""

    matmul: dnn.MatmulOp
    activation: SSAValue
    widening: dnn.CastOp | None
    weights: np.ndarray


def npu_product(matmul: dnn.MatmulOp) -> NpuProduct | None:
    w = constant_of(matmul.rhs)
    out = _elem(matmul.result)
    if w is None or w.ndim != 2 or w.dtype != np.int8 or out is None or out != np.int32:
        return None
    x, widening = matmul.lhs, None
    cast = x.owner
    if isinstance(cast, dnn.CastOp) and len(list(x.uses)) == 1:
        source = _elem(cast.input)
        if source is not None and source.itemsize == 1 and _elem(x) == np.int32:
            x, widening = cast.input, cast
    elem = _elem(x)
    if elem is None or elem.itemsize != 1:
        return None
    return NpuProduct(matmul, x, widening, w)


def npu_matmul(requant: dnn.RequantShiftOp) -> NpuMatmul | None:
    """The NPU job `requant` and the matmul it reads make, if the engine can do it."""
    matmul = requant.input.owner
    if not isinstance(matmul, dnn.MatmulOp) or len(list(matmul.result.uses)) != 1:
        return None
    x, w = _elem(matmul.lhs), constant_of(matmul.rhs)
    if x is None or x.itemsize != 1 or w is None or w.ndim != 2 or w.dtype != np.int8:
        return None
    norm = _requant(requant, w.shape[1], -1)
    if norm is None:
        return None
    return NpuMatmul(matmul, requant, w, norm.scale, norm.bias, norm.shift)


@dataclass(frozen=True)
class JobCost:
    """What the cost model compares for one job."""

    macs: int
    outputs: int
    """Elements the requantization (or the job) writes."""
    weight_bytes: int
    """Packed weights the job keeps in the NPU's memory."""
    transposed: int
    """Elements transposed into and out of HWC (convolutions)."""


def _matmul_cost(job: NpuMatmul | NpuProduct, requantized: bool) -> JobCost:
    k, n = job.weights.shape
    rows = prod(job.matmul.lhs.type.get_shape()[:-1])  # type: ignore[union-attr]
    packed = round_up(n, COUT_SUBTILE) * round_up(k, CIN_SUBTILE["pointwise"])
    return JobCost(rows * k * n, rows * n if requantized else 0, packed, 0)


def matmul_cost(job: NpuMatmul) -> JobCost:
    return _matmul_cost(job, True)


def product_cost(job: NpuProduct) -> JobCost:
    return _matmul_cost(job, False)


def conv_cost(job: NpuConv) -> JobCost:
    from xdeeploy.interp.npu import pack_weights

    out = job.conv.result.type.get_shape()  # type: ignore[union-attr]
    cout, cin_g, kh, kw = job.weights.shape
    outputs = prod(out)
    inputs = prod(job.conv.input.type.get_shape())  # type: ignore[union-attr]
    return JobCost(outputs * cin_g * kh * kw, outputs,
                   pack_weights(job.kind, job.weights).size, inputs + outputs)  # fmt: skip


def npu_is_faster(cost: JobCost, model: CostModel, cores: int) -> bool:
    """The platform's cost model: the NPU's job against the cluster's kernel calls."""
    m = model.__getitem__
    cluster = (2 * (m("call_cycles") + m("fork_cycles"))
               + cost.macs / (cores * m("int8_macs_per_cycle") * m("mac_efficiency"))
               + cost.outputs * m("element_cycles") / cores)  # fmt: skip
    # The weights stay in the engine's memory across inferences (all on chip): no
    # transfer per job, but they must fit it (`DnnMapEngines` keeps the count).
    npu = (m("npu_job_cycles") + cost.macs / m("npu_macs_per_cycle")
           + (2 * m("call_cycles") + cost.transposed * m("element_cycles") if cost.transposed
              else 0))  # fmt: skip
    return npu < cluster


@dataclass(frozen=True)
class DnnMapEngines(ModulePass):
    """Option `engines`: cluster (the default: nothing moves), npu, or auto (by the cost
    model of option `platform`, on its cores)."""

    name = "dnn-map-engines"

    engines: str = "cluster"
    platform: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.engines not in ENGINES:
            raise DeeployError(
                f"dnn-map-engines: engines={self.engines!r}; use one of {', '.join(ENGINES)}"
            )
        if self.engines == "cluster":
            return
        chooser = self._chooser()
        room = [self._weight_memory()]

        def wanted(cost: JobCost) -> bool:
            """The chooser's verdict, while the engine's weight memory has room."""
            if not chooser(cost) or cost.weight_bytes > room[0]:
                return False
            room[0] -= cost.weight_bytes
            return True

        npu = StringAttr("npu")
        for requant in [o for o in op.walk() if isinstance(o, dnn.RequantShiftOp)]:
            job = npu_matmul(requant)
            if job is not None and wanted(matmul_cost(job)):
                job.matmul.attributes[ENGINE_ATTR] = npu
                job.requant.attributes[ENGINE_ATTR] = npu
        for matmul in [o for o in op.walk() if isinstance(o, dnn.MatmulOp)]:
            product = npu_product(matmul) if engine_of(matmul) == "cluster" else None
            if product is not None and wanted(product_cost(product)):
                matmul.attributes[ENGINE_ATTR] = npu
                if product.widening is not None:
                    product.widening.attributes[ENGINE_ATTR] = npu
        for conv in [o for o in op.walk() if isinstance(o, dnn.ConvOp)]:
            found = npu_conv(conv)
            if found is not None and wanted(conv_cost(found)):
                conv.attributes[ENGINE_ATTR] = npu
                if found.requant is not None:
                    found.requant.op.attributes[ENGINE_ATTR] = npu

    def _weight_memory(self) -> float:
        """Bytes of the engine's weight memory (the platform's `[npu] weight_memory`;
        unbounded without a platform)."""
        if not self.platform:
            return float("inf")
        from xdeeploy.platforms import load_platform

        section = load_platform(self.platform).extra.get("npu")
        return float(section["weight_memory"]) if isinstance(section, dict) else float("inf")

    def _chooser(self) -> Callable[[JobCost], bool]:
        if self.engines == "npu":
            return lambda _: True
        from xdeeploy.platforms import load_platform
        from xdeeploy.platforms.cost_model import CostModel

        if not self.platform:
            raise DeeployError("dnn-map-engines: engines=auto needs a platform with a cost model")
        platform = load_platform(self.platform)
        if "cost" not in platform.extra:
            raise DeeployError(
                f"--engines auto needs a cost model: platform {self.platform!r} has none "
                "(use --platform siracusa, or --engines npu)"
            )
        model = CostModel.of(platform)
        return lambda cost: npu_is_faster(cost, model, platform.cores)
