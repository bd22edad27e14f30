// dnn-annotate-memory gives every buffer outside L1 its memory level as a memref memory
// space: arguments, results and activations in "L2"; weights in "L2" too, or in "L3"
// when they do not fit next to the activations; views in their source's level.
// RUN: deeploy-opt %s -p dnn-annotate-memory | filecheck %s
// RUN: deeploy-opt %s -p 'dnn-annotate-memory{l2-size=200}' | filecheck %s --check-prefix=SMALL

func.func @main(%x: memref<4x8xf32> {dnn.name = "x"}, %y: memref<4x8xf32> {dnn.name = "y", dnn.output}) {
  %w = kernel.weights <"0123456789abcdef0123456789abcdef01234567", tensor<4x8xf32>> : memref<4x8xf32>
  %t = memref.alloc() : memref<4x8xf32>
  kernel.call @xd_binary_f32(XD_ADD, %x, %w, %t, 2 : i32, array<i32: 4, 8>, array<i32: 8, 1>, array<i32: 8, 1>) : memref<4x8xf32>, memref<4x8xf32>, memref<4x8xf32>
  %r = memref.reinterpret_cast %t to offset: [0], sizes: [32], strides: [1] : memref<4x8xf32> to memref<32xf32>
  %yl = memref.reinterpret_cast %y to offset: [0], sizes: [32], strides: [1] : memref<4x8xf32> to memref<32xf32>
  kernel.call @xd_copy(%r, %yl, 4 : i32, 32 : i32) : memref<32xf32>, memref<32xf32>
  func.return
}

// CHECK:      func.func @main(%x: memref<4x8xf32, "L2"> {dnn.name = "x"}, %y: memref<4x8xf32, "L2"> {dnn.name = "y", dnn.output})
// CHECK-NEXT:   %w = kernel.weights <"0123456789abcdef0123456789abcdef01234567", tensor<4x8xf32>> : memref<4x8xf32, "L2">
// CHECK-NEXT:   %t = memref.alloc() : memref<4x8xf32, "L2">
// CHECK:        %r = memref.reinterpret_cast %t to offset: [0], sizes: [32], strides: [1] : memref<4x8xf32, "L2"> to memref<32xf32, "L2">

// 128 B of weights + 128 B of activations do not fit 200 B of L2: the weights go to L3.
// SMALL:        %w = kernel.weights {{.*}} : memref<4x8xf32, "L3">
// SMALL-NEXT:   %t = memref.alloc() : memref<4x8xf32, "L2">
