"""The `dma` interpreter: copies land at dma.wait, early reads see poison, and forgotten
or repeated waits and in-flight writers are reported."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import parse_ir
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import Interpreter
from xdsl.interpreters.func import FuncFunctions

from xdeeploy.errors import DeeployError
from xdeeploy.interp.buffers import BufferFunctions
from xdeeploy.interp.dma import DmaFunctions, check_all_waited

F4 = "memref<4xf32>"
L2 = 'memref<4xf32, "L2">'
L1 = 'memref<4xf32, "L1">'
START = f"%t = dma.start %src, %l1 : {L2}, {L1} -> !dma.token"
WAIT = "dma.wait %t : !dma.token"
NEG = f"kernel.call @xd_unary_f32(XD_NEG, %l1, %out, 4 : i32, 0.0 : f32, 0.0 : f32) : {L1}, {F4}"


def _parse(body: str, args: str = f"%src: {L2}, %out: {F4}") -> ModuleOp:
    text = f"func.func @f({args}) {{\n  %l1 = memref.alloc() : {L1}\n{body}\n  func.return\n}}"
    return parse_ir(text)


def _run(module: ModuleOp, *args: Any) -> DmaFunctions:
    dma = DmaFunctions()
    interpreter = Interpreter(module)
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(BufferFunctions())
    interpreter.register_implementations(dma)
    interpreter.call_op("f", args)
    return dma


def _buffers() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return np.array([1, -2, 3, -4], np.float32), np.zeros(4, np.float32)


def test_start_wait_then_read() -> None:
    src, out = _buffers()
    dma = _run(_parse("\n".join([START, WAIT, NEG])), src, out)
    np.testing.assert_array_equal(out, [-1, 2, -3, 4])
    check_all_waited(dma)


def test_read_before_wait_sees_poison() -> None:
    src, out = _buffers()
    _run(_parse("\n".join([START, NEG, WAIT])), src, out)
    assert np.isnan(out).all()


def test_integer_destination_poisoned_with_ff_bytes() -> None:
    i2, i1, o = 'memref<4xi32, "L2">', 'memref<4xi32, "L1">', "memref<4xi32>"
    body = f"""
  %b = memref.alloc() : {i1}
  %t = dma.start %src, %b : {i2}, {i1} -> !dma.token
  kernel.call @xd_copy(%b, %out, 4 : i32, 4 : i32) : {i1}, {o}
  {WAIT}"""
    src, out = np.arange(4, dtype=np.int32), np.zeros(4, np.int32)
    _run(_parse(body, f"%src: {i2}, %out: {o}"), src, out)
    np.testing.assert_array_equal(out, [-1, -1, -1, -1])


def test_double_wait_raises() -> None:
    src, out = _buffers()
    with pytest.raises(DeeployError, match="already waited for"):
        _run(_parse("\n".join([START, WAIT, WAIT])), src, out)


def test_never_waited_is_reported() -> None:
    src, out = _buffers()
    dma = _run(_parse(START), src, out)
    with pytest.raises(DeeployError, match=r"never waited for: dma.start #1"):
        check_all_waited(dma)


def test_source_written_in_flight_raises() -> None:
    src, out = _buffers()
    write_src = (
        f"kernel.call @xd_unary_f32(XD_NEG, %out, %src, 4 : i32, 0.0 : f32, 0.0 : f32) : {F4}, {L2}"
    )
    with pytest.raises(DeeployError, match="source of dma.start #1 was written"):
        _run(_parse("\n".join([START, write_src, WAIT])), src, out)


def test_destination_written_in_flight_raises() -> None:
    src, out = _buffers()
    write_dst = (
        f"kernel.call @xd_unary_f32(XD_NEG, %out, %l1, 4 : i32, 0.0 : f32, 0.0 : f32) : {F4}, {L1}"
    )
    with pytest.raises(DeeployError, match="destination of dma.start #1 was written"):
        _run(_parse("\n".join([START, write_dst, WAIT])), src, out)
