// plan-memory: every memref.alloc becomes a view into one static arena; buffers whose
// lifetimes do not overlap share addresses, and views keep their source alive.
// RUN: deeploy-opt %s -p plan-memory | filecheck %s

func.func @chain(%x: memref<16xf32>, %y: memref<16xf32> {dnn.output}) {
  %a = memref.alloc() : memref<16xf32>
  kernel.call @xd_unary_f32(XD_EXP, %x, %a, 16 : i32, 0.0 : f32, 0.0 : f32) : memref<16xf32>, memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  kernel.call @xd_unary_f32(XD_EXP, %a, %b, 16 : i32, 0.0 : f32, 0.0 : f32) : memref<16xf32>, memref<16xf32>
  %c = memref.alloc() : memref<16xf32>
  kernel.call @xd_unary_f32(XD_EXP, %b, %c, 16 : i32, 0.0 : f32, 0.0 : f32) : memref<16xf32>, memref<16xf32>
  %big = memref.alloc() : memref<32xf32>
  %view = memref.reinterpret_cast %big to offset: [0], sizes: [32], strides: [1] : memref<32xf32> to memref<32xf32>
  kernel.call @xd_copy(%c, %big, 4 : i32, 16 : i32) : memref<16xf32>, memref<32xf32>
  %d = memref.alloc() : memref<16xf32>
  kernel.call @xd_unary_f32(XD_EXP, %x, %d, 16 : i32, 0.0 : f32, 0.0 : f32) : memref<16xf32>, memref<16xf32>
  kernel.call @xd_copy(%view, %y, 4 : i32, 16 : i32) : memref<32xf32>, memref<16xf32>
  func.return
}

// Lifetimes (op indices): a [0,3], b [2,5], c [4,8], big [6,11] (its view is read at
// 11), d [9,10]. Largest first: big at 0; a at 0 too (dead before big is born); b at 64;
// c at 128 (b and big are alive); d at 128 again (c is dead). 192 B, which is also the
// lower bound: c + big, then big + d, are live together.
// CHECK:      "memref.global"() <{sym_name = "chain_arena", type = memref<192xi8>, initial_value, sym_visibility = "private", alignment = 16 : i64}>
// CHECK:      func.func @chain
// CHECK-SAME:   attributes {kernel.arena = {size = 192 : i64, lower_bound = 192 : i64}}
// CHECK-NEXT:   %arena = memref.get_global @chain_arena : memref<192xi8>
// CHECK-NEXT:   %a_offset = arith.constant 0 : index
// CHECK-NEXT:   %a = memref.view %arena[%a_offset][] : memref<192xi8> to memref<16xf32>
// CHECK:        %b_offset = arith.constant 64 : index
// CHECK:        %c_offset = arith.constant 128 : index
// CHECK:        %big_offset = arith.constant 0 : index
// CHECK:        %d_offset = arith.constant 128 : index

// L1 tiles go to their own arena; every other memory space ("L2" here) is main memory.
// Uses inside the loop count at the loop, so both tiles live through all of it and do not
// share bytes, and %tmp (read in the loop) and %after (born after it) share offset 0 of the
// main arena. %tmp, in "L2", is cast back to its space after the view.
func.func @tiled(%x: memref<4x16xf32, "L2">, %y: memref<4x16xf32> {dnn.output}) {
  %tmp = memref.alloc() : memref<4x16xf32, "L2">
  kernel.call @xd_unary_f32(XD_EXP, %x, %tmp, 64 : i32, 0.0 : f32, 0.0 : f32) : memref<4x16xf32, "L2">, memref<4x16xf32, "L2">
  %xt = memref.alloc() : memref<1x16xf32, "L1">
  %yt = memref.alloc() : memref<1x12xf32, "L1">
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %xs = memref.subview %tmp[%i, 0] [1, 16] [1, 1] : memref<4x16xf32, "L2"> to memref<1x16xf32, strided<[16, 1], offset: ?>, "L2">
    %t = dma.start %xs, %xt : memref<1x16xf32, strided<[16, 1], offset: ?>, "L2">, memref<1x16xf32, "L1"> -> !dma.token
    dma.wait %t : !dma.token
    %flat = memref.reinterpret_cast %yt to offset: [0], sizes: [12], strides: [1] : memref<1x12xf32, "L1"> to memref<12xf32, "L1">
    kernel.call @xd_copy(%xt, %flat, 4 : i32, 12 : i32) : memref<1x16xf32, "L1">, memref<12xf32, "L1">
  }
  %after = memref.alloc() : memref<4x16xf32>
  kernel.call @xd_unary_f32(XD_EXP, %x, %after, 64 : i32, 0.0 : f32, 0.0 : f32) : memref<4x16xf32, "L2">, memref<4x16xf32>
  kernel.call @xd_copy(%after, %y, 4 : i32, 64 : i32) : memref<4x16xf32>, memref<4x16xf32>
  func.return
}

// CHECK:      "memref.global"() <{sym_name = "tiled_arena", type = memref<256xi8>, initial_value, sym_visibility = "private", alignment = 16 : i64}>
// CHECK-NEXT: "memref.global"() <{sym_name = "tiled_l1_arena", type = memref<112xi8, "L1">, initial_value, sym_visibility = "private", alignment = 16 : i64}>
// CHECK:      func.func @tiled
// CHECK-SAME:   attributes {kernel.arena = {size = 256 : i64, lower_bound = 256 : i64}, kernel.l1_arena = {size = 112 : i64, lower_bound = 112 : i64}}
// CHECK-NEXT:   %l1_arena = memref.get_global @tiled_l1_arena : memref<112xi8, "L1">
// CHECK-NEXT:   %arena = memref.get_global @tiled_arena : memref<256xi8>
// CHECK-NEXT:   %tmp_offset = arith.constant 0 : index
// CHECK-NEXT:   %tmp = memref.view %arena[%tmp_offset][] : memref<256xi8> to memref<4x16xf32>
// CHECK-NEXT:   %tmp_1 = "memref.memory_space_cast"(%tmp) : (memref<4x16xf32>) -> memref<4x16xf32, "L2">
// CHECK:        %xt_offset = arith.constant 0 : index
// CHECK-NEXT:   %xt = memref.view %l1_arena[%xt_offset][] : memref<112xi8, "L1"> to memref<1x16xf32, "L1">
// CHECK-NEXT:   %yt_offset = arith.constant 64 : index
// CHECK-NEXT:   %yt = memref.view %l1_arena[%yt_offset][] : memref<112xi8, "L1"> to memref<1x12xf32, "L1">
// CHECK:        memref.subview %tmp_1[%i, 0]
// CHECK:        %after_offset = arith.constant 0 : index
// CHECK-NEXT:   %after = memref.view %arena[%after_offset][] : memref<256xi8> to memref<4x16xf32>

// Weights loaded at run time into the NPU's memory ("NPU") get a third arena; buffers
// alive at different times share it as in the others.
func.func @npu(%k: memref<2x40x20xi8>, %a: memref<4x40xi8>, %y: memref<2x4x20xi32> {dnn.output}) {
  %w0 = memref.alloc() : memref<32x64xi8, "NPU">
  %k0 = memref.reinterpret_cast %k to offset: [0], sizes: [40, 20], strides: [20, 1] : memref<2x40x20xi8> to memref<40x20xi8>
  npu.load_weights %k0 -> %w0 : memref<40x20xi8> -> memref<32x64xi8, "NPU">
  %y0 = memref.reinterpret_cast %y to offset: [0], sizes: [4, 20], strides: [20, 1] : memref<2x4x20xi32> to memref<4x20xi32>
  npu.matmul shift 0 (%a, %w0) -> %y0 : memref<4x40xi8>, memref<32x64xi8, "NPU"> -> memref<4x20xi32>
  %w1 = memref.alloc() : memref<32x64xi8, "NPU">
  %k1 = memref.reinterpret_cast %k to offset: [800], sizes: [40, 20], strides: [20, 1] : memref<2x40x20xi8> to memref<40x20xi8, strided<[20, 1], offset: 800>>
  npu.load_weights %k1 -> %w1 : memref<40x20xi8, strided<[20, 1], offset: 800>> -> memref<32x64xi8, "NPU">
  %y1 = memref.reinterpret_cast %y to offset: [80], sizes: [4, 20], strides: [20, 1] : memref<2x4x20xi32> to memref<4x20xi32, strided<[20, 1], offset: 80>>
  npu.matmul shift 0 (%a, %w1) -> %y1 : memref<4x40xi8>, memref<32x64xi8, "NPU"> -> memref<4x20xi32, strided<[20, 1], offset: 80>>
  func.return
}

// CHECK:      "memref.global"() <{sym_name = "npu_npu_arena", type = memref<2048xi8, "NPU">
// CHECK:      func.func @npu
// CHECK-SAME:   kernel.npu_arena = {size = 2048 : i64, lower_bound = 2048 : i64}
// CHECK:        %npu_arena = memref.get_global @npu_npu_arena : memref<2048xi8, "NPU">
// CHECK:        %w0 = memref.view %npu_arena[%w0_offset][] : memref<2048xi8, "NPU"> to memref<32x64xi8, "NPU">
// CHECK:        %w1_offset = arith.constant 0 : index
// CHECK-NEXT:   %w1 = memref.view %npu_arena[%w1_offset][] : memref<2048xi8, "NPU"> to memref<32x64xi8, "NPU">
