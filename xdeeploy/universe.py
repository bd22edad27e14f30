"""The `xdsl.universe` entry point: stock `xdsl-opt` sees our dialects, passes and targets.

Everything is imported lazily, so that loading the universe costs nothing until a
dialect or pass is used.
"""

from collections.abc import Callable

from xdsl.context import Context
from xdsl.ir import Dialect
from xdsl.passes import ModulePass
from xdsl.universe import Universe
from xdsl.utils.target import Target


def _dnn() -> Dialect:
    from xdeeploy.dialects.dnn import DNN

    return DNN


def _dnn_canonicalize() -> type[ModulePass]:
    from xdeeploy.passes.dnn_canonicalize import DnnCanonicalize

    return DnnCanonicalize


def _dnn_lower_qdq() -> type[ModulePass]:
    from xdeeploy.passes.dnn_lower_qdq import DnnLowerQdq

    return DnnLowerQdq


def _dnn_fuse_requant() -> type[ModulePass]:
    from xdeeploy.passes.dnn_fuse_requant import DnnFuseRequant

    return DnnFuseRequant


def _kernel() -> Dialect:
    from xdeeploy.dialects.kernel import KERNEL

    return KERNEL


def _dma() -> Dialect:
    from xdeeploy.dialects.dma import DMA

    return DMA


def _convert_dnn_to_kernel() -> type[ModulePass]:
    from xdeeploy.lowering.convert_dnn_to_kernel import ConvertDnnToKernel

    return ConvertDnnToKernel


def _plan_memory() -> type[ModulePass]:
    from xdeeploy.passes.plan_memory import PlanMemory

    return PlanMemory


def _generic_pipeline() -> type[ModulePass]:
    from xdeeploy.lowering.generic_pipeline import GenericPipeline

    return GenericPipeline


def _c_target() -> type[Target]:
    from xdeeploy.lowering.emit_c import CTarget

    return CTarget


def _dnn_infer_int_types() -> type[ModulePass]:
    from xdeeploy.passes.dnn_infer_int_types import DnnInferIntTypes

    return DnnInferIntTypes


def _dnn_tile() -> type[ModulePass]:
    from xdeeploy.passes.dnn_tile import DnnTile

    return DnnTile


def _dma_double_buffer() -> type[ModulePass]:
    from xdeeploy.passes.dma_double_buffer import DmaDoubleBuffer

    return DmaDoubleBuffer


def _dnn_annotate_memory() -> type[ModulePass]:
    from xdeeploy.passes.dnn_annotate_memory import DnnAnnotateMemory

    return DnnAnnotateMemory


def _cluster_parallelize() -> type[ModulePass]:
    from xdeeploy.passes.cluster_parallelize import ClusterParallelize

    return ClusterParallelize


def _convert_narrow_memref_to_riscv() -> type[ModulePass]:
    from xdeeploy.lowering.narrow_memref_to_riscv import ConvertNarrowMemrefToRiscv

    return ConvertNarrowMemrefToRiscv


def _convert_narrow_arith_to_riscv() -> type[ModulePass]:
    from xdeeploy.lowering.narrow_arith_to_riscv import ConvertNarrowArithToRiscv

    return ConvertNarrowArithToRiscv


def _convert_arith_extras_to_riscv() -> type[ModulePass]:
    from xdeeploy.lowering.arith_extras_to_riscv import ConvertArithExtrasToRiscv

    return ConvertArithExtrasToRiscv


def _dnn_map_engines() -> type[ModulePass]:
    from xdeeploy.passes.dnn_map_engines import DnnMapEngines

    return DnnMapEngines


def _convert_npu_to_kernel() -> type[ModulePass]:
    from xdeeploy.lowering.npu_to_kernel import ConvertNpuToKernel

    return ConvertNpuToKernel


def _convert_npu_to_accfg() -> type[ModulePass]:
    from xdeeploy.lowering.npu_to_accfg import ConvertNpuToAccfg

    return ConvertNpuToAccfg


def _convert_kernel_to_asm() -> type[ModulePass]:
    from xdeeploy.lowering.kernel_to_asm import ConvertKernelToAsm

    return ConvertKernelToAsm


def _lower_to_riscv() -> type[ModulePass]:
    from xdeeploy.lowering.riscv_pipeline import LowerToRiscv

    return LowerToRiscv


def _riscv_fold_addressing() -> type[ModulePass]:
    from xdeeploy.passes.riscv_fold_addressing import RiscvFoldAddressing

    return RiscvFoldAddressing


def _riscv_pointer_induction() -> type[ModulePass]:
    from xdeeploy.passes.riscv_pointer_induction import RiscvPointerInduction

    return RiscvPointerInduction


def _riscv_count_down_loops() -> type[ModulePass]:
    from xdeeploy.passes.riscv_count_down_loops import RiscvCountDownLoops

    return RiscvCountDownLoops


def _convert_riscv_scf_rof_to_riscv_cf() -> type[ModulePass]:
    from xdeeploy.lowering.riscv_scf_rof_to_cf import ConvertRiscvScfRofToRiscvCf

    return ConvertRiscvScfRofToRiscvCf


def _riscv_forward_moves() -> type[ModulePass]:
    from xdeeploy.passes.riscv_forward_moves import ForwardMoves

    return ForwardMoves


def _riscv_allocate_with_saved() -> type[ModulePass]:
    from xdeeploy.passes.riscv_allocate_with_saved import AllocateWithSaved

    return AllocateWithSaved


def _cluster() -> Dialect:
    from xdeeploy.dialects.cluster import CLUSTER

    return CLUSTER


def _npu() -> Dialect:
    from xdeeploy.dialects.npu import NPU

    return NPU


def _riscv_mem() -> Dialect:
    from xdeeploy.dialects.riscv_mem import RISCV_MEM

    return RISCV_MEM


DIALECTS: dict[str, Callable[[], Dialect]] = {
    "dnn": _dnn,
    "kernel": _kernel,
    "dma": _dma,
    "cluster": _cluster,
    "riscv_mem": _riscv_mem,
    "npu": _npu,
}
PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "dnn-canonicalize": _dnn_canonicalize,
    "dnn-lower-qdq": _dnn_lower_qdq,
    "dnn-fuse-requant": _dnn_fuse_requant,
    "dnn-infer-int-types": _dnn_infer_int_types,
    "dnn-tile": _dnn_tile,
    "dnn-annotate-memory": _dnn_annotate_memory,
    "dma-double-buffer": _dma_double_buffer,
    "convert-dnn-to-kernel": _convert_dnn_to_kernel,
    "plan-memory": _plan_memory,
    "cluster-parallelize": _cluster_parallelize,
    "convert-narrow-memref-to-riscv": _convert_narrow_memref_to_riscv,
    "convert-narrow-arith-to-riscv": _convert_narrow_arith_to_riscv,
    "convert-arith-extras-to-riscv": _convert_arith_extras_to_riscv,
    "convert-kernel-to-asm": _convert_kernel_to_asm,
    "convert-npu-to-kernel": _convert_npu_to_kernel,
    "convert-npu-to-accfg": _convert_npu_to_accfg,
    "dnn-map-engines": _dnn_map_engines,
    "lower-to-riscv": _lower_to_riscv,
    "riscv-fold-addressing": _riscv_fold_addressing,
    "riscv-pointer-induction": _riscv_pointer_induction,
    "riscv-count-down-loops": _riscv_count_down_loops,
    "convert-riscv-scf-rof-to-riscv-cf": _convert_riscv_scf_rof_to_riscv_cf,
    "riscv-forward-moves": _riscv_forward_moves,
    "riscv-allocate-registers-with-saved": _riscv_allocate_with_saved,
    "generic-pipeline": _generic_pipeline,
}
TARGETS: dict[str, Callable[[], type[Target]]] = {"c": _c_target}

XDEEPLOY_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES, all_targets=TARGETS)


def full_context() -> Context:
    """xDSL's dialects and ours, as `deeploy-opt` (or stock `xdsl-opt`) parses."""
    from xdsl.dialects import get_all_dialects

    ctx = Context()
    for name, factory in {**get_all_dialects(), **DIALECTS}.items():
        ctx.register_dialect(name, factory)
    return ctx
