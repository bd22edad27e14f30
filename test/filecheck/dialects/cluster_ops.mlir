// cluster.fork runs its region on each core (the block argument is the core id);
// cluster.barrier and cluster.num_cores live inside it; printing round-trips.
// RUN: deeploy-opt %s | deeploy-opt | filecheck %s
// RUN: deeploy-opt %s --print-op-generic | deeploy-opt | filecheck %s

func.func @split(%x: memref<64xf32>) {
  cluster.fork cores(8) {
  ^bb0(%core: index):
    %n = cluster.num_cores
    %c8 = arith.constant 8 : index
    %start = arith.muli %core, %c8 : index
    cluster.barrier
    cluster.join
  }
  func.return
}

// CHECK-LABEL: func.func @split
// CHECK-NEXT:    cluster.fork cores(8) {
// CHECK-NEXT:    ^bb0(%core: index):
// CHECK-NEXT:      %n = cluster.num_cores
// CHECK-NEXT:      %c8 = arith.constant 8 : index
// CHECK-NEXT:      %start = arith.muli %core, %c8 : index
// CHECK-NEXT:      cluster.barrier
// CHECK-NEXT:      cluster.join
// CHECK-NEXT:    }
