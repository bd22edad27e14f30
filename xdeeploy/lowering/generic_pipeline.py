"""`generic-pipeline`: from `dnn` to a module the `c` target prints, for the host:
canonicalize, lower QDQ to integer ops, fuse requantization, bufferize, plan memory."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from xdeeploy.lowering.convert_dnn_to_kernel import ConvertDnnToKernel
from xdeeploy.passes.dnn_canonicalize import DnnCanonicalize
from xdeeploy.passes.dnn_fuse_requant import DnnFuseRequant
from xdeeploy.passes.dnn_lower_qdq import DnnLowerQdq
from xdeeploy.passes.plan_memory import PlanMemory


@dataclass(frozen=True)
class GenericPipeline(ModulePass):
    name = "generic-pipeline"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for p in INTEGER_PASSES:
            p.apply(ctx, op)
        for p in (ConvertDnnToKernel(), PlanMemory()):
            p.apply(ctx, op)


INTEGER_PASSES: tuple[ModulePass, ...] = (DnnCanonicalize(), DnnLowerQdq(), DnnFuseRequant())
"""The tensor-level passes: standard QDQ becomes integer arithmetic before bufferization."""
