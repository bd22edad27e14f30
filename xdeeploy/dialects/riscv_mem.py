"""The `riscv_mem` dialect: RISC-V byte and halfword loads and stores that print as the
GNU assembler reads them (`lb rd, imm(rs1)`, `sb rs2, imm(rs1)`).

They are defined as xDSL defines `riscv.lb` … `riscv.sh` (same base classes, so the
same operands, register allocation and interpreter semantics) under another name: xDSL 0.74 prints those as `lb rd, rs1, imm`, which `as` rejects,
while its `lw`/`sw` print correctly. `convert-narrow-memref-to-riscv` emits these.
"""

from __future__ import annotations

from xdsl.backend.assembly_printer import AssemblyPrinter
from xdsl.dialects.riscv.abstract_ops import (
    RdRsImmIntegerOperation,
    RsRsImmIntegerOperation,
    assembly_arg_str,
)
from xdsl.ir import Dialect
from xdsl.irdl import irdl_op_definition, traits_def
from xdsl.traits import MemoryReadEffect, MemoryWriteEffect

IMM12 = range(-2048, 2048)
"""What a RISC-V 12-bit signed immediate holds (loads, stores, addi, slti, xori...)."""


def _load_line(op: RdRsImmIntegerOperation) -> str:
    args = (
        f"{assembly_arg_str(op.rd)}, {assembly_arg_str(op.immediate)}({assembly_arg_str(op.rs1)})"
    )
    return AssemblyPrinter.assembly_line(op.assembly_instruction_name(), args, op.comment)


def _store_line(op: RsRsImmIntegerOperation) -> str:
    args = (
        f"{assembly_arg_str(op.rs2)}, {assembly_arg_str(op.immediate)}({assembly_arg_str(op.rs1)})"
    )
    return AssemblyPrinter.assembly_line(op.assembly_instruction_name(), args, op.comment)


@irdl_op_definition
class LbOp(RdRsImmIntegerOperation):
    name = "riscv_mem.lb"

    traits = traits_def(MemoryReadEffect())

    def assembly_line(self) -> str | None:
        return _load_line(self)


@irdl_op_definition
class LbuOp(RdRsImmIntegerOperation):
    name = "riscv_mem.lbu"

    traits = traits_def(MemoryReadEffect())

    def assembly_line(self) -> str | None:
        return _load_line(self)


@irdl_op_definition
class LhOp(RdRsImmIntegerOperation):
    name = "riscv_mem.lh"

    traits = traits_def(MemoryReadEffect())

    def assembly_line(self) -> str | None:
        return _load_line(self)


@irdl_op_definition
class LhuOp(RdRsImmIntegerOperation):
    name = "riscv_mem.lhu"

    traits = traits_def(MemoryReadEffect())

    def assembly_line(self) -> str | None:
        return _load_line(self)


@irdl_op_definition
class SbOp(RsRsImmIntegerOperation):
    name = "riscv_mem.sb"

    traits = traits_def(MemoryWriteEffect())

    def assembly_line(self) -> str | None:
        return _store_line(self)


@irdl_op_definition
class ShOp(RsRsImmIntegerOperation):
    name = "riscv_mem.sh"

    traits = traits_def(MemoryWriteEffect())

    def assembly_line(self) -> str | None:
        return _store_line(self)


RISCV_MEM = Dialect("riscv_mem", [LbOp, LbuOp, LhOp, LhuOp, SbOp, ShOp])
