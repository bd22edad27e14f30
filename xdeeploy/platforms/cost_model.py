"""A platform's cost model: modeled cycles per layer of a lowered network, then latency,
tokens/s (one token per call of a decode-mode model) and energy. Always a model, never a
measurement: the parameters and their sources are the platform file's `[cost]` table.

Per operation of the entry function, in order (a layer is a `dnn.node`, as the C
target's layer marks are):

* an NPU job (the call of its functional model): `npu_job_cycles` plus its multiply-
  accumulates at `npu_macs_per_cycle`; loading weights computed at run time into the
  engine's memory: a DMA transfer of the packed bytes (`dma_setup_cycles` plus the
  bytes at `dma_bytes_per_cycle`), not overlapped (the job waits for its weights). The
  engine streams its activations from L1: a job `dnn-tile` did not stage (the engine's
  own convolution modes, or no L1 budget) moves its input and output between L2 and L1
  by DMA, overlapping compute as double-buffered tiles would;
* a kernel call: `call_cycles` plus its work at the kernel's rate on one core: multiply-
  accumulates (matrix products, convolutions) at `int8_macs_per_cycle · mac_efficiency`
  for integer kernels or `f32_macs_per_cycle` for float ones; other kernels per output
  element, `math_cycles` for those with transcendentals or divisions (softmax, norms,
  exp-like unary ops), else `element_cycles`;
* a `cluster.fork`: `fork_cycles` plus one core's share (every core runs the same
  chunk: the busiest core's time);
* a `dma.start`: `dma_setup_cycles` plus its bytes at `dma_bytes_per_cycle`, on the DMA
  engine: it overlaps compute (double buffering), so a layer takes max(compute, DMA);
* a loop: its trip count times its body.

A copy from an input into the output that may alias it (`dnn.may_alias`: a KV cache)
costs only its call: a decode loop passes the present cache as the past one, and the
runtime's `xd_copy` then has nothing to move.

Energy: the chip's average power (`power_w`) over the modeled time, plus
`npu_joules_per_mac` for each multiply-accumulate of the NPU's jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from math import prod

from xdsl.dialects import func, memref, scf
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp
from xdsl.ir import Block, Operation, SSAValue

from xdeeploy.dialects import cluster, dma, dnn, kernel
from xdeeploy.errors import DeeployError
from xdeeploy.lowering.convert_dnn_to_kernel import ALIAS_ATTR
from xdeeploy.lowering.emit_c import const_int
from xdeeploy.passes.plan_memory import buffer_bytes, is_l1
from xdeeploy.platforms import Platform

PARAMETERS = ("clock_hz", "int8_macs_per_cycle", "mac_efficiency", "f32_macs_per_cycle",
              "element_cycles", "math_cycles", "call_cycles", "fork_cycles",
              "dma_bytes_per_cycle", "dma_setup_cycles", "npu_macs_per_cycle",
              "npu_job_cycles", "power_w", "npu_joules_per_mac")  # fmt: skip

MATH_KERNELS = frozenset({"xd_unary_f32", "xd_softmax_f32", "xd_layernorm_f32",
                          "xd_rmsnorm_f32", "xd_isoftmax", "xd_ita_max", "xd_irmsnorm",
                          "xd_ilayernorm", "xd_igelu", "xd_true_integer_div",
                          "xd_integer_mean"})  # fmt: skip
"""Kernels whose elements cost `math_cycles`."""


InPlace = frozenset[tuple[SSAValue, SSAValue]]
"""(input, output) buffers the caller passes as one."""


@dataclass(frozen=True)
class Parameter:
    value: float
    source: str


@dataclass(frozen=True)
class CostModel:
    params: dict[str, Parameter]

    @staticmethod
    def of(platform: Platform) -> CostModel:
        table = platform.extra.get("cost")
        if not isinstance(table, dict):
            raise DeeployError(f"platform {platform.name!r} has no cost model ([cost] table)")
        missing = [p for p in PARAMETERS if p not in table]
        if missing:
            raise DeeployError(f"platform {platform.name!r}: [cost] lacks {', '.join(missing)}")
        return CostModel({k: Parameter(float(table[k]["value"]), str(table[k]["source"]))
                          for k in PARAMETERS})  # fmt: skip

    def __getitem__(self, name: str) -> float:
        return self.params[name].value

    def call_cycles(self, call: kernel.CallOp, in_place: InPlace = frozenset()) -> float:
        """One core's cycles for `call` (the call overhead included); `in_place`: the
        (input, output) buffers the caller passes as one."""
        ends = (_root(call.buffers[0]), _root(call.buffers[1])) if call.buffers else None
        if call.kernel == "xd_copy" and ends in in_place:
            return self["call_cycles"]
        if call.kernel == "xd_npu_load_weights":
            packed = output_elements(call)  # int8
            return self["dma_setup_cycles"] + packed / self["dma_bytes_per_cycle"]
        macs = multiply_accumulates(call)
        if call.kernel.startswith("xd_npu_") and macs is not None:
            return self["npu_job_cycles"] + macs / self["npu_macs_per_cycle"]
        if macs is not None:
            if call.kernel.endswith("_f32"):
                rate = self["f32_macs_per_cycle"]
            else:
                rate = self["int8_macs_per_cycle"] * self["mac_efficiency"]
            return self["call_cycles"] + macs / rate
        per = self["math_cycles"] if call.kernel in MATH_KERNELS else self["element_cycles"]
        return self["call_cycles"] + output_elements(call) * per

    def npu_staging_cycles(self, call: kernel.CallOp) -> float:
        """DMA cycles moving an NPU job's activations into L1 and its result out (0 for
        other calls)."""
        if call.kernel not in ("xd_npu_matmul", "xd_npu_conv2d"):
            return 0.0
        x, y = (_memref(call.arguments()[k]) for k in (0, 5))
        if is_l1(x):
            return 0.0  # staged by the tile loop around it: its dma.start ops count
        nbytes = buffer_bytes(x) + buffer_bytes(y)
        return 2 * self["dma_setup_cycles"] + nbytes / self["dma_bytes_per_cycle"]

    def dma_cycles(self, op: dma.StartOp) -> float:
        nbytes = buffer_bytes(_memref(op.dst))
        return self["dma_setup_cycles"] + nbytes / self["dma_bytes_per_cycle"]

    def estimate(self, module: ModuleOp, entry: str = "main") -> CostReport:
        fn = next((op for op in module.ops if isinstance(op, func.FuncOp)
                   and op.sym_name.data == entry), None)  # fmt: skip
        if fn is None:
            raise DeeployError(f"the module has no @{entry} function")
        in_place = _in_place_pairs(fn)
        layers: dict[str, LayerCost] = {}
        for op in fn.body.block.ops:
            node = dnn.node_name(op) if dnn.NODE_ATTR in op.attributes else None
            cost = self._cost(op, in_place)
            if node is None or (cost.compute == 0 and cost.dma == 0):
                continue
            layer = layers.setdefault(node, LayerCost(node))
            layer.compute += cost.compute
            layer.dma += cost.dma
            layer.npu_macs += cost.npu_macs
        return CostReport(self, list(layers.values()))

    def _cost(self, op: Operation, in_place: InPlace) -> _Cost:
        """Compute cycles on the busiest core, DMA cycles and NPU MACs of `op`."""
        match op:
            case kernel.CallOp():
                macs = multiply_accumulates(op) if op.kernel.startswith("xd_npu_") else None
                return _Cost(self.call_cycles(op, in_place), self.npu_staging_cycles(op),
                             macs or 0)  # fmt: skip
            case dma.StartOp():
                return _Cost(0.0, self.dma_cycles(op))
            case cluster.ForkOp():
                body = self._block(op.body.block, in_place)
                return body + _Cost(self["fork_cycles"])
            case scf.ForOp():
                return self._block(op.body.block, in_place).times(_trip_count(op))
            case _:
                return _Cost()

    def _block(self, block: Block, in_place: InPlace) -> _Cost:
        total = _Cost()
        for op in block.ops:
            total = total + self._cost(op, in_place)
        return total


@dataclass(frozen=True)
class _Cost:
    compute: float = 0.0
    dma: float = 0.0
    npu_macs: float = 0.0

    def __add__(self, other: _Cost) -> _Cost:
        return _Cost(self.compute + other.compute, self.dma + other.dma,
                     self.npu_macs + other.npu_macs)  # fmt: skip

    def times(self, k: int) -> _Cost:
        return _Cost(k * self.compute, k * self.dma, k * self.npu_macs)


@dataclass
class LayerCost:
    node: str
    compute: float = 0.0
    dma: float = 0.0
    npu_macs: float = 0.0

    @property
    def cycles(self) -> float:
        """DMA overlaps compute (double-buffered): the longer of the two."""
        return max(self.compute, self.dma)


@dataclass
class CostReport:
    model: CostModel
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def cycles(self) -> float:
        return sum(layer.cycles for layer in self.layers)

    @property
    def seconds(self) -> float:
        return self.cycles / self.model["clock_hz"]

    @property
    def tokens_per_second(self) -> float:
        """One token per call (a decode-mode model)."""
        return 1.0 / self.seconds if self.seconds else float("inf")

    @property
    def microjoules(self) -> float:
        """The chip's average power over the modeled time, plus the NPU's energy per
        multiply-accumulate for its jobs (its draw beyond the cluster's)."""
        npu = sum(layer.npu_macs for layer in self.layers) * self.model["npu_joules_per_mac"]
        return (self.seconds * self.model["power_w"] + npu) * 1e6

    def lines(self) -> Iterator[str]:
        yield ("cost MODEL (not a measurement; parameters and their sources: the "
               "platform file's [cost] table):")  # fmt: skip
        for layer in self.layers:
            yield (f"  {layer.node}: {layer.cycles:,.0f} cycles (compute {layer.compute:,.0f}, "
                   f"DMA {layer.dma:,.0f})")  # fmt: skip
        yield (f"  total: {self.cycles:,.0f} cycles = {self.seconds * 1e3:.3f} ms at "
               f"{self.model['clock_hz'] / 1e6:.0f} MHz: {self.tokens_per_second:,.1f} "
               f"tokens/s, {self.microjoules:,.1f} uJ/token (modeled)")  # fmt: skip
        for name, p in self.model.params.items():
            yield f"  parameter {name} = {p.value:g} ({p.source})"

    def as_dict(self) -> dict[str, object]:
        return {
            "label": "model, not a measurement",
            "cycles": self.cycles,
            "seconds": self.seconds,
            "tokens_per_second": self.tokens_per_second,
            "microjoules_per_token": self.microjoules,
            "layers": [
                {
                    "node": lc.node,
                    "cycles": lc.cycles,
                    "compute": lc.compute,
                    "dma": lc.dma,
                    "npu_macs": lc.npu_macs,
                }
                for lc in self.layers
            ],  # fmt: skip
            "parameters": {
                k: {"value": p.value, "source": p.source} for k, p in self.model.params.items()
            },  # fmt: skip
        }


def _memref(arg: object) -> MemRefType:
    assert isinstance(arg, SSAValue) and isinstance(arg.type, MemRefType)
    return arg.type


def _root(value: SSAValue) -> SSAValue:
    """The buffer a view (subview, reinterpret_cast, view, memory-space cast) is of."""
    while isinstance(value.owner, memref.SubviewOp | memref.ReinterpretCastOp | memref.ViewOp
                     | memref.MemorySpaceCastOp):  # fmt: skip
        value = value.owner.operands[0]
    return value


def _in_place_pairs(fn: func.FuncOp) -> InPlace:
    """(input, output) arguments whose buffers the caller may pass as one."""
    pairs: set[tuple[SSAValue, SSAValue]] = set()
    attrs = fn.arg_attrs.data if fn.arg_attrs else []
    for k, d in enumerate(attrs):
        alias = d.data.get(ALIAS_ATTR)
        if isinstance(alias, IntegerAttr):
            pairs.add((fn.args[alias.value.data], fn.args[k]))
    return frozenset(pairs)


def _trip_count(op: scf.ForOp) -> int:
    lb, ub, step = (const_int(v) for v in (op.lb, op.ub, op.step))
    if lb is None or ub is None or not step:
        raise DeeployError("cost model: a loop without constant bounds")
    return max(0, -(-(ub - lb) // step))


def _i(arg: object) -> int:
    assert isinstance(arg, IntegerAttr)
    return int(arg.value.data)


def multiply_accumulates(call: kernel.CallOp) -> int | None:
    """The multiply-accumulates of a matrix product or convolution call, else None."""
    args = call.arguments()
    name = call.kernel
    if name in ("xd_matmul_int", "xd_matmul_f32"):
        first = 6 if name.endswith("_int") else 3
        m, k, n, rank = (_i(a) for a in args[first : first + 4])
        batch = args[first + 4]
        dims = [int(v) for v in batch.get_values()][:rank] if rank else []  # type: ignore[union-attr]
        return prod(dims) * m * k * n
    if name in ("xd_gemv_int", "xd_gemv_f32"):
        first = 6 if name.endswith("_int") else 3
        return _i(args[first]) * _i(args[first + 1])
    if name in ("xd_gemm_int", "xd_gemm_f32"):
        first = 8 if name.endswith("_int") else 4
        return prod(_i(a) for a in args[first : first + 3])
    if name == "xd_npu_matmul":
        return prod(_i(a) for a in args[7:10])
    if name == "xd_npu_conv2d":
        kind, _, _, cin, cout, _, _, _, _, oh, ow = (_i(a) for a in args[7:18])
        taps = 1 if kind == 2 else 9
        return oh * ow * cout * taps * (1 if kind == 1 else cin)
    if name in ("xd_conv2d_int", "xd_conv2d_f32"):
        first = 8 if name.endswith("_int") else 4
        n, c, _, _, oc, kh, kw, oh, ow = (_i(a) for a in args[first : first + 9])
        group = _i(args[first + 15])
        return n * oc * oh * ow * (c // group) * kh * kw
    return None


def output_elements(call: kernel.CallOp) -> int:
    """Elements the call writes: its (first) output buffer's, but a ScatterND's slices
    only (it updates the data in place)."""
    if call.kernel == "xd_scatter_nd":
        args = call.arguments()
        return _i(args[4]) * _i(args[7])
    params = kernel.SIGNATURES[call.kernel]
    for arg, param in zip(call.arguments(), params, strict=True):
        if param.kind in ("out", "inout") and isinstance(arg, SSAValue):
            ty = arg.type
            if isinstance(ty, MemRefType):
                return prod(ty.get_shape())
    return 1
