// convert-npu-to-kernel: NPU jobs become calls of the engine's functional model in C
// (npu.c) on platforms without the engine: each buffer with its xd_type, the kind
// (0 dense3x3, 1 depthwise3x3, 2 pointwise), the shapes, the padded input channels,
// stride, top/left padding, shift; no requant is NULL scale and bias. Loading weights
// computed at run time is xd_npu_load_weights(source, weights, k, n, k', n').
// RUN: deeploy-opt %s -p convert-npu-to-kernel | filecheck %s

func.func @jobs(%x: memref<8x8x16xui8>, %w: memref<32x9x28xi8, "NPU">, %s: memref<16xui8>, %b: memref<16xi32>, %y: memref<8x8x16xi8>,
                %dw: memref<28x9xi8, "NPU">, %yd: memref<4x4x16xi8>,
                %pw: memref<32x32xi8, "NPU">, %yp: memref<8x8x16xi32>,
                %a: memref<4x40xi8>, %wm: memref<32x64xi8, "NPU">, %acc: memref<4x20xi32>,
                %kt: memref<40x20xi8>) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 8 (%x, %w) requant(%s, %b) -> %y : memref<8x8x16xui8>, memref<32x9x28xi8, "NPU">, memref<16xui8>, memref<16xi32> -> memref<8x8x16xi8>
  npu.conv2d depthwise3x3 stride 2 pad [1, 1, 0, 0] shift 3 (%x, %dw) requant(%s, %b) -> %yd : memref<8x8x16xui8>, memref<28x9xi8, "NPU">, memref<16xui8>, memref<16xi32> -> memref<4x4x16xi8>
  npu.conv2d pointwise stride 1 pad [0, 0, 0, 0] shift 0 (%x, %pw) -> %yp {dnn.node = "pw"} : memref<8x8x16xui8>, memref<32x32xi8, "NPU"> -> memref<8x8x16xi32>
  npu.load_weights %kt -> %wm : memref<40x20xi8> -> memref<32x64xi8, "NPU">
  npu.matmul shift 0 (%a, %wm) -> %acc : memref<4x40xi8>, memref<32x64xi8, "NPU"> -> memref<4x20xi32>
  func.return
}

// CHECK-LABEL: func.func @jobs
// CHECK-NEXT:    kernel.call @xd_npu_conv2d(%x, XD_T_U8, %w, %s, %b, %y, XD_T_I8, 0 : i32, 8 : i32, 8 : i32, 16 : i32, 16 : i32, 28 : i32, 1 : i32, 1 : i32, 1 : i32, 8 : i32, 8 : i32, 8 : i32)
// CHECK-NEXT:    kernel.call @xd_npu_conv2d(%x, XD_T_U8, %dw, %s, %b, %yd, XD_T_I8, 1 : i32, 8 : i32, 8 : i32, 16 : i32, 16 : i32, 28 : i32, 2 : i32, 1 : i32, 1 : i32, 4 : i32, 4 : i32, 3 : i32)
// CHECK-NEXT:    kernel.call @xd_npu_conv2d(%x, XD_T_U8, %pw, null, null, %yp, XD_T_I32, 2 : i32, 8 : i32, 8 : i32, 16 : i32, 16 : i32, 32 : i32, 1 : i32, 0 : i32, 0 : i32, 8 : i32, 8 : i32, 0 : i32) {dnn.node = "pw"}
// CHECK-NEXT:    kernel.call @xd_npu_load_weights(%kt, %wm, 40 : i32, 20 : i32, 64 : i32, 32 : i32)
// CHECK-NEXT:    kernel.call @xd_npu_matmul(%a, XD_T_I8, %wm, null, null, %acc, XD_T_I32, 4 : i32, 40 : i32, 20 : i32, 64 : i32, 0 : i32)
// CHECK-NEXT:    func.return
