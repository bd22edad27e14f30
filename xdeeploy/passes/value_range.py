"""Bounds of the elements of integer tensors, read off the ops that produce them.

An integer value takes the values its element type allows unless its producer says
more: a constant its own minimum and maximum; an exact product or sum (matmul, gemm,
conv, add, sub: no wrap-around) the interval arithmetic of its operands' bounds, K terms
for a product over K; a requantization its levels; a cast the bounds of its input when
they fit the new type. A result whose bounds leave its type may wrap: then the type's.

Lowerings use it to prove a computation fits narrower arithmetic (a requantization of
an int8 matrix product in 32 bits instead of 64).
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import numpy as np
from xdsl.dialects.builtin import IntegerType, TensorType
from xdsl.ir import SSAValue

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype

Range = tuple[int, int]

DEPTH = 16
"""How far up the producers the bounds are followed (beyond: the type's)."""


def type_range(value: SSAValue) -> Range | None:
    """The values an integer tensor's element type holds; None for other types."""
    ty = value.type
    if not isinstance(ty, TensorType):
        return None
    elem = ty.element_type  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(elem, IntegerType):
        return None
    info = np.iinfo(numpy_dtype(elem))
    return int(info.min), int(info.max)


def value_range(value: SSAValue, depth: int = DEPTH) -> Range | None:
    """Bounds of `value`'s elements (None: not an integer tensor)."""
    own = type_range(value)
    if own is None:
        return None
    found = _produced(value, depth) if depth > 0 else None
    if found is None or found[0] < own[0] or found[1] > own[1]:
        return own
    return found


def product(a: Range, b: Range) -> Range:
    """Bounds of x·y for x within a, y within b."""
    corners = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    return min(corners), max(corners)


def add(a: Range, b: Range) -> Range:
    return a[0] + b[0], a[1] + b[1]


def _produced(value: SSAValue, depth: int) -> Range | None:
    op = value.owner

    def of(v: SSAValue) -> Range | None:
        return value_range(v, depth - 1)

    match op:
        case dnn.ConstantOp():
            data = dnn.constant_value(op.value)
            return (int(data.min()), int(data.max())) if data.size else None
        case dnn.CastOp():
            return of(op.input)
        case dnn.AddOp() | dnn.SubOp():
            a, b = of(op.lhs), of(op.rhs)
            if a is None or b is None:
                return None
            return add(a, b) if isinstance(op, dnn.AddOp) else add(a, (-b[1], -b[0]))
        case dnn.MatmulOp():
            return _sum_of_products(of(op.lhs), of(op.rhs), dnn.shape_of(op.lhs)[-1])
        case dnn.GemmOp():
            return _gemm(op, of)
        case dnn.ConvOp():
            cout, cin_g, *taps = dnn.shape_of(op.weight)
            found = _sum_of_products(of(op.input), of(op.weight), cin_g * prod(taps),
                                     padded=True)  # fmt: skip
            bias = of(op.bias) if op.bias is not None else (0, 0)
            return add(found, bias) if found is not None and bias is not None else None
        case dnn.RequantShiftOp():
            levels = op.n_levels.value.data
            return (-(levels // 2), levels // 2 - 1) if op.signed is not None else (0, levels - 1)
        case _:
            return None


def _sum_of_products(a: Range | None, b: Range | None, terms: int,
                     padded: bool = False) -> Range | None:  # fmt: skip
    """Bounds of a sum of `terms` products; `padded`: some terms may be the zeros of
    padding instead."""
    if a is None or b is None:
        return None
    lo, hi = product(a, b)
    if padded:
        lo, hi = min(lo, 0), max(hi, 0)
    return lo * terms, hi * terms


def _gemm(op: dnn.GemmOp, of: Callable[[SSAValue], Range | None]) -> Range | None:
    a_shape = dnn.shape_of(op.lhs)
    k = a_shape[0] if op.trans_a is not None else a_shape[1]
    found = _sum_of_products(of(op.lhs), of(op.rhs), k)
    factors = [1.0 if f is None else float(f.value.data) for f in (op.alpha, op.beta)]
    if found is None or not all(f.is_integer() for f in factors):
        return None
    alpha, beta = (int(f) for f in factors)
    found = product(found, (alpha, alpha))
    if op.bias is None:
        return found
    c = of(op.bias)
    return add(found, product(c, (beta, beta))) if c is not None else None
