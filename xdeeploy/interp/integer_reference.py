"""Bit-exact numpy semantics of Deeploy's integer operators (part A).

Deeploy (github.com/pulp-platform/Deeploy) deploys "fake-quantized" ONNX graphs:
float32 tensors holding integers, with custom ops (``RequantShift``, ``iGELU``,
``iHardswish``, ``TrueIntegerDiv``, ``IntegerMean``, …) whose parameters are node
attributes. This module gives one pure function per op, written from Deeploy's
parsers, type checkers and C reference kernels (``Deeploy/Targets/Generic``,
``TargetLibraries/Generic/src``, and the PULPOpen bindings for the ops the Generic
platform lacks), and checked bit-exactly against the golden data of Deeploy's tests
(``test/test_integer_reference.py``).

Conventions
-----------
* **Values, not storage.** Every function takes integer arrays holding the *true*
  values (what the golden ``outputs.npz``/``activations.npz`` hold) and returns an
  ``int64`` array computed exactly: no intermediate wraps. Shape-only ops
  (transpose, reshape, concat, gather, max_pool) keep their input dtype.
  Deeploy's C kernels accumulate in ``int32``; for the golden data of its tests the
  exact result and the ``int32`` one agree (:func:`fits` checks a result against a
  C type; :func:`wrap` emulates the C truncation where one wants it).
* **Parameters are explicit keywords**, already converted to Python ints (the ONNX
  attributes are often float tensors: :func:`attr_int` does that conversion).
* **Types.** ``<op>_type(...)`` returns the ``numpy`` dtype Deeploy's Generic type
  checkers give the op's output in C. Deeploy's Generic platform is a
  *sign-propagating* platform: unsigned data are stored in the signed type of the
  same width with an offset of ``-n_levels/2`` (:func:`signprop_storage`); the
  kernels add the offsets back, so values are unaffected. ``requant_shift_type``
  returns the value type (``uint8`` for ``signed=0``); Deeploy stores it as
  ``int8`` value-128.

Only the integer variants are here; the float ops are in :mod:`reference`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from xdeeploy.interp import reference as ref

IntArray = npt.ArrayLike  # integer-valued input (any integer dtype, or integral floats)
AnyArray = npt.NDArray[Any]
I64 = npt.NDArray[np.int64]

__all__ = [
    "add", "add_type", "attr_int", "cmsis_emulated_add", "concat", "concat_type", "conv",
    "conv_type", "fits", "gather", "gather_type", "gemm", "gemm_type", "igelu",
    "igelu_type", "ihardswish", "ihardswish_type", "infer_input_type", "integer_div",
    "integer_div_type", "integer_mean", "integer_mean_type", "matmul", "matmul_type",
    "max_pool", "max_pool_type", "mul", "mul_type", "requant_shift", "requant_shift_type",
    "requantized_igelu", "requantized_ihardswish", "reshape", "reshape_type",
    "signprop_storage", "sub", "sub_type", "transpose", "transpose_type",
    "true_integer_div", "true_integer_div_coeff", "true_integer_div_type", "wrap",
]  # fmt: skip

_INT8 = np.dtype(np.int8)
_INT32 = np.dtype(np.int32)


def _i64(x: npt.ArrayLike) -> I64:
    a = np.asarray(x)
    if a.dtype.kind == "f":
        if not np.all(a == np.round(a)):
            raise ValueError("integer op given non-integral values")
        return a.astype(np.int64)
    if a.dtype.kind not in "iub":
        raise TypeError(f"integer op given {a.dtype} data")
    return a.astype(np.int64, copy=False)


def attr_int(value: Any) -> int:
    """An ONNX attribute (int, float, or 1-element tensor/ndarray) as an exact int.

    Deeploy's parsers accept both spellings (``int(NodeParser._unpack_const(...))``):
    RequantShift's ``div``/``n_levels_out``/``signed`` and iSoftmax/iLayerNorm's
    parameters are float32 tensors, iGELU/iHardswish/TrueIntegerDiv's are ints.
    """
    a = np.asarray(value)
    if a.size != 1:
        raise ValueError(f"expected a scalar attribute, got shape {a.shape}")
    v = a.reshape(()).item()
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(f"attribute {v} is not integral")
        return int(v)
    return int(v)


def fits(x: npt.ArrayLike, dtype: npt.DTypeLike) -> bool:
    """Whether all of `x` is representable in the integer `dtype` (no C overflow)."""
    a = np.asarray(x)
    info = np.iinfo(np.dtype(dtype).type)
    return a.size == 0 or (int(a.min()) >= info.min and int(a.max()) <= info.max)


def wrap(x: npt.ArrayLike, dtype: npt.DTypeLike) -> AnyArray:
    """`x` cast to `dtype` with two's-complement wrap-around (what a C store does)."""
    return np.asarray(x).astype(np.int64).astype(np.dtype(dtype))


# ---------------------------------------------------------------------------
# Types


_SIGNED = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
_UNSIGNED = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def infer_input_type(values: npt.ArrayLike) -> np.dtype[Any]:
    """The C type Deeploy's test harness gives a graph input, from its data.

    ``DeeployTest/testUtils/typeMapping.py::inferMinimalType``:

    * empty → int8; a float array of zeros only → float32 (an integer one → uint8);
    * "integer" data (``max|x.astype(int) - x| <= 0.001``) → ``minimalIntegerType``:
      the integer types sorted by (width, signed), i.e. *unsigned first* at each
      width, the first whose range holds min..max. So ``[-128, 127]`` → int8,
      ``[0, 255]`` → uint8, ``[0, 127]`` → **uint8** too, ``[-129, 5]`` → int16;
    * anything else → float32.

    On sign-propagating platforms (Generic) an unsigned result is then stored as
    the signed type of the same width with offset ``2**(w-1)``
    (:func:`signprop_storage`); the buffer is marked ``_signed = (offset == 0)``
    and ``nLevels = 2**w``. (``--input-type-map``/``--input-offset-map`` override.)
    """
    a = np.asarray(values)
    if a.size == 0:
        return _INT8
    if a.dtype.kind == "f":
        if not np.any(a) or float(np.abs(a.astype(np.int64) - a).max()) > 0.001:
            return np.dtype(np.float32)
    elif a.dtype.kind not in "iub":
        raise TypeError(f"cannot type {a.dtype} data")
    lo, hi = a.min().item(), a.max().item()
    for width in (8, 16, 32, 64):
        for dt in (_UNSIGNED[width], _SIGNED[width]):
            info = np.iinfo(dt)
            if info.min <= lo and hi <= info.max:
                return np.dtype(dt)
    raise ValueError(f"no integer type holds [{lo}, {hi}]")


def signprop_storage(dtype: npt.DTypeLike) -> tuple[np.dtype[Any], int]:
    """(storage dtype, offset) on a sign-propagating platform (Generic, MemPool, …).

    ``typeMapping.signPropTypeAndOffset``: unsigned types are stored in the signed
    type of the same width, value − offset, offset = ``2**(width-1)``; signed types
    are unchanged (offset 0). Kernels re-add ``nLevels/2`` for inputs marked
    unsigned and subtract it for unsigned outputs.
    """
    dt = np.dtype(dtype)
    if dt.kind == "i":
        return dt, 0
    if dt.kind == "u":
        width = dt.itemsize * 8
        return np.dtype(_SIGNED[width]), 2 ** (width - 1)
    raise TypeError(f"not an integer type: {dt}")


def requant_shift_type(*, signed: bool, n_levels: int) -> np.dtype[Any]:
    """RequantShift output type: the narrowest type with `n_levels` levels.

    ``RequantShiftChecker``: ``nLevels = n_levels``, ``_signed = signed``. The
    Generic binding (``BasicRQSBindings``) always declares ``int8_t`` output: for
    ``signed=0`` the values 0..n_levels-1 are stored as int8 with offset -n_levels/2
    (:func:`signprop_storage` of the uint8 returned here).
    """
    width = 8
    while 2**width < n_levels:
        width *= 2
    return np.dtype(_SIGNED[width] if signed else _UNSIGNED[width])


def add_type(a_dtype: npt.DTypeLike, b_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Integer Add: ``int32`` for any pair of integer inputs (``BasicAddBindings``).

    ``AddChecker``: nLevels = nLevels(a) + nLevels(b); signed if `a` is signed or `b`
    a constant.
    """
    _ = (a_dtype, b_dtype)
    return _INT32


def sub_type(a_dtype: npt.DTypeLike, b_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Integer Sub: ``int32`` (``BasicSubBindings``, same checker as Add)."""
    _ = (a_dtype, b_dtype)
    return _INT32


def mul_type(a_dtype: npt.DTypeLike, b_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Integer Mul: ``int32`` for any pair of *signed* integer inputs
    (``BasicMulBindings``; unsigned data reach it as signed storage + offset)."""
    _ = (a_dtype, b_dtype)
    return _INT32


def matmul_type(a_dtype: npt.DTypeLike, b_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Integer MatMul: ``int8 × int8 → int32`` (``BasicMatMulBindings``; the only
    integer binding, so both operands must be 8-bit). ``MatMulChecker``: signed."""
    _ = (a_dtype, b_dtype)
    return _INT32


def gemm_type(a_dtype: npt.DTypeLike, b_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Integer Gemm: ``int8, int8, int32 (bias) → int32`` (``BasicGEMMBindings``)."""
    _ = (a_dtype, b_dtype)
    return _INT32


def conv_type(x_dtype: npt.DTypeLike, w_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Integer Conv (1D/2D, regular and depthwise): ``int8 × int8 → int32``, no bias
    input (``BasicConv{1,2}DBindings``). ``ConvChecker``: signed like the input."""
    _ = (x_dtype, w_dtype)
    return _INT32


def max_pool_type(x_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Integer MaxPool: ``int8 → int8`` (``BasicMaxPool{1,2}DBindings``); the value
    type of the input is kept (``MaxPoolChecker``: same levels and sign)."""
    return np.dtype(x_dtype)


def gather_type(x_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Gather: same type as the data (``BasicGatherBindings``, signed data types)."""
    return np.dtype(x_dtype)


def concat_type(*dtypes: npt.DTypeLike) -> np.dtype[Any]:
    """Concat: both inputs and the output share one type (``BasicConcatBindings``;
    ``ConcatChecker``: nLevels = max, all inputs of the same sign)."""
    dts = {np.dtype(d) for d in dtypes}
    if len(dts) != 1:
        raise ValueError(f"Deeploy's Concat needs equal input types, got {sorted(map(str, dts))}")
    return dts.pop()


def transpose_type(x_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Transpose: same type (``BasicTransposeBindings``)."""
    return np.dtype(x_dtype)


def reshape_type(x_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Reshape/Flatten/Squeeze/Unsqueeze: same type, buffer aliased (no copy)."""
    return np.dtype(x_dtype)


def integer_mean_type(x_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """IntegerMean (→ ReduceMean layer): same type as the input, signed types only
    (``BasicReduceMeanBindings``; ``ReduceMeanChecker``: sign of the input)."""
    return np.dtype(x_dtype)


def integer_div_type() -> np.dtype[Any]:
    """IntegerDiv: ``int32 / int32 → int32`` (``BasicDivBindings``; both inputs must
    already be int32 buffers)."""
    return _INT32


def true_integer_div_type() -> np.dtype[Any]:
    """TrueIntegerDiv: int32. Deeploy has no kernel for it: its platforms that see
    it (PULPOpen, Snitch) fold TrueIntegerDiv→RequantShift into one RequantShift
    (``MergeTrueIntegerDivRequantShiftPass``), so the product only exists as the
    RequantShift's int32 intermediate."""
    return _INT32


def ihardswish_type(x_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """iHardswish: ``int8 → int32`` (PULPOpen/GAP9 ``iHardswishBindings``;
    ``HardswishChecker``: nLevels = 2**32, sign of the input). Not on Generic."""
    _ = x_dtype
    return _INT32


def igelu_type(x_dtype: npt.DTypeLike) -> np.dtype[Any]:
    """iGELU: ``int8 → int32`` (``BasicGELUBindings``; ``GELUChecker``: sign of the
    input). Generic fuses iGELU→RequantShift into RequantizediGELU (int8 out)."""
    _ = x_dtype
    return _INT32


# ---------------------------------------------------------------------------
# RequantShift


def requant_shift(
    x: IntArray,
    mul: IntArray,
    add: IntArray,
    *,
    div: int,
    n_levels: int,
    signed: bool,
) -> I64:
    """``clip(floor((x·mul + add + div/2) / div), lo, hi)``.

    * `div` must be a power of two (Deeploy parses ``log2D = int(log2(div))``); the
      division is an arithmetic right shift by log2(div) after adding
      ``div/2 = 1 << (log2D-1)`` (nothing for div = 1): round half up
      (``RequantShift_s8.c``, called with ``rounding = 1``).
    * Range: ``[-n_levels/2, n_levels/2 - 1]`` if `signed`, else ``[0, n_levels-1]``
      (the C kernel clamps the offset representation to the signed range).
    * `mul` and `add` broadcast numpy-style; Deeploy requires them per channel
      (axis 1, shape ``(C, 1, …)``/``(1, C, 1, …)``) or scalar.
    * Exact (int64). Deeploy's C computes ``x·mul + add`` in ``int32``.
    * The attributes arrive as float tensors (``div``, ``signed``, and
      ``n_levels_out`` or ``n_levels``: Deeploy accepts both names).

    The golden data of Deeploy's tests use `add` as stored in the graph; Deeploy's
    test harness additionally rounds ``add`` to a multiple of ``mul``
    (:func:`cmsis_emulated_add`), which can change single intermediate values.
    """
    if div < 1 or div & (div - 1):
        raise ValueError(f"RequantShift: div {div} is not a power of two")
    if n_levels < 2:
        raise ValueError(f"RequantShift: n_levels {n_levels}")
    shift = div.bit_length() - 1
    acc = _i64(x) * _i64(mul) + _i64(add)
    if shift > 0:
        acc = acc + (1 << (shift - 1))
    y = acc >> shift
    lo, hi = (-(n_levels // 2), n_levels // 2 - 1) if signed else (0, n_levels - 1)
    return np.clip(y, lo, hi)


def cmsis_emulated_add(add: IntArray, mul: IntArray) -> I64:
    """``round(add / (mul + 0.001)) · mul``: the RequantShift ``add`` Deeploy's test
    harness actually deploys on non-CMSIS platforms (``EmulateCMSISRequantPass``,
    inserted by ``generateNetwork.py`` except for CNN_Linear1, GEMM/Regular_RQPerRow
    and MatMul/Regular_RQ); float64, numpy's round-half-even.

    The golden data are computed with the *unrounded* add: in ICCT two
    RequantShifts with a non-zero add each differ in one element when this is
    applied (the network output is unchanged). Use it only to mimic Deeploy's C.
    """
    a = np.asarray(add, dtype=np.float64)
    m = np.asarray(mul, dtype=np.float64)
    return (np.round(a / (m + 1e-3)) * m).astype(np.int64)


# ---------------------------------------------------------------------------
# Elementwise integer arithmetic


def add(a: IntArray, b: IntArray) -> I64:
    """``a + b`` exactly, numpy broadcasting (Deeploy: int32 out, ``AddTemplate``
    adds the sign-propagation offsets of unsigned operands back)."""
    return _i64(a) + _i64(b)


def sub(a: IntArray, b: IntArray) -> I64:
    """``a - b`` exactly (Deeploy: int32 out, ``SubTemplate``)."""
    return _i64(a) - _i64(b)


def mul(a: IntArray, b: IntArray) -> I64:
    """``a · b`` exactly (Deeploy: int32 out, ``MulTemplate``; B may be a scalar)."""
    return _i64(a) * _i64(b)


# ---------------------------------------------------------------------------
# Linear algebra


def matmul(a: IntArray, b: IntArray) -> I64:
    """``numpy.matmul`` in int64 (batch dims broadcast; Deeploy only broadcasts a
    batch of 1). Deeploy: ``MatMul_s8_s8_s32``, int32 accumulator."""
    return np.matmul(_i64(a), _i64(b))


def gemm(
    a: IntArray,
    b: IntArray,
    c: IntArray | None = None,
    *,
    alpha: int = 1,
    beta: int = 1,
    trans_a: bool = False,
    trans_b: bool = False,
) -> I64:
    """``alpha · op(a) @ op(b) + beta · c`` in int64 (`c` broadcast).

    Deeploy: ``Gemm_s8_s8_s32_s32`` (int32 sum); non-integral alpha/beta are folded
    into a constant operand by ``GenericGEMMParser``, so they must be integral here.
    MatMul followed by a constant Add becomes a Gemm (``MatMulAddMergePass``):
    same values.
    """
    a2 = _i64(a)
    b2 = _i64(b)
    if trans_a:
        a2 = np.swapaxes(a2, -1, -2)
    if trans_b:
        b2 = np.swapaxes(b2, -1, -2)
    y = np.matmul(a2, b2) * np.int64(alpha)
    if c is not None:
        y = y + _i64(c) * np.int64(beta)
    return y


def conv(
    x: IntArray,
    w: IntArray,
    b: IntArray | None = None,
    *,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int] | None = None,
    group: int = 1,
) -> I64:
    """ONNX Conv on integers, exact int64 accumulation, zero padding.

    Deeploy: padding is split off into a Pad node of value 0 (``ExtractPadding-
    FromConvPass``; only when ``sum(pads) > 1``!), then ``Conv2d_s8_s8_s32_NCHW``
    (no bias, no dilation) or the depthwise kernel (group = channels).
    """
    nsp = np.asarray(x).ndim - 2
    return ref.conv(
        _i64(x),
        _i64(w),
        None if b is None else _i64(b),
        strides=list(strides),
        pads=list(pads),
        dilations=list(dilations) if dilations is not None else [1] * nsp,
        group=group,
    )


# ---------------------------------------------------------------------------
# Shape / data movement (dtype preserved)


def max_pool(
    x: IntArray,
    *,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
) -> AnyArray:
    """ONNX MaxPool (no dilation, ``ceil_mode = 0``: Deeploy's integer parsers
    accept nothing else). Padding is the dtype's lowest value (Deeploy pads with
    -128 and starts the running max at -128: the same for int8)."""
    nsp = np.asarray(x).ndim - 2
    return ref.max_pool(
        np.asarray(x),
        kernel_shape=list(kernel_shape),
        strides=list(strides),
        pads=list(pads),
        dilations=[1] * nsp,
        ceil_mode=False,
    )


def gather(x: IntArray, indices: IntArray, *, axis: int) -> AnyArray:
    """ONNX Gather. Deeploy only supports a single index (a memcpy per batch)."""
    return ref.gather(np.asarray(x), np.asarray(indices), axis=axis)


def concat(xs: Sequence[IntArray], *, axis: int) -> AnyArray:
    """ONNX Concat (Deeploy's template handles two inputs)."""
    return np.concatenate([np.asarray(v) for v in xs], axis=axis)


def transpose(x: IntArray, *, perm: Sequence[int] | None = None) -> AnyArray:
    """ONNX Transpose (perm None reverses the axes)."""
    return np.ascontiguousarray(np.transpose(np.asarray(x), None if perm is None else perm))


def reshape(x: IntArray, *, shape: Sequence[int]) -> AnyArray:
    """ONNX Reshape, ``allowzero = 0``: 0 copies the input dim, one -1 is inferred."""
    a = np.asarray(x)
    target = [a.shape[i] if int(s) == 0 else int(s) for i, s in enumerate(shape)]
    return a.reshape(target)


# ---------------------------------------------------------------------------
# Reductions and divisions


def integer_mean(x: IntArray, *, axes: Sequence[int], keepdims: bool) -> I64:
    """Integer mean over `axes` with rounding (``ReduceMeanTemplate``).

    With ``L`` = number of reduced elements and ``s`` their exact sum:

    * L a power of two: ``(s + L/2) >> log2(L)`` — round half up (floor shift);
    * otherwise: ``trunc((s + sgn·(L >> 1)) / L)`` with ``sgn = +1 if s >= 0 else
      -1`` — round half away from zero.

    (Deeploy's ``keepdims = 1`` branch always takes the second formula; that
    branch does not compile as written, only ``keepdims = 0`` is exercised.)
    The sum is ``int32`` in Deeploy's C.
    """
    a = _i64(x)
    ax = tuple(int(v) + a.ndim if int(v) < 0 else int(v) for v in axes)
    length = math.prod(a.shape[i] for i in ax)
    s = a.sum(axis=ax, keepdims=keepdims)
    if length & (length - 1) == 0 and not keepdims:
        shift = length.bit_length() - 1
        return (s + ((1 << shift) >> 1)) >> shift
    sgn = np.where(s >= 0, 1, -1)
    return _trunc_div(s + sgn * (length >> 1), np.int64(length))


def _trunc_div(n: I64, d: npt.ArrayLike) -> I64:
    """C integer division (truncation toward zero), exact on int64."""
    dd = _i64(d)
    q = np.abs(n) // np.abs(dd)
    return np.where((n < 0) ^ (dd < 0), -q, q)


def integer_div(
    a: IntArray,
    b: IntArray,
    *,
    Delta: int,  # noqa: N803 (ONNX attribute name)
    eps: int,
    eta: int,
) -> I64:
    """Deeploy's IntegerDiv (``Div_s32.c``): ``a·Δ / b`` rounded half away from zero.

    ``den = eta·b + eps``, ``nom = Δ·eta·a``; result
    ``trunc((nom + sgn(a)·(den >> 1)) / den)`` with ``sgn(0) = +1`` and ``>>`` an
    arithmetic shift. `b` broadcasts numpy-style (Deeploy: along one axis).
    Exact here; the C kernel forms ``Delta*eta`` in int32 (overflows for large
    Δ·eta) and the quotient is stored as int32. No golden data exercises it.
    """
    nom = _i64(a) * (int(Delta) * int(eta))
    den = np.int64(eta) * _i64(b) + np.int64(eps)
    sgn = np.where(nom >= 0, 1, -1)
    return _trunc_div(nom + sgn * (den >> 1), den)


def true_integer_div_coeff(*, Delta: int, eps: int, eta: int, y: int) -> int:  # noqa: N803
    """``floor(Δ·eta / (y·eta + eps))`` computed exactly."""
    return (int(Delta) * int(eta)) // (int(y) * int(eta) + int(eps))


def true_integer_div(
    x: IntArray,
    *,
    Delta: int,  # noqa: N803 (ONNX attribute name)
    eps: int,
    eta: int,
    y: int,
) -> I64:
    """TrueIntegerDiv (division by the constant `y`, scaled by Δ):
    ``x · floor(Δ·eta / (y·eta + eps))``.

    The coefficient is floored first, then multiplied (verified on the golden
    activations: Δ=16384, eta=200000, eps=1, y=2 gives x·8191, not floor(x·8191.98)).
    Deeploy folds it into the next RequantShift (``_merge_trueintegerdiv_rq_fun``):
    ``mul' = mul·coeff·256, div' = div·256`` with scalar mul, zero add — the same
    values, since ``(v·256 + 2^(k+7)) >> (k+8) == (v + 2^(k-1)) >> k``.
    """
    return _i64(x) * np.int64(true_integer_div_coeff(Delta=Delta, eps=eps, eta=eta, y=y))


# ---------------------------------------------------------------------------
# Integer activations


def ihardswish(x: IntArray, *, one_over_six: int, six: int, three: int) -> I64:
    """``x · (clip(x + three, 0, six) · one_over_six)`` (``Hardswish_s8.c``
    ``iHardswish_s8_s32``). int32 out; no rounding, no shift: the scale is folded
    into the following RequantShift."""
    a = _i64(x)
    return a * (np.clip(a + int(three), 0, int(six)) * int(one_over_six))


def igelu(x: IntArray, *, b: int, one: int) -> I64:
    """I-BERT's integer GELU (``GELU_s8.c`` ``GELU_s8_s32``), `b` < 0:

    ``q = min(|x|, -b)``, ``L = sgn(x)·(one - (q + b)²)``,
    ``out = x · ((one + L) >> 1)`` (arithmetic shift, i.e. floor). int32 out.
    """
    a = _i64(x)
    bb, oo = int(b), int(one)
    q = np.minimum(np.abs(a), -bb)
    d = q + bb
    s = np.sign(a)
    return a * ((oo + s * (oo - d * d)) >> 1)


def requantized_igelu(
    x: IntArray,
    *,
    b: int,
    one: int,
    mul: int,
    add: int,
    div: int,
    n_levels: int = 256,
    signed: bool = True,
) -> I64:
    """iGELU followed by RequantShift, as Generic fuses them (``RQGELU_s8.c``).

    Equal to ``requant_shift(igelu(x), mul, add, …)`` when ``add == 0``. Deeploy's
    fusion (``iGELURequantMergePass``) replaces ``add`` by ``round(add/mul)``
    without re-multiplying, so for ``add != 0`` the fused kernel differs from the
    unfused graph; this function gives the unfused (golden) value.
    """
    return requant_shift(
        igelu(x, b=b, one=one), mul, add, div=div, n_levels=n_levels, signed=signed
    )


def requantized_ihardswish(
    x: IntArray,
    *,
    one_over_six: int,
    six: int,
    three: int,
    mul: int,
    add: int,
    div: int,
    n_levels: int = 256,
    signed: bool = True,
) -> I64:
    """iHardswish followed by RequantShift (PULPOpen's RequantizediHardswish,
    ``RQHardswish.c``); same caveat on a non-zero ``add`` as
    :func:`requantized_igelu`."""
    return requant_shift(
        ihardswish(x, one_over_six=one_over_six, six=six, three=three),
        mul,
        add,
        div=div,
        n_levels=n_levels,
        signed=signed,
    )
