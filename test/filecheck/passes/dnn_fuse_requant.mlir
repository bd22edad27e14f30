// dnn-fuse-requant folds constant integer work into requant_shift's `add` (and `mul`):
// requant(x + c, mul, add) = requant(x, mul, add + c * mul), and an activation's zero
// point becomes a constant bias: (x - z) @ W = x @ W - z * colsum(W).
// RUN: deeploy-opt %s -p dnn-fuse-requant | filecheck %s

// The per-channel gemm as dnn-lower-qdq writes it (see dnn_lower_qdq.mlir).
// Zero point: colsum(W) = [1 + 3, -2 + 4] = [4, 2], so the correction is -128 * [4, 2]
// = [-512, -256]; the sub of x - 128 is gone and the gemm reads the widened x.
// Both constant adds then fold into the requant, column by column:
//   549755813888 + (10 - 512) * 1073741824  = 512 * 2^30 - 502 * 2^30 = 10737418240
//   549755813888 + (-20 - 256) * 536870912  = 1024 * 2^29 - 276 * 2^29 = 401579442176
// mul, div and the rest of the requant stay as they were.
// CHECK-LABEL: func.func @bias_and_zero_point
// CHECK-NEXT:    %[[X:.*]] = dnn.cast %x {dnn.node = "fc"} : tensor<1x2xui8> to tensor<1x2xi32>
// CHECK-NEXT:    %[[W:.*]] = dnn.constant dense<{{\[\[}}1, -2], [3, 4]]> : tensor<2x2xi8>
// CHECK-NEXT:    %[[ACC:.*]] = dnn.gemm %[[X]], %[[W]] {dnn.node = "fc"} : tensor<1x2xi32>, tensor<2x2xi8> -> tensor<1x2xi32>
// CHECK-NEXT:    %[[MUL:.*]] = dnn.constant dense<[1073741824, 536870912]> : tensor<2xi32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<[10737418240, 401579442176]> : tensor<2xi64> {dnn.node = "fc"}
// CHECK-NEXT:    %y = dnn.requant_shift %[[ACC]], %[[MUL]], %[[ADD]] {dnn.node = "fc", div = 4294967296 : i64, n_levels = 256 : i64} : (tensor<1x2xi32>, tensor<2xi32>, tensor<2xi64>) -> tensor<1x2xui8>
// CHECK-NEXT:    func.return %y
func.func @bias_and_zero_point(%x: tensor<1x2xui8>) -> tensor<1x2xui8> {
  %0 = dnn.cast %x {dnn.node = "fc"} : tensor<1x2xui8> to tensor<1x2xi32>
  %1 = dnn.constant dense<128> : tensor<i32>
  %2 = dnn.sub %0, %1 {dnn.node = "fc"} : (tensor<1x2xi32>, tensor<i32>) -> tensor<1x2xi32>
  %3 = dnn.constant dense<[[1, -2], [3, 4]]> : tensor<2x2xi8>
  %4 = dnn.gemm %2, %3 {dnn.node = "fc"} : tensor<1x2xi32>, tensor<2x2xi8> -> tensor<1x2xi32>
  %5 = dnn.constant dense<[10, -20]> : tensor<2xi32>
  %6 = dnn.add %4, %5 {dnn.node = "fc"} : (tensor<1x2xi32>, tensor<2xi32>) -> tensor<1x2xi32>
  %7 = dnn.constant dense<[1073741824, 536870912]> : tensor<2xi32>
  %8 = dnn.constant dense<549755813888> : tensor<i64>
  %y = dnn.requant_shift %6, %7, %8 {dnn.node = "fc", div = 4294967296 : i64, n_levels = 256 : i64} : (tensor<1x2xi32>, tensor<2xi32>, tensor<i64>) -> tensor<1x2xui8>
  func.return %y : tensor<1x2xui8>
}

// An add of a constant as dnn-lower-qdq writes it: requant(a * m + c, 1, add). The
// constant folds into add (33554432 + [1, 2, 3, 4] * 1), then the multiplication by m
// into mul (8388608 * 1): one requant of the widened input is left.
// CHECK-LABEL: func.func @add_constant
// CHECK-NEXT:    %[[A:.*]] = dnn.cast %a : tensor<4xi8> to tensor<4xi32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<[33554433, 33554434, 33554435, 33554436]> : tensor<4xi32>
// CHECK-NEXT:    %[[MUL:.*]] = dnn.constant dense<8388608> : tensor<i32>
// CHECK-NEXT:    %y = dnn.requant_shift %[[A]], %[[MUL]], %[[ADD]] {div = 16777216 : i64, n_levels = 256 : i64, signed} : (tensor<4xi32>, tensor<i32>, tensor<4xi32>) -> tensor<4xi8>
// CHECK-NEXT:    func.return %y
func.func @add_constant(%a: tensor<4xi8>) -> tensor<4xi8> {
  %a32 = dnn.cast %a : tensor<4xi8> to tensor<4xi32>
  %m = dnn.constant dense<8388608> : tensor<i32>
  %as = dnn.mul %a32, %m : (tensor<4xi32>, tensor<i32>) -> tensor<4xi32>
  %c = dnn.constant dense<[1, 2, 3, 4]> : tensor<4xi32>
  %s = dnn.add %as, %c : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %one = dnn.constant dense<1> : tensor<i32>
  %add = dnn.constant dense<33554432> : tensor<i32>
  %y = dnn.requant_shift %s, %one, %add {div = 16777216 : i64, n_levels = 256 : i64, signed} : (tensor<4xi32>, tensor<i32>, tensor<i32>) -> tensor<4xi8>
  func.return %y : tensor<4xi8>
}

// A conv without padding: every output of channel o sums z * W[o] over its window, so
// the correction is -3 * [1 + 2, 3 + 4] = [-9, -21] per channel, shaped [2, 1, 1] to
// broadcast over the result's H and W. Folded into the requant (mul = 2^30, add 0):
// [-9 * 2^30, -21 * 2^30] = [-9663676416, -22548578304], which needs i64.
// CHECK-LABEL: func.func @conv_zero_point
// CHECK-NEXT:    %[[X:.*]] = dnn.cast %x
// CHECK-NEXT:    %[[W:.*]] = dnn.constant
// CHECK-NEXT:    %[[ACC:.*]] = dnn.conv %[[X]], %[[W]]
// CHECK-NEXT:    %[[MUL:.*]] = dnn.constant dense<1073741824> : tensor<i32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<{{\[\[\[}}-9663676416]], {{\[\[}}-22548578304]]]> : tensor<2x1x1xi64>
// CHECK-NEXT:    %y = dnn.requant_shift %[[ACC]], %[[MUL]], %[[ADD]]
func.func @conv_zero_point(%x: tensor<1x1x2x3xi8>) -> tensor<1x2x2x2xi8> {
  %0 = dnn.cast %x : tensor<1x1x2x3xi8> to tensor<1x1x2x3xi32>
  %z = dnn.constant dense<3> : tensor<i32>
  %1 = dnn.sub %0, %z : (tensor<1x1x2x3xi32>, tensor<i32>) -> tensor<1x1x2x3xi32>
  %w = dnn.constant dense<[[[[1, 2]]], [[[3, 4]]]]> : tensor<2x1x1x2xi8>
  %2 = dnn.conv %1, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x1x2x3xi32>, tensor<2x1x1x2xi8> -> tensor<1x2x2x2xi32>
  %mul = dnn.constant dense<1073741824> : tensor<i32>
  %add = dnn.constant dense<0> : tensor<i32>
  %y = dnn.requant_shift %2, %mul, %add {div = 1073741824 : i64, n_levels = 256 : i64, signed} : (tensor<1x2x2x2xi32>, tensor<i32>, tensor<i32>) -> tensor<1x2x2x2xi8>
  func.return %y : tensor<1x2x2x2xi8>
}

// Not fused: a padded conv keeps x - z (its padding is the real 0 only after the
// subtraction), and a biased accumulator that is also returned keeps its add (the
// requant cannot absorb a value someone else reads).
// CHECK-LABEL: func.func @kept
// CHECK:         %[[XC:.*]] = dnn.sub
// CHECK:         dnn.conv %[[XC]]
// CHECK:         %[[B:.*]] = dnn.add
// CHECK:         dnn.requant_shift %[[B]]
func.func @kept(%x: tensor<1x1x2x2xi8>) -> (tensor<1x1x4x4xi8>, tensor<1x1x4x4xi32>) {
  %0 = dnn.cast %x : tensor<1x1x2x2xi8> to tensor<1x1x2x2xi32>
  %z = dnn.constant dense<3> : tensor<i32>
  %1 = dnn.sub %0, %z : (tensor<1x1x2x2xi32>, tensor<i32>) -> tensor<1x1x2x2xi32>
  %w = dnn.constant dense<1> : tensor<1x1x1x1xi8>
  %2 = dnn.conv %1, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x1x2x2xi32>, tensor<1x1x1x1xi8> -> tensor<1x1x4x4xi32>
  %c = dnn.constant dense<5> : tensor<i32>
  %b = dnn.add %2, %c : (tensor<1x1x4x4xi32>, tensor<i32>) -> tensor<1x1x4x4xi32>
  %mul = dnn.constant dense<1073741824> : tensor<i32>
  %add = dnn.constant dense<0> : tensor<i32>
  %y = dnn.requant_shift %b, %mul, %add {div = 1073741824 : i64, n_levels = 256 : i64, signed} : (tensor<1x1x4x4xi32>, tensor<i32>, tensor<i32>) -> tensor<1x1x4x4xi8>
  func.return %y, %b : tensor<1x1x4x4xi8>, tensor<1x1x4x4xi32>
}
