"""Interpreter functions for the `cluster` dialect: fork-join over the cluster's cores.

The interpreter must catch what C on the cluster would hide (DESIGN §1): a core reading
what another core has not written yet, and two cores writing the same bytes. So a
`cluster.fork cores(N)` runs as follows:

* Every core runs the region with its id bound to the block argument, in a value scope
  of its own: the values a core defines are not seen by another core (values defined
  before the fork are seen by all).
* The region is cut into *phases* at its top-level `cluster.barrier` ops. All cores run
  phase 1, one after another in a shuffled order, then all run phase 2 in a new shuffled
  order, and so on; a core's values from one phase stay visible to it in the next. The
  orders are pseudo-random but reproducible: `random.Random` seeded from
  `ClusterFunctions.seed` and the number of the fork in the run, so that two forks (or
  two phases) see different orders. An order is never the ascending one (0, 1, …, N-1):
  that is what a sequential reading of the program expects, and so what would hide a
  missing barrier best. With fresh memory poisoned (`buffers.py`), a core that reads
  another core's results without a barrier in between sees poison in some order, and
  the order used is not 0 first.
* `cluster.num_cores` is the fork's N; `cluster.join` ends a core's run, and the fork
  returns when every core has reached it.
* A `cluster.barrier` nested in another region of the fork (an `scf.for`, `scf.if`, …)
  is an error: cores would have to be suspended in the middle of a region, which this
  interpreter does not model. Barriers must sit at the top level of the fork.

Overlapping writes are reported by `CoreWriteGuard`, an interpreter listener: around
each `kernel.call` a core runs (its out/inout buffers, per `kernel.SIGNATURES`) and each
`dma.start` / `dma.wait` (the destination, poisoned at start and written at wait), it
compares the bytes of the allocations written before and after the op. Within one phase
every element with a changed byte is owned by the core that changed it (all its bytes);
a second core changing one of those bytes raises, naming both cores, the byte range in
the allocation and the nodes. Different cores writing different elements of one buffer
is the intended use (each core its slice) and is fine; so is a core rewriting its own
elements, and any write after a barrier.

Limitations: an element rewritten with the value it already held is invisible to the
check (two cores writing equal values to the same place pass, as do writes of 0xFF
bytes over fresh, poisoned memory); elements are those of the written buffer's type, so
two cores writing different bytes of one such element (a kernel storing bytes through
an i32 buffer, say) are reported although they do not overlap; only write/write overlaps are reported, a read of another
core's bytes within the same phase shows only through the poison and the shuffled
order; writes by ops other than `kernel.call` and `dma` are not observed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_terminator,
    register_impls,
)
from xdsl.ir import Operation, SSAValue
from xdsl.utils.exceptions import InterpretationError

from xdeeploy.dialects import dma, dnn, kernel
from xdeeploy.dialects.cluster import BarrierOp, ForkOp, JoinOp, NumCoresOp
from xdeeploy.interp.buffers import BufferFunctions, Memory
from xdeeploy.interp.dma import DmaFunctions, Token

Array = np.ndarray[Any, Any]

NESTED_BARRIER = (
    "cluster.barrier inside {where}: the interpreter only supports barriers at the top "
    "level of a cluster.fork region"
)


def core_order(rng: random.Random, cores: int) -> list[int]:
    """The order in which `cores` cores run one phase: a shuffle drawn from `rng`, never
    the ascending order when there are two cores or more (rotated by one instead)."""
    order = list(range(cores))
    rng.shuffle(order)
    if cores > 1 and order == sorted(order):
        order = order[1:] + order[:1]
    return order


def fork_phases(op: ForkOp) -> list[list[Operation]]:
    """The ops of the fork's region between its top-level barriers (the join excluded);
    raises on a barrier nested deeper, even one that a run would not reach."""
    for inner in op.body.walk():
        parent = inner.parent_op()
        if isinstance(inner, BarrierOp) and parent is not op:
            where = parent.name if parent is not None else "a detached region"
            raise InterpretationError(NESTED_BARRIER.format(where=where))
    phases: list[list[Operation]] = [[]]
    for inner in op.body.block.ops:
        if isinstance(inner, BarrierOp):
            phases.append([])
        elif isinstance(inner, JoinOp):
            break
        else:
            phases[-1].append(inner)
    return phases


def _address(a: Array) -> int:
    return int(a.__array_interface__["data"][0])


def _base(a: Array) -> Array:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _root(storage: Array) -> tuple[Array, int]:
    """The whole allocation `storage` (flat bytes) lies in, and its byte offset there.

    Two views of one arena (a `memref.view` and a `memref.subview`, say) have different
    `Memory.storage`s; their common numpy base is what makes their bytes comparable."""
    root = _base(storage)
    start = _address(storage) - _address(root)
    if not root.flags.c_contiguous or start < 0 or start + storage.nbytes > root.nbytes:
        return storage, 0  # not a plain byte range: own the storage alone
    return root, start


@dataclass
class _Owners:
    """Which core changed each byte of one allocation in the current phase."""

    root: Array
    """Kept so that the allocation lives (and its addresses are not reused) in the phase."""
    core: Array
    """Per byte: the core that changed it, -1 for none."""
    write: Array
    """Per byte: the index in `_Phase.writes` of the op that changed it last."""


@dataclass
class _Phase:
    owners: dict[int, _Owners] = field(default_factory=dict)
    """By `id` of the allocation's root array."""
    writes: list[str] = field(default_factory=list)
    """The writing ops, described for messages."""


@register_impls
@dataclass
class ClusterFunctions(InterpreterFunctions):
    """`cluster.fork` / `join` / `barrier` / `num_cores`. Register `CoreWriteGuard(self)`
    as a listener of the same run to have overlapping writes between cores reported."""

    seed: int = 0
    """With the fork's number, seeds its cores' orders."""
    forks: int = 0
    """The forks run so far."""
    cores: int = 0
    """The core count of the fork running."""
    core: int | None = None
    """The core running now; None outside a fork."""
    memory: Memory | None = None
    """The run's buffers (`BufferFunctions`), to name written globals in messages."""
    _phase: _Phase | None = None

    @impl(ForkOp)
    def run_fork(self, interpreter: Interpreter, op: ForkOp, args: PythonValues) -> PythonValues:
        if self.core is not None:
            raise InterpretationError("cluster.fork inside a cluster.fork: forks do not nest")
        phases = fork_phases(op)
        cores = op.cores.value.data
        self.forks += 1
        # A string seed is hashed with SHA-512: stable across runs and Python versions.
        rng = random.Random(f"xdeeploy-cluster:{self.seed}:{self.forks}")
        self.memory = interpreter.get_data(BufferFunctions, "memory", Memory)
        self.cores = cores
        core_id = op.body.block.args[0]
        # What each core has defined so far, carried from one phase into the next.
        defined: list[dict[SSAValue, Any]] = [{core_id: c} for c in range(cores)]
        try:
            for phase in phases:
                self._phase = _Phase()
                for core in core_order(rng, cores):
                    self.core = core
                    self._run_core(interpreter, phase, defined[core], core)
        finally:
            self.core, self._phase = None, None
        return ()

    def _run_core(
        self,
        interpreter: Interpreter,
        ops: list[Operation],
        defined: dict[SSAValue, Any],
        core: int,
    ) -> None:
        # A scope on top of the fork's: the values from outside stay visible, the other
        # cores' values (never set in this scope) do not.
        interpreter.push_scope(f"core {core}")
        try:
            interpreter.set_values(defined.items())
            for op in ops:
                results = interpreter.run_op(op, interpreter.get_values(op.operands))
                pairs = list(zip(op.results, results, strict=True))
                interpreter.set_values(pairs)
                defined.update(pairs)
        except InterpretationError as e:
            e.add_note(f"(on core {core} of a cluster.fork)")
            raise
        finally:
            interpreter.pop_scope()

    @impl_terminator(JoinOp)
    def run_join(
        self, interpreter: Interpreter, op: JoinOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        # The fork stops each core at its join without running it; as a terminator it
        # ends the region for anyone running the region directly.
        return ReturnedValues(()), ()

    @impl(BarrierOp)
    def run_barrier(
        self, interpreter: Interpreter, op: BarrierOp, args: PythonValues
    ) -> PythonValues:
        # The fork splits its region at top-level barriers and never runs them: reaching
        # one here means it is nested (fork_phases rejects that before the run).
        parent = op.parent_op()
        raise InterpretationError(
            NESTED_BARRIER.format(where=parent.name if parent is not None else "no region")
        )

    @impl(NumCoresOp)
    def run_num_cores(
        self, interpreter: Interpreter, op: NumCoresOp, args: PythonValues
    ) -> PythonValues:
        if self.core is None:
            raise InterpretationError("cluster.num_cores outside a running cluster.fork")
        return (self.cores,)

    def record_write(self, what: str, snap: Snapshot) -> None:
        """The running core's op (`what`, for messages) changed `snap.storage` from
        `snap.before`: own the elements it changed, or raise if another core changed
        one of them in this phase."""
        phase, core = self._phase, self.core
        if phase is None or core is None:
            return
        changed = np.flatnonzero(snap.storage != snap.before)
        if changed.size == 0:
            return
        # Whole elements: a float rewritten with another value may keep some of its
        # bytes (the exponent, say), and the report should name the element, not those.
        size = snap.itemsize
        elements = np.unique((changed - snap.align) // size) * size + snap.align
        spread = (elements[:, None] + np.arange(size)).ravel()
        local = spread[(spread >= 0) & (spread < snap.storage.nbytes)]
        root, start = _root(snap.storage)
        owners = phase.owners.get(id(root))
        if owners is None:
            n = root.nbytes
            owners = _Owners(root, np.full(n, -1, np.int16), np.full(n, -1, np.int32))
            phase.owners[id(root)] = owners
        positions = local + start
        previous = owners.core[positions]
        clash = positions[(previous >= 0) & (previous != core)]
        if clash.size:
            self._report(what, owners, clash, core)
        phase.writes.append(what)
        owners.core[positions] = core
        owners.write[positions] = len(phase.writes) - 1

    def _report(self, ours: str, owners: _Owners, clash: Array, core: int) -> None:
        assert self._phase is not None
        first = int(clash[0])
        other = int(owners.core[first])
        mine = clash[owners.core[clash] == other]  # the bytes shared with that one core
        lo, hi = int(mine.min()), int(mine.max()) + 1
        theirs = self._phase.writes[int(owners.write[first])]
        nodes = ours if theirs == ours else f"{theirs} on core {other}, {ours} on core {core}"
        a, b = sorted((other, core))
        raise InterpretationError(
            f"cluster.fork: cores {a} and {b} both write bytes [{lo}, {hi}) of "
            f"{self._name(owners.root)} ({nodes}): split the work or add a cluster.barrier"
        )

    def _name(self, root: Array) -> str:
        if self.memory is not None:
            for name, value in self.memory.globals.items():
                if _base(value) is root:
                    return f"@{name}"
        return "the same buffer"


def _written(
    op: Operation, args: PythonValues, transfers: DmaFunctions | None
) -> tuple[list[Array], str]:
    """The buffers `op` writes, from its operands' values `args`, and how to name the
    op in messages (a `dma.start`'s own name comes with its token, after it ran)."""
    if isinstance(op, kernel.CallOp):
        params = kernel.SIGNATURES.get(op.kernel)
        if params is None:
            return [], ""
        values = iter(args)
        # Not strict: a call that does not match its signature is the kernel's to report.
        arguments = zip(op.arguments(), params, strict=False)
        buffers = [(next(values), p) for a, p in arguments if isinstance(a, SSAValue)]
        written = [b for b, p in buffers if p.kind != "in" and isinstance(b, np.ndarray)]
        return written, f"node '{dnn.node_name(op)}' @{op.kernel}"
    if isinstance(op, dma.StartOp) and isinstance(args[1], np.ndarray):
        return [args[1]], op.name
    if isinstance(op, dma.WaitOp) and transfers is not None and isinstance(args[0], Token):
        transfer = transfers.pending.get(args[0])
        return ([], "") if transfer is None else ([transfer.dst], f"dma.wait of {args[0].where}")
    return [], ""


@dataclass
class Snapshot:
    """An allocation an op may write, as it was before the op."""

    storage: Array
    """Its flat bytes (`Memory.storage`)."""
    before: Array
    """A copy of them, taken before the op."""
    itemsize: int
    """The size of the written buffer's elements, …"""
    align: int
    """… which start at this byte of `storage`, modulo `itemsize`."""


@dataclass
class _Before:
    op: Operation
    what: str
    snapshots: list[Snapshot]


@dataclass
class CoreWriteGuard(Interpreter.Listener):
    """Snapshots what a core's kernel call or DMA op writes, before and after the op,
    and hands the changes to `cluster` (see the module docstring). Give it the run's
    `DmaFunctions` to observe `dma.wait`, whose destination only they know."""

    cluster: ClusterFunctions
    transfers: DmaFunctions | None = None
    _before: _Before | None = None

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        self._before = None
        memory = self.cluster.memory
        if self.cluster.core is None or memory is None:
            return
        buffers, what = _written(op, args, self.transfers)
        snapshots: dict[tuple[int, int], Snapshot] = {}
        for buf in buffers:
            try:
                storage, offset = memory.storage(buf)
            except InterpretationError:
                continue  # the op itself reports a buffer it cannot address
            key = (_address(storage), storage.nbytes)
            if key not in snapshots:  # one copy per allocation, for the first buffer in it
                # The whole allocation: kernels address memory from the buffer's start
                # at their own strides, possibly beyond the numpy view's extent.
                size = max(buf.dtype.itemsize, 1)
                snapshots[key] = Snapshot(storage, storage.copy(), size, offset % size)
        if snapshots:
            self._before = _Before(op, what, list(snapshots.values()))

    def did_interpret_op(self, op: Operation, results: PythonValues) -> None:
        before, self._before = self._before, None
        if before is None or before.op is not op:
            return
        what = before.what
        if isinstance(op, dma.StartOp) and results and isinstance(results[0], Token):
            what = results[0].where
        for snap in before.snapshots:
            self.cluster.record_write(what, snap)
