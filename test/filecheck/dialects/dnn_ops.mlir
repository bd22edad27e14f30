// Every dnn op prints and parses back to itself, in the custom and the generic format.
// RUN: deeploy-opt %s | deeploy-opt | filecheck %s
// RUN: deeploy-opt %s --print-op-generic | deeploy-opt | filecheck %s

func.func @elementwise(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %c: tensor<2x3xi1>) -> tensor<2x3xf32> {
  %add = dnn.add %a, %b {dnn.node = "Add_0"} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %sub = dnn.sub %add, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %mul = dnn.mul %sub, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %div = dnn.div %mul, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %pow = dnn.pow %div, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %max = dnn.max %pow, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %min = dnn.min %max, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %eq = dnn.equal %min, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  %lt = dnn.less %min, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %gt = dnn.greater %min, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %w = dnn.where %c, %min, %b : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return %w : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @elementwise
// CHECK-NEXT:    %add = dnn.add %a, %b {dnn.node = "Add_0"} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %sub = dnn.sub %add, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %mul = dnn.mul %sub, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %div = dnn.div %mul, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %pow = dnn.pow %div, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %max = dnn.max %pow, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %min = dnn.min %max, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %eq = dnn.equal %min, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT:    %lt = dnn.less %min, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT:    %gt = dnn.greater %min, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT:    %w = dnn.where %c, %min, %b : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>

func.func @unary(%x: tensor<4xf32>) -> tensor<4xi8> {
  %0 = dnn.sqrt %x : tensor<4xf32>
  %1 = dnn.neg %0 : tensor<4xf32>
  %2 = dnn.abs %1 : tensor<4xf32>
  %3 = dnn.exp %2 : tensor<4xf32>
  %4 = dnn.log %3 : tensor<4xf32>
  %5 = dnn.erf %4 : tensor<4xf32>
  %6 = dnn.tanh %5 : tensor<4xf32>
  %7 = dnn.relu %6 : tensor<4xf32>
  %8 = dnn.sigmoid %7 : tensor<4xf32>
  %9 = dnn.silu %8 : tensor<4xf32>
  %10 = dnn.reciprocal %9 : tensor<4xf32>
  %11 = dnn.cos %10 : tensor<4xf32>
  %12 = dnn.sin %11 : tensor<4xf32>
  %13 = dnn.floor %12 : tensor<4xf32>
  %14 = dnn.ceil %13 : tensor<4xf32>
  %15 = dnn.round %14 : tensor<4xf32>
  %16 = dnn.hardswish %15 : tensor<4xf32>
  %17 = dnn.gelu %16 : tensor<4xf32>
  %18 = dnn.gelu %17 {approximate = "tanh"} : tensor<4xf32>
  %19 = dnn.hardsigmoid %18 {alpha = 0.166666672 : f32, beta = 5.000000e-01 : f32} : tensor<4xf32>
  %20 = dnn.leaky_relu %19 {alpha = 0.00999999977 : f32} : tensor<4xf32>
  %21 = dnn.clip %20 {min = -1.000000e+00 : f32, max = 6.000000e+00 : f32} : tensor<4xf32>
  %22 = dnn.cast %21 : tensor<4xf32> to tensor<4xi8>
  func.return %22 : tensor<4xi8>
}

// CHECK-LABEL: func.func @unary
// CHECK:      dnn.sqrt %x : tensor<4xf32>
// CHECK:      dnn.hardswish %{{.*}} : tensor<4xf32>
// CHECK-NEXT: dnn.gelu %{{.*}} : tensor<4xf32>
// CHECK-NEXT: dnn.gelu %{{.*}} {approximate = "tanh"} : tensor<4xf32>
// CHECK-NEXT: dnn.hardsigmoid %{{.*}} {alpha = 0.166666672 : f32, beta = 5.000000e-01 : f32} : tensor<4xf32>
// CHECK-NEXT: dnn.leaky_relu %{{.*}} {alpha = 1.000000e-02 : f32} : tensor<4xf32>
// CHECK-NEXT: dnn.clip %{{.*}} {min = -1.000000e+00 : f32, max = 6.000000e+00 : f32} : tensor<4xf32>
// CHECK-NEXT: dnn.cast %{{.*}} : tensor<4xf32> to tensor<4xi8>

func.func @linear(%a: tensor<2x4x8xf32>, %b: tensor<8x5xf32>, %g: tensor<8x4xf32>, %bias: tensor<5xf32>) -> (tensor<2x4x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>) {
  %mm = dnn.matmul %a, %b : (tensor<2x4x8xf32>, tensor<8x5xf32>) -> tensor<2x4x5xf32>
  %gemm = dnn.gemm %g, %b, %bias {alpha = 5.000000e-01 : f32, trans_a} : tensor<8x4xf32>, tensor<8x5xf32>, tensor<5xf32> -> tensor<4x5xf32>
  %gemm2 = dnn.gemm %g, %b {trans_a} : tensor<8x4xf32>, tensor<8x5xf32> -> tensor<4x5xf32>
  func.return %mm, %gemm, %gemm2 : tensor<2x4x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>
}

// CHECK-LABEL: func.func @linear
// CHECK-NEXT:    %mm = dnn.matmul %a, %b : (tensor<2x4x8xf32>, tensor<8x5xf32>) -> tensor<2x4x5xf32>
// CHECK-NEXT:    %gemm = dnn.gemm %g, %b, %bias {alpha = 5.000000e-01 : f32, trans_a} : tensor<8x4xf32>, tensor<8x5xf32>, tensor<5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %gemm2 = dnn.gemm %g, %b {trans_a} : tensor<8x4xf32>, tensor<8x5xf32> -> tensor<4x5xf32>

func.func @windows(%x: tensor<1x4x9x9xf32>, %w: tensor<8x2x3x3xf32>, %b: tensor<8xf32>) -> (tensor<1x8x5x5xf32>, tensor<1x4x5x5xf32>, tensor<1x4x4x4xf32>) {
  %c = dnn.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : tensor<1x4x9x9xf32>, tensor<8x2x3x3xf32>, tensor<8xf32> -> tensor<1x8x5x5xf32>
  %m = dnn.max_pool %x {strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, ceil_mode} : tensor<1x4x9x9xf32> -> tensor<1x4x5x5xf32>
  %a = dnn.average_pool %x {strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, count_include_pad} : tensor<1x4x9x9xf32> -> tensor<1x4x4x4xf32>
  func.return %c, %m, %a : tensor<1x8x5x5xf32>, tensor<1x4x5x5xf32>, tensor<1x4x4x4xf32>
}

// CHECK-LABEL: func.func @windows
// CHECK-NEXT:    %c = dnn.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : tensor<1x4x9x9xf32>, tensor<8x2x3x3xf32>, tensor<8xf32> -> tensor<1x8x5x5xf32>
// CHECK-NEXT:    %m = dnn.max_pool %x {strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, ceil_mode} : tensor<1x4x9x9xf32> -> tensor<1x4x5x5xf32>
// CHECK-NEXT:    %a = dnn.average_pool %x {{{.*}}count_include_pad{{.*}}} : tensor<1x4x9x9xf32> -> tensor<1x4x4x4xf32>

func.func @norms(%x: tensor<2x4x8xf32>, %s: tensor<8xf32>) -> tensor<2x1x8xf32> {
  %sm = dnn.softmax %x {axis = 2 : i64} : tensor<2x4x8xf32>
  %lsm = dnn.log_softmax %sm {axis = 1 : i64} : tensor<2x4x8xf32>
  %ln = dnn.layer_norm %lsm, %s, %s {axis = 2 : i64, epsilon = 9.99999974e-06 : f32} : tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<2x4x8xf32>
  %rms = dnn.rms_norm %ln, %s {axis = 2 : i64, epsilon = 9.99999997e-07 : f32} : tensor<2x4x8xf32>, tensor<8xf32> -> tensor<2x4x8xf32>
  %rms2 = dnn.rms_norm %rms {axis = 2 : i64, epsilon = 9.99999997e-07 : f32} : tensor<2x4x8xf32> -> tensor<2x4x8xf32>
  %mean = dnn.reduce_mean %rms2 {axes = array<i64: 1>, keepdims} : tensor<2x4x8xf32> -> tensor<2x1x8xf32>
  %sum = dnn.reduce_sum %mean {axes = array<i64: 1>} : tensor<2x1x8xf32> -> tensor<2x8xf32>
  %rmax = dnn.reduce_max %rms2 {axes = array<i64: 0, 1, 2>} : tensor<2x4x8xf32> -> tensor<f32>
  %rmin = dnn.reduce_min %rms2 {axes = array<i64: 1>, keepdims} : tensor<2x4x8xf32> -> tensor<2x1x8xf32>
  func.return %rmin : tensor<2x1x8xf32>
}

// CHECK-LABEL: func.func @norms
// CHECK-NEXT:    %sm = dnn.softmax %x {axis = 2 : i64} : tensor<2x4x8xf32>
// CHECK-NEXT:    %lsm = dnn.log_softmax %sm {axis = 1 : i64} : tensor<2x4x8xf32>
// CHECK-NEXT:    %ln = dnn.layer_norm %lsm, %s, %s {axis = 2 : i64, epsilon = 1.000000e-05 : f32} : tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<2x4x8xf32>
// CHECK-NEXT:    %rms = dnn.rms_norm %ln, %s {axis = 2 : i64, epsilon = 1.000000e-06 : f32} : tensor<2x4x8xf32>, tensor<8xf32> -> tensor<2x4x8xf32>
// CHECK-NEXT:    %rms2 = dnn.rms_norm %rms {axis = 2 : i64, epsilon = 1.000000e-06 : f32} : tensor<2x4x8xf32> -> tensor<2x4x8xf32>
// CHECK-NEXT:    %mean = dnn.reduce_mean %rms2 {axes = array<i64: 1>, keepdims} : tensor<2x4x8xf32> -> tensor<2x1x8xf32>
// CHECK-NEXT:    %sum = dnn.reduce_sum %mean {axes = array<i64: 1>} : tensor<2x1x8xf32> -> tensor<2x8xf32>
// CHECK-NEXT:    %rmax = dnn.reduce_max %rms2 {axes = array<i64: 0, 1, 2>} : tensor<2x4x8xf32> -> tensor<f32>

func.func @movement(%x: tensor<2x6xf32>, %i: tensor<3xi64>) -> tensor<2x2xf32> {
  %c = dnn.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  %big = dnn.constant #dnn.weights<"0123456789abcdef0123456789abcdef01234567", tensor<64x64xi8>>
  %g = dnn.gather %x[%i] {axis = 1 : i64} : (tensor<2x6xf32>, tensor<3xi64>) -> tensor<2x3xf32>
  %t = dnn.transpose %g {perm = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
  %r = dnn.reshape %t : tensor<3x2xf32> -> tensor<6xf32>
  %e = dnn.expand %c : tensor<2xf32> -> tensor<3x2xf32>
  %cat = dnn.concat %t, %e {axis = 0 : i64} : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<6x2xf32>
  %s = dnn.slice %cat {starts = array<i64: 5, 0>, ends = array<i64: -7, 2>, steps = array<i64: -2, 1>} : tensor<6x2xf32> -> tensor<3x2xf32>
  %p:2 = dnn.split %s {axis = 0 : i64} : tensor<3x2xf32> -> tensor<1x2xf32>, tensor<2x2xf32>
  %pad = dnn.pad %p#0 {pads = array<i64: 0, 0, 1, 0>, value = 1.500000e+00 : f32} : tensor<1x2xf32> -> tensor<2x2xf32>
  func.return %pad : tensor<2x2xf32>
}

// CHECK-LABEL: func.func @movement
// CHECK-NEXT:    %c = dnn.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %big = dnn.constant #dnn.weights<"0123456789abcdef0123456789abcdef01234567", tensor<64x64xi8>>
// CHECK-NEXT:    %g = dnn.gather %x[%i] {axis = 1 : i64} : (tensor<2x6xf32>, tensor<3xi64>) -> tensor<2x3xf32>
// CHECK-NEXT:    %t = dnn.transpose %g {perm = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
// CHECK-NEXT:    %r = dnn.reshape %t : tensor<3x2xf32> -> tensor<6xf32>
// CHECK-NEXT:    %e = dnn.expand %c : tensor<2xf32> -> tensor<3x2xf32>
// CHECK-NEXT:    %cat = dnn.concat %t, %e {axis = 0 : i64} : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<6x2xf32>
// CHECK-NEXT:    %s = dnn.slice %cat {starts = array<i64: 5, 0>, ends = array<i64: -7, 2>, steps = array<i64: -2, 1>} : tensor<6x2xf32> -> tensor<3x2xf32>
// CHECK-NEXT:    %p, %p_1 = dnn.split %s {axis = 0 : i64} : tensor<3x2xf32> -> tensor<1x2xf32>, tensor<2x2xf32>
// CHECK-NEXT:    %pad = dnn.pad %p {pads = array<i64: 0, 0, 1, 0>, value = 1.500000e+00 : f32} : tensor<1x2xf32> -> tensor<2x2xf32>
