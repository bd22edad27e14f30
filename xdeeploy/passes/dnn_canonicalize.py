"""`dnn-canonicalize`: fold identity reshapes/transposes, fuse a transposed matmul
operand into a gemm, and compute constant ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import DenseArrayBase, ModuleOp, TensorType, UnitAttr, i64
from xdsl.interpreter import Interpreter
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.transforms.dead_code_elimination import region_dce

from xdeeploy.dialects import dnn
from xdeeploy.interp.dnn import DnnFunctions, DnnIntegerFunctions

FOLD_LIMIT = 1 << 20
"""Largest result (in elements) worth computing at compile time."""


class FoldIdentityReshape(RewritePattern):
    """A reshape to the same shape is its input; reshape∘reshape is one reshape."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dnn.ReshapeOp, rewriter: PatternRewriter) -> None:
        if op.input.type == op.result.type:
            rewriter.replace(op, [], [op.input])
        elif isinstance(inner := op.input.owner, dnn.ReshapeOp):
            rewriter.replace(
                op, dnn.ReshapeOp(operands=[inner.input], result_types=[op.result.type])
            )


class FoldIdentityTranspose(RewritePattern):
    """An identity permutation is its input; transpose∘transpose is one transpose."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dnn.TransposeOp, rewriter: PatternRewriter) -> None:
        perm = [int(p) for p in op.perm.get_values()]
        if perm == list(range(len(perm))):
            rewriter.replace(op, [], [op.input])
        elif isinstance(inner := op.input.owner, dnn.TransposeOp):
            first = [int(p) for p in inner.perm.get_values()]
            composed = [first[p] for p in perm]
            rewriter.replace(
                op,
                dnn.TransposeOp(
                    operands=[inner.input],
                    result_types=[op.result.type],
                    properties={"perm": DenseArrayBase.from_list(i64, composed)},
                ),
            )


class MatmulOfTransposeToGemm(RewritePattern):
    """`matmul(a, transpose(b))` of 2-D operands is `gemm(a, b) {trans_b}`: the kernel
    reads `b` transposed instead of copying it (a tied LM head would otherwise copy the
    whole embedding table on every token)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dnn.MatmulOp, rewriter: PatternRewriter) -> None:
        transpose = op.rhs.owner
        if (
            not isinstance(transpose, dnn.TransposeOp)
            or [int(p) for p in transpose.perm.get_values()] != [1, 0]
            or len(dnn.shape_of(op.lhs)) != 2
        ):
            return
        gemm = dnn.GemmOp(
            operands=[[op.lhs], [transpose.input], []],
            result_types=[op.result.type],
            properties={"trans_b": UnitAttr()},
        )
        gemm.attributes.update(op.attributes)
        rewriter.replace(op, gemm)


class FoldConstantOp(RewritePattern):
    """Computes a `dnn` op whose operands are all `dnn.constant`s, with the interpreter.

    A dequantize_linear of a constant (a quantized weight) is kept: folding it would
    turn int8 weights into float ones and hide the QDQ pattern from `dnn-lower-qdq`."""

    def __init__(self, interpreter: Interpreter):
        self.interpreter = interpreter

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if (
            not isinstance(op, dnn.DnnOp)
            or isinstance(op, dnn.ConstantOp | dnn.DequantizeLinearOp)
            or not op.operands
            or not all(isinstance(o.owner, dnn.ConstantOp) for o in op.operands)
        ):
            return
        size = 0
        for r in op.results:
            assert isinstance(r.type, TensorType)
            size += int(np.prod(r.type.get_shape()))
        if size > FOLD_LIMIT:
            return
        inputs = tuple(dnn.constant_value(o.owner.value) for o in op.operands)  # type: ignore[union-attr]
        results = self.interpreter.run_op(op, inputs)
        constants = [dnn.ConstantOp(dnn.constant_attr(np.asarray(r))) for r in results]
        rewriter.replace(op, constants, [c.result for c in constants])


@dataclass(frozen=True)
class DnnCanonicalize(ModulePass):
    name = "dnn-canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        interpreter = Interpreter(op)
        interpreter.register_implementations(DnnFunctions())
        interpreter.register_implementations(DnnIntegerFunctions())
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [
                    FoldIdentityReshape(),
                    FoldIdentityTranspose(),
                    MatmulOfTransposeToGemm(),
                    FoldConstantOp(interpreter),
                ]
            ),
            post_walk_func=region_dce,
        ).rewrite_module(op)
