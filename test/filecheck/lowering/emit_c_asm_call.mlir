// The c target declares each kernel made for assembly (kernel.asm) and calls it on the
// buffers' addresses: written ones void *, read-only ones const void *.
// RUN: deeploy-opt %s -t c | filecheck %s

func.func @xd_asm_add(%a: memref<8xi8>, %b: memref<8xi8>, %y: memref<8xi8>) attributes {kernel.asm = "xd_binary_int"} {
  %c0 = arith.constant 0 : index
  %v = memref.load %a[%c0] : memref<8xi8>
  memref.store %v, %y[%c0] : memref<8xi8>
  func.return
}
func.func @main(%x: memref<2x4xui8>, %w: memref<2x4xi8>, %y: memref<2x4xi8> {dnn.output}) {
  kernel.asm_call @xd_asm_add(%x, %w, %y) {dnn.node = "add"} : memref<2x4xui8>, memref<2x4xi8>, memref<2x4xi8>
  func.return
}

// CHECK:       void xd_asm_add(const void *, const void *, void *); /* assembly: kernels.S */
// CHECK-NOT:   memref
// CHECK:       void xd_main(const uint8_t *x, const int8_t *w, int8_t *y) {
// CHECK-NEXT:      XD_LAYER_MARK();
// CHECK-NEXT:      xd_asm_add(x, w, y);
// CHECK-NEXT:      XD_LAYER_MARK();
// CHECK-NEXT:  }
