// dma.start copies between memory levels (strided tiles allowed) and returns a token;
// dma.wait ends the transfer.
// RUN: deeploy-opt %s | deeploy-opt | filecheck %s
// RUN: deeploy-opt %s --print-op-generic | deeploy-opt | filecheck %s

func.func @copies(%a: memref<16x16xf32, "L2">, %b: memref<16x16xf32, "L1">, %t: memref<4x4xi8, strided<[16, 1], offset: 20>, "L2">, %u: memref<4x4xi8, "L1">) {
  %0 = dma.start %a, %b : memref<16x16xf32, "L2">, memref<16x16xf32, "L1"> -> !dma.token
  %1 = dma.start %t, %u {dnn.node = "tile"} : memref<4x4xi8, strided<[16, 1], offset: 20>, "L2">, memref<4x4xi8, "L1"> -> !dma.token
  dma.wait %1 : !dma.token
  dma.wait %0 : !dma.token
  func.return
}

// CHECK-LABEL: func.func @copies
// CHECK-NEXT:    %0 = dma.start %a, %b : memref<16x16xf32, "L2">, memref<16x16xf32, "L1"> -> !dma.token
// CHECK-NEXT:    %1 = dma.start %t, %u {dnn.node = "tile"} : memref<4x4xi8, strided<[16, 1], offset: 20>, "L2">, memref<4x4xi8, "L1"> -> !dma.token
// CHECK-NEXT:    dma.wait %1 : !dma.token
// CHECK-NEXT:    dma.wait %0 : !dma.token
// CHECK-NEXT:    func.return
