// dnn-infer-int-types: from the inputs' integer types (as Deeploy infers them from the
// data), every value of a fake-quantized graph gets the type Deeploy's type checkers give
// it; integer-valued constants take the narrowest type holding them.
// RUN: deeploy-opt %s -p 'dnn-infer-int-types{input-types=i8,ui8}' | filecheck %s

func.func @main(%x: tensor<2x4xf32>, %m: tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %w = dnn.constant dense<[[1.0, -2.0, 3.0, 4.0], [5.0, 6.0, 7.0, -8.0], [0.0, 1.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]]> : tensor<4x4xf32>
  %acc = dnn.matmul %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %mul = dnn.constant dense<300.0> : tensor<1xf32>
  %add = dnn.constant dense<-70000.0> : tensor<1xf32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x4xf32>
  %s = dnn.add %y, %m : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %p = dnn.i_softmax %y {coeff_a = 1 : i64, coeff_b = 10 : i64, coeff_c = 210 : i64, log2 = 8 : i64, n_levels = 256 : i64} : tensor<2x4xf32> -> tensor<2x4xf32>
  %g = dnn.gelu %y : tensor<2x4xf32>
  func.return %s, %p, %g : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// CHECK:      func.func @main(%x: tensor<2x4xi8>, %m: tensor<4xui8>) -> (tensor<2x4xi32>, tensor<2x4xui8>, tensor<2x4xf32>) {
// The weights span -8..7: int8; the accumulator is int32.
// CHECK-NEXT:   %w = dnn.constant dense<{{.*}}> : tensor<4x4xi8>
// CHECK-NEXT:   %acc = dnn.matmul %x, %w {dnn.inferred} : (tensor<2x4xi8>, tensor<4x4xi8>) -> tensor<2x4xi32>
// 300 needs uint16 (unsigned first at each width); -70000 needs int32.
// CHECK-NEXT:   %mul = dnn.constant dense<300> : tensor<1xui16>
// CHECK-NEXT:   %add = dnn.constant dense<-70000> : tensor<1xi32>
// 256 signed levels: int8.
// CHECK-NEXT:   %y = dnn.requant_shift %acc, %mul, %add {dnn.inferred, div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<2x4xi32>, tensor<1xui16>, tensor<1xi32>) -> tensor<2x4xi8>
// int8 + uint8 widens to int32, as Deeploy types Add.
// CHECK-NEXT:   %s = dnn.add %y, %m {dnn.inferred} : (tensor<2x4xi8>, tensor<4xui8>) -> tensor<2x4xi32>
// CHECK-NEXT:   %p = dnn.i_softmax %y {{{.*}}} : tensor<2x4xi8> -> tensor<2x4xui8>
// GELU has no integer form: it stays float and reads a cast of its integer operand.
// CHECK-NEXT:   %{{.*}} = dnn.cast %y : tensor<2x4xi8> to tensor<2x4xf32>
// CHECK-NEXT:   %g = dnn.gelu %{{.*}} : tensor<2x4xf32>
