"""`dnn-map-engines`: which engine computes each op — the cluster (kernel calls split
across its cores) or the NPU (jobs).

The NPU computes products of 8-bit operands with int8 weights:

* a matmul of an 8-bit A by int8 B, one job per batch (one job over all rows of A when
  B is 2-D; at most `MAX_JOBS` jobs). B is constant weights (packed at compile time,
  kept in the engine's memory) or an activation, attention's K or V, that each job
  first loads into the engine's memory (`npu.load_weights`). Operands are read through
  the int8 → int32 widening `dnn-lower-qdq` puts before an integer product;
* a gemm by constant int8 weights (alpha = beta = 1, A not transposed), C added by the
  cluster;
* a convolution with N = 1, an 8-bit input, constant int8 weights and no bias: in the
  engine's own modes (3x3 dense or depthwise, 1x1; equal strides 1 or 2, padding up to
  1), or, any other one-group convolution, as a matmul job on the im2col patches the
  cluster gathers.

The result is the int32 accumulators, or the 8-bit output of the requantization
reading it, fused into the job (Deeploy's RQMatMul/RQConv) when the engine computes it
bit for bit:

    %acc = dnn.matmul %x, %w
    %y = dnn.requant_shift %acc, %mul, %add {div = 2^s, n_levels = 256}

mul constant and within 0..255 (the engine's scale is unsigned 8-bit), add constant with
the rounding 2^(s-1) folded in still an int32, both the same for every row of a job (per
tensor, per output column, per batch), s in 0..31, and the clamp the 8-bit type's own.
The ops a job computes carry `dnn.engine = "npu"` (lowered together in
`convert-dnn-to-kernel`); every other op stays on the cluster.

Option `engines`: `cluster` (nothing moves), `npu` (everything the NPU can take) or
`auto`: each op where the platform's cost model (option `platform`, its `[cost]` table)
puts it faster — the cluster's cores on the multiply-accumulates and the
requantization, against the NPU's jobs, the weights loaded at run time and the data the
cluster moves for them (HWC transposes, im2col patches). Constant weights stay in the
engine's memory across inferences: jobs are mapped while they fit the platform's
`[npu] weight_memory`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


MAX_JOBS = 64
"""A batched product becomes one job per batch, unrolled: beyond this many it stays on
the cluster (its kernel loops over the batch)."""


def _job_channels(value: np.ndarray, out_shape: Sequence[int], channel_axis: int,
                  job_dims: int) -> np.ndarray | None:  # fmt: skip
    """`value` (broadcast against an output of `out_shape`) as one row of channel values
    per job — jobs over the first `job_dims` dims, channels on `channel_axis` — if it is
    the same for every pixel (row) of a job."""
    try:
        full = np.broadcast_to(value, tuple(out_shape))
    except ValueError:
        return None
    full = np.moveaxis(full, channel_axis, -1)
    jobs, n = prod(full.shape[:job_dims]), full.shape[-1]
    rows = full.reshape(jobs, -1, n)
    if rows.shape[1] and not (rows == rows[:, :1, :]).all():
        return None
    return rows[:, 0, :].astype(np.int64)


@dataclass(frozen=True)
class Requant:
    """A requant_shift as the engine's normalisation: scale (uint8) and bias (int32,
    the rounding folded in) per job and output channel ([jobs, N]), and the shift."""

    op: dnn.RequantShiftOp
    scale: np.ndarray
    bias: np.ndarray
    shift: int


def _requant(requant: dnn.RequantShiftOp, channel_axis: int, job_dims: int) -> Requant | None:
    """`requant` as the engine computes it, if it can: constants per channel (or per
    tensor) within each job, scale within 8 bits unsigned, bias within int32, an 8-bit
    output."""
    mul, add = constant_of(requant.mul), constant_of(requant.add)
    if mul is None or add is None:
        return None
    shape = dnn.shape_of(requant.input)
    scale = _job_channels(mul, shape, channel_axis, job_dims)
    bias = _job_channels(add, shape, channel_axis, job_dims)
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


def _narrow(value: SSAValue) -> tuple[SSAValue, dnn.CastOp | None]:
    """`value`, or the 8-bit value a `dnn.cast` read only here widens into it (the form
    `dnn-lower-qdq` gives an int8 operand of an int32 product)."""
    cast = value.owner
    if isinstance(cast, dnn.CastOp) and only_user(value) is not None:
        source = _elem(cast.input)
        if source is not None and source.itemsize == 1 and _elem(value) == np.int32:
            return cast.input, cast
    return value, None


def _is_byte(value: SSAValue, signed: bool = False) -> bool:
    elem = _elem(value)
    return elem is not None and elem.itemsize == 1 and (elem.kind == "i" or not signed)


@dataclass(frozen=True)
class NpuConv:
    """A convolution (and the requant_shift of its result) the NPU computes: natively
    (`kind` dense3x3, depthwise3x3 or pointwise), or as `im2col`: any other group-1
    convolution, its patches gathered by the cluster into the rows of one matmul job."""

    conv: dnn.ConvOp
    requant: Requant | None
    kind: str
    weights: np.ndarray
    """int8, ONNX layout [Cout, Cin/group, kh, kw]."""
    strides: list[int]
    pads: list[int]
    """[top, left, bottom, right]"""
    dilations: list[int]

    @property
    def stride(self) -> int:
        return self.strides[0]


def _native_kind(w: np.ndarray, group: int, channels: int, strides: list[int],
                 pads: list[int], dilations: list[int]) -> str | None:  # fmt: skip
    """The engine's own convolution mode for these parameters, if one fits."""
    cout, cin_g, kh, kw = w.shape
    if (kh, kw) == (1, 1) and group == 1:
        kind, most = "pointwise", 0
    elif (kh, kw) == (3, 3) and group == 1:
        kind, most = "dense3x3", 1
    elif (kh, kw) == (3, 3) and group == channels == cout and cin_g == 1:
        kind, most = "depthwise3x3", 1
    else:
        return None
    if strides[0] != strides[1] or strides[0] not in (1, 2) or dilations != [1, 1]:
        return None
    return kind if max(pads) <= most else None


def npu_conv(conv: dnn.ConvOp, fuse: bool = True) -> NpuConv | None:
    """`conv` (with the requant_shift reading it, when `fuse` and the engine can fuse
    it) as an NPU job: N = 1, 8-bit input, constant int8 weights, no bias; the engine's
    own modes (3x3 dense or depthwise, 1x1; equal strides 1 or 2, no dilation, padding
    at most 1), else, for one group, im2col and a matmul job."""
    x, w = _elem(conv.input), constant_of(conv.weight)
    if x is None or x.itemsize != 1 or w is None or w.ndim != 4 or w.dtype != np.int8:
        return None
    shape = dnn.shape_of(conv.input)
    if len(shape) != 4 or shape[0] != 1 or conv.bias is not None:
        return None
    group = conv.group.value.data
    strides = [int(v) for v in conv.strides.get_values()]  # type: ignore[union-attr]
    pads = [int(v) for v in conv.pads.get_values()]  # type: ignore[union-attr]
    dilations = [int(v) for v in conv.dilations.get_values()]  # type: ignore[union-attr]
    kind = _native_kind(w, group, shape[1], strides, pads, dilations)
    if kind is None and group != 1:
        return None
    user = only_user(conv.result) if fuse else None
    requant = _requant(user, -3, 1) if isinstance(user, dnn.RequantShiftOp) else None
    return NpuConv(conv, requant, kind or "im2col", w, strides, pads[:4], dilations)


@dataclass(frozen=True)
class NpuMatmul:
    """A matrix product the NPU computes: A (8-bit) times B (int8, K x N) — constant
    weights packed at compile time, or an activation each job first loads into the
    engine's memory — one job per batch (or one job over all rows of A when B is 2-D),
    requantized into 8 bits when the requant_shift reading it fuses, else into int32
    accumulators (a gemm's C then added by the cluster)."""

    op: dnn.MatmulOp | dnn.GemmOp
    activation: SSAValue
    widenings: tuple[dnn.CastOp, ...]
    weights: np.ndarray | None
    """Constant B, int8 [..., K, N] (a gemm's transposition applied); None: `source`."""
    source: SSAValue | None
    """B computed at run time (8-bit signed, [..., K, N])."""
    batch: tuple[int, ...]
    requant: Requant | None
    addend: SSAValue | None
    """A gemm's C."""

    @property
    def jobs(self) -> int:
        return prod(self.batch)

    @property
    def k_n(self) -> tuple[int, int]:
        shape = self.weights.shape if self.weights is not None else dnn.shape_of(self.source)  # type: ignore[arg-type]
        return int(shape[-2]), int(shape[-1])

    @property
    def rows(self) -> int:
        """Rows of A per job."""
        shape = dnn.shape_of(self.activation)
        return shape[-2] if self.batch else prod(shape[:-1])


def npu_matmul(matmul: dnn.MatmulOp, fuse: bool = True) -> NpuMatmul | None:
    """The NPU jobs of `matmul` (with the requant_shift reading it when `fuse` and the
    engine can), if the engine can compute it."""
    a, a_cast = _narrow(matmul.lhs)
    b, b_cast = _narrow(matmul.rhs)
    w = constant_of(b)
    source = None if w is not None else b
    if not _is_byte(a) or (w is not None and w.dtype != np.int8):
        return None
    if source is not None and not _is_byte(source, signed=True):
        return None
    a_shape = dnn.shape_of(a)
    b_shape = w.shape if w is not None else dnn.shape_of(source)  # type: ignore[arg-type]
    if len(a_shape) < 2 or len(b_shape) < 2:
        return None
    batch: tuple[int, ...] = ()
    if len(b_shape) > 2:
        batch = tuple(int(d) for d in np.broadcast_shapes(tuple(a_shape[:-2]),
                                                          tuple(b_shape[:-2])))  # fmt: skip
        if prod(batch) > MAX_JOBS:
            return None
    user = only_user(matmul.result) if fuse else None
    requant = None
    if isinstance(user, dnn.RequantShiftOp):
        requant = _requant(user, -1, len(batch))
    if requant is None and _elem(matmul.result) != np.int32:
        return None
    casts = tuple(c for c in (a_cast, b_cast) if c is not None)
    return NpuMatmul(matmul, a, casts, w, source, batch, requant, None)


def npu_gemm(gemm: dnn.GemmOp) -> NpuMatmul | None:
    """`gemm` as one NPU job into int32 accumulators, C added by the cluster: A 8-bit
    and not transposed, B constant int8, alpha and beta 1."""
    a, a_cast = _narrow(gemm.lhs)
    w = constant_of(gemm.rhs)
    if not _is_byte(a) or w is None or w.dtype != np.int8 or gemm.trans_a is not None:
        return None
    for factor in (gemm.alpha, gemm.beta):
        if factor is not None and factor.value.data != 1.0:
            return None
    if _elem(gemm.result) != np.int32:
        return None
    weights = w.T if gemm.trans_b is not None else w
    casts = (a_cast,) if a_cast is not None else ()
    return NpuMatmul(gemm, a, casts, np.ascontiguousarray(weights), None, (), None, gemm.bias)


def fused_requant(op: Operation) -> dnn.RequantShiftOp | None:
    """The requant_shift mapped with `op` (its only user) into one NPU job."""
    user = only_user(op.results[0]) if op.results else None
    return user if isinstance(user, dnn.RequantShiftOp) and engine_of(user) == "npu" else None


def npu_job(op: Operation) -> NpuMatmul | NpuConv | None:
    """The NPU job `convert-dnn-to-kernel` lowers at `op`: a requant_shift's, fused with
    the product or convolution it reads, or a matmul's, gemm's or convolution's of its
    own; None for other ops and for a producer whose requantization carries its job."""
    if engine_of(op) != "npu":
        return None
    fused = isinstance(op, dnn.RequantShiftOp)
    source = op.operands[0].owner if fused else op
    if not fused and fused_requant(op) is not None:
        return None
    job: NpuMatmul | NpuConv | None = None
    if isinstance(source, dnn.MatmulOp):
        job = npu_matmul(source, fuse=fused)
    elif isinstance(source, dnn.GemmOp) and not fused:
        job = npu_gemm(source)
    elif isinstance(source, dnn.ConvOp):
        job = npu_conv(source, fuse=fused)
    if job is None or (job.requant is not None) != fused:
        return None
    return job


@dataclass(frozen=True)
class JobCost:
    """What the cost model compares for the jobs of one op."""

    macs: int
    outputs: int
    """Elements the cluster's requantization would write (fused into the NPU's job)."""
    weight_bytes: int
    """Packed weights the jobs keep in the NPU's memory."""
    moved: int
    """Elements the cluster moves for the NPU: HWC transposes, im2col patches."""
    jobs: int = 1
    loaded_bytes: int = 0
    """Weights computed at run time, moved into the engine's memory per inference."""


def matmul_cost(job: NpuMatmul) -> JobCost:
    k, n = job.k_n
    jobs, rows = max(job.jobs, 1), job.rows
    packed = round_up(n, COUT_SUBTILE) * round_up(k, CIN_SUBTILE["pointwise"])
    outputs = jobs * rows * n if job.requant is not None else 0
    if job.weights is None:
        return JobCost(jobs * rows * k * n, outputs, 0, 0, jobs, jobs * packed)
    resident = packed * (prod(job.weights.shape[:-2]) if job.weights.ndim > 2 else 1)
    return JobCost(jobs * rows * k * n, outputs, resident, 0, jobs)


def conv_cost(job: NpuConv) -> JobCost:
    from xdeeploy.interp.npu import pack_weights

    out = dnn.shape_of(job.conv.result)
    cout, cin_g, kh, kw = job.weights.shape
    outputs = prod(out)
    macs = outputs * cin_g * kh * kw
    requantized = outputs if job.requant is not None else 0
    if job.kind == "im2col":
        packed = pack_weights("matmul", job.weights.reshape(cout, -1).T).size
        patches = prod(out[-2:]) * cin_g * kh * kw
        return JobCost(macs, requantized, packed, patches + outputs)
    inputs = prod(dnn.shape_of(job.conv.input))
    return JobCost(macs, requantized, pack_weights(job.kind, job.weights).size,
                   inputs + outputs)  # fmt: skip


def npu_is_faster(cost: JobCost, model: CostModel, cores: int) -> bool:
    """The platform's cost model: the NPU's jobs against the cluster's kernel calls."""
    m = model.__getitem__
    cluster = (2 * (m("call_cycles") + m("fork_cycles"))
               + cost.macs / (cores * m("int8_macs_per_cycle") * m("mac_efficiency"))
               + cost.outputs * m("element_cycles") / cores)  # fmt: skip
    # Constant weights stay in the engine's memory across inferences (all on chip): no
    # transfer per job, but they must fit it (`DnnMapEngines` keeps the count). Weights
    # computed at run time are moved in by DMA before each job.
    npu = (cost.jobs * m("npu_job_cycles") + cost.macs / m("npu_macs_per_cycle")
           + (2 * m("call_cycles") + cost.moved * m("element_cycles") if cost.moved else 0)
           + (cost.jobs * m("dma_setup_cycles") + cost.loaded_bytes / m("dma_bytes_per_cycle")
              if cost.loaded_bytes else 0))  # fmt: skip
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
            """The chooser's verdict, while the engine's weight memory has room for the
            resident weights and the buffer that weights loaded at run time go through."""
            buffer = cost.loaded_bytes // cost.jobs if cost.jobs else 0
            if not chooser(cost) or cost.weight_bytes + buffer > room[0]:
                return False
            room[0] -= cost.weight_bytes
            return True

        npu = StringAttr("npu")

        def mark(*ops: Operation) -> None:
            for o in ops:
                o.attributes[ENGINE_ATTR] = npu

        for matmul in [o for o in op.walk() if isinstance(o, dnn.MatmulOp)]:
            # Fused with its requantization if the engine can, else into int32.
            for job in (npu_matmul(matmul), npu_matmul(matmul, fuse=False)):
                if job is not None and wanted(matmul_cost(job)):
                    mark(matmul, *job.widenings, *([job.requant.op] if job.requant else []))
                    break
        for gemm in [o for o in op.walk() if isinstance(o, dnn.GemmOp)]:
            job = npu_gemm(gemm)
            if job is not None and wanted(matmul_cost(job)):
                mark(gemm, *job.widenings)
        for conv in [o for o in op.walk() if isinstance(o, dnn.ConvOp)]:
            for found in (npu_conv(conv), npu_conv(conv, fuse=False)):
                if found is not None and wanted(conv_cost(found)):
                    mark(conv, *([found.requant.op] if found.requant else []))
                    break

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
            raise DeeployError(
                "dnn-map-engines: engines=auto needs a platform with a cost model: add "
                "platform=siracusa"
            )
        platform = load_platform(self.platform)
        if "cost" not in platform.extra:
            raise DeeployError(
                f"--engines auto needs a cost model: platform {self.platform!r} has none "
                "(use --platform siracusa, or --engines npu)"
            )
        model = CostModel.of(platform)
        return lambda cost: npu_is_faster(cost, model, platform.cores)
