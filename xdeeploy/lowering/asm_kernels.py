"""The hot kernels as memref-level IR on static L1 tile shapes, for `lower-to-riscv`.

Each is the loop nest of its C kernel in `runtime_c` with the same order of operations
(so a float result is bit-identical): the i-k-j matmul accumulating into the output row,
the elementwise add wrapping at the element width. The shapes are static: a kernel is
specialised per tile shape, as the tiles of a network are.
"""

from __future__ import annotations


def add_i8(name: str, n: int) -> str:
    """y[i] = a[i] + b[i] on int8, wrapping (xd_binary_int, XD_ADD, XD_T_I8, no broadcast)."""
    return f"""
func.func @{name}(%a: memref<{n}xi8>, %b: memref<{n}xi8>, %y: memref<{n}xi8>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {n} : index
  scf.for %i = %c0 to %n step %c1 {{
    %x = memref.load %a[%i] : memref<{n}xi8>
    %z = memref.load %b[%i] : memref<{n}xi8>
    %s = arith.addi %x, %z : i8
    memref.store %s, %y[%i] : memref<{n}xi8>
  }}
  func.return
}}
"""


def matmul(name: str, m: int, k: int, n: int, elem: str) -> str:
    """out (m x n) = a (m x k) @ b (k x n) on flat buffers, `elem` "i8" (int8 operands,
    int32 sums, as xd_matmul_int) or "f32" (xd_matmul_f32).

    Each output is a dot product summed in a register, p = 0, 1, … in order: the C
    kernel's i-k-j loop adds into each output in that same order, so floats round
    identically. The operand offsets are carried by the loops (no index multiply per
    access)."""
    if elem == "i8":
        acc, zero = "i32", "arith.constant 0 : i32"
        widen = ("%xa = arith.extsi %ea : i8 to i32", "%xb = arith.extsi %eb : i8 to i32")
        va, vb, mul, add = "%xa", "%xb", "arith.muli", "arith.addi"
    else:
        acc, zero = "f32", "arith.constant 0.0 : f32"
        widen = ("", "")
        va, vb, mul, add = "%ea", "%eb", "arith.mulf", "arith.addf"
    return f"""
func.func @{name}(%a: memref<{m * k}x{elem}>, %b: memref<{k * n}x{elem}>, %out: memref<{m * n}x{acc}>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = arith.constant {m} : index
  %k = arith.constant {k} : index
  %n = arith.constant {n} : index
  %zero = {zero}
  scf.for %i = %c0 to %m step %c1 {{
    %arow = arith.muli %i, %k : index
    %aend = arith.addi %arow, %k : index
    %orow = arith.muli %i, %n : index
    scf.for %j = %c0 to %n step %c1 {{
      %sum, %pb = scf.for %pa = %arow to %aend step %c1 iter_args(%s = %zero, %ob = %j) -> ({acc}, index) {{
        %ea = memref.load %a[%pa] : memref<{m * k}x{elem}>
        %eb = memref.load %b[%ob] : memref<{k * n}x{elem}>
        {widen[0]}
        {widen[1]}
        %prod = {mul} {va}, {vb} : {acc}
        %t = {add} %s, %prod : {acc}
        %next = arith.addi %ob, %n : index
        scf.yield %t, %next : {acc}, index
      }}
      %o = arith.addi %orow, %j : index
      memref.store %sum, %out[%o] : memref<{m * n}x{acc}>
    }}
  }}
  func.return
}}
"""
