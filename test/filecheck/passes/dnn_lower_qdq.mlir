// dnn-lower-qdq turns DequantizeLinear -> float op -> QuantizeLinear into integer ops
// and a requant_shift; a quantized tensor q stands for (q - z) * s.
// RUN: deeploy-opt %s -p dnn-lower-qdq | filecheck %s

// MatMul, int8 symmetric, per tensor. The accumulator is x @ w exactly (zero points 0),
// and y = round(acc * S) with S = f32(f32(0.5 * 0.25) / f32(0.1)) = 1.25 (0.125 / 0.1
// is 1.25 within 2e-8, below half an ulp of 1.25). The largest shift with mul < 2^31:
// 1.25 = 0.625 * 2^1, shift = 31 - 1 = 30, mul = 1.25 * 2^30 = 1342177280 (exact),
// div = 2^30 = 1073741824; add = z_y * 2^30 = 0. x is widened to i32 (the accumulator
// type); the weight stays i8 since its zero point is 0. Every new op carries the
// float op's dnn.node; the requant takes the quantized output's name.
// CHECK-LABEL: func.func @matmul
// CHECK-NEXT:    %[[X:.*]] = dnn.cast %x {dnn.node = "mm"} : tensor<2x3xi8> to tensor<2x3xi32>
// CHECK-NEXT:    %[[W:.*]] = dnn.constant dense<{{\[\[}}1, -2], [3, 4], [-5, 6]]> : tensor<3x2xi8> {dnn.node = "mm"}
// CHECK-NEXT:    %[[ACC:.*]] = dnn.matmul %[[X]], %[[W]] {dnn.node = "mm"} : (tensor<2x3xi32>, tensor<3x2xi8>) -> tensor<2x2xi32>
// CHECK-NEXT:    %[[MUL:.*]] = dnn.constant dense<1342177280> : tensor<i32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<0> : tensor<i32>
// CHECK-NEXT:    %y = dnn.requant_shift %[[ACC]], %[[MUL]], %[[ADD]] {dnn.node = "mm", div = 1073741824 : i64, n_levels = 256 : i64, signed} : (tensor<2x2xi32>, tensor<i32>, tensor<i32>) -> tensor<2x2xi8>
// CHECK-NEXT:    func.return %y
func.func @matmul(%x: tensor<2x3xi8>) -> tensor<2x2xi8> {
  %sx = dnn.constant dense<0.5> : tensor<f32>
  %z = dnn.constant dense<0> : tensor<i8>
  %w = dnn.constant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xi8>
  %sw = dnn.constant dense<0.25> : tensor<f32>
  %sy = dnn.constant dense<0.1> : tensor<f32>
  %xd = dnn.dequantize_linear %x, %sx, %z {axis = 0 : i64} : (tensor<2x3xi8>, tensor<f32>, tensor<i8>) -> tensor<2x3xf32>
  %wd = dnn.dequantize_linear %w, %sw, %z {axis = 0 : i64} : (tensor<3x2xi8>, tensor<f32>, tensor<i8>) -> tensor<3x2xf32>
  %m = dnn.matmul %xd, %wd {dnn.node = "mm"} : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  %y = dnn.quantize_linear %m, %sy, %z {axis = 0 : i64} : (tensor<2x2xf32>, tensor<f32>, tensor<i8>) -> tensor<2x2xi8>
  func.return %y : tensor<2x2xi8>
}

// Gemm, uint8 asymmetric activations (z = 128), per-channel weights (scales 0.25 and
// 0.125 along the output columns: axis 1 without transB), an int32 bias quantized
// with s_x * s_w = [0.125, 0.0625] as onnxruntime does, so it is added as stored.
// x - 128 is computed in i32. S = [0.125, 0.0625] / 0.5 = [0.25, 0.125]; the larger,
// 0.25 = 0.5 * 2^-1, sets shift = 31 + 1 = 32: mul = [2^30, 2^29] = [1073741824,
// 536870912], div = 2^32 = 4294967296, and add = 128 * 2^32 = 549755813888, which
// needs i64. Unsigned output: no `signed`, range [0, 255].
// CHECK-LABEL: func.func @gemm_per_channel
// CHECK-NEXT:    %[[X:.*]] = dnn.cast %x {dnn.node = "fc"} : tensor<1x2xui8> to tensor<1x2xi32>
// CHECK-NEXT:    %[[Z:.*]] = dnn.constant dense<128> : tensor<i32>
// CHECK-NEXT:    %[[XC:.*]] = dnn.sub %[[X]], %[[Z]] {dnn.node = "fc"} : (tensor<1x2xi32>, tensor<i32>) -> tensor<1x2xi32>
// CHECK-NEXT:    %[[W:.*]] = dnn.constant dense<{{\[\[}}1, -2], [3, 4]]> : tensor<2x2xi8>
// CHECK-NEXT:    %[[ACC:.*]] = dnn.gemm %[[XC]], %[[W]] {dnn.node = "fc"} : tensor<1x2xi32>, tensor<2x2xi8> -> tensor<1x2xi32>
// CHECK-NEXT:    %[[B:.*]] = dnn.constant dense<[10, -20]> : tensor<2xi32>
// CHECK-NEXT:    %[[ACCB:.*]] = dnn.add %[[ACC]], %[[B]] {dnn.node = "fc"} : (tensor<1x2xi32>, tensor<2xi32>) -> tensor<1x2xi32>
// CHECK-NEXT:    %[[MUL:.*]] = dnn.constant dense<[1073741824, 536870912]> : tensor<2xi32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<549755813888> : tensor<i64>
// CHECK-NEXT:    %y = dnn.requant_shift %[[ACCB]], %[[MUL]], %[[ADD]] {dnn.node = "fc", div = 4294967296 : i64, n_levels = 256 : i64} : (tensor<1x2xi32>, tensor<2xi32>, tensor<i64>) -> tensor<1x2xui8>
// CHECK-NEXT:    func.return %y
func.func @gemm_per_channel(%x: tensor<1x2xui8>) -> tensor<1x2xui8> {
  %sx = dnn.constant dense<0.5> : tensor<f32>
  %zx = dnn.constant dense<128> : tensor<ui8>
  %w = dnn.constant dense<[[1, -2], [3, 4]]> : tensor<2x2xi8>
  %sw = dnn.constant dense<[0.25, 0.125]> : tensor<2xf32>
  %zw = dnn.constant dense<0> : tensor<2xi8>
  %b = dnn.constant dense<[10, -20]> : tensor<2xi32>
  %sb = dnn.constant dense<[0.125, 0.0625]> : tensor<2xf32>
  %zb = dnn.constant dense<0> : tensor<2xi32>
  %xd = dnn.dequantize_linear %x, %sx, %zx {axis = 0 : i64} : (tensor<1x2xui8>, tensor<f32>, tensor<ui8>) -> tensor<1x2xf32>
  %wd = dnn.dequantize_linear %w, %sw, %zw {axis = 1 : i64} : (tensor<2x2xi8>, tensor<2xf32>, tensor<2xi8>) -> tensor<2x2xf32>
  %bd = dnn.dequantize_linear %b, %sb, %zb {axis = 0 : i64} : (tensor<2xi32>, tensor<2xf32>, tensor<2xi32>) -> tensor<2xf32>
  %g = dnn.gemm %xd, %wd, %bd {dnn.node = "fc"} : tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32> -> tensor<1x2xf32>
  %y = dnn.quantize_linear %g, %sx, %zx {axis = 0 : i64} : (tensor<1x2xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x2xui8>
  func.return %y : tensor<1x2xui8>
}

// Conv with padding and an input zero point: x - z is formed before the conv, so that
// its zero padding is the real 0 (padding the raw integers would pad with -z * s_x).
// S = 1.0 * 0.5 / 0.5 = 1 = 0.5 * 2^1: shift 30, mul = 2^30, add = 0.
// CHECK-LABEL: func.func @conv_padded
// CHECK-NEXT:    %[[X:.*]] = dnn.cast %x {dnn.node = "conv"} : tensor<1x1x2x2xi8> to tensor<1x1x2x2xi32>
// CHECK-NEXT:    %[[Z:.*]] = dnn.constant dense<3> : tensor<i32>
// CHECK-NEXT:    %[[XC:.*]] = dnn.sub %[[X]], %[[Z]]
// CHECK-NEXT:    %[[W:.*]] = dnn.constant dense<1> : tensor<1x1x1x1xi8>
// CHECK-NEXT:    %[[ACC:.*]] = dnn.conv %[[XC]], %[[W]] {dnn.node = "conv", strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x1x2x2xi32>, tensor<1x1x1x1xi8> -> tensor<1x1x4x4xi32>
// CHECK-NEXT:    %[[MUL:.*]] = dnn.constant dense<1073741824> : tensor<i32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<0> : tensor<i32>
// CHECK-NEXT:    %y = dnn.requant_shift %[[ACC]], %[[MUL]], %[[ADD]] {dnn.node = "conv", div = 1073741824 : i64, n_levels = 256 : i64, signed}
func.func @conv_padded(%x: tensor<1x1x2x2xi8>) -> tensor<1x1x4x4xi8> {
  %s = dnn.constant dense<0.5> : tensor<f32>
  %zx = dnn.constant dense<3> : tensor<i8>
  %z = dnn.constant dense<0> : tensor<i8>
  %w = dnn.constant dense<1> : tensor<1x1x1x1xi8>
  %sw = dnn.constant dense<1.0> : tensor<f32>
  %xd = dnn.dequantize_linear %x, %s, %zx {axis = 0 : i64} : (tensor<1x1x2x2xi8>, tensor<f32>, tensor<i8>) -> tensor<1x1x2x2xf32>
  %wd = dnn.dequantize_linear %w, %sw, %z {axis = 0 : i64} : (tensor<1x1x1x1xi8>, tensor<f32>, tensor<i8>) -> tensor<1x1x1x1xf32>
  %c = dnn.conv %xd, %wd {dnn.node = "conv", strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x1x2x2xf32>, tensor<1x1x1x1xf32> -> tensor<1x1x4x4xf32>
  %y = dnn.quantize_linear %c, %s, %z {axis = 0 : i64} : (tensor<1x1x4x4xf32>, tensor<f32>, tensor<i8>) -> tensor<1x1x4x4xi8>
  func.return %y : tensor<1x1x4x4xi8>
}

// Add of two int8 tensors: y = round(0.5 (a - 1) + 0.25 (b - 2)) + 3. Both go to the
// common scale 2^-shift of s_y: the largest shift keeping 128 * (0.5 + 0.25) * 2^shift
// below 2^31 (|a|, |b| <= 128) is 24, so m_a = 0.5 * 2^24 = 8388608 and m_b = 4194304.
// The zero points move into the requant's add:
// 3 * 2^24 - 1 * 8388608 - 2 * 4194304 = 50331648 - 16777216 = 33554432, div = 2^24.
// CHECK-LABEL: func.func @add
// CHECK-NEXT:    %[[A:.*]] = dnn.cast %a {dnn.node = "add"} : tensor<4xi8> to tensor<4xi32>
// CHECK-NEXT:    %[[MA:.*]] = dnn.constant dense<8388608> : tensor<i32>
// CHECK-NEXT:    %[[AS:.*]] = dnn.mul %[[A]], %[[MA]] {dnn.node = "add"} : (tensor<4xi32>, tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT:    %[[B:.*]] = dnn.cast %b {dnn.node = "add"} : tensor<4xi8> to tensor<4xi32>
// CHECK-NEXT:    %[[MB:.*]] = dnn.constant dense<4194304> : tensor<i32>
// CHECK-NEXT:    %[[BS:.*]] = dnn.mul %[[B]], %[[MB]]
// CHECK-NEXT:    %[[SUM:.*]] = dnn.add %[[AS]], %[[BS]] {dnn.node = "add"} : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
// CHECK-NEXT:    %[[ONE:.*]] = dnn.constant dense<1> : tensor<i32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<33554432> : tensor<i32>
// CHECK-NEXT:    %y = dnn.requant_shift %[[SUM]], %[[ONE]], %[[ADD]] {dnn.node = "add", div = 16777216 : i64, n_levels = 256 : i64, signed}
func.func @add(%a: tensor<4xi8>, %b: tensor<4xi8>) -> tensor<4xi8> {
  %sa = dnn.constant dense<0.5> : tensor<f32>
  %za = dnn.constant dense<1> : tensor<i8>
  %sb = dnn.constant dense<0.25> : tensor<f32>
  %zb = dnn.constant dense<2> : tensor<i8>
  %sy = dnn.constant dense<1.0> : tensor<f32>
  %zy = dnn.constant dense<3> : tensor<i8>
  %ad = dnn.dequantize_linear %a, %sa, %za {axis = 0 : i64} : (tensor<4xi8>, tensor<f32>, tensor<i8>) -> tensor<4xf32>
  %bd = dnn.dequantize_linear %b, %sb, %zb {axis = 0 : i64} : (tensor<4xi8>, tensor<f32>, tensor<i8>) -> tensor<4xf32>
  %s = dnn.add %ad, %bd {dnn.node = "add"} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %y = dnn.quantize_linear %s, %sy, %zy {axis = 0 : i64} : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
  func.return %y : tensor<4xi8>
}

// Mul: (a - 1) * (b - 2) is exact in i32, requantized with S = 0.5 * 0.25 / 1 = 0.125
// = 0.5 * 2^-2: shift 33, mul = 2^30, add = 3 * 2^33 = 25769803776 (i64).
// CHECK-LABEL: func.func @mul
// CHECK:         %[[AC:.*]] = dnn.sub
// CHECK:         %[[BC:.*]] = dnn.sub
// CHECK-NEXT:    %[[P:.*]] = dnn.mul %[[AC]], %[[BC]] {dnn.node = "mul"} : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
// CHECK-NEXT:    %[[MUL:.*]] = dnn.constant dense<1073741824> : tensor<i32>
// CHECK-NEXT:    %[[ADD:.*]] = dnn.constant dense<25769803776> : tensor<i64>
// CHECK-NEXT:    %y = dnn.requant_shift %[[P]], %[[MUL]], %[[ADD]] {dnn.node = "mul", div = 8589934592 : i64, n_levels = 256 : i64, signed}
func.func @mul(%a: tensor<4xi8>, %b: tensor<4xi8>) -> tensor<4xi8> {
  %sa = dnn.constant dense<0.5> : tensor<f32>
  %za = dnn.constant dense<1> : tensor<i8>
  %sb = dnn.constant dense<0.25> : tensor<f32>
  %zb = dnn.constant dense<2> : tensor<i8>
  %sy = dnn.constant dense<1.0> : tensor<f32>
  %zy = dnn.constant dense<3> : tensor<i8>
  %ad = dnn.dequantize_linear %a, %sa, %za {axis = 0 : i64} : (tensor<4xi8>, tensor<f32>, tensor<i8>) -> tensor<4xf32>
  %bd = dnn.dequantize_linear %b, %sb, %zb {axis = 0 : i64} : (tensor<4xi8>, tensor<f32>, tensor<i8>) -> tensor<4xf32>
  %p = dnn.mul %ad, %bd {dnn.node = "mul"} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %y = dnn.quantize_linear %p, %sy, %zy {axis = 0 : i64} : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
  func.return %y : tensor<4xi8>
}

// No QuantizeLinear after the matmul (its result is used in float): the integer
// accumulator is scaled back, f32(acc) * f32(s_x * s_w) = f32(acc) * 0.125, as
// onnxruntime's MatMulIntegerToFloat does.
// CHECK-LABEL: func.func @float_output
// CHECK:         %[[ACC:.*]] = dnn.matmul {{.*}} -> tensor<2x2xi32>
// CHECK-NEXT:    %[[F:.*]] = dnn.cast %[[ACC]] {dnn.node = "mm"} : tensor<2x2xi32> to tensor<2x2xf32>
// CHECK-NEXT:    %[[S:.*]] = dnn.constant dense<1.250000e-01> : tensor<f32>
// CHECK-NEXT:    %m = dnn.mul %[[F]], %[[S]] {dnn.node = "mm"} : (tensor<2x2xf32>, tensor<f32>) -> tensor<2x2xf32>
// CHECK-NEXT:    %e = dnn.exp %m
func.func @float_output(%x: tensor<2x3xi8>) -> tensor<2x2xf32> {
  %sx = dnn.constant dense<0.5> : tensor<f32>
  %z = dnn.constant dense<0> : tensor<i8>
  %w = dnn.constant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xi8>
  %sw = dnn.constant dense<0.25> : tensor<f32>
  %xd = dnn.dequantize_linear %x, %sx, %z {axis = 0 : i64} : (tensor<2x3xi8>, tensor<f32>, tensor<i8>) -> tensor<2x3xf32>
  %wd = dnn.dequantize_linear %w, %sw, %z {axis = 0 : i64} : (tensor<3x2xi8>, tensor<f32>, tensor<i8>) -> tensor<3x2xf32>
  %m = dnn.matmul %xd, %wd {dnn.node = "mm"} : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  %e = dnn.exp %m : tensor<2x2xf32>
  func.return %e : tensor<2x2xf32>
}

// A reshape between equal quantization parameters moves the integers; the
// Q(DQ(q)) pair around it with the same parameters is q itself.
// CHECK-LABEL: func.func @moves
// CHECK-NEXT:    %r = dnn.reshape %x {dnn.node = "reshape"} : tensor<2x2xi8> -> tensor<4xi8>
// CHECK-NEXT:    func.return %r, %x
func.func @moves(%x: tensor<2x2xi8>) -> (tensor<4xi8>, tensor<2x2xi8>) {
  %s = dnn.constant dense<0.5> : tensor<f32>
  %z = dnn.constant dense<1> : tensor<i8>
  %xd = dnn.dequantize_linear %x, %s, %z {axis = 0 : i64} : (tensor<2x2xi8>, tensor<f32>, tensor<i8>) -> tensor<2x2xf32>
  %rf = dnn.reshape %xd {dnn.node = "reshape"} : tensor<2x2xf32> -> tensor<4xf32>
  %r = dnn.quantize_linear %rf, %s, %z {axis = 0 : i64} : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
  %q = dnn.quantize_linear %xd, %s, %z {axis = 0 : i64} : (tensor<2x2xf32>, tensor<f32>, tensor<i8>) -> tensor<2x2xi8>
  func.return %r, %q : tensor<4xi8>, tensor<2x2xi8>
}

// What does not match stays QDQ + float op: a weight scale along the contraction axis
// (axis 0 of the rhs) does not factor out of the sum; a different output scale on a
// reshape would need a requant that onnxruntime's QDQ never asks for.
// CHECK-LABEL: func.func @unmatched
// CHECK:         dnn.matmul {{.*}} -> tensor<2x2xf32>
// CHECK:         dnn.quantize_linear
// CHECK:         dnn.reshape {{.*}} -> tensor<4xf32>
// CHECK:         dnn.quantize_linear
func.func @unmatched(%x: tensor<2x3xi8>, %r: tensor<2x2xi8>) -> (tensor<2x2xi8>, tensor<4xi8>) {
  %s = dnn.constant dense<0.5> : tensor<f32>
  %s2 = dnn.constant dense<0.25> : tensor<f32>
  %z = dnn.constant dense<0> : tensor<i8>
  %w = dnn.constant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xi8>
  %sw = dnn.constant dense<[0.25, 0.5, 1.0]> : tensor<3xf32>
  %zw = dnn.constant dense<0> : tensor<3xi8>
  %xd = dnn.dequantize_linear %x, %s, %z {axis = 0 : i64} : (tensor<2x3xi8>, tensor<f32>, tensor<i8>) -> tensor<2x3xf32>
  %wd = dnn.dequantize_linear %w, %sw, %zw {axis = 0 : i64} : (tensor<3x2xi8>, tensor<3xf32>, tensor<3xi8>) -> tensor<3x2xf32>
  %m = dnn.matmul %xd, %wd : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  %y = dnn.quantize_linear %m, %s, %z {axis = 0 : i64} : (tensor<2x2xf32>, tensor<f32>, tensor<i8>) -> tensor<2x2xi8>
  %rd = dnn.dequantize_linear %r, %s, %z {axis = 0 : i64} : (tensor<2x2xi8>, tensor<f32>, tensor<i8>) -> tensor<2x2xf32>
  %rf = dnn.reshape %rd : tensor<2x2xf32> -> tensor<4xf32>
  %rq = dnn.quantize_linear %rf, %s2, %z {axis = 0 : i64} : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
  func.return %y, %rq : tensor<2x2xi8>, tensor<4xi8>
}
