// convert-npu-to-accfg: each NPU job becomes an accfg.setup of N-EUREKA's registers
// (the buffers' addresses, the dimensions, padding, conf0), an accfg.launch and an
// accfg.await; the accelerator is declared once. conf0 bits: [2:0] 7 (8-bit weights),
// [4] requant, [6:5] kind (0 dense3x3, 1 depthwise3x3, 2 pointwise), [7] matmul,
// [8] stride 2, [9] weight memory, [20:16] shift, [22:21] 2 for 32-bit output,
// [23] signed output, [25] bias, [26] signed input. padding: top << 28 | right << 24 |
// bottom << 20 | left << 16. Stock xdsl-opt sees the pass through our universe.
// RUN: deeploy-opt %s -p convert-npu-to-accfg | filecheck %s
// RUN: xdsl-opt %s -p convert-npu-to-accfg | filecheck %s

// CHECK:      builtin.module {
// CHECK-NEXT:   "accfg.accelerator"() <{name = @neureka, fields = {weights_ptr = 32 : i32, infeat_ptr = 36 : i32, outfeat_ptr = 40 : i32, scale_ptr = 44 : i32, bias_ptr = 52 : i32, in_height = 56 : i32, in_width = 60 : i32, in_channels = 64 : i32, out_height = 68 : i32, out_width = 72 : i32, out_channels = 76 : i32, weight_channels = 80 : i32, padding = 112 : i32, conf0 = 124 : i32}, launch_fields = {trigger = 0 : i32}, barrier = 12 : i32}> : () -> ()
// CHECK-NOT:    accfg.accelerator

// A requantized int8 matmul, 4 x 40 by 20: a pointwise job over 1 x 4 pixels.
func.func @matmul_requant(%a: memref<4x40xi8>, %w: memref<32x64xi8, "NPU">, %s: memref<20xui8>, %b: memref<20xi32>, %y: memref<4x20xi8>) {
  npu.matmul shift 8 (%a, %w) requant(%s, %b) -> %y {dnn.node = "mm"} : memref<4x40xi8>, memref<32x64xi8, "NPU">, memref<20xui8>, memref<20xi32> -> memref<4x20xi8>
  func.return
}

// CHECK-LABEL: func.func @matmul_requant
// CHECK-NEXT:    %[[W:.*]] = "memref.extract_aligned_pointer_as_index"(%w) : (memref<32x64xi8, "NPU">) -> index
// CHECK-NEXT:    %weights_ptr = arith.index_cast %[[W]] : index to i32
// CHECK-NEXT:    %[[A:.*]] = "memref.extract_aligned_pointer_as_index"(%a) : (memref<4x40xi8>) -> index
// CHECK-NEXT:    %infeat_ptr = arith.index_cast %[[A]] : index to i32
// CHECK-NEXT:    %[[Y:.*]] = "memref.extract_aligned_pointer_as_index"(%y) : (memref<4x20xi8>) -> index
// CHECK-NEXT:    %outfeat_ptr = arith.index_cast %[[Y]] : index to i32
// CHECK-NEXT:    %[[S:.*]] = "memref.extract_aligned_pointer_as_index"(%s) : (memref<20xui8>) -> index
// CHECK-NEXT:    %scale_ptr = arith.index_cast %[[S]] : index to i32
// CHECK-NEXT:    %[[B:.*]] = "memref.extract_aligned_pointer_as_index"(%b) : (memref<20xi32>) -> index
// CHECK-NEXT:    %bias_ptr = arith.index_cast %[[B]] : index to i32
// CHECK-NEXT:    %in_height = arith.constant 1 : i32
// CHECK-NEXT:    %in_width = arith.constant 4 : i32
// CHECK-NEXT:    %in_channels = arith.constant 40 : i32
// CHECK-NEXT:    %out_height = arith.constant 1 : i32
// CHECK-NEXT:    %out_width = arith.constant 4 : i32
// CHECK-NEXT:    %out_channels = arith.constant 20 : i32
// CHECK-NEXT:    %weight_channels = arith.constant 64 : i32
// CHECK-NEXT:    %padding = arith.constant 0 : i32
// 0x68802D7: signed input, bias, signed output, shift 8, weight memory, matmul,
// pointwise, requant, 8-bit weights
// CHECK-NEXT:    %conf0 = arith.constant 109576919 : i32
// CHECK-NEXT:    %trigger = arith.constant 0 : i32
// CHECK-NEXT:    %[[STATE:.*]] = accfg.setup "neureka" to ("weights_ptr" = %weights_ptr : i32, "infeat_ptr" = %infeat_ptr : i32, "outfeat_ptr" = %outfeat_ptr : i32, "scale_ptr" = %scale_ptr : i32, "bias_ptr" = %bias_ptr : i32, "in_height" = %in_height : i32, "in_width" = %in_width : i32, "in_channels" = %in_channels : i32, "out_height" = %out_height : i32, "out_width" = %out_width : i32, "out_channels" = %out_channels : i32, "weight_channels" = %weight_channels : i32, "padding" = %padding : i32, "conf0" = %conf0 : i32) : !accfg.state<"neureka">
// CHECK-NEXT:    %[[TOKEN:.*]] = "accfg.launch"(%trigger, %[[STATE]]) <{param_names = ["trigger"], accelerator = "neureka"}> {dnn.node = "mm"} : (i32, !accfg.state<"neureka">) -> !accfg.token<"neureka">
// CHECK-NEXT:    "accfg.await"(%[[TOKEN]]) : (!accfg.token<"neureka">) -> ()
// CHECK-NEXT:    func.return

// The int32 accumulators of an unsigned matmul: no requant, NULL scale and bias.
func.func @matmul_int32(%a: memref<5x30xui8>, %w: memref<32x32xi8, "NPU">, %acc: memref<5x20xi32>) {
  npu.matmul shift 0 (%a, %w) -> %acc : memref<5x30xui8>, memref<32x32xi8, "NPU"> -> memref<5x20xi32>
  func.return
}

// CHECK-LABEL: func.func @matmul_int32
// CHECK:         %scale_ptr = arith.constant 0 : i32
// CHECK-NEXT:    %bias_ptr = arith.constant 0 : i32
// CHECK-NEXT:    %in_height = arith.constant 1 : i32
// CHECK-NEXT:    %in_width = arith.constant 5 : i32
// CHECK-NEXT:    %in_channels = arith.constant 30 : i32
// CHECK-NEXT:    %out_height = arith.constant 1 : i32
// CHECK-NEXT:    %out_width = arith.constant 5 : i32
// CHECK-NEXT:    %out_channels = arith.constant 20 : i32
// CHECK-NEXT:    %weight_channels = arith.constant 32 : i32
// CHECK-NEXT:    %padding = arith.constant 0 : i32
// 0xC002C7: signed output, 32-bit output, shift 0, weight memory, matmul, pointwise,
// 8-bit weights (no requant, no bias, unsigned input)
// CHECK-NEXT:    %conf0 = arith.constant 12583623 : i32
// CHECK:         accfg.setup "neureka" to ({{.*}}"scale_ptr" = %scale_ptr : i32, "bias_ptr" = %bias_ptr : i32, {{.*}}"conf0" = %conf0 : i32)
// CHECK-NOT:     dnn.node

// A dense 3x3 conv, stride 2, padded top and right only: 8x8x16 -> 4x4x16.
func.func @conv_dense_stride2(%x: memref<8x8x16xui8>, %w: memref<32x9x28xi8, "NPU">, %s: memref<16xui8>, %b: memref<16xi32>, %y: memref<4x4x16xi8>) {
  npu.conv2d dense3x3 stride 2 pad [1, 0, 0, 1] shift 5 (%x, %w) requant(%s, %b) -> %y : memref<8x8x16xui8>, memref<32x9x28xi8, "NPU">, memref<16xui8>, memref<16xi32> -> memref<4x4x16xi8>
  func.return
}

// CHECK-LABEL: func.func @conv_dense_stride2
// CHECK:         %in_height = arith.constant 8 : i32
// CHECK-NEXT:    %in_width = arith.constant 8 : i32
// CHECK-NEXT:    %in_channels = arith.constant 16 : i32
// CHECK-NEXT:    %out_height = arith.constant 4 : i32
// CHECK-NEXT:    %out_width = arith.constant 4 : i32
// CHECK-NEXT:    %out_channels = arith.constant 16 : i32
// CHECK-NEXT:    %weight_channels = arith.constant 28 : i32
// 0x11000000: top 1, right 1
// CHECK-NEXT:    %padding = arith.constant 285212672 : i32
// 0x2850317: bias, signed output, shift 5, weight memory, stride 2, dense3x3, requant,
// 8-bit weights
// CHECK-NEXT:    %conf0 = arith.constant 42271511 : i32
// CHECK-NEXT:    %trigger = arith.constant 0 : i32
// CHECK-NEXT:    accfg.setup "neureka" to (

// Two jobs in a row: the second setup starts from the first's state. A call between
// jobs may program the engine itself: the third starts from no known state.
func.func @two_jobs(%x: memref<8x8x16xi8>, %dw: memref<28x9xi8, "NPU">, %s: memref<16xui8>, %b: memref<16xi32>, %y: memref<8x8x16xi8>,
                    %pw: memref<32x32xi8, "NPU">, %acc: memref<8x8x16xi32>) {
  npu.conv2d depthwise3x3 stride 1 pad [1, 1, 1, 1] shift 3 (%x, %dw) requant(%s, %b) -> %y : memref<8x8x16xi8>, memref<28x9xi8, "NPU">, memref<16xui8>, memref<16xi32> -> memref<8x8x16xi8>
  npu.conv2d pointwise stride 1 pad [0, 0, 0, 0] shift 0 (%y, %pw) -> %acc : memref<8x8x16xi8>, memref<32x32xi8, "NPU"> -> memref<8x8x16xi32>
  func.call @elsewhere() : () -> ()
  npu.conv2d pointwise stride 1 pad [0, 0, 0, 0] shift 0 (%y, %pw) -> %acc : memref<8x8x16xi8>, memref<32x32xi8, "NPU"> -> memref<8x8x16xi32>
  func.return
}
func.func private @elsewhere()

// CHECK-LABEL: func.func @two_jobs
// CHECK:         %weight_channels = arith.constant 28 : i32
// 0x11110000: one on each side
// CHECK-NEXT:    %padding = arith.constant 286326784 : i32
// 0x6830237: signed input, bias, signed output, shift 3, weight memory, depthwise3x3,
// requant, 8-bit weights
// CHECK-NEXT:    %conf0 = arith.constant 109249079 : i32
// CHECK:         %[[FIRST:.*]] = accfg.setup "neureka" to (
// CHECK:         "accfg.await"
// CHECK-NEXT:    %[[W:.*]] = "memref.extract_aligned_pointer_as_index"(%pw)
// CHECK-NEXT:    %weights_ptr_1 = arith.index_cast %[[W]] : index to i32
// CHECK-NEXT:    %[[X:.*]] = "memref.extract_aligned_pointer_as_index"(%y)
// CHECK-NEXT:    %infeat_ptr_1 = arith.index_cast %[[X]] : index to i32
// CHECK-NEXT:    %[[Y:.*]] = "memref.extract_aligned_pointer_as_index"(%acc)
// CHECK-NEXT:    %outfeat_ptr_1 = arith.index_cast %[[Y]] : index to i32
// CHECK-NEXT:    %scale_ptr_1 = arith.constant 0 : i32
// CHECK-NEXT:    %bias_ptr_1 = arith.constant 0 : i32
// CHECK:         %weight_channels_1 = arith.constant 32 : i32
// CHECK-NEXT:    %padding_1 = arith.constant 0 : i32
// 0x4C00247: signed input, signed output, 32-bit output, shift 0, weight memory,
// pointwise, 8-bit weights
// CHECK-NEXT:    %conf0_1 = arith.constant 79692359 : i32
// CHECK-NEXT:    %trigger_1 = arith.constant 0 : i32
// CHECK-NEXT:    %[[SECOND:.*]] = accfg.setup "neureka" from %[[FIRST]] to ("weights_ptr" = %weights_ptr_1 : i32, "infeat_ptr" = %infeat_ptr_1 : i32,
// CHECK-NEXT:    %[[T:.*]] = "accfg.launch"(%trigger_1, %[[SECOND]])
// CHECK-NEXT:    "accfg.await"(%[[T]])
// CHECK-NEXT:    func.call @elsewhere() : () -> ()
// CHECK:         accfg.setup "neureka" to ("weights_ptr" = %weights_ptr_2 : i32,
// CHECK:         func.return

// Views: the address is the allocation's aligned pointer plus the view's offset in
// bytes, static (10 int32 = 40 bytes) or read at run time.
func.func @views(%a: memref<4x40xi8, strided<[40, 1], offset: ?>>, %w: memref<32x64xi8, "NPU">, %acc: memref<4x20xi32, strided<[20, 1], offset: 10>>) {
  npu.matmul shift 0 (%a, %w) -> %acc : memref<4x40xi8, strided<[40, 1], offset: ?>>, memref<32x64xi8, "NPU"> -> memref<4x20xi32, strided<[20, 1], offset: 10>>
  func.return
}

// CHECK-LABEL: func.func @views
// CHECK:         %[[A:.*]] = "memref.extract_aligned_pointer_as_index"(%a)
// CHECK-NEXT:    %{{.*}}, %[[OFFSET:.*]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} = memref.extract_strided_metadata %a
// CHECK-NEXT:    %[[AT:.*]] = arith.addi %[[A]], %[[OFFSET]] : index
// CHECK-NEXT:    %infeat_ptr = arith.index_cast %[[AT]] : index to i32
// CHECK-NEXT:    %[[Y:.*]] = "memref.extract_aligned_pointer_as_index"(%acc)
// CHECK-NEXT:    %[[BYTES:.*]] = arith.constant 40 : index
// CHECK-NEXT:    %[[YT:.*]] = arith.addi %[[Y]], %[[BYTES]] : index
// CHECK-NEXT:    %outfeat_ptr = arith.index_cast %[[YT]] : index to i32
