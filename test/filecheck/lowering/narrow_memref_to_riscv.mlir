// convert-narrow-memref-to-riscv: 8- and 16-bit integer loads and stores become riscv_mem.lb/lbu/lh/lhu
// and sb/sh (xDSL's convert-memref-to-riscv would use lw/sw and touch the neighbouring
// bytes); signless and signed elements sign-extend, unsigned ones zero-extend; 32-bit
// and float accesses are left to xDSL's pass.
// RUN: deeploy-opt %s -p convert-narrow-memref-to-riscv | filecheck %s

func.func @widths(%a: memref<4x8xi8>, %u: memref<8xui8>, %h: memref<8xi16>, %w: memref<8xi32>, %i: index, %j: index) {
  %x = memref.load %a[%i, %j] : memref<4x8xi8>
  %y = memref.load %u[%j] : memref<8xui8>
  %z = memref.load %h[%j] : memref<8xi16>
  %v = memref.load %w[%j] : memref<8xi32>
  memref.store %x, %a[%j, %i] : memref<4x8xi8>
  memref.store %y, %u[%i] : memref<8xui8>
  memref.store %z, %h[%i] : memref<8xi16>
  memref.store %v, %w[%i] : memref<8xi32>
  func.return
}

// CHECK-LABEL: func.func @widths
// A row of 8 bytes: the pointer is base + (i * 8 + j) * 1.
// CHECK:         %[[I:.*]] = builtin.unrealized_conversion_cast %i : index to !riscv.reg
// CHECK:         rv32.li 8
// CHECK:         riscv.mul %[[I]]
// CHECK:         %[[X:.*]] = riscv_mem.lb %{{.*}}, 0 {comment = "load memref<4x8xi8>"} : (!riscv.reg) -> !riscv.reg
// CHECK-NEXT:    %{{.*}} = builtin.unrealized_conversion_cast %[[X]] : !riscv.reg to i8
// CHECK:         riscv_mem.lbu %{{.*}}, 0 {comment = "load memref<8xui8>"}
// CHECK:         rv32.li 2
// CHECK:         riscv_mem.lh %{{.*}}, 0 {comment = "load memref<8xi16>"}
// CHECK:         %v = memref.load %w[%j] : memref<8xi32>
// CHECK:         riscv_mem.sb %{{.*}}, %{{.*}}, 0 {comment = "store memref<4x8xi8>"}
// CHECK:         riscv_mem.sb %{{.*}}, %{{.*}}, 0 {comment = "store memref<8xui8>"}
// CHECK:         riscv_mem.sh %{{.*}}, %{{.*}}, 0 {comment = "store memref<8xi16>"}
// CHECK:         memref.store %v, %w[%i] : memref<8xi32>
