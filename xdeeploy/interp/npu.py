"""The NPU's functional model in numpy, bit for bit what `npu.conv2d` / `npu.matmul`
define (`dialects/npu.py`), and the packing of ONNX weights into the engine's layout.

Accumulation is exact (int64; 32 bits would do for 8-bit operands); with requant,
clamp((acc · scale + bias) >> shift) to the output's 8-bit range, the shift arithmetic
(floor). `runtime_c/src/npu.c` is the same model in C; tests hold both to this one, and
this one to `integer_reference`'s conv/matmul + requant_shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from xdeeploy.dialects.npu import CIN_SUBTILE, COUT_SUBTILE, round_up

Array = npt.NDArray[Any]


def pack_weights(kind: str, w: Array) -> Array:
    """ONNX weights in the engine's layout, zero-padded to its subtiles:
    dense3x3 [Cout, Cin, 3, 3] → [Cout', 9, Cin']; depthwise3x3 [C, 1, 3, 3] → [C', 9];
    pointwise [Cout, Cin, 1, 1] → [Cout', Cin']; "matmul" [K, N] (a MatMul's B) →
    [N', K'] (one filter per output column)."""
    w = np.asarray(w)
    if kind == "matmul":
        k, n = w.shape
        out = np.zeros((round_up(n, COUT_SUBTILE), round_up(k, CIN_SUBTILE["pointwise"])),
                       dtype=np.int8)  # fmt: skip
        out[:n, :k] = w.T
        return out
    cout, cin, kh, kw = w.shape
    if kind == "depthwise3x3":
        out = np.zeros((round_up(cout, CIN_SUBTILE[kind]), 9), dtype=np.int8)
        out[:cout] = w.reshape(cout, kh * kw)
        return out
    cin_p = round_up(cin, CIN_SUBTILE[kind])
    taps = w.transpose(0, 2, 3, 1).reshape(cout, kh * kw, cin)  # filter, tap, channel
    out = np.zeros((round_up(cout, COUT_SUBTILE), kh * kw, cin_p), dtype=np.int8)
    out[:cout, :, :cin] = taps
    return out if kind == "dense3x3" else out.reshape(out.shape[0], cin_p)


def requantize(acc: Array, scale: Array | None, bias: Array | None, shift: int,
               out_dtype: npt.DTypeLike) -> Array:  # fmt: skip
    """The engine's normalisation per output channel (the last axis)."""
    if scale is None or bias is None:
        return acc.astype(np.int32)
    info = np.iinfo(np.dtype(out_dtype).name)
    v = (acc * scale.astype(np.int64) + bias.astype(np.int64)) >> shift
    return np.clip(v, info.min, info.max).astype(out_dtype)


def conv2d(x: Array, w: Array, scale: Array | None, bias: Array | None, *, kind: str,
           stride: int, pads: Sequence[int], shift: int, out_channels: int,
           out_dtype: npt.DTypeLike) -> Array:  # fmt: skip
    """`npu.conv2d` on an HWC input and packed weights."""
    h, wd, cin = x.shape
    taps = 1 if kind == "pointwise" else 3
    top, left, bottom, right = pads
    xp = np.zeros((h + top + bottom, wd + left + right, cin), dtype=np.int64)
    xp[top : top + h, left : left + wd] = x
    oh = (xp.shape[0] - taps) // stride + 1
    ow = (xp.shape[1] - taps) // stride + 1
    filters = w.astype(np.int64)
    acc = np.zeros((oh, ow, out_channels), dtype=np.int64)
    for ky in range(taps):
        for kx in range(taps):
            window = xp[ky : ky + stride * (oh - 1) + 1 : stride,
                        kx : kx + stride * (ow - 1) + 1 : stride]  # fmt: skip
            tap = ky * taps + kx
            if kind == "depthwise3x3":
                acc += window * filters[:out_channels, tap]
            elif kind == "dense3x3":
                acc += window @ filters[:out_channels, tap, :cin].T
            else:
                acc += window @ filters[:out_channels, :cin].T
    return requantize(acc, scale, bias, shift, out_dtype)


def matmul(a: Array, w: Array, scale: Array | None, bias: Array | None, *, shift: int,
           out_features: int, out_dtype: npt.DTypeLike) -> Array:  # fmt: skip
    """`npu.matmul` on rows x features and packed weights (one filter per column)."""
    k = a.shape[1]
    acc = a.astype(np.int64) @ w[:out_features, :k].astype(np.int64).T
    return requantize(acc, scale, bias, shift, out_dtype)
