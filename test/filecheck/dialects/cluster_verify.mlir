// cluster ops check their nesting and the core count.
// RUN: deeploy-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f() {
  cluster.fork cores(9) {
  ^bb0(%core: index):
    cluster.join
  }
  func.return
}
// CHECK: cluster.fork: 9 cores, expected 1 to 8

// -----
func.func @f() {
  cluster.barrier
  func.return
}
// CHECK: cluster.barrier: only inside cluster.fork

// -----
func.func @f() {
  %n = cluster.num_cores
  func.return
}
// CHECK: cluster.num_cores: only inside cluster.fork

// -----
func.func @f() {
  cluster.fork cores(2) {
  ^bb0(%core: index):
    cluster.fork cores(2) {
    ^bb1(%inner: index):
      cluster.join
    }
    cluster.join
  }
  func.return
}
// CHECK: cluster.fork: forks do not nest (one cluster)

// -----
func.func @f() {
  cluster.fork cores(2) {
  ^bb0(%core: i32):
    cluster.join
  }
  func.return
}
// CHECK: cluster.fork: the region takes one argument, the core id (index)
