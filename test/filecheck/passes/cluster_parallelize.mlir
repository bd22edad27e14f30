// cluster-parallelize: a kernel call splits along its outer dimension into one
// contiguous chunk per core: each core offsets the buffers it splits (a flat view, then
// a subview at core * chunk * row length) and calls the same kernel on fewer units; a
// remainder goes to one more core at a static offset. Buffers a core reads whole (a
// broadcast operand, the weights of a conv's output channels split) are passed as is.
// RUN: deeploy-opt %s -p 'cluster-parallelize{cores=4 min-work=0}' | filecheck %s
// RUN: deeploy-opt %s -p 'cluster-parallelize{cores=4}' | filecheck %s --check-prefix=WORK
// RUN: deeploy-opt %s -p 'cluster-parallelize{cores=1}' | filecheck %s --check-prefix=ONE

// 10 rows on 4 cores: chunks of 3 rows for cores 0-2, the tenth row on core 3.
// CHECK-LABEL: func.func @softmax
// CHECK:         cluster.fork cores(4) {
// CHECK-NEXT:    ^bb0(%core: index):
// CHECK-NEXT:      %x_flat = memref.reinterpret_cast %x to offset: [0], sizes: [160], strides: [1]
// CHECK-NEXT:      %y_flat = memref.reinterpret_cast %y to offset: [0], sizes: [160], strides: [1]
// CHECK-NEXT:      %[[THREE:.*]] = arith.constant {dnn.node = "sm"} 3 : index
// CHECK-NEXT:      %[[FULL:.*]] = arith.cmpi ult, %core, %[[THREE]] : index
// CHECK-NEXT:      scf.if %[[FULL]] {
// CHECK-NEXT:        %[[ROWS:.*]] = arith.constant {dnn.node = "sm"} 48 : index
// CHECK-NEXT:        %[[OFF:.*]] = arith.muli %core, %[[ROWS]]
// CHECK-NEXT:        %x_core = memref.subview %x_flat[%[[OFF]]] [64] [1]
// CHECK-NEXT:        %y_core = memref.subview %y_flat[%[[OFF]]] [64] [1]
// CHECK-NEXT:        kernel.call @xd_softmax_f32(%x_core, %y_core, 3 : i32, 16 : i32, 1 : i32, 0 : i32)
// CHECK:           %[[LAST:.*]] = arith.cmpi eq, %core, %{{.*}} : index
// CHECK-NEXT:      scf.if %[[LAST]] {
// CHECK-NEXT:        %x_core_1 = memref.subview %x_flat[144] [16] [1]
// CHECK-NEXT:        %y_core_1 = memref.subview %y_flat[144] [16] [1]
// CHECK-NEXT:        kernel.call @xd_softmax_f32(%x_core_1, %y_core_1, 1 : i32, 16 : i32, 1 : i32, 0 : i32)
// CHECK:           cluster.join
// ONE-LABEL: func.func @softmax
// ONE-NOT:     cluster.fork
// ONE:         kernel.call @xd_softmax_f32(%x, %y, 10 : i32
func.func @softmax(%x: memref<10x16xf32>, %y: memref<10x16xf32>) {
  kernel.call @xd_softmax_f32(%x, %y, 10 : i32, 16 : i32, 1 : i32, 0 : i32) {dnn.node = "sm"} : memref<10x16xf32>, memref<10x16xf32>
  func.return
}

// One row (a matrix-vector product, as every projection of a decoding step): the
// columns split, each core calling the gemv kernel on a window of b whose rows stay
// 32 elements apart. No remainder: no condition.
// CHECK-LABEL: func.func @gemv
// CHECK:         cluster.fork cores(4) {
// CHECK-NEXT:    ^bb0(%core: index):
// CHECK-NEXT:      %b_flat = memref.reinterpret_cast %b to offset: [0], sizes: [2048]
// CHECK-NEXT:      %y_flat = memref.reinterpret_cast %y to offset: [0], sizes: [32]
// CHECK-NEXT:      %[[EIGHT:.*]] = arith.constant {dnn.node = "mm"} 8 : index
// CHECK-NEXT:      %[[OFF:.*]] = arith.muli %core, %[[EIGHT]] {dnn.node = "mm"} : index
// CHECK-NEXT:      %b_core = memref.subview %b_flat[%[[OFF]]] [2024] [1]
// CHECK-NEXT:      %y_core = memref.subview %y_flat[%[[OFF]]] [8] [1]
// CHECK-NEXT:      kernel.call @xd_gemv_f32(%a, %b_core, %y_core, 64 : i32, 8 : i32, 32 : i32)
// CHECK-NEXT:      cluster.join
func.func @gemv(%a: memref<1x64xf32>, %b: memref<64x32xf32>, %y: memref<1x32xf32>) {
  kernel.call @xd_matmul_f32(%a, %b, %y, 1 : i32, 64 : i32, 32 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) {dnn.node = "mm"} : memref<1x64xf32>, memref<64x32xf32>, memref<1x32xf32>
  func.return
}

// The integer gemv keeps the type enumerators next to their buffers.
// CHECK-LABEL: func.func @gemv_int
// CHECK:         kernel.call @xd_gemv_int(%a, XD_T_I8, %b_core, XD_T_I8, %y_core, XD_T_I32, 16 : i32, 2 : i32, 8 : i32)
func.func @gemv_int(%a: memref<1x16xi8>, %b: memref<16x8xi8>, %y: memref<1x8xi32>) {
  kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_I8, %y, XD_T_I32, 1 : i32, 16 : i32, 8 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) : memref<1x16xi8>, memref<16x8xi8>, memref<1x8xi32>
  func.return
}

// Broadcasting: the first dim larger than one splits; the broadcast operand (stride 0
// along it) is read whole by every core.
// CHECK-LABEL: func.func @add
// CHECK:         %x_core = memref.subview %x_flat[%[[OFF:.*]]] [64] [1]
// CHECK-NEXT:    %y_core = memref.subview %y_flat[%[[OFF]]] [64] [1]
// CHECK-NEXT:    kernel.call @xd_binary_f32(XD_ADD, %x_core, %v, %y_core, 3 : i32, array<i32: 1, 4, 16>, array<i32: 0, 16, 1>, array<i32: 0, 0, 1>)
func.func @add(%x: memref<1x16x16xf32>, %v: memref<16xf32>, %y: memref<1x16x16xf32>) {
  kernel.call @xd_binary_f32(XD_ADD, %x, %v, %y, 3 : i32, array<i32: 1, 16, 16>, array<i32: 0, 16, 1>, array<i32: 0, 0, 1>) : memref<1x16x16xf32>, memref<16xf32>, memref<1x16x16xf32>
  func.return
}

// Inside a tile loop the fork goes around the call: the transfers stay with the
// controller core, outside the fork.
// CHECK-LABEL: func.func @tiles
// CHECK:         scf.for
// CHECK-NEXT:      %xs = memref.subview
// CHECK-NEXT:      %{{.*}} = dma.start
// CHECK-NEXT:      dma.wait
// CHECK-NEXT:      cluster.fork cores(4) {
// CHECK:             kernel.call @xd_unary_f32(XD_EXP, %xt_core, %xt_core, 64 : i32
// CHECK:           }
// CHECK-NEXT:      %{{.*}} = dma.start
func.func @tiles(%x: memref<4x256xf32>) {
  %xt = memref.alloc() : memref<256xf32, "L1">
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %xs = memref.subview %x[%i, 0] [1, 256] [1, 1] : memref<4x256xf32> to memref<256xf32, strided<[1], offset: ?>>
    %t0 = dma.start %xs, %xt : memref<256xf32, strided<[1], offset: ?>>, memref<256xf32, "L1"> -> !dma.token
    dma.wait %t0 : !dma.token
    kernel.call @xd_unary_f32(XD_EXP, %xt, %xt, 256 : i32, 0.0 : f32, 0.0 : f32) : memref<256xf32, "L1">, memref<256xf32, "L1">
    %t1 = dma.start %xt, %xs : memref<256xf32, "L1">, memref<256xf32, strided<[1], offset: ?>> -> !dma.token
    dma.wait %t1 : !dma.token
  }
  func.return
}

// Too little work for a fork (default min-work 64 elements): the call stays.
// WORK-LABEL: func.func @small
// WORK-NOT:     cluster.fork
// WORK:         kernel.call @xd_unary_f32(XD_RELU, %x, %y, 16 : i32
// A kernel without a split rule runs on one core.
// CHECK-LABEL: func.func @small
// CHECK:         cluster.fork cores(4)
// CHECK:         kernel.call @xd_gather(
// CHECK-NOT:     cluster.fork
func.func @small(%x: memref<16xf32>, %y: memref<16xf32>, %i: memref<2xi64>, %g: memref<2x16xf32>) {
  kernel.call @xd_unary_f32(XD_RELU, %x, %y, 16 : i32, 0.0 : f32, 0.0 : f32) : memref<16xf32>, memref<16xf32>
  kernel.call @xd_gather(%y, %i, %g, 4 : i32, 8 : i32, 1 : i32, 16 : i32, 1 : i32, 2 : i32) : memref<16xf32>, memref<2xi64>, memref<2x16xf32>
  func.return
}
