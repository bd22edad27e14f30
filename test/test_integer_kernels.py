"""The integer kernels (`runtime_c/src/integer.c`) and their lowering, bit for bit.

1. Each kernel through ctypes against the numpy semantics of Deeploy's operators
   (`interp/integer_reference.py`, `interp/integer_norms.py`) on seeded random data of
   the relevant types: unsigned inputs, per-channel requantization, rounding ties,
   clipping, wrap-around, negative values, every fast and generic path.
2. Integer-typed `dnn` modules end to end: the `dnn` interpreter, the buffer level
   (after `convert-dnn-to-kernel`, and after `plan-memory`) and the generated C built
   with gcc must all agree.

`test_sanitized_run` repeats part 1 against an ASan + UBSan build of the kernels.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from c_kernels import load_kernels, rerun_under_sanitizers
from conftest import parse_ir
from test_runtime_kernels import (
    ENUM,
    HEADER,
    INCLUDE,
    RUNTIME,
    SANITIZE_ENV,
    STRICT,
    broadcast_strides,
    i32,
    ptr,
)
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from xdeeploy.dialects import kernel
from xdeeploy.interp import buffers as interp_buffers
from xdeeploy.interp import integer_norms as inorm
from xdeeploy.interp import integer_reference as iref
from xdeeploy.interp import reference as ref
from xdeeploy.interp.run import run_module
from xdeeploy.interp.run_buffers import run_buffers
from xdeeploy.lowering.convert_dnn_to_kernel import ConvertDnnToKernel
from xdeeploy.lowering.integer_kernels import INTEGER_ONLY_OPS
from xdeeploy.passes.plan_memory import PlanMemory
from xdeeploy.tools.build import build_shared_library, compile_module
from xdeeploy.tools.host import HostLibrary

Array = npt.NDArray[Any]

_P, _I = ctypes.c_void_p, ctypes.c_int32
SIGNATURES: dict[str, list[Any]] = {
    "xd_requant_shift": [_P, _I, _P, _I, _P, _I, _P, _I, _I, _P, _P, _P, _P, _I, _I, _I],
    "xd_matmul_int": [_P, _I, _P, _I, _P, _I, _I, _I, _I, _I, _P, _P, _P],
    "xd_gemm_int": [_P, _I, _P, _I, _P, _I, _P, _I] + [_I] * 9,
    "xd_conv2d_int": [_P, _I, _P, _I, _P, _I, _P, _I] + [_I] * 16,
    "xd_maxpool2d_int": [_P, _P, _I] + [_I] * 13,
    "xd_isoftmax": [_P, _I, _P, _I, _I, _I, _I, _I, _I, _I],
    "xd_ita_max": [_P, _I, _P, _I, _I, _I],
    "xd_irmsnorm": [_P, _I, _P, _I, _P, _I, _I, _I],
    "xd_ilayernorm": [_P, _I, _P, _I, _P, _I, _P, _I, _I, _I],
    "xd_igelu": [_P, _I, _P, _I, _I, _I, _I],
    "xd_ihardswish": [_P, _I, _P, _I, _I, _I, _I, _I],
    "xd_true_integer_div": [_P, _I, _P, _I, _I, _I],
    "xd_integer_mean": [_P, _I, _P, _I, _I, _I, _I, _I],
}

XD_TYPE = {
    np.dtype(t): ENUM[f"XD_T_{n}"]
    for t, n in [
        (np.int8, "I8"), (np.uint8, "U8"), (np.int16, "I16"), (np.uint16, "U16"),
        (np.int32, "I32"), (np.uint32, "U32"), (np.int64, "I64"), (np.uint64, "U64"),
    ]
}  # fmt: skip
INT_TYPES = list(XD_TYPE)


SOURCE = RUNTIME / "src" / "integer.c"


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    path = tmp_path_factory.mktemp("xd_integer") / "libxd_integer.so"
    return load_kernels(path, [SOURCE], STRICT, INCLUDE, SIGNATURES)


def _rng(*salt: object) -> np.random.Generator:
    return np.random.default_rng([sum(map(ord, repr(salt))), 97])


def ints(rng: np.random.Generator, shape: Sequence[int], dtype: Any, lo: int | None = None,
         hi: int | None = None) -> Array:  # fmt: skip
    """Uniform integers of `dtype` in [lo, hi] (default, and at most: the type's range,
    capped to +-2**62)."""
    info = np.iinfo(np.dtype(dtype))
    lo = max(info.min, -(2**62), -(2**62) if lo is None else lo)
    hi = min(info.max, 2**62, 2**62 if hi is None else hi)
    return rng.integers(lo, hi, size=tuple(shape), endpoint=True).astype(dtype)


def t(a: Array | np.dtype[Any] | type) -> int:
    """The xd_type of an array or dtype."""
    return XD_TYPE[a.dtype if isinstance(a, np.ndarray) else np.dtype(a)]


def poisoned(shape: Sequence[int], dtype: Any) -> Array:
    """An output buffer full of 0x5A bytes, so that unwritten elements show."""
    out = np.empty(tuple(shape), dtype)
    out.view(np.uint8)[...] = 0x5A
    return out


def assert_exact(got: Array, want: Array) -> None:
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------- headers


def _prototypes() -> dict[str, int]:
    """Name -> number of parameters of each function the header declares."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    return {
        m[1]: len(m[2].split(","))
        for m in re.finditer(r"\bvoid\s+(xd_\w+)\s*\(([^)]*)\)\s*;", text)
    }


def test_signatures_match_the_header() -> None:
    """ctypes, `kernel.SIGNATURES` and the header agree on every integer kernel, and the
    buffer interpreter implements each."""
    protos = _prototypes()
    for name, argtypes in SIGNATURES.items():
        params = kernel.SIGNATURES[name]
        assert len(params) == len(argtypes) == protos[name], name
        for p, a in zip(params, argtypes, strict=True):
            assert (a is _P) == (p.is_buffer or p.kind == "i32[]"), (name, p)
        assert name in interp_buffers.KERNELS, f"{name} has no interpreter implementation"


# ---------------------------------------------------------------------------- RequantShift

RQS_CASES = [
    # x shape, mul/add shape (or [mul shape, add shape]), x dtype, mul dtype, add dtype
    pytest.param((2, 3, 4, 5), (1,), np.int32, np.int32, np.int32, id="per-tensor"),
    pytest.param((2, 3, 4, 5), (1, 3, 1, 1), np.int32, np.uint16, np.int32, id="per-channel"),
    pytest.param((6, 7), (6, 1), np.int32, np.int8, np.int16, id="per-row"),
    pytest.param((3, 8), (8,), np.int32, np.int32, np.int32, id="last-axis"),
    pytest.param((3, 8), [(), (8,)], np.int32, np.int32, np.int64, id="per-column-add"),
    pytest.param((2, 3, 4), (2, 3, 4), np.int32, np.int16, np.int32, id="full"),
    pytest.param((4, 5), (4, 1), np.int16, np.uint8, np.int32, id="i16-in"),
    pytest.param((4, 5), (1,), np.uint8, np.int32, np.int8, id="u8-in"),
    pytest.param((3, 5), (3, 1), np.int64, np.int32, np.int64, id="i64-in"),
    pytest.param((9,), (), np.int32, np.int32, np.int32, id="rank1-scalar"),
]
RQS_OUT = [
    # n_levels, signed, output dtype
    pytest.param(256, True, np.int8, id="s8"),
    pytest.param(256, False, np.uint8, id="u8"),
    pytest.param(16, True, np.int8, id="s4"),
    pytest.param(100, False, np.uint8, id="u100"),
    pytest.param(65536, True, np.int16, id="s16"),
    pytest.param(2**32, True, np.int32, id="s32"),
]


def _requant(lib: ctypes.CDLL, x: Array, mul: Array, add: Array, div: int, n_levels: int,
             signed: bool, out_dtype: Any) -> Array:  # fmt: skip
    shape = np.broadcast_shapes(x.shape, mul.shape, add.shape)
    y = poisoned(shape, out_dtype)
    dims = list(shape) or [1]
    strides = [i32(broadcast_strides(a.shape, shape) or [0]) for a in (x, mul, add)]
    lo, hi = (-(n_levels // 2), n_levels // 2 - 1) if signed else (0, n_levels - 1)
    lib.xd_requant_shift(
        ptr(x), t(x), ptr(mul), t(mul), ptr(add), t(add), ptr(y), t(y), len(dims),
        ptr(i32(dims)), *map(ptr, strides), div.bit_length() - 1, lo, hi,
    )  # fmt: skip
    return y


@pytest.mark.parametrize(("n_levels", "signed", "out_dtype"), RQS_OUT)
@pytest.mark.parametrize(("xs", "ps", "xt", "mt", "at"), RQS_CASES)
def test_requant_shift(lib: ctypes.CDLL, xs, ps, xt, mt, at, n_levels, signed, out_dtype) -> None:
    rng = _rng("rqs", xs, ps, n_levels, signed)
    mul_shape, add_shape = ps if isinstance(ps, list) else (ps, ps)
    x = ints(rng, xs, xt, -(2**20), 2**20) if np.dtype(xt).itemsize > 2 else ints(rng, xs, xt)
    mul = ints(rng, mul_shape, mt, 0 if np.dtype(mt).kind == "u" else -300, 300)
    add = ints(rng, add_shape, at, -(2**15), 2**15 - 1)
    for div in (1, 2, 2**10, 2**14):
        got = _requant(lib, x, mul, add, div, n_levels, signed, out_dtype)
        want = iref.requant_shift(x, mul, add, div=div, n_levels=n_levels, signed=signed)
        assert_exact(got, want.astype(out_dtype))


def test_requant_shift_rounds_ties_up_and_clips(lib: ctypes.CDLL) -> None:
    x = np.array([-6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6, 10**6, -(10**6)], np.int32)
    one, zero = np.array([1], np.int32), np.array([0], np.int32)
    got = _requant(lib, x, one, zero, 4, 256, True, np.int8)
    # floor((x + 2) / 4): the halves -6/4, -2/4, 2/4, 6/4 go up; then the clip.
    assert got.tolist() == [-1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 2, 127, -128]
    assert_exact(got, iref.requant_shift(x, one, zero, div=4, n_levels=256, signed=True)
                 .astype(np.int8))  # fmt: skip
    unsigned = _requant(lib, x, one, zero, 4, 256, False, np.uint8)
    assert unsigned.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 255, 0]


# ---------------------------------------------------------------------------- linear algebra

MATMUL_SHAPES = [
    pytest.param((4, 5), (5, 3), id="2d"),
    pytest.param((3, 40), (40, 17), id="long"),
    pytest.param((2, 3, 4, 5), (5, 6), id="batched-b-shared"),
    pytest.param((3, 1, 4, 5), (1, 2, 5, 6), id="batch-broadcast"),
    pytest.param((3, 0), (0, 4), id="k0"),
    pytest.param((0, 3, 4), (4, 2), id="empty-batch"),
]
MATMUL_TYPES = [
    # a, b, out: the 8-bit-b fast paths, then the generic one
    pytest.param(np.int8, np.int8, np.int32, id="i8-i8-i32"),
    pytest.param(np.uint8, np.int8, np.int32, id="u8-i8-i32"),
    pytest.param(np.int8, np.uint8, np.int32, id="i8-u8-i32"),
    pytest.param(np.int16, np.uint8, np.int32, id="i16-u8-i32"),
    pytest.param(np.uint8, np.int16, np.int32, id="u8-i16-i32"),
    pytest.param(np.int32, np.int32, np.int32, id="i32-i32-i32-wraps"),
    pytest.param(np.int64, np.uint16, np.int32, id="i64-u16-i32-wraps"),
    pytest.param(np.int8, np.int8, np.int64, id="i8-i8-i64"),
    pytest.param(np.uint8, np.uint8, np.int16, id="u8-u8-i16-wraps"),
]


@pytest.mark.parametrize(("at", "bt", "ot"), MATMUL_TYPES)
@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul_int(lib: ctypes.CDLL, sa, sb, at, bt, ot) -> None:
    rng = _rng("matmul", sa, sb, np.dtype(at).str, np.dtype(bt).str, np.dtype(ot).str)
    a, b = ints(rng, sa, at), ints(rng, sb, bt)
    m, k = sa[-2:]
    n = sb[-1]
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    out = poisoned((*batch, m, n), ot)
    a_str = i32(s * m * k for s in broadcast_strides(sa[:-2], batch))
    b_str = i32(s * k * n for s in broadcast_strides(sb[:-2], batch))
    lib.xd_matmul_int(ptr(a), t(a), ptr(b), t(b), ptr(out), t(out), m, k, n, len(batch),
                      *map(ptr, (i32(batch), a_str, b_str)))  # fmt: skip
    assert_exact(out, iref.wrap(iref.matmul(a, b), ot))


GEMM_C = {  # C's shape -> (row stride, col stride) for an (m, n) = (5, 3) result
    "none": None,
    "full": ((5, 3), (3, 1)),
    "row": ((3,), (0, 1)),
    "column": ((5, 1), (1, 0)),
    "scalar": ((), (0, 0)),
}
GEMM_TYPES = [
    pytest.param(np.int8, np.int8, np.int32, np.int32, id="i8-i8-i32"),
    pytest.param(np.uint8, np.uint8, np.int8, np.int32, id="u8-u8-i8"),
    pytest.param(np.int16, np.int8, np.int16, np.int64, id="i16-i8-i64"),
]


@pytest.mark.parametrize(("at", "bt", "ct", "ot"), GEMM_TYPES)
@pytest.mark.parametrize("c_kind", list(GEMM_C))
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("trans_a", [0, 1])
def test_gemm_int(lib: ctypes.CDLL, trans_a: int, trans_b: int, c_kind: str, at, bt, ct,
                  ot) -> None:  # fmt: skip
    m, k, n = 5, 7, 3
    rng = _rng("gemm", trans_a, trans_b, c_kind, np.dtype(at).str, np.dtype(ct).str)
    a = ints(rng, (k, m) if trans_a else (m, k), at)
    b = ints(rng, (n, k) if trans_b else (k, n), bt)
    spec = GEMM_C[c_kind]
    c = None if spec is None else ints(rng, spec[0], ct)
    rs, cs = (0, 0) if spec is None else spec[1]
    c_type = t(ct) if c is not None else XD_TYPE[np.dtype(np.int32)]
    for alpha, beta in ((1, 1), (2, -3), (-1, 0), (100000, 70000)):
        out = poisoned((m, n), ot)
        lib.xd_gemm_int(ptr(a), t(a), ptr(b), t(b), ptr(c), c_type, ptr(out), t(out), m, k, n,
                        trans_a, trans_b, alpha, beta, rs, cs)  # fmt: skip
        want = iref.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=bool(trans_a),
                         trans_b=bool(trans_b))  # fmt: skip
        assert_exact(out, iref.wrap(want, ot))


# ---------------------------------------------------------------------------- windows

CONV_CASES = [
    # x shape, w shape, strides, pads (begins + ends), dilations, group
    pytest.param((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1, id="basic"),
    pytest.param((2, 3, 9, 7), (4, 3, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, id="s2p1"),
    pytest.param((1, 2, 7, 9), (3, 2, 3, 2), (2, 1), (1, 0, 2, 1), (1, 1), 1, id="asym"),
    pytest.param((1, 2, 10, 10), (2, 2, 3, 3), (1, 2), (2, 2, 2, 2), (2, 3), 1, id="dil"),
    pytest.param((2, 4, 6, 6), (6, 2, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, id="group2"),
    pytest.param((1, 5, 7, 7), (5, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 5, id="dw"),
    pytest.param((1, 2, 3, 3), (2, 2, 5, 5), (1, 1), (3, 3, 3, 3), (1, 1), 1, id="bigpad"),
    pytest.param((2, 3, 16), (4, 3, 5), (2,), (2, 3), (2,), 1, id="1d"),
]
CONV_TYPES = [
    # x, w, bias (None: no bias), y: the 8-bit-x fast paths, then the generic one
    pytest.param(np.int8, np.int8, np.int32, np.int32, id="i8-i8-b32-i32"),
    pytest.param(np.uint8, np.int8, None, np.int32, id="u8-i8-i32"),
    pytest.param(np.int8, np.uint8, np.int8, np.int32, id="i8-u8-b8-i32"),
    pytest.param(np.int8, np.int32, None, np.int32, id="i8-i32-i32-wraps"),
    pytest.param(np.int32, np.int8, np.int32, np.int32, id="i32-i8-b32-i32-wraps"),
    pytest.param(np.int16, np.int8, np.int16, np.int32, id="i16-i8-b16-i32"),
    pytest.param(np.uint8, np.int8, np.int32, np.int64, id="u8-i8-b32-i64"),
]


def _as_2d(values: Sequence[int], fill: int) -> tuple[int, int]:
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


@pytest.mark.parametrize(("xt", "wt", "bt", "yt"), CONV_TYPES)
@pytest.mark.parametrize(("xs", "ws", "strides", "pads", "dil", "group"), CONV_CASES)
def test_conv2d_int(lib: ctypes.CDLL, xs, ws, strides, pads, dil, group, xt, wt, bt, yt) -> None:
    rng = _rng("conv", xs, ws, pads, np.dtype(xt).str, np.dtype(wt).str, str(bt))
    x, w = ints(rng, xs, xt), ints(rng, ws, wt)
    bias = None if bt is None else ints(rng, (ws[0],), bt)
    want = iref.conv(x, w, bias, strides=strides, pads=pads, dilations=dil, group=group)
    nsp = len(xs) - 2
    h, wd = _as_2d(xs[2:], 1)
    kh, kw = _as_2d(ws[2:], 1)
    oh, ow = _as_2d(want.shape[2:], 1)
    sh, sw = _as_2d(strides, 1)
    ph, pw = _as_2d(pads[:nsp], 0)
    dh, dw = _as_2d(dil, 1)
    y = poisoned(want.shape, yt)
    b_type = t(bt) if bt is not None else XD_TYPE[np.dtype(np.int32)]
    lib.xd_conv2d_int(
        ptr(x), t(x), ptr(w), t(w), ptr(bias), b_type, ptr(y), t(y),
        xs[0], xs[1], h, wd, ws[0], kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, group,
    )  # fmt: skip
    assert_exact(y, iref.wrap(want, yt))


POOL_CASES = [
    # x shape, kernel, strides, pads, dilations, ceil_mode
    pytest.param((1, 2, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False, id="2x2"),
    pytest.param((2, 3, 7, 9), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False, id="3x3p1"),
    pytest.param((1, 1, 9, 8), (3, 3), (3, 2), (2, 1, 2, 1), (1, 1), True, id="ceil-pads"),
    pytest.param((1, 1, 10, 10), (3, 2), (2, 3), (1, 1, 1, 1), (2, 3), True, id="dilated"),
    pytest.param((1, 2, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), (1, 1), False, id="pad-only"),
    pytest.param((2, 3, 11), (4,), (3,), (1, 2), (1,), True, id="1d"),
]


@pytest.mark.parametrize("dtype", INT_TYPES, ids=[d.name for d in INT_TYPES])
@pytest.mark.parametrize(("xs", "kernel_shape", "strides", "pads", "dil", "ceil"), POOL_CASES)
def test_maxpool2d_int(lib: ctypes.CDLL, xs, kernel_shape, strides, pads, dil, ceil,
                       dtype) -> None:  # fmt: skip
    x = ints(_rng("maxpool", xs, kernel_shape, dtype.str), xs, dtype)
    if dtype.kind == "u":
        x.reshape(-1)[:3] = [np.iinfo(dtype).max, 0, np.iinfo(dtype).max - 1]
    want = ref.max_pool(x, kernel_shape=kernel_shape, strides=strides, pads=pads, dilations=dil,
                        ceil_mode=ceil)  # fmt: skip
    nsp = len(xs) - 2
    h, wd = _as_2d(xs[2:], 1)
    oh, ow = _as_2d(want.shape[2:], 1)
    kh, kw = _as_2d(kernel_shape, 1)
    sh, sw = _as_2d(strides, 1)
    ph, pw = _as_2d(pads[:nsp], 0)
    dh, dw = _as_2d(dil, 1)
    y = poisoned(want.shape, dtype)
    lib.xd_maxpool2d_int(ptr(x), ptr(y), t(x), xs[0] * xs[1], h, wd, oh, ow, kh, kw, sh, sw, ph,
                         pw, dh, dw)  # fmt: skip
    assert_exact(y, want)
    if kernel_shape == (1, 1):  # the corners are padding only: the type's minimum
        assert y[0, 0, 0, 0] == np.iinfo(dtype).min


# ---------------------------------------------------------------------------- softmax and norms

SOFTMAX_PARAMS = [
    # coeff_a, coeff_b, coeff_c, log2, n_levels
    pytest.param(1, 86, 3888, 64, 256, id="typical"),
    pytest.param(3, -7, 1000, 5, 200, id="coeff-a3"),
    pytest.param(1, 4, 1, 1, 256, id="log2-1-int8-wraps"),
    pytest.param(2, 20, -50, 3, 100, id="negative-c"),
    pytest.param(70000, 3000, 2**30, 7, 256, id="int32-wraps"),
]
ROW_SHAPES = [(5, 17), (3, 1), (2, 3, 8)]


def _rows(shape: Sequence[int]) -> tuple[int, int]:
    return int(np.prod(shape[:-1])), shape[-1]


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=["i8", "u8", "i16"])
@pytest.mark.parametrize(("ca", "cb", "cc", "log2", "levels"), SOFTMAX_PARAMS)
def test_isoftmax(lib: ctypes.CDLL, ca, cb, cc, log2, levels, dtype) -> None:
    for shape in ROW_SHAPES:
        rng = _rng("isoftmax", ca, cb, shape, np.dtype(dtype).str)
        # 8-bit values, also when stored wider.
        x = ints(rng, shape, dtype, *((-128, 127) if dtype == np.int16 else (None, None)))
        y = poisoned(shape, np.uint8)
        lib.xd_isoftmax(ptr(x), t(x), ptr(y), *_rows(shape), ca, cb, cc, log2, levels)
        want = inorm.i_softmax(x, coeff_a=ca, coeff_b=cb, coeff_c=cc, log2=log2, n_levels=levels)
        assert_exact(y, want)


@pytest.mark.parametrize("levels", [256, 128, 200])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=["i8", "u8"])
def test_ita_max(lib: ctypes.CDLL, dtype, levels: int) -> None:
    for shape in ROW_SHAPES:
        x = ints(_rng("ita", shape, levels, np.dtype(dtype).str), shape, dtype)
        y = poisoned(shape, np.uint8)
        lib.xd_ita_max(ptr(x), t(x), ptr(y), *_rows(shape), levels)
        assert_exact(y, inorm.ita_max(x, n_levels=levels))


NORM_WEIGHTS = [
    # weight dtype, weight range, D
    pytest.param(np.int32, 2**12, 2**10, id="w32"),
    pytest.param(np.int32, 2**31 - 1, 2**20, id="w32-product-wraps"),
    pytest.param(np.int8, 127, 1, id="w8-d1"),
    pytest.param(np.uint16, 2**16 - 1, 200, id="u16-d-not-pow2"),
]


@pytest.mark.parametrize("xt", [np.int8, np.uint8], ids=["i8", "u8"])
@pytest.mark.parametrize(("wt", "wmax", "d"), NORM_WEIGHTS)
def test_irmsnorm(lib: ctypes.CDLL, wt, wmax: int, d: int, xt) -> None:
    for shape in [(4, 16), (2, 3, 64), (1, 1)]:
        rng = _rng("rms", shape, wmax, d, np.dtype(xt).str)
        x = ints(rng, shape, xt)
        w = ints(rng, shape[-1:], wt, 0 if np.dtype(wt).kind == "u" else -wmax, wmax)
        y = poisoned(shape, np.int8)
        lib.xd_irmsnorm(ptr(x), t(x), ptr(w), t(w), ptr(y), *_rows(shape), int(np.log2(d)))
        assert_exact(y, inorm.i_rms_norm(x, w, d=d))


@pytest.mark.parametrize("xt", [np.int8, np.uint8], ids=["i8", "u8"])
@pytest.mark.parametrize(("wt", "wmax", "d"), NORM_WEIGHTS)
def test_ilayernorm(lib: ctypes.CDLL, wt, wmax: int, d: int, xt) -> None:
    for shape in [(4, 16), (2, 3, 64), (1, 1)]:
        rng = _rng("ln", shape, wmax, d, np.dtype(xt).str)
        x = ints(rng, shape, xt)
        w = ints(rng, shape[-1:], wt, 0 if np.dtype(wt).kind == "u" else -wmax, wmax)
        bias = ints(rng, shape[-1:], np.int32, -(2**20), 2**20)
        y = poisoned(shape, np.int8)
        lib.xd_ilayernorm(ptr(x), t(x), ptr(w), t(w), ptr(bias), t(bias), ptr(y), *_rows(shape),
                          int(np.log2(d)))  # fmt: skip
        assert_exact(y, inorm.i_layer_norm(x, w, bias, d=d))


def test_ilayernorm_wraps_where_irmsnorm_clamps(lib: ctypes.CDLL) -> None:
    """x = [0, 10]: mean 5, std 5, so (x - mean) * 200 / 5 = ∓200, which iLayerNorm's
    int8 cast wraps to ±56; iRMSNorm (std = isqrt(100 / 2 + 1) = 7) clamps 2000 / 7 to 127."""
    x = np.array([[0, 10]], np.int8)
    w = np.array([200, 200], np.int32)
    zero = np.zeros(2, np.int32)
    ln = poisoned((1, 2), np.int8)
    lib.xd_ilayernorm(ptr(x), t(x), ptr(w), t(w), ptr(zero), t(zero), ptr(ln), 1, 2, 0)
    assert ln.tolist() == [[56, -56]]
    rms = poisoned((1, 2), np.int8)
    lib.xd_irmsnorm(ptr(x), t(x), ptr(w), t(w), ptr(rms), 1, 2, 0)
    assert rms.tolist() == [[0, 127]]
    assert_exact(ln, inorm.i_layer_norm(x, w, zero, d=1))
    assert_exact(rms, inorm.i_rms_norm(x, w, d=1))


# ---------------------------------------------------------------------------- elementwise

ELEMENTWISE_TYPES = [
    # x dtype, y dtype
    pytest.param(np.int8, np.int32, id="i8-i32"),
    pytest.param(np.uint8, np.int32, id="u8-i32"),
    pytest.param(np.int16, np.int32, id="i16-i32"),
    pytest.param(np.int32, np.int32, id="i32-i32-wraps"),
    pytest.param(np.int16, np.int64, id="i16-i64"),
]


@pytest.mark.parametrize(("xt", "yt"), ELEMENTWISE_TYPES)
def test_igelu(lib: ctypes.CDLL, xt, yt) -> None:
    x = ints(_rng("igelu", np.dtype(xt).str), (257,), xt)
    for b, one in ((-40, 1743), (-1000, 2**20), (-3, 5)):
        y = poisoned(x.shape, yt)
        lib.xd_igelu(ptr(x), t(x), ptr(y), t(y), x.size, b, one)
        assert_exact(y, iref.wrap(iref.igelu(x, b=b, one=one), yt))


@pytest.mark.parametrize(("xt", "yt"), ELEMENTWISE_TYPES)
def test_ihardswish(lib: ctypes.CDLL, xt, yt) -> None:
    x = ints(_rng("ihs", np.dtype(xt).str), (257,), xt)
    for one_over_six, six, three in ((33, 1530, 765), (2**20, 2**16, 2**15), (5, -3, 2)):
        y = poisoned(x.shape, yt)
        lib.xd_ihardswish(ptr(x), t(x), ptr(y), t(y), x.size, one_over_six, six, three)
        want = iref.ihardswish(x, one_over_six=one_over_six, six=six, three=three)
        assert_exact(y, iref.wrap(want, yt))


@pytest.mark.parametrize(("xt", "yt"), ELEMENTWISE_TYPES)
def test_true_integer_div(lib: ctypes.CDLL, xt, yt) -> None:
    x = ints(_rng("tid", np.dtype(xt).str), (257,), xt)
    for delta, eps, eta, div_by in ((16384, 1, 200000, 2), (2**20, 3, 7, -5)):
        coeff = iref.true_integer_div_coeff(Delta=delta, eps=eps, eta=eta, y=div_by)
        y = poisoned(x.shape, yt)
        lib.xd_true_integer_div(ptr(x), t(x), ptr(y), t(y), x.size, coeff)
        want = iref.true_integer_div(x, Delta=delta, eps=eps, eta=eta, y=div_by)
        assert_exact(y, iref.wrap(want, yt))


# ---------------------------------------------------------------------------- IntegerMean

MEAN_CASES = [
    # shape (outer, len, inner), keepdims
    pytest.param((2, 3, 4), False, id="len3-division"),
    pytest.param((2, 4, 3), False, id="len4-shift"),
    pytest.param((2, 4, 3), True, id="len4-keepdims-division"),
    pytest.param((5, 8, 1), False, id="len8-inner1"),
    pytest.param((1, 1, 6), False, id="len1"),
]


@pytest.mark.parametrize("dtype", INT_TYPES[:6], ids=[d.name for d in INT_TYPES[:6]])
@pytest.mark.parametrize(("shape", "keepdims"), MEAN_CASES)
def test_integer_mean(lib: ctypes.CDLL, shape, keepdims: bool, dtype) -> None:
    outer, length, inner = shape
    rng = _rng("mean", shape, keepdims, dtype.str)
    x = ints(rng, shape, dtype, *((-1000, 1000) if dtype.itemsize >= 2 else (None, None)))
    if dtype.kind == "i":  # sums at exact halves, both signs
        x[0, :, 0] = 0
        x[0, 0, 0] = -(length // 2) if length > 1 else -1
    pow2 = length & (length - 1) == 0 and not keepdims
    y = poisoned((outer, inner), dtype)
    lib.xd_integer_mean(ptr(x), t(x), ptr(y), t(y), outer, length, inner,
                        length.bit_length() - 1 if pow2 else -1)  # fmt: skip
    want = iref.integer_mean(x, axes=[1], keepdims=keepdims).reshape(outer, inner)
    assert_exact(y, want.astype(dtype))


def test_integer_mean_rounding(lib: ctypes.CDLL) -> None:
    """Power-of-two lengths round half up; others round half away from zero."""
    x2 = np.array([[-3, 0], [-1, 0], [3, 0], [1, 0]], np.int16).reshape(4, 2, 1)
    y2 = poisoned((4, 1), np.int16)
    lib.xd_integer_mean(ptr(x2), t(x2), ptr(y2), t(y2), 4, 2, 1, 1)
    assert y2.reshape(-1).tolist() == [-1, 0, 2, 1]
    x3 = np.array([[-4, 0, 0], [-5, 0, 0], [4, 0, 0], [5, 0, 0]], np.int16).reshape(4, 3, 1)
    y3 = poisoned((4, 1), np.int16)
    lib.xd_integer_mean(ptr(x3), t(x3), ptr(y3), t(y3), 4, 3, 1, -1)
    assert y3.reshape(-1).tolist() == [-1, -2, 1, 2]


# ---------------------------------------------------------------------------- sanitizers


@pytest.mark.skipif(os.environ.get(SANITIZE_ENV) == "1", reason="already the sanitized run")
def test_sanitized_run(tmp_path: Path) -> None:
    """The kernel tests above, again, against an ASan + UBSan build of the kernels."""
    rerun_under_sanitizers(__file__, tmp_path, deselect="end_to_end")


# ---------------------------------------------------------------------------- end to end


def _dense(a: Array) -> str:
    return f"dense<{a.tolist()}>"


def _attention(r: np.random.Generator) -> tuple[str, list[Array]]:
    """Batched scores → per-tensor requant → iSoftmax/ITAMax → (ui8 × i8) matmul →
    per-column requant to ui4 levels; iLayerNorm, iRMSNorm, IntegerMean over (0, 2)."""
    w = ints(r, (4, 6), np.int8, -60, 60)
    m2, a2 = ints(r, (6,), np.int16, 1, 300), ints(r, (6,), np.int32, -5000, 5000)
    lw, lb = ints(r, (4,), np.int32, -3000, 3000), ints(r, (4,), np.int32, -9000, 9000)
    rw = ints(r, (4,), np.int16, -400, 400)
    text = f"""
    func.func @main(%x: tensor<2x4x8xi8>, %k: tensor<2x8x4xi8>) -> (tensor<2x4x4xui8>,
        tensor<2x4x4xui8>, tensor<2x4x6xui8>, tensor<2x4x4xi8>, tensor<2x4x4xi8>, tensor<4xi8>) {{
      %s = dnn.matmul %x, %k : (tensor<2x4x8xi8>, tensor<2x8x4xi8>) -> tensor<2x4x4xi32>
      %m = dnn.constant dense<[5]> : tensor<1xui8>
      %a = dnn.constant dense<[-70]> : tensor<1xi8>
      %r = dnn.requant_shift %s, %m, %a {{div = 128 : i64, n_levels = 256 : i64, signed}}
        : (tensor<2x4x4xi32>, tensor<1xui8>, tensor<1xi8>) -> tensor<2x4x4xi8>
      %p = dnn.i_softmax %r {{coeff_a = 1 : i64, coeff_b = 86 : i64, coeff_c = 3888 : i64,
        log2 = 64 : i64, n_levels = 256 : i64}} : tensor<2x4x4xi8> -> tensor<2x4x4xui8>
      %q = dnn.ita_max %r {{n_levels = 256 : i64}} : tensor<2x4x4xi8> -> tensor<2x4x4xui8>
      %w = dnn.constant {_dense(w)} : tensor<4x6xi8>
      %h = dnn.matmul %p, %w : (tensor<2x4x4xui8>, tensor<4x6xi8>) -> tensor<2x4x6xi32>
      %m2 = dnn.constant {_dense(m2)} : tensor<6xi16>
      %a2 = dnn.constant {_dense(a2)} : tensor<6xi32>
      %h8 = dnn.requant_shift %h, %m2, %a2 {{div = 65536 : i64, n_levels = 16 : i64}}
        : (tensor<2x4x6xi32>, tensor<6xi16>, tensor<6xi32>) -> tensor<2x4x6xui8>
      %lw = dnn.constant {_dense(lw)} : tensor<4xi32>
      %lb = dnn.constant {_dense(lb)} : tensor<4xi32>
      %ln = dnn.i_layer_norm %r, %lw, %lb {{d = 64 : i64, n_levels = 256 : i64}}
        : (tensor<2x4x4xi8>, tensor<4xi32>, tensor<4xi32>) -> tensor<2x4x4xi8>
      %rw = dnn.constant {_dense(rw)} : tensor<4xi16>
      %rms = dnn.i_rms_norm %r, %rw {{d = 16 : i64, n_levels = 256 : i64}}
        : (tensor<2x4x4xi8>, tensor<4xi16>) -> tensor<2x4x4xi8>
      %mean = dnn.integer_mean %r {{axes = array<i64: 0, 2>}} : tensor<2x4x4xi8> -> tensor<4xi8>
      func.return %p, %q, %h8, %ln, %rms, %mean : tensor<2x4x4xui8>, tensor<2x4x4xui8>,
        tensor<2x4x6xui8>, tensor<2x4x4xi8>, tensor<2x4x4xi8>, tensor<4xi8>
    }}
    """
    return text, [ints(r, (2, 4, 8), np.int8, -30, 30), ints(r, (2, 8, 4), np.int8, -30, 30)]


def _convnet(r: np.random.Generator) -> tuple[str, list[Array]]:
    """ui8 image → conv + int32 bias → per-channel requant (unsigned) → max pool →
    depthwise conv → requant → iGELU, iHardswish, TrueIntegerDiv, IntegerMean."""
    w = ints(r, (4, 3, 3, 3), np.int8, -20, 20)
    bias = ints(r, (4,), np.int32, -500, 500)
    cm, ca = ints(r, (1, 4, 1, 1), np.int32, 1, 40), ints(r, (1, 4, 1, 1), np.int32, -900, 900)
    dw = ints(r, (4, 1, 3, 3), np.int8, -10, 10)
    window = (
        "strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>"
    )
    same = "strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>"
    text = f"""
    func.func @main(%x: tensor<1x3x9x9xui8>) -> (tensor<1x4x3x3xui8>, tensor<1x4xi8>,
        tensor<1x4x3x3xi32>, tensor<1x4x3x3xi32>, tensor<1x4x3x3xi32>, tensor<1x4x3x1xi8>) {{
      %w = dnn.constant {_dense(w)} : tensor<4x3x3x3xi8>
      %b = dnn.constant {_dense(bias)} : tensor<4xi32>
      %c = dnn.conv %x, %w, %b {{{window}, group = 1 : i64}}
        : tensor<1x3x9x9xui8>, tensor<4x3x3x3xi8>, tensor<4xi32> -> tensor<1x4x5x5xi32>
      %cm = dnn.constant {_dense(cm)} : tensor<1x4x1x1xi32>
      %ca = dnn.constant {_dense(ca)} : tensor<1x4x1x1xi32>
      %r = dnn.requant_shift %c, %cm, %ca {{div = 1024 : i64, n_levels = 256 : i64}}
        : (tensor<1x4x5x5xi32>, tensor<1x4x1x1xi32>, tensor<1x4x1x1xi32>) -> tensor<1x4x5x5xui8>
      %mp = dnn.max_pool %r {{kernel_shape = array<i64: 3, 3>, {window}}}
        : tensor<1x4x5x5xui8> -> tensor<1x4x3x3xui8>
      %dw = dnn.constant {_dense(dw)} : tensor<4x1x3x3xi8>
      %d = dnn.conv %mp, %dw {{{same}, group = 4 : i64}}
        : tensor<1x4x3x3xui8>, tensor<4x1x3x3xi8> -> tensor<1x4x3x3xi32>
      %dm = dnn.constant dense<[3]> : tensor<1xui8>
      %da = dnn.constant dense<[0]> : tensor<1xui8>
      %r2 = dnn.requant_shift %d, %dm, %da {{div = 256 : i64, n_levels = 256 : i64, signed}}
        : (tensor<1x4x3x3xi32>, tensor<1xui8>, tensor<1xui8>) -> tensor<1x4x3x3xi8>
      %mean = dnn.integer_mean %r2 {{axes = array<i64: 2, 3>}} : tensor<1x4x3x3xi8> -> tensor<1x4xi8>
      %g = dnn.i_gelu %r2 {{b = -40 : i64, one = 1743 : i64}} : tensor<1x4x3x3xi8> -> tensor<1x4x3x3xi32>
      %hs = dnn.i_hardswish %r2 {{one_over_six = 33 : i64, six = 1530 : i64, three = 765 : i64}}
        : tensor<1x4x3x3xi8> -> tensor<1x4x3x3xi32>
      %td = dnn.true_integer_div %r2 {{delta = 16384 : i64, eps = 1 : i64, eta = 200000 : i64,
        y = 2 : i64}} : tensor<1x4x3x3xi8> -> tensor<1x4x3x3xi32>
      %m2 = dnn.integer_mean %r2 {{axes = array<i64: 3>, keepdims}} : tensor<1x4x3x3xi8> -> tensor<1x4x3x1xi8>
      func.return %mp, %mean, %g, %hs, %td, %m2 : tensor<1x4x3x3xui8>, tensor<1x4xi8>,
        tensor<1x4x3x3xi32>, tensor<1x4x3x3xi32>, tensor<1x4x3x3xi32>, tensor<1x4x3x1xi8>
    }}
    """
    return text, [ints(r, (1, 3, 9, 9), np.uint8)]


def _generic(r: np.random.Generator) -> tuple[str, list[Array]]:
    """Gemm (transposed, alpha/beta, int32 C), generic operand types (i16 activations,
    ui16 weights), a 1-D dilated conv, a ceil-mode 1-D max pool on i16, and a float
    matmul/conv/max pool next to them (the float lowering, dispatched)."""
    w = ints(r, (4, 5), np.int8, -50, 50)
    c = ints(r, (4,), np.int32, -1000, 1000)
    wv = ints(r, (5, 2), np.uint16, 0, 900)
    w1 = ints(r, (3, 2, 3), np.int8, -9, 9)
    wf = r.standard_normal((5, 2)).astype(np.float32)
    text = f"""
    func.func @main(%a: tensor<3x5xi8>, %q: tensor<4x5xi16>, %s: tensor<1x2x12xi16>,
        %f: tensor<3x5xf32>) -> (tensor<3x4xi32>, tensor<4x2xi32>, tensor<1x3x6xi32>,
        tensor<1x2x7xi16>, tensor<3x2xf32>, tensor<4x3xi32>) {{
      %w = dnn.constant {_dense(w)} : tensor<4x5xi8>
      %c = dnn.constant {_dense(c)} : tensor<4xi32>
      %g = dnn.gemm %a, %w, %c {{trans_b, alpha = 2.0 : f32, beta = -3.0 : f32}}
        : tensor<3x5xi8>, tensor<4x5xi8>, tensor<4xi32> -> tensor<3x4xi32>
      %wv = dnn.constant {_dense(wv)} : tensor<5x2xui16>
      %mm = dnn.matmul %q, %wv : (tensor<4x5xi16>, tensor<5x2xui16>) -> tensor<4x2xi32>
      %w1 = dnn.constant {_dense(w1)} : tensor<3x2x3xi8>
      %c1 = dnn.conv %s, %w1 {{strides = array<i64: 2>, pads = array<i64: 1, 2>,
        dilations = array<i64: 2>, group = 1 : i64}}
        : tensor<1x2x12xi16>, tensor<3x2x3xi8> -> tensor<1x3x6xi32>
      %mp = dnn.max_pool %s {{kernel_shape = array<i64: 3>, strides = array<i64: 2>,
        pads = array<i64: 1, 1>, dilations = array<i64: 1>, ceil_mode}}
        : tensor<1x2x12xi16> -> tensor<1x2x7xi16>
      %wf = dnn.constant {_dense(wf)} : tensor<5x2xf32>
      %fm = dnn.matmul %f, %wf : (tensor<3x5xf32>, tensor<5x2xf32>) -> tensor<3x2xf32>
      %g2 = dnn.gemm %w, %a {{trans_b}} : tensor<4x5xi8>, tensor<3x5xi8> -> tensor<4x3xi32>
      func.return %g, %mm, %c1, %mp, %fm, %g2 : tensor<3x4xi32>, tensor<4x2xi32>,
        tensor<1x3x6xi32>, tensor<1x2x7xi16>, tensor<3x2xf32>, tensor<4x3xi32>
    }}
    """
    inputs = [
        ints(r, (3, 5), np.int8),
        ints(r, (4, 5), np.int16, -3000, 3000),
        ints(r, (1, 2, 12), np.int16),
        r.standard_normal((3, 5)).astype(np.float32),
    ]
    return text, inputs


END_TO_END = {"attention": _attention, "convnet": _convnet, "generic": _generic}


def _kernels_called(module: ModuleOp) -> set[str]:
    return {op.kernel for op in module.walk() if isinstance(op, kernel.CallOp)}


@pytest.mark.parametrize("name", list(END_TO_END))
def test_end_to_end(name: str, tmp_path: Path) -> None:
    text, inputs = END_TO_END[name](np.random.default_rng(len(name)))
    module = parse_ir(text)
    want = run_module(module, inputs)
    ConvertDnnToKernel().apply(Context(), module)
    module.verify()
    lowered = run_buffers(module, inputs)
    PlanMemory().apply(Context(), module)
    module.verify()
    planned = run_buffers(module, inputs)
    build = compile_module(module, tmp_path / "build")
    # -O2 rather than the Makefile's -O3 keeps the three builds quick (gcc -O3 takes
    # twice as long); -O3 builds of the kernels are checked by test_runtime_kernels.
    compiled = HostLibrary(build, build_shared_library(build, ["-O2"])).run(inputs)
    for k, w in enumerate(want):
        for level, got in (("kernel", lowered[k]), ("planned", planned[k]), ("C", compiled[k])):
            assert got.dtype == w.dtype, f"output {k} at the {level} level: {got.dtype}"
            if w.dtype.kind == "f":
                np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6, err_msg=level)
            else:
                np.testing.assert_array_equal(got, w, err_msg=f"output {k}, {level} level")
        if w.dtype.kind != "f":  # the data exercise more than one value
            assert len(np.unique(w)) > 1, f"output {k} is constant"


def test_end_to_end_graphs_call_every_integer_kernel() -> None:
    """...and use every integer-only op (test_lowering_equivalence's ONNX graphs cannot:
    they are not integer-typed)."""
    seen: set[str] = set()
    ops: set[type] = set()
    for make in END_TO_END.values():
        module = parse_ir(make(np.random.default_rng(0))[0])
        ops |= {type(op) for op in module.walk()}
        ConvertDnnToKernel().apply(Context(), module)
        seen |= _kernels_called(module)
    missing = sorted(set(SIGNATURES) - seen)
    assert not missing, f"no end-to-end graph calls {missing}"
    assert {"xd_matmul_f32", "xd_strided_copy"} <= seen  # float dispatch; gathered mean axes
    unused = sorted(t.__name__ for t in INTEGER_ONLY_OPS - ops)
    assert not unused, f"no end-to-end graph uses {unused}"
