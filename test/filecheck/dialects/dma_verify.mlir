// dma.start moves elements: same element type and shape, two different buffers.
// RUN: deeploy-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%a: memref<4xf32, "L2">, %b: memref<4xi32, "L1">) {
  %t = dma.start %a, %b : memref<4xf32, "L2">, memref<4xi32, "L1"> -> !dma.token
  dma.wait %t : !dma.token
  func.return
}
// CHECK: dma.start: source and destination element types differ (f32 vs i32)

// -----
func.func @f(%a: memref<4x4xf32, "L2">, %b: memref<16xf32, "L1">) {
  %t = dma.start %a, %b : memref<4x4xf32, "L2">, memref<16xf32, "L1"> -> !dma.token
  dma.wait %t : !dma.token
  func.return
}
// CHECK: dma.start: source and destination shapes differ ([4, 4] vs [16])

// -----
func.func @f(%a: memref<4xf32, "L1">) {
  %t = dma.start %a, %a : memref<4xf32, "L1">, memref<4xf32, "L1"> -> !dma.token
  dma.wait %t : !dma.token
  func.return
}
// CHECK: dma.start: source and destination are the same buffer
