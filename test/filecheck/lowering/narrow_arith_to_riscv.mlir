// convert-narrow-arith-to-riscv: extensions of 8- and 16-bit integers normalise the
// register (shift up, then arithmetic or logical shift down; a byte's zero-extension is
// one andi); a truncation keeps the register, its low bits being the value.
// RUN: deeploy-opt %s -p convert-narrow-arith-to-riscv | filecheck %s
// RUN: deeploy-opt %s -p convert-narrow-memref-to-riscv,convert-narrow-arith-to-riscv | filecheck %s --check-prefix=LOADED

func.func @casts(%b: i8, %h: i16, %w: i32) -> (i32, i32, i32, i32, i8) {
  %sb = arith.extsi %b : i8 to i32
  %ub = arith.extui %b : i8 to i32
  %sh = arith.extsi %h : i16 to i32
  %uh = arith.extui %h : i16 to i32
  %t = arith.trunci %w : i32 to i8
  func.return %sb, %ub, %sh, %uh, %t : i32, i32, i32, i32, i8
}

// CHECK-LABEL: func.func @casts
// CHECK:         %[[B:.*]] = builtin.unrealized_conversion_cast %b : i8 to !riscv.reg
// CHECK-NEXT:    %[[UP:.*]] = rv32.slli %[[B]], 24
// CHECK-NEXT:    %[[SB:.*]] = rv32.srai %[[UP]], 24
// CHECK:         riscv.andi %{{.*}}, 255
// CHECK:         rv32.slli %{{.*}}, 16
// CHECK-NEXT:    rv32.srai %{{.*}}, 16
// CHECK:         rv32.slli %{{.*}}, 16
// CHECK-NEXT:    rv32.srli %{{.*}}, 16
// CHECK:         %[[W:.*]] = builtin.unrealized_conversion_cast %w : i32 to !riscv.reg
// CHECK-NEXT:    %{{.*}} = builtin.unrealized_conversion_cast %[[W]] : !riscv.reg to i8
// CHECK-NOT:     arith.

// A comparison's i1 is 0 or 1 in its register, and lbu/lhu already zero-extend: their
// zero-extensions cost nothing; another i1 is masked to its low bit.
func.func @free_zero_extensions(%p: memref<4xui8>, %a: i32, %b: i32) -> (i32, i32, i32) {
  %c0 = arith.constant 0 : index
  %v = memref.load %p[%c0] : memref<4xui8>
  %w = arith.extui %v : ui8 to i32
  %lt = arith.cmpi slt, %a, %b : i32
  %z = arith.extui %lt : i1 to i32
  %t = arith.constant true
  %o = arith.extui %t : i1 to i32
  func.return %w, %z, %o : i32, i32, i32
}

// LOADED-LABEL: func.func @free_zero_extensions
// LOADED:         %[[V:.*]] = riscv_mem.lbu
// LOADED-NEXT:    %[[VI:.*]] = builtin.unrealized_conversion_cast %[[V]] : !riscv.reg to ui8
// LOADED-NEXT:    %[[R:.*]] = builtin.unrealized_conversion_cast %[[VI]] : ui8 to !riscv.reg
// LOADED-NEXT:    %{{.*}} = builtin.unrealized_conversion_cast %[[R]] : !riscv.reg to i32
// LOADED:         %[[LT:.*]] = arith.cmpi slt
// LOADED-NEXT:    %[[L:.*]] = builtin.unrealized_conversion_cast %[[LT]] : i1 to !riscv.reg
// LOADED-NEXT:    %{{.*}} = builtin.unrealized_conversion_cast %[[L]] : !riscv.reg to i32
// Any other i1 (`true` is held as -1) keeps only its low bit.
// LOADED-NEXT:    %[[T:.*]] = arith.constant true
// LOADED-NEXT:    %[[TR:.*]] = builtin.unrealized_conversion_cast %[[T]] : i1 to !riscv.reg
// LOADED-NEXT:    %{{.*}} = riscv.andi %[[TR]], 1
// CHECK-LABEL: func.func @free_zero_extensions
