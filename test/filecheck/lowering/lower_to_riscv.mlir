// lower-to-riscv: a memref-level int8 kernel (an elementwise add on an L1 tile) down to
// register-allocated riscv, printed by xDSL's riscv-asm target as GNU assembly: byte
// loads and stores (never lw/sw on int8), a counted loop, the arguments in a0..a2.
// RUN: deeploy-opt %s -p lower-to-riscv -t riscv-asm | filecheck %s
// RUN: deeploy-opt %s -p 'lower-to-riscv{allocate=false}' | filecheck %s --check-prefix=IR

func.func @add_i8(%a: memref<16xi8>, %b: memref<16xi8>, %y: memref<16xi8>) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c16 step %c1 {
    %x = memref.load %a[%i] : memref<16xi8>
    %z = memref.load %b[%i] : memref<16xi8>
    %s = arith.addi %x, %z : i8
    memref.store %s, %y[%i] : memref<16xi8>
  }
  func.return
}

// CHECK:       .globl add_i8
// CHECK:       add_i8:
// CHECK-NOT:   lw
// CHECK:       lb [[X:[a-z0-9]+]], 0({{[a-z0-9]+}})
// CHECK:       lb [[Z:[a-z0-9]+]], 0({{[a-z0-9]+}})
// CHECK:       add [[S:[a-z0-9]+]], [[X]], [[Z]]
// CHECK:       sb [[S]], 0({{[a-z0-9]+}})
// CHECK:       blt
// CHECK-NOT:   sw
// CHECK:       ret

// IR-LABEL: riscv_func.func public @add_i8
// IR:         riscv_scf.for
// IR:           riscv_mem.lb
// IR:           riscv_mem.lb
// IR:           riscv.add
// IR:           riscv_mem.sb
