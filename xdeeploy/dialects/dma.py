"""The `dma` dialect: asynchronous copies between memory levels, as a DMA engine does them.

A transfer is split in two so that compute can overlap it (double buffering):

    %t = dma.start %src, %dst : memref<16x16xf32, "L2">, memref<16x16xf32, "L1"> -> !dma.token
    ...  (compute on other buffers)
    dma.wait %t : !dma.token

Between `dma.start` and `dma.wait` neither buffer may be touched: the engine is still
reading the source and writing the destination. The buffers are memrefs whose memory
spaces (`"L2"`, `"L1"`, ...) may differ and whose layouts may be strided (a
`memref.subview` tile of a larger buffer): the engine walks the strides, so the copy
needs no staging buffer.
"""

from __future__ import annotations

from xdsl.dialects.builtin import MemRefType
from xdsl.ir import Dialect, Operation, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    result_def,
)
from xdsl.utils.exceptions import VerifyException


@irdl_attr_definition
class TokenType(ParametrizedAttribute, TypeAttribute):
    """`!dma.token`: names one transfer in flight, so that exactly one `dma.wait` ends it.

    A value rather than an implicit engine state, so that the def-use chain ties each
    wait to its start and passes can move or pair them safely.
    """

    name = "dma.token"


@irdl_op_definition
class StartOp(IRDLOperation):
    """Starts copying `src` into `dst`; the copy is complete only after `dma.wait`.

    The verifier asks for the same element type and shape on both sides: a DMA moves
    elements, it does not convert or reshape them (strides and memory spaces may differ).
    Copying a buffer onto itself is rejected: it is a no-op at best and a race at worst.
    """

    name = "dma.start"

    src = operand_def(MemRefType)
    dst = operand_def(MemRefType)
    token = result_def(TokenType)

    assembly_format = "$src `,` $dst attr-dict `:` type($src) `,` type($dst) `->` type($token)"

    def __init__(self, src: SSAValue | Operation, dst: SSAValue | Operation):
        super().__init__(operands=[src, dst], result_types=[TokenType()])

    def verify_(self) -> None:
        src, dst = self.src.type, self.dst.type
        assert isinstance(src, MemRefType) and isinstance(dst, MemRefType)
        if src.element_type != dst.element_type:
            raise VerifyException(
                f"dma.start: source and destination element types differ "
                f"({src.element_type} vs {dst.element_type})"
            )
        if src.get_shape() != dst.get_shape():
            raise VerifyException(
                f"dma.start: source and destination shapes differ "
                f"({list(src.get_shape())} vs {list(dst.get_shape())})"
            )
        if self.src == self.dst:
            raise VerifyException("dma.start: source and destination are the same buffer")


@irdl_op_definition
class WaitOp(IRDLOperation):
    """Blocks until the transfer `token` names is complete: then `dst` holds the data
    and both buffers may be used again. Every token must be waited for exactly once."""

    name = "dma.wait"

    token = operand_def(TokenType)

    assembly_format = "$token attr-dict `:` type($token)"

    def __init__(self, token: SSAValue | Operation):
        super().__init__(operands=[token])


DMA = Dialect("dma", [StartOp, WaitOp], [TokenType])
