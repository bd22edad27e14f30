"""Interpreter functions for the RISC-V instructions our asm kernels use and xDSL 0.74's
riscv interpreter lacks, with the ISA's semantics on 32-bit registers.

* `lb`/`lbu`/`lh`/`lhu`/`sb`/`sh` (xDSL's and `riscv_mem`'s): byte and halfword access (int8 tensors need
  them: a `sw` of an int8 would clobber three neighbouring bytes);
* `lui` (its immediate also as a hex string: `riscv-fold-addressing` writes it so);
* `mulh`/`mulhu` (the high word of the signed / unsigned 64-bit product), `sltu`,
  `sra`/`srai` (arithmetic shifts: requantization), `srli`;
* `slli` (in `Rv32ExtraFunctions`: xDSL's raises once the shifted value leaves i32's
  range, as a narrow value's sign extension shifts it up);
* `div`/`rem` as the ISA defines them: truncating toward zero (xDSL's `div` floors, as
  Python's `//` does), division by zero giving -1 / the dividend, overflow the dividend;
* `fadd.s` and `fmul.s` rounded to float32 (xDSL's `fmul.s` keeps the double product);
* `andi`, `and`, `or`, `xor`, `xori`, `slti` (masks of zero-extensions, comparisons
  and requantization clamps).

Register values are Python ints (xDSL keeps them unbounded): every result here is
wrapped to 32 bits, signed, as the hardware register would hold it; so are `add`,
`sub` and `mul`, which xDSL has but does not wrap (a wide product would reach a store
out of range).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.dialects import rv32
from xdsl.dialects.riscv import ops as riscv
from xdsl.dialects.riscv.attrs import LabelAttr
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.interpreters.riscv import RiscvFunctions
from xdsl.interpreters.utils.ptr import RawPtr
from xdsl.ir import Operation
from xdsl.utils.comparisons import to_signed, to_unsigned

from xdeeploy.dialects import riscv_mem

XLEN = 32


def _wrap(value: int) -> int:
    """`value` as a 32-bit register holds it, read as signed."""
    return to_signed(value & 0xFFFFFFFF, XLEN)


def _imm(interpreter: Interpreter, op: Any) -> int:
    value = RiscvFunctions.get_immediate_value(interpreter, op.immediate)
    assert isinstance(value, int)
    return value


def _load(interpreter: Interpreter, op: Any, args: PythonValues, size: int, signed: bool):
    (base,) = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
    assert isinstance(base, RawPtr)
    raw = bytes((base + _imm(interpreter, op)).memoryview[:size])
    value = int.from_bytes(raw, "little", signed=signed)
    return RiscvFunctions.set_reg_values(interpreter, op.results, (value,))


def _store(interpreter: Interpreter, op: Any, args: PythonValues, size: int) -> PythonValues:
    base, value = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
    assert isinstance(base, RawPtr)
    target = base + _imm(interpreter, op)
    data = (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    target.memory[target.offset : target.offset + size] = data
    return ()


def _binary(interpreter: Interpreter, op: Any, args: PythonValues) -> tuple[int, int]:
    a, b = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
    return to_signed(int(a) & 0xFFFFFFFF, XLEN), to_signed(int(b) & 0xFFFFFFFF, XLEN)


def _result(interpreter: Interpreter, op: Any, value: int) -> PythonValues:
    return RiscvFunctions.set_reg_values(interpreter, op.results, (_wrap(value),))


def _load_impl(op_type: type[Operation], size: int, signed: bool) -> Any:
    @impl(op_type)
    def run(_: Any, interpreter: Interpreter, op: Operation, args: PythonValues):
        return _load(interpreter, op, args, size, signed)

    return run


def _store_impl(op_type: type[Operation], size: int) -> Any:
    @impl(op_type)
    def run(_: Any, interpreter: Interpreter, op: Operation, args: PythonValues):
        return _store(interpreter, op, args, size)

    return run


@register_impls
class RiscvExtraFunctions(InterpreterFunctions):
    """Register after xDSL's `RiscvFunctions` with `override=True` (div, rem)."""

    # Byte and halfword access: one implementation each for xDSL's op and ours.
    run_lb = _load_impl(riscv.LbOp, 1, signed=True)
    run_mem_lb = _load_impl(riscv_mem.LbOp, 1, signed=True)
    run_lbu = _load_impl(riscv.LbuOp, 1, signed=False)
    run_mem_lbu = _load_impl(riscv_mem.LbuOp, 1, signed=False)
    run_lh = _load_impl(riscv.LhOp, 2, signed=True)
    run_mem_lh = _load_impl(riscv_mem.LhOp, 2, signed=True)
    run_lhu = _load_impl(riscv.LhuOp, 2, signed=False)
    run_mem_lhu = _load_impl(riscv_mem.LhuOp, 2, signed=False)
    run_sb = _store_impl(riscv.SbOp, 1)
    run_mem_sb = _store_impl(riscv_mem.SbOp, 1)
    run_sh = _store_impl(riscv.ShOp, 2)
    run_mem_sh = _store_impl(riscv_mem.ShOp, 2)

    @impl(riscv.MulhOp)
    def run_mulh(self, interpreter: Interpreter, op: riscv.MulhOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, (a * b) >> XLEN)

    @impl(riscv.LuiOp)
    def run_lui(self, interpreter: Interpreter, op: riscv.LuiOp, args: PythonValues):
        imm = op.immediate
        upper = int(imm.data, 0) if isinstance(imm, LabelAttr) else _imm(interpreter, op)
        return _result(interpreter, op, (upper & 0xFFFFF) << 12)

    @impl(riscv.MulhuOp)
    def run_mulhu(self, interpreter: Interpreter, op: riscv.MulhuOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, (to_unsigned(a, XLEN) * to_unsigned(b, XLEN)) >> XLEN)

    @impl(riscv.SltuOp)
    def run_sltu(self, interpreter: Interpreter, op: riscv.SltuOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, int(to_unsigned(a, XLEN) < to_unsigned(b, XLEN)))

    @impl(riscv.SraOp)
    def run_sra(self, interpreter: Interpreter, op: riscv.SraOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, a >> (b & (XLEN - 1)))

    @impl(rv32.SraiOp)
    def run_srai(self, interpreter: Interpreter, op: rv32.SraiOp, args: PythonValues):
        (a,) = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        shift = _imm(interpreter, op) & (XLEN - 1)
        return _result(interpreter, op, to_signed(int(a) & 0xFFFFFFFF, XLEN) >> shift)

    @impl(rv32.SrliOp)
    def run_srli(self, interpreter: Interpreter, op: rv32.SrliOp, args: PythonValues):
        (a,) = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        shift = _imm(interpreter, op) & (XLEN - 1)
        return _result(interpreter, op, to_unsigned(int(a), XLEN) >> shift)

    @impl(riscv.DivOp)
    def run_div(self, interpreter: Interpreter, op: riscv.DivOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        if b == 0:
            return _result(interpreter, op, -1)
        quotient = abs(a) // abs(b)
        return _result(interpreter, op, quotient if (a < 0) == (b < 0) else -quotient)

    @impl(riscv.RemOp)
    def run_rem(self, interpreter: Interpreter, op: riscv.RemOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        if b == 0:
            return _result(interpreter, op, a)
        remainder = abs(a) % abs(b)
        return _result(interpreter, op, remainder if a >= 0 else -remainder)

    @impl(riscv.AndiOp)
    def run_andi(self, interpreter: Interpreter, op: riscv.AndiOp, args: PythonValues):
        (a,) = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        return _result(interpreter, op, int(a) & _imm(interpreter, op))

    @impl(riscv.AddOp)
    def run_add(self, interpreter: Interpreter, op: riscv.AddOp, args: PythonValues):
        a, b = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        value = a + b  # a pointer plus an offset stays a pointer
        return RiscvFunctions.set_reg_values(
            interpreter, op.results, (value if isinstance(value, RawPtr) else _wrap(value),)
        )

    @impl(riscv.SubOp)
    def run_sub(self, interpreter: Interpreter, op: riscv.SubOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, a - b)

    @impl(riscv.MulOp)
    def run_mul(self, interpreter: Interpreter, op: riscv.MulOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, a * b)

    @impl(riscv.XoriOp)
    def run_xori(self, interpreter: Interpreter, op: riscv.XoriOp, args: PythonValues):
        (a,) = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        return _result(interpreter, op, int(a) ^ _imm(interpreter, op))

    @impl(riscv.SltiOp)
    def run_slti(self, interpreter: Interpreter, op: riscv.SltiOp, args: PythonValues):
        (a,) = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        return _result(
            interpreter, op, int(to_signed(int(a) & 0xFFFFFFFF, XLEN) < _imm(interpreter, op))
        )

    @impl(riscv.AndOp)
    def run_and(self, interpreter: Interpreter, op: riscv.AndOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, a & b)

    @impl(riscv.OrOp)
    def run_or(self, interpreter: Interpreter, op: riscv.OrOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, a | b)

    @impl(riscv.XorOp)
    def run_xor(self, interpreter: Interpreter, op: riscv.XorOp, args: PythonValues):
        a, b = _binary(interpreter, op, args)
        return _result(interpreter, op, a ^ b)

    @impl(riscv.FMulSOp)
    def run_fmul_s(self, interpreter: Interpreter, op: riscv.FMulSOp, args: PythonValues):
        a, b = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        value = float(np.float32(a) * np.float32(b))
        return RiscvFunctions.set_reg_values(interpreter, op.results, (value,))

    @impl(riscv.FAddSOp)
    def run_fadd_s(self, interpreter: Interpreter, op: riscv.FAddSOp, args: PythonValues):
        a, b = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        value = float(np.float32(a) + np.float32(b))
        return RiscvFunctions.set_reg_values(interpreter, op.results, (value,))


@register_impls
class Rv32ExtraFunctions(InterpreterFunctions):
    """Register after xDSL's `Rv32Functions` with `override=True` (slli)."""

    @impl(rv32.SlliOp)
    def run_slli(self, interpreter: Interpreter, op: rv32.SlliOp, args: PythonValues):
        (a,) = RiscvFunctions.get_reg_values(interpreter, op.operands, args)
        shift = _imm(interpreter, op) & (XLEN - 1)
        return _result(interpreter, op, int(a) << shift)
