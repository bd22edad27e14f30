"""`convert-npu-to-kernel`: NPU jobs as calls of the engine's functional model in C
(`runtime_c/src/npu.c`), for every platform that has no engine to launch them on:

    npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 8 (%x, %w) requant(%s, %b) -> %y
      →  kernel.call @xd_npu_conv2d(%x, XD_T_U8, %w, %s, %b, %y, XD_T_I8, 0 : i32, <h>,
                                    <w>, <cin>, <cout>, <cin'>, 1, 1, 1, <oh>, <ow>, 8)

The engine's own memory is then a region of the host's; a job without requant passes
NULL scale and bias, and `npu.load_weights` (the transfer into that memory) becomes
`xd_npu_load_weights`, which packs as it copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import MemRefType, ModuleOp
from xdsl.ir import Attribute, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from xdeeploy.dialects import kernel, npu
from xdeeploy.dialects.kernel import i32_attr
from xdeeploy.lowering.buffers import ctype_enum, shape_of

KIND_CODES = {"dense3x3": 0, "depthwise3x3": 1, "pointwise": 2}
"""`npu.conv2d` kinds as npu.c numbers them (XD_NPU_DENSE3X3 …)."""


def _weights_inner(value: SSAValue) -> int:
    """The padded input channels of a weights buffer (its last dimension)."""
    ty = value.type
    assert isinstance(ty, MemRefType)
    return ty.get_shape()[-1]


def _call(name: str, op: npu.Conv2dOp | npu.MatmulOp, statics: list[int]) -> kernel.CallOp:
    """`name`(input, its type, weights, scale, bias, output, its type, statics…)."""
    args: list[SSAValue | Attribute | None] = [
        op.input, ctype_enum(op.input), op.weights, op.scale, op.bias, op.output,
        ctype_enum(op.output), *map(i32_attr, statics),
    ]  # fmt: skip
    call = kernel.CallOp(name, args)
    call.attributes.update(op.attributes)
    return call


class Conv2dToCall(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: npu.Conv2dOp, rewriter: PatternRewriter) -> None:
        h, wd, cin = shape_of(op.input)
        oh, ow, cout = shape_of(op.output)
        kind = op.kind.data
        cin_p = _weights_inner(op.weights) if kind != "depthwise3x3" else shape_of(op.weights)[0]
        pads = op.pads
        statics = [KIND_CODES[kind], h, wd, cin, cout, cin_p, op.stride.value.data, pads[0],
                   pads[1], oh, ow, op.shift.value.data]  # fmt: skip
        rewriter.replace(op, _call("xd_npu_conv2d", op, statics))


class LoadWeightsToCall(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: npu.LoadWeightsOp, rewriter: PatternRewriter) -> None:
        k, n = shape_of(op.source)
        n_p, k_p = shape_of(op.weights)
        call = kernel.CallOp("xd_npu_load_weights",
                             [op.source, op.weights, *map(i32_attr, (k, n, k_p, n_p))])  # fmt: skip
        call.attributes.update(op.attributes)
        rewriter.replace(op, call)


class MatmulToCall(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: npu.MatmulOp, rewriter: PatternRewriter) -> None:
        m, k = shape_of(op.input)
        n = shape_of(op.output)[1]
        statics = [m, k, n, _weights_inner(op.weights), op.shift.value.data]
        rewriter.replace(op, _call("xd_npu_matmul", op, statics))


@dataclass(frozen=True)
class ConvertNpuToKernel(ModulePass):
    """NPU jobs → calls of the engine's functional model (platforms without the NPU)."""

    name = "convert-npu-to-kernel"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([Conv2dToCall(), MatmulToCall(), LoadWeightsToCall()])
        ).rewrite_module(op)
