// convert-narrow-arith-to-riscv: extensions of 8- and 16-bit integers normalise the
// register (shift up, then arithmetic or logical shift down; a byte's zero-extension is
// one andi); a truncation keeps the register, its low bits being the value.
// RUN: deeploy-opt %s -p convert-narrow-arith-to-riscv | filecheck %s

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
