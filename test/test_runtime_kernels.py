"""The C runtime kernels (`xdeeploy/runtime_c`) against `xdeeploy.interp.reference`.

All of `runtime_c/src/*.c` is built once per session (per xdist worker) into a shared
library and every kernel is called through ctypes on numpy buffers, with the
arguments a compiler would pass: output dims, per-operand element strides (0 on
broadcast dimensions), flattened outer x len x inner views, and so on.

Results must equal the reference's bit for bit: the reference computes floats with the
kernels' own elementary functions (xd_math) in the kernels' loop orders. The one
exception is Pow (libm's powf in C, numpy's power in the reference), which must agree
within |c - ref| <= 1e-6 * max(1, |ref|).

`test_sanitized_run` repeats a representative part of this file in a subprocess against
a library built with ASan and UBSan (`XD_KERNELS_SANITIZE=1`, libasan preloaded into
Python), so that out-of-bounds accesses on the numpy buffers abort the run.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from c_kernels import SANITIZE_ENV, load_kernels, rerun_under_sanitizers

from xdeeploy.interp import reference as ref

Array = npt.NDArray[Any]
F32 = np.float32

RUNTIME = Path(__file__).resolve().parents[1] / "xdeeploy" / "runtime_c"
INCLUDE = RUNTIME / "include"
SOURCES = sorted((RUNTIME / "src").glob("*.c"))
HEADER = INCLUDE / "xd_kernels.h"

STRICT = [
    "-std=c99",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wconversion",
    "-Wno-sign-conversion",
]

# The header's enumerators (XD_ADD = 0, ...), so the tests cannot drift from it.
_HEADER_TEXT = HEADER.read_text()
ENUM: dict[str, int] = {
    m[1]: int(m[2]) for m in re.finditer(r"\b(XD_\w+)\s*=\s*(\d+)", _HEADER_TEXT)
}
ENUM_TYPES: dict[str, list[str]] = {
    m[2]: re.findall(r"\b(XD_\w+)\s*=", m[1])
    for m in re.finditer(r"typedef enum \{(.*?)\}\s*(\w+);", _HEADER_TEXT, re.S)
}

_P, _I, _F = ctypes.c_void_p, ctypes.c_int32, ctypes.c_float
SIGNATURES: dict[str, list[Any]] = {
    "xd_binary_f32": [_I, _P, _P, _P, _I, _P, _P, _P],
    "xd_compare_f32": [_I, _P, _P, _P, _I, _P, _P, _P],
    "xd_where_f32": [_P, _P, _P, _P, _I, _P, _P, _P, _P],
    "xd_unary_f32": [_I, _P, _P, _I, _F, _F],
    "xd_cast": [_P, _I, _P, _I, _I],
    "xd_matmul_f32": [_P, _P, _P, _I, _I, _I, _I, _P, _P, _P],
    "xd_gemm_f32": [_P, _P, _P, _P, _I, _I, _I, _I, _I, _F, _F, _I, _I],
    "xd_conv2d_f32": [_P, _P, _P, _P] + [_I] * 16,
    "xd_maxpool2d_f32": [_P, _P] + [_I] * 13,
    "xd_avgpool2d_f32": [_P, _P] + [_I] * 14,
    "xd_softmax_f32": [_P, _P, _I, _I, _I, _I],
    "xd_layernorm_f32": [_P, _P, _P, _P, _I, _I, _F],
    "xd_rmsnorm_f32": [_P, _P, _P, _I, _I, _F],
    "xd_reduce_f32": [_I, _P, _P, _I, _I, _I],
    "xd_copy": [_P, _P, _I, _I],
    "xd_strided_copy": [_P, _P, _I, _I, _P, _P],
    "xd_copy_rows": [_P, _P, _I, _I, _I, _I, _I],
    "xd_gather": [_P, _P, _P, _I, _I, _I, _I, _I, _I],
    "xd_pad": [_P, _P, _I, _I, _P, _P, _P, _P],
    "xd_scatter_nd": [_P, _P, _P, _I, _I, _I, _P, _I],
}


@pytest.fixture(scope="session")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    path = tmp_path_factory.mktemp("xd_kernels") / "libxd_kernels.so"
    return load_kernels(path, SOURCES, STRICT, INCLUDE, SIGNATURES)


# ---------------------------------------------------------------------------
# Helpers


def _rng(*salt: object) -> np.random.Generator:
    """A generator seeded per case, so a case's data does not depend on test order."""
    return np.random.default_rng([sum(map(ord, repr(salt))), 4321])


def ptr(a: Array | None, offset_elems: int = 0) -> ctypes.c_void_p | None:
    """The address of a's element `offset_elems`; the caller keeps `a` alive."""
    if a is None:
        return None
    if offset_elems == 0:
        return a.ctypes.data_as(ctypes.c_void_p)
    return ctypes.c_void_p(a.ctypes.data + offset_elems * a.itemsize)


def i32(values: Iterable[int]) -> Array:
    return np.array(list(values), dtype=np.int32)


def dense_strides(shape: Sequence[int]) -> list[int]:
    strides, running = [], 1
    for d in reversed(shape):
        strides.append(running)
        running *= d
    return strides[::-1]


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of a dense `shape` operand over `out_shape`, 0 where broadcast."""
    dense = dense_strides(shape)
    lead = len(out_shape) - len(shape)
    return [
        0 if i < lead or shape[i - lead] == 1 else dense[i - lead] for i in range(len(out_shape))
    ]


def assert_close(got: Array, want: Array, tol: float = 1e-6) -> None:
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    g, w = got.astype(np.float64), want.astype(np.float64)
    assert np.array_equal(np.isnan(g), np.isnan(w)), "NaNs differ"
    ok = ~np.isnan(w)
    with np.errstate(invalid="ignore"):  # inf - inf where both are the same infinity
        err = np.where(g[ok] == w[ok], 0.0, np.abs(g[ok] - w[ok]))
    limit = tol * np.maximum(1.0, np.abs(w[ok]))
    if not np.all(err <= limit):
        i = int(np.argmax(err - limit))
        pytest.fail(f"error {err[i]:.3g} > {limit[i]:.3g}: ours {g[ok][i]!r}, ref {w[ok][i]!r}")


def assert_exact(got: Array, want: Array) -> None:
    """Equal values, NaN where the other has NaN, and for floats the same sign of zero."""
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    np.testing.assert_array_equal(got, want)
    if got.dtype.kind == "f":
        numbers = ~np.isnan(want)
        assert np.array_equal(np.signbit(got[numbers]), np.signbit(want[numbers])), "sign of 0"


def normal(rng: np.random.Generator, shape: Sequence[int], scale: float = 1.0) -> Array:
    return np.asarray(rng.standard_normal(tuple(shape)) * scale, dtype=F32)


# ---------------------------------------------------------------------------
# Elementwise with broadcasting

BROADCASTS = [
    pytest.param((3, 4), (3, 4), id="same"),
    pytest.param((2, 3, 4), (4,), id="row"),
    pytest.param((2, 3, 4), (3, 1), id="column"),
    pytest.param((2, 1, 4), (1, 3, 1), id="both"),
    pytest.param((2, 3, 4, 5), (3, 1, 5), id="rank4-middle"),
    pytest.param((7,), (), id="scalar"),
    pytest.param((), (), id="rank0"),
    pytest.param((1, 1), (1,), id="ones"),
    pytest.param((3, 0, 2), (3, 1, 2), id="empty"),
]

BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "XD_ADD": ref.add,
    "XD_SUB": ref.sub,
    "XD_MUL": ref.mul,
    "XD_DIV": ref.div,
    "XD_POW": ref.pow,
    "XD_MAX": ref.maximum,
    "XD_MIN": ref.minimum,
}


def _binary_call(
    fn: Any, op: int, a: Array, b: Array, out_dtype: type, *extra: Array
) -> tuple[Array, tuple[int, ...]]:
    shape = np.broadcast_shapes(a.shape, b.shape, *(e.shape for e in extra))
    out = np.empty(shape, dtype=out_dtype)
    dims = i32(shape)
    sa, sb = i32(broadcast_strides(a.shape, shape)), i32(broadcast_strides(b.shape, shape))
    fn(op, ptr(a), ptr(b), ptr(out), len(shape), ptr(dims), ptr(sa), ptr(sb))
    return out, shape


@pytest.mark.parametrize(("sa", "sb"), BROADCASTS)
@pytest.mark.parametrize("op", list(BINARY))
def test_binary(lib: ctypes.CDLL, op: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = _rng("binary", op, sa, sb)
    a, b = normal(rng, sa), normal(rng, sb)
    if op == "XD_POW":
        a = rng.uniform(0.1, 3.0, sa).astype(F32)
        b = rng.uniform(-2.0, 2.0, sb).astype(F32)
    # Operands swapped too: the broadcast operand on either side.
    for x, y in ((a, b), (b, a)):
        got, _ = _binary_call(lib.xd_binary_f32, ENUM[op], x, y, F32)
        with np.errstate(all="ignore"):
            want = BINARY[op](x, y)
        if op in ("XD_POW",):
            assert_close(got, want, 1e-6)
        else:  # one IEEE operation each: bit-exact
            assert_exact(got, want)


@pytest.mark.parametrize("op", ["XD_MAX", "XD_MIN"])
def test_binary_nan_propagates(lib: ctypes.CDLL, op: str) -> None:
    a = np.array([np.nan, 1.0, np.nan, -np.inf, 2.0], dtype=F32)
    b = np.array([1.0, np.nan, np.nan, 0.0, -3.0], dtype=F32)
    got, _ = _binary_call(lib.xd_binary_f32, ENUM[op], a, b, F32)
    assert_exact(got, BINARY[op](a, b))


COMPARE: dict[str, Callable[[Array, Array], Array]] = {
    "XD_EQUAL": ref.equal,
    "XD_LESS": ref.less,
    "XD_GREATER": ref.greater,
}


@pytest.mark.parametrize(("sa", "sb"), BROADCASTS)
@pytest.mark.parametrize("op", list(COMPARE))
def test_compare(lib: ctypes.CDLL, op: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = _rng("compare", op, sa, sb)
    # Small integers in float, so that equality actually occurs; one NaN where possible.
    a = rng.integers(-2, 3, sa).astype(F32)
    b = rng.integers(-2, 3, sb).astype(F32)
    if a.size > 1:
        a.flat[1] = np.nan
    for x, y in ((a, b), (b, a)):
        got, _ = _binary_call(lib.xd_compare_f32, ENUM[op], x, y, np.uint8)
        assert_exact(got.view(np.bool_), COMPARE[op](x, y))


WHERE_SHAPES = [
    pytest.param((3, 4), (3, 4), (3, 4), id="same"),
    pytest.param((3, 1), (4,), (3, 4), id="mixed"),
    pytest.param((2, 1, 4), (3, 1), (), id="scalar-b"),
    pytest.param((), (2, 3), (1, 3), id="scalar-cond"),
    pytest.param((5, 1, 1, 2), (1, 3, 1, 1), (4, 1), id="rank4"),
]


@pytest.mark.parametrize(("sc", "sa", "sb"), WHERE_SHAPES)
def test_where(
    lib: ctypes.CDLL, sc: tuple[int, ...], sa: tuple[int, ...], sb: tuple[int, ...]
) -> None:
    rng = _rng("where", sc, sa, sb)
    cond = rng.integers(0, 2, sc).astype(np.uint8)
    a, b = normal(rng, sa), normal(rng, sb)
    shape = np.broadcast_shapes(sc, sa, sb)
    out = np.empty(shape, dtype=F32)
    dims = i32(shape)
    strides = [i32(broadcast_strides(s, shape)) for s in (sc, sa, sb)]
    lib.xd_where_f32(ptr(cond), ptr(a), ptr(b), ptr(out), len(shape), ptr(dims), *map(ptr, strides))
    assert_exact(out, ref.where(cond.view(np.bool_), a, b))


# ---------------------------------------------------------------------------
# Unary


def _unary_inputs(rng: np.random.Generator, domain: str) -> Array:
    specials = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.0, -3.0, 1e-30, -1e-30]
    specials += [8388609.0, -8388609.5, 1e20, -1e20, np.inf, -np.inf, np.nan]
    x = np.concatenate([rng.standard_normal(200) * 4, rng.uniform(-10, 10, 56), specials])
    x = x.astype(F32)
    if domain == "pos":
        x = np.abs(x)
    return x


# name -> (reference, alpha, beta, domain)
UNARY: dict[str, tuple[Callable[[Array], Array], float, float, str]] = {
    "XD_SQRT": (ref.sqrt, 0.0, 0.0, "pos"),
    "XD_NEG": (ref.neg, 0.0, 0.0, "any"),
    "XD_ABS": (ref.abs, 0.0, 0.0, "any"),
    "XD_EXP": (ref.exp, 0.0, 0.0, "any"),
    "XD_LOG": (ref.log, 0.0, 0.0, "pos"),
    "XD_ERF": (ref.erf, 0.0, 0.0, "any"),  # and test_erf_accuracy
    "XD_TANH": (ref.tanh, 0.0, 0.0, "any"),
    "XD_RELU": (ref.relu, 0.0, 0.0, "any"),
    "XD_SIGMOID": (ref.sigmoid, 0.0, 0.0, "any"),
    "XD_SILU": (ref.silu, 0.0, 0.0, "any"),
    "XD_RECIPROCAL": (ref.reciprocal, 0.0, 0.0, "any"),
    "XD_COS": (ref.cos, 0.0, 0.0, "any"),
    "XD_SIN": (ref.sin, 0.0, 0.0, "any"),
    "XD_FLOOR": (ref.floor, 0.0, 0.0, "any"),
    "XD_CEIL": (ref.ceil, 0.0, 0.0, "any"),
    "XD_ROUND": (ref.round, 0.0, 0.0, "any"),
    "XD_HARDSWISH": (ref.hardswish, 0.0, 0.0, "any"),
    "XD_GELU": (ref.gelu, 0.0, 0.0, "any"),
    "XD_GELU_TANH": (lambda x: ref.gelu(x, "tanh"), 0.0, 0.0, "any"),
    "XD_HARDSIGMOID": (lambda x: ref.hardsigmoid(x, 0.3, 0.4), 0.3, 0.4, "any"),
    "XD_LEAKY_RELU": (lambda x: ref.leaky_relu(x, 0.01), 0.01, 0.0, "any"),
    "XD_CLIP": (lambda x: ref.clip(x, -0.75, 2.25), -0.75, 2.25, "any"),
}


def test_every_op_is_covered() -> None:
    assert set(UNARY) == set(ENUM_TYPES["xd_unary_op"])
    assert set(BINARY) == set(ENUM_TYPES["xd_binary_op"])
    assert set(COMPARE) == set(ENUM_TYPES["xd_compare_op"])
    assert set(REDUCE) == set(ENUM_TYPES["xd_reduce_op"])
    assert set(CAST_TYPES) == set(ENUM_TYPES["xd_type"])


@pytest.mark.parametrize("op", list(UNARY))
def test_unary(lib: ctypes.CDLL, op: str) -> None:
    fn, alpha, beta, domain = UNARY[op]
    x = _unary_inputs(_rng("unary", op), domain)
    y = np.empty_like(x)
    lib.xd_unary_f32(ENUM[op], ptr(x), ptr(y), x.size, alpha, beta)
    with np.errstate(all="ignore"):
        want = fn(x)
    assert_exact(y, want)


def test_unary_in_place(lib: ctypes.CDLL) -> None:
    x = _unary_inputs(_rng("in place"), "any")
    want = ref.sigmoid(x)
    lib.xd_unary_f32(ENUM["XD_SIGMOID"], ptr(x), ptr(x), x.size, 0.0, 0.0)
    assert_exact(x, want)


def test_round_half_to_even(lib: ctypes.CDLL) -> None:
    x = np.concatenate([np.arange(-6, 6, 0.25), [0.49999997, -0.49999997, 4194304.5]])
    x = x.astype(F32)
    y = np.empty_like(x)
    lib.xd_unary_f32(ENUM["XD_ROUND"], ptr(x), ptr(y), x.size, 0.0, 0.0)
    assert_exact(y, ref.round(x))
    assert np.array_equal(np.signbit(y), np.signbit(ref.round(x))), "sign of zero"


def test_erf_accuracy(lib: ctypes.CDLL) -> None:
    """erf within a few float ulps of the float64 reference (relative, not absolute)."""
    rng = _rng("erf")
    x = np.concatenate([rng.standard_normal(2000) * 2, 10.0 ** rng.uniform(-20, 0.6, 500)])
    x = np.concatenate([x, -x]).astype(F32)
    y = np.empty_like(x)
    lib.xd_unary_f32(ENUM["XD_ERF"], ptr(x), ptr(y), x.size, 0.0, 0.0)
    want = ref.erf(x.astype(np.float64))  # the reference's float64 erf, not rounded
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=2.5e-7, atol=0)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(-np.inf, 1.5), (-0.5, np.inf), (-np.inf, np.inf), (0.0, 6.0), (2.0, 1.0)],
    ids=["no-lo", "no-hi", "none", "relu6", "crossed"],
)
def test_clip_bounds(lib: ctypes.CDLL, lo: float, hi: float) -> None:
    x = _unary_inputs(_rng("clip", lo, hi), "any")
    y = np.empty_like(x)
    lib.xd_unary_f32(ENUM["XD_CLIP"], ptr(x), ptr(y), x.size, lo, hi)
    want = ref.clip(x, None if lo == -np.inf else lo, None if hi == np.inf else hi)
    assert_exact(y, want)


# ---------------------------------------------------------------------------
# Cast

CAST_TYPES: dict[str, np.dtype[Any]] = {
    "XD_T_F32": np.dtype(np.float32),
    "XD_T_I8": np.dtype(np.int8),
    "XD_T_U8": np.dtype(np.uint8),
    "XD_T_I16": np.dtype(np.int16),
    "XD_T_U16": np.dtype(np.uint16),
    "XD_T_I32": np.dtype(np.int32),
    "XD_T_U32": np.dtype(np.uint32),
    "XD_T_I64": np.dtype(np.int64),
    "XD_T_U64": np.dtype(np.uint64),
    "XD_T_BOOL": np.dtype(np.bool_),
    "XD_T_F64": np.dtype(np.float64),
}


def _cast_source(rng: np.random.Generator, src: np.dtype[Any], dst: np.dtype[Any]) -> Array:
    if src == np.bool_:
        return rng.integers(0, 2, 64).astype(np.bool_)
    if np.issubdtype(src, np.integer):
        info = np.iinfo(src)
        edges = [info.min, info.max, 0, 1, -1 if info.min < 0 else 2]
        vals = rng.integers(info.min, info.max, 64, dtype=src, endpoint=True)
        return np.concatenate([vals, np.array(edges, dtype=src)])
    # Float sources: only what ONNX defines for the destination (out-of-range float ->
    # int is undefined), with fractions of both signs to check truncation toward zero.
    fractions = [0.0, -0.0, 0.5, -0.5, 0.99, -0.99, 1.5, -1.7, 126.9, -127.9]
    if dst.kind in "fb":
        vals = np.concatenate([rng.standard_normal(64) * 1e3, [np.inf, -np.inf, np.nan, 1e30]])
    else:
        info = np.iinfo(dst)
        lo, hi = float(info.min) * 0.9, float(info.max) * 0.9
        vals = np.concatenate([rng.uniform(lo, hi, 48), rng.uniform(-100, 100, 16)])
        if src == np.float32:  # keep the float32-rounded values inside the range
            vals = vals * 0.99
    vals = np.concatenate([vals, fractions])
    if dst.kind == "u":
        vals = np.abs(vals)
    return vals.astype(src)


@pytest.mark.parametrize("src", list(CAST_TYPES))
def test_cast(lib: ctypes.CDLL, src: str) -> None:
    for dst in CAST_TYPES:
        x = _cast_source(_rng("cast", src, dst), CAST_TYPES[src], CAST_TYPES[dst])
        dt = CAST_TYPES[dst]
        y = np.empty(x.shape, dtype=np.uint8 if dt == np.bool_ else dt)
        lib.xd_cast(ptr(x), ENUM[src], ptr(y), ENUM[dst], x.size)
        got = y.view(np.bool_) if dt == np.bool_ else y
        want = ref.cast(x, dt)
        assert got.dtype == want.dtype, f"{src} -> {dst}"
        # Bit patterns for floats (NaN == NaN, and the sign of zero).
        if dt.kind == "f":
            assert np.array_equal(got.view(f"u{dt.itemsize}"), want.view(f"u{dt.itemsize}")), (
                f"{src} -> {dst}"
            )
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{src} -> {dst}")


# ---------------------------------------------------------------------------
# Matmul and Gemm


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        pytest.param((4, 5), (5, 6), id="2d"),
        pytest.param((1, 7), (7, 3), id="row-vector"),
        pytest.param((6, 1), (1, 4), id="k1"),
        pytest.param((3, 300), (300, 5), id="long-k"),
        pytest.param((2, 3, 4, 5), (5, 6), id="batched-b-shared"),
        pytest.param((4, 5), (3, 5, 2), id="batched-a-shared"),
        pytest.param((3, 1, 4, 5), (1, 2, 5, 6), id="batch-broadcast"),
        pytest.param((2, 2, 1, 3, 4), (2, 1, 3, 4, 2), id="rank5"),
        pytest.param((0, 3, 4), (4, 2), id="empty-batch"),
        pytest.param((3, 0), (0, 4), id="k0"),
    ],
)
def test_matmul(lib: ctypes.CDLL, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = _rng("matmul", sa, sb)
    a, b = normal(rng, sa), normal(rng, sb)
    m, k = sa[-2:]
    n = sb[-1]
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    out = np.empty((*batch, m, n), dtype=F32)
    dims = i32(batch)
    # Batch strides as for any broadcast operand, counted in whole matrices.
    a_str = i32(s * m * k for s in broadcast_strides(sa[:-2], batch))
    b_str = i32(s * k * n for s in broadcast_strides(sb[:-2], batch))
    lib.xd_matmul_f32(
        ptr(a), ptr(b), ptr(out), m, k, n, len(batch), *map(ptr, (dims, a_str, b_str))
    )
    assert_exact(out, ref.matmul(a, b))


GEMM_C = {  # C's shape -> (row stride, col stride) for an (m, n) = (5, 3) result
    "none": None,
    "full": ((5, 3), (3, 1)),
    "row": ((3,), (0, 1)),
    "row2d": ((1, 3), (0, 1)),
    "column": ((5, 1), (1, 0)),
    "scalar": ((), (0, 0)),
    "one": ((1, 1), (0, 0)),
}


@pytest.mark.parametrize("c_kind", list(GEMM_C))
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("trans_a", [0, 1])
def test_gemm(lib: ctypes.CDLL, trans_a: int, trans_b: int, c_kind: str) -> None:
    m, k, n = 5, 7, 3
    rng = _rng("gemm", trans_a, trans_b, c_kind)
    a = normal(rng, (k, m) if trans_a else (m, k))
    b = normal(rng, (n, k) if trans_b else (k, n))
    spec = GEMM_C[c_kind]
    c = None if spec is None else normal(rng, spec[0])
    rs, cs = (0, 0) if spec is None else spec[1]
    for alpha, beta in ((1.0, 1.0), (0.5, -2.0), (-1.25, 0.0)):
        out = np.full((m, n), np.nan, dtype=F32)
        lib.xd_gemm_f32(
            ptr(a), ptr(b), ptr(c), ptr(out), m, k, n, trans_a, trans_b, alpha, beta, rs, cs
        )
        want = ref.gemm(
            a, b, c, alpha=alpha, beta=beta, trans_a=bool(trans_a), trans_b=bool(trans_b)
        )
        assert_exact(out, want)


# ---------------------------------------------------------------------------
# Convolution and pooling

CONV_CASES = [
    # x shape, w shape, strides, pads (begins + ends), dilations, group, bias
    pytest.param((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1, True, id="basic"),
    pytest.param((2, 3, 9, 7), (4, 3, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, True, id="s2p1"),
    pytest.param((1, 2, 7, 9), (3, 2, 3, 2), (2, 1), (1, 0, 2, 1), (1, 1), 1, False, id="asym"),
    pytest.param((1, 2, 10, 10), (2, 2, 3, 3), (1, 2), (2, 2, 2, 2), (2, 3), 1, True, id="dil"),
    pytest.param((2, 4, 6, 6), (6, 2, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, True, id="group2"),
    pytest.param((1, 5, 7, 7), (5, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 5, True, id="dw"),
    pytest.param((1, 6, 5, 5), (12, 2, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 3, False, id="1x1"),
    pytest.param((1, 2, 3, 3), (2, 2, 5, 5), (1, 1), (3, 3, 3, 3), (1, 1), 1, True, id="bigpad"),
    pytest.param((2, 3, 16), (4, 3, 5), (2,), (2, 3), (2,), 1, True, id="1d"),
    pytest.param((1, 4, 20), (4, 1, 3), (1,), (1, 1), (1,), 4, False, id="1d-dw"),
]


def _as_2d(values: Sequence[int], fill: int) -> tuple[int, int]:
    """A 1-D window parameter as the 2-D kernels take it (h dimension = 1)."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


@pytest.mark.parametrize(("xs", "ws", "strides", "pads", "dil", "group", "has_bias"), CONV_CASES)
def test_conv2d(
    lib: ctypes.CDLL,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dil: tuple[int, ...],
    group: int,
    has_bias: bool,
) -> None:
    rng = _rng("conv", xs, ws, strides, pads, dil, group)
    x, w = normal(rng, xs), normal(rng, ws)
    bias = normal(rng, (ws[0],)) if has_bias else None
    want = ref.conv(x, w, bias, strides=strides, pads=pads, dilations=dil, group=group)
    nsp = len(xs) - 2
    h, wd = _as_2d(xs[2:], 1)
    kh, kw = _as_2d(ws[2:], 1)
    oh, ow = _as_2d(want.shape[2:], 1)
    sh, sw = _as_2d(strides, 1)
    ph, pw = _as_2d(pads[:nsp], 0)
    dh, dw = _as_2d(dil, 1)
    y = np.full(want.shape, np.nan, dtype=F32)
    lib.xd_conv2d_f32(
        *(ptr(x), ptr(w), ptr(bias), ptr(y)),
        *(xs[0], xs[1], h, wd, ws[0], kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, group),
    )
    assert_exact(y, want)


POOL_CASES = [
    # x shape, kernel, strides, pads, dilations (max pool only), ceil_mode
    pytest.param((1, 2, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False, id="2x2"),
    pytest.param((2, 3, 7, 9), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False, id="3x3p1"),
    pytest.param((1, 2, 7, 7), (3, 2), (2, 2), (1, 0, 0, 1), (1, 1), True, id="ceil"),
    pytest.param((1, 1, 9, 8), (3, 3), (3, 2), (2, 1, 2, 1), (1, 1), True, id="ceil-pads"),
    pytest.param((1, 2, 6, 6), (3, 3), (1, 1), (2, 2, 2, 2), (1, 1), False, id="wide-pads"),
    pytest.param((1, 1, 10, 10), (3, 2), (2, 3), (1, 1, 1, 1), (2, 3), True, id="dilated"),
    pytest.param((2, 3, 11), (4,), (3,), (1, 2), (1,), True, id="1d"),
]


def _pool_args(xs: tuple[int, ...], out_shape: tuple[int, ...], kernel, strides, pads) -> list:
    nsp = len(xs) - 2
    h, wd = _as_2d(xs[2:], 1)
    oh, ow = _as_2d(out_shape[2:], 1)
    kh, kw = _as_2d(kernel, 1)
    sh, sw = _as_2d(strides, 1)
    ph, pw = _as_2d(pads[:nsp], 0)
    return [xs[0] * xs[1], h, wd, oh, ow, kh, kw, sh, sw, ph, pw]


@pytest.mark.parametrize(("xs", "kernel", "strides", "pads", "dil", "ceil"), POOL_CASES)
def test_maxpool2d(lib: ctypes.CDLL, xs, kernel, strides, pads, dil, ceil: bool) -> None:
    x = normal(_rng("maxpool", xs, kernel, pads), xs)
    want = ref.max_pool(
        x, kernel_shape=kernel, strides=strides, pads=pads, dilations=dil, ceil_mode=ceil
    )
    y = np.full(want.shape, np.nan, dtype=F32)
    dh, dw = _as_2d(dil, 1)
    lib.xd_maxpool2d_f32(ptr(x), ptr(y), *_pool_args(xs, want.shape, kernel, strides, pads), dh, dw)
    assert_exact(y, want)


def test_maxpool2d_nan_propagates(lib: ctypes.CDLL) -> None:
    x = normal(_rng("maxpool nan"), (1, 1, 4, 4))
    x[0, 0, 1, 2] = np.nan
    want = ref.max_pool(x, kernel_shape=(2, 2), strides=(2, 2), pads=(0,) * 4, dilations=(1, 1))
    y = np.empty_like(want)
    lib.xd_maxpool2d_f32(ptr(x), ptr(y), 1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1)
    assert_exact(y, want)


AVG_POOL_CASES = [case for case in POOL_CASES if all(d == 1 for d in case.values[4])]


@pytest.mark.parametrize("include_pad", [False, True])
@pytest.mark.parametrize(("xs", "kernel", "strides", "pads", "dil", "ceil"), AVG_POOL_CASES)
def test_avgpool2d(lib: ctypes.CDLL, xs, kernel, strides, pads, dil, ceil, include_pad) -> None:
    x = normal(_rng("avgpool", xs, kernel, pads), xs)
    want = ref.average_pool(
        x,
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        count_include_pad=include_pad,
        ceil_mode=ceil,
    )
    nsp = len(xs) - 2
    ph_end, pw_end = _as_2d(pads[nsp:], 0)
    y = np.full(want.shape, np.nan, dtype=F32)
    lib.xd_avgpool2d_f32(
        ptr(x),
        ptr(y),
        *_pool_args(xs, want.shape, kernel, strides, pads),
        ph_end,
        pw_end,
        int(include_pad),
    )
    assert_exact(y, want)


# ---------------------------------------------------------------------------
# Normalisation and reductions


def _outer_len_inner(shape: Sequence[int], first: int, last: int) -> tuple[int, int, int]:
    """shape viewed as outer x len x inner, len covering dims first..last."""
    return (
        int(np.prod(shape[:first])),
        int(np.prod(shape[first : last + 1])),
        int(np.prod(shape[last + 1 :])),
    )


@pytest.mark.parametrize("log", [0, 1])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((2, 5, 3), 1), ((4, 10), 1), ((6, 2, 4), 0), ((3, 1, 2), 1), ((2, 3, 7, 2), 2)],
)
def test_softmax(lib: ctypes.CDLL, shape: tuple[int, ...], axis: int, log: int) -> None:
    x = normal(_rng("softmax", shape, axis), shape, 8.0)
    x.flat[0] = 80.0  # would overflow expf without the max subtraction
    y = np.full_like(x, np.nan)
    lib.xd_softmax_f32(ptr(x), ptr(y), *_outer_len_inner(shape, axis, axis), log)
    want = (ref.log_softmax if log else ref.softmax)(x, axis=axis)
    assert_exact(y, want)


@pytest.mark.parametrize("has_bias", [True, False])
@pytest.mark.parametrize(("shape", "axis"), [((4, 16), 1), ((2, 3, 8), 1), ((5, 1), 1)])
def test_layernorm(lib: ctypes.CDLL, shape: tuple[int, ...], axis: int, has_bias: bool) -> None:
    rng = _rng("layernorm", shape, axis, has_bias)
    x = normal(rng, shape, 3.0) + 2.0
    scale = normal(rng, shape[axis:])
    bias = normal(rng, shape[axis:]) if has_bias else None
    outer, inner, _ = _outer_len_inner(shape, axis, len(shape) - 1)
    y = np.full_like(x, np.nan)
    lib.xd_layernorm_f32(ptr(x), ptr(scale), ptr(bias), ptr(y), outer, inner, 1e-5)
    assert_exact(y, ref.layer_norm(x, scale, bias, axis=axis, epsilon=1e-5))


@pytest.mark.parametrize("has_scale", [True, False])
@pytest.mark.parametrize(("shape", "axis"), [((4, 16), 1), ((2, 3, 8), 1), ((3, 1), 1)])
def test_rmsnorm(lib: ctypes.CDLL, shape: tuple[int, ...], axis: int, has_scale: bool) -> None:
    rng = _rng("rmsnorm", shape, axis, has_scale)
    x = normal(rng, shape, 3.0)
    scale = normal(rng, shape[axis:]) if has_scale else None
    outer, inner, _ = _outer_len_inner(shape, axis, len(shape) - 1)
    y = np.full_like(x, np.nan)
    lib.xd_rmsnorm_f32(ptr(x), ptr(scale), ptr(y), outer, inner, 1e-6)
    assert_exact(y, ref.rms_norm(x, scale, axis=axis, epsilon=1e-6))


REDUCE = {
    "XD_RSUM": ref.reduce_sum,
    "XD_RMEAN": ref.reduce_mean,
    "XD_RMAX": ref.reduce_max,
    "XD_RMIN": ref.reduce_min,
}


@pytest.mark.parametrize(
    ("shape", "axes"),
    [((3, 4, 5), (1,)), ((3, 4, 5), (0,)), ((3, 4, 5), (2,)), ((3, 4, 5), (1, 2)), ((6, 1), (1,))],
)
@pytest.mark.parametrize("op", list(REDUCE))
def test_reduce(lib: ctypes.CDLL, op: str, shape: tuple[int, ...], axes: tuple[int, ...]) -> None:
    x = normal(_rng("reduce", op, shape, axes), shape)
    want = REDUCE[op](x, axes=axes, keepdims=False)
    y = np.full(want.shape, np.nan, dtype=F32)
    lib.xd_reduce_f32(ENUM[op], ptr(x), ptr(y), *_outer_len_inner(shape, axes[0], axes[-1]))
    assert_exact(y, want)


def test_reduce_nan_propagates(lib: ctypes.CDLL) -> None:
    x = normal(_rng("reduce nan"), (2, 3, 2))
    x[1, 2, 0] = np.nan
    for op in ("XD_RMAX", "XD_RMIN"):
        want = REDUCE[op](x, axes=(1,), keepdims=False)
        y = np.empty_like(want)
        lib.xd_reduce_f32(ENUM[op], ptr(x), ptr(y), 2, 3, 2)
        assert_exact(y, want)


# ---------------------------------------------------------------------------
# Data movement

MOVE_DTYPES = [np.dtype(np.int8), np.dtype(np.float16), np.dtype(F32), np.dtype(np.int64)]
MOVE_DTYPES.append(np.dtype("S3"))  # an odd element size
MOVE_IDS = ["i8", "f16", "f32", "i64", "s3"]


def _data(rng: np.random.Generator, shape: Sequence[int], dtype: np.dtype[Any]) -> Array:
    """Random contents: any bit pattern, except NaNs for floats (NaN != NaN)."""
    if dtype.kind == "f":
        return rng.standard_normal(tuple(shape)).astype(dtype)
    raw = rng.integers(0, 256, (*shape, dtype.itemsize), dtype=np.uint8)
    return raw.view(dtype).reshape(tuple(shape))


@pytest.mark.parametrize("dtype", MOVE_DTYPES, ids=MOVE_IDS)
def test_copy(lib: ctypes.CDLL, dtype: np.dtype[Any]) -> None:
    x = _data(_rng("copy", dtype.str), (3, 5), dtype)
    y = np.zeros_like(x)
    lib.xd_copy(ptr(x), ptr(y), dtype.itemsize, x.size)
    assert_exact(y, x)


def _strided_copy(lib: ctypes.CDLL, x: Array, shape, strides, start: int) -> Array:
    y = np.zeros(tuple(shape), dtype=x.dtype)
    dims, st = i32(shape), i32(strides)
    lib.xd_strided_copy(ptr(x, start), ptr(y), x.itemsize, len(shape), ptr(dims), ptr(st))
    return y


@pytest.mark.parametrize("dtype", MOVE_DTYPES, ids=MOVE_IDS)
@pytest.mark.parametrize(
    ("shape", "perm"),
    [((2, 3, 4), (2, 0, 1)), ((5, 7), (1, 0)), ((2, 1, 3, 4), (0, 3, 1, 2)), ((6,), (0,))],
)
def test_strided_copy_transpose(lib: ctypes.CDLL, dtype, shape, perm) -> None:
    x = _data(_rng("transpose", shape, dtype.str), shape, dtype)
    dense = dense_strides(shape)
    out_shape = [shape[p] for p in perm]
    y = _strided_copy(lib, x, out_shape, [dense[p] for p in perm], 0)
    assert_exact(y, ref.transpose(x, perm=perm))


SLICES = [
    # shape, starts, ends, steps (Python slice semantics, already normalised)
    ((5, 6, 7), (1, 0, 2), (4, 6, 7), (1, 1, 1)),
    ((5, 6, 7), (4, 5, 6), (-6, -7, -8), (-1, -2, -3)),
    ((8, 9), (7, 1), (0, 9), (-2, 3)),
    ((10,), (9,), (-11,), (-1,)),
    ((4, 3, 2), (0, 0, 0), (4, 3, 2), (1, 1, 1)),
    ((4, 5), (1, 2), (1, 5), (1, 1)),  # empty
]


@pytest.mark.parametrize("dtype", MOVE_DTYPES, ids=MOVE_IDS)
@pytest.mark.parametrize(("shape", "starts", "ends", "steps"), SLICES)
def test_strided_copy_slice(lib: ctypes.CDLL, dtype, shape, starts, ends, steps) -> None:
    x = _data(_rng("slice", shape, starts, dtype.str), shape, dtype)
    dense = dense_strides(shape)
    out_shape, strides, start = [], [], 0
    for dim, st, b, e, s in zip(shape, dense, starts, ends, steps, strict=True):
        first, _, _ = slice(b, e, s).indices(dim)
        out_shape.append(len(range(*slice(b, e, s).indices(dim))))
        strides.append(s * st)
        start += first * st
    y = _strided_copy(lib, x, out_shape, strides, start)
    assert_exact(y, np.ascontiguousarray(ref.slice(x, starts=starts, ends=ends, steps=steps)))


@pytest.mark.parametrize("dtype", MOVE_DTYPES, ids=MOVE_IDS)
@pytest.mark.parametrize(
    ("shape", "target"),
    [((3, 1, 4), (2, 3, 5, 4)), ((1,), (7,)), ((), (2, 3)), ((4, 1), (4, 6)), ((2, 3), (2, 3))],
)
def test_strided_copy_expand(lib: ctypes.CDLL, dtype, shape, target) -> None:
    x = _data(_rng("expand", shape, dtype.str), shape, dtype)
    want = ref.expand(x, shape=target)
    y = _strided_copy(lib, x, want.shape, broadcast_strides(shape, want.shape), 0)
    assert_exact(y, want)


def test_strided_copy_rank0(lib: ctypes.CDLL) -> None:
    x = np.array(3.5, dtype=F32)
    assert_exact(_strided_copy(lib, x, (), (), 0), x)


@pytest.mark.parametrize("dtype", MOVE_DTYPES, ids=MOVE_IDS)
@pytest.mark.parametrize(
    ("shapes", "axis"),
    [([(2, 3, 4), (2, 5, 4), (2, 1, 4)], 1), ([(3, 2), (3, 4)], 1), ([(1, 3), (4, 3)], 0)],
)
def test_copy_rows_concat_split(lib: ctypes.CDLL, dtype, shapes, axis: int) -> None:
    rng = _rng("concat", shapes, axis, dtype.str)
    xs = [_data(rng, s, dtype) for s in shapes]
    want = ref.concat(xs, axis=axis)
    outer = int(np.prod(want.shape[:axis]))
    inner = int(np.prod(want.shape[axis + 1 :]))
    y_row = want.shape[axis] * inner
    # Concat: each input is `outer` rows of its own width, placed at its column offset.
    y = np.zeros_like(want)
    col = 0
    for x in xs:
        row = x.shape[axis] * inner
        lib.xd_copy_rows(ptr(x), ptr(y, col), dtype.itemsize, outer, row, row, y_row)
        col += row
    assert_exact(y, want)
    # Split: the inverse.
    parts = ref.split(want, axis=axis, sizes=[s[axis] for s in shapes])
    col = 0
    for part in parts:
        got = np.zeros(part.shape, dtype=dtype)
        row = part.shape[axis] * inner
        lib.xd_copy_rows(ptr(want, col), ptr(got), dtype.itemsize, outer, row, y_row, row)
        col += row
        assert_exact(got, np.ascontiguousarray(part))


@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64], ids=["i32", "i64"])
@pytest.mark.parametrize(
    ("shape", "axis", "idx_shape"),
    [((3, 5, 4), 1, (2, 3)), ((6, 4), 0, (5,)), ((2, 3, 7), 2, (4, 1)), ((5,), 0, ())],
)
@pytest.mark.parametrize("dtype", MOVE_DTYPES[:4], ids=MOVE_IDS[:4])
def test_gather(lib: ctypes.CDLL, dtype, shape, axis: int, idx_shape, idx_dtype) -> None:
    rng = _rng("gather", shape, axis, idx_shape, dtype.str, idx_dtype)
    data = _data(rng, shape, dtype)
    n = shape[axis]
    idx = rng.integers(-n, n, idx_shape).astype(idx_dtype)  # negative ones count from the end
    want = ref.gather(data, idx, axis=axis)
    out = np.zeros(want.shape, dtype=dtype)
    outer, _, inner = _outer_len_inner(shape, axis, axis)
    lib.xd_gather(
        ptr(data), ptr(idx), ptr(out), dtype.itemsize, idx.itemsize, outer, n, inner, idx.size
    )
    assert_exact(out, want)


@pytest.mark.parametrize("dtype", MOVE_DTYPES[:4], ids=MOVE_IDS[:4])
@pytest.mark.parametrize(
    ("shape", "pads"),
    [
        ((3, 4), (1, 2, 0, 3)),
        ((2, 3, 4), (0, 1, 1, 2, 0, 1)),
        ((5,), (0, 0)),
        ((2, 1, 3, 2), (1, 0, 2, 1, 0, 3, 0, 2)),
        ((4, 6), (-1, 2, 1, -3)),  # negative pads crop
        ((3, 3), (-3, 0, 0, 0)),  # cropped away entirely
    ],
)
def test_pad(lib: ctypes.CDLL, dtype, shape, pads) -> None:
    x = _data(_rng("pad", shape, pads, dtype.str), shape, dtype)
    value = np.array(7, dtype=dtype)
    want = ref.pad(x, pads=pads, value=7)
    y = np.zeros(want.shape, dtype=dtype)
    r = len(shape)
    ins, begins, outs = i32(shape), i32(pads[:r]), i32(want.shape)
    lib.xd_pad(ptr(x), ptr(y), dtype.itemsize, r, ptr(ins), ptr(begins), ptr(outs), ptr(value))
    assert_exact(y, want)


def scatter_nd_reference(data: Array, indices: Array, updates: Array) -> Array:
    """ONNX ScatterND (reduction none), in index order."""
    out = data.copy()
    q = indices.shape[-1]
    upd = updates.reshape(-1, *data.shape[q:])
    for tup, u in zip(indices.reshape(-1, q), upd, strict=True):
        out[tuple(int(i) for i in tup)] = u
    return out


def _scatter_nd(lib: ctypes.CDLL, data: Array, indices: Array, updates: Array) -> Array:
    out = data.copy()
    q = indices.shape[-1]
    n = int(np.prod(indices.shape[:-1]))
    dims = i32(data.shape[:q])
    slice_elems = int(np.prod(data.shape[q:]))
    lib.xd_scatter_nd(
        ptr(out), ptr(indices), ptr(updates), data.itemsize, n, q, ptr(dims), slice_elems
    )
    return out


@pytest.mark.parametrize("pos", [0, 5, 7, -1, -8])
def test_scatter_nd_kv_cache(lib: ctypes.CDLL, pos: int) -> None:
    """A decode step writes one position of the [ctx, heads, head_dim] cache."""
    rng = _rng("kv", pos)
    data = normal(rng, (8, 2, 4))
    indices = np.array([[pos]], dtype=np.int64)
    updates = normal(rng, (1, 2, 4))
    got = _scatter_nd(lib, data, indices, updates)
    assert_exact(got, scatter_nd_reference(data, indices, updates))
    assert_exact(got[pos], updates[0])


@pytest.mark.parametrize("dtype", MOVE_DTYPES[:4], ids=MOVE_IDS[:4])
def test_scatter_nd_general(lib: ctypes.CDLL, dtype) -> None:
    rng = _rng("scatter", dtype.str)
    data = _data(rng, (4, 5, 3), dtype)
    flat = rng.choice(20, 6, replace=False)
    indices = np.stack([flat // 5, flat % 5], axis=-1).reshape(2, 3, 2).astype(np.int64)
    indices[0, 1] -= (4, 5)  # the same positions, spelled negatively
    updates = _data(rng, (2, 3, 3), dtype)
    assert_exact(
        _scatter_nd(lib, data, indices, updates), scatter_nd_reference(data, indices, updates)
    )
    # q equal to the data rank: single elements.
    idx3 = np.array([[0, 0, 0], [3, 4, 2], [-1, 0, -2]], dtype=np.int64)
    upd3 = _data(rng, (3,), dtype)
    assert_exact(_scatter_nd(lib, data, idx3, upd3), scatter_nd_reference(data, idx3, upd3))


# ---------------------------------------------------------------------------
# Build hygiene


# -O3 and -Os as well: their inlining changes what -Wmaybe-uninitialized can see.
@pytest.mark.parametrize("opt", ["-O2", "-O3", "-Os"])
@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_compiles_strict(source: Path, opt: str, tmp_path: Path) -> None:
    cmd = ["gcc", *STRICT, opt, f"-I{INCLUDE}", "-c", str(source), "-o", str(tmp_path / "k.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# A freestanding ILP32 check standing in for RV32 + picolibc, where int32_t is `long`,
# so that int32_t/int/ptrdiff_t/size_t mix-ups surface as -Wconversion errors here.
# Only the exact libm functions (and powf): exp, log, tanh, erf, sin and cos are xd_math's.
_ILP32_MATH_H = """
#define INFINITY (__builtin_inff())
float sqrtf(float); float fabsf(float); float floorf(float); float ceilf(float);
float fmodf(float, float); float copysignf(float, float); float powf(float, float);
"""
_ILP32_STRING_H = (
    "#include <stddef.h>\nvoid *memcpy(void *, const void *, size_t);\n"
    "void *memset(void *, int, size_t);\n"
)


def test_compiles_ilp32_long_int32(tmp_path: Path) -> None:
    (tmp_path / "math.h").write_text(_ILP32_MATH_H)
    (tmp_path / "string.h").write_text(_ILP32_STRING_H)
    gcc_include = subprocess.run(
        ["gcc", "-print-file-name=include"], capture_output=True, text=True, check=True
    ).stdout.strip()
    flags = ["-m32", "-ffreestanding", "-nostdinc", "-Wpedantic", "-fsyntax-only"]
    flags += ["-isystem", str(tmp_path), "-isystem", gcc_include]
    flags += ["-U__INT32_TYPE__", "-D__INT32_TYPE__=long int"]
    flags += ["-U__UINT32_TYPE__", "-D__UINT32_TYPE__=long unsigned int"]
    for source in SOURCES:
        cmd = ["gcc", *STRICT, *flags, f"-I{INCLUDE}", str(source)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode and "-m32" in proc.stderr:
            pytest.skip(f"gcc cannot target ILP32: {proc.stderr.strip()}")
        assert proc.returncode == 0, f"{source.name}:\n{proc.stderr}"


@pytest.mark.skipif(os.environ.get(SANITIZE_ENV) == "1", reason="already the sanitized run")
def test_sanitized_run(tmp_path: Path) -> None:
    """The kernel tests above, again, against an ASan + UBSan build of the kernels."""
    rerun_under_sanitizers(__file__, tmp_path, deselect="compiles")
