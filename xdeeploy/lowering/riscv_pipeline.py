"""`lower-to-riscv`: memref-level kernels (func, scf, arith, memref on L1 tiles) down to
register-allocated `riscv` that `-t riscv-asm` prints as a `.S` the GNU assembler takes.

Our narrow-integer passes run first (byte and halfword accesses, integer extensions),
then xDSL's own conversions, common subexpressions and loop invariants out, register
allocation and control-flow lowering. xDSL's allocator does not spill and by default
allocates only the a/t registers (15): a matmul's loop nest needs more, so ours also
hands it s1..s11, which xDSL's prologue/epilogue insertion then saves and restores.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.transforms import get_all_passes

STEPS = (
    "convert-narrow-memref-to-riscv",
    "convert-narrow-arith-to-riscv",
    "convert-arith-extras-to-riscv",
    "convert-func-to-riscv-func",
    "convert-memref-to-riscv",
    "convert-arith-to-riscv",
    "convert-scf-to-riscv-scf",
    "reconcile-unrealized-casts",
    "riscv-fold-addressing",
    "canonicalize",
    "cse",
    "riscv-forward-moves",
    "riscv-pointer-induction",
    "canonicalize",
    "cse",
    "licm",
    "riscv-forward-moves",
    "riscv-scf-for-infer-constant-step",
    "riscv-count-down-loops",
    "riscv-allocate-registers-with-saved",
    "canonicalize",
    "convert-riscv-scf-rof-to-riscv-cf",
    "convert-riscv-scf-to-riscv-cf",
    "riscv-prologue-epilogue-insertion{xlen=4}",
    "lower-riscv-func",
    "riscv-lower-parallel-mov",
    "canonicalize",
)
"""Up to `reconcile-unrealized-casts` the module is unallocated `riscv` IR, which xDSL's
interpreter runs (with `interp/riscv_extra.py`)."""


@dataclass(frozen=True)
class LowerToRiscv(ModulePass):
    """Option `allocate=false` stops before register allocation (for the interpreter)."""

    name = "lower-to-riscv"

    allocate: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from xdeeploy.universe import PASSES

        steps = STEPS if self.allocate else STEPS[: STEPS.index("canonicalize")]
        available = {
            **get_all_passes(),
            **PASSES,
        }
        PassPipeline.parse_spec(available, ",".join(steps)).apply(ctx, op)
