// convert-dnn-to-kernel: tensors become buffers, results become out-parameters, and each
// dnn op becomes a call to its runtime_c kernel with static shapes worked out.
// RUN: deeploy-opt %s -p convert-dnn-to-kernel | filecheck %s

func.func @main(%x: tensor<2x8xf32> {dnn.name = "x"}, %b: tensor<8xf32>) -> (tensor<2x8xf32> {dnn.name = "y"}, tensor<16xf32>) {
  %scale = dnn.constant dense<[2.0]> : tensor<1xf32>
  %s = dnn.mul %x, %scale {dnn.node = "mul"} : (tensor<2x8xf32>, tensor<1xf32>) -> tensor<2x8xf32>
  %a = dnn.add %s, %b {dnn.node = "add"} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %y = dnn.softmax %a {axis = 1 : i64} : tensor<2x8xf32>
  %flat = dnn.reshape %a : tensor<2x8xf32> -> tensor<16xf32>
  func.return %y, %flat : tensor<2x8xf32>, tensor<16xf32>
}

// The small constant becomes a private memref.global.
// CHECK:      "memref.global"() <{sym_name = "xd_const0", type = memref<1xf32>, initial_value = dense<2.000000e+00> : tensor<1xf32>, sym_visibility = "private", constant}>
// Results are out-parameters marked dnn.output; the function returns nothing.
// CHECK:      func.func @main(%x: memref<2x8xf32> {dnn.name = "x"}, %b: memref<8xf32>, %y: memref<2x8xf32> {dnn.name = "y", dnn.output}, %flat: memref<16xf32> {dnn.output}) {
// CHECK-NEXT:   %scale = memref.get_global @xd_const0 : memref<1xf32>
// CHECK-NEXT:   %s = memref.alloc() {dnn.node = "mul"} : memref<2x8xf32>
// Broadcasting is resolved into strides (0 on broadcast dimensions).
// CHECK-NEXT:   kernel.call @xd_binary_f32(XD_MUL, %x, %scale, %s, 2 : i32, array<i32: 2, 8>, array<i32: 8, 1>, array<i32: 0, 0>) {dnn.node = "mul"}
// CHECK-NEXT:   %a = memref.alloc() {dnn.node = "add"} : memref<2x8xf32>
// CHECK-NEXT:   kernel.call @xd_binary_f32(XD_ADD, %s, %b, %a, 2 : i32, array<i32: 2, 8>, array<i32: 8, 1>, array<i32: 0, 1>) {dnn.node = "add"}
// A returned value is computed straight into its out-parameter.
// CHECK-NEXT:   kernel.call @xd_softmax_f32(%a, %y, 2 : i32, 8 : i32, 1 : i32, 0 : i32)
// A reshape is an alias, not a copy ...
// CHECK-NEXT:   %flat_1 = memref.reinterpret_cast %a to offset: [0], sizes: [16], strides: [1] : memref<2x8xf32> to memref<16xf32>
// ... and a returned alias is copied into its out-parameter.
// CHECK-NEXT:   kernel.call @xd_copy(%flat_1, %flat, 4 : i32, 16 : i32)
// CHECK-NEXT:   func.return
