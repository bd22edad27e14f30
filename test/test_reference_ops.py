"""Op semantics against onnxruntime, one single-node ONNX model per case, twice:

- `xdeeploy.interp.reference` called directly on the inputs, and
- the whole path a user takes: our ONNX frontend imports the model into `dnn` and
  xDSL's interpreter runs it (`import_model` + `run_module`).

Floats must agree within |ours - ort| <= 1e-4 * max(1, |ort|); integer and data
movement results bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from onnx import helper
from onnx_builders import run_onnxruntime, single_node_model

from xdeeploy.frontend.onnx import import_model
from xdeeploy.interp import reference as ref
from xdeeploy.interp.run import run_module

Array = npt.NDArray[Any]
F32 = np.float32
I32 = np.int32
I64 = np.int64


def _rng(*salt: object) -> np.random.Generator:
    """A generator seeded per case, so a case's data does not depend on test order."""
    return np.random.default_rng([sum(map(ord, repr(salt))), 1234])


def assert_matches(got: Array, want: Array, exact: bool = False) -> None:
    assert isinstance(got, np.ndarray), f"got a {type(got).__name__}, not an ndarray"
    assert got.shape == want.shape, f"shape {got.shape} != onnxruntime's {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != onnxruntime's {want.dtype}"
    if exact or not np.issubdtype(want.dtype, np.floating):
        np.testing.assert_array_equal(got, want)
        return
    g, w = got.astype(np.float64), want.astype(np.float64)
    assert np.array_equal(np.isnan(g), np.isnan(w)), "NaNs differ"
    ok = ~np.isnan(w)
    err = np.abs(g - w)[ok]
    tol = 1e-4 * np.maximum(1.0, np.abs(w[ok]))
    if not np.all(err <= tol):
        i = int(np.argmax(err - tol))
        pytest.fail(f"max excess error at flat {i}: ours {g[ok][i]!r}, onnxruntime {w[ok][i]!r}")


def check(
    op_type: str,
    inputs: dict[str, Array],
    attrs: dict[str, Any],
    ours: Array | Sequence[Array],
    *,
    initializers: dict[str, Array] | None = None,
    exact: bool = False,
    **model_kw: Any,
) -> None:
    """Run `op_type` in onnxruntime on `inputs` and compare with our result(s)."""
    got = [ours] if isinstance(ours, np.ndarray) else list(ours)
    model = single_node_model(
        op_type, inputs, attrs, n_outputs=len(got), initializers=initializers, **model_kw
    )
    want = run_onnxruntime(model, inputs)
    assert len(want) == len(got)
    for g, w in zip(got, want, strict=True):
        assert_matches(g, w, exact)
    if op_type not in ONNXRUNTIME_ONLY:
        runtime = [inputs[i.name] for i in model.graph.input if i.name in inputs]
        compiled = run_module(import_model(model), runtime)
        assert len(compiled) == len(want)
        for c, w in zip(compiled, want, strict=True):
            assert_matches(c, w, exact)


ONNXRUNTIME_ONLY = {
    # onnxruntime's integer and contrib kernels, used only to check the numpy semantics
    "ConvInteger": "integer ops arrive with «Integer graphs»",
    "MatMulInteger": "integer ops arrive with «Integer graphs»",
    "SimplifiedLayerNormalization": "an onnxruntime contrib op, not ONNX",
    "Tile": "no dnn.tile yet: no peer network or Llama uses it",
}


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> Array:
    return np.asarray(rng.standard_normal(shape) * scale, dtype=F32)


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return np.asarray(rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape), dtype=F32)


# ---------------------------------------------------------------------------
# Binary elementwise

BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "Add": ref.add,
    "Sub": ref.sub,
    "Mul": ref.mul,
    "Div": ref.div,
    "Pow": ref.pow,
    "Max": ref.maximum,
    "Min": ref.minimum,
}
BROADCAST_SHAPES = [
    pytest.param((3, 4), (3, 4), id="same"),
    pytest.param((2, 3, 4), (4,), id="row"),
    pytest.param((2, 1, 4), (3, 1), id="both"),
    pytest.param((5,), (), id="scalar"),
]


def _binary_operands(
    op: str, dtype: type, sa: tuple[int, ...], sb: tuple[int, ...]
) -> tuple[Array, Array]:
    rng = _rng(op, dtype, sa, sb)
    if dtype is F32:
        if op == "Pow":
            return rng.uniform(0.1, 3.0, sa).astype(F32), rng.uniform(-2.0, 2.0, sb).astype(F32)
        b = _away_from_zero(rng, sb) if op == "Div" else _normal(rng, sb)
        return _normal(rng, sa), b
    if op == "Pow":
        return rng.integers(-5, 6, sa).astype(dtype), rng.integers(0, 5, sb).astype(dtype)
    a = rng.integers(-1000, 1000, sa).astype(dtype)
    b = rng.integers(-1000, 1000, sb).astype(dtype)
    if op == "Div":  # small non-zero divisors of both signs: truncation vs floor matters
        b = (rng.choice([-1, 1], sb) * rng.integers(1, 8, sb)).astype(dtype)
    return a, b


@pytest.mark.parametrize(("sa", "sb"), BROADCAST_SHAPES)
@pytest.mark.parametrize("dtype", [F32, I32, I64], ids=["f32", "i32", "i64"])
@pytest.mark.parametrize("op", list(BINARY))
def test_binary(op: str, dtype: type, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = _binary_operands(op, dtype, sa, sb)
    check(op, {"a": a, "b": b}, {}, BINARY[op](a, b))


def test_pow_float_base_int_exponent() -> None:
    rng = _rng("pow-mixed")
    a, b = _normal(rng, (3, 4)), rng.integers(0, 4, (4,)).astype(I64)
    check("Pow", {"a": a, "b": b}, {}, ref.pow(a, b))


def test_int32_add_mul_wrap() -> None:
    """Overflow wraps in int32, in onnxruntime as in numpy."""
    a = np.array([2**31 - 1, -(2**31), 123456789, -987654321], dtype=I32)
    b = np.array([1, -1, 987654321, 77], dtype=I32)
    check("Add", {"a": a, "b": b}, {}, ref.add(a, b))
    check("Mul", {"a": a, "b": b}, {}, ref.mul(a, b))


@pytest.mark.parametrize(("sa", "sb"), BROADCAST_SHAPES)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
@pytest.mark.parametrize(
    ("op", "fn"),
    [("Equal", ref.equal), ("Less", ref.less), ("Greater", ref.greater)],
    ids=["Equal", "Less", "Greater"],
)
def test_compare(
    op: str,
    fn: Callable[[Array, Array], Array],
    dtype: type,
    sa: tuple[int, ...],
    sb: tuple[int, ...],
) -> None:
    rng = _rng(op, dtype, sa, sb)
    a = rng.integers(-2, 3, sa).astype(dtype)  # small range: plenty of ties
    b = rng.integers(-2, 3, sb).astype(dtype)
    check(op, {"a": a, "b": b}, {}, fn(a, b))


@pytest.mark.parametrize(
    ("sc", "sa", "sb"),
    [
        pytest.param((3, 4), (3, 4), (3, 4), id="same"),
        pytest.param((3, 1), (3, 4), (4,), id="broadcast"),
        pytest.param((), (2, 3), (1, 3), id="scalar-cond"),
    ],
)
@pytest.mark.parametrize("dtype", [F32, I64], ids=["f32", "i64"])
def test_where(dtype: type, sc: tuple[int, ...], sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = _rng("where", dtype, sc)
    cond = rng.random(sc) < 0.5
    a, b = rng.integers(-9, 9, sa).astype(dtype), rng.integers(-9, 9, sb).astype(dtype)
    check("Where", {"c": cond, "a": a, "b": b}, {}, ref.where(cond, a, b))


# ---------------------------------------------------------------------------
# Unary elementwise


def _uniform(lo: float, hi: float) -> Callable[[np.random.Generator, tuple[int, ...]], Array]:
    return lambda rng, shape: np.asarray(rng.uniform(lo, hi, shape), dtype=F32)


def _halves(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Exact halves (ties: round half to even) mixed with arbitrary values."""
    x = rng.integers(-12, 12, shape) / 2 + np.where(
        rng.random(shape) < 0.5, 0, rng.normal(0, 0.2, shape)
    )
    return np.asarray(x, dtype=F32)


UNARY: list[Any] = [
    # id, op_type, our function, input generator, attrs, opset
    ("Sqrt", "Sqrt", ref.sqrt, _uniform(0, 50), {}, 17),
    ("Neg", "Neg", ref.neg, _normal, {}, 17),
    ("Abs", "Abs", ref.abs, _normal, {}, 17),
    ("Exp", "Exp", ref.exp, _uniform(-20, 20), {}, 17),
    ("Log", "Log", ref.log, _uniform(1e-3, 100), {}, 17),
    ("Erf", "Erf", ref.erf, _uniform(-6, 6), {}, 17),
    ("Tanh", "Tanh", ref.tanh, _uniform(-10, 10), {}, 17),
    ("Relu", "Relu", ref.relu, _normal, {}, 17),
    ("Sigmoid", "Sigmoid", ref.sigmoid, _uniform(-100, 100), {}, 17),
    ("Silu", "Swish", ref.silu, _uniform(-20, 20), {}, 24),
    ("Reciprocal", "Reciprocal", ref.reciprocal, _away_from_zero, {}, 17),
    ("Cos", "Cos", ref.cos, _uniform(-10, 10), {}, 17),
    ("Sin", "Sin", ref.sin, _uniform(-10, 10), {}, 17),
    ("Floor", "Floor", ref.floor, _halves, {}, 17),
    ("Ceil", "Ceil", ref.ceil, _halves, {}, 17),
    ("Round", "Round", ref.round, _halves, {}, 17),
    ("HardSwish", "HardSwish", ref.hardswish, _uniform(-5, 5), {}, 17),
    ("HardSigmoid-default", "HardSigmoid", ref.hardsigmoid, _uniform(-5, 5), {}, 17),
    ("Gelu-erf", "Gelu", ref.gelu, _uniform(-6, 6), {}, 20),
]
UNARY_ATTR: list[Any] = [
    (
        "HardSigmoid-attrs",
        "HardSigmoid",
        lambda x: ref.hardsigmoid(x, alpha=0.3, beta=0.4),
        _uniform(-5, 5),
        {"alpha": 0.3, "beta": 0.4},
        17,
    ),
    ("LeakyRelu", "LeakyRelu", lambda x: ref.leaky_relu(x, 0.1), _normal, {"alpha": 0.1}, 17),
    (
        "Gelu-tanh",
        "Gelu",
        lambda x: ref.gelu(x, approximate="tanh"),
        _uniform(-6, 6),
        {"approximate": "tanh"},
        20,
    ),
]


@pytest.mark.parametrize("shape", [(2, 3, 17), (7,), ()], ids=["3d", "1d", "0d"])
@pytest.mark.parametrize(
    ("op_type", "fn", "gen", "attrs", "opset"),
    [pytest.param(*case[1:], id=case[0]) for case in UNARY + UNARY_ATTR],
)
def test_unary(
    op_type: str,
    fn: Callable[[Array], Array],
    gen: Callable[[np.random.Generator, tuple[int, ...]], Array],
    attrs: dict[str, Any],
    opset: int,
    shape: tuple[int, ...],
) -> None:
    x = gen(_rng(op_type, attrs, shape), shape)
    check(op_type, {"x": x}, attrs, fn(x), opset=opset)


@pytest.mark.parametrize(
    ("op_type", "fn"),
    [("Neg", ref.neg), ("Abs", ref.abs), ("Relu", ref.relu)],
    ids=["Neg", "Abs", "Relu"],
)
@pytest.mark.parametrize("dtype", [I32, np.int8], ids=["i32", "i8"])
def test_unary_int(op_type: str, fn: Callable[[Array], Array], dtype: type) -> None:
    x = _rng(op_type, dtype).integers(-100, 100, (4, 9)).astype(dtype)
    check(op_type, {"x": x}, {}, fn(x))


def test_erf_accuracy_near_one() -> None:
    """Large |x|, where erf rounds to ±1 in float32 and cancellation would show."""
    x = np.array([-10, -4.5, -3.9, -3.1, 2.99, 3.0, 3.5, 3.9, 4.5, 10], dtype=F32)
    check("Erf", {"x": x}, {}, ref.erf(x))
    assert ref.erf(np.array([0.5], F32))[0] == np.float32(0.5204998778130465)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(-0.5, 0.7), (0.0, None), (None, 6.0), (None, None)],
    ids=["both", "min-only", "max-only", "none"],
)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
def test_clip(dtype: type, lo: float | None, hi: float | None) -> None:
    rng = _rng("clip", dtype, lo, hi)
    if dtype is I32:
        x = rng.integers(-10, 10, (3, 8)).astype(I32)
        lo, hi = (None if lo is None else int(lo)), (None if hi is None else int(hi))
    else:
        x = _normal(rng, (3, 8), 3.0)
    inits = {}
    names = ["x", "", ""]
    if lo is not None:
        inits["lo"], names[1] = np.array(lo, dtype=dtype), "lo"
    if hi is not None:
        inits["hi"], names[2] = np.array(hi, dtype=dtype), "hi"
    while names[-1] == "":
        names.pop()
    check("Clip", {"x": x}, {}, ref.clip(x, lo, hi), initializers=inits, node_inputs=names)


@pytest.mark.parametrize(
    ("src", "dst", "lo", "hi"),
    [
        pytest.param(F32, I32, -1000, 1000, id="f32-i32"),
        pytest.param(F32, np.int8, -128, 127, id="f32-i8"),
        pytest.param(F32, np.uint8, 0, 255, id="f32-u8"),
        pytest.param(F32, I64, -1e6, 1e6, id="f32-i64"),
        pytest.param(I32, F32, -(2**31), 2**31 - 1, id="i32-f32"),
        pytest.param(I64, I32, -(2**40), 2**40, id="i64-i32-wrap"),
        pytest.param(I32, np.int8, -1000, 1000, id="i32-i8-wrap"),
        pytest.param(np.int8, F32, -128, 127, id="i8-f32"),
        pytest.param(F32, np.bool_, -2, 2, id="f32-bool"),
        pytest.param(np.bool_, F32, 0, 2, id="bool-f32"),
    ],
)
def test_cast(src: type, dst: type, lo: float, hi: float) -> None:
    rng = _rng("cast", src, dst)
    if np.issubdtype(src, np.floating):
        x = rng.uniform(lo, hi, (5, 7)).astype(src)
        x[0, :3] = [0.0, -0.0, 0.5]  # zeros (for bool) and a tie
    else:
        x = rng.integers(int(lo), int(hi), (5, 7)).astype(src)
    to = helper.np_dtype_to_tensor_dtype(np.dtype(dst))
    check("Cast", {"x": x}, {"to": to}, ref.cast(x, np.dtype(dst)), exact=True)


# ---------------------------------------------------------------------------
# Matmul and Gemm


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        pytest.param((3, 4), (4, 5), id="2d"),
        pytest.param((2, 3, 4), (4, 5), id="batch-lhs"),
        pytest.param((2, 1, 3, 4), (5, 4, 6), id="batch-broadcast"),
        pytest.param((4,), (4, 5), id="vec-mat"),
        pytest.param((2, 3, 4), (4,), id="mat-vec"),
        pytest.param((6,), (6,), id="dot"),
        pytest.param((1, 64, 96), (96, 80), id="large"),
    ],
)
@pytest.mark.parametrize("dtype", [F32, I32, I64], ids=["f32", "i32", "i64"])
def test_matmul(dtype: type, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    rng = _rng("matmul", dtype, sa, sb)
    if dtype is F32:
        a, b = _normal(rng, sa), _normal(rng, sb)
    else:
        a, b = rng.integers(-100, 100, sa).astype(dtype), rng.integers(-100, 100, sb).astype(dtype)
    check("MatMul", {"a": a, "b": b}, {}, ref.matmul(a, b))


@pytest.mark.parametrize(
    ("ta", "tb"),
    [(np.uint8, np.int8), (np.int8, np.int8), (np.uint8, np.uint8)],
    ids=["u8i8", "i8i8", "u8u8"],
)
def test_matmul_integer_accumulates_exactly(ta: type, tb: type) -> None:
    """MatMulInteger (8-bit in, int32 out) == our int32 matmul of the widened inputs."""
    rng = _rng("matmulinteger", ta, tb)
    a = rng.integers(np.iinfo(ta).min, np.iinfo(ta).max + 1, (2, 5, 64)).astype(ta)
    b = rng.integers(np.iinfo(tb).min, np.iinfo(tb).max + 1, (64, 7)).astype(tb)
    check("MatMulInteger", {"a": a, "b": b}, {}, ref.matmul(a.astype(I32), b.astype(I32)))


@pytest.mark.parametrize(
    ("trans_a", "trans_b", "c_shape", "alpha", "beta"),
    [
        pytest.param(False, False, None, 1.0, 1.0, id="no-c"),
        pytest.param(False, False, (5,), 1.0, 1.0, id="c-row"),
        pytest.param(True, False, (3, 5), 1.0, 1.0, id="transA-c-full"),
        pytest.param(False, True, (3, 1), 0.5, 2.0, id="transB-c-col-alpha-beta"),
        pytest.param(True, True, (1, 5), -1.5, 0.25, id="transAB-alpha-beta"),
        pytest.param(False, True, (), 1.0, 3.0, id="c-scalar"),
    ],
)
def test_gemm(
    trans_a: bool, trans_b: bool, c_shape: tuple[int, ...] | None, alpha: float, beta: float
) -> None:
    m, k, n = 3, 4, 5
    rng = _rng("gemm", trans_a, trans_b, c_shape)
    a = _normal(rng, (k, m) if trans_a else (m, k))
    b = _normal(rng, (n, k) if trans_b else (k, n))
    inputs = {"a": a, "b": b}
    c = None
    if c_shape is not None:
        c = inputs["c"] = _normal(rng, c_shape)
    attrs = {"alpha": alpha, "beta": beta, "transA": int(trans_a), "transB": int(trans_b)}
    ours = ref.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
    check("Gemm", inputs, attrs, ours)


# ---------------------------------------------------------------------------
# Convolution

CONV_CASES = [
    # id, x shape, w shape, strides, pads, dilations, group, bias
    ("2d-pad1-bias", (1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
    ("2d-stride2", (2, 3, 9, 9), (5, 3, 3, 3), (2, 2), (0, 0, 0, 0), (1, 1), 1, False),
    ("2d-dilation2-asym-pads", (1, 2, 10, 11), (3, 2, 3, 3), (1, 1), (0, 1, 2, 1), (2, 2), 1, True),
    ("2d-rect-kernel-strides", (2, 3, 7, 12), (4, 3, 3, 1), (1, 2), (1, 0, 1, 0), (1, 1), 1, True),
    ("2d-group2", (1, 4, 6, 6), (6, 2, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, True),
    ("2d-depthwise", (1, 8, 9, 9), (8, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 8, True),
    ("2d-depthwise-mult2", (2, 4, 7, 7), (8, 1, 5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 4, False),
    ("2d-1x1", (1, 16, 5, 5), (8, 16, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, True),
    ("2d-224-stem", (1, 3, 224, 224), (16, 3, 7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, True),
    ("2d-224-3x3", (1, 3, 224, 224), (8, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, False),
    ("1d-basic", (1, 3, 16), (4, 3, 3), (1,), (1, 1), (1,), 1, True),
    ("1d-stride-dilation-pads", (2, 4, 20), (6, 4, 5), (2,), (2, 1), (2,), 1, True),
    ("1d-groups", (1, 6, 12), (9, 2, 3), (1,), (0, 2), (1,), 3, False),
]


def _conv_attrs(
    w: Array, strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int], group: int
) -> dict[str, Any]:
    return {
        "kernel_shape": list(w.shape[2:]),
        "strides": list(strides),
        "pads": list(pads),
        "dilations": list(dilations),
        "group": group,
    }


@pytest.mark.parametrize(
    ("xs", "ws", "strides", "pads", "dilations", "group", "bias"),
    [pytest.param(*c[1:], id=c[0]) for c in CONV_CASES],
)
def test_conv(
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    group: int,
    bias: bool,
) -> None:
    rng = _rng("conv", xs, ws, strides, pads, group)
    x, w = _normal(rng, xs), _normal(rng, ws)
    inputs = {"x": x, "w": w}
    b = None
    if bias:
        b = inputs["b"] = _normal(rng, (ws[0],))
    ours = ref.conv(x, w, b, strides=strides, pads=pads, dilations=dilations, group=group)
    check("Conv", inputs, _conv_attrs(w, strides, pads, dilations, group), ours)


@pytest.mark.parametrize(
    ("xs", "ws", "strides", "pads", "dilations", "group"),
    [
        pytest.param((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, id="2d-pad"),
        pytest.param(
            (2, 4, 9, 7), (6, 2, 3, 3), (2, 1), (0, 1, 2, 0), (1, 2), 2, id="2d-group-stride-dil"
        ),
        pytest.param((1, 4, 15), (4, 4, 5), (2,), (2, 2), (1,), 1, id="1d"),
    ],
)
def test_conv_integer_exact(
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    group: int,
) -> None:
    """ConvInteger (u8 x, i8 w -> int32) == our int32 conv of the widened inputs."""
    rng = _rng("convinteger", xs, ws)
    x = rng.integers(0, 256, xs).astype(np.uint8)
    w = rng.integers(-128, 128, ws).astype(np.int8)
    ours = ref.conv(
        x.astype(I32), w.astype(I32), strides=strides, pads=pads, dilations=dilations, group=group
    )
    check(
        "ConvInteger",
        {"x": x, "w": w},
        _conv_attrs(w, strides, pads, dilations, group),
        ours,
        exact=True,
    )


# ---------------------------------------------------------------------------
# Pooling

MAXPOOL_CASES = [
    # id, x shape, kernel, strides, pads, dilations, ceil_mode
    ("2d-k3s2p1", (1, 4, 9, 9), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),
    ("2d-k2s2", (2, 3, 8, 6), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False),
    ("2d-asym-pads-rect", (1, 2, 7, 10), (2, 3), (1, 2), (0, 1, 1, 2), (1, 1), False),
    ("2d-dilation", (1, 2, 10, 10), (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), False),
    ("2d-ceil", (1, 2, 6, 7), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ("2d-ceil-drop-last", (1, 2, 5, 5), (2, 2), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ("2d-ceil-no-pad", (1, 3, 7, 8), (3, 2), (2, 3), (0, 0, 0, 0), (1, 1), True),
    ("1d-k3s2p1", (2, 3, 11), (3,), (2,), (1, 1), (1,), False),
    ("1d-ceil-dilation", (1, 2, 12), (2,), (3,), (0, 1), (2,), True),
    # The last window starts on the last input element: kept (dropped only when it
    # would start in the end padding).
    ("1d-ceil-keep-last", (1, 2, 4), (3,), (2,), (1, 1), (1,), True),
]


@pytest.mark.parametrize("dtype", [F32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize(
    ("xs", "kernel", "strides", "pads", "dilations", "ceil_mode"),
    [pytest.param(*c[1:], id=c[0]) for c in MAXPOOL_CASES],
)
def test_max_pool(
    dtype: type,
    xs: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    ceil_mode: bool,
) -> None:
    rng = _rng("maxpool", xs, kernel, pads)
    # All-negative values, so that a zero-valued padding would win and show up.
    x = -np.abs(_normal(rng, xs)) - 1 if dtype is F32 else rng.integers(-128, 0, xs).astype(dtype)
    attrs = {
        "kernel_shape": list(kernel),
        "strides": list(strides),
        "pads": list(pads),
        "dilations": list(dilations),
        "ceil_mode": int(ceil_mode),
    }
    ours = ref.max_pool(
        x, kernel_shape=kernel, strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode
    )
    check("MaxPool", {"x": x}, attrs, ours, opset=17)


AVGPOOL_CASES = [
    # id, x shape, kernel, strides, pads, ceil_mode
    ("2d-k3s2p1", (1, 4, 9, 9), (3, 3), (2, 2), (1, 1, 1, 1), False),
    ("2d-k2s2-nopad", (2, 3, 8, 6), (2, 2), (2, 2), (0, 0, 0, 0), False),
    ("2d-asym-pads", (1, 2, 7, 10), (3, 3), (1, 2), (0, 1, 2, 2), False),
    ("2d-ceil", (1, 2, 6, 7), (3, 3), (2, 2), (1, 1, 1, 1), True),
    ("2d-ceil-nopad", (1, 2, 7, 8), (3, 2), (2, 3), (0, 0, 0, 0), True),
    ("2d-ceil-drop-last", (1, 2, 5, 5), (2, 2), (2, 2), (1, 1, 1, 1), True),
    ("1d-ceil-keep-last", (1, 2, 4), (3,), (2,), (1, 1), True),
    ("1d-k3s1p1", (2, 3, 11), (3,), (1,), (1, 1), False),
    ("1d-k4s3-asym", (1, 2, 13), (4,), (3,), (2, 1), False),
]


@pytest.mark.parametrize("count_include_pad", [False, True], ids=["exclude-pad", "include-pad"])
@pytest.mark.parametrize(
    ("xs", "kernel", "strides", "pads", "ceil_mode"),
    [pytest.param(*c[1:], id=c[0]) for c in AVGPOOL_CASES],
)
def test_average_pool(
    count_include_pad: bool,
    xs: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    ceil_mode: bool,
) -> None:
    x = _normal(_rng("avgpool", xs, kernel, pads), xs) + 2
    attrs = {
        "kernel_shape": list(kernel),
        "strides": list(strides),
        "pads": list(pads),
        "count_include_pad": int(count_include_pad),
        "ceil_mode": int(ceil_mode),
    }
    ours = ref.average_pool(
        x,
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        count_include_pad=count_include_pad,
        ceil_mode=ceil_mode,
    )
    check("AveragePool", {"x": x}, attrs, ours)


@pytest.mark.parametrize("xs", [(2, 3, 5, 6), (2, 4, 7), (1, 8, 1, 1)], ids=["2d", "1d", "1x1"])
def test_global_average_pool(xs: tuple[int, ...]) -> None:
    x = _normal(_rng("gap", xs), xs)
    check("GlobalAveragePool", {"x": x}, {}, ref.global_average_pool(x))


# ---------------------------------------------------------------------------
# Softmax and normalisation


@pytest.mark.parametrize("axis", [-1, 0, 1], ids=lambda a: f"axis{a}")
@pytest.mark.parametrize(
    ("op", "fn"),
    [("Softmax", ref.softmax), ("LogSoftmax", ref.log_softmax)],
    ids=["Softmax", "LogSoftmax"],
)
def test_softmax(op: str, fn: Callable[..., Array], axis: int) -> None:
    x = _normal(_rng(op, axis), (2, 3, 5), 10.0)  # wide range: needs the max shift
    check(op, {"x": x}, {"axis": axis}, fn(x, axis=axis))


@pytest.mark.parametrize(
    ("xs", "axis", "bias"),
    [
        pytest.param((2, 3, 8), -1, True, id="last-bias"),
        pytest.param((2, 3, 8), 1, False, id="axis1-nobias"),
        pytest.param((4, 2, 3, 5), -2, True, id="axis-2-bias"),
        pytest.param((1, 16, 64), 2, True, id="tokens"),
    ],
)
def test_layer_norm(xs: tuple[int, ...], axis: int, bias: bool) -> None:
    rng = _rng("layernorm", xs, axis)
    x = _normal(rng, xs, 3.0) + 1
    pshape = xs[axis:]
    scale = _normal(rng, pshape)
    inputs = {"x": x, "scale": scale}
    b = None
    if bias:
        b = inputs["bias"] = _normal(rng, pshape)
    ours = ref.layer_norm(x, scale, b, axis=axis, epsilon=1e-5)
    check("LayerNormalization", inputs, {"axis": axis, "epsilon": 1e-5}, ours)


@pytest.mark.parametrize(
    ("xs", "axis", "with_scale"),
    [
        pytest.param((2, 3, 8), -1, True, id="last"),
        pytest.param((2, 3, 8), 1, True, id="axis1"),
        pytest.param((1, 16, 64), -1, False, id="no-scale"),
    ],
)
def test_rms_norm(xs: tuple[int, ...], axis: int, with_scale: bool) -> None:
    """Against ONNX RMSNormalization (opset 23) and onnxruntime's contrib
    SimplifiedLayerNormalization; a missing scale is a scale of ones to them."""
    rng = _rng("rmsnorm", xs, axis)
    x = _normal(rng, xs, 3.0) + 1
    scale = _normal(rng, xs[axis:]) if with_scale else np.ones(xs[axis:], F32)
    ours = ref.rms_norm(x, scale if with_scale else None, axis=axis, epsilon=1e-5)
    attrs = {"axis": axis, "epsilon": 1e-5}
    check("RMSNormalization", {"x": x, "scale": scale}, attrs, ours, opset=23)
    check(
        "SimplifiedLayerNormalization", {"x": x, "scale": scale}, attrs, ours, output_dtypes=[F32]
    )


# ---------------------------------------------------------------------------
# Reductions

REDUCE: dict[str, Callable[..., Array]] = {
    "ReduceSum": ref.reduce_sum,
    "ReduceMean": ref.reduce_mean,
    "ReduceMax": ref.reduce_max,
    "ReduceMin": ref.reduce_min,
}


@pytest.mark.parametrize("keepdims", [True, False], ids=["keep", "drop"])
@pytest.mark.parametrize("axes", [(), (1,), (0, 2), (2,)], ids=["all", "1", "0-2", "2"])
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
@pytest.mark.parametrize("op", list(REDUCE))
def test_reduce(op: str, dtype: type, axes: tuple[int, ...], keepdims: bool) -> None:
    rng = _rng(op, dtype, axes)
    shape = (3, 4, 5)
    x = _normal(rng, shape) if dtype is F32 else rng.integers(-50, 50, shape).astype(dtype)
    attrs: dict[str, Any] = {"keepdims": int(keepdims)}
    inits: dict[str, Array] = {}
    if axes and op == "ReduceSum":  # opset 13+: axes is an input
        inits["axes"] = np.array(axes, dtype=I64)
    elif axes:  # opset 17: still an attribute for the others
        attrs["axes"] = list(axes)
    ours = REDUCE[op](x, axes=axes, keepdims=keepdims)
    check(op, {"x": x}, attrs, ours, initializers=inits)


# ---------------------------------------------------------------------------
# Data movement


@pytest.mark.parametrize(
    ("ds", "indices", "axis"),
    [
        pytest.param((5, 4, 3), [[0, -1, 2], [4, -5, 1]], 0, id="axis0-2d-neg"),
        pytest.param((5, 4, 3), 2, 1, id="axis1-scalar"),
        pytest.param((5, 4, 3), -3, 1, id="axis1-scalar-neg"),
        pytest.param((5, 4, 3), [2, 0, -1, 1, 1], -1, id="axis-1"),
        pytest.param((100, 16), [[3, 99], [-100, 7], [0, 0]], 0, id="embedding"),
    ],
)
@pytest.mark.parametrize(
    ("dtype", "itype"), [(F32, I64), (I32, I32), (I64, I64)], ids=["f32", "i32", "i64"]
)
def test_gather(dtype: type, itype: type, ds: tuple[int, ...], indices: Any, axis: int) -> None:
    data = _rng("gather", ds).integers(-1000, 1000, ds).astype(dtype)
    idx = np.array(indices, dtype=itype)
    check(
        "Gather",
        {"data": data, "idx": idx},
        {"axis": axis},
        ref.gather(data, idx, axis=axis),
        exact=True,
    )


@pytest.mark.parametrize(
    ("xs", "perm"),
    [
        pytest.param((2, 3, 4), (2, 0, 1), id="rotate"),
        pytest.param((2, 3, 4), (1, 0, 2), id="swap01"),
        pytest.param((2, 3, 4, 5), None, id="default-reverse"),
        pytest.param((1, 8, 4, 16), (0, 2, 1, 3), id="heads"),
    ],
)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
def test_transpose(dtype: type, xs: tuple[int, ...], perm: tuple[int, ...] | None) -> None:
    x = _rng("transpose", xs).integers(-99, 99, xs).astype(dtype)
    attrs = {} if perm is None else {"perm": list(perm)}
    check("Transpose", {"x": x}, attrs, ref.transpose(x, perm=perm), exact=True)


@pytest.mark.parametrize(
    ("xs", "shape"),
    [
        pytest.param((2, 3, 4), (6, 4), id="merge"),
        pytest.param((2, 3, 4), (24,), id="flatten"),
        pytest.param((2, 3, 4), (4, 1, 6), id="split-unit"),
        pytest.param((6,), (1, 2, 1, 3), id="unsqueeze-like"),
    ],
)
def test_reshape(xs: tuple[int, ...], shape: tuple[int, ...]) -> None:
    x = _normal(_rng("reshape", xs), xs)
    inits = {"shape": np.array(shape, dtype=I64)}
    check("Reshape", {"x": x}, {}, ref.reshape(x, shape=shape), initializers=inits, exact=True)


@pytest.mark.parametrize(
    ("shapes", "axis"),
    [
        pytest.param([(2, 3), (4, 3)], 0, id="two-axis0"),
        pytest.param([(2, 3, 1), (2, 3, 4), (2, 3, 2)], -1, id="three-axis-1"),
        pytest.param([(1, 2, 5), (1, 1, 5)], 1, id="axis1"),
    ],
)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
def test_concat(dtype: type, shapes: list[tuple[int, ...]], axis: int) -> None:
    rng = _rng("concat", shapes)
    xs = {f"x{i}": rng.integers(-99, 99, s).astype(dtype) for i, s in enumerate(shapes)}
    check("Concat", xs, {"axis": axis}, ref.concat(list(xs.values()), axis=axis), exact=True)


def _normalise_slice(
    shape: tuple[int, ...],
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int],
    steps: Sequence[int],
) -> tuple[list[int], list[int], list[int]]:
    """ONNX Slice inputs -> the full-rank, clamped bounds `ref.slice` takes.

    ONNX clamps a negative-step end to -1 ("before index 0"); in Python slicing -1
    is the last index, so that end becomes -dim-1.
    """
    fs, fe, fst = [0] * len(shape), list(shape), [1] * len(shape)
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        a = a % len(shape)
        d = shape[a]
        s, e = (s + d if s < 0 else s), (e + d if e < 0 else e)
        if st > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
        else:
            s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
            e = -d - 1 if e == -1 else e
        fs[a], fe[a], fst[a] = s, e, st
    return fs, fe, fst


@pytest.mark.parametrize(
    ("starts", "ends", "axes", "steps"),
    [
        pytest.param([1], [4], [0], [1], id="axis0"),
        pytest.param([-3, 0], [100, -1], [2, 1], [1, 2], id="neg-bounds-step2"),
        pytest.param([-1], [-100], [1], [-1], id="reverse-through-0"),
        pytest.param([5, 7], [1, 0], [0, -1], [-2, -3], id="neg-steps"),
        pytest.param([4], [2], [0], [1], id="empty"),
        pytest.param([0, 2, 1], [6, 5, 8], [0, 1, 2], [3, 1, 2], id="all-axes"),
    ],
)
def test_slice(starts: list[int], ends: list[int], axes: list[int], steps: list[int]) -> None:
    shape = (6, 7, 8)
    x = _rng("slice", starts).integers(-99, 99, shape).astype(I32)
    fs, fe, fst = _normalise_slice(shape, starts, ends, axes, steps)
    inits = {
        n: np.array(v, dtype=I64)
        for n, v in [("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps)]
    }
    ours = ref.slice(x, starts=fs, ends=fe, steps=fst)
    check("Slice", {"x": x}, {}, ours, initializers=inits, exact=True)


@pytest.mark.parametrize(
    ("xs", "axis", "sizes"),
    [
        pytest.param((6, 4), 0, (2, 4), id="axis0-uneven"),
        pytest.param((2, 9), -1, (3, 3, 3), id="axis-1-even"),
        pytest.param((4, 5, 6), 1, (1, 4), id="axis1"),
        pytest.param((1, 8, 12), 2, (4, 4, 4), id="qkv"),
    ],
)
def test_split(xs: tuple[int, ...], axis: int, sizes: tuple[int, ...]) -> None:
    x = _normal(_rng("split", xs), xs)
    inits = {"split": np.array(sizes, dtype=I64)}
    check(
        "Split",
        {"x": x},
        {"axis": axis},
        ref.split(x, axis=axis, sizes=sizes),
        initializers=inits,
        exact=True,
    )


@pytest.mark.parametrize(
    ("xs", "shape"),
    [
        pytest.param((3, 1), (2, 3, 4), id="grow-rank"),
        pytest.param((2, 3, 1), (1,), id="shorter-shape"),
        pytest.param((1, 4), (3, 1), id="bidirectional"),
        pytest.param((), (2, 2), id="scalar"),
    ],
)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
def test_expand(dtype: type, xs: tuple[int, ...], shape: tuple[int, ...]) -> None:
    x = _rng("expand", xs).integers(-99, 99, xs).astype(dtype)
    inits = {"shape": np.array(shape, dtype=I64)}
    check("Expand", {"x": x}, {}, ref.expand(x, shape=shape), initializers=inits, exact=True)


@pytest.mark.parametrize(
    ("xs", "pads", "value"),
    [
        pytest.param((2, 3), (1, 2, 0, 1), 0.0, id="zero"),
        pytest.param((2, 3), (0, 0, 2, 2), 1.5, id="value"),
        pytest.param((4, 5), (-1, 1, 0, -2), 0.0, id="negative-crop"),
        pytest.param((1, 2, 3, 3), (0, 0, 1, 1, 0, 0, 1, 1), -3.0, id="nchw-spatial"),
    ],
)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
def test_pad(dtype: type, xs: tuple[int, ...], pads: tuple[int, ...], value: float) -> None:
    x = _rng("pad", xs).integers(-99, 99, xs).astype(dtype)
    if dtype is I32:
        value = float(int(value))
    inits = {"pads": np.array(pads, dtype=I64), "value": np.array(value, dtype=dtype)}
    check(
        "Pad",
        {"x": x},
        {"mode": "constant"},
        ref.pad(x, pads=pads, value=value),
        initializers=inits,
        exact=True,
    )


@pytest.mark.parametrize(
    ("xs", "repeats"),
    [
        pytest.param((2, 3), (2, 1), id="rows"),
        pytest.param((2, 3), (1, 3), id="cols"),
        pytest.param((2, 1, 3), (1, 4, 2), id="3d"),
    ],
)
def test_tile(xs: tuple[int, ...], repeats: tuple[int, ...]) -> None:
    x = _normal(_rng("tile", xs), xs)
    inits = {"repeats": np.array(repeats, dtype=I64)}
    check("Tile", {"x": x}, {}, ref.tile(x, repeats=repeats), initializers=inits, exact=True)


# ---------------------------------------------------------------------------
# Semantics onnxruntime does not cover (integer types it has no kernel for)


def test_int8_arithmetic_wraps() -> None:
    a = np.array([100, -100, 127, -128], dtype=np.int8)
    b = np.array([100, -100, 1, -1], dtype=np.int8)
    np.testing.assert_array_equal(ref.add(a, b), np.array([-56, 56, -128, 127], dtype=np.int8))
    np.testing.assert_array_equal(ref.mul(a, b), np.array([16, 16, 127, -128], dtype=np.int8))
    assert ref.add(a, b).dtype == np.int8


def test_int8_matmul_and_conv_wrap_after_int64_accumulation() -> None:
    a = np.full((1, 4), 100, dtype=np.int8)
    b = np.full((4, 1), 100, dtype=np.int8)
    assert ref.matmul(a, b).dtype == np.int8
    assert ref.matmul(a, b)[0, 0] == np.int64(40000).astype(np.int8)
    x = np.full((1, 1, 2, 2), 100, dtype=np.int8)
    w = np.full((1, 1, 2, 2), 100, dtype=np.int8)
    y = ref.conv(x, w, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1)
    assert y.dtype == np.int8 and y[0, 0, 0, 0] == np.int64(40000).astype(np.int8)


def test_integer_div_truncates_toward_zero() -> None:
    a = np.array([7, -7, 7, -7, 0, 6, -6], dtype=np.int8)
    b = np.array([2, 2, -2, -2, 3, -3, 4], dtype=np.int8)
    np.testing.assert_array_equal(ref.div(a, b), np.array([3, -3, -3, 3, 0, -2, -1], dtype=np.int8))
    u = np.array([7, 200], dtype=np.uint8)
    np.testing.assert_array_equal(ref.div(u, np.array([2, 3], dtype=np.uint8)), [3, 66])


def test_integer_pow_negative_exponent_truncates() -> None:
    a = np.array([2, -1, 1, -2, 3], dtype=I32)
    b = np.array([-1, -3, -2, 3, 2], dtype=I32)
    np.testing.assert_array_equal(ref.pow(a, b), np.array([0, -1, 1, -8, 9], dtype=I32))


def test_cast_float_to_int_truncates() -> None:
    x = np.array([-2.7, -0.5, 0.5, 2.7, 3.0], dtype=F32)
    np.testing.assert_array_equal(
        ref.cast(x, np.dtype(np.int16)), np.array([-2, 0, 0, 2, 3], dtype=np.int16)
    )


def test_slice_reverse_whole_axis() -> None:
    x = np.arange(5)
    np.testing.assert_array_equal(ref.slice(x, starts=[4], ends=[-6], steps=[-1]), x[::-1])


@pytest.mark.parametrize(
    ("data_shape", "idx", "upd_shape"),
    [
        ((16, 2, 4), [[3]], (1, 2, 4)),  # one KV-cache row at a position
        ((5, 6, 3), [[1, 2], [4, -1]], (2, 3)),  # q = 2, a negative index
        ((4, 3), [[0, 0], [3, 2], [1, 1]], (3,)),  # single elements
    ],
    ids=["kv-row", "q2-neg", "elements"],
)
def test_scatter_nd(
    data_shape: tuple[int, ...], idx: list[list[int]], upd_shape: tuple[int, ...]
) -> None:
    rng = _rng("scatter", data_shape)
    data, updates = _normal(rng, data_shape), _normal(rng, upd_shape)
    indices = np.array(idx, dtype=I64)
    check(
        "ScatterND",
        {"data": data, "updates": updates},
        {},
        ref.scatter_nd(data, indices, updates),
        initializers={"indices": indices},
        node_inputs=["data", "indices", "updates"],
        exact=True,
    )


@pytest.mark.parametrize("per_axis", [False, True], ids=["per-tensor", "per-axis"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=["i8", "u8"])
def test_quantize_dequantize(per_axis: bool, dtype: type) -> None:
    rng = _rng("qdq", per_axis, dtype)
    x = _normal(rng, (2, 3, 4), scale=4.0)
    scale = np.array([0.05, 0.02, 0.1] if per_axis else 0.03, dtype=F32)
    zero = (
        np.array([3, -2, 0] if per_axis else 5, dtype=dtype)
        if dtype == np.int8
        else np.array([128, 100, 0] if per_axis else 120, dtype=dtype)
    )
    q = ref.quantize_linear(x, scale, zero, axis=1)
    check("QuantizeLinear", {"x": x}, {"axis": 1}, q,
          initializers={"s": scale, "z": zero}, node_inputs=["x", "s", "z"], exact=True, opset=19)  # fmt: skip
    check("DequantizeLinear", {"q": q}, {"axis": 1}, ref.dequantize_linear(q, scale, zero, axis=1),
          initializers={"s": scale, "z": zero}, node_inputs=["q", "s", "z"], opset=19)  # fmt: skip
