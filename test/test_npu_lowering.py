"""NPU jobs through `convert-npu-to-kernel`: the C functional model (`npu.c`, built by
the host gcc) and the buffer interpreter's kernels compute `interp/npu.py`'s bits for
every kind, stride, padding and signedness, with and without requant; weights loaded at
run time (`xd_npu_load_weights`); a convolution as im2col patches (`xd_im2col`) and a
matmul job computes ONNX's Conv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import parse_ir
from xdsl.context import Context

from xdeeploy.interp import integer_reference as iref
from xdeeploy.interp import npu
from xdeeploy.interp.run_buffers import run_buffers
from xdeeploy.lowering.npu_to_kernel import ConvertNpuToKernel
from xdeeploy.passes.plan_memory import PlanMemory
from xdeeploy.tools.build import build_shared_library, compile_module
from xdeeploy.tools.host import HostLibrary

Array = np.ndarray[Any, Any]

JOBS = """
func.func @main(%x: memref<7x6x30xi8>, %w: memref<32x9x56xi8, "NPU">, %dw: memref<56x9xi8, "NPU">,
                %pw: memref<64x32xi8, "NPU">, %s: memref<20xui8>, %b: memref<20xi32>,
                %sd: memref<30xui8>, %bd: memref<30xi32>, %a: memref<5x30xui8>, %wm: memref<32x32xi8, "NPU">,
                %k: memref<30x20xi8>, %xc: memref<3x9x7xi8>, %wc: memref<32x32xi8, "NPU">,
                %y1: memref<7x6x20xi8> {dnn.output}, %y2: memref<4x3x30xui8> {dnn.output},
                %y3: memref<4x3x33xi32> {dnn.output}, %y4: memref<5x20xi8> {dnn.output},
                %y5: memref<5x20xi32> {dnn.output}, %y6: memref<12x4xi32> {dnn.output}) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 9 (%x, %w) requant(%s, %b) -> %y1 : memref<7x6x30xi8>, memref<32x9x56xi8, "NPU">, memref<20xui8>, memref<20xi32> -> memref<7x6x20xi8>
  npu.conv2d depthwise3x3 stride 2 pad [1, 0, 1, 1] shift 4 (%x, %dw) requant(%sd, %bd) -> %y2 : memref<7x6x30xi8>, memref<56x9xi8, "NPU">, memref<30xui8>, memref<30xi32> -> memref<4x3x30xui8>
  npu.conv2d pointwise stride 2 pad [0, 0, 0, 0] shift 0 (%x, %pw) -> %y3 : memref<7x6x30xi8>, memref<64x32xi8, "NPU"> -> memref<4x3x33xi32>
  npu.matmul shift 7 (%a, %wm) requant(%s, %b) -> %y4 : memref<5x30xui8>, memref<32x32xi8, "NPU">, memref<20xui8>, memref<20xi32> -> memref<5x20xi8>
  %loaded = memref.alloc() : memref<32x32xi8, "NPU">
  npu.load_weights %k -> %loaded : memref<30x20xi8> -> memref<32x32xi8, "NPU">
  npu.matmul shift 0 (%a, %loaded) -> %y5 : memref<5x30xui8>, memref<32x32xi8, "NPU"> -> memref<5x20xi32>
  %patches = memref.alloc() : memref<12x30xi8>
  kernel.call @xd_im2col(%xc, %patches, 1 : i32, 3 : i32, 9 : i32, 7 : i32, 2 : i32, 5 : i32, 3 : i32, 2 : i32, 2 : i32, 1 : i32, 1 : i32, 2 : i32, 3 : i32, 4 : i32) : memref<3x9x7xi8>, memref<12x30xi8>
  npu.matmul shift 0 (%patches, %wc) -> %y6 : memref<12x30xi8>, memref<32x32xi8, "NPU"> -> memref<12x4xi32>
  func.return
}
"""


def _inputs() -> list[Array]:
    r = np.random.default_rng(7)
    x = r.integers(-128, 128, (7, 6, 30)).astype(np.int8)
    dense = npu.pack_weights("dense3x3", r.integers(-128, 128, (20, 30, 3, 3)).astype(np.int8))
    # the packed layout is [32, 9, 56] for 30 input channels: 28-channel subtiles
    depth = npu.pack_weights("depthwise3x3", r.integers(-128, 128, (30, 1, 3, 3)))
    point = npu.pack_weights("pointwise", r.integers(-128, 128, (33, 30, 1, 1)).astype(np.int8))
    s = r.integers(0, 256, 20).astype(np.uint8)
    b = r.integers(-(2**18), 2**18, 20).astype(np.int32)
    sd = r.integers(0, 256, 30).astype(np.uint8)
    bd = r.integers(-(2**12), 2**12, 30).astype(np.int32)
    a = r.integers(0, 256, (5, 30)).astype(np.uint8)
    wm = npu.pack_weights("matmul", r.integers(-128, 128, (30, 20)).astype(np.int8))
    k = r.integers(-128, 128, (30, 20)).astype(np.int8)
    xc = r.integers(-128, 128, (3, 9, 7)).astype(np.int8)
    wc = npu.pack_weights("matmul", CONV_W.reshape(4, -1).T)
    return [x, dense, depth, point, s, b, sd, bd, a, wm, k, xc, wc]


CONV_W = np.random.default_rng(3).integers(-128, 128, (4, 3, 2, 5)).astype(np.int8)
"""The im2col convolution's weights: 2x5 kernel, strides 3x2, dilations 2x1, padding
top 1, left 2 (bottom 1, right 2: the output is 3x4)."""


def _expected(inputs: list[Array]) -> list[Array]:
    x, dense, depth, point, s, b, sd, bd, a, wm, k, xc, _ = inputs
    conv = iref.conv(xc[None].astype(np.int64), CONV_W.astype(np.int64), strides=[3, 2],
                     pads=[1, 2, 1, 2], dilations=[2, 1])[0]  # fmt: skip
    assert conv.shape == (4, 3, 4)
    return [
        npu.conv2d(x, dense, s, b, kind="dense3x3", stride=1, pads=[1, 1, 1, 1],
                   shift=9, out_channels=20, out_dtype=np.int8),
        npu.conv2d(x, depth, sd, bd, kind="depthwise3x3", stride=2, pads=[1, 0, 1, 1],
                   shift=4, out_channels=30, out_dtype=np.uint8),
        npu.conv2d(x, point, None, None, kind="pointwise", stride=2, pads=[0, 0, 0, 0],
                   shift=0, out_channels=33, out_dtype=np.int32),
        npu.matmul(a, wm, s, b, shift=7, out_features=20, out_dtype=np.int8),
        (a.astype(np.int64) @ k.astype(np.int64)).astype(np.int32),
        conv.reshape(4, 12).T.astype(np.int32),
    ]  # fmt: skip


def test_jobs_are_what_the_dialect_verifies() -> None:
    module = parse_ir(JOBS)
    assert [op.name for op in module.walk() if op.name.startswith("npu.")] == [
        "npu.conv2d", "npu.conv2d", "npu.conv2d", "npu.matmul", "npu.load_weights",
        "npu.matmul", "npu.matmul"]  # fmt: skip


@pytest.mark.parametrize("run", ["interpreter", "c"])
def test_functional_model_matches_the_reference(run: str, tmp_path: Path) -> None:
    module = parse_ir(JOBS)
    ConvertNpuToKernel().apply(Context(), module)
    PlanMemory().apply(Context(), module)  # the allocs, in an "NPU" arena and main memory
    assert not any(op.name.startswith("npu.") for op in module.walk())
    inputs = _inputs()
    if run == "interpreter":
        got = run_buffers(module, inputs)
    else:
        build = compile_module(module, tmp_path / "build")
        got = HostLibrary(build, build_shared_library(build)).run(inputs)
    for k, (g, want) in enumerate(zip(got, _expected(inputs), strict=True)):
        assert g.dtype == want.dtype and np.array_equal(g, want), f"output {k}"
