"""numpy reference semantics of the `dnn` tensor ops, as ONNX defines them.

One function per op, taking numpy arrays and plain Python parameters (already
normalised by the frontend: non-negative axes where stated, full-rank slice bounds,
explicit pads) and returning numpy arrays. The interpreter calls these; the tests
check them against onnxruntime.

Conventions:

* float32 is computed in float32 with the generated C's operations in the C's order:
  the interpreter is the bit-exact reference of the C runtime (`runtime_c`) on every
  platform, so a difference in any bit is a bug in one of them. Concretely:
  - exp, log, tanh, erf, sin and cos are `float_math`'s, the twins of the C's
    `xd_math.c` (numpy's and libm's results depend on the CPU and the library);
  - sums run one term at a time from 0 as the C loops do (`_sequential_sum`): numpy's
    pairwise sums and BLAS round differently. Reductions, softmax, the norms, matmul,
    conv and average pooling follow the loop order of their kernel; gemm with a
    transposed b uses the kernel's eight interleaved partial sums (`_dot8`), as the
    lowering's kernel call does;
  - max, min and the clamps (relu, clip, hard sigmoid) choose as the C's conditionals
    (`a > b || a != a ? a : b`, `x < lo ? lo : x`), which differ from numpy's on the
    sign of zero (`_first_extreme` for reductions, `_clamp`).
  Other float dtypes use the same orders with numpy's elementary functions. Pow stays
  numpy's (the C calls libm's powf); NaN payloads are not reproduced.
* Integers wrap in the result dtype exactly as numpy does in that dtype. Matmul and
  conv accumulate in int64 and then cast, which equals wrapping arithmetic in the
  result dtype.
* Results may be views of the inputs (`transpose`, `reshape`, `slice`, …); callers
  must not modify results in place.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ParamSpec

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from xdeeploy.interp import float_math as fm

Array = npt.NDArray[Any]
P = ParamSpec("P")

__all__ = [
    "abs", "add", "average_pool", "cast", "ceil", "clip", "concat", "conv", "cos", "div",
    "equal", "erf", "exp", "expand", "floor", "gather", "gelu", "gemm", "global_average_pool",
    "greater", "hardsigmoid", "hardswish", "layer_norm", "leaky_relu", "less", "log",
    "log_softmax", "matmul", "max_pool", "maximum", "minimum", "mul", "neg", "pad", "pow",
    "reciprocal", "reduce_max", "reduce_mean", "reduce_min", "reduce_sum", "relu", "reshape",
    "rms_norm", "round", "sigmoid", "silu", "sin", "slice", "softmax", "split", "sqrt", "sub",
    "tanh", "tile", "transpose", "where",
]  # fmt: skip


def _is_int(dtype: np.dtype[Any]) -> bool:
    return np.issubdtype(dtype, np.integer) or dtype == np.bool_


def _array_result(fn: Callable[P, Any]) -> Callable[P, Array]:
    """Make `fn` return an ndarray: numpy ufuncs turn 0-d results into scalars."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Array:
        return np.asarray(fn(*args, **kwargs))

    return wrapper


def _scalar(value: float, dtype: np.dtype[Any]) -> Any:
    """`value` as a numpy scalar of `dtype`, so that it does not promote the array."""
    return np.asarray(value).astype(dtype)[()]


def _is_f32(x: Array) -> bool:
    return x.dtype == np.float32


def _sequential_sum(x: Array, axis: int) -> Array:
    """The sum along `axis` (kept, of size 1) as the C's `acc = 0.0f; acc += v;` loops
    round it: one term at a time. `np.add.accumulate` adds in that order; starting from
    the first term instead of 0 only differs in a -0 result, which + 0 turns into +0."""
    axis %= x.ndim
    if x.shape[axis] == 0:
        return np.zeros((*x.shape[:axis], 1, *x.shape[axis + 1 :]), x.dtype)
    partial = np.add.accumulate(x, axis=axis, dtype=x.dtype)
    return np.take(partial, [-1], axis=axis) + _scalar(0, x.dtype)


def _first_extreme(x: Array, axis: int, largest: bool) -> Array:
    """The C's `if (v > m || v != v) m = v` from m = -inf (`<` from +inf for the
    smallest) along `axis`, kept: the extreme value's first occurrence, which decides
    the sign of a zero; NaN if there is one."""
    init = -np.inf if largest else np.inf
    m = (np.max if largest else np.min)(x, axis=axis, keepdims=True, initial=init)
    if x.shape[axis] == 0:
        return m
    first = np.take_along_axis(x, np.argmax(x == m, axis=axis, keepdims=True), axis=axis)
    return np.where(np.isnan(m), m, first)


# ---------------------------------------------------------------------------
# Binary elementwise (numpy broadcasting; result dtype = a.dtype)


@_array_result
def add(a: Array, b: Array) -> Array:
    return np.add(a, b.astype(a.dtype, copy=False))


@_array_result
def sub(a: Array, b: Array) -> Array:
    return np.subtract(a, b.astype(a.dtype, copy=False))


@_array_result
def mul(a: Array, b: Array) -> Array:
    return np.multiply(a, b.astype(a.dtype, copy=False))


@_array_result
def div(a: Array, b: Array) -> Array:
    """Float: IEEE division. Integer: truncates toward zero as in C and ONNX.

    numpy's `//` floors, so a quotient whose exact value is negative and non-integral
    is one too small; division by zero gives 0 here (undefined behaviour in C).
    """
    b = b.astype(a.dtype, copy=False)
    if not _is_int(a.dtype):
        return np.divide(a, b)
    with np.errstate(divide="ignore", over="ignore"):
        q = np.floor_divide(a, b)
        r = np.remainder(a, b)
    if np.issubdtype(a.dtype, np.signedinteger):
        fix = (r != 0) & ((a < 0) != (b < 0))
        q = q + fix.astype(a.dtype)
    return np.asarray(q, dtype=a.dtype)


@_array_result
def pow(a: Array, b: Array) -> Array:
    """ONNX Pow: the exponent may have another element type; the result has a's.

    Integer bases follow C's `(T)pow((double)x, (double)y)` for negative or
    fractional exponents (truncation toward zero); non-negative integer exponents
    use exact integer powers, wrapping in a's dtype.
    """
    if not _is_int(a.dtype):
        return np.power(a, b.astype(a.dtype, copy=False))
    if _is_int(b.dtype):
        bi = b.astype(np.int64)
        exact = np.power(a, np.maximum(bi, 0).astype(a.dtype))
        if not np.any(bi < 0):
            return np.asarray(exact, dtype=a.dtype)
        with np.errstate(all="ignore"):
            neg = np.trunc(np.power(a.astype(np.float64), bi.astype(np.float64)))
            return np.where(bi < 0, neg.astype(a.dtype), exact).astype(a.dtype)
    with np.errstate(all="ignore"):
        return np.trunc(np.power(a.astype(np.float64), b.astype(np.float64))).astype(a.dtype)


@_array_result
def maximum(a: Array, b: Array) -> Array:
    """Floats as the C's `a > b || a != a ? a : b`: b when they are equal (+-0)."""
    b = b.astype(a.dtype, copy=False)
    if _is_int(a.dtype):
        return np.maximum(a, b)
    return np.where((a > b) | np.isnan(a), a, b)


@_array_result
def minimum(a: Array, b: Array) -> Array:
    b = b.astype(a.dtype, copy=False)
    if _is_int(a.dtype):
        return np.minimum(a, b)
    return np.where((a < b) | np.isnan(a), a, b)


@_array_result
def equal(a: Array, b: Array) -> Array:
    return np.equal(a, b)


@_array_result
def less(a: Array, b: Array) -> Array:
    return np.less(a, b)


@_array_result
def greater(a: Array, b: Array) -> Array:
    return np.greater(a, b)


@_array_result
def where(cond: Array, a: Array, b: Array) -> Array:
    return np.where(cond.astype(np.bool_, copy=False), a, b.astype(a.dtype, copy=False))


# ---------------------------------------------------------------------------
# Unary elementwise


@_array_result
def sqrt(x: Array) -> Array:
    return np.sqrt(x)


@_array_result
def neg(x: Array) -> Array:
    return np.negative(x)


@_array_result
def abs(x: Array) -> Array:
    return np.abs(x)


@_array_result
def exp(x: Array) -> Array:
    return fm.exp_f32(x) if _is_f32(x) else np.exp(x)


@_array_result
def log(x: Array) -> Array:
    return fm.log_f32(x) if _is_f32(x) else np.log(x)


@_array_result
def tanh(x: Array) -> Array:
    return fm.tanh_f32(x) if _is_f32(x) else np.tanh(x)


@_array_result
def cos(x: Array) -> Array:
    return fm.cos_f32(x) if _is_f32(x) else np.cos(x)


@_array_result
def sin(x: Array) -> Array:
    return fm.sin_f32(x) if _is_f32(x) else np.sin(x)


@_array_result
def floor(x: Array) -> Array:
    return np.floor(x)


@_array_result
def ceil(x: Array) -> Array:
    return np.ceil(x)


@_array_result
def round(x: Array) -> Array:
    """Round half to even (ONNX Round), which is what `np.round` does."""
    return np.round(x)


@_array_result
def reciprocal(x: Array) -> Array:
    return np.divide(_scalar(1, x.dtype), x)


@_array_result
def relu(x: Array) -> Array:
    """The C's `x < 0 ? 0 : x`: -0 stays -0 (np.maximum would give +0)."""
    return _clamp(x, _scalar(0, x.dtype), None)


@_array_result
def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)), written with exp(-|x|) so that it never overflows."""
    e = exp(-np.abs(x))
    one = _scalar(1, x.dtype)
    return np.where(x >= 0, one / (one + e), e / (one + e))


@_array_result
def silu(x: Array) -> Array:
    return x * sigmoid(x)


_ERF_TAYLOR_TERMS = 60
_ERFC_CF_TERMS = 80


def _erf64(z: Array) -> Array:
    """erf in float64, accurate to ~1e-13 (numpy has no erf, scipy is not a dependency).

    |z| < 3: Maclaurin series (the largest term is ~1e3, so little is lost to
    cancellation). |z| >= 3: erf = 1 - erfc with erfc's continued fraction
    erfc(z) = exp(-z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))), evaluated
    backwards with a fixed depth, which converges fast for z >= 3.
    """
    z = np.asarray(z, dtype=np.float64)
    a = np.abs(z)
    out = np.empty_like(a)
    small = a < 3.0
    zs = a[small]
    z2 = zs * zs
    term = zs.copy()
    total = zs.copy()
    for n in range(1, _ERF_TAYLOR_TERMS):
        term *= -z2 / n
        total += term / (2 * n + 1)
    out[small] = total * (2.0 / math.sqrt(math.pi))
    big = ~small
    zb = a[big]
    with np.errstate(invalid="ignore"):
        f = zb.copy()
        for k in range(_ERFC_CF_TERMS, 0, -1):
            f = zb + (k / 2.0) / f
        out[big] = 1.0 - np.exp(-zb * zb) / (math.sqrt(math.pi) * f)
    return np.copysign(out, z)


@_array_result
def erf(x: Array) -> Array:
    """Error function: float_math's for float32, else computed in float64 and rounded."""
    return fm.erf_f32(x) if _is_f32(x) else _erf64(x).astype(x.dtype)


@_array_result
def gelu(x: Array, approximate: str = "none") -> Array:
    """ONNX Gelu (opset 20): 0.5·x·(1 + erf(x/√2)), or the tanh approximation."""
    if approximate == "none":
        return (
            _scalar(0.5, x.dtype)
            * x
            * (_scalar(1, x.dtype) + erf(x * _scalar(1 / math.sqrt(2), x.dtype)))
        )
    if approximate == "tanh":
        inner = _scalar(math.sqrt(2 / math.pi), x.dtype) * (
            x + _scalar(0.044715, x.dtype) * x * x * x
        )
        return _scalar(0.5, x.dtype) * x * (_scalar(1, x.dtype) + tanh(inner))
    raise ValueError(f'gelu: approximate must be "none" or "tanh", not {approximate!r}')


@_array_result
def hardsigmoid(x: Array, alpha: float = 0.2, beta: float = 0.5) -> Array:
    """max(0, min(1, alpha·x + beta))."""
    y = _scalar(alpha, x.dtype) * x + _scalar(beta, x.dtype)
    return _clamp(y, _scalar(0, x.dtype), _scalar(1, x.dtype))


@_array_result
def hardswish(x: Array) -> Array:
    """ONNX HardSwish: x · max(0, min(1, x/6 + 1/2)) (HardSigmoid with alpha = 1/6)."""
    return x * hardsigmoid(x, alpha=1 / 6, beta=0.5)


@_array_result
def leaky_relu(x: Array, alpha: float) -> Array:
    return np.where(x < 0, x * _scalar(alpha, x.dtype), x)


def _clamp(x: Array, lo: Any, hi: Any) -> Array:
    """elementwise.c's clamp_f32, `x < lo ? lo : x` then `y > hi ? hi : y` (None: no
    bound): NaN stays NaN, and a bound equal to x (+-0) leaves x."""
    y = x if lo is None else np.where(x < lo, lo, x)
    return y if hi is None else np.where(y > hi, hi, y)


@_array_result
def clip(x: Array, lo: float | None, hi: float | None) -> Array:
    """Clamp to [lo, hi]; a bound of None is absent (unbounded)."""
    y = _clamp(
        x,
        None if lo is None else _scalar(lo, x.dtype),
        None if hi is None else _scalar(hi, x.dtype),
    )
    return np.array(y, dtype=x.dtype, copy=True) if y is x else y


@_array_result
def cast(x: Array, dtype: npt.DTypeLike) -> Array:
    """ONNX Cast. Float → integer truncates toward zero (out-of-range is undefined,
    as in C); anything → bool is `x != 0`."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return x != 0
    with np.errstate(invalid="ignore"):
        if _is_int(dt) and not _is_int(x.dtype):
            return np.trunc(x).astype(dt)
        return x.astype(dt)


# ---------------------------------------------------------------------------
# Linear algebra and convolution


@_array_result
def matmul(a: Array, b: Array) -> Array:
    """numpy.matmul (1-D operands, broadcast batch dims); integers accumulate in int64,
    floats as `_matmul_sequential`."""
    out = np.result_type(a, b)
    if _is_int(out):
        return np.matmul(a.astype(np.int64), b.astype(np.int64)).astype(out)
    y = _matmul_sequential(a[None, :] if a.ndim == 1 else a, b[:, None] if b.ndim == 1 else b)
    if a.ndim == 1:
        y = y[..., 0, :]
    return y[..., 0] if b.ndim == 1 else y


def _matmul_sequential(a: Array, b: Array) -> Array:
    """a @ b (batch dims broadcast) as xd_matmul_f32's i-k-j loop: each output starts at
    0 and adds a[i, p] * b[p, j] for p = 0, 1, … in turn."""
    k = a.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = np.zeros((*batch, a.shape[-2], b.shape[-1]), np.result_type(a, b))
    for p in range(k):
        out += a[..., :, p, None] * b[..., None, p, :]
    return out


def _dot8(a: Array, bt: Array) -> Array:
    """a @ bt.T as linalg.c's `dot` of rows: eight interleaved partial sums over the
    first k - k % 8 terms, added pairwise, then the remaining terms one at a time."""
    m, k = a.shape
    full = k - k % 8
    acc = np.zeros((m, bt.shape[0], 8), np.result_type(a, bt))
    for p in range(0, full, 8):
        acc += a[:, None, p : p + 8] * bt[None, :, p : p + 8]
    q = [acc[..., i] for i in range(8)]
    total = ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))
    for p in range(full, k):
        total = total + a[:, None, p] * bt[None, :, p]
    return total


@_array_result
def gemm(
    a: Array,
    b: Array,
    c: Array | None = None,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    trans_a: bool = False,
    trans_b: bool = False,
) -> Array:
    """alpha · op(a) @ op(b) + beta · c, with c broadcast to the (M, N) result.

    Integer gemm needs integral alpha and beta (ONNX leaves the rest undefined).
    """
    a2 = a.T if trans_a else a
    b2 = b.T if trans_b else b
    dt = np.result_type(a, b)
    if _is_int(dt):
        if not (float(alpha).is_integer() and float(beta).is_integer()):
            raise ValueError("gemm: integer gemm needs integral alpha and beta")
        y = np.matmul(a2.astype(np.int64), b2.astype(np.int64)) * np.int64(alpha)
        if c is not None:
            y = y + c.astype(np.int64) * np.int64(beta)
        return y.astype(dt)
    # The kernel's loop (linalg.c, matmul_strided): dot products of rows where b is
    # transposed and a's rows are contiguous (not transposed, or a single row).
    m, k = a2.shape
    if trans_b and k != 1 and (not trans_a or m == 1):
        y = _dot8(a2, b)
    else:
        y = _matmul_sequential(a2, b2)
    if alpha != 1.0:
        y = y * _scalar(alpha, dt)
    if c is not None:
        cc = c.astype(dt, copy=False)
        y = y + (cc if beta == 1.0 else cc * _scalar(beta, dt))
    return y


def _out_len(
    size: int,
    kernel: int,
    stride: int,
    pad_begin: int,
    pad_end: int,
    dilation: int,
    ceil_mode: bool,
) -> int:
    """Sliding-window output length: the dialect's rule (`dnn.window_out`, onnxruntime's
    ceil mode), which the verifiers and the importer use too."""
    from xdeeploy.dialects.dnn import window_out

    if dilation * (kernel - 1) + 1 > size + pad_begin + pad_end:
        raise ValueError("window larger than the padded input")
    return window_out(size, kernel, stride, pad_begin, pad_end, dilation, ceil_mode)


def _windows(
    xp: Array,
    out: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> Array:
    """Read-only view (N, C, *out, *kernel) of the padded input `xp` (N, C, *spatial):

    view[n, c, o…, k…] = xp[n, c, o·stride + k·dilation …]; no copy is made.
    """
    sp = xp.strides[2:]
    shape = (*xp.shape[:2], *out, *kernel)
    strides_b = (
        *xp.strides[:2],
        *(s * st for s, st in zip(sp, strides, strict=True)),
        *(s * d for s, d in zip(sp, dilations, strict=True)),
    )
    return as_strided(xp, shape=shape, strides=strides_b, writeable=False)


def _check_window_args(
    x: Array,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
) -> int:
    nsp = x.ndim - 2
    if (
        nsp < 1
        or len(kernel) != nsp
        or len(strides) != nsp
        or len(dilations) != nsp
        or len(pads) != 2 * nsp
    ):
        raise ValueError(
            f"window op on rank-{x.ndim} input: kernel/strides/dilations need {nsp} entries, pads {2 * nsp}"
        )
    return nsp


def _pad_spatial(x: Array, pads_begin: Sequence[int], pads_end: Sequence[int], value: Any) -> Array:
    if not any(pads_begin) and not any(pads_end):
        return x
    widths = [(0, 0), (0, 0), *zip(pads_begin, pads_end, strict=True)]
    return np.pad(x, widths, mode="constant", constant_values=value)


def conv(
    x: Array,
    w: Array,
    b: Array | None = None,
    *,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> Array:
    """ONNX Conv (NCW, NCHW, …): w is (M, C/group, k…), b is (M,).

    Floats in xd_conv2d_f32's order (`_conv_taps`). Integers: im2col over a strided
    view of the padded input, then one int64 matmul batched over the groups, cast back.
    """
    kernel = w.shape[2:]
    nsp = _check_window_args(x, kernel, strides, pads, dilations)
    n, c = x.shape[:2]
    m = w.shape[0]
    if c % group or m % group or w.shape[1] != c // group:
        raise ValueError(
            f"conv: {c} input channels, {m} filters of {w.shape[1]} channels, group {group}"
        )
    out_dt = np.result_type(x, w)
    out = [
        _out_len(x.shape[2 + i], kernel[i], strides[i], pads[i], pads[nsp + i], dilations[i], False)
        for i in range(nsp)
    ]
    if not _is_int(out_dt):
        return _conv_taps(
            x.astype(out_dt, copy=False), w.astype(out_dt, copy=False), b, out, strides,
            pads[:nsp], dilations, group,
        )  # fmt: skip
    acc = np.int64
    xp = _pad_spatial(x.astype(acc, copy=False), pads[:nsp], pads[nsp:], 0)
    win = _windows(xp, out, kernel, strides, dilations)  # (N, C, *out, *k)
    cg, mg, ksz, npix = c // group, m // group, math.prod(kernel), math.prod(out)
    # (N, G, Cg, *out, *k) -> (G, N, *out, Cg, *k) -> (G, N·pixels, Cg·K)
    win = win.reshape(n, group, cg, *out, *kernel)
    order = (1, 0, *range(3, 3 + nsp), 2, *range(3 + nsp, 3 + 2 * nsp))
    cols = win.transpose(order).reshape(group, n * npix, cg * ksz)
    wm = w.astype(acc, copy=False).reshape(group, mg, cg * ksz).transpose(0, 2, 1)
    y = np.matmul(cols, wm)  # (G, N·pixels, Mg)
    y = y.reshape(group, n, npix, mg).transpose(1, 0, 3, 2).reshape(n, m, *out)
    if b is not None:
        y = y + b.astype(acc, copy=False).reshape(m, *([1] * nsp))
    return np.ascontiguousarray(y.astype(out_dt, copy=False))


def _inside(off: int, step: int, size: int, count: int) -> tuple[int, int]:
    """conv_pool.c's inside_range: the o in [0, count) with 0 <= off + o·step < size."""
    lo = 0 if off >= 0 else (-off + step - 1) // step
    hi = min(0 if off > size - 1 else (size - 1 - off) // step + 1, count)
    return min(lo, hi), hi


_Taps = Iterator[tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]]]


def _taps(
    sizes: Sequence[int],
    out: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads_begin: Sequence[int],
    dilations: Sequence[int],
) -> _Taps:
    """Each kernel tap in row-major order (the C loops' order), with the outputs it
    reaches inside the input and the input elements it reads there: as in the C
    kernels, padding is never read, rather than read as zeros."""
    for tap in np.ndindex(*kernel):
        outs, ins = [], []
        for t, size, count, step, pad, dil in zip(
            tap, sizes, out, strides, pads_begin, dilations, strict=True
        ):
            off = t * dil - pad
            lo, hi = _inside(off, step, size, count)
            if lo == hi:
                break
            outs.append(builtins.slice(lo, hi))
            ins.append(builtins.slice(off + lo * step, off + (hi - 1) * step + 1, step))
        else:
            yield tap, tuple(outs), tuple(ins)


def _conv_taps(
    x: Array,
    w: Array,
    b: Array | None,
    out: Sequence[int],
    strides: Sequence[int],
    pads_begin: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> Array:
    """Float conv as xd_conv2d_f32 rounds it: each output starts at its bias (or 0) and
    adds w·x per input channel of its group, then per kernel tap in row-major order."""
    n, m, cg = x.shape[0], w.shape[0], w.shape[1]
    mg, spatial = m // group, [1] * len(out)
    y = np.zeros((n, group, mg, *out), x.dtype)
    if b is not None:
        y[...] = b.astype(x.dtype, copy=False).reshape(group, mg, *spatial)
    xg = x.reshape(n, group, 1, cg, *x.shape[2:])
    wg = w.reshape(group, mg, cg, *w.shape[2:])
    for ic in range(cg):
        for tap, o, i in _taps(x.shape[2:], out, w.shape[2:], strides, pads_begin, dilations):
            wv = wg[(builtins.slice(None), builtins.slice(None), ic, *tap)]
            y[(..., *o)] += wv.reshape(group, mg, *spatial) * xg[:, :, :, ic][(..., *i)]
    return y.reshape(n, m, *out)


def window_sum(
    x: Array,
    out: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads_begin: Sequence[int],
) -> Array:
    """(N, C, *out) sums of the (N, C, *spatial) input over pooling windows as
    xd_avgpool2d_f32 adds them: from 0, the window's input elements in row-major order
    (padding is never read). The buffer interpreter's average pooling uses it too."""
    total = np.zeros((*x.shape[:2], *out), x.dtype)
    for _, o, i in _taps(x.shape[2:], out, kernel, strides, pads_begin, [1] * len(out)):
        total[(..., *o)] += x[(..., *i)]
    return total


def _window_max(
    x: Array,
    out: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads_begin: Sequence[int],
    dilations: Sequence[int],
) -> Array:
    """xd_maxpool2d_f32: from -inf, `if (v > m || v != v) m = v` over the window's input
    elements in row-major order."""
    m = np.full((*x.shape[:2], *out), -np.inf, x.dtype)
    for _, o, i in _taps(x.shape[2:], out, kernel, strides, pads_begin, dilations):
        v, cur = x[(..., *i)], m[(..., *o)]
        m[(..., *o)] = np.where((v > cur) | np.isnan(v), v, cur)
    return m


def _lowest(dtype: np.dtype[Any]) -> Any:
    if _is_int(dtype):
        return np.iinfo(dtype).min
    return -np.inf


def max_pool(
    x: Array,
    *,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    ceil_mode: bool = False,
) -> Array:
    """ONNX MaxPool (values only). Floats as `_window_max`; integers over windows padded
    with the dtype's lowest value, which never wins."""
    nsp = _check_window_args(x, kernel_shape, strides, pads, dilations)
    sizes = x.shape[2:]
    out = [
        _out_len(
            sizes[i], kernel_shape[i], strides[i], pads[i], pads[nsp + i], dilations[i], ceil_mode
        )
        for i in range(nsp)
    ]
    if not _is_int(x.dtype):
        return _window_max(x, out, kernel_shape, strides, pads[:nsp], dilations)
    # Ceil mode may let the last window run past the end padding: pad further.
    ends = [
        max(
            pads[nsp + i],
            (out[i] - 1) * strides[i]
            + dilations[i] * (kernel_shape[i] - 1)
            + 1
            - sizes[i]
            - pads[i],
        )
        for i in range(nsp)
    ]
    xp = _pad_spatial(x, pads[:nsp], ends, _lowest(x.dtype))
    win = _windows(xp, out, kernel_shape, strides, dilations)
    return np.ascontiguousarray(win.max(axis=tuple(range(2 + nsp, 2 + 2 * nsp))))


def average_pool(
    x: Array,
    *,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    count_include_pad: bool = False,
    ceil_mode: bool = False,
) -> Array:
    """ONNX AveragePool (no dilation, as up to opset 18).

    The divisor counts the window's input elements, plus its padding elements when
    `count_include_pad`; window parts beyond the end padding (ceil mode) never count.
    """
    ones = [1] * max(x.ndim - 2, 0)
    nsp = _check_window_args(x, kernel_shape, strides, pads, ones)
    sizes = x.shape[2:]
    out = [
        _out_len(sizes[i], kernel_shape[i], strides[i], pads[i], pads[nsp + i], 1, ceil_mode)
        for i in range(nsp)
    ]
    ends = [
        max(pads[nsp + i], (out[i] - 1) * strides[i] + kernel_shape[i] - sizes[i] - pads[i])
        for i in range(nsp)
    ]
    axes = tuple(range(2 + nsp, 2 + 2 * nsp))
    total = window_sum(x, out, kernel_shape, strides, pads[:nsp])
    # Which padded positions count towards the divisor: computed once per spatial grid.
    mask = np.ones((1, 1, *sizes), dtype=np.float64)
    if count_include_pad:
        mask = _pad_spatial(mask, pads[:nsp], pads[nsp:], 1.0)
        mask = _pad_spatial(
            mask, [0] * nsp, [e - p for e, p in zip(ends, pads[nsp:], strict=True)], 0.0
        )
    else:
        mask = _pad_spatial(mask, pads[:nsp], ends, 0.0)
    count = _windows(mask, out, kernel_shape, strides, ones).sum(axis=axes)
    return np.ascontiguousarray(total / count.astype(x.dtype))


def global_average_pool(x: Array) -> Array:
    """Mean over all spatial dims (2..), kept as size 1: the frontend's ReduceMean."""
    return reduce_mean(x, axes=range(2, x.ndim), keepdims=True)


# ---------------------------------------------------------------------------
# Normalisation


def softmax(x: Array, *, axis: int) -> Array:
    """ONNX Softmax, opset 13: along the single `axis` (not the flattened 2-D view);
    exp(x - max) / their sequential sum, as xd_softmax_f32."""
    e = exp(x - _first_extreme(x, axis, largest=True))
    return e / _sequential_sum(e, axis)


def log_softmax(x: Array, *, axis: int) -> Array:
    """ONNX LogSoftmax, opset 13: x - max - log(sum(exp(x - max)))."""
    shifted = x - _first_extreme(x, axis, largest=True)
    return shifted - log(_sequential_sum(exp(shifted), axis))


def _tail_mean(x: Array, axis: int) -> Array:
    """The mean over dims axis..end (kept as size 1) as the norm kernels take it: the
    sequential sum over those dims flattened, divided by their size."""
    start = axis + x.ndim if axis < 0 else axis
    count = math.prod(x.shape[start:])
    rows = x.reshape(*x.shape[:start], count)
    mean = _sequential_sum(rows, -1) / _scalar(count, x.dtype)
    return mean.reshape(*x.shape[:start], *[1] * (x.ndim - start))


def layer_norm(
    x: Array, scale: Array, bias: Array | None = None, *, axis: int, epsilon: float
) -> Array:
    """ONNX LayerNormalization (opset 17): (x - mean) / sqrt(var + eps) · scale + bias,
    mean and (biased) variance over dims axis..end."""
    d = x - _tail_mean(x, axis)
    var = _tail_mean(d * d, axis)
    y = d / np.sqrt(var + _scalar(epsilon, x.dtype)) * scale
    return y + bias if bias is not None else y


def rms_norm(x: Array, scale: Array | None = None, *, axis: int = -1, epsilon: float) -> Array:
    """RMS normalisation: x / sqrt(mean(x², over dims axis..end) + eps) · scale.

    No mean is subtracted and there is no bias; this is ONNX RMSNormalization
    (opset 23) and onnxruntime's SimplifiedLayerNormalization. The formula Deeploy's
    custom RMSNorm uses is being confirmed; keep this in sync with it.
    """
    ms = _tail_mean(x * x, axis)
    y = x / np.sqrt(ms + _scalar(epsilon, x.dtype))
    return y * scale if scale is not None else y


# ---------------------------------------------------------------------------
# Reductions (axes: non-negative; () means all axes)


def _axes(axes: Sequence[int]) -> tuple[int, ...] | None:
    return tuple(axes) if len(axes) else None


def _float_reduce(
    x: Array, axes: Sequence[int], keepdims: bool, one_pass: Callable[[Array], Array]
) -> Array:
    """A float reduction in the lowering's passes (dnn_kernels.reduce): one per run of
    adjacent axes, the last run first, each `one_pass` over the run flattened into
    axis 1 of an (outer, length, inner) view, as xd_reduce_f32 walks it."""
    if x.ndim == 0:
        return one_pass(x.reshape(1, 1, 1)).reshape(())
    ordered = sorted(axes) if len(axes) else list(range(x.ndim))
    runs: list[list[int]] = []
    for a in ordered:
        if runs and runs[-1][-1] == a - 1:
            runs[-1].append(a)
        else:
            runs.append([a])
    y = x
    for run in reversed(runs):
        lead, tail = y.shape[: run[0]], y.shape[run[-1] + 1 :]
        length = math.prod(y.shape[run[0] : run[-1] + 1])
        rows = y.reshape(math.prod(lead), length, math.prod(tail))
        y = one_pass(rows).reshape(*lead, *[1] * len(run), *tail)
    return y if keepdims else y.reshape([d for k, d in enumerate(y.shape) if k not in ordered])


def _sum_pass(rows: Array) -> Array:
    return _sequential_sum(rows, 1)


def _mean_pass(rows: Array) -> Array:
    return _sequential_sum(rows, 1) / _scalar(rows.shape[1], rows.dtype)


def reduce_sum(x: Array, *, axes: Sequence[int], keepdims: bool) -> Array:
    """Sum in x's dtype (numpy would widen small integers to int64)."""
    if _is_int(x.dtype):
        s = np.sum(x.astype(np.int64), axis=_axes(axes), keepdims=keepdims)
        return np.asarray(s).astype(x.dtype)
    return _float_reduce(x, axes, keepdims, _sum_pass)


def reduce_mean(x: Array, *, axes: Sequence[int], keepdims: bool) -> Array:
    """Mean in x's dtype; for integers the (wrapped) sum divided by the count,
    truncating toward zero, as onnxruntime does. Floats divide in each pass (the mean
    of means of equal-size groups)."""
    if _is_int(x.dtype):
        s = reduce_sum(x, axes=axes, keepdims=keepdims)
        count = x.size // max(s.size, 1) if x.size else 1
        return div(s, np.asarray(count, dtype=x.dtype))
    return _float_reduce(x, axes, keepdims, _mean_pass)


def reduce_max(x: Array, *, axes: Sequence[int], keepdims: bool) -> Array:
    if _is_int(x.dtype):
        return np.asarray(np.max(x, axis=_axes(axes), keepdims=keepdims))
    return _float_reduce(x, axes, keepdims, lambda rows: _first_extreme(rows, 1, largest=True))


def reduce_min(x: Array, *, axes: Sequence[int], keepdims: bool) -> Array:
    if _is_int(x.dtype):
        return np.asarray(np.min(x, axis=_axes(axes), keepdims=keepdims))
    return _float_reduce(x, axes, keepdims, lambda rows: _first_extreme(rows, 1, largest=False))


# ---------------------------------------------------------------------------
# Data movement


@_array_result
def gather(data: Array, indices: Array, *, axis: int) -> Array:
    """ONNX Gather: out shape data[:axis] + indices + data[axis+1:]; negative indices
    count from the end of `axis`."""
    ax = axis + data.ndim if axis < 0 else axis
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + data.shape[ax], idx)
    return np.take(data, idx, axis=ax)


def transpose(x: Array, *, perm: Sequence[int] | None = None) -> Array:
    """`perm` None reverses the dims (the ONNX default)."""
    return np.transpose(x, None if perm is None else tuple(perm))


def reshape(x: Array, *, shape: Sequence[int]) -> Array:
    return x.reshape(tuple(shape))


def concat(xs: Sequence[Array], *, axis: int) -> Array:
    return np.concatenate(list(xs), axis=axis)


@_array_result
def slice(x: Array, *, starts: Sequence[int], ends: Sequence[int], steps: Sequence[int]) -> Array:
    """`x[starts:ends:steps]` per dim, with Python slice semantics.

    Bounds are full rank and already normalised by the frontend. Careful: with a
    negative step, "through index 0" must be spelled as an end < -dim (e.g. -dim-1),
    not -1, which Python (and the dnn.slice verifier) read as the last index.
    """
    if not len(starts) == len(ends) == len(steps) == x.ndim:
        raise ValueError(f"slice: starts/ends/steps need {x.ndim} entries")
    return x[tuple(builtins.slice(b, e, s) for b, e, s in zip(starts, ends, steps, strict=True))]


def split(x: Array, *, axis: int, sizes: Sequence[int]) -> list[Array]:
    if sum(sizes) != x.shape[axis]:
        raise ValueError(f"split: sizes {list(sizes)} do not add up to {x.shape[axis]}")
    cuts = np.cumsum(sizes)[:-1]
    return list(np.split(x, cuts, axis=axis))


def expand(x: Array, *, shape: Sequence[int]) -> Array:
    """ONNX Expand: broadcasts both ways, so the result is broadcast(x.shape, shape)."""
    out = np.broadcast_shapes(x.shape, tuple(shape))
    return np.array(np.broadcast_to(x, out))


def pad(x: Array, *, pads: Sequence[int], value: float = 0) -> Array:
    """Constant-mode Pad; pads = begins…, ends…; negative pads crop."""
    r = x.ndim
    if len(pads) != 2 * r:
        raise ValueError(f"pad: pads need {2 * r} entries")
    begins, ends = pads[:r], pads[r:]
    crop = tuple(
        builtins.slice(-min(b, 0), x.shape[i] + min(e, 0))
        for i, (b, e) in enumerate(zip(begins, ends, strict=True))
    )
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends, strict=True)]
    return np.pad(x[crop], widths, mode="constant", constant_values=_scalar(value, x.dtype))


def tile(x: Array, *, repeats: Sequence[int]) -> Array:
    if len(repeats) != x.ndim:
        raise ValueError(f"tile: repeats need {x.ndim} entries")
    return np.tile(x, tuple(repeats))


def scatter_nd(data: Array, indices: Array, updates: Array) -> Array:
    """ONNX ScatterND (reduction none): a copy of `data` with the slices that `indices`
    (shape [..., q]) address replaced by `updates`; negative indices count from the end."""
    out = data.copy()
    q = indices.shape[-1]
    flat_idx = indices.reshape(-1, q).astype(np.int64)
    flat_upd = updates.reshape(flat_idx.shape[0], *data.shape[q:])
    for row, upd in zip(flat_idx, flat_upd, strict=True):
        out[tuple(int(i) % d for i, d in zip(row, data.shape, strict=False))] = upd
    return out


def _per_axis(param: Array, x: Array, axis: int) -> Array:
    if param.ndim == 0 or param.size == 1 or x.ndim == 0:
        return param.reshape(())
    shape = [1] * x.ndim
    shape[axis] = param.size
    return param.reshape(shape)


def quantize_linear(x: Array, scale: Array, zero_point: Array, *, axis: int = 1) -> Array:
    """ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), computed
    in float32 as onnxruntime does."""
    dtype = zero_point.dtype
    info = np.iinfo(dtype)
    s = _per_axis(scale, x, axis).astype(np.float32)
    zp = _per_axis(zero_point, x, axis).astype(np.float32)
    q = np.rint(x.astype(np.float32) / s) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_linear(x: Array, scale: Array, zero_point: Array, *, axis: int = 1) -> Array:
    """ONNX DequantizeLinear: (x - zero_point) * scale in float32."""
    s = _per_axis(scale, x, axis).astype(np.float32)
    zp = _per_axis(zero_point, x, axis).astype(np.int32)
    return ((x.astype(np.int32) - zp).astype(np.float32) * s).astype(np.float32)
