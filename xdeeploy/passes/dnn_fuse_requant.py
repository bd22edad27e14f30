"""`dnn-fuse-requant`: fold constant integer work into `dnn.requant_shift`.

`dnn-lower-qdq` writes each step separately (widen, subtract the zero point, integer
matmul, add the bias, requantize), which keeps it easy to check. Some of those steps are
constant work repeated at run time, and fold exactly into the requant's constants:

* **Bias into add.** requant_shift(x + c, mul, add) = requant_shift(x, mul,
  add + c * mul): (x + c) * mul + add = x * mul + (c * mul + add), so a constant
  (per-channel) bias add disappears into the requant's `add`.
* **Scale into mul.** requant_shift(x * m, mul, add) = requant_shift(x, m * mul, add)
  while m * mul < 2^31: a quantized add of a constant (q * m + c) becomes one requant.
* **Input zero point into a bias.** (x - z) @ W = x @ W - z * colsum(W) for a constant
  W and a scalar z (gemmlowp's correction term), likewise for gemm and for a conv
  without padding (with padding, the padded zeros are the real 0 only when z was
  subtracted first). The run-time subtraction over the whole activation becomes a
  constant bias, which the first fusion then folds into the requant (or, before a
  float rescale, stays one constant add on the accumulator).

A chain requant -> requant is not folded: the inner op rounds and clips, so the
composite is not one requant_shift except in degenerate cases.

All rewrites are exact in the interpreter's 64-bit integers; they are skipped where the
new `add` could overflow int64 next to |x| * mul (x an i32 accumulator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.transforms.dead_code_elimination import region_dce

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype

ADD_LIMIT = 1 << 62
"""|add| + |x| * |mul| must stay below 2^63; with |x| < 2^31 and mul < 2^31 the product
takes up to 2^62, which leaves 2^62 for `add`."""


MUL_LIMIT = 1 << 31
"""Multipliers stay below 2^31, as `dnn-lower-qdq` chooses them."""


def _constant(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    return dnn.constant_value(owner.value) if isinstance(owner, dnn.ConstantOp) else None


def _tensor_type(value: SSAValue) -> TensorType:
    ty = value.type
    assert isinstance(ty, TensorType)
    return ty  # pyright: ignore[reportUnknownVariableType]


def _is_integer(value: SSAValue) -> bool:
    return numpy_dtype(_tensor_type(value).element_type).kind in "iu"


def _trim(array: np.ndarray) -> np.ndarray:
    """Drops leading unit dimensions: broadcasting puts them back, and the constant
    then reads as a per-channel vector ([N] rather than [1, N])."""
    while array.ndim > 1 and array.shape[0] == 1:
        array = array.reshape(array.shape[1:])
    return array


def _narrowest(array: np.ndarray) -> np.ndarray:
    info = np.iinfo(np.int32)
    fits = array.size == 0 or (array.min() >= info.min and array.max() <= info.max)
    return array.astype(np.int32 if fits else np.int64)


def _new_constant(array: np.ndarray, like: Operation) -> dnn.ConstantOp:
    op = dnn.ConstantOp(dnn.constant_attr(np.array(array, order="C")))
    op.attributes.update(like.attributes)
    return op


class FoldBiasIntoRequant(RewritePattern):
    """requant_shift(x ± c, mul, add) → requant_shift(x, mul, add ± c * mul) for constant
    integers c, mul and add, when x ± c has no other user."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dnn.RequantShiftOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if not isinstance(inner, dnn.AddOp | dnn.SubOp) or not inner.result.has_one_use():
            return
        mul, add = _constant(op.mul), _constant(op.add)
        if mul is None or add is None or mul.dtype.kind not in "iu" or add.dtype.kind not in "iu":
            return
        x, c, sign = self._split(inner)
        if x is None or c is None or not _is_integer(x):
            return
        # c must not widen x: the requant then sees the same shape as before.
        if dnn.shape_of(x) != dnn.shape_of(inner.result):
            return
        mul64, c64 = mul.astype(np.int64), c.astype(np.int64)
        bound = float(np.abs(c64).max(initial=0)) * float(np.abs(mul64).max(initial=0))
        bound += float(np.abs(add.astype(np.int64)).max(initial=0))
        if bound >= ADD_LIMIT:
            return
        folded = _trim(add.astype(np.int64) + sign * c64 * mul64)
        const = _new_constant(_narrowest(folded), op)
        fused = dnn.RequantShiftOp(
            operands=[x, op.mul, const.result],
            result_types=[op.result.type],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
        )
        rewriter.insert(const, InsertPoint.before(op))
        rewriter.replace(op, fused)

    @staticmethod
    def _split(inner: dnn.AddOp | dnn.SubOp) -> tuple[SSAValue | None, np.ndarray | None, int]:
        """(x, c, sign) with inner = x + sign * c and c constant."""
        rhs = _constant(inner.rhs)
        if rhs is not None and rhs.dtype.kind in "iu":
            return inner.lhs, rhs, -1 if isinstance(inner, dnn.SubOp) else 1
        lhs = _constant(inner.lhs)
        if isinstance(inner, dnn.AddOp) and lhs is not None and lhs.dtype.kind in "iu":
            return inner.rhs, lhs, 1
        return None, None, 1


class FoldScaleIntoRequant(RewritePattern):
    """requant_shift(x * m, mul, add) → requant_shift(x, m * mul, add) for a constant
    integer m, when x * m has no other user and m * mul stays below 2^31 (the bound
    `dnn-lower-qdq` keeps multipliers under). A quantized add of a constant, lowered
    to requant(q * m + c, 1, add), becomes one requant_shift of q."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dnn.RequantShiftOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if not isinstance(inner, dnn.MulOp) or not inner.result.has_one_use():
            return
        mul = _constant(op.mul)
        if mul is None or mul.dtype.kind not in "iu":
            return
        x, m = inner.lhs, _constant(inner.rhs)
        if m is None:
            x, m = inner.rhs, _constant(inner.lhs)
        if m is None or m.dtype.kind not in "iu" or not _is_integer(x):
            return
        if dnn.shape_of(x) != dnn.shape_of(inner.result):
            return
        product = m.astype(np.int64) * mul.astype(np.int64)
        if product.size and np.abs(product).max() >= MUL_LIMIT:
            return
        const = _new_constant(_trim(product).astype(np.int32), op)
        fused = dnn.RequantShiftOp(
            operands=[x, const.result, op.add],
            result_types=[op.result.type],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
        )
        rewriter.insert(const, InsertPoint.before(op))
        rewriter.replace(op, fused)


def _zero_point_sub(value: SSAValue) -> tuple[SSAValue, int] | None:
    """(x, z) when `value` = x - z for a scalar integer constant z, used only here."""
    sub = value.owner
    if not isinstance(sub, dnn.SubOp) or not sub.result.has_one_use():
        return None
    z = _constant(sub.rhs)
    if z is None or z.size != 1 or z.dtype.kind not in "iu" or not _is_integer(sub.lhs):
        return None
    # x keeps the accumulator's type (i32 from dnn-lower-qdq), so the integer op still
    # accumulates in it once x replaces x - z.
    if sub.lhs.type != sub.result.type:
        return None
    return sub.lhs, int(z.reshape(()))


class FoldZeroPointIntoBias(RewritePattern):
    """op(x - z, W) → op(x, W) + (-z * sums of W) for a constant W: matmul and gemm
    (either operand), conv without padding. The correction is one constant per output
    column (matmul, gemm) or channel (conv)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, dnn.MatmulOp | dnn.GemmOp | dnn.ConvOp) or not _is_integer(
            op.results[0]
        ):
            return
        if isinstance(op, dnn.ConvOp):
            if any(int(p) for p in op.pads.get_values()):
                return
            found = _zero_point_sub(op.input)
            weight = _constant(op.weight)
            if found is None or weight is None or op.bias is not None:
                return
            x, z = found
            # Every input element under the window meets one weight: sum over (C/g, k...).
            sums = weight.astype(np.int64).reshape(weight.shape[0], -1).sum(axis=1)
            rank = len(dnn.shape_of(op.result))
            correction = (-z * sums).reshape([-1] + [1] * (rank - 2))
            new = dnn.ConvOp(
                operands=[[x], [op.weight], []],
                result_types=[op.result.type],
                properties=dict(op.properties),
                attributes=dict(op.attributes),
            )
        else:
            rewrite = self._matmul_like(op)
            if rewrite is None:
                return
            new, correction = rewrite
        const = _new_constant(_narrowest(_trim(correction)), op)
        add = dnn.AddOp(new.results[0], const.result, _tensor_type(op.results[0]))
        add.attributes.update(op.attributes)
        rewriter.insert([new, const], InsertPoint.before(op))
        rewriter.replace(op, [add])

    @staticmethod
    def _matmul_like(op: dnn.MatmulOp | dnn.GemmOp) -> tuple[Operation, np.ndarray] | None:
        if isinstance(op, dnn.GemmOp) and (
            op.bias is not None or op.alpha is not None or op.beta is not None
        ):
            return None
        lhs, rhs = op.operands[0], op.operands[1]
        trans_a = isinstance(op, dnn.GemmOp) and op.trans_a is not None
        trans_b = isinstance(op, dnn.GemmOp) and op.trans_b is not None
        found_l, const_r = _zero_point_sub(lhs), _constant(rhs)
        found_r, const_l = _zero_point_sub(rhs), _constant(lhs)
        if found_l is not None and const_r is not None and const_r.ndim >= 1:
            x, z = found_l
            w = const_r.astype(np.int64)
            if trans_b:
                w = w.T
            # Row m of the result sums (x - z)[m, k] * w[k, n]: -z times w's column sums.
            sums = w.sum(axis=-2, keepdims=True) if w.ndim >= 2 else w.sum()
            operands = [x, rhs]
        elif found_r is not None and const_l is not None and const_l.ndim >= 1:
            x, z = found_r
            w = const_l.astype(np.int64)
            if trans_a:
                w = w.T
            sums = w.sum(axis=-1, keepdims=True) if w.ndim >= 2 else w.sum()
            operands = [lhs, x]
        else:
            return None
        if isinstance(op, dnn.GemmOp):
            new: Operation = dnn.GemmOp(
                operands=[[operands[0]], [operands[1]], []],
                result_types=[op.result.type],
                properties=dict(op.properties),
                attributes=dict(op.attributes),
            )
        else:
            new = dnn.MatmulOp(
                operands=operands, result_types=[op.result.type], attributes=dict(op.attributes)
            )
        return new, -z * sums


@dataclass(frozen=True)
class DnnFuseRequant(ModulePass):
    name = "dnn-fuse-requant"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [FoldZeroPointIntoBias(), FoldBiasIntoRequant(), FoldScaleIntoRequant()]
            ),
            post_walk_func=region_dce,
        ).rewrite_module(op)
