"""Deeploy's integer softmax and normalisation operators, bit-exact, in numpy.

One function per ONNX custom op — ``iSoftmax`` (:func:`i_softmax`), ``ITAMax``
(:func:`ita_max`), ``ITAPartialMax`` (:func:`ita_partial_max`), ``iRMSNorm``
(:func:`i_rms_norm`), ``iLayerNorm`` (:func:`i_layer_norm`) — and one per op giving the
output type Deeploy's type checker assigns (``*_output_type``).

The semantics are those of Deeploy's C reference kernels (``TargetLibraries/Generic`` and,
where the PULP/Snitch kernels differ, ``TargetLibraries/PULPOpen``) together with the
parsers that turn node attributes into kernel arguments; the code here is our own,
written from those semantics and checked against Deeploy's test networks.

Value convention
----------------
All functions take and return *logical* values: the integers the ONNX graph (and the
``inputs.npz``/``outputs.npz`` of Deeploy's tests) holds. Deeploy's sign-propagating
platforms (Generic, MemPool, CMSIS) store an unsigned 8-bit tensor in an ``int8_t``
buffer as ``logical - 128`` and add the offset back inside the kernels that need it; the
non-sign-propagating ones (PULPOpen/Siracusa, Snitch) store it as ``uint8_t``. Both give
the logical values computed here (see :class:`IntegerOutputType` for the storage rule).

Inputs are integer arrays with 8-bit values: ``[-128, 127]`` for a signed tensor,
``[0, 255]`` for an unsigned one (every Deeploy binding of these ops is 8-bit); any
integer dtype is accepted. Weights and biases may be integer-valued float arrays (as the
fake-quantized ONNX initializers are). Arithmetic is done in int64 with explicit two's
complement wrapping wherever the C kernel's narrower intermediate could overflow, C
division (truncation toward zero) where the kernel divides signed values, and arithmetic
right shifts (floor) where it shifts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.integer[Any]]
I64 = npt.NDArray[np.int64]

_U32 = 0xFFFF_FFFF


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class IntegerOutputType:
    """An output type as Deeploy's type checker annotates it.

    ``signed`` and ``n_levels`` are Deeploy's ``_signed`` and ``nLevels`` of the output
    buffer. The logical values lie in ``[-n_levels/2, n_levels/2 - 1]`` when signed,
    ``[0, n_levels - 1]`` when not.
    """

    signed: bool
    n_levels: int

    @property
    def bits(self) -> int:
        """Storage width in bits (8 for every op in this module)."""
        return max(8, math.ceil(math.log2(self.n_levels)))

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype holding the logical values (``uint8`` or ``int8``)."""
        return np.dtype(f"{'' if self.signed else 'u'}int{self.bits}")

    @property
    def c_type(self) -> str:
        """The C type holding the logical values (``uint8_t`` / ``int8_t``), as
        Deeploy's non-sign-propagating platforms (PULPOpen, Snitch) declare it."""
        return f"{'' if self.signed else 'u'}int{self.bits}_t"

    @property
    def signprop_offset(self) -> int:
        """What Deeploy's sign-propagating platforms (Generic, MemPool, CMSIS) subtract
        from the logical value to store it in the signed type ``int{bits}_t``:
        ``n_levels // 2`` for an unsigned output, 0 for a signed one."""
        return 0 if self.signed else self.n_levels // 2


def _check_8bit_input(input_bits: int) -> None:
    if input_bits != 8:
        raise ValueError(f"Deeploy binds this op to 8-bit inputs only, not {input_bits}-bit")


def i_softmax_output_type(
    *, n_levels: int, input_signed: bool, input_bits: int = 8
) -> IntegerOutputType:
    """Output type of ``iSoftmax``: unsigned, ``nLevels = 2**input_bits`` (= 256).

    Deeploy's ``SoftmaxChecker`` sets ``_signed = False`` and ``nLevels`` from the width
    of the *input* type; neither the ``n_levels`` attribute nor the input's signedness
    enters. Generic binds int8 -> int8 (offset storage), PULPOpen/Snitch int8|uint8 -> uint8.
    """
    del n_levels, input_signed  # not used by Deeploy's checker; kept for a uniform API
    _check_8bit_input(input_bits)
    return IntegerOutputType(signed=False, n_levels=2**input_bits)


def ita_max_output_type(
    *, n_levels: int, input_signed: bool, input_bits: int = 8
) -> IntegerOutputType:
    """Output type of ``ITAMax``: unsigned 256 levels (``SoftmaxChecker``, int8 -> int8)."""
    return i_softmax_output_type(
        n_levels=n_levels, input_signed=input_signed, input_bits=input_bits
    )


def ita_partial_max_output_type(
    *, n_levels: int, input_signed: bool, input_bits: int = 8
) -> IntegerOutputType:
    """Output type of ``ITAPartialMax``: unsigned 256 levels (``SoftmaxChecker``), although
    its values only reach ``n_levels/2 - 1``."""
    return i_softmax_output_type(
        n_levels=n_levels, input_signed=input_signed, input_bits=input_bits
    )


def i_rms_norm_output_type(
    *, n_levels: int, input_signed: bool, input_bits: int = 8
) -> IntegerOutputType:
    """Output type of ``iRMSNorm``: signed, 256 levels (int8).

    Deeploy binds it with ``LayerNormChecker([int8, int32], [int8])`` (not its
    ``RMSNormChecker``): ``_signed = True`` always, ``nLevels = 2**8``. The ``n_levels``
    attribute is parsed but unused. Only PULPOpen/GAP9 map ``iRMSNorm``; they take a
    signed int8 input only (an unsigned input has no binding there).
    """
    del n_levels, input_signed
    _check_8bit_input(input_bits)
    return IntegerOutputType(signed=True, n_levels=2**input_bits)


def i_layer_norm_output_type(
    *, n_levels: int, input_signed: bool, input_bits: int = 8
) -> IntegerOutputType:
    """Output type of ``iLayerNorm``: signed, 256 levels (``LayerNormChecker([int8,
    int32, int32], [int8])``); ``n_levels`` and the input signedness do not enter."""
    return i_rms_norm_output_type(
        n_levels=n_levels, input_signed=input_signed, input_bits=input_bits
    )


# --------------------------------------------------------------------------- helpers


def _wrap(v: I64, bits: int, signed: bool) -> I64:
    """Two's complement truncation of int64 values to ``bits`` (a C cast)."""
    mask = (1 << bits) - 1
    u = v & mask
    if signed:
        u = u - ((u >> (bits - 1)) & 1) * (1 << bits)
    return u.astype(np.int64)


def _wrap_scalar(v: int, bits: int, signed: bool) -> int:
    u = v & ((1 << bits) - 1)
    return u - (1 << bits) if signed and u >> (bits - 1) else u


def _c_div(a: I64, b: I64 | int) -> I64:
    """C integer division: quotient truncated toward zero."""
    bb = np.asarray(b, dtype=np.int64)
    if np.any(bb == 0):
        raise ZeroDivisionError("integer division by zero (Deeploy's kernel would trap)")
    q = np.abs(a) // np.abs(bb)
    return np.where((a < 0) != (bb < 0), -q, q).astype(np.int64)


def _isqrt(n: I64) -> I64:
    """floor(sqrt(n)) for n > 0, 0 for n <= 0: what ``_plp_sqrt_q32`` (a binary search
    over [0, 46342] with fracBits = 0) returns for every int32 it is given."""
    pos = np.maximum(n, 0)
    r = np.floor(np.sqrt(pos.astype(np.float64))).astype(np.int64)
    r = r - (r * r > pos)
    r = r + ((r + 1) * (r + 1) <= pos)
    return r


def _as_int(a: npt.ArrayLike, name: str, lo: int, hi: int) -> I64:
    """int64 copy of integer (or integer-valued float) data in [lo, hi]."""
    arr = np.asarray(a)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer values")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"{name} must be an integer array, not {arr.dtype}")
    out = arr.astype(np.int64)
    if out.size and (out.min() < lo or out.max() > hi):
        raise ValueError(f"{name} values [{out.min()}, {out.max()}] outside [{lo}, {hi}]")
    return out


def _input(x: IntArray) -> I64:
    """An 8-bit logical input (signed or unsigned), as int64."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"input must be an integer array, not {arr.dtype}")
    out = _as_int(arr, "input", -128, 255)
    if out.size and out.min() < 0 and out.max() > 127:
        raise ValueError(f"input values [{out.min()}, {out.max()}] fit no 8-bit type")
    return out


def _last_axis(x: I64, axis: int) -> None:
    if x.ndim == 0 or axis not in (-1, x.ndim - 1):
        raise ValueError(
            f"axis {axis} is not the last axis of a {x.ndim}-d input: Deeploy's kernels "
            "reduce over contiguous rows of length shape[axis], which is a softmax along "
            "`axis` only when it is the last one"
        )


def _log2d(d: int) -> int:
    """``int(math.log2(D))``: Deeploy's parsers turn the ``D`` attribute into a shift."""
    if d <= 0:
        raise ValueError(f"D must be positive, got {d}")
    return int(math.log2(d))


def _check_levels(n_levels: int) -> None:
    if not 2 <= n_levels <= 256:
        raise ValueError(
            f"n_levels must be in [2, 256] for Deeploy's 8-bit kernels, got {n_levels}"
        )


def _unsigned_out(q: I64, n_levels: int) -> npt.NDArray[np.uint8]:
    """Generic storage ``(int8_t)(q - n_levels/2)`` read back as an unsigned 256-level
    logical value (+128); equals ``q`` when ``n_levels == 256``."""
    stored = _wrap(q - n_levels // 2, 8, True)
    return (stored + 128).astype(np.uint8)


# --------------------------------------------------------------------------- softmax


def i_softmax(
    x: IntArray,
    *,
    coeff_a: int,
    coeff_b: int,
    coeff_c: int,
    log2: int,
    n_levels: int,
    axis: int = -1,
    kernel: Literal["generic", "pulp"] = "generic",
) -> npt.NDArray[np.uint8]:
    """Deeploy's ``iSoftmax`` (I-BERT integer exp), row-wise over the last axis.

    ``x``: 8-bit logical values (signed or unsigned; the result depends only on
    differences). Returns ``uint8`` (unsigned, 256 levels; see
    :func:`i_softmax_output_type`). Attributes ``coeffA/coeffB/coeffC/log2/n_levels`` are
    1-element float tensors in ONNX, passed here as ints.

    Per row (``Softmax_s8_s8`` in Generic; ``PULPSoftmax_{i8,u8}_u8`` on PULPOpen/Snitch):

    1. ``x_tilde = x - max(row)`` (int16, in [-255, 0]).
    2. ``z = -(x_tilde / log2)`` with C division (truncating), i.e.
       ``floor(-x_tilde / log2)``, cast to **int8** (Generic; wraps for values >= 128,
       only possible when ``log2 <= 1``) or **uint8** (PULP), then clamped to [0, 31].
    3. ``p = x_tilde + z * log2`` (int16), in ``(-log2, 0]`` unless z was clamped.
    4. ``y = (coeff_a * (p + coeff_b)**2 + coeff_c) >> z``: the square and the product
       with ``coeff_a`` in int32, ``+ coeff_c`` in int64, reinterpreted as uint64, shifted
       logically, truncated to uint32 (Generic). PULP ignores ``coeff_a`` (treats it as
       1) and computes ``(p + coeff_b)**2 + coeff_c`` in int32 -> uint32 before the shift.
    5. ``y_sum = sum(y)`` (uint32, wrapping).
    6. Generic: ``q = (y * (n_levels - 1)) / y_sum`` (uint32 product, floor division),
       stored as ``(int8)(q - n_levels/2)``; the output is unsigned 256-level, so the
       logical value is that + 128 — ``q`` itself when ``n_levels == 256`` (every
       peer network). PULP ignores ``n_levels``: ``(uint8)((y * 255) / y_sum)``.

    With ``coeff_a == 1``, ``n_levels == 256`` and ``log2 >= 2`` both kernels agree.
    """
    xi = _input(x)
    _last_axis(xi, axis)
    if log2 <= 0:
        raise ValueError(f"log2 must be positive, got {log2}")
    _check_levels(n_levels)
    if kernel not in ("generic", "pulp"):
        raise ValueError(f"unknown kernel variant {kernel!r}")

    x_tilde = xi - xi.max(axis=-1, keepdims=True)
    z = -_c_div(x_tilde, log2)
    z = _wrap(z, 8, signed=(kernel == "generic"))
    z = np.clip(z, 0, 31)
    p = _wrap(x_tilde + z * log2, 16, True)
    sq = _wrap((p + coeff_b) * (p + coeff_b), 32, True)
    if kernel == "generic":
        poly = _wrap(np.int64(_wrap_scalar(coeff_a, 32, True)) * sq, 32, True) + coeff_c
        y = (poly.astype(np.uint64) >> z.astype(np.uint64)).astype(np.int64) & _U32
    else:
        poly = _wrap(sq + _wrap_scalar(coeff_c, 32, True), 32, False)
        y = poly >> z
    y_sum = y.sum(axis=-1, keepdims=True) & _U32
    if np.any(y_sum == 0):
        raise ZeroDivisionError("iSoftmax row sum is 0 (Deeploy's kernel would trap)")
    if kernel == "generic":
        q = ((y * (n_levels - 1)) & _U32) // y_sum
        return _unsigned_out(q, n_levels)
    return (((y * 255) & _U32) // y_sum & 0xFF).astype(np.uint8)


def _ita_shift(diff: I64) -> I64:
    """ITA's exponent: ``(diff + 16) >> 5`` as uint8, i.e. round(diff / 32) — the input
    scale makes 2**-shift approximate exp(-diff * eps)."""
    return _wrap((diff + 16) >> 5, 8, False)


def ita_max(x: IntArray, *, n_levels: int, axis: int = -1) -> npt.NDArray[np.uint8]:
    """Deeploy's ``ITAMax`` (the ITA accelerator's softmax), row-wise over the last axis.

    ``x``: 8-bit logical values (result depends only on differences). Returns ``uint8``
    (unsigned, 256 levels; see :func:`ita_max_output_type`). Per row (``ITAMax_s8``):

    1. ``shift = (max(row) - x + 16) >> 5`` (uint8, in [0, 8]).
    2. ``exp_sum = sum(256 >> shift)`` (uint32).
    3. ``inv = ((n_levels - 1) * 256) / exp_sum`` (uint32 floor division; <= n_levels - 1
       since the maximum contributes 256).
    4. stored ``(int8)((inv >> shift) - n_levels/2)``, logical = stored + 128, i.e.
       ``inv >> shift`` when ``n_levels == 256``.
    """
    xi = _input(x)
    _last_axis(xi, axis)
    _check_levels(n_levels)
    shift = _ita_shift(xi.max(axis=-1, keepdims=True) - xi)
    exp_sum = (256 >> shift).sum(axis=-1, keepdims=True) & _U32
    inv = (((n_levels - 1) * 256) & _U32) // exp_sum
    return _unsigned_out(inv >> shift, n_levels)


def ita_partial_max(
    x: IntArray, *, group_width: int, n_levels: int, axis: int = -1
) -> npt.NDArray[np.uint8]:
    """Deeploy's ``ITAPartialMax``: ITAMax with a streaming (group-wise) denominator.

    ``x``: 8-bit logical values; ``group_width`` (an int attribute) must divide the row
    length. Returns ``uint8`` (unsigned 256-level type, values <= n_levels/2 - 1).
    Per row (``ITAPartialMax_s8``), with ``global_max = -128`` and ``acc = 0``:

    for each group of ``group_width`` columns, in order:
      ``m = max(group)``; if ``m > global_max``: ``acc >>= (m - global_max + 16) >> 5``
      and ``global_max = m``; then ``acc += sum(256 >> ((global_max - x + 16) >> 5))``
      over the group (uint32).

    Then ``inv = ((n_levels/2 - 1) * 256) / acc`` (the "scale to 127" of ITA's signed
    dot-product units) and ``out = (int8)((inv >> shift) - n_levels/2)`` with
    ``shift = (global_max - x + 16) >> 5``; logical = stored + 128.
    """
    xi = _input(x)
    _last_axis(xi, axis)
    _check_levels(n_levels)
    length = xi.shape[-1]
    if group_width <= 0 or length % group_width:
        raise ValueError(f"group_width {group_width} does not divide the row length {length}")
    rows = xi.reshape(-1, length // group_width, group_width)
    global_max = np.full(rows.shape[0], -128, dtype=np.int64)
    acc = np.zeros(rows.shape[0], dtype=np.int64)
    for g in range(rows.shape[1]):
        group = rows[:, g, :]
        m = group.max(axis=-1)
        rescale = np.where(m > global_max, (m - global_max + 16) >> 5, 0)
        global_max = np.maximum(global_max, m)
        exp_sum = (256 >> _ita_shift(global_max[:, None] - group)).sum(axis=-1)
        acc = ((acc >> rescale) + exp_sum) & _U32
    shift = _ita_shift(global_max.reshape(xi.shape[:-1] + (1,)) - xi)
    inv = (((n_levels // 2 - 1) * 256) & _U32) // acc.reshape(xi.shape[:-1] + (1,))
    return _unsigned_out(inv >> shift, n_levels)


# --------------------------------------------------------------------------- norms


def i_rms_norm(
    x: IntArray,
    weight: npt.ArrayLike,
    *,
    d: int,
    n_levels: int = 256,
    axis: int = -1,
) -> npt.NDArray[np.int8]:
    """Deeploy's ``iRMSNorm``, over the dims from ``axis`` to the end (flattened).

    ``x``: 8-bit logical values; ``weight``: int32-range integers with as many elements
    as the normalised dims (ONNX stores them as float). ``d`` is the ``D`` attribute
    (an int; shift ``log2D = int(log2(D))``); ``n_levels`` is parsed by Deeploy but
    unused. Returns ``int8`` (see :func:`i_rms_norm_output_type`).

    Per row of ``L`` elements (``iRMSnorm_s8_s8`` Generic / ``iRMSnorm_s8_s8_plp``):

    1. ``ms = sum(x * x) / L + 1`` (int32 sum of int16 squares; floor division).
    2. ``std = floor(sqrt(ms))`` (integer binary-search square root).
    3. ``out = clamp(((x * weight) / std) >> log2D, -128, 127)``: the product in int32
       (wrapping), C division (truncation toward zero), arithmetic shift (floor).

    PULP's kernel casts ``ms`` to int16 before its square root (exact for int8 input,
    where ``ms <= 16385``) and accepts signed int8 inputs only.
    """
    xi = _input(x)
    if xi.ndim == 0:
        raise ValueError("iRMSNorm needs at least one axis")
    ax = axis + xi.ndim if axis < 0 else axis
    if not 0 <= ax < xi.ndim:
        raise ValueError(f"axis {axis} out of range for a {xi.ndim}-d input")
    length = math.prod(xi.shape[ax:])
    w = _as_int(weight, "weight", -(2**31), 2**31 - 1).reshape(-1)
    if w.size != length:
        raise ValueError(f"weight has {w.size} elements, the normalised dims {length}")
    shift = _log2d(d)

    rows = xi.reshape(-1, length)
    temp = _wrap(rows, 16, True)
    total = _wrap((temp * temp).sum(axis=-1, keepdims=True), 32, True)
    ms = _wrap(_c_div(total, length) + 1, 32, True)
    std = _isqrt(ms)
    out = _c_div(_wrap(rows * w, 32, True), std) >> shift
    return np.clip(out, -128, 127).astype(np.int8).reshape(xi.shape)


def i_layer_norm(
    x: IntArray,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike,
    *,
    d: int,
    n_levels: int = 256,
) -> npt.NDArray[np.int8]:
    """Deeploy's ``iLayerNorm``, over the last axis (there is no axis attribute).

    ``x``: 8-bit logical values; ``weight``/``bias``: int32-range integers of the last
    dim's length (float in ONNX). ``d`` is the ``D`` attribute (a 1-element float tensor
    in ONNX; shift ``log2D = int(log2(D))``); ``n_levels`` is parsed but unused.
    Returns ``int8`` (see :func:`i_layer_norm_output_type`).

    Per row of ``L`` elements (``Layernorm_s8_s8``; the Generic template adds back the
    storage offset of an unsigned input, so it works on the logical values):

    1. ``mean = sum(x) / L`` (int32, C division: truncation toward zero).
    2. ``var = sum(t * t) / L + 1`` with ``t = (int16)(x - mean)`` (int32 sum).
    3. ``std = floor(sqrt(var))`` (integer binary-search square root).
    4. ``out = (int8)((((x - mean) * weight) / std + bias) >> log2D)``: int64 product,
       C division, arithmetic shift; the final cast **wraps** (no clamping).
    """
    xi = _input(x)
    if xi.ndim == 0:
        raise ValueError("iLayerNorm needs at least one axis")
    length = xi.shape[-1]
    w = _as_int(weight, "weight", -(2**31), 2**31 - 1).reshape(-1)
    b = _as_int(bias, "bias", -(2**31), 2**31 - 1).reshape(-1)
    if w.size != length or b.size != length:
        raise ValueError(f"weight/bias have {w.size}/{b.size} elements, the last dim {length}")
    shift = _log2d(d)

    total = _wrap(xi.sum(axis=-1, keepdims=True), 32, True)
    mean = _c_div(total, length)
    centred = xi - mean
    temp = _wrap(centred, 16, True)
    sq = _wrap((temp * temp).sum(axis=-1, keepdims=True), 32, True)
    var = _wrap(_c_div(sq, length) + 1, 32, True)
    std = _isqrt(var)
    out = (_c_div(centred * w, std) + b) >> shift
    return _wrap(out, 8, True).astype(np.int8)
