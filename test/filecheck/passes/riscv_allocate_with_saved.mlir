// riscv-allocate-registers-with-saved: xDSL's allocator, with s1..s11 after the 15 a/t
// registers: seventeen values live at once (a zero constant takes `zero`) get two saved
// registers, and nothing stays unallocated.
// RUN: deeploy-opt %s -p riscv-allocate-registers-with-saved | filecheck %s

riscv_func.func @many() {
  %v0 = rv32.li 0 : !riscv.reg
  %v1 = rv32.li 1 : !riscv.reg
  %v2 = rv32.li 2 : !riscv.reg
  %v3 = rv32.li 3 : !riscv.reg
  %v4 = rv32.li 4 : !riscv.reg
  %v5 = rv32.li 5 : !riscv.reg
  %v6 = rv32.li 6 : !riscv.reg
  %v7 = rv32.li 7 : !riscv.reg
  %v8 = rv32.li 8 : !riscv.reg
  %v9 = rv32.li 9 : !riscv.reg
  %v10 = rv32.li 10 : !riscv.reg
  %v11 = rv32.li 11 : !riscv.reg
  %v12 = rv32.li 12 : !riscv.reg
  %v13 = rv32.li 13 : !riscv.reg
  %v14 = rv32.li 14 : !riscv.reg
  %v15 = rv32.li 15 : !riscv.reg
  %v16 = rv32.li 16 : !riscv.reg
  %v17 = rv32.li 17 : !riscv.reg
  %s = riscv.add %v0, %v1 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %t = riscv.add %v2, %v3 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %u = riscv.add %v4, %v5 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %w = riscv.add %v6, %v7 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %x = riscv.add %v8, %v9 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %y = riscv.add %v10, %v11 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %z = riscv.add %v12, %v13 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %q = riscv.add %v14, %v15 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %r = riscv.add %v16, %v17 : (!riscv.reg, !riscv.reg) -> !riscv.reg
  riscv_func.return
}

// CHECK-LABEL: riscv_func.func @many
// CHECK-NOT:   !riscv.reg>
// CHECK-DAG:   !riscv.reg<s1>
// CHECK-DAG:   !riscv.reg<s2>
// CHECK-NOT:   !riscv.reg<s3>
