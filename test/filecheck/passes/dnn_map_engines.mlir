// dnn-map-engines{engines=npu}: a requant_shift of a matmul by constant int8 weights
// that the NPU computes bit for bit (8-bit activation, mul within 0..255, add with the
// rounding still an int32, per tensor or per column, an 8-bit output's own clamp) is
// marked for the NPU, both ops; with a mul beyond 8 bits only the matmul goes (into its
// int32 accumulators) and the requant stays. Weights that are an activation go too
// (each job loads them into the engine's memory) when they are signed 8-bit; unsigned
// ones stay. With engines=cluster nothing is marked. With engines=auto,
// siracusa's cost model takes the small matmul (the engine's launch beats the cluster's
// call, fork and compute; the weights stay in its memory) but not the small conv (the
// transposes into and out of HWC cost more than its compute).
// RUN: deeploy-opt %s -p 'dnn-map-engines{engines=npu}' | filecheck %s
// RUN: deeploy-opt %s -p 'dnn-map-engines{engines=auto platform=siracusa}' | filecheck %s --check-prefix=AUTO
// RUN: deeploy-opt %s -p 'dnn-map-engines{engines=cluster}' | filecheck %s --check-prefix=CLUSTER

func.func @mapped(%x: tensor<3x4xi8>) -> tensor<3x2xi8> {
  %w = dnn.constant dense<[[1, -2], [3, 4], [5, 6], [-7, 8]]> : tensor<4x2xi8>
  %acc = dnn.matmul %x, %w : (tensor<3x4xi8>, tensor<4x2xi8>) -> tensor<3x2xi32>
  %mul = dnn.constant dense<[200, 7]> : tensor<2xi32>
  %add = dnn.constant dense<-5> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<3x2xi32>, tensor<2xi32>, tensor<i32>) -> tensor<3x2xi8>
  func.return %y : tensor<3x2xi8>
}

// CHECK-LABEL: func.func @mapped
// CHECK:         dnn.matmul %x, %{{.*}} {dnn.engine = "npu"}
// CHECK:         dnn.requant_shift %{{.*}} {dnn.engine = "npu", div = 256 : i64
// CLUSTER-LABEL: func.func @mapped
// CLUSTER-NOT:   dnn.engine
// AUTO-LABEL:    func.func @mapped
// AUTO:          dnn.matmul %x, %{{.*}} {dnn.engine = "npu"}
// AUTO:          dnn.requant_shift %{{.*}} {dnn.engine = "npu"
// AUTO-LABEL:    func.func @conv
// AUTO-NOT:      dnn.engine

func.func @scale_too_wide(%x: tensor<3x4xi8>) -> tensor<3x2xi8> {
  %w = dnn.constant dense<[[1, -2], [3, 4], [5, 6], [-7, 8]]> : tensor<4x2xi8>
  %acc = dnn.matmul %x, %w : (tensor<3x4xi8>, tensor<4x2xi8>) -> tensor<3x2xi32>
  %mul = dnn.constant dense<709> : tensor<i32>
  %add = dnn.constant dense<-5> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<3x2xi32>, tensor<i32>, tensor<i32>) -> tensor<3x2xi8>
  func.return %y : tensor<3x2xi8>
}

// CHECK-LABEL: func.func @scale_too_wide
// CHECK:         dnn.matmul %x, %{{.*}} {dnn.engine = "npu"}
// CHECK:         %y = dnn.requant_shift
// CHECK-NOT:     dnn.engine

func.func @activation_weights(%x: tensor<3x4xi8>, %w: tensor<4x2xi8>) -> tensor<3x2xi8> {
  %acc = dnn.matmul %x, %w : (tensor<3x4xi8>, tensor<4x2xi8>) -> tensor<3x2xi32>
  %mul = dnn.constant dense<3> : tensor<i32>
  %add = dnn.constant dense<-5> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<3x2xi32>, tensor<i32>, tensor<i32>) -> tensor<3x2xi8>
  func.return %y : tensor<3x2xi8>
}

// CHECK-LABEL: func.func @activation_weights
// CHECK:         dnn.matmul %x, %w {dnn.engine = "npu"}
// CHECK:         dnn.requant_shift %{{.*}} {dnn.engine = "npu"

func.func @unsigned_activation_weights(%x: tensor<3x4xi8>, %w: tensor<4x2xui8>) -> tensor<3x2xi32> {
  %acc = dnn.matmul %x, %w : (tensor<3x4xi8>, tensor<4x2xui8>) -> tensor<3x2xi32>
  func.return %acc : tensor<3x2xi32>
}

// CHECK-LABEL: func.func @unsigned_activation_weights
// CHECK-NOT:     dnn.engine

// A batched product fuses a requantization that differs per batch (one job per batch,
// each with its own scale), not one that differs per row within a job.
func.func @batched(%x: tensor<2x3x4xi8>, %w: tensor<2x4x5xi8>) -> (tensor<2x3x5xi8>, tensor<2x3x5xi8>) {
  %acc = dnn.matmul %x, %w : (tensor<2x3x4xi8>, tensor<2x4x5xi8>) -> tensor<2x3x5xi32>
  %mul = dnn.constant dense<[[[3]], [[200]]]> : tensor<2x1x1xi32>
  %add = dnn.constant dense<-5> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<2x3x5xi32>, tensor<2x1x1xi32>, tensor<i32>) -> tensor<2x3x5xi8>
  %acc2 = dnn.matmul %x, %w : (tensor<2x3x4xi8>, tensor<2x4x5xi8>) -> tensor<2x3x5xi32>
  %rows = dnn.constant dense<[[3], [4], [5]]> : tensor<3x1xi32>
  %y2 = dnn.requant_shift %acc2, %rows, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<2x3x5xi32>, tensor<3x1xi32>, tensor<i32>) -> tensor<2x3x5xi8>
  func.return %y, %y2 : tensor<2x3x5xi8>, tensor<2x3x5xi8>
}

// CHECK-LABEL: func.func @batched
// CHECK:         %acc = dnn.matmul %x, %w {dnn.engine = "npu"}
// CHECK:         %y = dnn.requant_shift %acc, %{{.*}} {dnn.engine = "npu"
// CHECK:         %acc2 = dnn.matmul %x, %w {dnn.engine = "npu"}
// CHECK:         %y2 = dnn.requant_shift %acc2
// CHECK-NOT:     dnn.engine
// CHECK:         func.return

// A gemm by constant int8 weights (B transposed, C added by the cluster); alpha 2 stays.
func.func @gemm(%x: tensor<3x4xi8>) -> (tensor<3x2xi32>, tensor<3x2xi32>) {
  %w = dnn.constant dense<[[1, -2, 3, 4], [5, 6, -7, 8]]> : tensor<2x4xi8>
  %c = dnn.constant dense<[9, -9]> : tensor<2xi8>
  %y = dnn.gemm %x, %w, %c {trans_b} : tensor<3x4xi8>, tensor<2x4xi8>, tensor<2xi8> -> tensor<3x2xi32>
  %z = dnn.gemm %x, %w, %c {trans_b, alpha = 2.000000e+00 : f32} : tensor<3x4xi8>, tensor<2x4xi8>, tensor<2xi8> -> tensor<3x2xi32>
  func.return %y, %z : tensor<3x2xi32>, tensor<3x2xi32>
}

// CHECK-LABEL: func.func @gemm
// CHECK:         %y = dnn.gemm %x, %w, %c {dnn.engine = "npu"
// CHECK:         %z = dnn.gemm
// CHECK-NOT:     dnn.engine
// CHECK:         func.return

// A 3x3 convolution (N = 1, constant int8 weights, padding 1) and the requant_shift
// of its result, per channel (the channel axis of NCHW), go to the NPU together; a
// 5x5 one, which the engine has no mode for, goes as im2col and a matmul job; a
// grouped 5x5 one stays.
func.func @conv(%x: tensor<1x2x5x5xi8>) -> (tensor<1x2x5x5xi8>, tensor<1x2x1x1xi32>, tensor<1x2x1x1xi32>) {
  %w = dnn.constant dense<1> : tensor<2x2x3x3xi8>
  %acc = dnn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x2x5x5xi8>, tensor<2x2x3x3xi8> -> tensor<1x2x5x5xi32>
  %mul = dnn.constant dense<[[[3]], [[4]]]> : tensor<2x1x1xi32>
  %add = dnn.constant dense<7> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 16 : i64, n_levels = 256 : i64, signed} : (tensor<1x2x5x5xi32>, tensor<2x1x1xi32>, tensor<i32>) -> tensor<1x2x5x5xi8>
  %w5 = dnn.constant dense<1> : tensor<2x2x5x5xi8>
  %big = dnn.conv %x, %w5 {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x2x5x5xi8>, tensor<2x2x5x5xi8> -> tensor<1x2x1x1xi32>
  %wg = dnn.constant dense<1> : tensor<2x1x5x5xi8>
  %grouped = dnn.conv %x, %wg {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 2 : i64} : tensor<1x2x5x5xi8>, tensor<2x1x5x5xi8> -> tensor<1x2x1x1xi32>
  func.return %y, %big, %grouped : tensor<1x2x5x5xi8>, tensor<1x2x1x1xi32>, tensor<1x2x1x1xi32>
}

// CHECK-LABEL: func.func @conv
// CHECK:         %acc = dnn.conv %x, %{{.*}} {dnn.engine = "npu"
// CHECK:         %y = dnn.requant_shift %acc, %{{.*}} {dnn.engine = "npu"
// CHECK:         %big = dnn.conv %x, %{{.*}} {dnn.engine = "npu"
// CHECK:         %grouped = dnn.conv
// CHECK-NOT:     dnn.engine
