"""`dnn-tile`: choose each op's tile sizes so that one tile fits the L1 scratchpad.

For every op with a tiling rule (`tiling_rules.py`), the tile sizes and loop order come
from the CP-SAT model of `tile_solver.py` under the `l1-size` budget (double-buffered
operands counted twice) and are recorded on the op as

    dnn.tile = {tiles = array<i64: …>, order = array<i64: …>, l1 = …, traffic = …,
                compulsory = …, transfers = …, status = "…"}

(tile size per iteration dim, loops outermost first, the L1 footprint and the DMA
figures the solver computed). `convert-dnn-to-kernel` turns the decision into
`scf.for` loops over `memref.subview` tiles copied into L1 by `dma.start`/`dma.wait`.

The decision is taken here, on tensors, where each op's iteration space and operand
accesses are plain; the loops are built during bufferization, which reuses the op's
own kernel lowering on the tile buffers. An op whose smallest tile does not fit is an
error naming the node, the budget and the smallest L1 that would do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Operation
from xdsl.passes import ModulePass

from xdeeploy.dialects import dnn
from xdeeploy.errors import DeeployError
from xdeeploy.passes.dnn_map_engines import NpuConv, NpuMatmul, engine_of, npu_job
from xdeeploy.passes.tile_solver import Problem, Solution, TilingInfeasible, solve
from xdeeploy.passes.tiling_rules import OpTiling, npu_tiling, tiling_of

TILE_ATTR = "dnn.tile"


def _scratch_bytes(op: Operation) -> int:
    """L1 the kernel lowering allocates besides the operand tiles: a norm's broadcast
    weights expanded to the normalised shape."""
    if not isinstance(op, dnn.LayerNormOp | dnn.RmsNormOp):
        return 0
    normalized = dnn.shape_of(op.input)[op.axis.value.data :]
    return sum(
        4 * prod(normalized) for p in op.operands[1:] if dnn.shape_of(p) != tuple(normalized)
    )


def problem_of(op: Operation, tiling: OpTiling, budget: int, double_buffer: bool) -> Problem:
    return Problem(
        node=dnn.node_name(op),
        dims=tiling.dims,
        operands=(*tiling.accesses, *tiling.scratch),
        budget=budget,
        double_buffer=double_buffer,
        extra_bytes=_scratch_bytes(op),
    )


def tile_attr(tiling: OpTiling, solution: Solution) -> DictionaryAttr:
    names = [d.name for d in tiling.dims]
    fields: dict[str, Attribute] = {
        "tiles": DenseArrayBase.from_list(i64, [solution.tiles[n] for n in names]),
        "order": DenseArrayBase.from_list(i64, [names.index(n) for n in solution.order]),
        "l1": IntegerAttr(solution.l1_bytes, i64),
        "traffic": IntegerAttr(solution.traffic_bytes, i64),
        "compulsory": IntegerAttr(solution.compulsory_bytes, i64),
        "transfers": IntegerAttr(solution.transfers, i64),
        "status": StringAttr(solution.status),
    }
    return DictionaryAttr(fields)


@dataclass(frozen=True)
class TileChoice:
    """A recorded decision: tile size per dim and the loop order (dim indices)."""

    tiles: tuple[int, ...]
    order: tuple[int, ...]


def tile_choice(op: Operation) -> TileChoice | None:
    attr = op.attributes.get(TILE_ATTR)
    if not isinstance(attr, DictionaryAttr):
        return None
    tiles, order = attr.data["tiles"], attr.data["order"]
    assert isinstance(tiles, DenseArrayBase) and isinstance(order, DenseArrayBase)
    return TileChoice(
        tuple(int(t) for t in tiles.get_values()), tuple(int(o) for o in order.get_values())
    )


def _tensor_op(op: Operation) -> bool:
    return (
        isinstance(op, dnn.DnnOp)
        and not isinstance(op, dnn.ConstantOp | dnn.ReshapeOp)
        and all(isinstance(r.type, TensorType) for r in op.results)
    )


@dataclass(frozen=True)
class TileRecord:
    """One op's decision, for reports: which op, its iteration dims, the solution and
    how long the solver took (wall time: reported, never written into the IR)."""

    node: str
    op: str
    dims: tuple[int, ...]
    solution: Solution
    seconds: float
    runs: int = 1
    """How many times the tiled loop runs: one per batch of a batched NPU product."""


def tile_ops(module: ModuleOp, l1_size: int, double_buffer: bool = True) -> list[TileRecord]:
    """Chooses and records the tiles of every op with a tiling rule in `module`."""
    if l1_size <= 0:
        raise DeeployError(
            f"dnn-tile: the L1 size must be a positive number of bytes, got {l1_size}"
        )
    records = []
    infeasible: list[tuple[TilingInfeasible, Operation]] = []
    for op in module.walk():
        job = npu_job(op)  # the NPU's job lowered at op, if any
        if engine_of(op) == "npu":
            tiling = npu_tiling(job) if job is not None else None
        else:
            tiling = tiling_of(op) if _tensor_op(op) else None
        if tiling is None:
            continue
        problem = problem_of(op, tiling, l1_size, double_buffer)
        start = time.perf_counter()
        try:
            solution = solve(problem)
        except TilingInfeasible as e:
            if engine_of(op) != "npu":
                infeasible.append((e, op))
            continue  # an NPU job too big for L1 streams from L2 (the cost model says so)
        seconds = time.perf_counter() - start
        op.attributes[TILE_ATTR] = tile_attr(tiling, solution)
        dims = tuple(d.size for d in tiling.dims)
        label, runs = (op.name, 1) if job is None else _job_label_and_runs(job)
        records.append(TileRecord(dnn.node_name(op), label, dims, solution, seconds, runs))
    if infeasible:
        raise _budget_error(infeasible)
    return records


def _job_label_and_runs(job: NpuMatmul | NpuConv) -> tuple[str, int]:
    """What the report calls an NPU job's tiles, and how many times they run (once per
    batch of a batched product)."""
    if isinstance(job, NpuMatmul):
        return "npu.matmul", job.jobs
    return ("npu.matmul" if job.kind == "im2col" else "npu.conv2d"), 1


def _budget_error(infeasible: list[tuple[TilingInfeasible, Operation]]) -> DeeployError:
    """One line for all the ops that do not fit: the neediest one names the L1 size
    that fits the whole network (every other op needs less)."""
    worst, op = max(infeasible, key=lambda item: item[0].min_bytes)
    others = f"; {len(infeasible) - 1} other op(s) do not fit either" if len(infeasible) > 1 else ""
    return DeeployError(f"{worst} ({op.name}){others}")


@dataclass(frozen=True)
class DnnTile(ModulePass):
    """Options: `l1-size` (bytes of L1 for one op's tiles) and `double-buffer`."""

    name = "dnn-tile"

    l1_size: int = 64000
    double_buffer: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        tile_ops(op, self.l1_size, self.double_buffer)
