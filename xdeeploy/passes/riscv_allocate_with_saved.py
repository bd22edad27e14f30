"""`riscv-allocate-registers-with-saved`: xDSL's liveness register allocator over the
a/t registers and, when those run out, s1..s11.

xDSL 0.74's allocator does not spill and by default hands out only the 15 a/t registers:
a matmul's loop nest needs more. The saved registers go to the bottom of the stack (it
hands out its last entries first), so a function uses them only when it must; run
`riscv-prologue-epilogue-insertion` afterwards to save and restore them.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.backend.riscv.register_allocation import RegisterAllocatorLivenessBlockNaive
from xdsl.backend.riscv.register_stack import RiscvRegisterStack
from xdsl.context import Context
from xdsl.dialects import riscv_func
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.riscv.registers import IntRegisterType
from xdsl.passes import ModulePass

SAVED = tuple(IntRegisterType.from_name(f"s{k}") for k in range(1, 12))
"""Callee-saved registers the allocator may use (s0 stays the frame pointer)."""


@dataclass(frozen=True)
class AllocateWithSaved(ModulePass):
    """xDSL's liveness allocator over the a/t registers and s1..s11."""

    name = "riscv-allocate-registers-with-saved"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # The stack hands out its last registers first: the saved ones go first, so
        # they are only used (and saved) when the a/t registers run out.
        registers = (*reversed(SAVED), *RiscvRegisterStack.DEFAULT_ALLOCATABLE_REGISTERS)
        for fn in [f for f in op.walk() if isinstance(f, riscv_func.FuncOp)]:
            stack = RiscvRegisterStack.get(allocatable_registers=registers)
            RegisterAllocatorLivenessBlockNaive(stack).allocate_func(fn)
