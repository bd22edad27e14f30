// riscv-pointer-induction: a loop-carried offset used only as base + offset (bytes, or
// words through a shift) is carried as the pointer: the add leaves the loop, the
// increment is scaled, and the base is no longer needed inside. An offset also used
// otherwise (here stored as a value) stays an offset.
// RUN: deeploy-opt %s -p riscv-pointer-induction,cse | filecheck %s

riscv_func.func @f(%a : !riscv.reg<a0>, %y : !riscv.reg<a1>, %n : !riscv.reg<a2>) {
  %base = riscv.mv %a : (!riscv.reg<a0>) -> !riscv.reg
  %out = riscv.mv %y : (!riscv.reg<a1>) -> !riscv.reg
  %zero = rv32.get_register : !riscv.reg<zero>
  %one = rv32.li 1 : !riscv.reg
  %init0, %init1, %init2 = riscv.parallel_mov %zero, %zero, %zero [32, 32, 32] : (!riscv.reg<zero>, !riscv.reg<zero>, !riscv.reg<zero>) -> (!riscv.reg, !riscv.reg, !riscv.reg)
  %r0, %r1, %r2 = riscv_scf.for %i : !riscv.reg = %zero : !riscv.reg<zero> to %n : !riscv.reg<a2> step %one : !riscv.reg iter_args(%ob = %init0, %ow = %init1, %oo = %init2) -> (!riscv.reg, !riscv.reg, !riscv.reg) {
    %p = riscv.add %base, %ob : (!riscv.reg, !riscv.reg) -> !riscv.reg
    %v = riscv_mem.lb %p, 1 : (!riscv.reg) -> !riscv.reg
    %sh = rv32.slli %ow, 2 : (!riscv.reg) -> !riscv.reg
    %q = riscv.add %out, %sh : (!riscv.reg, !riscv.reg) -> !riscv.reg
    riscv.sw %q, %v, 0 : (!riscv.reg, !riscv.reg) -> ()
    %u = riscv.add %out, %oo : (!riscv.reg, !riscv.reg) -> !riscv.reg
    riscv.sw %u, %oo, 0 : (!riscv.reg, !riscv.reg) -> ()
    %nb = riscv.addi %ob, 3 : (!riscv.reg) -> !riscv.reg
    %nw = riscv.addi %ow, 1 : (!riscv.reg) -> !riscv.reg
    %no = riscv.addi %oo, 1 : (!riscv.reg) -> !riscv.reg
    riscv_scf.yield %nb, %nw, %no : !riscv.reg, !riscv.reg, !riscv.reg
  }
  riscv_func.return
}

// CHECK-LABEL: riscv_func.func @f
// The adds move ahead of the loop's initial copies, then out of it.
// CHECK-DAG:     %[[PB:.*]] = riscv.add %base, %zero
// CHECK-DAG:     %[[SW:.*]] = rv32.slli %zero, 2
// CHECK-DAG:     %[[PW:.*]] = riscv.add %out, %[[SW]]
// CHECK:         %{{.*}}, %{{.*}}, %{{.*}} = riscv.parallel_mov %[[PB]], %[[PW]], %zero
// CHECK:         riscv_scf.for %i : !riscv.reg = {{.*}} iter_args(%[[B:.*]] = %{{.*}}, %[[W:.*]] = %{{.*}}, %[[O:.*]] = %{{.*}})
// CHECK-NEXT:      %[[V:.*]] = riscv_mem.lb %[[B]], 1
// CHECK-NEXT:      riscv.sw %[[W]], %[[V]], 0
// CHECK-NEXT:      %[[U:.*]] = riscv.add %out, %[[O]]
// CHECK-NEXT:      riscv.sw %[[U]], %[[O]], 0
// CHECK-NEXT:      %{{.*}} = riscv.addi %[[B]], 3
// CHECK-NEXT:      %{{.*}} = riscv.addi %[[W]], 4
// CHECK-NEXT:      %{{.*}} = riscv.addi %[[O]], 1
