// The dnn verifiers reject what a user (or a buggy pass) can get wrong.
// RUN: deeploy-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  %0 = dnn.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}
// CHECK: dnn.add: shapes [2, 3] and [4] do not broadcast

// -----
func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3xi32>) -> tensor<2x3xf32> {
  %0 = dnn.mul %a, %b : (tensor<2x3xf32>, tensor<2x3xi32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}
// CHECK: dnn.mul: element types differ: f32, i32

// -----
func.func @f(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dnn.less %a, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}
// CHECK: dnn.less: result must have element type i1

// -----
func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  %0 = dnn.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}
// CHECK: dnn.matmul: matmul contraction mismatch: [2, 3] x [4, 5]

// -----
func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) -> tensor<2x4xf32> {
  %0 = dnn.gemm %a, %b : tensor<2x3xf32>, tensor<3x5xf32> -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// CHECK: dnn.gemm: result shape [2, 4] but the operands give [2, 5]

// -----
func.func @f(%x: tensor<1x4x9x9xf32>, %w: tensor<8x3x3x3xf32>) -> tensor<1x8x7x7xf32> {
  %0 = dnn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x4x9x9xf32>, tensor<8x3x3x3xf32> -> tensor<1x8x7x7xf32>
  func.return %0 : tensor<1x8x7x7xf32>
}
// CHECK: dnn.conv: channels do not match: input 4, weight [8, 3, 3, 3], group 1

// -----
func.func @f(%x: tensor<1x4x9x9xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<1x8x7x7xf32> {
  %0 = dnn.conv %x, %w {strides = array<i64: 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x4x9x9xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x7x7xf32>
  func.return %0 : tensor<1x8x7x7xf32>
}
// CHECK: dnn.conv: kernel/strides/dilations need 2 entries and pads 4

// -----
func.func @f(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = dnn.softmax %x {axis = 2 : i64} : tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// CHECK: dnn.softmax: axis 2 out of range for rank 2

// -----
func.func @f(%x: tensor<2x4xf32>, %s: tensor<3xf32>) -> tensor<2x4xf32> {
  %0 = dnn.layer_norm %x, %s {axis = 1 : i64, epsilon = 1.000000e-05 : f32} : tensor<2x4xf32>, tensor<3xf32> -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// CHECK: dnn.layer_norm: parameter [3] does not broadcast to the normalised dims [4]

// -----
func.func @f(%x: tensor<2x4xf32>) -> tensor<2xf32> {
  %0 = dnn.reduce_mean %x {axes = array<i64: 1, 0>} : tensor<2x4xf32> -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}
// CHECK: dnn.reduce_mean: axes must be sorted and unique

// -----
func.func @f(%x: tensor<2x4xf32>, %i: tensor<3xf32>) -> tensor<3x4xf32> {
  %0 = dnn.gather %x[%i] {axis = 0 : i64} : (tensor<2x4xf32>, tensor<3xf32>) -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}
// CHECK: dnn.gather: indices must be integers

// -----
func.func @f(%x: tensor<2x4xf32>) -> tensor<4x2xf32> {
  %0 = dnn.transpose %x {perm = array<i64: 0, 0>} : tensor<2x4xf32> -> tensor<4x2xf32>
  func.return %0 : tensor<4x2xf32>
}
// CHECK: dnn.transpose: [0, 0] is not a permutation of rank 2

// -----
func.func @f(%x: tensor<2x4xf32>) -> tensor<3x3xf32> {
  %0 = dnn.reshape %x : tensor<2x4xf32> -> tensor<3x3xf32>
  func.return %0 : tensor<3x3xf32>
}
// CHECK: dnn.reshape: [2, 4] and [3, 3] hold different element counts

// -----
func.func @f(%x: tensor<2x4xf32>, %y: tensor<3x3xf32>) -> tensor<5x4xf32> {
  %0 = dnn.concat %x, %y {axis = 0 : i64} : (tensor<2x4xf32>, tensor<3x3xf32>) -> tensor<5x4xf32>
  func.return %0 : tensor<5x4xf32>
}
// CHECK: dnn.concat: shapes [[2, 4], [3, 3]] differ off axis 0

// -----
func.func @f(%x: tensor<6xf32>) -> tensor<3xf32> {
  %0 = dnn.slice %x {starts = array<i64: 0>, ends = array<i64: 6>, steps = array<i64: 0>} : tensor<6xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}
// CHECK: dnn.slice: steps must be non-zero

// -----
func.func @f(%x: tensor<6xf32>) -> tensor<2xf32> {
  %0, %1 = dnn.split %x {axis = 0 : i64} : tensor<6xf32> -> tensor<2xf32>, tensor<3xf32>
  func.return %0 : tensor<2xf32>
}
// CHECK: dnn.split: results [[2], [3]] do not tile [6]

// -----
func.func @f() -> tensor<3xf32> {
  %0 = "dnn.constant"() <{value = #dnn.weights<"00", tensor<4xf32>>}> : () -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}
// CHECK: dnn.constant: value type differs from the result type

// -----
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = dnn.gelu %x {approximate = "fast"} : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: dnn.gelu: approximate must be "none" or "tanh"
