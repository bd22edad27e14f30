"""`--kernels asm`: the kernels `convert-kernel-to-asm` makes, lowered to RISC-V assembly
and linked in place of the C runtime's, compute the C kernels' bits on QEMU: the same
kernel calls are built both ways on random and extreme data and compared byte for byte
(matrix products with batches, broadcasts, transposes and wrapping; elementwise ops;
requantization across every shift range and both clamp paths)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PEER, parse_ir, peer_case, tiny_int8_llama
from xdsl.context import Context

from xdeeploy.lowering.kernel_to_asm import ConvertKernelToAsm
from xdeeploy.tools import deeploy
from xdeeploy.tools.build import compile_module
from xdeeploy.tools.rv32 import CC, QEMU, Rv32Program

pytestmark = pytest.mark.skipif(
    shutil.which(CC) is None or shutil.which(QEMU) is None,
    reason=f"{CC} / {QEMU} not installed (scripts/setup.sh installs them)",
)

Array = np.ndarray[Any, Any]


def _both(text: str, inputs: list[Array], folder: Path) -> tuple[list[Array], list[Array]]:
    """The module's outputs with the C kernels and with the asm kernels (which must have
    replaced every call)."""
    results = []
    for asm in (False, True):
        module = parse_ir(text)
        if asm:
            ConvertKernelToAsm().apply(Context(), module)
        build = compile_module(module, folder / ("asm" if asm else "c"))
        assert ("kernels" in build.report and build.report["kernels"] == []) == asm, build.report
        results.append(Rv32Program(build).run(inputs).outputs)
    return results[0], results[1]


def _ints(r: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> Array:
    info = np.iinfo(dtype)
    return r.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


PRODUCTS = """
func.func @main(%a: memref<2x3x5xi8>, %b: memref<5x4xui8>, %p: memref<3x4xi32>, %q: memref<4x2xi32>,
                %g: memref<6x7xi8>, %c: memref<4xi32>,
                %y1: memref<2x3x4xi32> {dnn.output}, %y2: memref<3x2xi32> {dnn.output},
                %y3: memref<1x7xi32> {dnn.output}, %y4: memref<3x4xi32> {dnn.output},
                %y5: memref<2x4xi16> {dnn.output}) {
  kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_U8, %y1, XD_T_I32, 3 : i32, 5 : i32, 4 : i32, 1 : i32, array<i32: 2>, array<i32: 15>, array<i32: 0>) : memref<2x3x5xi8>, memref<5x4xui8>, memref<2x3x4xi32>
  kernel.call @xd_matmul_int(%p, XD_T_I32, %q, XD_T_I32, %y2, XD_T_I32, 3 : i32, 4 : i32, 2 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) : memref<3x4xi32>, memref<4x2xi32>, memref<3x2xi32>
  kernel.call @xd_gemv_int(%g, XD_T_I8, %g, XD_T_I8, %y3, XD_T_I32, 6 : i32, 7 : i32, 7 : i32) : memref<6x7xi8>, memref<6x7xi8>, memref<1x7xi32>
  kernel.call @xd_gemm_int(%a, XD_T_I8, %b, XD_T_U8, %c, XD_T_I32, %y4, XD_T_I32, 3 : i32, 2 : i32, 4 : i32, 1 : i32, 0 : i32, 3 : i32, -2 : i32, 0 : i32, 1 : i32) : memref<2x3x5xi8>, memref<5x4xui8>, memref<4xi32>, memref<3x4xi32>
  kernel.call @xd_gemm_int(%g, XD_T_I8, %g, XD_T_I8, null, XD_T_I32, %y5, XD_T_I16, 2 : i32, 3 : i32, 4 : i32, 0 : i32, 1 : i32, 1 : i32, 0 : i32, 0 : i32, 0 : i32) : memref<6x7xi8>, memref<6x7xi8>, memref<2x4xi16>
  func.return
}
"""


def test_matrix_products_match_the_c_kernels(tmp_path: Path) -> None:
    """Batches with a broadcast b, uint8 b, int32 operands wrapping, a gemv with a row
    stride, gemm with transposes, alpha, beta and a broadcast c, a 16-bit output."""
    r = np.random.default_rng(0)
    inputs = [
        _ints(r, (2, 3, 5), np.int8),
        _ints(r, (5, 4), np.uint8),
        _ints(r, (3, 4), np.int32),
        _ints(r, (4, 2), np.int32),
        _ints(r, (6, 7), np.int8),
        _ints(r, (4,), np.int32),
    ]
    c, asm = _both(PRODUCTS, inputs, tmp_path)
    for want, got in zip(c, asm, strict=True):
        assert want.tobytes() == got.tobytes()
    # The C kernels are the reference here; check them against numpy once.
    a, b = inputs[0].astype(np.int64), inputs[1].astype(np.int64)
    assert np.array_equal(c[0], (a @ b).astype(np.int32))


FLOAT_PRODUCTS = """
func.func @main(%a: memref<2x3x5xf32>, %b: memref<5x6xf32>, %c: memref<6xf32>,
                %y1: memref<2x3x6xf32> {dnn.output}, %y2: memref<1x6xf32> {dnn.output},
                %y3: memref<5x3xf32> {dnn.output}) {
  kernel.call @xd_matmul_f32(%a, %b, %y1, 3 : i32, 5 : i32, 6 : i32, 1 : i32, array<i32: 2>, array<i32: 15>, array<i32: 0>) : memref<2x3x5xf32>, memref<5x6xf32>, memref<2x3x6xf32>
  kernel.call @xd_gemv_f32(%a, %b, %y2, 5 : i32, 6 : i32, 6 : i32) : memref<2x3x5xf32>, memref<5x6xf32>, memref<1x6xf32>
  kernel.call @xd_gemm_f32(%b, %a, %c, %y3, 5 : i32, 2 : i32, 3 : i32, 1 : i32, 0 : i32, 0.5 : f32, -1.25 : f32, 0 : i32, 1 : i32) : memref<5x6xf32>, memref<2x3x5xf32>, memref<6xf32>, memref<5x3xf32>
  func.return
}
"""


def test_float_products_round_as_the_c_kernels(tmp_path: Path) -> None:
    """Each output summed p = 0.. in order, alpha and beta applied as the C does: the same
    float32 bits (gemm with a transposed a, a broadcast c)."""
    r = np.random.default_rng(3)
    inputs = [r.standard_normal(s).astype(np.float32) for s in ((2, 3, 5), (5, 6), (6,))]
    c, asm = _both(FLOAT_PRODUCTS, inputs, tmp_path)
    for want, got in zip(c, asm, strict=True):
        assert want.tobytes() == got.tobytes()


ELEMENTWISE = """
func.func @main(%a: memref<3x8xi8>, %b: memref<8xi8>, %h: memref<3x8xi16>, %w: memref<3x8xi32>,
                %y1: memref<3x8xi8> {dnn.output}, %y2: memref<3x8xi16> {dnn.output},
                %y3: memref<3x8xi32> {dnn.output}) {
  kernel.call @xd_binary_int(XD_ADD, XD_T_I8, %a, %b, %y1, 2 : i32, array<i32: 3, 8>, array<i32: 8, 1>, array<i32: 0, 1>) : memref<3x8xi8>, memref<8xi8>, memref<3x8xi8>
  kernel.call @xd_binary_int(XD_SUB, XD_T_I16, %h, %h, %y2, 2 : i32, array<i32: 3, 8>, array<i32: 8, 1>, array<i32: 1, 3>) : memref<3x8xi16>, memref<3x8xi16>, memref<3x8xi16>
  kernel.call @xd_binary_int(XD_MUL, XD_T_I32, %w, %w, %y3, 2 : i32, array<i32: 3, 8>, array<i32: 8, 1>, array<i32: 0, 0>) : memref<3x8xi32>, memref<3x8xi32>, memref<3x8xi32>
  func.return
}
"""


def test_elementwise_ops_wrap_as_the_c_kernels(tmp_path: Path) -> None:
    """int8 add with a broadcast row, int16 sub of a transposed view, int32 mul by a
    scalar: all wrapping at their width."""
    r = np.random.default_rng(1)
    inputs = [_ints(r, (3, 8), np.int8), _ints(r, (8,), np.int8), _ints(r, (3, 8), np.int16),
              _ints(r, (3, 8), np.int32)]  # fmt: skip
    c, asm = _both(ELEMENTWISE, inputs, tmp_path)
    for want, got in zip(c, asm, strict=True):
        assert want.tobytes() == got.tobytes()
    assert np.array_equal(c[0], (inputs[0] + inputs[1]).astype(np.int8))


REQUANT = """
func.func @main(%x: memref<2x3x8xi32>, %m: memref<3xi32>, %d: memref<3xi32>, %s: memref<2x3x8xi8>,
                %mu: memref<8xui16>, %du: memref<8xui8>, %mw: memref<3xui32>,
                %xu: memref<2x3x8xui32>,
                %y7: memref<2x3x8xi8> {dnn.output}, %y8: memref<2x3x8xi16> {dnn.output},
                %y1: memref<2x3x8xi8> {dnn.output}, %y2: memref<2x3x8xi32> {dnn.output},
                %y3: memref<2x3x8xui8> {dnn.output}, %y4: memref<2x3x8xi8> {dnn.output},
                %y5: memref<2x3x8xi16> {dnn.output}, %y6: memref<2x3x8xi8> {dnn.output}) {
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y1, XD_T_I8, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 16 : i32, -128 : i32, 127 : i32) : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi8>
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y2, XD_T_I32, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 0 : i32, -2147483648 : i32, 2147483647 : i32) : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi32>
  kernel.call @xd_requant_shift(%s, XD_T_I8, %mu, XD_T_U16, %du, XD_T_U8, %y3, XD_T_U8, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 0, 1>, array<i32: 0, 0, 1>, 5 : i32, 0 : i32, 255 : i32) : memref<2x3x8xi8>, memref<8xui16>, memref<8xui8>, memref<2x3x8xui8>
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y4, XD_T_I8, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 0, 0>, 40 : i32, -128 : i32, 127 : i32) : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi8>
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y5, XD_T_I16, 3 : i32, array<i32: 2, 3, 8>, array<i32: 1, 2, 6>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 32 : i32, -30000 : i32, 30000 : i32) : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi16>
  kernel.call @xd_requant_shift(%x, XD_T_I32, %mw, XD_T_U32, %mw, XD_T_U32, %y7, XD_T_I8, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 36 : i32, -128 : i32, 127 : i32) : memref<2x3x8xi32>, memref<3xui32>, memref<3xui32>, memref<2x3x8xi8>
  kernel.call @xd_requant_shift(%xu, XD_T_U32, %m, XD_T_I32, %mw, XD_T_U32, %y8, XD_T_I16, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 33 : i32, -32768 : i32, 32767 : i32) : memref<2x3x8xui32>, memref<3xi32>, memref<3xui32>, memref<2x3x8xi16>
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y6, XD_T_I8, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 70 : i32, -3 : i32, 3 : i32) : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi8>
  func.return
}
"""


def test_requantization_matches_the_c_kernel_on_every_path(tmp_path: Path) -> None:
    """Shifts 16, 0, 5, 40, 32, 36, 33 and 70 (clamped to 63), int32 clamps reached from
    beyond int32, unsigned mul/add/output (uint32 factors of a signed one included), a
    transposed x, per-channel and per-tensor constants; x, mul and add span their whole
    ranges."""
    r = np.random.default_rng(2)
    x = _ints(r, (2, 3, 8), np.int32)
    x.reshape(-1)[:4] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max, -1, 0]
    m = np.array([np.iinfo(np.int32).min, np.iinfo(np.int32).max, 77], dtype=np.int32)
    d = np.array([np.iinfo(np.int32).max, np.iinfo(np.int32).min, -5], dtype=np.int32)
    mw = np.array([np.iinfo(np.uint32).max, 2**31, 12345], dtype=np.uint32)
    inputs = [x, m, d, _ints(r, (2, 3, 8), np.int8), _ints(r, (8,), np.uint16),
              _ints(r, (8,), np.uint8), mw, _ints(r, (2, 3, 8), np.uint32)]  # fmt: skip
    c, asm = _both(REQUANT, inputs, tmp_path)
    for k, (want, got) in enumerate(zip(c, asm, strict=True)):
        assert want.tobytes() == got.tobytes(), f"output {k}"
    # Both clamp paths were taken: int32 results beyond the range saturate.
    assert {np.iinfo(np.int32).min, np.iinfo(np.int32).max} <= set(c[3].reshape(-1).tolist())


REQUANT_PROVED = """
func.func @main(%x: memref<2x3x8xi32>, %m: memref<3xi32>, %d: memref<3xi32>, %s: memref<2x3x8xi8>,
                %mu: memref<8xui16>, %du: memref<8xui8>,
                %y1: memref<2x3x8xi8> {dnn.output}, %y2: memref<2x3x8xui8> {dnn.output},
                %y3: memref<2x3x8xi32> {dnn.output}, %y4: memref<2x3x8xi16> {dnn.output}) {
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y1, XD_T_I8, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 12 : i32, -128 : i32, 127 : i32) {kernel.requant_range = array<i64: -1073741824, 1073776640>} : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi8>
  kernel.call @xd_requant_shift(%s, XD_T_I8, %mu, XD_T_U16, %du, XD_T_U8, %y2, XD_T_U8, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 0, 1>, array<i32: 0, 0, 1>, 5 : i32, 0 : i32, 255 : i32) {kernel.requant_range = array<i64: -8388480, 8388751>} : memref<2x3x8xi8>, memref<8xui16>, memref<8xui8>, memref<2x3x8xui8>
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y3, XD_T_I32, 3 : i32, array<i32: 2, 3, 8>, array<i32: 1, 2, 6>, array<i32: 0, 1, 0>, array<i32: 0, 0, 0>, 0 : i32, -2147483648 : i32, 2147483647 : i32) {kernel.requant_range = array<i64: -1073774592, 1073774592>} : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi32>
  kernel.call @xd_requant_shift(%x, XD_T_I32, %m, XD_T_I32, %d, XD_T_I32, %y4, XD_T_I16, 3 : i32, array<i32: 2, 3, 8>, array<i32: 24, 8, 1>, array<i32: 0, 1, 0>, array<i32: 0, 1, 0>, 31 : i32, -30000 : i32, 30000 : i32) {kernel.requant_range = array<i64: -1073741824, 2147483647>} : memref<2x3x8xi32>, memref<3xi32>, memref<3xi32>, memref<2x3x8xi16>
  func.return
}
"""


def test_a_requantization_proved_in_int32_matches_the_c_kernel(tmp_path: Path) -> None:
    """With `kernel.requant_range` within int32 the asm kernels compute in 32 bits: x
    within ±2^20 (an int8 matmul over 64 terms), mul below 2^10, add within ±2^15;
    int8 x by uint16 mul; shift 0 into int32; shift 31 (its round 2^30 included)."""
    r = np.random.default_rng(5)
    x = r.integers(-(2**20), 2**20 + 1, (2, 3, 8), dtype=np.int32)
    x.reshape(-1)[:2] = [-(2**20), 2**20]
    m = np.array([0, 2**10 - 1, 513], dtype=np.int32)
    d = np.array([-(2**15), 2**15, 77], dtype=np.int32)
    s = _ints(r, (2, 3, 8), np.int8)
    mu = r.integers(0, 2**16, 8, dtype=np.uint16)
    mu[:2] = [0, 2**16 - 1]
    inputs = [x, m, d, s, mu, _ints(r, (8,), np.uint8)]
    c, asm = _both(REQUANT_PROVED, inputs, tmp_path)
    for k, (want, got) in enumerate(zip(c, asm, strict=True)):
        assert want.tobytes() == got.tobytes(), f"output {k}"
    # every clamp was reached
    assert {-128, 127} <= set(c[0].reshape(-1).tolist()) and {0, 255} <= set(
        c[1].reshape(-1).tolist()
    )


def test_asm_kernels_are_for_rv32_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deeploy.main(["run", str(tmp_path), "--platform", "generic", "--kernels", "asm"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --kernels asm makes RISC-V assembly: use --platform rv32-virt")
    assert "\n" not in err


@pytest.mark.parametrize(
    "case",
    [
        "Kernels/Integer/MatMul/Regular_RQ",
        "Kernels/Integer/GEMM/Regular",
        "Kernels/Integer/Add/Regular_RQ",
    ],  # fmt: skip
)
def test_peer_runs_with_asm_kernels(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = peer_case(case)
    argv = ["run", str(folder), "--platform", "rv32-virt", "--kernels", "asm"]
    assert deeploy.main(argv) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 failed" in out and "asm: " in out


def test_generate_int8_llama_with_asm_kernels_is_bit_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_int8_llama(tmp_path)
    capsys.readouterr()
    argv = ["generate", str(path), "--platform", "rv32-virt", "--steps", "3", "--check",
            "--kernels", "asm"]  # fmt: skip
    assert deeploy.main(argv) == 0
    out = capsys.readouterr().out
    assert "max logit difference 0 (tolerance 0, bit-exact)" in out
    kernels = out.split("kernels asm: ")[1].split(";")[0].split()
    assert "gemv_int" in kernels and "binary_int" in kernels


def test_compile_writes_the_assembly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`deeploy compile --platform rv32-virt --kernels asm`: kernels.S next to network.c,
    which declares and calls its functions."""
    path = tiny_int8_llama(tmp_path)
    build = tmp_path / "build"
    argv = ["compile", str(path), "--platform", "rv32-virt", "--kernels", "asm", "-o", str(build)]
    assert deeploy.main(argv) == 0
    asm = (build / "kernels.S").read_text()
    network = (build / "network.c").read_text()
    names = [line.split()[1] for line in asm.splitlines() if line.startswith(".globl")]
    assert names and all(f"{n}(" in network for n in names)


@pytest.mark.slow
def test_every_peer_runs_with_asm_kernels(capsys: pytest.CaptureFixture[str]) -> None:
    if not PEER.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    argv = ["run", str(PEER), "--platform", "rv32-virt", "--kernels", "asm"]
    assert deeploy.main(argv) == 0
    out = capsys.readouterr().out
    assert ", 0 failed, 0 skipped" in out and "asm: " in out
