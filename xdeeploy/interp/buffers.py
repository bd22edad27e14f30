"""numpy-backed interpreter functions for the buffer level: `memref` and `kernel`.

A memref value is a numpy array with the memref's shape that *aliases* the memory it
names, as a C pointer does: each `memref.view` is a typed window onto one byte array
per arena global, a `memref.reinterpret_cast` a window onto its source's storage, and
each `kernel.call` runs the C kernel's semantics in place on those windows. A planning
bug (two live buffers sharing bytes) therefore changes the results here as it would in C.

Kernels address memory only through `Memory.at`: elements at the kernel's strides from
the buffer's start (negative strides included), after checking that every element lies
inside the allocation the buffer belongs to, so an out-of-bounds access raises instead
of reading garbage. A call whose output bytes overlap an input's is reported too (the
header's rule: buffers never overlap unless a kernel says so). Fresh memory (allocs,
arenas, outputs) is filled with 0xFF bytes: NaN as a float, -1 as a signed integer, so
reading memory nobody wrote shows in the results.

xDSL 0.74's own memref interpreter steps element by element and knows neither views
nor dense globals; these implementations replace it (do not register both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    MemRefType,
    StringAttr,
)
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import Attribute, SSAValue
from xdsl.traits import SymbolTable
from xdsl.utils.exceptions import InterpretationError

from xdeeploy.dialects import dnn, kernel
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.dialects.npu import COUT_SUBTILE, round_up
from xdeeploy.interp import integer_norms as inorm
from xdeeploy.interp import integer_reference as iref
from xdeeploy.interp import npu as npu_model
from xdeeploy.interp import reference as ref

Array = np.ndarray[Any, Any]
POISON = 0xFF
"""The byte fresh memory holds."""
F32 = np.dtype(np.float32)


def fresh(shape: Sequence[int], dtype: np.dtype[Any]) -> Array:
    """Poisoned, bytearray-backed storage of `shape` × `dtype`."""
    nbytes = prod(shape) * dtype.itemsize
    storage = np.frombuffer(bytearray([POISON]) * nbytes, dtype=np.uint8)
    return _ndarray(storage, 0, shape, dtype)


def _ndarray(
    storage: Array,
    offset: int,
    shape: Sequence[int],
    dtype: np.dtype[Any],
    strides: Sequence[int] | None = None,
) -> Array:
    """Elements of `storage` (flat bytes) from byte `offset`; raises if any lies outside."""
    if prod(shape) == 0:
        return np.empty(tuple(shape), dtype)
    byte_strides = None if strides is None else tuple(s * dtype.itemsize for s in strides)
    try:
        return np.ndarray(tuple(shape), dtype, buffer=storage, offset=offset, strides=byte_strides)
    except (ValueError, TypeError):
        raise InterpretationError(
            f"access outside the buffer: {list(shape)} {dtype} elements"
            + (f" with strides {list(strides)}" if strides is not None else "")
            + f" from byte {offset} of a {storage.size}-byte buffer"
        ) from None


def _contiguous(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def _address(buf: Array) -> int:
    return int(buf.__array_interface__["data"][0])


@dataclass
class Memory:
    """What one interpreter run has allocated: globals, and the storage of aliases."""

    globals: dict[str, Array] = field(default_factory=dict)
    _aliases: dict[int, tuple[Array, Array, int]] = field(default_factory=dict)
    """id(view) -> (view, the flat bytes it may address, its byte offset in them)."""

    def storage(self, buf: Array) -> tuple[Array, int]:
        """The allocation `buf` belongs to, as flat bytes, and `buf`'s offset in it."""
        entry = self._aliases.get(id(buf))
        if entry is not None and entry[0] is buf:
            return entry[1], entry[2]
        if not buf.flags.c_contiguous:
            raise InterpretationError("buffer values must be dense (C-contiguous) arrays")
        return buf.reshape(-1).view(np.uint8), 0

    def alias(self, src: Array, offset: int, shape: Sequence[int], strides: Sequence[int]) -> Array:
        """`src` seen from element `offset` on with another shape: same storage."""
        storage, base = self.storage(src)
        start = base + offset * src.dtype.itemsize
        view = _ndarray(storage, start, shape, src.dtype, strides)
        self._aliases[id(view)] = (view, storage, start)
        return view

    def at(
        self,
        buf: Array,
        shape: Sequence[int],
        strides: Sequence[int],
        dtype: np.dtype[Any] | None = None,
    ) -> Array:
        """`buf[sum(i_k * strides_k)]` over `shape`, as C addresses elements from `buf`'s
        pointer (strides in elements of `dtype`, default `buf`'s): a view, not a copy."""
        storage, offset = self.storage(buf)
        return _ndarray(storage, offset, shape, buf.dtype if dtype is None else dtype, strides)

    def dense(self, buf: Array, shape: Sequence[int], dtype: np.dtype[Any] | None = None) -> Array:
        """The first prod(shape) elements of `buf` as a dense `shape`."""
        return self.at(buf, shape, _contiguous(shape), dtype)


# ---------------------------------------------------------------------------------- kernels

Kernel = Callable[..., None]
KERNELS: dict[str, Kernel] = {}
"""C kernel name -> its semantics: `fn(memory, *C arguments)`, writing outputs in place."""


def _kernel(fn: Kernel) -> Kernel:
    KERNELS[fn.__name__] = fn
    return fn


def _bytes(elem_size: int) -> np.dtype[Any]:
    """An opaque element of `elem_size` bytes, for the type-agnostic kernels."""
    return np.dtype((np.void, elem_size))


def _dims(rank: int, *arrays: Sequence[int]) -> list[list[int]]:
    """The first `rank` entries of each array (what the C reads); rank 0 is one element."""
    if any(len(a) < rank for a in arrays):
        raise InterpretationError(f"an array argument has fewer than rank = {rank} entries")
    if rank == 0:
        return [[1] if k == 0 else [0] for k in range(len(arrays))]
    return [list(a[:rank]) for a in arrays]


_F32_BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "XD_ADD": np.add, "XD_SUB": np.subtract, "XD_MUL": np.multiply, "XD_DIV": np.divide,
    "XD_POW": np.power, "XD_MAX": ref.maximum, "XD_MIN": ref.minimum,
}  # fmt: skip
_COMPARE: dict[str, Callable[[Array, Array], Array]] = {
    "XD_EQUAL": np.equal, "XD_LESS": np.less, "XD_GREATER": np.greater,
}  # fmt: skip


@_kernel
def xd_binary_f32(m: Memory, op: str, a: Array, b: Array, out: Array, rank: int,
                  dims: Sequence[int], a_strides: Sequence[int], b_strides: Sequence[int]) -> None:  # fmt: skip
    d, sa, sb = _dims(rank, dims, a_strides, b_strides)
    with np.errstate(all="ignore"):
        m.dense(out, d, F32)[...] = _F32_BINARY[op](m.at(a, d, sa, F32), m.at(b, d, sb, F32))


@_kernel
def xd_compare_f32(m: Memory, op: str, a: Array, b: Array, out: Array, rank: int,
                   dims: Sequence[int], a_strides: Sequence[int], b_strides: Sequence[int]) -> None:  # fmt: skip
    d, sa, sb = _dims(rank, dims, a_strides, b_strides)
    m.dense(out, d, np.dtype(np.uint8))[...] = _COMPARE[op](
        m.at(a, d, sa, F32), m.at(b, d, sb, F32)
    )


@_kernel
def xd_where_f32(m: Memory, cond: Array, a: Array, b: Array, out: Array, rank: int,
                 dims: Sequence[int], c_strides: Sequence[int], a_strides: Sequence[int],
                 b_strides: Sequence[int]) -> None:  # fmt: skip
    d, sc, sa, sb = _dims(rank, dims, c_strides, a_strides, b_strides)
    c = m.at(cond, d, sc, np.dtype(np.uint8))
    m.dense(out, d, F32)[...] = np.where(c != 0, m.at(a, d, sa, F32), m.at(b, d, sb, F32))


_XD_TYPES = {
    "XD_T_F32": np.float32, "XD_T_I8": np.int8, "XD_T_U8": np.uint8, "XD_T_I16": np.int16,
    "XD_T_U16": np.uint16, "XD_T_I32": np.int32, "XD_T_U32": np.uint32, "XD_T_I64": np.int64,
    "XD_T_U64": np.uint64, "XD_T_BOOL": np.uint8, "XD_T_F64": np.float64,
}  # fmt: skip
"""How the C reads and writes each `xd_type` (booleans are bytes)."""


def _int_storage(t: str) -> np.dtype[Any]:
    """The integer kernels load and store uint64 through int64_t."""
    return np.dtype(np.int64 if t == "XD_T_U64" else _XD_TYPES[t])


def _int_pow(base: Array, e: Array) -> Array:
    """C's int_pow: square-and-multiply modulo 2^64; negative exponents truncate."""
    result = np.ones(base.shape, np.uint64)
    b = base.astype(np.uint64)
    rest = np.maximum(e, 0)
    while np.any(rest > 0):
        result = np.where((rest & 1) == 1, result * b, result)
        b = b * b
        rest = rest >> 1
    negative = np.where(base == 1, 1, np.where(base == -1, np.where(e & 1, -1, 1), 0))
    return np.where(e < 0, negative, result.view(np.int64))


def _int_div(a: Array, b: Array) -> Array:
    """Truncating division; x / 0 = 0 and x / -1 = -x (wrapping)."""
    safe = np.where((b == 0) | (b == -1), 1, b)
    q = np.floor_divide(a, safe)
    q = q + ((a - q * safe != 0) & ((a < 0) != (safe < 0)))
    return np.where(b == 0, 0, np.where(b == -1, -a, q))


_INT_BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "XD_ADD": np.add, "XD_SUB": np.subtract, "XD_MUL": np.multiply, "XD_DIV": _int_div,
    "XD_POW": _int_pow, "XD_MAX": np.maximum, "XD_MIN": np.minimum,
}  # fmt: skip


@_kernel
def xd_binary_int(m: Memory, op: str, t: str, a: Array, b: Array, out: Array, rank: int,
                  dims: Sequence[int], a_strides: Sequence[int], b_strides: Sequence[int]) -> None:  # fmt: skip
    d, sa, sb = _dims(rank, dims, a_strides, b_strides)
    dt = _int_storage(t)
    x = m.at(a, d, sa, dt).astype(np.int64)
    y = m.at(b, d, sb, dt).astype(np.int64)
    with np.errstate(all="ignore"):
        m.dense(out, d, dt)[...] = _INT_BINARY[op](x, y).astype(dt)


@_kernel
def xd_compare_int(m: Memory, op: str, t: str, a: Array, b: Array, out: Array, rank: int,
                   dims: Sequence[int], a_strides: Sequence[int], b_strides: Sequence[int]) -> None:  # fmt: skip
    d, sa, sb = _dims(rank, dims, a_strides, b_strides)
    dt = _int_storage(t)
    x = m.at(a, d, sa, dt).astype(np.int64)
    y = m.at(b, d, sb, dt).astype(np.int64)
    m.dense(out, d, np.dtype(np.uint8))[...] = _COMPARE[op](x, y)


_UNARY: dict[str, Callable[[Array], Array]] = {
    "XD_SQRT": ref.sqrt, "XD_NEG": ref.neg, "XD_ABS": ref.abs, "XD_EXP": ref.exp,
    "XD_LOG": ref.log, "XD_ERF": ref.erf, "XD_TANH": ref.tanh, "XD_RELU": ref.relu,
    "XD_SIGMOID": ref.sigmoid, "XD_SILU": ref.silu, "XD_RECIPROCAL": ref.reciprocal,
    "XD_COS": ref.cos, "XD_SIN": ref.sin, "XD_FLOOR": ref.floor, "XD_CEIL": ref.ceil,
    "XD_ROUND": ref.round, "XD_HARDSWISH": ref.hardswish, "XD_GELU": ref.gelu,
    "XD_GELU_TANH": lambda x: ref.gelu(x, approximate="tanh"),
}  # fmt: skip


def _unary(op: str, x: Array, alpha: np.float32, beta: np.float32) -> Array:
    match op:
        case "XD_HARDSIGMOID":
            return ref.hardsigmoid(x, float(alpha), float(beta))
        case "XD_LEAKY_RELU":
            return ref.leaky_relu(x, float(alpha))
        case "XD_CLIP":
            return ref.clip(x, float(alpha), float(beta))
    return _UNARY[op](x)


@_kernel
def xd_unary_f32(
    m: Memory, op: str, x: Array, y: Array, n: int, alpha: np.float32, beta: np.float32
) -> None:
    with np.errstate(all="ignore"):
        result = _unary(op, np.array(m.dense(x, [n], F32)), alpha, beta)
    m.dense(y, [n], F32)[...] = result


def _float_to_ints(f: Array) -> tuple[Array, Array]:
    """C's float_to_ints: truncation; NaN -> 0; saturation at the 64-bit limits."""
    two63 = 9223372036854775808.0
    nan, high, low = np.isnan(f), f >= two63, f < -two63
    inside = ~(nan | high | low)
    i = np.where(inside, np.trunc(np.where(inside, f, 0.0)), 0.0).astype(np.int64)
    i = np.where(high, np.iinfo(np.int64).max, np.where(low, np.iinfo(np.int64).min, i))
    u = i.view(np.uint64).copy()
    big = np.where(high & (f < 2 * two63), f, 0.0).astype(np.uint64)
    u = np.where(high, np.where(f >= 2 * two63, np.iinfo(np.uint64).max, big), u)
    return i, u


@_kernel
def xd_quantize_linear(
    m: Memory,
    x: Array,
    scale: Array,
    zero_point: Array,
    type_: str,
    y: Array,
    outer: int,
    channels: int,
    inner: int,
) -> None:
    """As the C: float32 x / scale, half to even, + zero point, saturated."""
    dt = np.dtype(_XD_TYPES[type_])
    xs = np.array(m.dense(x, [outer, channels, inner], np.dtype(np.float32)))
    s = np.array(m.dense(scale, [channels], np.dtype(np.float32))).reshape(1, channels, 1)
    zp = np.array(m.dense(zero_point, [channels], dt)).astype(np.float32).reshape(1, channels, 1)
    info = np.iinfo(dt)
    q = np.clip(np.rint(xs / s) + zp, info.min, info.max)
    m.dense(y, [outer, channels, inner], dt)[...] = q.astype(dt)


@_kernel
def xd_dequantize_linear(
    m: Memory,
    x: Array,
    type_: str,
    scale: Array,
    zero_point: Array,
    y: Array,
    outer: int,
    channels: int,
    inner: int,
) -> None:
    dt = np.dtype(_XD_TYPES[type_])
    q = np.array(m.dense(x, [outer, channels, inner], dt)).astype(np.int32)
    s = np.array(m.dense(scale, [channels], np.dtype(np.float32))).reshape(1, channels, 1)
    zp = np.array(m.dense(zero_point, [channels], dt)).astype(np.int32).reshape(1, channels, 1)
    m.dense(y, [outer, channels, inner], np.dtype(np.float32))[...] = (q - zp).astype(
        np.float32
    ) * s


@_kernel
def xd_cast(m: Memory, x: Array, x_type: str, y: Array, y_type: str, n: int) -> None:
    """Through C's carriers: double for floats, int64 for signed and bool, uint64 else."""
    src_dt, dst_dt = np.dtype(_XD_TYPES[x_type]), np.dtype(_XD_TYPES[y_type])
    v = np.array(m.dense(x, [n], src_dt))
    dst = m.dense(y, [n], dst_dt)
    with np.errstate(all="ignore"):
        if x_type == y_type:
            dst[...] = v
            return
        if x_type == "XD_T_BOOL":
            v = (v != 0).astype(np.int64)
        if y_type == "XD_T_BOOL":
            dst[...] = v != 0
            return
        if np.issubdtype(dst_dt, np.floating):
            dst[...] = v.astype(np.float64) if np.issubdtype(src_dt, np.floating) else v
            return
        if np.issubdtype(src_dt, np.floating):
            i, u = _float_to_ints(v.astype(np.float64))
        elif np.issubdtype(src_dt, np.unsignedinteger):
            u = v.astype(np.uint64)
            i = u.view(np.int64)
        else:
            i = v.astype(np.int64)
            u = i.view(np.uint64)
        dst[...] = (u if np.issubdtype(dst_dt, np.unsignedinteger) else i).astype(dst_dt)


@_kernel
def xd_matmul_f32(m: Memory, a: Array, b: Array, out: Array, rows: int, k: int, n: int,
                  batch_rank: int, batch: Sequence[int], a_batch_strides: Sequence[int],
                  b_batch_strides: Sequence[int]) -> None:  # fmt: skip
    if batch_rank == 0:
        d, sa, sb = [], [], []
    else:
        d, sa, sb = _dims(batch_rank, batch, a_batch_strides, b_batch_strides)
    lhs = m.at(a, [*d, rows, k], [*sa, k, 1], F32)
    rhs = m.at(b, [*d, k, n], [*sb, n, 1], F32)
    m.dense(out, [*d, rows, n], F32)[...] = ref.matmul(lhs, rhs)


@_kernel
def xd_gemv_f32(m: Memory, a: Array, b: Array, out: Array, k: int, n: int,
                b_row_stride: int) -> None:  # fmt: skip
    lhs = m.at(a, [1, k], [k, 1], F32)
    rhs = m.at(b, [k, n], [b_row_stride, 1], F32)
    m.dense(out, [1, n], F32)[...] = ref.matmul(lhs, rhs)


@_kernel
def xd_gemm_f32(m: Memory, a: Array, b: Array, c: Array | None, out: Array, rows: int, k: int,
                n: int, trans_a: int, trans_b: int, alpha: np.float32, beta: np.float32,
                c_row_stride: int, c_col_stride: int) -> None:  # fmt: skip
    lhs = m.dense(a, [k, rows] if trans_a else [rows, k], F32)
    rhs = m.dense(b, [n, k] if trans_b else [k, n], F32)
    cc = None if c is None else m.at(c, [rows, n], [c_row_stride, c_col_stride], F32)
    m.dense(out, [rows, n], F32)[...] = ref.gemm(
        lhs, rhs, cc, alpha=float(alpha), beta=float(beta), trans_a=bool(trans_a),
        trans_b=bool(trans_b),
    )  # fmt: skip


def _end_pad(out: int, size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Padding after the input that the last window reaches (at least 0)."""
    return max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size - pad)


@_kernel
def xd_conv2d_f32(m: Memory, x: Array, w: Array, bias: Array | None, y: Array, n: int, c: int,
                  h: int, wd: int, oc: int, kh: int, kw: int, oh: int, ow: int, sh: int, sw: int,
                  ph: int, pw: int, dh: int, dw: int, group: int) -> None:  # fmt: skip
    if group <= 0 or c % group or oc % group:
        raise InterpretationError(f"{c} channels, {oc} filters and {group} groups do not divide")
    xs = m.dense(x, [n, c, h, wd], F32)
    ws = m.dense(w, [oc, c // group, kh, kw], F32)
    bs = None if bias is None else m.dense(bias, [oc], F32)
    pads = [ph, pw, _end_pad(oh, h, kh, sh, ph, dh), _end_pad(ow, wd, kw, sw, pw, dw)]
    full = ref.conv(xs, ws, bs, strides=[sh, sw], pads=pads, dilations=[dh, dw], group=group)
    m.dense(y, [n, oc, oh, ow], F32)[...] = full[:, :, :oh, :ow]


def _pool_windows(m: Memory, x: Array, fill: float, planes: int, h: int, wd: int, oh: int,
                  ow: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, dh: int,
                  dw: int, dtype: np.dtype[Any] = F32) -> Array:  # fmt: skip
    """(planes, oh, ow, kh, kw) windows of x (elements of `dtype`) padded with `fill`."""
    xs = m.dense(x, [planes, h, wd], dtype)
    eh, ew = _end_pad(oh, h, kh, sh, ph, dh), _end_pad(ow, wd, kw, sw, pw, dw)
    xp = np.pad(xs, ((0, 0), (ph, eh), (pw, ew)), constant_values=dtype.type(fill))
    p, r, q = xp.strides
    shape = (planes, oh, ow, kh, kw)
    return as_strided(xp, shape, (p, r * sh, q * sw, r * dh, q * dw), writeable=False)


@_kernel
def xd_maxpool2d_f32(m: Memory, x: Array, y: Array, planes: int, h: int, wd: int, oh: int,
                     ow: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, dh: int,
                     dw: int) -> None:  # fmt: skip
    xs = m.dense(x, [1, planes, h, wd], F32)
    pads = [ph, pw, _end_pad(oh, h, kh, sh, ph, dh), _end_pad(ow, wd, kw, sw, pw, dw)]
    full = ref.max_pool(xs, kernel_shape=[kh, kw], strides=[sh, sw], pads=pads,
                        dilations=[dh, dw])  # fmt: skip
    m.dense(y, [planes, oh, ow], F32)[...] = full[0, :, :oh, :ow]


@_kernel
def xd_avgpool2d_f32(m: Memory, x: Array, y: Array, planes: int, h: int, wd: int, oh: int,
                     ow: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, ph_end: int,
                     pw_end: int, count_include_pad: int) -> None:  # fmt: skip
    xs = m.dense(x, [1, planes, h, wd], F32)
    total = ref.window_sum(xs, [oh, ow], [kh, kw], [sh, sw], [ph, pw])[0]

    def counts(out: int, size: int, k: int, s: int, pad: int, pad_end: int) -> Array:
        start = np.arange(out) * s - pad
        if count_include_pad:
            return np.minimum(start + k, size + pad_end) - np.maximum(start, -pad)
        return np.minimum(start + k, size) - np.maximum(start, 0)

    count = np.outer(counts(oh, h, kh, sh, ph, ph_end), counts(ow, wd, kw, sw, pw, pw_end))
    with np.errstate(all="ignore"):
        m.dense(y, [planes, oh, ow], F32)[...] = total / count.astype(F32)


@_kernel
def xd_softmax_f32(
    m: Memory, x: Array, y: Array, outer: int, length: int, inner: int, log: int
) -> None:
    if length == 0:
        return
    xs = m.dense(x, [outer, length, inner], F32)
    with np.errstate(all="ignore"):
        result = ref.log_softmax(xs, axis=1) if log else ref.softmax(xs, axis=1)
    m.dense(y, [outer, length, inner], F32)[...] = result


@_kernel
def xd_layernorm_f32(m: Memory, x: Array, scale: Array, bias: Array | None, y: Array,
                     outer: int, inner: int, eps: np.float32) -> None:  # fmt: skip
    xs = m.dense(x, [outer, inner], F32)
    b = None if bias is None else m.dense(bias, [inner], F32)
    out = ref.layer_norm(xs, m.dense(scale, [inner], F32), b, axis=1, epsilon=float(eps))
    m.dense(y, [outer, inner], F32)[...] = out


@_kernel
def xd_rmsnorm_f32(m: Memory, x: Array, scale: Array | None, y: Array, outer: int, inner: int,
                   eps: np.float32) -> None:  # fmt: skip
    xs = m.dense(x, [outer, inner], F32)
    s = None if scale is None else m.dense(scale, [inner], F32)
    m.dense(y, [outer, inner], F32)[...] = ref.rms_norm(xs, s, axis=1, epsilon=float(eps))


_REDUCE: dict[str, Callable[..., Array]] = {
    "XD_RSUM": ref.reduce_sum, "XD_RMEAN": ref.reduce_mean,
    "XD_RMAX": ref.reduce_max, "XD_RMIN": ref.reduce_min,
}  # fmt: skip


@_kernel
def xd_reduce_f32(
    m: Memory, op: str, x: Array, y: Array, outer: int, length: int, inner: int
) -> None:
    xs = m.dense(x, [outer, length, inner], F32)
    with np.errstate(all="ignore"):
        out = _REDUCE[op](xs, axes=[1], keepdims=False)
    m.dense(y, [outer, inner], F32)[...] = out


@_kernel
def xd_copy(m: Memory, x: Array, y: Array, elem_size: int, n: int) -> None:
    if n > 0 and _address(x) != _address(y):
        m.dense(y, [n], _bytes(elem_size))[...] = m.dense(x, [n], _bytes(elem_size))


@_kernel
def xd_strided_copy(m: Memory, x: Array, y: Array, elem_size: int, rank: int,
                    dims: Sequence[int], x_strides: Sequence[int]) -> None:  # fmt: skip
    d, s = _dims(rank, dims, x_strides)
    m.dense(y, d, _bytes(elem_size))[...] = m.at(x, d, s, _bytes(elem_size))


@_kernel
def xd_im2col(m: Memory, x: Array, col: Array, elem_size: int, c: int, h: int, wd: int,
              kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, pad_top: int,
              pad_left: int, oh: int, ow: int) -> None:  # fmt: skip
    dt = _bytes(elem_size)
    src = m.dense(x, [c, h, wd], dt)
    # Enough zeros on every side for the furthest tap of any output.
    bottom = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - pad_top)
    right = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - wd - pad_left)
    xp = np.zeros((c, pad_top + h + bottom, pad_left + wd + right), dtype=dt)
    xp[:, pad_top : pad_top + h, pad_left : pad_left + wd] = src
    patches = np.empty((oh, ow, c, kh, kw), dtype=dt)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            window = xp[:, y0 : y0 + sh * (oh - 1) + 1 : sh, x0 : x0 + sw * (ow - 1) + 1 : sw]
            patches[:, :, :, ky, kx] = window.transpose(1, 2, 0)
    m.dense(col, [oh * ow, c * kh * kw], dt)[...] = patches.reshape(oh * ow, c * kh * kw)


@_kernel
def xd_copy_rows(m: Memory, x: Array, y: Array, elem_size: int, rows: int, row_len: int,
                 x_row_stride: int, y_row_stride: int) -> None:  # fmt: skip
    if row_len <= 0:
        return
    dt = _bytes(elem_size)
    m.at(y, [rows, row_len], [y_row_stride, 1], dt)[...] = m.at(
        x, [rows, row_len], [x_row_stride, 1], dt
    )


@_kernel
def xd_gather(m: Memory, data: Array, idx: Array, out: Array, elem_size: int, idx_size: int,
              outer: int, axis_len: int, inner: int, n_idx: int) -> None:  # fmt: skip
    if inner * elem_size == 0:
        return
    k = m.dense(idx, [n_idx], np.dtype(np.int64 if idx_size == 8 else np.int32)).astype(np.int64)
    k = np.where(k < 0, k + axis_len, k)
    if np.any((k < 0) | (k >= axis_len)):
        raise InterpretationError(f"gather index out of range [0, {axis_len}): {k.tolist()}")
    src = m.dense(data, [outer, axis_len, inner], _bytes(elem_size))
    m.dense(out, [outer, n_idx, inner], _bytes(elem_size))[...] = src[:, k, :]


@_kernel
def xd_pad(m: Memory, x: Array, y: Array, elem_size: int, rank: int, in_dims: Sequence[int],
           pads_begin: Sequence[int], out_dims: Sequence[int], value: Array) -> None:  # fmt: skip
    dt = _bytes(elem_size)
    if rank == 0:
        m.dense(y, [1], dt)[...] = m.dense(x, [1], dt)
        return
    ins, begins, outs = _dims(rank, in_dims, pads_begin, out_dims)
    if prod(outs) == 0:
        return
    ys = m.dense(y, outs, dt)
    ys[...] = m.dense(value, [1], dt)[0]
    # The part of x that lands inside y: negative pads crop.
    lo = [max(0, -p) for p in begins]
    hi = [min(o - p, i) for o, p, i in zip(outs, begins, ins, strict=True)]
    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        return
    src = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dst = tuple(slice(a + p, b + p) for a, b, p in zip(lo, hi, begins, strict=True))
    ys[dst] = m.dense(x, ins, dt)[src]


@_kernel
def xd_scatter_nd(m: Memory, out: Array, indices: Array, updates: Array, elem_size: int, n: int,
                  q: int, data_dims: Sequence[int], slice_elems: int) -> None:  # fmt: skip
    if n <= 0 or slice_elems * elem_size == 0:
        return
    dims = list(data_dims[:q])
    k = np.array(m.dense(indices, [n, q], np.dtype(np.int64)))
    k = np.where(k < 0, k + np.array(dims, np.int64), k)
    if np.any((k < 0) | (k >= np.array(dims, np.int64))):
        raise InterpretationError(f"scatter_nd index out of range of {dims}: {k.tolist()}")
    pos: Array = np.asarray(np.ravel_multi_index(tuple(k.T), dims)) if q else np.zeros(n, np.int64)
    # Tuples apply in order: with duplicates the last update wins.
    _, first_from_end = np.unique(pos[::-1], return_index=True)
    keep = n - 1 - first_from_end
    dt = _bytes(elem_size)
    upd = m.dense(updates, [n, slice_elems], dt)
    m.dense(out, [prod(dims), slice_elems], dt)[pos[keep]] = upd[keep]


# ------------------------------------------------------------------------ integer kernels
# As runtime_c/src/integer.c: operands load through their xd_type into int64 (numpy's
# int64 arithmetic wraps as the C's unsigned arithmetic does), results are stored
# truncated to the output's type. Where the C defines a result the reference leaves
# undefined (a division by zero gives 0), these raise instead, naming the cause.


def _load_int(m: Memory, buf: Array, t: str, shape: Sequence[int],
              strides: Sequence[int] | None = None) -> Array:  # fmt: skip
    """An int64 copy of an integer operand (dense, or at `strides`)."""
    dt = _int_storage(t)
    view = m.dense(buf, shape, dt) if strides is None else m.at(buf, shape, strides, dt)
    return view.astype(np.int64)


def _store_int(m: Memory, buf: Array, t: str, shape: Sequence[int], values: Array) -> None:
    """Two's-complement truncation into the output's type, as the C store does."""
    dt = _int_storage(t)
    m.dense(buf, shape, dt)[...] = np.asarray(values, dtype=np.int64).astype(dt)


def _shift(s: int) -> int:
    return min(max(s, 0), 63)


def _undefined(what: str) -> InterpretationError:
    return InterpretationError(
        f"{what} is 0: the reference semantics are undefined (the C kernel gives 0)"
    )


@_kernel
def xd_requant_shift(m: Memory, x: Array, xt: str, mul: Array, mt: str, add: Array, at: str,
                     y: Array, yt: str, rank: int, dims: Sequence[int], x_strides: Sequence[int],
                     mul_strides: Sequence[int], add_strides: Sequence[int], log2_div: int,
                     lo: int, hi: int) -> None:  # fmt: skip
    d, sx, sm, sa = _dims(rank, dims, x_strides, mul_strides, add_strides)
    s = _shift(log2_div)
    acc = _load_int(m, x, xt, d, sx) * _load_int(m, mul, mt, d, sm) + _load_int(m, add, at, d, sa)
    if s:
        acc = acc + (1 << (s - 1))
    _store_int(m, y, yt, d, np.clip(acc >> s, lo, hi))


@_kernel
def xd_matmul_int(m: Memory, a: Array, at: str, b: Array, bt: str, out: Array, ot: str,
                  rows: int, k: int, n: int, batch_rank: int, batch: Sequence[int],
                  a_batch_strides: Sequence[int], b_batch_strides: Sequence[int]) -> None:  # fmt: skip
    if batch_rank == 0:
        d, sa, sb = [], [], []
    else:
        d, sa, sb = _dims(batch_rank, batch, a_batch_strides, b_batch_strides)
    lhs = _load_int(m, a, at, [*d, rows, k], [*sa, k, 1])
    rhs = _load_int(m, b, bt, [*d, k, n], [*sb, n, 1])
    _store_int(m, out, ot, [*d, rows, n], iref.matmul(lhs, rhs))


@_kernel
def xd_gemv_int(m: Memory, a: Array, at: str, b: Array, bt: str, out: Array, ot: str, k: int,
                n: int, b_row_stride: int) -> None:  # fmt: skip
    lhs = _load_int(m, a, at, [1, k], [k, 1])
    rhs = _load_int(m, b, bt, [k, n], [b_row_stride, 1])
    _store_int(m, out, ot, [1, n], iref.matmul(lhs, rhs))


@_kernel
def xd_gemm_int(m: Memory, a: Array, at: str, b: Array, bt: str, c: Array | None, ct: str,
                out: Array, ot: str, rows: int, k: int, n: int, trans_a: int, trans_b: int,
                alpha: int, beta: int, c_row_stride: int, c_col_stride: int) -> None:  # fmt: skip
    lhs = _load_int(m, a, at, [rows, k], [1, rows] if trans_a else [k, 1])
    rhs = _load_int(m, b, bt, [k, n], [1, k] if trans_b else [n, 1])
    cc = None if c is None else _load_int(m, c, ct, [rows, n], [c_row_stride, c_col_stride])
    _store_int(m, out, ot, [rows, n], iref.gemm(lhs, rhs, cc, alpha=alpha, beta=beta))


@_kernel
def xd_conv2d_int(m: Memory, x: Array, xt: str, w: Array, wt: str, bias: Array | None, bt: str,
                  y: Array, yt: str, n: int, c: int, h: int, wd: int, oc: int, kh: int, kw: int,
                  oh: int, ow: int, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int,
                  group: int) -> None:  # fmt: skip
    if group <= 0 or c % group or oc % group:
        raise InterpretationError(f"{c} channels, {oc} filters and {group} groups do not divide")
    xs = _load_int(m, x, xt, [n, c, h, wd])
    ws = _load_int(m, w, wt, [oc, c // group, kh, kw])
    bs = None if bias is None else _load_int(m, bias, bt, [oc])
    pads = [ph, pw, _end_pad(oh, h, kh, sh, ph, dh), _end_pad(ow, wd, kw, sw, pw, dw)]
    full = iref.conv(xs, ws, bs, strides=[sh, sw], pads=pads, dilations=[dh, dw], group=group)
    _store_int(m, y, yt, [n, oc, oh, ow], full[:, :, :oh, :ow])


@_kernel
def xd_maxpool2d_int(m: Memory, x: Array, y: Array, t: str, planes: int, h: int, wd: int,
                     oh: int, ow: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
                     dh: int, dw: int) -> None:  # fmt: skip
    dt = np.dtype(_XD_TYPES[t])  # compared in the element type itself (uint64 included)
    lowest = int(np.iinfo(dt).min)
    win = _pool_windows(m, x, lowest, planes, h, wd, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, dt)
    m.dense(y, [planes, oh, ow], dt)[...] = np.max(win, axis=(3, 4), initial=lowest)


def _rows_of(m: Memory, x: Array, xt: str, rows: int, length: int) -> Array | None:
    return None if rows * length == 0 else _load_int(m, x, xt, [rows, length])


@_kernel
def xd_isoftmax(m: Memory, x: Array, xt: str, y: Array, rows: int, length: int, coeff_a: int,
                coeff_b: int, coeff_c: int, log2: int, n_levels: int) -> None:  # fmt: skip
    xs = _rows_of(m, x, xt, rows, length)
    if xs is None:
        return
    try:
        out = inorm.i_softmax(xs, coeff_a=coeff_a, coeff_b=coeff_b, coeff_c=coeff_c, log2=log2,
                              n_levels=n_levels)  # fmt: skip
    except ZeroDivisionError:
        raise _undefined("an iSoftmax row sum (or log2)") from None
    m.dense(y, [rows, length], np.dtype(np.uint8))[...] = out


@_kernel
def xd_ita_max(m: Memory, x: Array, xt: str, y: Array, rows: int, length: int,
               n_levels: int) -> None:  # fmt: skip
    xs = _rows_of(m, x, xt, rows, length)
    if xs is None:
        return
    try:
        out = inorm.ita_max(xs, n_levels=n_levels)
    except ZeroDivisionError:
        raise _undefined("an ITAMax row sum") from None
    m.dense(y, [rows, length], np.dtype(np.uint8))[...] = out


@_kernel
def xd_irmsnorm(m: Memory, x: Array, xt: str, weight: Array, wt: str, y: Array, rows: int,
                length: int, log2_d: int) -> None:  # fmt: skip
    xs = _rows_of(m, x, xt, rows, length)
    if xs is None:
        return
    w = _load_int(m, weight, wt, [length])
    try:
        out = inorm.i_rms_norm(xs, w, d=1 << _shift(log2_d))
    except ZeroDivisionError:
        raise _undefined("an iRMSNorm standard deviation") from None
    m.dense(y, [rows, length], np.dtype(np.int8))[...] = out


@_kernel
def xd_ilayernorm(m: Memory, x: Array, xt: str, weight: Array, wt: str, bias: Array, bt: str,
                  y: Array, rows: int, length: int, log2_d: int) -> None:  # fmt: skip
    xs = _rows_of(m, x, xt, rows, length)
    if xs is None:
        return
    w, b = _load_int(m, weight, wt, [length]), _load_int(m, bias, bt, [length])
    try:
        out = inorm.i_layer_norm(xs, w, b, d=1 << _shift(log2_d))
    except ZeroDivisionError:
        raise _undefined("an iLayerNorm standard deviation") from None
    m.dense(y, [rows, length], np.dtype(np.int8))[...] = out


@_kernel
def xd_igelu(m: Memory, x: Array, xt: str, y: Array, yt: str, n: int, b: int, one: int) -> None:
    _store_int(m, y, yt, [n], iref.igelu(_load_int(m, x, xt, [n]), b=b, one=one))


@_kernel
def xd_ihardswish(m: Memory, x: Array, xt: str, y: Array, yt: str, n: int, one_over_six: int,
                  six: int, three: int) -> None:  # fmt: skip
    out = iref.ihardswish(_load_int(m, x, xt, [n]), one_over_six=one_over_six, six=six,
                          three=three)  # fmt: skip
    _store_int(m, y, yt, [n], out)


@_kernel
def xd_true_integer_div(m: Memory, x: Array, xt: str, y: Array, yt: str, n: int,
                        coeff: int) -> None:  # fmt: skip
    _store_int(m, y, yt, [n], _load_int(m, x, xt, [n]) * np.int64(coeff))


@_kernel
def xd_integer_mean(m: Memory, x: Array, xt: str, y: Array, yt: str, outer: int, length: int,
                    inner: int, round_shift: int) -> None:  # fmt: skip
    if outer * inner == 0:
        return
    if round_shift >= 0 and length != 1 << _shift(round_shift):
        raise InterpretationError(f"round_shift {round_shift} for a mean over {length} values")
    xs = _load_int(m, x, xt, [outer, length, inner])
    # integer_mean's power-of-two shift applies without keepdims: keepdims forces division.
    mean = iref.integer_mean(xs, axes=[1], keepdims=round_shift < 0)
    _store_int(m, y, yt, [outer, inner], mean.reshape(outer, inner))


# ------------------------------------------------------------------------------ aliasing

SAME_BUFFER_OK = frozenset(["xd_unary_f32", "xd_copy"])
"""Kernels whose output may be the very same buffer as their input (in place)."""


def _check_overlap(name: str, params: Sequence[kernel.Param], values: Sequence[Any]) -> None:
    """Outputs must not share bytes with inputs (xd_kernels.h), unless in place is allowed."""

    def span(buf: Array) -> tuple[int, int]:
        return _address(buf), _address(buf) + buf.nbytes

    ins = [v for p, v in zip(params, values, strict=True) if p.kind == "in" and v is not None]
    outs = [v for p, v in zip(params, values, strict=True) if p.kind != "in" and p.is_buffer]
    for o in outs:
        if o is None or o.nbytes == 0:
            continue
        for i in ins:
            (o0, o1), (i0, i1) = span(o), span(i)
            if i.nbytes == 0 or o1 <= i0 or i1 <= o0:
                continue
            if name in SAME_BUFFER_OK and o0 == i0:
                continue
            raise InterpretationError(
                f"an output overlaps an input (bytes [{o0 - i0}, {o1 - i0}) of an "
                f"input of {i.nbytes} bytes): the buffers share memory"
            )


def _c_argument(arg: Attribute | None) -> Any:
    match arg:
        case None:
            return None
        case StringAttr():
            return arg.data
        case IntegerAttr():
            return int(arg.value.data)
        case FloatAttr():
            return np.float32(arg.value.data)
        case DenseArrayBase():
            values: Any = arg.get_values()  # pyright: ignore[reportAttributeAccessIssue]
            return tuple(int(v) for v in values)
    raise InterpretationError(f"kernel argument {arg} has no C value")


# ---------------------------------------------------------------------------- functions


def _memory(interpreter: Interpreter) -> Memory:
    return interpreter.get_data(BufferFunctions, "memory", Memory)


def _type(value: SSAValue) -> tuple[list[int], np.dtype[Any]]:
    ty = value.type
    assert isinstance(ty, MemRefType)
    return list(ty.get_shape()), numpy_dtype(ty.element_type)


def _read_only(array: Array) -> Array:
    out = np.array(array, order="C")
    out.flags.writeable = False
    return out


@register_impls
class BufferFunctions(InterpreterFunctions):
    """memref.alloc/get_global/view/reinterpret_cast, arith.constant, kernel.*."""

    @impl(arith.ConstantOp)
    def run_constant(
        self, interpreter: Interpreter, op: arith.ConstantOp, args: PythonValues
    ) -> PythonValues:
        value = op.value
        if isinstance(value, IntegerAttr):
            return (int(value.value.data),)
        if isinstance(value, FloatAttr):
            return (float(value.value.data),)
        raise InterpretationError(f"arith.constant {value}: only scalar constants")

    @impl(memref.AllocOp)
    def run_alloc(
        self, interpreter: Interpreter, op: memref.AllocOp, args: PythonValues
    ) -> PythonValues:
        if args:
            raise InterpretationError("memref.alloc: dynamic sizes are not supported")
        shape, dtype = _type(op.memref)
        return (fresh(shape, dtype),)

    @impl(memref.DeallocOp)
    def run_dealloc(
        self, interpreter: Interpreter, op: memref.DeallocOp, args: PythonValues
    ) -> PythonValues:
        return ()

    @impl(memref.GetGlobalOp)
    def run_get_global(
        self, interpreter: Interpreter, op: memref.GetGlobalOp, args: PythonValues
    ) -> PythonValues:
        """One storage per global and run: every get_global of it sees the same bytes."""
        memory = _memory(interpreter)
        symbol = op.name_.root_reference.data
        if symbol not in memory.globals:
            glob = SymbolTable.lookup_symbol(op, op.name_)
            if not isinstance(glob, memref.GlobalOp):
                raise InterpretationError(f"@{symbol} is not a memref.global")
            shape, dtype = list(glob.type.get_shape()), numpy_dtype(glob.type.element_type)
            init = glob.initial_value
            if isinstance(init, DenseIntOrFPElementsAttr):
                value = np.array(dnn.constant_value(init).astype(dtype), order="C")
                value = value.reshape(shape)
                value.flags.writeable = glob.constant is None
            else:  # uninitialized: an arena
                value = fresh(shape, dtype)
            memory.globals[symbol] = value
        return (memory.globals[symbol],)

    @impl(memref.ViewOp)
    def run_view(
        self, interpreter: Interpreter, op: memref.ViewOp, args: PythonValues
    ) -> PythonValues:
        """A typed window at `byte_shift` into the byte source: it aliases the source."""
        if op.sizes:
            raise InterpretationError("memref.view: dynamic sizes are not supported")
        source, shift = args[0], int(args[1])
        shape, dtype = _type(op.result)
        storage, base = _memory(interpreter).storage(source)
        if shift < 0:
            raise InterpretationError(f"memref.view at a negative byte shift {shift}")
        return (_ndarray(storage, base + shift, shape, dtype),)

    @impl(memref.ReinterpretCastOp)
    def run_reinterpret_cast(
        self, interpreter: Interpreter, op: memref.ReinterpretCastOp, args: PythonValues
    ) -> PythonValues:
        """The source's storage from the static offset on (elements, relative to the
        source's start as the C `src + offset`), with the static sizes and strides."""
        if op.offsets or op.sizes or op.strides:
            raise InterpretationError("memref.reinterpret_cast: only static offsets and sizes")
        (offset,) = op.static_offsets.get_values()
        sizes = [int(s) for s in op.static_sizes.get_values()]
        strides = [int(s) for s in op.static_strides.get_values()]
        return (_memory(interpreter).alias(args[0], int(offset), sizes, strides),)

    @impl(kernel.WeightsOp)
    def run_weights(
        self, interpreter: Interpreter, op: kernel.WeightsOp, args: PythonValues
    ) -> PythonValues:
        shape, dtype = _type(op.result)
        return (_read_only(dnn.constant_value(op.value).astype(dtype).reshape(shape)),)

    @impl(kernel.CallOp)
    def run_call(
        self, interpreter: Interpreter, op: kernel.CallOp, args: PythonValues
    ) -> PythonValues:
        name = op.kernel
        fn, params = KERNELS.get(name), kernel.SIGNATURES.get(name)
        if fn is None or params is None:
            raise InterpretationError(f"kernel @{name} has no interpreter implementation")
        buffers = iter(args)
        values = [
            next(buffers) if isinstance(a, SSAValue) else _c_argument(a) for a in op.arguments()
        ]
        try:
            _check_overlap(name, params, values)
            fn(_memory(interpreter), *values)
        except (InterpretationError, ValueError, IndexError, TypeError) as e:
            raise InterpretationError(f"node '{dnn.node_name(op)}' @{name}: {e}") from e
        return ()


# ---- the NPU's functional model (runtime_c/src/npu.c) -------------------------------

_NPU_KINDS = ("dense3x3", "depthwise3x3", "pointwise")


def _npu_requant(m: Memory, scale: Array | None, bias: Array | None,
                 channels: int) -> tuple[Array | None, Array | None]:  # fmt: skip
    if scale is None or bias is None:
        return None, None
    return m.dense(scale, [channels], np.dtype(np.uint8)), m.dense(bias, [channels],
                                                                   np.dtype(np.int32))  # fmt: skip


@_kernel
def xd_npu_conv2d(m: Memory, x: Array, xt: str, w: Array, scale: Array | None,
                  bias: Array | None, y: Array, yt: str, kind: int, h: int, wd: int, cin: int,
                  cout: int, cin_p: int, stride: int, pad_top: int, pad_left: int, oh: int,
                  ow: int, shift: int) -> None:  # fmt: skip
    name = _NPU_KINDS[kind]
    taps = 1 if name == "pointwise" else 3
    rows = round_up(cout, COUT_SUBTILE)
    layout = {"dense3x3": [rows, 9, cin_p], "pointwise": [rows, cin_p],
              "depthwise3x3": [cin_p, 9]}[name]  # fmt: skip
    weights = m.dense(w, layout, np.dtype(np.int8))
    s, b = _npu_requant(m, scale, bias, cout)
    # Padding on the far sides: what the output size leaves over.
    bottom = (oh - 1) * stride + taps - h - pad_top
    right = (ow - 1) * stride + taps - wd - pad_left
    out = npu_model.conv2d(_load_int(m, x, xt, [h, wd, cin]), weights, s, b, kind=name,
                           stride=stride, pads=[pad_top, pad_left, max(bottom, 0),
                                                max(right, 0)],
                           shift=shift, out_channels=cout, out_dtype=_int_storage(yt))  # fmt: skip
    _store_int(m, y, yt, [oh, ow, cout], out)


@_kernel
def xd_npu_matmul(m: Memory, a: Array, at: str, w: Array, scale: Array | None,
                  bias: Array | None, y: Array, yt: str, rows: int, k: int, n: int, k_p: int,
                  shift: int) -> None:  # fmt: skip
    filters = round_up(n, COUT_SUBTILE)
    weights = m.dense(w, [filters, k_p], np.dtype(np.int8))
    s, b = _npu_requant(m, scale, bias, n)
    out = npu_model.matmul(_load_int(m, a, at, [rows, k]), weights, s, b, shift=shift,
                           out_features=n, out_dtype=_int_storage(yt))  # fmt: skip
    _store_int(m, y, yt, [rows, n], out)


@_kernel
def xd_npu_load_weights(m: Memory, b: Array, w: Array, k: int, n: int, k_p: int,
                        n_p: int) -> None:  # fmt: skip
    source = m.dense(b, [k, n], np.dtype(np.int8))
    m.dense(w, [n_p, k_p], np.dtype(np.int8))[...] = npu_model.pack_weights("matmul", source)
