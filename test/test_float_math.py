"""xd_math.c (the C runtime's exp, log, tanh, erf, sin and cos) and its numpy twin
`xdeeploy.interp.float_math`: the same bits on the same inputs, within 2 ulp of the
exact (float64) function, and the special values.

The inputs are a million floats per function: random bit patterns (every magnitude,
denormals, infinities and NaNs), uniform samples over the function's interesting range
and a list of special values.
"""

from __future__ import annotations

import ctypes
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from c_kernels import load_kernels

from xdeeploy.interp import float_math as fm

Array = npt.NDArray[Any]
F32 = np.float32

RUNTIME = Path(__file__).resolve().parents[1] / "xdeeploy" / "runtime_c"
XD_MATH = RUNTIME / "src" / "xd_math.c"
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
NAMES = ["exp", "log", "tanh", "erf", "sin", "cos"]
MAX_ULP = 2.0

# One array loop per function, so that ctypes is called once per array.
SHIM = "\n".join(
    ["#include <stdint.h>", '#include "xd_math.h"']
    + [
        f"void map_{n}(const float *x, float *y, int64_t k)"
        f" {{ for (int64_t i = 0; i < k; ++i) y[i] = xd_{n}f(x[i]); }}"
        for n in NAMES
    ]
)

NUMPY: dict[str, Callable[[npt.ArrayLike], Array]] = {
    "exp": fm.exp_f32, "log": fm.log_f32, "tanh": fm.tanh_f32,
    "erf": fm.erf_f32, "sin": fm.sin_f32, "cos": fm.cos_f32,
}  # fmt: skip

_erf64 = np.frompyfunc(math.erf, 1, 1)
EXACT: dict[str, Callable[[Array], Array]] = {
    "exp": np.exp, "log": np.log, "tanh": np.tanh,
    "erf": lambda x: np.asarray(_erf64(x), np.float64), "sin": np.sin, "cos": np.cos,
}  # fmt: skip

RANGES = {  # where each function is neither constant nor trivially x
    "exp": (-105.0, 90.0), "log": (0.0, 10.0), "tanh": (-10.0, 10.0),
    "erf": (-5.0, 5.0), "sin": (-100.0, 100.0), "cos": (-100.0, 100.0),
}  # fmt: skip

SPECIALS = [
    0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754944e-38,
    3.4028235e38, -3.4028235e38, 1.0, -1.0, 0.5, 2.0, 88.72283, 88.72284, 89.0, -87.33655,
    -103.97208, -103.9721, -104.0, 0.99999994, 1.0000001, 0.70710677, 1.4142135, 3.9, 4.0,
    9.01, 0.7853982, 1.5707964, 3.1415927, 6.2831855, 1e5, 1e10, 1e20, 1e30, 16367173.0,
    16367173.0 * 2.0**72,  # the float closest to a multiple of pi/2, relatively: 2^-29.9
]  # fmt: skip


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    folder = tmp_path_factory.mktemp("xd_math")
    (folder / "shim.c").write_text(SHIM + "\n")
    p = ctypes.c_void_p
    signatures = {f"map_{n}": [p, p, ctypes.c_int64] for n in NAMES}
    return load_kernels(
        folder / "libxd_math.so", [XD_MATH, folder / "shim.c"], FLAGS, RUNTIME / "include",
        signatures,
    )  # fmt: skip


def in_c(lib: ctypes.CDLL, name: str, x: Array) -> Array:
    x = np.ascontiguousarray(x, dtype=F32)
    y = np.empty_like(x)
    getattr(lib, f"map_{name}")(x.ctypes.data, y.ctypes.data, x.size)
    return y


def inputs(name: str, n: int = 1_000_000) -> Array:
    rng = np.random.default_rng([sum(map(ord, name)), 2024])
    bits = rng.integers(0, 1 << 32, n // 2, dtype=np.uint64).astype(np.uint32).view(F32)
    lo, hi = RANGES[name]
    uniform = rng.uniform(lo, hi, n // 2).astype(F32)
    return np.concatenate([bits, uniform, np.array(SPECIALS, F32)])


def ulp_errors(got: Array, exact: Array) -> Array:
    """|got - exact| in units of the float32 spacing at `exact` (2^-149 in the denormals),
    for the finite exact values inside the float range; elsewhere 0 if got is the same
    float (inf for overflow, NaN for NaN), else inf."""
    g = got.astype(np.float64)
    inside = np.isfinite(exact) & (np.abs(exact) <= np.finfo(F32).max)
    _, e = np.frexp(np.where(inside, exact, 1.0))
    spacing = np.ldexp(1.0, np.maximum(e - 1, -126) - 23)
    with np.errstate(invalid="ignore", over="ignore"):
        same = (exact.astype(F32) == got) | (np.isnan(exact) & np.isnan(got))
        return np.where(inside, np.abs(g - exact) / spacing, np.where(same, 0.0, np.inf))


@pytest.mark.parametrize("name", NAMES)
def test_numpy_twin_is_bit_identical_to_c(lib: ctypes.CDLL, name: str) -> None:
    x = inputs(name)
    c, py = in_c(lib, name, x), NUMPY[name](x)
    assert py.dtype == F32 and py.shape == x.shape
    nan = np.isnan(c)
    assert np.array_equal(nan, np.isnan(py)), f"{name}: NaN at different inputs"
    differ = np.flatnonzero(c.view(np.uint32)[~nan] != py.view(np.uint32)[~nan])
    assert differ.size == 0, (
        f"{name}: {differ.size} results differ, e.g. x = {x[~nan][differ[0]]!r}: "
        f"C {c[~nan][differ[0]]!r}, numpy {py[~nan][differ[0]]!r}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_within_two_ulp_of_float64(lib: ctypes.CDLL, name: str) -> None:
    x = inputs(name)
    with np.errstate(all="ignore"):
        exact = EXACT[name](x.astype(np.float64))
    got = in_c(lib, name, x)
    err = ulp_errors(got, exact)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, (
        f"{name}({x[worst]!r}) = {got[worst]!r}, exact {exact[worst]!r}: {err[worst]:.3g} ulp"
    )
    zeros = exact == 0
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(exact[zeros])), "sign of zero"


NAN = float("nan")
INF = float("inf")
SPECIAL_CASES = [
    ("exp", -INF, 0.0), ("exp", INF, INF), ("exp", 89.0, INF), ("exp", 1000.0, INF),
    ("exp", -103.9, 1.4e-45), ("exp", -104.0, 0.0), ("exp", 0.0, 1.0), ("exp", -0.0, 1.0),
    ("exp", 1e-45, 1.0), ("exp", NAN, NAN),
    ("log", 0.0, -INF), ("log", -0.0, -INF), ("log", -1.0, NAN), ("log", -INF, NAN),
    ("log", INF, INF), ("log", 1.0, 0.0), ("log", 1e-45, -103.27893), ("log", NAN, NAN),
    ("tanh", INF, 1.0), ("tanh", -INF, -1.0), ("tanh", 20.0, 1.0), ("tanh", -0.0, -0.0),
    ("tanh", 1e-45, 1e-45), ("tanh", NAN, NAN),
    ("erf", INF, 1.0), ("erf", -INF, -1.0), ("erf", 4.0, 1.0), ("erf", -0.0, -0.0),
    ("erf", NAN, NAN),
    ("sin", INF, NAN), ("sin", -INF, NAN), ("sin", -0.0, -0.0), ("sin", 1e-45, 1e-45),
    ("sin", NAN, NAN), ("cos", INF, NAN), ("cos", 0.0, 1.0), ("cos", NAN, NAN),
]  # fmt: skip


@pytest.mark.parametrize(("name", "x", "want"), SPECIAL_CASES)
def test_special_values(lib: ctypes.CDLL, name: str, x: float, want: float) -> None:
    arg = np.array([x], F32)
    for got in (in_c(lib, name, arg)[0], NUMPY[name](arg)[0]):
        if math.isnan(want):
            assert np.isnan(got)
        else:
            assert got == F32(want) and np.signbit(got) == np.signbit(F32(want)), got


def test_float_math_keeps_shapes_and_float32() -> None:
    """0-d, n-d and list inputs: float32 results of the input's shape, no float64 detour."""
    samples: list[npt.ArrayLike] = [np.float32(0.5), np.zeros((2, 0, 3), F32), [[0.25, -1.5]]]
    for x in samples:
        for fn in NUMPY.values():
            y = fn(x)
            assert y.dtype == F32 and y.shape == np.shape(x)


def test_xd_math_needs_no_libm(tmp_path: Path) -> None:
    """The object refers to no function but memcpy (which -O2 inlines anyway)."""
    obj = tmp_path / "xd_math.o"
    subprocess.run(
        ["gcc", *FLAGS, f"-I{RUNTIME / 'include'}", "-c", str(XD_MATH), "-o", str(obj)],
        check=True,
    )
    nm = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True)
    assert set(nm.stdout.split()) - {"U", "memcpy"} == set(), nm.stdout
