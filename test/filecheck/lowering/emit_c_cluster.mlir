// The c target on cluster forks: each fork region becomes a static function of the
// core id, printed before the function that forks; the values the region uses from
// outside (buffers, a loop index) travel in a struct, and xd_cluster_fork runs the
// function on every core and returns when all are done. cluster.barrier is a call,
// cluster.num_cores the fork's core count. XD_LAYER_MARK() (nothing unless a profiling
// build defines XD_PROFILE) runs where the node computed changes, and after the last.
// RUN: deeploy-opt %s -t c | filecheck %s

func.func @halves(%x: memref<2x64xf32> {dnn.name = "x"}, %y: memref<2x64xf32> {dnn.name = "y", dnn.output}) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c2 step %c1 {
    cluster.fork cores(2) {
    ^bb0(%core: index):
      %n = cluster.num_cores
      %row = arith.muli %core, %n : index
      %at = arith.addi %row, %i : index
      %xs = memref.subview %x[%at, 0] [1, 64] [1, 1] : memref<2x64xf32> to memref<64xf32, strided<[1], offset: ?>>
      %ys = memref.subview %y[%at, 0] [1, 64] [1, 1] : memref<2x64xf32> to memref<64xf32, strided<[1], offset: ?>>
      kernel.call @xd_unary_f32(XD_EXP, %xs, %ys, 64 : i32, 0.0 : f32, 0.0 : f32) : memref<64xf32, strided<[1], offset: ?>>, memref<64xf32, strided<[1], offset: ?>>
      cluster.barrier
      cluster.join
    }
  }
  cluster.fork cores(8) {
  ^bb0(%core: index):
    cluster.join
  }
  func.return
}

// CHECK:       #include "xd_cluster.h"
// CHECK:       struct xd_fork0_ctx {
// CHECK-NEXT:      int32_t i;
// CHECK-NEXT:      const float *x;
// CHECK-NEXT:      float *y;
// CHECK-NEXT:  };
// CHECK:       static void xd_fork0(int32_t core, void *arg) {
// CHECK-NEXT:      (void)core;
// CHECK-NEXT:      const struct xd_fork0_ctx *ctx = (const struct xd_fork0_ctx *)arg;
// CHECK-NEXT:      int32_t i = ctx->i;
// CHECK-NEXT:      const float *x = ctx->x;
// CHECK-NEXT:      float *y = ctx->y;
// CHECK-NEXT:      int32_t n = 2;
// CHECK-NEXT:      int32_t row = core * n;
// CHECK-NEXT:      int32_t at = row + i;
// CHECK-NEXT:      const float *xs = x + at * 64;
// CHECK-NEXT:      float *ys = y + at * 64;
// CHECK-NEXT:      xd_unary_f32(XD_EXP, xs, ys, 64, 0.0f, 0.0f);
// CHECK-NEXT:      xd_cluster_barrier();
// CHECK-NEXT:  }
// A region that uses nothing from outside needs no struct.
// CHECK:       static void xd_fork1(int32_t core, void *arg) {
// CHECK-NEXT:      (void)core;
// CHECK-NEXT:      (void)arg;
// CHECK-NEXT:  }
// CHECK:       void xd_halves(const float *x, float *y) {
// CHECK-NEXT:      for (int32_t i = 0; i < 2; i += 1) {
// CHECK-NEXT:          {
// CHECK-NEXT:              struct xd_fork0_ctx ctx = {i, x, y};
// CHECK-NEXT:              xd_cluster_fork(2, xd_fork0, &ctx);
// CHECK-NEXT:          }
// CHECK-NEXT:      }
// CHECK-NEXT:      xd_cluster_fork(8, xd_fork1, NULL);
// CHECK-NEXT:  }

func.func @layers(%x: memref<512xf32> {dnn.name = "x"}, %y: memref<512xf32> {dnn.name = "y", dnn.output}) {
  kernel.call @xd_unary_f32(XD_EXP, %x, %y, 512 : i32, 0.0 : f32, 0.0 : f32) {dnn.node = "exp"} : memref<512xf32>, memref<512xf32>
  kernel.call @xd_unary_f32(XD_NEG, %y, %y, 512 : i32, 0.0 : f32, 0.0 : f32) {dnn.node = "exp"} : memref<512xf32>, memref<512xf32>
  kernel.call @xd_unary_f32(XD_RELU, %y, %y, 512 : i32, 0.0 : f32, 0.0 : f32) {dnn.node = "relu"} : memref<512xf32>, memref<512xf32>
  func.return
}
// CHECK-LABEL: void xd_layers(const float *x, float *y) {
// CHECK-NEXT:      XD_LAYER_MARK();
// CHECK-NEXT:      xd_unary_f32(XD_EXP, x, y, 512, 0.0f, 0.0f);
// CHECK-NEXT:      xd_unary_f32(XD_NEG, y, y, 512, 0.0f, 0.0f);
// CHECK-NEXT:      XD_LAYER_MARK();
// CHECK-NEXT:      xd_unary_f32(XD_RELU, y, y, 512, 0.0f, 0.0f);
// CHECK-NEXT:      XD_LAYER_MARK();
// CHECK-NEXT:  }
