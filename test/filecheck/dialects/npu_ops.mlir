// npu.conv2d and npu.matmul: jobs of an N-EUREKA-like engine on height x width x
// channels (rows x features) activations, weights in its own memory ("NPU") padded to
// its subtiles (28 input channels for 3x3, 32 for 1x1 and matmul; 32 filters),
// requantization (ui8 scale, i32 bias, shift) optional. npu.load_weights moves a
// matrix computed at run time (K x N, int8) into that memory, packed [N', K'].
// RUN: deeploy-opt %s | deeploy-opt | filecheck %s
// RUN: deeploy-opt %s --print-op-generic | deeploy-opt | filecheck %s

func.func @jobs(%x: memref<8x8x16xui8, "L1">, %w: memref<32x9x28xi8, "NPU">, %s: memref<16xui8, "L1">, %b: memref<16xi32, "L1">, %y: memref<8x8x16xi8, "L1">,
                %dw: memref<28x9xi8, "NPU">, %yd: memref<4x4x16xi8, "L1">,
                %pw: memref<32x32xi8, "NPU">, %yp: memref<8x8x16xi32, "L1">,
                %a: memref<4x40xi8, "L1">, %wm: memref<32x64xi8, "NPU">, %acc: memref<4x20xi32, "L1">,
                %kt: memref<40x20xi8, "L1">) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 8 (%x, %w) requant(%s, %b) -> %y : memref<8x8x16xui8, "L1">, memref<32x9x28xi8, "NPU">, memref<16xui8, "L1">, memref<16xi32, "L1"> -> memref<8x8x16xi8, "L1">
  npu.conv2d depthwise3x3 stride 2 pad [1, 1, 0, 0] shift 3 (%x, %dw) requant(%s, %b) -> %yd : memref<8x8x16xui8, "L1">, memref<28x9xi8, "NPU">, memref<16xui8, "L1">, memref<16xi32, "L1"> -> memref<4x4x16xi8, "L1">
  npu.conv2d pointwise stride 1 pad [0, 0, 0, 0] shift 0 (%x, %pw) -> %yp {dnn.node = "pw"} : memref<8x8x16xui8, "L1">, memref<32x32xi8, "NPU"> -> memref<8x8x16xi32, "L1">
  npu.matmul shift 0 (%a, %wm) -> %acc : memref<4x40xi8, "L1">, memref<32x64xi8, "NPU"> -> memref<4x20xi32, "L1">
  npu.load_weights %kt -> %wm : memref<40x20xi8, "L1"> -> memref<32x64xi8, "NPU">
  func.return
}

// CHECK-LABEL: func.func @jobs
// CHECK-NEXT:    npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 8 (%x, %w) requant(%s, %b) -> %y : memref<8x8x16xui8, "L1">, memref<32x9x28xi8, "NPU">, memref<16xui8, "L1">, memref<16xi32, "L1"> -> memref<8x8x16xi8, "L1">
// CHECK-NEXT:    npu.conv2d depthwise3x3 stride 2 pad [1, 1, 0, 0] shift 3 (%x, %dw) requant(%s, %b) -> %yd : memref<8x8x16xui8, "L1">, memref<28x9xi8, "NPU">, memref<16xui8, "L1">, memref<16xi32, "L1"> -> memref<4x4x16xi8, "L1">
// CHECK-NEXT:    npu.conv2d pointwise stride 1 pad [0, 0, 0, 0] shift 0 (%x, %pw) -> %yp {dnn.node = "pw"} : memref<8x8x16xui8, "L1">, memref<32x32xi8, "NPU"> -> memref<8x8x16xi32, "L1">
// CHECK-NEXT:    npu.matmul shift 0 (%a, %wm) -> %acc : memref<4x40xi8, "L1">, memref<32x64xi8, "NPU"> -> memref<4x20xi32, "L1">
// CHECK-NEXT:    npu.load_weights %kt -> %wm : memref<40x20xi8, "L1"> -> memref<32x64xi8, "NPU">
