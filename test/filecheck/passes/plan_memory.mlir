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
