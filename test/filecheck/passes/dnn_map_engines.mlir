// dnn-map-engines{engines=npu}: a requant_shift of a matmul by constant int8 weights
// that the NPU computes bit for bit (8-bit activation, mul within 0..255, add with the
// rounding still an int32, per tensor or per column, an 8-bit output's own clamp) is
// marked for the NPU, both ops; a mul beyond 8 bits or weights that are an activation
// stay on the cluster. With engines=cluster nothing is marked.
// RUN: deeploy-opt %s -p 'dnn-map-engines{engines=npu}' | filecheck %s
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

func.func @scale_too_wide(%x: tensor<3x4xi8>) -> tensor<3x2xi8> {
  %w = dnn.constant dense<[[1, -2], [3, 4], [5, 6], [-7, 8]]> : tensor<4x2xi8>
  %acc = dnn.matmul %x, %w : (tensor<3x4xi8>, tensor<4x2xi8>) -> tensor<3x2xi32>
  %mul = dnn.constant dense<709> : tensor<i32>
  %add = dnn.constant dense<-5> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<3x2xi32>, tensor<i32>, tensor<i32>) -> tensor<3x2xi8>
  func.return %y : tensor<3x2xi8>
}

// CHECK-LABEL: func.func @scale_too_wide
// CHECK-NOT:     dnn.engine

func.func @activation_weights(%x: tensor<3x4xi8>, %w: tensor<4x2xi8>) -> tensor<3x2xi8> {
  %acc = dnn.matmul %x, %w : (tensor<3x4xi8>, tensor<4x2xi8>) -> tensor<3x2xi32>
  %mul = dnn.constant dense<3> : tensor<i32>
  %add = dnn.constant dense<-5> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<3x2xi32>, tensor<i32>, tensor<i32>) -> tensor<3x2xi8>
  func.return %y : tensor<3x2xi8>
}

// CHECK-LABEL: func.func @activation_weights
// CHECK-NOT:     dnn.engine
