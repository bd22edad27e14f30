// convert-riscv-scf-rof-to-riscv-cf: an allocated riscv_scf.rof as labels and branches:
// the counter starts at `start`, the loop is skipped when stop >= start, and each
// iteration counts down by the step and branches back while stop < counter.
// RUN: deeploy-opt %s -p convert-riscv-scf-rof-to-riscv-cf | filecheck %s

riscv_func.func @f(%p : !riscv.reg<a0>) {
  %zero = rv32.get_register : !riscv.reg<zero>
  %n = rv32.li 8 : !riscv.reg<t0>
  %r = riscv_scf.rof %i : !riscv.reg<t1> = %n : !riscv.reg<t0> down to %zero : !riscv.reg<zero> step 1 : si12 iter_args(%q = %p) -> (!riscv.reg<a0>) {
    %next = riscv.addi %q, 4 : (!riscv.reg<a0>) -> !riscv.reg<a0>
    riscv_scf.yield %next : !riscv.reg<a0>
  }
  riscv_func.return
}

// CHECK-LABEL: riscv_func.func @f
// CHECK:         %[[I0:.*]] = riscv.mv %n : (!riscv.reg<t0>) -> !riscv.reg<t1>
// CHECK-NEXT:    riscv_cf.bge %zero : !riscv.reg<zero>, %[[I0]] : !riscv.reg<t1>
// CHECK:         riscv.label "scf_body_0_rof"
// CHECK:         riscv.addi %{{.*}}, 4
// CHECK-NEXT:    %[[DOWN:.*]] = riscv.addi %{{.*}}, -1 : (!riscv.reg<t1>) -> !riscv.reg<t1>
// CHECK-NEXT:    riscv_cf.blt %zero : !riscv.reg<zero>, %[[DOWN]] : !riscv.reg<t1>
// CHECK:         riscv.label "scf_body_end_0_rof"
