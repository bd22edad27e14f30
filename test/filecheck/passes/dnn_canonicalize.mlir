// dnn-canonicalize removes identity reshapes/transposes, merges chains of them, and
// computes ops whose operands are all constants; what becomes dead is erased.
// RUN: deeploy-opt %s -p dnn-canonicalize | filecheck %s

// CHECK-LABEL: func.func @identities
// CHECK-SAME:    (%x: tensor<2x3xf32>)
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>
func.func @identities(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %r = dnn.reshape %x : tensor<2x3xf32> -> tensor<2x3xf32>
  %t = dnn.transpose %r {perm = array<i64: 0, 1>} : tensor<2x3xf32> -> tensor<2x3xf32>
  func.return %t : tensor<2x3xf32>
}

// A transpose of a transpose is one transpose with the composed permutation, and
// two that cancel disappear.
// CHECK-LABEL: func.func @transpose_chain
// CHECK-NEXT:    %t2 = dnn.transpose %x {perm = array<i64: 2, 0, 1>} : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
// CHECK-NEXT:    func.return %t2, %x : tensor<4x2x3xf32>, tensor<2x3x4xf32>
func.func @transpose_chain(%x: tensor<2x3x4xf32>) -> (tensor<4x2x3xf32>, tensor<2x3x4xf32>) {
  %t1 = dnn.transpose %x {perm = array<i64: 1, 0, 2>} : tensor<2x3x4xf32> -> tensor<3x2x4xf32>
  %t2 = dnn.transpose %t1 {perm = array<i64: 2, 1, 0>} : tensor<3x2x4xf32> -> tensor<4x2x3xf32>
  %u1 = dnn.transpose %x {perm = array<i64: 1, 2, 0>} : tensor<2x3x4xf32> -> tensor<3x4x2xf32>
  %u2 = dnn.transpose %u1 {perm = array<i64: 2, 0, 1>} : tensor<3x4x2xf32> -> tensor<2x3x4xf32>
  func.return %t2, %u2 : tensor<4x2x3xf32>, tensor<2x3x4xf32>
}

// CHECK-LABEL: func.func @reshape_chain
// CHECK-NEXT:    %b = dnn.reshape %x : tensor<2x6xf32> -> tensor<12xf32>
// CHECK-NEXT:    func.return %b
func.func @reshape_chain(%x: tensor<2x6xf32>) -> tensor<12xf32> {
  %a = dnn.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>
  %b = dnn.reshape %a : tensor<3x4xf32> -> tensor<12xf32>
  func.return %b : tensor<12xf32>
}

// Constant operands: the ops are computed at compile time (sqrt(4) = 2, 2 + 1 = 3).
// CHECK-LABEL: func.func @fold
// CHECK-NEXT:    %s = dnn.constant dense<[3.000000e+00, 4.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %y = dnn.mul %x, %s : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:    func.return %y
func.func @fold(%x: tensor<2xf32>) -> tensor<2xf32> {
  %c = dnn.constant dense<[4.0, 9.0]> : tensor<2xf32>
  %one = dnn.constant dense<1.0> : tensor<2xf32>
  %r = dnn.sqrt %c : tensor<2xf32>
  %s = dnn.add %r, %one : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %y = dnn.mul %x, %s : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %y : tensor<2xf32>
}

// Ops fed by a function argument stay, as do non-identity reshapes.
// CHECK-LABEL: func.func @keep
// CHECK-NEXT:    %r = dnn.reshape %x
// CHECK-NEXT:    %e = dnn.exp %r
func.func @keep(%x: tensor<2x3xf32>) -> tensor<6xf32> {
  %r = dnn.reshape %x : tensor<2x3xf32> -> tensor<6xf32>
  %e = dnn.exp %r : tensor<6xf32>
  func.return %e : tensor<6xf32>
}

// A matmul by a transposed matrix reads it transposed instead of copying it.
// CHECK-LABEL: func.func @tied_head
// CHECK-NEXT:    %logits = dnn.gemm %x, %emb {dnn.node = "lm_head", trans_b} : tensor<2x8xf32>, tensor<32x8xf32> -> tensor<2x32xf32>
// CHECK-NEXT:    func.return %logits
func.func @tied_head(%x: tensor<2x8xf32>, %emb: tensor<32x8xf32>) -> tensor<2x32xf32> {
  %t = dnn.transpose %emb {perm = array<i64: 1, 0>} : tensor<32x8xf32> -> tensor<8x32xf32>
  %logits = dnn.matmul %x, %t {dnn.node = "lm_head"} : (tensor<2x8xf32>, tensor<8x32xf32>) -> tensor<2x32xf32>
  func.return %logits : tensor<2x32xf32>
}

// A batched lhs keeps the matmul: gemm is 2-D only.
// CHECK-LABEL: func.func @batched_keeps_matmul
// CHECK:         dnn.matmul
func.func @batched_keeps_matmul(%x: tensor<3x2x8xf32>, %w: tensor<32x8xf32>) -> tensor<3x2x32xf32> {
  %t = dnn.transpose %w {perm = array<i64: 1, 0>} : tensor<32x8xf32> -> tensor<8x32xf32>
  %y = dnn.matmul %x, %t : (tensor<3x2x8xf32>, tensor<8x32xf32>) -> tensor<3x2x32xf32>
  func.return %y : tensor<3x2x32xf32>
}

// A dequantized constant weight is not folded to float: `dnn-lower-qdq` needs the
// integer weight and its scale to compute the matmul in integers.
// CHECK-LABEL: func.func @keep_dequantized_weight
// CHECK-NEXT:    %wq = dnn.constant
// CHECK:         %w = dnn.dequantize_linear %wq
// CHECK-NEXT:    %y = dnn.matmul %x, %w
func.func @keep_dequantized_weight(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %wq = dnn.constant dense<[[1, -2], [3, 4]]> : tensor<2x2xi8>
  %s = dnn.constant dense<0.5> : tensor<f32>
  %z = dnn.constant dense<0> : tensor<i8>
  %w = dnn.dequantize_linear %wq, %s, %z {axis = 1 : i64} : (tensor<2x2xi8>, tensor<f32>, tensor<i8>) -> tensor<2x2xf32>
  %y = dnn.matmul %x, %w : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}
