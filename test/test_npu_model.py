"""The NPU's functional model (`interp/npu.py`) with weights packed into the engine's
layout computes what ONNX Conv / MatMul followed by a requantization compute
(`integer_reference`): every kind, stride and padding, signed and unsigned data, with
and without requant."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from xdeeploy.interp import integer_reference as iref
from xdeeploy.interp import npu

Array = np.ndarray[Any, Any]


def _requant(acc: Array, scale: Array, bias: Array, shift: int, dtype: Any) -> Array:
    """Deeploy's requant_shift with its rounding folded into the bias (as the mapping
    will fold it): (acc·scale + bias) >> shift = requant_shift(acc, scale, bias - r)."""
    rounding = (1 << (shift - 1)) if shift else 0
    info = np.iinfo(dtype)
    levels = int(info.max) - int(info.min) + 1
    return iref.requant_shift(acc, scale, bias - rounding, div=1 << shift, n_levels=levels,
                              signed=info.min < 0)  # fmt: skip


CASES = [
    ("dense3x3", 1, [1, 1, 1, 1], 5, 7),
    ("dense3x3", 2, [1, 1, 0, 0], 30, 33),
    ("dense3x3", 1, [0, 0, 0, 0], 3, 40),
    ("depthwise3x3", 1, [1, 1, 1, 1], 6, 6),
    ("depthwise3x3", 2, [0, 1, 1, 0], 29, 29),
    ("pointwise", 1, [0, 0, 0, 0], 33, 5),
    ("pointwise", 2, [0, 0, 0, 0], 4, 35),
]


@pytest.mark.parametrize(("kind", "stride", "pads", "cin", "cout"), CASES)
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("requant", [True, False])
def test_conv_matches_onnx_conv_and_requant(kind: str, stride: int, pads: list[int],
                                            cin: int, cout: int, signed: bool,
                                            requant: bool) -> None:  # fmt: skip
    r = np.random.default_rng(cin * 100 + cout + stride)
    x_dtype = np.int8 if signed else np.uint8
    info = np.iinfo(x_dtype)
    x = r.integers(info.min, int(info.max) + 1, (1, cin, 7, 6)).astype(x_dtype)
    taps = 1 if kind == "pointwise" else 3
    group = cin if kind == "depthwise3x3" else 1
    w = r.integers(-128, 128, (cout, cin // group, taps, taps)).astype(np.int8)
    onnx_pads = [pads[0], pads[1], pads[2], pads[3]]
    acc = iref.conv(x, w, strides=[stride, stride], pads=onnx_pads, group=group)[0]
    acc_hwc = acc.transpose(1, 2, 0)
    scale = r.integers(0, 256, cout).astype(np.uint8) if requant else None
    bias = r.integers(-(2**20), 2**20, cout).astype(np.int32) if requant else None
    out_dtype = np.int8 if r.integers(2) else np.uint8
    got = npu.conv2d(x[0].transpose(1, 2, 0), npu.pack_weights(kind, w), scale, bias,
                     kind=kind, stride=stride, pads=pads, shift=9, out_channels=cout,
                     out_dtype=out_dtype)  # fmt: skip
    if requant:
        assert scale is not None and bias is not None
        want = _requant(acc_hwc, scale.astype(np.int64), bias.astype(np.int64), 9, out_dtype)
        assert got.dtype == out_dtype
    else:
        want = acc_hwc
        assert got.dtype == np.int32
    assert np.array_equal(got, want)


@pytest.mark.parametrize(("m", "k", "n"), [(1, 64, 64), (5, 30, 33), (3, 100, 7)])
def test_matmul_matches_onnx_matmul_and_requant(m: int, k: int, n: int) -> None:
    r = np.random.default_rng(m + k + n)
    a = r.integers(-128, 128, (m, k)).astype(np.int8)
    b = r.integers(-128, 128, (k, n)).astype(np.int8)
    scale = r.integers(0, 256, n).astype(np.uint8)
    bias = r.integers(-(2**16), 2**16, n).astype(np.int32)
    packed = npu.pack_weights("matmul", b)
    assert packed.shape == (-(-n // 32) * 32, -(-k // 32) * 32)
    got = npu.matmul(a, packed, scale, bias, shift=12, out_features=n, out_dtype=np.int8)
    acc = iref.matmul(a, b)
    want = _requant(acc, scale.astype(np.int64), bias.astype(np.int64), 12, np.int8)
    assert np.array_equal(got, want)
    raw = npu.matmul(a, packed, None, None, shift=0, out_features=n, out_dtype=np.int32)
    assert np.array_equal(raw, acc)
