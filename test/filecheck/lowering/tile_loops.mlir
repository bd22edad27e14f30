// convert-dnn-to-kernel on ops tiled by dnn-tile: loops over tiles (the recorded loop
// order, outermost first), each operand's tile copied into an L1 buffer by DMA in the
// innermost loop it depends on, the op's own kernel called on the L1 tiles, and each
// result tile copied back. The decisions are spelled out here instead of solved.
// RUN: deeploy-opt %s -p convert-dnn-to-kernel | filecheck %s

func.func @matmul(%a: tensor<32x16xi8> {dnn.name = "a"}, %b: tensor<16x64xi8> {dnn.name = "b"}) -> (tensor<32x64xi32> {dnn.name = "y"}) {
  %y = dnn.matmul %a, %b {dnn.node = "mm", dnn.tile = {tiles = array<i64: 8, 32>, order = array<i64: 1, 0>}} : (tensor<32x16xi8>, tensor<16x64xi8>) -> tensor<32x64xi32>
  func.return %y : tensor<32x64xi32>
}
func.func @add(%x: tensor<4x8xf32> {dnn.name = "x"}, %v: tensor<8xf32> {dnn.name = "v"}) -> (tensor<4x8xf32> {dnn.name = "y"}) {
  %y = dnn.add %x, %v {dnn.node = "add", dnn.tile = {tiles = array<i64: 2, 8>, order = array<i64: 0, 1>}} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  func.return %y : tensor<4x8xf32>
}

// Columns outside (order 1, 0): a column block of b is fetched once and stays in L1
// while the row tiles of a stream past it; the L1 buffers are allocated up front.
// CHECK-LABEL: func.func @matmul
// CHECK:         %a_l1 = memref.alloc() {dnn.node = "mm"} : memref<8x16xi8, "L1">
// CHECK-NEXT:    %b_l1 = memref.alloc() {dnn.node = "mm"} : memref<16x32xi8, "L1">
// CHECK-NEXT:    %y_l1 = memref.alloc() {dnn.node = "mm"} : memref<8x32xi32, "L1">
// CHECK:         scf.for %td1 = %{{.*}} to %{{.*}} step
// CHECK:           %od1 = arith.muli %td1, %{{.*}} : index
// CHECK-NEXT:      %b_tile = memref.subview %b[0, %od1] [16, 32] [1, 1] {dnn.node = "mm"} : memref<16x64xi8> to memref<16x32xi8, strided<[64, 1], offset: ?>>
// CHECK-NEXT:      %[[B:.*]] = dma.start %b_tile, %b_l1
// CHECK-NEXT:      dma.wait %[[B]]
// CHECK:           scf.for %td0 = %{{.*}} to %{{.*}} step
// CHECK:             %a_tile = memref.subview %a[%od0, 0] [8, 16] [1, 1]
// CHECK-NEXT:        %[[A:.*]] = dma.start %a_tile, %a_l1
// CHECK-NEXT:        dma.wait %[[A]]
// The kernel sees a whole 8x16 @ 16x32 matmul on L1 buffers.
// CHECK-NEXT:        kernel.call @xd_matmul_int(%a_l1, XD_T_I8, %b_l1, XD_T_I8, %y_l1, XD_T_I32, 8 : i32, 16 : i32, 32 : i32
// CHECK-NEXT:        %y_tile = memref.subview %y[%od0, %od1] [8, 32] [1, 1] {dnn.node = "mm"} : memref<32x64xi32> to memref<8x32xi32, strided<[64, 1], offset: ?>>
// CHECK-NEXT:        %[[Y:.*]] = dma.start %y_l1, %y_tile
// CHECK-NEXT:        dma.wait %[[Y]]

// A broadcast operand depends on no loop: it is copied once, before the loop.
// CHECK-LABEL: func.func @add
// CHECK:         %[[V:.*]] = dma.start %v, %v_l1 {dnn.node = "add"} : memref<8xf32>, memref<8xf32, "L1"> -> !dma.token
// CHECK-NEXT:    dma.wait %[[V]]
// CHECK:         scf.for %td0
// CHECK:           kernel.call @xd_binary_f32(XD_ADD, %x_l1, %v_l1, %y_l1, 2 : i32, array<i32: 2, 8>, array<i32: 8, 1>, array<i32: 0, 1>)
