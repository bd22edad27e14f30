"""`generic-pipeline`: from `dnn` to a module the `c` target prints, for the host:
canonicalize, lower QDQ to integer ops, fuse requantization, tile for L1 (optional:
then tiles move by double-buffered DMA and buffers get their memory level), bufferize,
plan memory, and (option `cores`) split the kernel calls across the cluster's cores."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from xdeeploy.lowering.convert_dnn_to_kernel import ConvertDnnToKernel
from xdeeploy.lowering.npu_to_kernel import ConvertNpuToKernel
from xdeeploy.passes.cluster_parallelize import ClusterParallelize
from xdeeploy.passes.dma_double_buffer import DmaDoubleBuffer
from xdeeploy.passes.dnn_annotate_memory import DnnAnnotateMemory
from xdeeploy.passes.dnn_canonicalize import DnnCanonicalize
from xdeeploy.passes.dnn_fuse_requant import DnnFuseRequant
from xdeeploy.passes.dnn_lower_qdq import DnnLowerQdq
from xdeeploy.passes.dnn_map_engines import DnnMapEngines
from xdeeploy.passes.dnn_tile import TileRecord, tile_ops
from xdeeploy.passes.plan_memory import PlanMemory


@dataclass(frozen=True)
class GenericPipeline(ModulePass):
    """Option `l1-size`: tile every op for an L1 scratchpad of that many bytes
    (`dnn-tile`, then `dma-double-buffer` and `dnn-annotate-memory` with `l2-size`);
    0 leaves the ops untiled, computing in place in main memory. Option `cores`: the
    kernel calls run split across that many cluster cores (`cluster-parallelize`).
    Option `engines`: cluster, npu, or auto by the cost model of option `platform`
    (`dnn-map-engines`)."""

    name = "generic-pipeline"

    l1_size: int = 0
    l2_size: int = 0
    cores: int = 1
    engines: str = "cluster"
    platform: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_for_host(ctx, op, self.l1_size, self.l2_size, self.cores, self.engines,
                       self.platform)  # fmt: skip


def lower_for_host(
    ctx: Context,
    module: ModuleOp,
    l1_size: int = 0,
    l2_size: int = 0,
    cores: int = 1,
    engines: str = "cluster",
    platform: str = "",
) -> list[TileRecord]:
    """`generic-pipeline` on `module`; returns the tiling decisions for reports. With
    `engines` "npu", what the NPU can compute becomes NPU jobs, run by its functional
    model (no platform here has the engine itself)."""
    for p in INTEGER_PASSES:
        p.apply(ctx, module)
    DnnMapEngines(engines, platform).apply(ctx, module)
    records = tile_ops(module, l1_size) if l1_size else []
    ConvertDnnToKernel().apply(ctx, module)
    if l1_size:
        DmaDoubleBuffer().apply(ctx, module)
        DnnAnnotateMemory(l2_size=l2_size).apply(ctx, module)
    PlanMemory().apply(ctx, module)
    ClusterParallelize(cores=cores).apply(ctx, module)
    ConvertNpuToKernel().apply(ctx, module)
    return records


INTEGER_PASSES: tuple[ModulePass, ...] = (DnnCanonicalize(), DnnLowerQdq(), DnnFuseRequant())
"""The tensor-level passes: standard QDQ becomes integer arithmetic before bufferization."""
