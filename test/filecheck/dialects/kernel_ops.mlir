// kernel.call reads like the C call it becomes; kernel.weights names stored weights.
// RUN: deeploy-opt %s | deeploy-opt | filecheck %s
// RUN: deeploy-opt %s --print-op-generic | deeploy-opt | filecheck %s

func.func @calls(%x: memref<4x16xf32>, %w: memref<16xf32>, %y: memref<4x16xf32>, %i: memref<2xi64>, %g: memref<2x16xf32>) {
  %s = kernel.weights <"00112233445566778899aabbccddeeff00112233", tensor<16xf32>> : memref<16xf32>
  kernel.call @xd_softmax_f32(%x, %y, 4 : i32, 16 : i32, 1 : i32, 0 : i32) : memref<4x16xf32>, memref<4x16xf32>
  kernel.call @xd_rmsnorm_f32(%x, null, %y, 4 : i32, 16 : i32, 1.000000e-06 : f32) : memref<4x16xf32>, memref<4x16xf32>
  kernel.call @xd_binary_f32(XD_ADD, %x, %s, %y, 2 : i32, array<i32: 4, 16>, array<i32: 16, 1>, array<i32: 0, 1>) {dnn.node = "add"} : memref<4x16xf32>, memref<16xf32>, memref<4x16xf32>
  kernel.call @xd_gather(%x, %i, %g, 4 : i32, 8 : i32, 1 : i32, 4 : i32, 16 : i32, 2 : i32) : memref<4x16xf32>, memref<2xi64>, memref<2x16xf32>
  func.return
}

// CHECK-LABEL: func.func @calls
// CHECK-NEXT:    %s = kernel.weights <"00112233445566778899aabbccddeeff00112233", tensor<16xf32>> : memref<16xf32>
// CHECK-NEXT:    kernel.call @xd_softmax_f32(%x, %y, 4 : i32, 16 : i32, 1 : i32, 0 : i32) : memref<4x16xf32>, memref<4x16xf32>
// CHECK-NEXT:    kernel.call @xd_rmsnorm_f32(%x, null, %y, 4 : i32, 16 : i32, 1.000000e-06 : f32) : memref<4x16xf32>, memref<4x16xf32>
// CHECK-NEXT:    kernel.call @xd_binary_f32(XD_ADD, %x, %s, %y, 2 : i32, array<i32: 4, 16>, array<i32: 16, 1>, array<i32: 0, 1>) {dnn.node = "add"} : memref<4x16xf32>, memref<16xf32>, memref<4x16xf32>
// CHECK-NEXT:    kernel.call @xd_gather(%x, %i, %g, 4 : i32, 8 : i32, 1 : i32, 4 : i32, 16 : i32, 2 : i32) : memref<4x16xf32>, memref<2xi64>, memref<2x16xf32>

// kernel.asm_call: a kernel made for assembly, called on the buffers' addresses; its
// function reads each as a dense 1-D memref of the same element width (ui8 data as i8).
func.func @asm_kernel(%a: memref<8xi8>, %y: memref<8xi8>) attributes {kernel.asm = "xd_binary_int"} {
  func.return
}
func.func @asm_calls(%x: memref<2x4xui8, strided<[8, 1], offset: ?>>, %y: memref<2x4xi8>) {
  kernel.asm_call @asm_kernel(%x, %y) {dnn.node = "add"} : memref<2x4xui8, strided<[8, 1], offset: ?>>, memref<2x4xi8>
  func.return
}

// CHECK-LABEL: func.func @asm_calls
// CHECK-NEXT:    kernel.asm_call @asm_kernel(%x, %y) {dnn.node = "add"} : memref<2x4xui8, strided<[8, 1], offset: ?>>, memref<2x4xi8>
