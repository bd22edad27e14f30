// convert-kernel-to-asm: a hot integer kernel call becomes a kernel.asm_call of a
// func.func made for its static arguments (shapes, strides, types), at memref level for
// lower-to-riscv. Calls with equal arguments share one kernel; what the asm kernels do
// not handle (here a 64-bit output) stays a C call. A requantization whose
// `kernel.requant_range` fits int32 gets a kernel of its own, in 32-bit arithmetic.
// RUN: deeploy-opt %s -p convert-kernel-to-asm | filecheck %s
// RUN: deeploy-opt %s -p convert-kernel-to-asm | filecheck %s --check-prefix=NARROW

func.func @main(%a: memref<2x3xi8>, %b: memref<3x4xi8>, %y: memref<2x4xi32>, %z: memref<2x4xi32>, %w: memref<2x4xi64>, %q: memref<2x4xi8>) {
  kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_I8, %y, XD_T_I32, 2 : i32, 3 : i32, 4 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) {dnn.node = "mm"} : memref<2x3xi8>, memref<3x4xi8>, memref<2x4xi32>
  kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_I8, %z, XD_T_I32, 2 : i32, 3 : i32, 4 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) : memref<2x3xi8>, memref<3x4xi8>, memref<2x4xi32>
  kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_I8, %w, XD_T_I64, 2 : i32, 3 : i32, 4 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) : memref<2x3xi8>, memref<3x4xi8>, memref<2x4xi64>
  kernel.call @xd_binary_int(XD_ADD, XD_T_I32, %y, %z, %z, 2 : i32, array<i32: 2, 4>, array<i32: 4, 1>, array<i32: 4, 1>) : memref<2x4xi32>, memref<2x4xi32>, memref<2x4xi32>
  kernel.call @xd_requant_shift(%y, XD_T_I32, %z, XD_T_I32, %z, XD_T_I32, %q, XD_T_I8, 2 : i32, array<i32: 2, 4>, array<i32: 4, 1>, array<i32: 0, 1>, array<i32: 4, 0>, 8 : i32, -128 : i32, 127 : i32) : memref<2x4xi32>, memref<2x4xi32>, memref<2x4xi32>, memref<2x4xi8>
  kernel.call @xd_requant_shift(%y, XD_T_I32, %z, XD_T_I32, %z, XD_T_I32, %q, XD_T_I8, 2 : i32, array<i32: 2, 4>, array<i32: 4, 1>, array<i32: 0, 1>, array<i32: 4, 0>, 8 : i32, -128 : i32, 127 : i32) {kernel.requant_range = array<i64: -1000000, 1000000>} : memref<2x4xi32>, memref<2x4xi32>, memref<2x4xi32>, memref<2x4xi8>
  func.return
}

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    kernel.asm_call @[[MM:xd_asm_matmul_int_[0-9a-f]+]](%a, %b, %y) {dnn.node = "mm"} : memref<2x3xi8>, memref<3x4xi8>, memref<2x4xi32>
// CHECK-NEXT:    kernel.asm_call @[[MM]](%a, %b, %z) : memref<2x3xi8>, memref<3x4xi8>, memref<2x4xi32>
// CHECK-NEXT:    kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_I8, %w, XD_T_I64,
// CHECK-NEXT:    kernel.asm_call @[[ADD:xd_asm_binary_int_[0-9a-f]+]](%y, %z, %z)
// CHECK-NEXT:    kernel.asm_call @[[RQ:xd_asm_requant_shift_[0-9a-f]+]](%y, %z, %z, %q)
// CHECK-NEXT:    kernel.asm_call @{{xd_asm_requant_shift_[0-9a-f]+}}(%y, %z, %z, %q) {kernel.requant_range = array<i64: -1000000, 1000000>}
// CHECK-NEXT:    func.return
// NARROW:        kernel.asm_call @[[RQ32:xd_asm_requant_shift_[0-9a-f]+]](%y, %z, %z, %q) {kernel.requant_range

// The elementwise add walks its 2x4 elements as one run of 8 (contiguous in every
// operand), each operand with its own offset (riscv-pointer-induction makes them
// pointers).
// CHECK:       func.func @[[ADD]](%a: memref<8xi32>, %b: memref<8xi32>, %y: memref<8xi32>) attributes {kernel.asm = "xd_binary_int"}
// CHECK:         scf.for {{.*}} to %c8_index step %c1_index iter_args(%[[OA:.*]] = %c0_index, %[[OB:.*]] = %c0_index, %[[OY:.*]] = %c0_index) -> (index, index, index) {
// CHECK-NEXT:      %[[X:.*]] = memref.load %a[%[[OA]]] : memref<8xi32>
// CHECK-NEXT:      %[[Z:.*]] = memref.load %b[%[[OB]]] : memref<8xi32>
// CHECK-NEXT:      %[[S:.*]] = arith.addi %[[X]], %[[Z]] : i32
// CHECK-NEXT:      memref.store %[[S]], %y[%[[OY]]] : memref<8xi32>

// The matmul: four output columns per dot-product loop (a[i][p] loaded once for the
// four), b stepping by its row (4), the columns at b + 1, b + 2, b + 3.
// CHECK:       func.func @[[MM]](%a: memref<6xi8>, %b: memref<12xi8>, %y: memref<8xi32>) attributes {kernel.asm = "xd_matmul_int"}
// CHECK:         scf.for %{{.*}} = %c0_index to %c3_index step %c1_index iter_args(%[[A0:.*]] = %c0_i32, %[[A1:.*]] = %c0_i32, %[[A2:.*]] = %c0_i32, %[[A3:.*]] = %c0_i32, %[[PA:.*]] = %{{.*}}, %[[PB:.*]] = %c0_index) -> (i32, i32, i32, i32, index, index) {
// CHECK-NEXT:      %[[EA:.*]] = memref.load %a[%[[PA]]] : memref<6xi8>
// CHECK-NEXT:      %[[XA:.*]] = arith.extsi %[[EA]] : i8 to i32
// CHECK-NEXT:      %[[EB:.*]] = memref.load %b[%[[PB]]] : memref<12xi8>
// CHECK-NEXT:      %[[XB:.*]] = arith.extsi %[[EB]] : i8 to i32
// CHECK-NEXT:      %[[P:.*]] = arith.muli %[[XA]], %[[XB]] : i32
// CHECK-NEXT:      %{{.*}} = arith.addi %[[A0]], %[[P]] : i32
// CHECK-NEXT:      %[[B1:.*]] = arith.addi %[[PB]], %c1_index : index
// CHECK-NEXT:      memref.load %b[%[[B1]]] : memref<12xi8>
// CHECK:           arith.addi %[[PB]], %c4_index : index
// CHECK-NEXT:      scf.yield

// The requantization: per element x * mul as a 64-bit product, + (add + 2^7) (add is
// constant along a row, so loaded and rounded before it), shifted right by 8 across
// the pair.
// CHECK:       func.func @[[RQ]](%x: memref<8xi32>, %mul: memref<8xi32>, %add: memref<8xi32>, %y: memref<8xi8>) attributes {kernel.asm = "xd_requant_shift"}
// CHECK:         memref.load %add
// CHECK:         arith.addi %{{.*}}, %c128_i32 : i32
// CHECK:         scf.for
// CHECK:           memref.load %x
// CHECK:           memref.load %mul
// CHECK:           arith.mulsi_extended
// CHECK:           arith.shrui %{{.*}}, %c8_i32 : i32
// CHECK:           arith.shli %{{.*}}, %c24_i32 : i32
// CHECK:           arith.trunci %{{.*}} : i32 to i8

// Proved within int32: one multiply, the add (rounded once per row), one arithmetic
// shift, the clamps.
// NARROW:      func.func @[[RQ32]](%x: memref<8xi32>, %mul: memref<8xi32>, %add: memref<8xi32>, %y: memref<8xi8>) attributes {kernel.asm = "xd_requant_shift"}
// NARROW:          memref.load %add
// NARROW-NEXT:     %[[B32:.*]] = arith.addi %{{.*}}, %c128_i32 : i32
// NARROW-NEXT:     scf.for
// NARROW-NEXT:     %[[X32:.*]] = memref.load %x
// NARROW-NEXT:     %[[M32:.*]] = memref.load %mul
// NARROW-NEXT:     %[[P32:.*]] = arith.muli %[[X32]], %[[M32]] : i32
// NARROW-NEXT:     %[[S32:.*]] = arith.addi %[[P32]], %[[B32]] : i32
// NARROW-NEXT:     %{{.*}} = arith.shrsi %[[S32]], %c8_i32 : i32
// NARROW-NOT:      extended
// NARROW:          scf.yield
