// convert-dnn-to-kernel: tensors become buffers, results become out-parameters, and each
// dnn op becomes a call to its runtime_c kernel with static shapes worked out.
// RUN: deeploy-opt %s -p convert-dnn-to-kernel | filecheck %s

func.func @main(%x: tensor<2x8xf32> {dnn.name = "x"}, %b: tensor<8xf32>) -> (tensor<2x8xf32> {dnn.name = "y"}, tensor<16xf32>) {
  %scale = dnn.constant dense<[2.0]> : tensor<1xf32>
  %s = dnn.mul %x, %scale {dnn.node = "mul"} : (tensor<2x8xf32>, tensor<1xf32>) -> tensor<2x8xf32>
  %a = dnn.add %s, %b {dnn.node = "add"} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %y = dnn.softmax %a {axis = 1 : i64} : tensor<2x8xf32>
  %flat = dnn.reshape %a : tensor<2x8xf32> -> tensor<16xf32>
  func.return %y, %flat : tensor<2x8xf32>, tensor<16xf32>
}

// The small constant becomes a private memref.global.
// CHECK:      "memref.global"() <{sym_name = "xd_const0", type = memref<1xf32>, initial_value = dense<2.000000e+00> : tensor<1xf32>, sym_visibility = "private", constant}>
// Results are out-parameters marked dnn.output; the function returns nothing.
// CHECK:      func.func @main(%x: memref<2x8xf32> {dnn.name = "x"}, %b: memref<8xf32>, %y: memref<2x8xf32> {dnn.name = "y", dnn.output}, %flat: memref<16xf32> {dnn.output}) {
// CHECK-NEXT:   %scale = memref.get_global @xd_const0 : memref<1xf32>
// CHECK-NEXT:   %s = memref.alloc() {dnn.node = "mul"} : memref<2x8xf32>
// Broadcasting is resolved into strides (0 on broadcast dimensions).
// CHECK-NEXT:   kernel.call @xd_binary_f32(XD_MUL, %x, %scale, %s, 2 : i32, array<i32: 2, 8>, array<i32: 8, 1>, array<i32: 0, 0>) {dnn.node = "mul"}
// CHECK-NEXT:   %a = memref.alloc() {dnn.node = "add"} : memref<2x8xf32>
// CHECK-NEXT:   kernel.call @xd_binary_f32(XD_ADD, %s, %b, %a, 2 : i32, array<i32: 2, 8>, array<i32: 8, 1>, array<i32: 0, 1>) {dnn.node = "add"}
// A returned value is computed straight into its out-parameter.
// CHECK-NEXT:   kernel.call @xd_softmax_f32(%a, %y, 2 : i32, 8 : i32, 1 : i32, 0 : i32)
// A reshape is an alias, not a copy ...
// CHECK-NEXT:   %flat_1 = memref.reinterpret_cast %a to offset: [0], sizes: [16], strides: [1] : memref<2x8xf32> to memref<16xf32>
// ... and a returned alias is copied into its out-parameter.
// CHECK-NEXT:   kernel.call @xd_copy(%flat_1, %flat, 4 : i32, 16 : i32)
// CHECK-NEXT:   func.return

// Ops `dnn-map-engines` marked for the NPU become its jobs. A batched product of two
// activations: per batch, B's matrix is loaded into the engine's memory (one buffer
// reused) and a matmul job requantizes with that batch's scale and bias (the
// rounding 2^(s-1) = 128 folded into the bias); the int32 product never exists.
func.func @npu_batched(%a: tensor<2x3x40xi8>, %k: tensor<2x40x20xi8>) -> tensor<2x3x20xi8> {
  %acc = dnn.matmul %a, %k {dnn.engine = "npu"} : (tensor<2x3x40xi8>, tensor<2x40x20xi8>) -> tensor<2x3x20xi32>
  %mul = dnn.constant dense<[[[3]], [[200]]]> : tensor<2x1x1xi32>
  %add = dnn.constant dense<-5> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {dnn.engine = "npu", div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<2x3x20xi32>, tensor<2x1x1xi32>, tensor<i32>) -> tensor<2x3x20xi8>
  func.return %y : tensor<2x3x20xi8>
}

// CHECK:       "memref.global"() <{sym_name = "[[SCALE0:.*]]", type = memref<20xui8>, initial_value = dense<3> : tensor<20xui8>
// CHECK:       "memref.global"() <{sym_name = "[[BIAS:.*]]", type = memref<20xi32>, initial_value = dense<123> : tensor<20xi32>
// CHECK:       "memref.global"() <{sym_name = "[[SCALE1:.*]]", type = memref<20xui8>, initial_value = dense<200> : tensor<20xui8>
// CHECK-LABEL: func.func @npu_batched
// CHECK-NEXT:    %npu_loaded_weights = memref.alloc() : memref<32x64xi8, "NPU">
// CHECK-NEXT:    %[[K0:.*]] = memref.reinterpret_cast %k to offset: [0], sizes: [40, 20]
// CHECK-NEXT:    npu.load_weights %[[K0]] -> %npu_loaded_weights
// CHECK-NEXT:    %npu_scale = memref.get_global @[[SCALE0:.*]] : memref<20xui8>
// CHECK-NEXT:    %npu_bias = memref.get_global @[[BIAS:.*]] : memref<20xi32>
// CHECK-NEXT:    %[[A0:.*]] = memref.reinterpret_cast %a to offset: [0], sizes: [3, 40]
// CHECK-NEXT:    %[[Y0:.*]] = memref.reinterpret_cast %y to offset: [0], sizes: [3, 20]
// CHECK-NEXT:    npu.matmul shift 8 (%[[A0]], %npu_loaded_weights) requant(%npu_scale, %npu_bias) -> %[[Y0]]
// CHECK-NEXT:    %[[K1:.*]] = memref.reinterpret_cast %k to offset: [800], sizes: [40, 20]
// CHECK-NEXT:    npu.load_weights %[[K1]] -> %npu_loaded_weights
// CHECK-NEXT:    %npu_scale_1 = memref.get_global @[[SCALE1:.*]] : memref<20xui8>
// CHECK-NEXT:    %npu_bias_1 = memref.get_global @[[BIAS]] : memref<20xi32>
// CHECK-NEXT:    %[[A1:.*]] = memref.reinterpret_cast %a to offset: [120], sizes: [3, 40]
// CHECK-NEXT:    %[[Y1:.*]] = memref.reinterpret_cast %y to offset: [60], sizes: [3, 20]
// CHECK-NEXT:    npu.matmul shift 8 (%[[A1]], %npu_loaded_weights) requant(%npu_scale_1, %npu_bias_1) -> %[[Y1]]
// CHECK-NOT:     xd_requant_shift
// CHECK:         func.return

// A convolution the engine has no mode for (5x3, strides 2x1): the cluster gathers its
// im2col patches (pixels x taps), one matmul job by the packed weights ([Cout', taps'])
// computes pixels x channels, transposed back to NCHW.
func.func @npu_im2col(%x: tensor<1x2x9x6xi8>) -> tensor<1x3x3x4xi32> {
  %w = dnn.constant dense<1> : tensor<3x2x5x3xi8>
  %y = dnn.conv %x, %w {dnn.engine = "npu", strides = array<i64: 2, 1>, pads = array<i64: 1, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x2x9x6xi8>, tensor<3x2x5x3xi8> -> tensor<1x3x3x4xi32>
  func.return %y : tensor<1x3x3x4xi32>
}

// CHECK-LABEL: func.func @npu_im2col
// CHECK:         %patches = memref.alloc() : memref<12x30xi8>
// CHECK-NEXT:    kernel.call @xd_im2col(%x, %patches, 1 : i32, 2 : i32, 9 : i32, 6 : i32, 5 : i32, 3 : i32, 2 : i32, 1 : i32, 1 : i32, 1 : i32, 1 : i32, 0 : i32, 3 : i32, 4 : i32)
// CHECK-NEXT:    %npu_weights = kernel.weights <{{.*}}, tensor<32x32xi8>> : memref<32x32xi8, "NPU">
// CHECK-NEXT:    %[[ACC:.*]] = memref.alloc() : memref<12x3xi32>
// CHECK-NEXT:    npu.matmul shift 0 (%patches, %npu_weights) -> %[[ACC]]
// CHECK-NEXT:    kernel.call @xd_strided_copy(%[[ACC]], %y, 4 : i32, 3 : i32, array<i32: 3, 3, 4>, array<i32: 1, 12, 3>)

// A gemm by constant weights (B transposed at compile time): one job into the int32
// result, then the cluster adds C (widened to int32 first).
func.func @npu_gemm(%x: tensor<3x4xi8>) -> tensor<3x2xi32> {
  %w = dnn.constant dense<[[1, -2, 3, 4], [5, 6, -7, 8]]> : tensor<2x4xi8>
  %c = dnn.constant dense<[9, -9]> : tensor<2xi8>
  %y = dnn.gemm %x, %w, %c {dnn.engine = "npu", trans_b} : tensor<3x4xi8>, tensor<2x4xi8>, tensor<2xi8> -> tensor<3x2xi32>
  func.return %y : tensor<3x2xi32>
}

// CHECK-LABEL: func.func @npu_gemm
// CHECK:         %npu_weights = kernel.weights <{{.*}}, tensor<32x32xi8>> : memref<32x32xi8, "NPU">
// CHECK-NEXT:    npu.matmul shift 0 (%x, %npu_weights) -> %y
// CHECK:         kernel.call @xd_cast(%{{.*}}, XD_T_I8, %[[C32:.*]], XD_T_I32, 2 : i32)
// CHECK-NEXT:    kernel.call @xd_binary_int(XD_ADD, XD_T_I32, %y, %[[C32]], %y, 2 : i32, array<i32: 3, 2>, array<i32: 2, 1>, array<i32: 0, 1>)

// A requantization records the bounds of what it computes before its shift, proved
// from its producers: x from 16 products of int8 by 5 within [-10240, 10160], times 3;
// add -7 with the rounding 2^3: [-30720, 30481] (asm kernels then use 32 bits).
func.func @requant_bounds(%x: tensor<2x16xi8>) -> tensor<2x3xi8> {
  %w = dnn.constant dense<5> : tensor<16x3xi8>
  %acc = dnn.matmul %x, %w : (tensor<2x16xi8>, tensor<16x3xi8>) -> tensor<2x3xi32>
  %mul = dnn.constant dense<3> : tensor<i32>
  %add = dnn.constant dense<-7> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {div = 16 : i64, n_levels = 256 : i64, signed} : (tensor<2x3xi32>, tensor<i32>, tensor<i32>) -> tensor<2x3xi8>
  func.return %y : tensor<2x3xi8>
}

// CHECK-LABEL: func.func @requant_bounds
// CHECK:         kernel.call @xd_requant_shift({{.*}}) {kernel.requant_range = array<i64: -30720, 30481>}

// An NPU job `dnn-tile` cut into row tiles: the engine streams from L1, so each tile of
// A is fetched by DMA, the job computes it there, and its rows of the result go back;
// the weights are read from the engine's memory, the scale and bias set once.
func.func @npu_tiled(%x: tensor<64x40xi8>) -> tensor<64x20xi8> {
  %w = dnn.constant dense<1> : tensor<40x20xi8>
  %acc = dnn.matmul %x, %w {dnn.engine = "npu"} : (tensor<64x40xi8>, tensor<40x20xi8>) -> tensor<64x20xi32>
  %mul = dnn.constant dense<3> : tensor<i32>
  %add = dnn.constant dense<0> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {dnn.engine = "npu", dnn.tile = {tiles = array<i64: 16>, order = array<i64: 0>}, div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<64x20xi32>, tensor<i32>, tensor<i32>) -> tensor<64x20xi8>
  func.return %y : tensor<64x20xi8>
}

// CHECK-LABEL: func.func @npu_tiled
// CHECK:         %npu_weights = kernel.weights <{{.*}}> : memref<32x64xi8, "NPU">
// CHECK:         %x_l1 = memref.alloc() : memref<16x40xi8, "L1">
// CHECK-NEXT:    %y_l1 = memref.alloc() : memref<16x20xi8, "L1">
// CHECK:         scf.for %td0 = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:           %x_tile = memref.subview %x[%od0, 0] [16, 40] [1, 1]
// CHECK-NEXT:      %[[IN:.*]] = dma.start %x_tile, %x_l1
// CHECK-NEXT:      dma.wait %[[IN]]
// CHECK-NEXT:      npu.matmul shift 8 (%x_l1, %npu_weights) requant(%npu_scale, %npu_bias) -> %y_l1
// CHECK-NEXT:      %y_tile = memref.subview %y[%od0, 0] [16, 20] [1, 1]
// CHECK-NEXT:      %[[OUT:.*]] = dma.start %y_l1, %y_tile
// CHECK-NEXT:      dma.wait %[[OUT]]

// A convolution in the engine's own mode staged whole (one tile): DMA transfers move
// the NCHW input, seen as height x width x channels, into an L1 buffer, and the HWC
// result back through the same view of the output: the transposes are the transfers.
func.func @npu_conv_staged(%x: tensor<1x2x5x5xi8>) -> tensor<1x2x5x5xi32> {
  %w = dnn.constant dense<1> : tensor<2x2x3x3xi8>
  %y = dnn.conv %x, %w {dnn.engine = "npu", dnn.tile = {tiles = array<i64: 1>, order = array<i64: 0>}, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x2x5x5xi8>, tensor<2x2x3x3xi8> -> tensor<1x2x5x5xi32>
  func.return %y : tensor<1x2x5x5xi32>
}

// CHECK-LABEL: func.func @npu_conv_staged
// CHECK:         %[[XL1:.*]] = memref.alloc() : memref<5x5x2xi8, "L1">
// CHECK-NEXT:    %[[YL1:.*]] = memref.alloc() : memref<5x5x2xi32, "L1">
// CHECK-NEXT:    %npu_weights = kernel.weights
// CHECK-NEXT:    %[[XV:.*]] = memref.reinterpret_cast %x to offset: [0], sizes: [5, 5, 2], strides: [5, 1, 25] : memref<1x2x5x5xi8> to memref<5x5x2xi8, strided<[5, 1, 25]>>
// CHECK-NEXT:    %[[IN:.*]] = dma.start %[[XV]], %[[XL1]]
// CHECK-NEXT:    dma.wait %[[IN]]
// CHECK-NEXT:    npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 0 (%[[XL1]], %npu_weights) -> %[[YL1]]
// CHECK-NEXT:    %[[YV:.*]] = memref.reinterpret_cast %y to offset: [0], sizes: [5, 5, 2], strides: [5, 1, 25]
// CHECK-NEXT:    %[[OUT:.*]] = dma.start %[[YL1]], %[[YV]]
// CHECK-NEXT:    dma.wait %[[OUT]]
// CHECK-NOT:     xd_strided_copy
// CHECK:         func.return
