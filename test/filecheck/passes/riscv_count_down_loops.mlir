// riscv-count-down-loops: a loop from 0 to a constant whose induction variable is
// unused counts down to the zero register: its bound is loaded just before it, not
// kept in a register through it. A loop using its induction variable stays.
// RUN: deeploy-opt %s -p riscv-count-down-loops | filecheck %s

riscv_func.func @f(%p : !riscv.reg<a0>) {
  %zero = rv32.get_register : !riscv.reg<zero>
  %n = rv32.li 8 : !riscv.reg
  %init = riscv.mv %p : (!riscv.reg<a0>) -> !riscv.reg
  %r = riscv_scf.for %i : !riscv.reg = %zero : !riscv.reg<zero> to %n : !riscv.reg step 1 : si12 iter_args(%q = %init) -> (!riscv.reg) {
    %next = riscv.addi %q, 4 : (!riscv.reg) -> !riscv.reg
    riscv_scf.yield %next : !riscv.reg
  }
  riscv_scf.for %j : !riscv.reg = %zero : !riscv.reg<zero> to %n : !riscv.reg step 1 : si12 {
    riscv.sw %r, %j, 0 : (!riscv.reg, !riscv.reg) -> ()
    riscv_scf.yield
  }
  riscv_func.return
}

// CHECK-LABEL: riscv_func.func @f
// CHECK:         %init = riscv.mv %p
// CHECK-NEXT:    %[[N:.*]] = rv32.li 8 : !riscv.reg
// CHECK-NEXT:    %[[Z:.*]] = rv32.get_register : !riscv.reg<zero>
// CHECK-NEXT:    %{{.*}} = riscv_scf.rof %{{.*}} : !riscv.reg = %[[N]] : !riscv.reg down to %[[Z]] : !riscv.reg<zero> step 1 : si12 iter_args
// CHECK:         riscv_scf.for %j
