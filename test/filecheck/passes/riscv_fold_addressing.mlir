// riscv-fold-addressing: element addresses as base + index with the constant part in the
// access's immediate: a multiply by a power of two is a shift, constant offsets move out
// through the shift and the add into the load's or store's immediate.
// RUN: deeploy-opt %s -p riscv-fold-addressing,cse | filecheck %s

riscv_func.func @f(%base : !riscv.reg<a0>, %i : !riscv.reg<a1>, %v : !riscv.reg<a2>) {
  %b = riscv.mv %base : (!riscv.reg<a0>) -> !riscv.reg
  %x = riscv.mv %i : (!riscv.reg<a1>) -> !riscv.reg
  %four = rv32.li 4 : !riscv.reg
  %x3 = riscv.addi %x, 3 : (!riscv.reg) -> !riscv.reg
  %bytes = riscv.mul %x3, %four : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %p = riscv.add %b, %bytes : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %w = riscv.lw %p, 0 : (!riscv.reg) -> !riscv.reg
  %x1 = riscv.addi %x, 1 : (!riscv.reg) -> !riscv.reg
  %q = riscv.add %x1, %b : (!riscv.reg, !riscv.reg) -> !riscv.reg
  %s = riscv_mem.lb %q, 2 : (!riscv.reg) -> !riscv.reg
  riscv_mem.sb %q, %v, -1 : (!riscv.reg, !riscv.reg<a2>) -> ()
  %seven = rv32.li 7 : !riscv.reg
  %notpow = riscv.mul %x, %seven : (!riscv.reg, !riscv.reg) -> !riscv.reg
  riscv.sw %b, %w, 0 : (!riscv.reg, !riscv.reg) -> ()
  riscv.sw %b, %s, 4 : (!riscv.reg, !riscv.reg) -> ()
  riscv.sw %b, %notpow, 8 : (!riscv.reg, !riscv.reg) -> ()
  riscv_func.return
}

// CHECK-LABEL: riscv_func.func @f
// CHECK:         %[[X:.*]] = riscv.mv %i
// CHECK:         %[[SH:.*]] = rv32.slli %[[X]], 2
// CHECK-NEXT:    %[[P:.*]] = riscv.add %b, %[[SH]]
// CHECK-NEXT:    %{{.*}} = riscv.lw %[[P]], 12
// CHECK-NEXT:    %[[Q:.*]] = riscv.add %b, %[[X]]
// CHECK-NEXT:    %{{.*}} = riscv_mem.lb %[[Q]], 3
// CHECK-NEXT:    riscv_mem.sb %[[Q]], %v, 0
// CHECK:         riscv.mul %[[X]], %seven
