"""memref-level integer kernels lowered to xDSL's `riscv` dialects (with our narrow
loads and stores) compute, in xDSL's interpreter extended by `interp/riscv_extra.py`,
what numpy computes with C's int8/int32 semantics; and each added instruction follows
the RISC-V ISA on edge values."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_riscv
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.riscv.abstract_ops import riscv_code
from xdsl.parser import Parser

from xdeeploy.interp.reference import matmul as reference_matmul
from xdeeploy.lowering.asm_kernels import matmul
from xdeeploy.lowering.riscv_pipeline import LowerToRiscv
from xdeeploy.tools import rv32
from xdeeploy.universe import full_context

Array = np.ndarray[Any, Any]


def _lower(text: str, allocate: bool = False) -> ModuleOp:
    ctx = full_context()
    module = Parser(ctx, text).parse_module()
    LowerToRiscv(allocate=allocate).apply(ctx, module)
    module.verify()
    return module


needs_rv32 = pytest.mark.skipif(
    shutil.which(rv32.CC) is None or shutil.which(rv32.QEMU) is None,
    reason=f"{rv32.CC} / {rv32.QEMU} not installed (scripts/setup.sh installs them)",
)


def _bare_metal(folder: Path, kernel: ModuleOp, main_c: str) -> list[int]:
    """The kernel's `-t riscv-asm` text assembled and linked with `main_c` for rv32-virt,
    run on one hart; the integers the program printed."""
    (folder / "kernel.S").write_text(riscv_code(kernel))
    (folder / "main.c").write_text(main_c)
    rv32.stage_runtime(folder)
    cmd = rv32.link_command(["main.c", "kernel.S", "runtime/src/cluster.c"], "k.elf", 1, [])
    built = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    run = rv32.run_qemu(folder, "k.elf", 1, timeout=60)
    return [int(v) for v in (run.stdout + run.stderr).split()]  # semihosting prints on stderr


ADD_I8 = """
func.func @add_i8(%a: memref<37xi8>, %b: memref<37xi8>, %y: memref<37xi8>) {
  %c0 = arith.constant 0 : index
  %n = arith.constant 37 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %a[%i] : memref<37xi8>
    %z = memref.load %b[%i] : memref<37xi8>
    %s = arith.addi %x, %z : i8
    memref.store %s, %y[%i] : memref<37xi8>
  }
  func.return
}
"""


@pytest.mark.parametrize("seed", range(3))
def test_int8_add_wraps_like_c_and_leaves_neighbours_alone(seed: int) -> None:
    r = np.random.default_rng(seed)
    a = r.integers(-128, 128, 37, dtype=np.int8)
    b = r.integers(-128, 128, 37, dtype=np.int8)
    # One byte more than the kernel writes: a word store at the end would clobber it.
    y = np.full(40, 0x5A, dtype=np.uint8).view(np.int8)
    _, _, got = run_riscv(_lower(ADD_I8), "add_i8", a, b, y)
    want = (a.astype(np.int32) + b.astype(np.int32)).astype(np.int8)  # two's complement wrap
    assert np.array_equal(got[:37], want)
    assert np.all(got[37:] == np.int8(0x5A))


DOT_I8 = """
func.func @dot(%a: memref<3x16xi8>, %w: memref<16xi8>, %y: memref<3xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %rows = arith.constant 3 : index
  %k = arith.constant 16 : index
  %zero = arith.constant 0 : i32
  scf.for %i = %c0 to %rows step %c1 {
    %acc = scf.for %p = %c0 to %k step %c1 iter_args(%s = %zero) -> (i32) {
      %x = memref.load %a[%i, %p] : memref<3x16xi8>
      %v = memref.load %w[%p] : memref<16xi8>
      %xw = arith.extsi %x : i8 to i32
      %vw = arith.extui %v : i8 to i32
      %m = arith.muli %xw, %vw : i32
      %t = arith.addi %s, %m : i32
      scf.yield %t : i32
    }
    memref.store %acc, %y[%i] : memref<3xi32>
  }
  func.return
}
"""


def test_signed_by_unsigned_dot_products_match_numpy() -> None:
    r = np.random.default_rng(5)
    a = r.integers(-128, 128, (3, 16), dtype=np.int8)
    w = r.integers(0, 256, 16, dtype=np.uint8)  # stored as i8, read with extui
    y = np.zeros(3, dtype=np.int32)
    _, _, got = run_riscv(_lower(DOT_I8), "dot", a, w.view(np.int8), y)
    assert np.array_equal(got, a.astype(np.int32) @ w.astype(np.int32))


ISA = """
riscv_func.func @isa(%p : !riscv.reg<a0>) {
  %a = riscv.lw %p, 0 : (!riscv.reg<a0>) -> !riscv.reg
  %b = riscv.lw %p, 4 : (!riscv.reg<a0>) -> !riscv.reg
  %div = riscv.div %a, %b : (!riscv.reg, !riscv.reg) -> !riscv.reg
  riscv.sw %p, %div, 8 : (!riscv.reg<a0>, !riscv.reg) -> ()
  %rem = riscv.rem %a, %b : (!riscv.reg, !riscv.reg) -> !riscv.reg
  riscv.sw %p, %rem, 12 : (!riscv.reg<a0>, !riscv.reg) -> ()
  %mulh = riscv.mulh %a, %b : (!riscv.reg, !riscv.reg) -> !riscv.reg
  riscv.sw %p, %mulh, 16 : (!riscv.reg<a0>, !riscv.reg) -> ()
  %sra = riscv.sra %a, %b : (!riscv.reg, !riscv.reg) -> !riscv.reg
  riscv.sw %p, %sra, 20 : (!riscv.reg<a0>, !riscv.reg) -> ()
  %srai = rv32.srai %a, 3 : (!riscv.reg) -> !riscv.reg
  riscv.sw %p, %srai, 24 : (!riscv.reg<a0>, !riscv.reg) -> ()
  %srli = rv32.srli %a, 3 : (!riscv.reg) -> !riscv.reg
  riscv.sw %p, %srli, 28 : (!riscv.reg<a0>, !riscv.reg) -> ()
  %lbu = riscv.lbu %p, 0 : (!riscv.reg<a0>) -> !riscv.reg
  riscv.sw %p, %lbu, 32 : (!riscv.reg<a0>, !riscv.reg) -> ()
  %lh = riscv.lh %p, 0 : (!riscv.reg<a0>) -> !riscv.reg
  riscv.sh %p, %lh, 36 : (!riscv.reg<a0>, !riscv.reg) -> ()
  riscv_func.return
}
"""


def _c_div(a: int, b: int) -> tuple[int, int]:
    """C99 / and % on int32 (the ISA's div/rem for b != 0, no overflow)."""
    q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
    return q, a - q * b


@pytest.mark.parametrize(
    ("a", "b"), [(-7, 2), (7, -2), (-(2**31), -1), (5, 0), (-123456789, 31), (2**31 - 1, 3)]
)
def test_added_instructions_follow_the_isa(a: int, b: int) -> None:
    module = Parser(full_context(), ISA).parse_module()
    buf = np.zeros(10, dtype=np.int32)
    buf[:2] = a, b
    (out,) = run_riscv(module, "isa", buf)
    # Independent reference: numpy int64 arithmetic wrapped to int32, and the ISA's
    # special cases (division by zero, the one overflowing division).
    if b == 0:
        q, r = -1, a
    elif (a, b) == (-(2**31), -1):
        q, r = a, 0
    else:
        q, r = _c_div(a, b)
    assert out[2] == np.int32(q) and out[3] == np.int32(r)
    assert out[4] == np.int32((np.int64(a) * np.int64(b)) >> 32)
    assert out[5] == np.int32(a) >> (b & 31)
    assert out[6] == np.int32(a) >> 3
    assert out[7] == ((a & 0xFFFFFFFF) >> 3)  # logical: below 2**29, no sign
    assert out[8] == (a & 0xFF)  # lbu: the low byte, zero-extended
    halves = out.view(np.int16)
    assert halves[18] == np.int32(a).astype(np.int16)  # sh of lh: the low half, signed
    assert halves[19] == 0  # sh wrote two bytes only


@needs_rv32
def test_printed_assembly_runs_bare_metal(tmp_path: Path) -> None:
    """`-t riscv-asm` of the lowered kernel assembles with GNU as, links with a C caller
    and computes on QEMU what numpy computes, leaving the byte after the output alone."""
    r = np.random.default_rng(9)
    a = r.integers(-128, 128, 37, dtype=np.int8)
    b = r.integers(-128, 128, 37, dtype=np.int8)

    def c_array(values: Array) -> str:
        return "{" + ", ".join(str(int(v)) for v in values) + "}"

    main_c = (
        "#include <stdint.h>\n#include <stdio.h>\n"
        "void add_i8(const int8_t *a, const int8_t *b, int8_t *y);\n"
        f"static const int8_t a[37] = {c_array(a)};\n"
        f"static const int8_t b[37] = {c_array(b)};\n"
        "static int8_t y[40] = {0};\n"
        "int main(void) {\n"
        "    int i;\n"
        "    for (i = 0; i < 40; ++i) y[i] = 90;\n"
        "    add_i8(a, b, y);\n"
        '    for (i = 0; i < 40; ++i) printf("%d ", y[i]);\n'
        '    printf("\\n");\n'
        "    return 0;\n"
        "}\n"
    )
    got = np.array(_bare_metal(tmp_path, _lower(ADD_I8, allocate=True), main_c))
    want = (a.astype(np.int32) + b.astype(np.int32)).astype(np.int8)
    assert np.array_equal(got[:37], want) and np.all(got[37:] == 90)


@pytest.mark.parametrize(("m", "k", "n"), [(1, 64, 8), (3, 5, 7), (4, 16, 4)])
def test_int8_matmul_kernel_sums_exactly(m: int, k: int, n: int) -> None:
    r = np.random.default_rng(m * 100 + k)
    a = r.integers(-128, 128, (m, k), dtype=np.int8)
    b = r.integers(-128, 128, (k, n), dtype=np.int8)
    out = np.full((m, n), -1, dtype=np.int32)  # the kernel must write every element
    _, _, got = run_riscv(_lower(matmul("mm", m, k, n, "i8")), "mm", a, b, out)
    assert np.array_equal(got, a.astype(np.int32) @ b.astype(np.int32))


@pytest.mark.parametrize(("m", "k", "n"), [(1, 13, 8), (3, 5, 7)])
def test_float_matmul_kernel_rounds_as_the_c_kernel(m: int, k: int, n: int) -> None:
    """Bit-identical to the interpreter's model of xd_matmul_f32 (i-k-j, float32 steps)."""
    r = np.random.default_rng(k)
    a = r.standard_normal((m, k)).astype(np.float32)
    b = r.standard_normal((k, n)).astype(np.float32)
    out = np.full((m, n), np.nan, dtype=np.float32)
    _, _, got = run_riscv(_lower(matmul("mm", m, k, n, "f32")), "mm", a, b, out)
    assert got.tobytes() == reference_matmul(a, b).tobytes()


@needs_rv32
def test_matmul_assembly_keeps_the_callers_saved_registers(tmp_path: Path) -> None:
    """The int8 matmul needs the s registers: its prologue/epilogue must give the caller
    back the values it keeps there across the call (here twelve live locals)."""
    m, k, n = 4, 64, 16
    module = _lower(matmul("mm", m, k, n, "i8"), allocate=True)
    assert re.search(r"\bs\d+\b", riscv_code(module)), "the kernel uses saved registers"
    r = np.random.default_rng(2)
    a = r.integers(-128, 128, (m, k), dtype=np.int8)
    b = r.integers(-128, 128, (k, n), dtype=np.int8)
    main_c = (
        "#include <stdint.h>\n#include <stdio.h>\n"
        "void mm(const int8_t *a, const int8_t *b, int32_t *y);\n"
        f"static const int8_t a[{m * k}] = {{{', '.join(map(str, a.reshape(-1)))}}};\n"
        f"static const int8_t b[{k * n}] = {{{', '.join(map(str, b.reshape(-1)))}}};\n"
        f"static int32_t y[{m * n}];\n"
        "static volatile int32_t seed = 3;\n"
        "int main(void) {\n"
        "    int32_t v[12], i, before = 0, after = 0;\n"
        "    for (i = 0; i < 12; ++i) v[i] = seed * (i + 7);\n"
        "    int32_t l0 = v[0], l1 = v[1], l2 = v[2], l3 = v[3], l4 = v[4], l5 = v[5];\n"
        "    int32_t l6 = v[6], l7 = v[7], l8 = v[8], l9 = v[9], l10 = v[10], l11 = v[11];\n"
        "    for (i = 0; i < 12; ++i) before += v[i] * (i + 1);\n"
        "    mm(a, b, y);\n"
        "    after = l0 + 2 * l1 + 3 * l2 + 4 * l3 + 5 * l4 + 6 * l5 + 7 * l6 + 8 * l7"
        " + 9 * l8 + 10 * l9 + 11 * l10 + 12 * l11;\n"
        f'    printf("%d ", (int)(before == after));\n'
        f'    for (i = 0; i < {m * n}; ++i) printf("%ld ", (long)y[i]);\n'
        "    return 0;\n"
        "}\n"
    )
    values = _bare_metal(tmp_path, module, main_c)
    assert values[0] == 1, "a saved register came back changed"
    assert np.array_equal(
        np.array(values[1:]), (a.astype(np.int32) @ b.astype(np.int32)).reshape(-1)
    )
