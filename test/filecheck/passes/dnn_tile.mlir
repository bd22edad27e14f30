// dnn-tile picks, with CP-SAT, the tile sizes and loop order of every op so that one
// tile (double-buffered where it changes between iterations) fits the L1 budget, and
// records the decision on the op with the solver's L1 and DMA figures.
// RUN: deeploy-opt %s -p 'dnn-tile{l1-size=16000}' | filecheck %s
// RUN: deeploy-opt %s -p 'dnn-tile{l1-size=1000000}' | filecheck %s --check-prefix=BIG
// RUN: not deeploy-opt %s -p 'dnn-tile{l1-size=64}' 2>&1 | filecheck %s --check-prefix=SMALL

// The weights (64x32 f32, 8 KiB) stay in L1 for the whole op (loaded once), the rows
// of x and y move in tiles of 8 (2 KiB and 1 KiB, twice each): 8192 + 2*2048 + 2*1024.
// Every byte is moved once: traffic = compulsory.
// CHECK-LABEL: func.func @matmul_softmax
// CHECK:       dnn.matmul {{.*}} dnn.tile = {tiles = array<i64: 8, 32>, order = array<i64: 0, 1>, l1 = 14336 : i64, traffic = 32768 : i64, compulsory = 32768 : i64, transfers = 17 : i64, status = "optimal"}
// A softmax row (32 elements) is never split; rows are.
// CHECK:       dnn.softmax {{.*}} dnn.tile = {tiles = array<i64: 16, 32>, order = array<i64: 0, 1>, l1 = 8192 : i64
// With room for everything, nothing is cut.
// BIG:         dnn.matmul {{.*}} dnn.tile = {tiles = array<i64: 64, 32>, {{.*}} status = "untiled"}
// An op whose smallest tile does not fit is an error naming it, with the L1 it needs.
// SMALL:       node 'mm': needs at least {{[0-9]+}} bytes of L1 for one tile (budget 64); raise --l1 to at least {{[0-9]+}}
func.func @matmul_softmax(%x: tensor<64x64xf32>, %w: tensor<64x32xf32>) -> tensor<64x32xf32> {
  %y = dnn.matmul %x, %w {dnn.node = "mm"} : (tensor<64x64xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  %s = dnn.softmax %y {dnn.node = "sm", axis = 1 : i64} : tensor<64x32xf32>
  func.return %s : tensor<64x32xf32>
}

// Broadcast operands follow only the dims they have: the per-channel multiplier and
// offset (512 B each) are fetched once and stay; rows of 8 move: 2*(4096 + 1024) + 1024.
// CHECK-LABEL: func.func @requant
// CHECK:       dnn.requant_shift {{.*}} dnn.tile = {tiles = array<i64: 8, 128>, order = array<i64: 0, 1>, l1 = 11264 : i64, traffic = 164864 : i64, compulsory = 164864 : i64
func.func @requant(%x: tensor<256x128xi32>, %m: tensor<128xi32>, %a: tensor<128xi32>) -> tensor<256x128xi8> {
  %y = dnn.requant_shift %x, %m, %a {dnn.node = "rq", div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<256x128xi32>, tensor<128xi32>, tensor<128xi32>) -> tensor<256x128xi8>
  func.return %y : tensor<256x128xi8>
}

// An NPU job (a matmul by constant int8 weights and its requantization, marked by
// dnn-map-engines) is tiled where it is lowered, on the requant: rows of A (200 B) in
// and of the 8-bit result (40 B) out go through L1, both double-buffered, the weights
// stay in the engine's memory. 32 rows: 32 · 2 · (200 + 40) = 15360 B of the 16000.
// CHECK-LABEL: func.func @npu_job
// CHECK:       %acc = dnn.matmul %x, %w {dnn.engine = "npu", dnn.node = "npu_mm"} :
// CHECK:       dnn.requant_shift {{.*}} dnn.tile = {tiles = array<i64: 32>, order = array<i64: 0>, l1 = 15360 : i64
func.func @npu_job(%x: tensor<512x200xi8>) -> tensor<512x40xi8> {
  %w = dnn.constant dense<1> : tensor<200x40xi8>
  %acc = dnn.matmul %x, %w {dnn.engine = "npu", dnn.node = "npu_mm"} : (tensor<512x200xi8>, tensor<200x40xi8>) -> tensor<512x40xi32>
  %mul = dnn.constant dense<3> : tensor<i32>
  %add = dnn.constant dense<0> : tensor<i32>
  %y = dnn.requant_shift %acc, %mul, %add {dnn.engine = "npu", dnn.node = "npu_rq", div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<512x40xi32>, tensor<i32>, tensor<i32>) -> tensor<512x40xi8>
  func.return %y : tensor<512x40xi8>
}

// A convolution in the engine's own mode stages its HWC input (2 x 5 x 5 B) and int32
// output (2 x 5 x 5 x 4 B) whole: 250 B, one tile.
// CHECK-LABEL: func.func @npu_conv
// CHECK:       dnn.conv {{.*}} dnn.tile = {tiles = array<i64: 1>, order = array<i64: 0>, l1 = 250 : i64
func.func @npu_conv(%x: tensor<1x2x5x5xi8>) -> tensor<1x2x5x5xi32> {
  %w = dnn.constant dense<1> : tensor<2x2x3x3xi8>
  %y = dnn.conv %x, %w {dnn.engine = "npu", dnn.node = "npu_conv", strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x2x5x5xi8>, tensor<2x2x3x3xi8> -> tensor<1x2x5x5xi32>
  func.return %y : tensor<1x2x5x5xi32>
}
