"""numpy-backed interpreter functions for the `dma` dialect.

The interpreter must catch what C on a real DMA engine would hide (DESIGN §1): a use of
the destination before `dma.wait`, a wait forgotten or repeated, a buffer written while
the engine still works on it. So a transfer is modelled as:

* `dma.start` snapshots the source and *poisons* the destination (NaN for floats, the
  0xFF byte pattern for integers, as fresh memory in `buffers.py`), and returns a fresh
  token. Reading the destination too early therefore shows in the results.
* `dma.wait` writes the snapshot into the destination. The data is the source *as it
  was at start*: a real engine reads the source while in flight, so whatever a racing
  writer does to it is undefined. We copy the start-time contents (deterministic) and
  report the race instead: if the source's bytes changed since start, or the
  destination's bytes are no longer the poison (someone wrote it in flight), the wait
  raises.
* Waiting twice on a token raises; `check_all_waited` reports the transfers still in
  flight when a run ends (the runner calls it after the entry function returns).
* Optionally (`InFlightGuard`, a listener), a `kernel.call` that touches the
  destination, or writes the source, of a transfer in flight raises right there: a
  tile read before its wait is then an error even where the poison would not show
  (integers, or a value overwritten later), and a race is reported even when the wait
  never comes.

Buffer values are the numpy views of `buffers.py` (register `BufferFunctions` too);
strided destinations are poisoned and written element-wise through their views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import Operation, SSAValue

from xdeeploy.dialects import dma, dnn, kernel
from xdeeploy.errors import DeeployError

Array = np.ndarray[Any, Any]


def poison_value(dtype: np.dtype[Any]) -> Any:
    """What a poisoned element holds: NaN for floats, every byte 0xFF otherwise."""
    if np.issubdtype(dtype, np.floating):
        return dtype.type(np.nan)
    return np.frombuffer(b"\xff" * dtype.itemsize, dtype=dtype)[0]


@dataclass(eq=False)
class Token:
    """One transfer (a `!dma.token` value): hashed by identity, so each start is distinct."""

    number: int
    where: str
    """The `dma.start` it came from, for messages."""
    waited: bool = False


@dataclass
class _Transfer:
    src: Array
    dst: Array
    snapshot: Array
    """The source's contents at start: what the destination receives at wait."""
    dst_poison: Array
    """The destination's contents right after start (its poison), to spot writers."""


def _describe(op: dma.StartOp, number: int) -> str:
    node = op.attributes.get(dnn.NODE_ATTR)
    return f"dma.start #{number}" + (f" ({dnn.node_name(op)})" if node is not None else "")


def _same_bytes(a: Array, b: Array) -> bool:
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


@register_impls
@dataclass
class DmaFunctions(InterpreterFunctions):
    """`dma.start` / `dma.wait`; the transfers in flight live in `pending`."""

    pending: dict[Token, _Transfer] = field(default_factory=dict)
    started: int = 0

    @impl(dma.StartOp)
    def run_start(
        self, interpreter: Interpreter, op: dma.StartOp, args: PythonValues
    ) -> PythonValues:
        src, dst = args
        if not isinstance(src, np.ndarray) or not isinstance(dst, np.ndarray):
            raise DeeployError("dma.start: the operands must be buffers (numpy arrays)")
        if src.shape != dst.shape:
            raise DeeployError(f"dma.start: shapes differ ({src.shape} vs {dst.shape})")
        if not dst.flags.writeable:
            raise DeeployError("dma.start: the destination is read-only")
        if np.shares_memory(src, dst):
            raise DeeployError("dma.start: the source and destination share memory")
        for other in self.pending.values():
            if np.shares_memory(dst, other.dst) or np.shares_memory(dst, other.src):
                raise DeeployError(
                    "dma.start: the destination overlaps a buffer of a transfer in flight"
                )
            if np.shares_memory(src, other.dst):
                raise DeeployError(
                    "dma.start: the source overlaps the destination of a transfer in flight"
                )
        self.started += 1
        token = Token(self.started, _describe(op, self.started))
        snapshot = np.array(src, order="C")
        dst[...] = poison_value(dst.dtype)
        self.pending[token] = _Transfer(src, dst, snapshot, np.array(dst, order="C"))
        return (token,)

    @impl(dma.WaitOp)
    def run_wait(
        self, interpreter: Interpreter, op: dma.WaitOp, args: PythonValues
    ) -> PythonValues:
        (token,) = args
        if not isinstance(token, Token):
            raise DeeployError("dma.wait: the operand is not a token of this run")
        transfer = self.pending.pop(token, None)
        if transfer is None:
            if token.waited:
                raise DeeployError(f"dma.wait: {token.where} was already waited for")
            raise DeeployError(f"dma.wait: {token.where} is not in flight")
        token.waited = True
        if not _same_bytes(transfer.src, transfer.snapshot):
            raise DeeployError(f"dma.wait: the source of {token.where} was written while in flight")
        if not _same_bytes(transfer.dst, transfer.dst_poison):
            raise DeeployError(
                f"dma.wait: the destination of {token.where} was written while in flight"
            )
        transfer.dst[...] = transfer.snapshot
        return ()


def check_all_waited(functions: DmaFunctions) -> None:
    """Raises if a transfer started in this run was never waited for."""
    if functions.pending:
        names = ", ".join(t.where for t in functions.pending)
        raise DeeployError(f"transfers never waited for: {names}")


@dataclass
class InFlightGuard(Interpreter.Listener):
    """Raises when a kernel call touches the destination, or writes the source, of a
    transfer of `functions` still in flight (register it as a listener of the same run)."""

    functions: DmaFunctions

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        params = kernel.SIGNATURES.get(op.kernel) if isinstance(op, kernel.CallOp) else None
        if params is None or not self.functions.pending:
            return
        assert isinstance(op, kernel.CallOp)
        values = iter(args)
        accesses = [
            (next(values), p.kind)
            for a, p in zip(op.arguments(), params, strict=True)
            if isinstance(a, SSAValue)
        ]
        for token, transfer in self.functions.pending.items():
            for buf, kind in accesses:
                if np.shares_memory(buf, transfer.dst):
                    what = "uses the destination"
                elif kind != "in" and np.shares_memory(buf, transfer.src):
                    what = "writes the source"
                else:
                    continue
                raise DeeployError(
                    f"node '{dnn.node_name(op)}': @{op.kernel} {what} of {token.where} "
                    "before its dma.wait"
                )
