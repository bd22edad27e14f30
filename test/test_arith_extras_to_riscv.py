"""`convert-arith-extras-to-riscv` inside `lower-to-riscv`: select, min/max, the widening
multiplies, comparisons by every MLIR predicate and shifts by constants compute, in xDSL's
riscv interpreter (with `interp/riscv_extra.py`), what Python's integers say, on every
pair of edge values; and on i8/i16 values whose registers carry bits above their width."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import parse_ir, run_riscv

from xdeeploy.lowering.riscv_pipeline import LowerToRiscv
from xdeeploy.universe import full_context

Array = np.ndarray[Any, Any]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _wrap(value: int, bits: int = 32) -> int:
    """`value` modulo 2**bits, read as signed."""
    value %= 2**bits
    return value - 2**bits if value >= 2 ** (bits - 1) else value


def _unsigned(value: int, bits: int = 32) -> int:
    return value % 2**bits


def _kernel(ty: str, n: int, body: list[str], results: list[str]) -> str:
    """@k(a, b: memref<n x ty>, out: memref<n*len(results) x i32>): per element i, `body`
    on %x = a[i] and %y = b[i], then the i32 values `results` into out[i * W + j]."""
    width = len(results)
    stores = []
    for j, r in enumerate(results):
        stores += [
            f"%j{j} = arith.constant {j} : index",
            f"%o{j} = arith.addi %base, %j{j} : index",
            f"memref.store {r}, %out[%o{j}] : memref<{n * width}xi32>",
        ]
    lines = "\n".join("    " + line for line in body + stores)
    return f"""
func.func @k(%a: memref<{n}x{ty}>, %b: memref<{n}x{ty}>, %out: memref<{n * width}xi32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {n} : index
  %w = arith.constant {width} : index
  scf.for %i = %c0 to %n step %c1 {{
    %x = memref.load %a[%i] : memref<{n}x{ty}>
    %y = memref.load %b[%i] : memref<{n}x{ty}>
    %base = arith.muli %i, %w : index
{lines}
  }}
  func.return
}}
"""


def _check(
    ty: str,
    dtype: type[np.signedinteger[Any]],
    pairs: list[tuple[int, int]],
    body: list[str],
    expected: dict[str, Callable[[int, int], int]],
) -> None:
    """Lowers `body` (see `_kernel`), runs it on `pairs`, and compares each result %name
    with `expected[name](x, y)`."""
    names = list(expected)
    module = parse_ir(_kernel(ty, len(pairs), body, [f"%{name}" for name in names]))
    LowerToRiscv(allocate=False).apply(full_context(), module)
    a = np.array([x for x, _ in pairs], dtype=dtype)
    b = np.array([y for _, y in pairs], dtype=dtype)
    out = np.full(len(pairs) * len(names), 0x5A5A5A5A, dtype=np.int32)
    _, _, got = run_riscv(module, "k", a, b, out)
    rows = got.reshape(len(pairs), len(names)).tolist()
    for (x, y), row in zip(pairs, rows, strict=True):
        want = [_wrap(expected[name](x, y)) for name in names]
        wrong = {n: (g, w) for n, g, w in zip(names, row, want, strict=True) if g != w}
        assert not wrong, f"x={x} y={y}: (got, want) {wrong}"


def _edges(bits: int, seed: int) -> list[int]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    values = [low, low + 1, high, high - 1, -1, 0, 1, 100, -101]
    r = random.Random(seed)
    return values + [r.randint(low, high) for _ in range(4)]


def _predicates(bits: int) -> dict[str, Callable[[int, int], bool]]:
    """MLIR's cmpi predicates on two signed `bits`-bit values."""

    def u(v: int) -> int:
        return _unsigned(v, bits)

    return {
        "eq": lambda x, y: x == y, "ne": lambda x, y: x != y,
        "slt": lambda x, y: x < y, "sle": lambda x, y: x <= y,
        "sgt": lambda x, y: x > y, "sge": lambda x, y: x >= y,
        "ult": lambda x, y: u(x) < u(y), "ule": lambda x, y: u(x) <= u(y),
        "ugt": lambda x, y: u(x) > u(y), "uge": lambda x, y: u(x) >= u(y),
    }  # fmt: skip


PREDICATES = _predicates(32)


def _flag(
    predicate: Callable[[int, int], bool],
    of: Callable[[int, int], tuple[int, int]] = lambda x, y: (x, y),
) -> Callable[[int, int], int]:
    """0 or 1: `predicate` on `of(x, y)`."""
    return lambda x, y: int(predicate(*of(x, y)))


def _i1_signed(bit: int) -> int:
    """An i1 read as signed: true is -1."""
    return -bit


I32_BODY = [
    "%true = arith.constant true",
    "%false = arith.constant false",
    *(f"%{p} = arith.cmpi {p}, %x, %y : i32" for p in PREDICATES),
    *(f"%{p}_w = arith.extui %{p} : i1 to i32" for p in PREDICATES),
    # selects: on a comparison, on its negation (xori true: -1 or -2 in its register),
    # on constants; with a constant true value, a zero and a large constant false value
    "%sel = arith.select %slt, %x, %y : i32",
    "%nlt = arith.xori %slt, %true : i1",
    "%sel_not = arith.select %nlt, %x, %y : i32",
    "%sel_true = arith.select %true, %x, %y : i32",
    "%sel_false = arith.select %false, %x, %y : i32",
    "%k7 = arith.constant 7 : i32",
    "%k0 = arith.constant 0 : i32",
    "%k5000 = arith.constant 5000 : i32",
    "%sel_k7 = arith.select %sgt, %k7, %y : i32",
    "%sel_k0 = arith.select %ult, %x, %k0 : i32",
    "%sel_k5000 = arith.select %ne, %x, %k5000 : i32",
    "%sel_i1 = arith.select %slt, %eq, %ne : i1",
    "%sel_i1_w = arith.extui %sel_i1 : i1 to i32",
    # min/max, and clamps to constants (immediates; a constant lhs swapped right)
    "%maxsi = arith.maxsi %x, %y : i32",
    "%minsi = arith.minsi %x, %y : i32",
    "%maxui = arith.maxui %x, %y : i32",
    "%minui = arith.minui %x, %y : i32",
    "%k100 = arith.constant 100 : i32",
    "%km100 = arith.constant -100 : i32",
    "%km1 = arith.constant -1 : i32",
    "%min_100 = arith.minsi %x, %k100 : i32",
    "%max_m100 = arith.maxsi %km100, %x : i32",
    "%maxu_7 = arith.maxui %x, %k7 : i32",
    "%minu_m1 = arith.minui %x, %km1 : i32",
    "%max_5000 = arith.maxsi %x, %k5000 : i32",
    # the widening multiplies
    "%slo, %shi = arith.mulsi_extended %x, %y : i32",
    "%ulo, %uhi = arith.mului_extended %x, %y : i32",
    # comparisons with constants: slti, and the ones past its immediate
    "%k127 = arith.constant 127 : i32",
    "%k2047 = arith.constant 2047 : i32",
    "%km2049 = arith.constant -2049 : i32",
    "%lt_127 = arith.cmpi slt, %x, %k127 : i32",
    "%le_127 = arith.cmpi sle, %x, %k127 : i32",
    "%gt_127 = arith.cmpi sgt, %x, %k127 : i32",
    "%ge_127 = arith.cmpi sge, %x, %k127 : i32",
    "%gt_2047 = arith.cmpi sgt, %x, %k2047 : i32",
    "%le_m2049 = arith.cmpi sle, %x, %km2049 : i32",
    *(
        f"%{c}_w = arith.extui %{c} : i1 to i32"
        for c in ["lt_127", "le_127", "gt_127", "ge_127", "gt_2047", "le_m2049"]
    ),
    # i1 operands: signed, true is -1
    "%i1_slt = arith.cmpi slt, %eq, %ne : i1",
    "%i1_ult = arith.cmpi ult, %eq, %ne : i1",
    "%i1_slt_w = arith.extui %i1_slt : i1 to i32",
    "%i1_ult_w = arith.extui %i1_ult : i1 to i32",
    "%i1_maxsi = arith.maxsi %eq, %ne : i1",
    "%i1_maxsi_w = arith.extui %i1_maxsi : i1 to i32",
    # shifts by constants
    "%k1 = arith.constant 1 : i32",
    "%k31 = arith.constant 31 : i32",
    "%shl_0 = arith.shli %x, %k0 : i32",
    "%shl_1 = arith.shli %x, %k1 : i32",
    "%shl_31 = arith.shli %x, %k31 : i32",
    "%shru_1 = arith.shrui %x, %k1 : i32",
    "%shru_31 = arith.shrui %x, %k31 : i32",
    "%shrs_1 = arith.shrsi %x, %k1 : i32",
    "%shrs_31 = arith.shrsi %x, %k31 : i32",
]


def _pick(cond: bool, a: int, b: int) -> int:
    return a if cond else b


I32_EXPECTED: dict[str, Callable[[int, int], int]] = {
    **{f"{p}_w": _flag(f) for p, f in PREDICATES.items()},
    "sel": lambda x, y: _pick(x < y, x, y),
    "sel_not": lambda x, y: _pick(not x < y, x, y),
    "sel_true": lambda x, y: x,
    "sel_false": lambda x, y: y,
    "sel_k7": lambda x, y: _pick(x > y, 7, y),
    "sel_k0": lambda x, y: _pick(_unsigned(x) < _unsigned(y), x, 0),
    "sel_k5000": lambda x, y: _pick(x != y, x, 5000),
    "sel_i1_w": lambda x, y: int(x == y) if x < y else int(x != y),
    "maxsi": lambda x, y: max(x, y),
    "minsi": lambda x, y: min(x, y),
    "maxui": lambda x, y: max(_unsigned(x), _unsigned(y)),
    "minui": lambda x, y: min(_unsigned(x), _unsigned(y)),
    "min_100": lambda x, y: min(x, 100),
    "max_m100": lambda x, y: max(-100, x),
    "maxu_7": lambda x, y: max(_unsigned(x), 7),
    "minu_m1": lambda x, y: min(_unsigned(x), 2**32 - 1),
    "max_5000": lambda x, y: max(x, 5000),
    "slo": lambda x, y: x * y,
    "shi": lambda x, y: (x * y) >> 32,
    "ulo": lambda x, y: _unsigned(x) * _unsigned(y),
    "uhi": lambda x, y: (_unsigned(x) * _unsigned(y)) >> 32,
    "lt_127_w": lambda x, y: int(x < 127),
    "le_127_w": lambda x, y: int(x <= 127),
    "gt_127_w": lambda x, y: int(x > 127),
    "ge_127_w": lambda x, y: int(x >= 127),
    "gt_2047_w": lambda x, y: int(x > 2047),
    "le_m2049_w": lambda x, y: int(x <= -2049),
    "i1_slt_w": lambda x, y: int(_i1_signed(x == y) < _i1_signed(x != y)),
    "i1_ult_w": lambda x, y: int((x == y) < (x != y)),
    "i1_maxsi_w": lambda x, y: -max(_i1_signed(x == y), _i1_signed(x != y)),
    "shl_0": lambda x, y: x,
    "shl_1": lambda x, y: x << 1,
    "shl_31": lambda x, y: x << 31,
    "shru_1": lambda x, y: _unsigned(x) >> 1,
    "shru_31": lambda x, y: _unsigned(x) >> 31,
    "shrs_1": lambda x, y: x >> 1,
    "shrs_31": lambda x, y: x >> 31,
}


def test_i32_ops_on_every_pair_of_edge_values() -> None:
    values = _edges(32, seed=1) + [12345, -54321]
    assert INT32_MIN in values and INT32_MAX in values
    _check("i32", np.int32, list(itertools.product(values, values)), I32_BODY, I32_EXPECTED)


def test_high_words_of_32x32_products() -> None:
    """The 64-bit products themselves, from the low and high words."""
    r = random.Random(7)
    values = [INT32_MIN, INT32_MAX, -1, 1, 0, 65536, -65536, 46341]
    pairs = list(itertools.product(values, values))
    pairs += [(r.randint(INT32_MIN, INT32_MAX), r.randint(INT32_MIN, INT32_MAX)) for _ in range(50)]
    body = [
        "%slo, %shi = arith.mulsi_extended %x, %y : i32",
        "%ulo, %uhi = arith.mului_extended %x, %y : i32",
    ]
    expected = {name: I32_EXPECTED[name] for name in ("slo", "shi", "ulo", "uhi")}
    _check("i32", np.int32, pairs, body, expected)
    for x, y in pairs:  # the expectations themselves: hi:lo is the whole product
        lo, hi = _unsigned(_wrap(x * y)), _wrap((x * y) >> 32)
        assert hi * 2**32 + lo == x * y
        ulo, uhi = _unsigned(_wrap(x * y)), _unsigned((_unsigned(x) * _unsigned(y)) >> 32)
        assert uhi * 2**32 + ulo == _unsigned(x) * _unsigned(y)


@pytest.mark.parametrize(("ty", "bits", "dtype"), [("i8", 8, np.int8), ("i16", 16, np.int16)])
def test_narrow_ops_see_the_value_not_the_register(
    ty: str, bits: int, dtype: type[np.signedinteger[Any]]
) -> None:
    """%s = x + y wraps in `bits` but its register keeps the carry above them: comparisons,
    min and max must look at the `bits`-bit value only."""

    def s(x: int, y: int) -> int:
        return _wrap(x + y, bits)

    def u(v: int) -> int:
        return _unsigned(v, bits)

    body = [
        f"%s = arith.addi %x, %y : {ty}",
        f"%k100 = arith.constant 100 : {ty}",
        f"%k7 = arith.constant 7 : {ty}",
        f"%k0 = arith.constant 0 : {ty}",
        *(f"%{p} = arith.cmpi {p}, %s, %y : {ty}" for p in PREDICATES),
        *(f"%{p}_w = arith.extui %{p} : i1 to i32" for p in PREDICATES),
        f"%eq0 = arith.cmpi eq, %s, %k0 : {ty}",
        f"%gt100 = arith.cmpi sgt, %s, %k100 : {ty}",
        "%eq0_w = arith.extui %eq0 : i1 to i32",
        "%gt100_w = arith.extui %gt100 : i1 to i32",
        *(
            line
            for op in ("maxsi", "minsi", "maxui", "minui")
            for line in (f"%{op}_n = arith.{op} %s, %y : {ty}",
                         f"%{op} = arith.extsi %{op}_n : {ty} to i32")
        ),
        f"%min100_n = arith.minsi %s, %k100 : {ty}",
        f"%maxu7_n = arith.maxui %s, %k7 : {ty}",
        f"%sel_n = arith.select %slt, %s, %y : {ty}",
        f"%min100 = arith.extsi %min100_n : {ty} to i32",
        f"%maxu7 = arith.extsi %maxu7_n : {ty} to i32",
        f"%sel = arith.extsi %sel_n : {ty} to i32",
    ]  # fmt: skip
    expected: dict[str, Callable[[int, int], int]] = {
        **{f"{p}_w": _flag(f, lambda x, y: (s(x, y), y)) for p, f in _predicates(bits).items()},
        "eq0_w": lambda x, y: int(s(x, y) == 0),
        "gt100_w": lambda x, y: int(s(x, y) > 100),
        "maxsi": lambda x, y: max(s(x, y), y),
        "minsi": lambda x, y: min(s(x, y), y),
        "maxui": lambda x, y: _wrap(max(u(s(x, y)), u(y)), bits),
        "minui": lambda x, y: _wrap(min(u(s(x, y)), u(y)), bits),
        "min100": lambda x, y: min(s(x, y), 100),
        "maxu7": lambda x, y: _wrap(max(u(s(x, y)), 7), bits),
        "sel": lambda x, y: s(x, y) if s(x, y) < y else y,
    }  # fmt: skip
    values = _edges(bits, seed=bits)
    pairs = list(itertools.product(values, values))
    # the registers do carry: some sums leave the `bits`-bit range
    assert any(not -(2 ** (bits - 1)) <= x + y < 2 ** (bits - 1) for x, y in pairs)
    _check(ty, dtype, pairs, body, expected)
