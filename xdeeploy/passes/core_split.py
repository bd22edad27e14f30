"""How a `kernel.call` divides among the cores of the cluster: its outer dimension.

A kernel's work is split into `units` independent pieces along one dimension (rows of a
matmul, channels of a conv, the first non-unit dim of an elementwise op, …). A core given
units [lo, lo + c) calls the same kernel with each buffer's pointer advanced by
`lo * step` elements (step 0: the buffer is read whole by every core) and the
arguments `args(c)`: the kernel never needs to know it runs on a part. The split must
keep every core's output a contiguous range, and different cores' outputs disjoint.

The C kernels compute each output element in the same order whatever the split, so a
parallel run is bit-exact with a serial one (floats included).

Kernels without a rule here run on one core (gather, pad, scatter, strided copies).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import ceil, prod

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, MemRefType
from xdsl.ir import Attribute, SSAValue

from xdeeploy.dialects import kernel
from xdeeploy.dialects.dtypes import numpy_dtype

Arg = SSAValue | Attribute | None


@dataclass(frozen=True)
class CoreSplit:
    """`units` pieces; `steps[p]`: elements argument p's pointer advances per unit."""

    units: int
    steps: dict[int, int]
    args: Callable[[int], list[Arg]]
    """The call's arguments for a chunk of c units (buffers unchanged)."""
    work: int
    """Elements computed in all (a proxy of the work, to skip tiny calls)."""
    kernel: str = ""
    """The kernel each core calls (the call's own when empty)."""

    def balance(self, cores: int) -> float:
        """The speedup the split allows on `cores` cores (units / the largest chunk)."""
        return self.units / ceil(self.units / cores)


def _int(arg: Arg) -> int:
    assert isinstance(arg, IntegerAttr)
    return int(arg.value.data)


def _ints(arg: Arg) -> list[int]:
    assert isinstance(arg, DenseArrayBase)
    return [int(v) for v in arg.get_values()]  # pyright: ignore[reportUnknownArgumentType]


def _with(args: Sequence[Arg], changes: dict[int, Arg | int]) -> list[Arg]:
    out = list(args)
    for pos, value in changes.items():
        out[pos] = kernel.i32_attr(value) if isinstance(value, int) else value
    return out


def _numel(arg: Arg) -> int:
    assert isinstance(arg, SSAValue) and isinstance(arg.type, MemRefType)
    return prod(arg.type.get_shape())


Rule = Callable[[list[Arg]], list[CoreSplit]]
"""A kernel's candidate splits (the pass takes the best balanced one)."""
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


def core_split(call: kernel.CallOp, cores: int) -> CoreSplit | None:
    """The best split of `call` over `cores`, or None (it runs on one core)."""
    fn = RULES.get(call.kernel)
    found = [s for s in fn(call.arguments()) if s.units > 1] if fn is not None else []
    return max(found, key=lambda s: s.balance(cores), default=None)


# ------------------------------------------------------------------------ flat elementwise


def _flat(n_pos: int, buffers: Sequence[int]) -> Rule:
    def split(args: list[Arg]) -> list[CoreSplit]:
        n = _int(args[n_pos])
        return [CoreSplit(n, {p: 1 for p in buffers}, lambda c: _with(args, {n_pos: c}), n)]

    return split


RULES["xd_unary_f32"] = _flat(3, (1, 2))
RULES["xd_cast"] = _flat(4, (0, 2))
RULES["xd_igelu"] = _flat(4, (0, 2))
RULES["xd_ihardswish"] = _flat(4, (0, 2))
RULES["xd_true_integer_div"] = _flat(4, (0, 2))


@rule("xd_copy")
def _copy(args: list[Arg]) -> list[CoreSplit]:
    x = args[0]
    assert isinstance(x, SSAValue) and isinstance(x.type, MemRefType)
    if numpy_dtype(x.type.element_type).itemsize != _int(args[2]):
        return []  # a copy of bytes reinterpreting the elements: offsets differ
    return _flat(3, (0, 1))(args)


# ------------------------------------------------------------------- broadcast elementwise


def _broadcast(rank_pos: int, ins: Sequence[int], out: int) -> Rule:
    """Kernels taking (rank, out_dims[], strides[] per input): the first non-unit dim
    splits (the dims before it are 1, so every core's output is contiguous)."""

    def split(args: list[Arg]) -> list[CoreSplit]:
        rank = _int(args[rank_pos])
        dims = _ints(args[rank_pos + 1])[:rank]
        d = next((i for i, s in enumerate(dims) if s > 1), None)
        if d is None:
            return []
        strides = [_ints(args[rank_pos + 2 + k])[:rank] for k in range(len(ins))]
        steps = {p: s[d] for p, s in zip(ins, strides, strict=True)}
        steps[out] = prod(dims[d + 1 :])

        def chunk(c: int) -> list[Arg]:
            return _with(args, {rank_pos + 1: kernel.i32_array([*dims[:d], c, *dims[d + 1 :]])})

        return [CoreSplit(dims[d], steps, chunk, prod(dims))]

    return split


RULES["xd_binary_f32"] = _broadcast(4, (1, 2), 3)
RULES["xd_compare_f32"] = _broadcast(4, (1, 2), 3)
RULES["xd_binary_int"] = _broadcast(5, (2, 3), 4)
RULES["xd_compare_int"] = _broadcast(5, (2, 3), 4)
RULES["xd_where_f32"] = _broadcast(4, (0, 1, 2), 3)
RULES["xd_requant_shift"] = _broadcast(8, (0, 2, 4), 6)


@rule("xd_strided_copy")
def _strided_copy(args: list[Arg]) -> list[CoreSplit]:
    """A transpose or an expand: the first non-unit output dim splits."""
    x = args[0]
    assert isinstance(x, SSAValue) and isinstance(x.type, MemRefType)
    if numpy_dtype(x.type.element_type).itemsize != _int(args[2]):
        return []
    return _broadcast(3, (0,), 1)(args)


# ------------------------------------------------------------------------------------ rows


def _rows(units_pos: int, steps: Callable[[list[Arg]], dict[int, int]]) -> Rule:
    """Kernels over `units` independent rows; `steps` gives each buffer's row stride."""

    def split(args: list[Arg]) -> list[CoreSplit]:
        units = _int(args[units_pos])
        per_unit = steps(args)
        size = max(per_unit.values(), default=1)
        return [CoreSplit(units, per_unit, lambda c: _with(args, {units_pos: c}), units * size)]

    return split


def _row_len(*positions: int) -> Callable[[list[Arg]], int]:
    return lambda args: prod(_int(args[p]) for p in positions)


def _steps(**by_pos: Callable[[list[Arg]], int] | int) -> Callable[[list[Arg]], dict[int, int]]:
    def steps(args: list[Arg]) -> dict[int, int]:
        return {int(p[1:]): (s if isinstance(s, int) else s(args)) for p, s in by_pos.items()}

    return steps


RULES["xd_softmax_f32"] = _rows(2, _steps(a0=_row_len(3, 4), a1=_row_len(3, 4)))
RULES["xd_layernorm_f32"] = _rows(4, _steps(a0=_row_len(5), a3=_row_len(5)))
RULES["xd_rmsnorm_f32"] = _rows(3, _steps(a0=_row_len(4), a2=_row_len(4)))
RULES["xd_reduce_f32"] = _rows(3, _steps(a1=_row_len(4, 5), a2=_row_len(5)))
RULES["xd_isoftmax"] = _rows(3, _steps(a0=_row_len(4), a2=_row_len(4)))
RULES["xd_ita_max"] = _rows(3, _steps(a0=_row_len(4), a2=_row_len(4)))
RULES["xd_irmsnorm"] = _rows(5, _steps(a0=_row_len(6), a4=_row_len(6)))
RULES["xd_ilayernorm"] = _rows(7, _steps(a0=_row_len(8), a6=_row_len(8)))
RULES["xd_integer_mean"] = _rows(4, _steps(a0=_row_len(5, 6), a2=_row_len(6)))
RULES["xd_maxpool2d_f32"] = _rows(2, _steps(a0=_row_len(3, 4), a1=_row_len(5, 6)))
RULES["xd_avgpool2d_f32"] = _rows(2, _steps(a0=_row_len(3, 4), a1=_row_len(5, 6)))
RULES["xd_maxpool2d_int"] = _rows(3, _steps(a0=_row_len(4, 5), a1=_row_len(6, 7)))


def _qdq(x: int, y: int, params: Sequence[int]) -> Rule:
    """(De)quantization over (outer, channels, inner): rows of channels × inner; a
    per-tensor one (channels 1) splits its elements instead."""

    def split(args: list[Arg]) -> list[CoreSplit]:
        outer, channels, inner = (_int(args[p]) for p in (5, 6, 7))
        if channels == 1 and all(a is None or _numel(a) == 1 for a in (args[p] for p in params)):
            n = outer * inner
            return [CoreSplit(n, {x: 1, y: 1}, lambda c: _with(args, {5: 1, 6: 1, 7: c}), n)]
        row = channels * inner
        return [CoreSplit(outer, {x: row, y: row}, lambda c: _with(args, {5: c}), outer * row)]

    return split


RULES["xd_quantize_linear"] = _qdq(0, 4, (1, 2))
RULES["xd_dequantize_linear"] = _qdq(0, 4, (2, 3))


# ---------------------------------------------------------------------------------- matmul


def _matmul(a: int, b: int, out: int, m_pos: int, gemv: str, gemv_buffers: Sequence[int]) -> Rule:
    """Batched matmuls split their first non-unit batch dim; single products their rows,
    or, with one row (a matrix-vector product), their columns through `gemv` (whose b
    rows then lie `n` elements apart); `gemv_buffers`: the arguments it keeps."""

    def split(args: list[Arg]) -> list[CoreSplit]:
        m, k, n, rank = (_int(args[p]) for p in range(m_pos, m_pos + 4))
        dims = _ints(args[m_pos + 4])[:rank] if rank else []
        sa = _ints(args[m_pos + 5])[:rank] if rank else []
        sb = _ints(args[m_pos + 6])[:rank] if rank else []
        work = prod(dims) * m * n * k
        d = next((i for i, s in enumerate(dims) if s > 1), None)
        if d is not None:

            def batch(c: int) -> list[Arg]:
                new_dims = kernel.i32_array([*dims[:d], c, *dims[d + 1 :]])
                return _with(args, {m_pos + 4: new_dims})

            steps = {a: sa[d], b: sb[d], out: prod(dims[d + 1 :]) * m * n}
            return [CoreSplit(dims[d], steps, batch, work)]
        rows = CoreSplit(m, {a: k, out: n}, lambda c: _with(args, {m_pos: c}), work)
        if m != 1:
            return [rows]
        kept = [args[p] for p in gemv_buffers]

        def columns(c: int) -> list[Arg]:
            return [*kept, kernel.i32_attr(k), kernel.i32_attr(c), kernel.i32_attr(n)]

        # In the gemv call, b and out follow a (and their type enumerators, if any).
        width = len(gemv_buffers) // 3
        return [CoreSplit(n, {width: 1, 2 * width: 1}, columns, work, gemv)]

    return split


RULES["xd_matmul_f32"] = _matmul(0, 1, 2, 3, "xd_gemv_f32", (0, 1, 2))
RULES["xd_matmul_int"] = _matmul(0, 2, 4, 6, "xd_gemv_int", (0, 1, 2, 3, 4, 5))


def _gemm(a: int, b: int, c: int, out: int, m_pos: int) -> Rule:
    """Rows split when A is not transposed; a single row splits its columns when B is
    transposed (B's rows are then the output's columns, contiguous)."""

    def split(args: list[Arg]) -> list[CoreSplit]:
        m, k, n, ta, tb = (_int(args[p]) for p in range(m_pos, m_pos + 5))
        c_rs, c_cs = _int(args[m_pos + 7]), _int(args[m_pos + 8])
        work = m * n * k
        found = []
        if not ta:
            steps = {a: k, out: n} | ({c: c_rs} if args[c] is not None else {})
            found.append(CoreSplit(m, steps, lambda u: _with(args, {m_pos: u}), work))
        if m == 1 and tb:
            steps = {b: k, out: 1} | ({c: c_cs} if args[c] is not None else {})
            found.append(CoreSplit(n, steps, lambda u: _with(args, {m_pos + 2: u}), work))
        return found

    return split


RULES["xd_gemm_f32"] = _gemm(0, 1, 2, 3, 4)
RULES["xd_gemm_int"] = _gemm(0, 2, 4, 6, 8)


# ------------------------------------------------------------------------------------ conv


def _conv(x: int, w: int, bias: int, y: int, n_pos: int) -> Rule:
    """Batches split by image; a single image by output channel (group 1: the input is
    read whole) or, depthwise, by channel."""

    def split(args: list[Arg]) -> list[CoreSplit]:
        n, c, h, wd, oc, kh, kw, oh, ow = (_int(args[p]) for p in range(n_pos, n_pos + 9))
        group = _int(args[n_pos + 15])
        work = n * oc * oh * ow * (c // group) * kh * kw
        if n > 1:
            steps = {x: c * h * wd, y: oc * oh * ow}
            return [CoreSplit(n, steps, lambda u: _with(args, {n_pos: u}), work)]
        with_bias = {bias: 1} if args[bias] is not None else {}
        if group == 1:
            steps = {w: c * kh * kw, y: oh * ow} | with_bias
            return [CoreSplit(oc, steps, lambda u: _with(args, {n_pos + 4: u}), work)]
        if group == c == oc:
            steps = {x: h * wd, w: kh * kw, y: oh * ow} | with_bias
            changes = (n_pos + 1, n_pos + 4, n_pos + 15)
            return [CoreSplit(c, steps, lambda u: _with(args, dict.fromkeys(changes, u)), work)]
        return []

    return split


RULES["xd_conv2d_f32"] = _conv(0, 1, 2, 3, 4)
RULES["xd_conv2d_int"] = _conv(0, 2, 4, 6, 8)
