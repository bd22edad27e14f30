"""float32 exp, log, tanh, erf, sin and cos, bit-identical to the C runtime's xd_math.c.

Each function performs, on whole arrays, exactly the float32 operations of its C twin in
the same order (float32 arithmetic rounds each operation, as C does without FMA
contraction), so that the interpreter reproduces the generated C's results bit for bit
on every platform. Where the C branches, both sides are computed for every element and
the right one selected; the arithmetic of each element is unchanged by that.

Keep the two in sync: the constants are the same literals, and `test_float_math.py`
compares them bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
F32 = np.float32
U32 = np.uint32

SIGN_BIT = U32(0x80000000)
ABS_MASK = U32(0x7FFFFFFF)
NAN = np.array(0x7FC00000, dtype=U32).view(F32)[()]
INF = F32(np.inf)


def _coefficients(*values: float) -> tuple[np.float32, ...]:
    return tuple(F32(v) for v in values)


def _bits(x: Array) -> Array:
    return x.view(U32)


def _float(bits: Array) -> Array:
    return bits.astype(U32, copy=False).view(F32)


def _pow2i(k: Array) -> Array:
    """2^k for -126 <= k <= 127, from the exponent bits."""
    return _float(((k + 127).astype(U32)) << U32(23))


def _horner(c: tuple[np.float32, ...], x: Array) -> Array:
    p = np.full_like(x, c[-1])
    for ck in reversed(c[:-1]):
        p = p * x + ck
    return p


def _elementwise(fn: Callable[[Array], Array]) -> Callable[[npt.ArrayLike], Array]:
    """`fn` on a flat float32 copy of the input (no 0-d arrays, whose arithmetic gives
    numpy scalars), reshaped back; warnings off, since inf and NaN are expected."""

    @functools.wraps(fn)
    def wrapper(x: npt.ArrayLike) -> Array:
        a = np.asarray(x, dtype=F32)
        with np.errstate(all="ignore"):
            out = fn(a.reshape(-1))
        return out.astype(F32, copy=False).reshape(a.shape)

    return wrapper


def _with_sign(t: Array, x: Array) -> Array:
    """|t| with the sign bit of x ORed in (t >= 0)."""
    return _float(_bits(t) | (_bits(x) & SIGN_BIT))


# ---------------------------------------------------------------------------------- exp

LN2_HI = F32("0.693145752")
LN2_LO = F32("1.42860677e-06")
INV_LN2 = F32("1.44269502")
ROUNDER = F32(12582912.0)
EXP_Q = _coefficients(0.49999994, 0.166665152, 0.041668456, 0.00836942438, 0.00138131308)


@_elementwise
def exp_f32(x: Array) -> Array:
    xc = np.where((x >= F32(-104)) & (x <= F32(89)), x, F32(0))
    nf = (xc * INV_LN2 + ROUNDER) - ROUNDER
    n = nf.astype(np.int32)
    r = (xc - nf * LN2_HI) - nf * LN2_LO
    p = F32(1) + (r + r * r * _horner(EXP_Q, r))
    half = (n + 200) // 2 - 100
    core = (p * _pow2i(half)) * _pow2i(n - half)
    out = np.where(x > F32(89), INF, np.where(x < F32(-104), F32(0), core))
    return np.where(np.isnan(x), x + x, out)


# ---------------------------------------------------------------------------------- log

SQRT2 = F32("1.41421354")
LOG_R = _coefficients(0.666666627, 0.400003552, 0.285358816, 0.236106679)


@_elementwise
def log_f32(x: Array) -> Array:
    ix = _bits(x)
    denormal = ix < U32(0x00800000)
    ix = np.where(denormal, _bits(x * F32(8388608)), ix)
    e = np.where(denormal, -23, 0) + (ix >> U32(23)).astype(np.int32) - 127
    m = _float((ix & U32(0x007FFFFF)) | U32(0x3F800000))
    big = m > SQRT2
    m = np.where(big, m * F32(0.5), m)
    e = e + big
    f = m - F32(1)
    s = f / (F32(2) + f)
    z = s * s
    hfsq = F32(0.5) * f * f
    r = z * _horner(LOG_R, z)
    ef = e.astype(F32)
    core = ef * LN2_HI - ((hfsq - (s * (hfsq + r) + ef * LN2_LO)) - f)
    out = np.where(x == INF, x, core)
    out = np.where(x == F32(0), -INF, out)
    out = np.where(x < F32(0), NAN, out)
    return np.where(np.isnan(x), x + x, out)


# --------------------------------------------------------------------------------- tanh

TANH_POLY_MAX = F32(1.0)
TANH_P = _coefficients(
    -0.333333284, 0.133332103, -0.0539539307, 0.0217881165, -0.00860249717, 0.00308744819,
    -0.000846642535, 0.000122857644,
)  # fmt: skip


@_elementwise
def tanh_f32(x: Array) -> Array:
    a = _float(_bits(x) & ABS_MASK)
    z = a * a
    small = a + a * (z * _horner(TANH_P, z))
    large = F32(1) - F32(2) / (exp_f32(a + a) + F32(1))
    t = _with_sign(np.where(a < TANH_POLY_MAX, small, large), x)
    return np.where(np.isnan(x), x + x, t)


# ---------------------------------------------------------------------------------- erf

ERF_P = _coefficients(
    0.128379166, -0.376126379, 0.112837829, -0.0268654451, 0.00522107491, -0.000848471129,
    0.000112705449, -9.68013683e-06,
)  # fmt: skip
ERFC_NEAR = _coefficients(
    0.321585417, -0.163622916, 0.0761509389, -0.0329311192, 0.0133797629, -0.00514090015,
    0.00186776288, -0.000697184354, 0.000270560879,
)  # fmt: skip
ERFC_FAR = _coefficients(
    0.179001108, -0.054375995, 0.0158653054, -0.00449455669, 0.00129608449, -0.000154301611,
    0.000208317462,
)  # fmt: skip


@_elementwise
def erf_f32(x: Array) -> Array:
    a = _float(_bits(x) & ABS_MASK)
    small = a + a * _horner(ERF_P, a * a)
    h = np.where(a < F32(2), _horner(ERFC_NEAR, a - F32(1.5)), _horner(ERFC_FAR, a - F32(3)))
    middle = F32(1) - exp_f32(-(a * a)) * h
    t = np.where(a < F32(1), small, np.where(a < F32(4), middle, F32(1)))
    return np.where(np.isnan(x), x + x, _with_sign(t, x))


# ------------------------------------------------------------------------- sin and cos

TWO_OVER_PI = np.array(
    [0x00000028, 0xBE60DB93, 0x91054A7F, 0x09D5F47D, 0x4D377036, 0xD8A5664F, 0x10E4107F,
     0x9458EAF7],
    dtype=np.uint64,
)  # fmt: skip
PIO2_HI = F32("1.57080078")
PIO2_LO = F32("-4.45445494e-06")
PIO2 = F32("1.57079637")
PIO4 = F32("0.785398185")
SIN_S = _coefficients(-0.166666672, 0.00833332911, -0.000198393274, 2.71823728e-06)
COS_C = _coefficients(0.0416666679, -0.00138888834, 2.47994521e-05, -2.72050443e-07)
M32 = np.uint64(0xFFFFFFFF)
M30 = np.uint64(0x3FFFFFFF)


def _reduce_pio2(a: Array) -> tuple[Array, Array, Array]:
    """xd_math.c's reduce_pio2 for finite a >= PIO4 (other elements give garbage):
    a = q pi/2 + (r + y); returns (q mod 4, r, y). Integers are uint64 arrays, whose
    arithmetic wraps as the C's does."""
    ia = _bits(a).astype(np.uint64)
    j = np.clip((ia >> 23).astype(np.int64) - 126, 0, 128)
    m = (ia & 0x007FFFFF) | 0x00800000
    word, shift = j // 32, (j % 32).astype(np.uint64)
    w = [
        (((TWO_OVER_PI[word + k] << 32) | TWO_OVER_PI[word + k + 1]) << shift) >> 32
        for k in range(3)
    ]
    p0 = m * w[2]
    p1 = m * w[1] + (p0 >> 32)
    p2 = m * w[0] + (p1 >> 32)
    g0, g1, g2 = p0 & M32, p1 & M32, p2 & M30
    negative = ((g2 >> 29) & 1) == 1
    n0 = M32 - g0 + 1
    n1 = M32 - g1 + (n0 >> 32)
    n2 = M30 - g2 + (n1 >> 32)
    g0 = np.where(negative, n0 & M32, g0)
    g1 = np.where(negative, n1 & M32, g1)
    g2 = np.where(negative, n2, g2)
    q = ((p2 >> 30) & 3) + negative
    chunks = (g2 >> 6, ((g2 & 0x3F) << 18) | (g1 >> 14), ((g1 & 0x3FFF) << 10) | (g0 >> 22))
    f0, f1, f2 = (c.astype(F32) * F32(2.0**-e) for c, e in zip(chunks, (24, 48, 72), strict=True))
    hi = f0 + f1
    lo = (f1 - (hi - f0)) + f2
    hh = _float(_bits(hi) & U32(0xFFFFF000))
    hl = hi - hh
    ph = hh * PIO2_HI
    pm = hl * PIO2_HI
    pl = hi * PIO2_LO + lo * PIO2
    s = ph + pm
    e = pm - (s - ph)
    t = e + pl
    r = s + t
    y = t - (r - s)
    r = np.where(negative, -r, r)
    y = np.where(negative, -y, y)
    return (q & 3).astype(np.int32), r, y


def _sin_kernel(r: Array, y: Array) -> Array:
    z = r * r
    return r + (r * (z * _horner(SIN_S, z)) + (y - (F32(0.5) * z) * y))


def _cos_kernel(r: Array, y: Array) -> Array:
    z = r * r
    hz = F32(0.5) * z
    w = F32(1) - hz
    return w + (((F32(1) - w) - hz) + (z * z * _horner(COS_C, z) - r * y))


def _reduce(x: Array) -> tuple[Array, Array, Array]:
    """The quadrant of |x| and the reduced argument; x must be finite."""
    a = _float(_bits(x) & ABS_MASK)
    small = a < PIO4
    q, r, y = _reduce_pio2(a)
    return np.where(small, 0, q), np.where(small, a, r), np.where(small, F32(0), y)


def _quadrant_kernel(q: Array, r: Array, y: Array) -> Array:
    """sin(r + y) turned by q quarter turns: the C switches' cases."""
    s, c = _sin_kernel(r, y), _cos_kernel(r, y)
    return np.select([q == 0, q == 1, q == 2], [s, c, -s], -c)


def _not_finite(x: Array, out: Array) -> Array:
    return np.where(np.isfinite(x), out, np.where(np.isnan(x), x + x, NAN))


@_elementwise
def sin_f32(x: Array) -> Array:
    q, r, y = _reduce(np.where(np.isfinite(x), x, F32(0)))
    s = _quadrant_kernel(q, r, y)
    return _not_finite(x, _float(_bits(s) ^ (_bits(x) & SIGN_BIT)))


@_elementwise
def cos_f32(x: Array) -> Array:
    q, r, y = _reduce(np.where(np.isfinite(x), x, F32(0)))
    return _not_finite(x, _quadrant_kernel((q + 1) & 3, r, y))
