// The c target on tiled IR: loops over tiles staged in the L1 arena by DMA. Subviews are
// pointers (offsets folded from constants), dma.start/dma.wait call the xd_dma.h runtime,
// a buffer chosen by arith.select is a pointer ?:, and a token carried across iterations
// (double buffering) or yielded by an scf.if is a variable declared before the loop / if.
// RUN: deeploy-opt %s -p plan-memory -t c | filecheck %s

func.func @rows(%x: memref<8x64xf32> {dnn.name = "x"}, %y: memref<8x64xf32> {dnn.name = "y", dnn.output}) {
  %xt = memref.alloc() {dnn.node = "sm"} : memref<2x64xf32, "L1">
  %yt = memref.alloc() {dnn.node = "sm"} : memref<2x64xf32, "L1">
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %row = arith.muli %i, %c2 : index
    %xs = memref.subview %x[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: ?>>
    %t0 = dma.start %xs, %xt : memref<2x64xf32, strided<[64, 1], offset: ?>>, memref<2x64xf32, "L1"> -> !dma.token
    dma.wait %t0 : !dma.token
    kernel.call @xd_softmax_f32(%xt, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : memref<2x64xf32, "L1">, memref<2x64xf32, "L1">
    %ys = memref.subview %y[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: ?>>
    %t1 = dma.start %yt, %ys : memref<2x64xf32, "L1">, memref<2x64xf32, strided<[64, 1], offset: ?>> -> !dma.token
    dma.wait %t1 : !dma.token
  }
  func.return
}

// Tile i + 1 is fetched into one buffer while tile i is computed from the other; the
// last tile (in %b: 3 is odd) is computed after the loop.
func.func @pingpong(%x: memref<8x64xf32> {dnn.name = "x"}, %y: memref<8x64xf32> {dnn.name = "y", dnn.output}) {
  %a = memref.alloc() {dnn.node = "sm"} : memref<2x64xf32, "L1">
  %b = memref.alloc() {dnn.node = "sm"} : memref<2x64xf32, "L1">
  %yt = memref.alloc() {dnn.node = "sm"} : memref<2x64xf32, "L1">
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %x0 = memref.subview %x[0, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1]>>
  %first = dma.start %x0, %a : memref<2x64xf32, strided<[64, 1]>>, memref<2x64xf32, "L1"> -> !dma.token
  %last = scf.for %i = %c0 to %c3 step %c1 iter_args(%t = %first) -> (!dma.token) {
    %parity = arith.remui %i, %c2 : index
    %even = arith.cmpi eq, %parity, %c0 : index
    %cur = arith.select %even, %a, %b : memref<2x64xf32, "L1">
    %nxt = arith.select %even, %b, %a : memref<2x64xf32, "L1">
    dma.wait %t : !dma.token
    %i1 = arith.addi %i, %c1 : index
    %row1 = arith.muli %i1, %c2 : index
    %xs = memref.subview %x[%row1, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: ?>>
    %next = dma.start %xs, %nxt : memref<2x64xf32, strided<[64, 1], offset: ?>>, memref<2x64xf32, "L1"> -> !dma.token
    kernel.call @xd_softmax_f32(%cur, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : memref<2x64xf32, "L1">, memref<2x64xf32, "L1">
    %row = arith.muli %i, %c2 : index
    %ys = memref.subview %y[%row, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: ?>>
    %out = dma.start %yt, %ys : memref<2x64xf32, "L1">, memref<2x64xf32, strided<[64, 1], offset: ?>> -> !dma.token
    dma.wait %out : !dma.token
    scf.yield %next : !dma.token
  }
  dma.wait %last : !dma.token
  kernel.call @xd_softmax_f32(%b, %yt, 2 : i32, 64 : i32, 1 : i32, 0 : i32) : memref<2x64xf32, "L1">, memref<2x64xf32, "L1">
  %y3 = memref.subview %y[6, 0] [2, 64] [1, 1] : memref<8x64xf32> to memref<2x64xf32, strided<[64, 1], offset: 384>>
  %out3 = dma.start %yt, %y3 : memref<2x64xf32, "L1">, memref<2x64xf32, strided<[64, 1], offset: 384>> -> !dma.token
  dma.wait %out3 : !dma.token
  func.return
}

// As dma-double-buffer writes it: the fetch of the next tile is under an scf.if whose
// result (a token) is declared before the if and assigned by both branches.
func.func @prefetch(%x: memref<4x16xf32> {dnn.name = "x"}, %y: memref<4x16xf32> {dnn.name = "y", dnn.output}) {
  %a = memref.alloc() : memref<1x16xf32, "L1">
  %b = memref.alloc() : memref<1x16xf32, "L1">
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %x0 = memref.subview %x[0, 0] [1, 16] [1, 1] : memref<4x16xf32> to memref<1x16xf32, strided<[16, 1]>>
  %first = dma.start %x0, %a : memref<1x16xf32, strided<[16, 1]>>, memref<1x16xf32, "L1"> -> !dma.token
  %last = scf.for %i = %c0 to %c4 step %c1 iter_args(%t = %first) -> (!dma.token) {
    %parity = arith.andi %i, %c1 : index
    %even = arith.cmpi eq, %parity, %c0 : index
    %cur = arith.select %even, %a, %b : memref<1x16xf32, "L1">
    %nxt = arith.select %even, %b, %a : memref<1x16xf32, "L1">
    dma.wait %t : !dma.token
    %i1 = arith.addi %i, %c1 : index
    %more = arith.cmpi ult, %i1, %c4 : index
    %next = scf.if %more -> (!dma.token) {
      %xs = memref.subview %x[%i1, 0] [1, 16] [1, 1] : memref<4x16xf32> to memref<1x16xf32, strided<[16, 1], offset: ?>>
      %started = dma.start %xs, %nxt : memref<1x16xf32, strided<[16, 1], offset: ?>>, memref<1x16xf32, "L1"> -> !dma.token
      scf.yield %started : !dma.token
    } else {
      scf.yield %t : !dma.token
    }
    %ys = memref.subview %y[%i, 0] [1, 16] [1, 1] : memref<4x16xf32> to memref<1x16xf32, strided<[16, 1], offset: ?>>
    kernel.call @xd_unary_f32(XD_NEG, %cur, %ys, 16 : i32, 0.0 : f32, 0.0 : f32) : memref<1x16xf32, "L1">, memref<1x16xf32, strided<[16, 1], offset: ?>>
    scf.yield %next : !dma.token
  }
  func.return
}

// CHECK:      #include "xd_kernels.h"
// CHECK-NEXT: #include "xd_dma.h"
// CHECK-EMPTY:
// CHECK-NEXT: #ifdef XD_PROFILE
// CHECK-NEXT: #include "xd_cluster.h"
// CHECK-NEXT: #define XD_LAYER_MARK() xd_cluster_mark()
// CHECK-NEXT: #else
// CHECK-NEXT: #define XD_LAYER_MARK() ((void)0)
// CHECK-NEXT: #endif
// CHECK-NEXT: #ifndef XD_L1_SECTION
// CHECK-NEXT: #define XD_L1_SECTION
// CHECK-NEXT: #endif
// CHECK-NEXT: XD_L1_SECTION static uint64_t rows_l1_arena[128]; /* 1024 bytes */
// CHECK-NEXT: XD_L1_SECTION static uint64_t pingpong_l1_arena[192]; /* 1536 bytes */
// CHECK-NEXT: XD_L1_SECTION static uint64_t prefetch_l1_arena[16]; /* 128 bytes */

// CHECK:      void xd_rows(const float *x, float *y) {
// CHECK-NEXT:     float *xt = (float *)((uint8_t *)rows_l1_arena + 0);
// CHECK-NEXT:     float *yt = (float *)((uint8_t *)rows_l1_arena + 512);
// CHECK-NEXT:     for (int32_t i = 0; i < 4; i += 1) {
// CHECK-NEXT:         int32_t row = i * 2;
// CHECK-NEXT:         const float *xs = x + row * 64;
// CHECK-NEXT:         xd_dma_token t0 = xd_dma_start(xt, xs, 4, 2, (const int32_t[]){2, 64}, (const int32_t[]){64, 1}, (const int32_t[]){64, 1});
// CHECK-NEXT:         xd_dma_wait(t0);
// CHECK-NEXT:         xd_softmax_f32(xt, yt, 2, 64, 1, 0);
// CHECK-NEXT:         float *ys = y + row * 64;
// CHECK-NEXT:         xd_dma_token t1 = xd_dma_start(ys, yt, 4, 2, (const int32_t[]){2, 64}, (const int32_t[]){64, 1}, (const int32_t[]){64, 1});
// CHECK-NEXT:         xd_dma_wait(t1);
// CHECK-NEXT:     }
// CHECK-NEXT: }

// CHECK:      void xd_pingpong(const float *x, float *y) {
// CHECK-NEXT:     float *a = (float *)((uint8_t *)pingpong_l1_arena + 0);
// CHECK-NEXT:     float *b = (float *)((uint8_t *)pingpong_l1_arena + 512);
// CHECK-NEXT:     float *yt = (float *)((uint8_t *)pingpong_l1_arena + 1024);
// CHECK-NEXT:     const float *x0 = x;
// CHECK-NEXT:     xd_dma_token first = xd_dma_start(a, x0, 4, 2, (const int32_t[]){2, 64}, (const int32_t[]){64, 1}, (const int32_t[]){64, 1});
// CHECK-NEXT:     xd_dma_token t = first;
// CHECK-NEXT:     for (int32_t i = 0; i < 3; i += 1) {
// CHECK-NEXT:         int32_t parity = (int32_t)((uint32_t)i % (uint32_t)2);
// CHECK-NEXT:         int even = parity == 0;
// CHECK-NEXT:         float *cur = even ? a : b;
// CHECK-NEXT:         float *nxt = even ? b : a;
// CHECK-NEXT:         xd_dma_wait(t);
// CHECK-NEXT:         int32_t i1 = i + 1;
// CHECK-NEXT:         int32_t row1 = i1 * 2;
// CHECK-NEXT:         const float *xs = x + row1 * 64;
// CHECK-NEXT:         xd_dma_token next = xd_dma_start(nxt, xs, 4, 2, (const int32_t[]){2, 64}, (const int32_t[]){64, 1}, (const int32_t[]){64, 1});
// CHECK-NEXT:         xd_softmax_f32(cur, yt, 2, 64, 1, 0);
// CHECK-NEXT:         int32_t row = i * 2;
// CHECK-NEXT:         float *ys = y + row * 64;
// CHECK-NEXT:         xd_dma_token out = xd_dma_start(ys, yt, 4, 2, (const int32_t[]){2, 64}, (const int32_t[]){64, 1}, (const int32_t[]){64, 1});
// CHECK-NEXT:         xd_dma_wait(out);
// CHECK-NEXT:         t = next;
// CHECK-NEXT:     }
// CHECK-NEXT:     xd_dma_wait(t);
// CHECK-NEXT:     xd_softmax_f32(b, yt, 2, 64, 1, 0);
// CHECK-NEXT:     float *y3 = y + 384;
// CHECK-NEXT:     xd_dma_token out3 = xd_dma_start(y3, yt, 4, 2, (const int32_t[]){2, 64}, (const int32_t[]){64, 1}, (const int32_t[]){64, 1});
// CHECK-NEXT:     xd_dma_wait(out3);
// CHECK-NEXT: }

// CHECK:      void xd_prefetch(const float *x, float *y) {
// CHECK-NEXT:     float *a = (float *)((uint8_t *)prefetch_l1_arena + 0);
// CHECK-NEXT:     float *b = (float *)((uint8_t *)prefetch_l1_arena + 64);
// CHECK-NEXT:     const float *x0 = x;
// CHECK-NEXT:     xd_dma_token first = xd_dma_start(a, x0, 4, 2, (const int32_t[]){1, 16}, (const int32_t[]){16, 1}, (const int32_t[]){16, 1});
// CHECK-NEXT:     xd_dma_token t = first;
// CHECK-NEXT:     for (int32_t i = 0; i < 4; i += 1) {
// CHECK-NEXT:         int32_t parity = i & 1;
// CHECK-NEXT:         int even = parity == 0;
// CHECK-NEXT:         float *cur = even ? a : b;
// CHECK-NEXT:         float *nxt = even ? b : a;
// CHECK-NEXT:         xd_dma_wait(t);
// CHECK-NEXT:         int32_t i1 = i + 1;
// CHECK-NEXT:         int more = (uint32_t)i1 < (uint32_t)4;
// CHECK-NEXT:         xd_dma_token next;
// CHECK-NEXT:         if (more) {
// CHECK-NEXT:             const float *xs = x + i1 * 16;
// CHECK-NEXT:             xd_dma_token started = xd_dma_start(nxt, xs, 4, 2, (const int32_t[]){1, 16}, (const int32_t[]){16, 1}, (const int32_t[]){16, 1});
// CHECK-NEXT:             next = started;
// CHECK-NEXT:         } else {
// CHECK-NEXT:             next = t;
// CHECK-NEXT:         }
// CHECK-NEXT:         float *ys = y + i * 16;
// CHECK-NEXT:         xd_unary_f32(XD_NEG, cur, ys, 16, 0.0f, 0.0f);
// CHECK-NEXT:         t = next;
// CHECK-NEXT:     }
// CHECK-NEXT: }
