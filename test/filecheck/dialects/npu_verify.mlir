// npu jobs are checked against the engine's constraints: kinds, strides, padding, the
// weights' memory and padded layout, 8-bit data, the requantization's operands.
// RUN: deeploy-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: memref<8x8x16xui8>, %w: memref<32x25x28xi8, "NPU">, %y: memref<8x8x16xi32>) {
  npu.conv2d dense5x5 stride 1 pad [0, 0, 0, 0] shift 0 (%x, %w) -> %y : memref<8x8x16xui8>, memref<32x25x28xi8, "NPU"> -> memref<8x8x16xi32>
  func.return
}
// CHECK: npu.conv2d: kind 'dense5x5' is not one of dense3x3, depthwise3x3, pointwise

// -----
func.func @f(%x: memref<8x8x16xui8>, %w: memref<32x9x28xi8, "NPU">, %y: memref<3x3x16xi32>) {
  npu.conv2d dense3x3 stride 3 pad [0, 0, 0, 0] shift 0 (%x, %w) -> %y : memref<8x8x16xui8>, memref<32x9x28xi8, "NPU"> -> memref<3x3x16xi32>
  func.return
}
// CHECK: npu.conv2d: stride 3 (the engine does 1 or 2)

// -----
func.func @f(%x: memref<8x8x16xui8>, %w: memref<32x32xi8, "NPU">, %y: memref<10x10x16xi32>) {
  npu.conv2d pointwise stride 1 pad [1, 1, 1, 1] shift 0 (%x, %w) -> %y : memref<8x8x16xui8>, memref<32x32xi8, "NPU"> -> memref<10x10x16xi32>
  func.return
}
// CHECK: npu.conv2d: padding [1, 1, 1, 1]: [top, left, bottom, right], each 0

// -----
func.func @f(%x: memref<8x8x16xui8>, %w: memref<32x9x28xi8, "NPU">, %y: memref<8x8x16xi32>) {
  npu.conv2d dense3x3 stride 1 pad [0, 0, 0, 0] shift 0 (%x, %w) -> %y : memref<8x8x16xui8>, memref<32x9x28xi8, "NPU"> -> memref<8x8x16xi32>
  func.return
}
// CHECK: npu.conv2d: the output is 6x6, not 8x8

// -----
func.func @f(%x: memref<8x8x16xui8>, %w: memref<16x9x16xi8, "NPU">, %y: memref<8x8x16xi32>) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 0 (%x, %w) -> %y : memref<8x8x16xui8>, memref<16x9x16xi8, "NPU"> -> memref<8x8x16xi32>
  func.return
}
// CHECK: npu.conv2d: dense3x3 weights are laid out [32, 9, 28], not [16, 9, 16]

// -----
func.func @f(%x: memref<8x8x16xui8>, %w: memref<32x9x28xi8, "L2">, %y: memref<8x8x16xi32>) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 0 (%x, %w) -> %y : memref<8x8x16xui8>, memref<32x9x28xi8, "L2"> -> memref<8x8x16xi32>
  func.return
}
// CHECK: npu.conv2d: the weights must be in the engine's memory (memory space "NPU"), not "L2"

// -----
func.func @f(%x: memref<8x8x16xf32>, %w: memref<32x9x28xi8, "NPU">, %y: memref<8x8x16xi32>) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 0 (%x, %w) -> %y : memref<8x8x16xf32>, memref<32x9x28xi8, "NPU"> -> memref<8x8x16xi32>
  func.return
}
// CHECK: npu.conv2d: the input must hold 8-bit integers, not f32

// -----
func.func @f(%x: memref<8x8x16xui8>, %w: memref<32x9x28xi8, "NPU">, %y: memref<8x8x16xi8>) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 0 (%x, %w) -> %y : memref<8x8x16xui8>, memref<32x9x28xi8, "NPU"> -> memref<8x8x16xi8>
  func.return
}
// CHECK: npu.conv2d: without requant the output is int32

// -----
func.func @f(%a: memref<4x40xi8>, %w: memref<32x64xi8, "NPU">, %s: memref<20xi32>, %b: memref<20xi32>, %y: memref<4x20xi8>) {
  npu.matmul shift 8 (%a, %w) requant(%s, %b) -> %y : memref<4x40xi8>, memref<32x64xi8, "NPU">, memref<20xi32>, memref<20xi32> -> memref<4x20xi8>
  func.return
}
// CHECK: npu.matmul: the scale is unsigned 8-bit (ui8)

// -----
func.func @f(%a: memref<4x40xi8>, %w: memref<32x64xi8, "NPU">, %s: memref<16xui8>, %b: memref<16xi32>, %y: memref<4x20xi8>) {
  npu.matmul shift 8 (%a, %w) requant(%s, %b) -> %y : memref<4x40xi8>, memref<32x64xi8, "NPU">, memref<16xui8>, memref<16xi32> -> memref<4x20xi8>
  func.return
}
// CHECK: npu.matmul: the scale needs one value per output channel (20)

// -----
func.func @f(%a: memref<4x40xi8>, %w: memref<32x64xi8, "NPU">, %s: memref<20xui8>, %b: memref<20xi32>, %y: memref<4x20xi8>) {
  npu.matmul shift 40 (%a, %w) requant(%s, %b) -> %y : memref<4x40xi8>, memref<32x64xi8, "NPU">, memref<20xui8>, memref<20xi32> -> memref<4x20xi8>
  func.return
}
// CHECK: npu.matmul: shift 40 is not in 0..31

// -----
func.func @f(%a: memref<4x40xi8>, %w: memref<32x40xi8, "NPU">, %y: memref<4x20xi32>) {
  npu.matmul shift 0 (%a, %w) -> %y : memref<4x40xi8>, memref<32x40xi8, "NPU"> -> memref<4x20xi32>
  func.return
}
// CHECK: npu.matmul: the weights are laid out [32, 64], not [32, 40]

// -----
func.func @f(%k: memref<40x20xui8>, %w: memref<32x64xi8, "NPU">) {
  npu.load_weights %k -> %w : memref<40x20xui8> -> memref<32x64xi8, "NPU">
  func.return
}
// CHECK: npu.load_weights: the source holds signed 8-bit integers, not ui8

// -----
func.func @f(%k: memref<40x20xi8>, %w: memref<32x64xi8>) {
  npu.load_weights %k -> %w : memref<40x20xi8> -> memref<32x64xi8>
  func.return
}
// CHECK: npu.load_weights: the weights go to the engine's memory ("NPU"), not none

// -----
func.func @f(%k: memref<40x20xi8>, %w: memref<32x40xi8, "NPU">) {
  npu.load_weights %k -> %w : memref<40x20xi8> -> memref<32x40xi8, "NPU">
  func.return
}
// CHECK: npu.load_weights: 40x20 packs into [32, 64], not [32, 40]
