// kernel.call is checked against the kernel's C signature.
// RUN: deeploy-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: memref<4xf32>) {
  kernel.call @xd_nosuch(%x) : memref<4xf32>
  func.return
}
// CHECK: kernel.call: unknown kernel @xd_nosuch

// -----
func.func @f(%x: memref<4xf32>, %y: memref<4xf32>) {
  kernel.call @xd_softmax_f32(%x, %y, 4 : i32) : memref<4xf32>, memref<4xf32>
  func.return
}
// CHECK: kernel.call @xd_softmax_f32: 6 arguments expected, got 3

// -----
func.func @f(%x: memref<4xi32>, %y: memref<4xf32>) {
  kernel.call @xd_softmax_f32(%x, %y, 1 : i32, 4 : i32, 1 : i32, 0 : i32) : memref<4xi32>, memref<4xf32>
  func.return
}
// CHECK: kernel.call @xd_softmax_f32: argument 0 must hold f32, not i32

// -----
func.func @f(%y: memref<4xf32>) {
  kernel.call @xd_softmax_f32(null, %y, 1 : i32, 4 : i32, 1 : i32, 0 : i32) : memref<4xf32>
  func.return
}
// CHECK: kernel.call @xd_softmax_f32: argument 0 may not be null

// -----
func.func @f(%x: memref<4xf32>, %y: memref<4xf32>) {
  kernel.call @xd_softmax_f32(%x, %y, 1.0 : f32, 4 : i32, 1 : i32, 0 : i32) : memref<4xf32>, memref<4xf32>
  func.return
}
// CHECK: kernel.call @xd_softmax_f32: argument 2 must be an i32

// -----
func.func @f() {
  %w = kernel.weights <"00", tensor<4xf32>> : memref<8xf32>
  func.return
}
// CHECK: kernel.weights: the buffer type must match the weights' type

// -----
func.func @f(%x: memref<4xi8>) {
  kernel.asm_call @nosuch(%x) : memref<4xi8>
  func.return
}
// CHECK: kernel.asm_call: no func.func @nosuch in the module

// -----
func.func @k(%a: memref<4xi8>, %b: memref<4xi8>) {
  func.return
}
func.func @f(%x: memref<4xi8>) {
  kernel.asm_call @k(%x) : memref<4xi8>
  func.return
}
// CHECK: kernel.asm_call: @k takes 2 buffers, got 1

// -----
func.func @k(%a: memref<4xi32>) {
  func.return
}
func.func @f(%x: memref<4xi8>) {
  kernel.asm_call @k(%x) : memref<4xi8>
  func.return
}
// CHECK: kernel.asm_call: buffer 0 holds i8, @k reads i32

// -----
func.func @k(%a: memref<2x2xi8>) {
  func.return
}
func.func @f(%x: memref<4xi8>) {
  kernel.asm_call @k(%x) : memref<4xi8>
  func.return
}
// CHECK: kernel.asm_call: @k parameter 0 is not 1-D
