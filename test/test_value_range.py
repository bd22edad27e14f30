"""`value_range`: bounds of integer tensors from their producers, against hand-computed
intervals, and the type's bounds wherever a result could wrap."""

from __future__ import annotations

from conftest import parse_ir
from xdsl.dialects import func

from xdeeploy.passes.value_range import value_range

IR = """
func.func @f(%a: tensor<3x64xi8>, %b: tensor<64x5xi8>, %u: tensor<3x4xui8>, %i: tensor<1x3x4x4xi32>, %n: tensor<3x5xi32>) {
  %p = dnn.matmul %a, %b : (tensor<3x64xi8>, tensor<64x5xi8>) -> tensor<3x5xi32>
  %w = dnn.constant dense<[[1, -3]]> : tensor<1x2xi8>
  %uw = dnn.cast %u : tensor<3x4xui8> to tensor<3x4xi32>
  %s = dnn.sub %uw, %uw : (tensor<3x4xi32>, tensor<3x4xi32>) -> tensor<3x4xi32>
  %x = dnn.constant dense<7> : tensor<3x2xi32>
  %g = dnn.gemm %u, %x, %w {trans_a, alpha = 2.000000e+00 : f32} : tensor<3x4xui8>, tensor<3x2xi32>, tensor<1x2xi8> -> tensor<4x2xi32>
  %p2 = dnn.constant dense<1> : tensor<5x5xi32>
  %wide = dnn.matmul %n, %p2 : (tensor<3x5xi32>, tensor<5x5xi32>) -> tensor<3x5xi32>
  %known = dnn.matmul %p, %p2 : (tensor<3x5xi32>, tensor<5x5xi32>) -> tensor<3x5xi32>
  %bw = dnn.constant dense<400000> : tensor<64x2xi32>
  %big = dnn.matmul %a, %bw : (tensor<3x64xi8>, tensor<64x2xi32>) -> tensor<3x2xi32>
  %one = dnn.constant dense<1> : tensor<i32>
  %zero = dnn.constant dense<0> : tensor<i32>
  %q = dnn.requant_shift %i, %one, %zero {div = 256 : i64, n_levels = 256 : i64, signed} : (tensor<1x3x4x4xi32>, tensor<i32>, tensor<i32>) -> tensor<1x3x4x4xi8>
  %cw = dnn.constant dense<-2> : tensor<2x3x3x3xi8>
  %c = dnn.conv %q, %cw {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x3x4x4xi8>, tensor<2x3x3x3xi8> -> tensor<1x2x2x2xi32>
  %f = dnn.constant dense<1.5> : tensor<2xf32>
  func.return
}
"""


def _ranges() -> dict[str, tuple[int, int] | None]:
    module = parse_ir(IR)
    fn = next(op for op in module.ops if isinstance(op, func.FuncOp))
    return {r.name_hint: value_range(r) for op in fn.walk() for r in op.results if r.name_hint}


def test_products_and_sums_follow_interval_arithmetic() -> None:
    got = _ranges()
    # 64 products of int8 x int8: each within [-128·127, 128·128]
    assert got["p"] == (-64 * 128 * 127, 64 * 128 * 128)
    assert got["w"] == (-3, 1)
    assert got["uw"] == (0, 255)  # the cast keeps its input's bounds
    assert got["s"] == (-255, 255)
    # 2 · (3 terms of 0..255 · 7) + (-3..1), uint8 transposed A
    assert got["g"] == (2 * 0 - 3, 2 * 3 * 255 * 7 + 1)
    # conv: 27 terms of int8 (requantized: -128..127) · -2
    assert got["c"] == (-2 * 127 * 27, 2 * 128 * 27)
    assert got["q"] == (-128, 127)
    assert got["known"] == (5 * -64 * 128 * 127, 5 * 64 * 128 * 128)  # p over 5 terms of 1
    assert got["f"] is None


def test_padding_counts_as_zero_terms() -> None:
    """Inputs within [1, 5] and weights within [2, 3]: with padding a window may hold
    zeros, so the sum of 9 taps reaches down to 0, not 9 · 2."""
    module = parse_ir("""
    func.func @f() {
      %x = dnn.constant dense<[[[[1, 5, 2], [3, 4, 1], [2, 2, 5]]]]> : tensor<1x1x3x3xui8>
      %w = dnn.constant dense<[[[[2, 3, 2], [3, 2, 3], [2, 3, 2]]]]> : tensor<1x1x3x3xui8>
      %c = dnn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : tensor<1x1x3x3xui8>, tensor<1x1x3x3xui8> -> tensor<1x1x3x3xi32>
      func.return
    }
    """)
    fn = next(op for op in module.ops if isinstance(op, func.FuncOp))
    conv = next(r for op in fn.walk() for r in op.results if r.name_hint == "c")
    assert value_range(conv) == (0, 9 * 5 * 3)


def test_a_result_that_could_wrap_takes_its_type_bounds() -> None:
    got = _ranges()
    int32 = (-(2**31), 2**31 - 1)
    assert got["wide"] == int32  # an int32 argument: nothing known of it
    assert got["big"] == int32  # 64 · 128 · 400000 > 2^31: it may wrap
