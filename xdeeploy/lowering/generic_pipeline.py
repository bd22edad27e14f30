"""`generic-pipeline`: from `dnn` to a module the `c` target prints, for the host."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from xdeeploy.lowering.convert_dnn_to_kernel import ConvertDnnToKernel
from xdeeploy.passes.dnn_canonicalize import DnnCanonicalize
from xdeeploy.passes.plan_memory import PlanMemory


@dataclass(frozen=True)
class GenericPipeline(ModulePass):
    name = "generic-pipeline"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for p in (DnnCanonicalize(), ConvertDnnToKernel(), PlanMemory()):
            p.apply(ctx, op)
