// riscv-forward-moves: a move between unallocated registers disappears, its uses reading
// the source; a move out of an argument register (allocated) stays, freeing it.
// RUN: deeploy-opt %s -p riscv-forward-moves | filecheck %s

riscv_func.func @f(%arg : !riscv.reg<a0>) {
  %a = riscv.mv %arg : (!riscv.reg<a0>) -> !riscv.reg
  %b = riscv.mv %a : (!riscv.reg) -> !riscv.reg
  %c = riscv.add %a, %b : (!riscv.reg, !riscv.reg) -> !riscv.reg
  riscv_func.return
}

// CHECK:      %a = riscv.mv %arg : (!riscv.reg<a0>) -> !riscv.reg
// CHECK-NEXT: %c = riscv.add %a, %a : (!riscv.reg, !riscv.reg) -> !riscv.reg
// CHECK-NOT:  riscv.mv
