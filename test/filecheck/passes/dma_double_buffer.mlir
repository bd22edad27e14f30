// dma-double-buffer: an input tile fetched and waited at the top of a loop body gets a
// twin buffer; tile i+1 is fetched into the twin while tile i is computed, the loop
// carries the pending transfer, and the last iteration fetches nothing.
// RUN: deeploy-opt %s -p dma-double-buffer | filecheck %s

func.func @rows(%x: memref<8x64xf32>, %y: memref<8x64xf32>) {
  %xt = memref.alloc() : memref<2x64xf32, "L1">
  %yt = memref.alloc() : memref<2x64xf32, "L1">
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %row = arith.muli %i, %c2 : index
    %xs = memref.subview %x[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: ?>>
    %t0 = dma.start %xs, %xt : memref<2x64xf32, strided<[64, 1], offset: ?>>, memref<2x64xf32, "L1"> -> !dma.token
    dma.wait %t0 : !dma.token
    kernel.call @xd_softmax_f32(%xt, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : memref<2x64xf32, "L1">, memref<2x64xf32, "L1">
    %ys = memref.subview %y[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: ?>>
    %t1 = dma.start %yt, %ys : memref<2x64xf32, "L1">, memref<2x64xf32, strided<[64, 1], offset: ?>> -> !dma.token
    dma.wait %t1 : !dma.token
  }
  func.return
}

// CHECK-LABEL: func.func @rows
// CHECK:         %xt = memref.alloc() : memref<2x64xf32, "L1">
// CHECK-NEXT:    %xt_next = memref.alloc() : memref<2x64xf32, "L1">
// The prologue fetches the first tile (row 0 * 2) into %xt.
// CHECK:         %[[ROW0:.*]] = arith.muli %c0, %c2 : index
// CHECK-NEXT:    %[[XS0:.*]] = memref.subview %x[%[[ROW0]], 0] [2, 64] [1, 1]
// CHECK-NEXT:    %[[T0:.*]] = dma.start %[[XS0]], %xt
// CHECK-NEXT:    %{{.*}} = scf.for %i = %c0 to %c4 step %c1 iter_args(%pending = %[[T0]]) -> (!dma.token) {
// Even iterations compute on %xt and fetch into the twin, odd ones the other way round.
// CHECK:           %[[EVEN:.*]] = arith.cmpi eq
// CHECK-NEXT:      %[[CUR:.*]] = arith.select %[[EVEN]], %xt, %xt_next
// CHECK-NEXT:      %[[NXT:.*]] = arith.select %[[EVEN]], %xt_next, %xt
// CHECK-NEXT:      dma.wait %pending : !dma.token
// CHECK-NEXT:      %[[I1:.*]] = arith.addi %i, %c1 : index
// CHECK-NEXT:      %[[MORE:.*]] = arith.cmpi ult, %[[I1]], %c4 : index
// CHECK-NEXT:      %[[NEXT:.*]] = scf.if %[[MORE]] -> (!dma.token) {
// CHECK-NEXT:        %[[ROW1:.*]] = arith.muli %[[I1]], %c2 : index
// CHECK-NEXT:        %[[XS1:.*]] = memref.subview %x[%[[ROW1]], 0] [2, 64] [1, 1]
// CHECK-NEXT:        %[[T1:.*]] = dma.start %[[XS1]], %[[NXT]]
// CHECK-NEXT:        scf.yield %[[T1]] : !dma.token
// CHECK-NEXT:      } else {
// CHECK-NEXT:        scf.yield %pending : !dma.token
// CHECK-NEXT:      }
// The kernel reads the tile that has arrived; results are still written back at once.
// CHECK-NEXT:      kernel.call @xd_softmax_f32(%[[CUR]], %yt,
// CHECK:           dma.start %yt, %ys
// CHECK:           scf.yield %[[NEXT]] : !dma.token
