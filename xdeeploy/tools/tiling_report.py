"""The memory and traffic report of a tiled build: per layer, the tile shape, its L1
footprint against the budget and the DMA bytes against the compulsory ones (every input
byte read once, every output byte written once); in total, the L1 and L2 arena peaks
against their budgets and lower bounds.

`report.json` holds only what the compiler decided (byte-identical on recompile); the
solver times, measured on this machine, are printed by `deeploy compile --report` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xdsl.dialects import func

from xdeeploy.passes.dnn_tile import TileRecord
from xdeeploy.passes.plan_memory import L1_ARENA_ATTR, arena_of


def tiling_section(records: Sequence[TileRecord], fn: func.FuncOp, l1: int) -> dict[str, Any]:
    """The deterministic part of the report, for report.json."""
    l1_peak, l1_bound = arena_of(fn, L1_ARENA_ATTR)
    layers = []
    for r in records:
        s = r.solution
        names = [f"d{i}" for i in range(len(r.dims))]
        layers.append(
            {
                "node": r.node,
                "op": r.op,
                "dims": list(r.dims),
                "tile": [s.tiles[n] for n in names],
                "loop_order": [names.index(n) for n in s.order],
                "l1_bytes": s.l1_bytes,
                "dma_bytes": s.traffic_bytes * r.runs,
                "compulsory_bytes": s.compulsory_bytes * r.runs,
                "transfers": s.transfers * r.runs,
                "status": s.status,
            }
        )
    dma = sum(r.solution.traffic_bytes * r.runs for r in records)
    compulsory = sum(r.solution.compulsory_bytes * r.runs for r in records)
    return {
        "l1_budget_bytes": l1,
        "l1_arena_bytes": l1_peak,
        "l1_arena_lower_bound_bytes": l1_bound,
        "dma_bytes": dma,
        "compulsory_bytes": compulsory,
        "layers": layers,
    }


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def tiling_text(section: dict[str, Any], records: Sequence[TileRecord]) -> list[str]:
    """Readable lines: one per tiled layer, then the totals."""
    seconds = {r.node: r.seconds for r in records}
    budget = section["l1_budget_bytes"]
    lines = [
        f"  tiling for L1 = {budget} B: {len(section['layers'])} layers tiled "
        f"(ops without a tiling rule compute in place in L2)",
        f"  {'layer':<36} {'op':<18} {'tile':<16} {'L1 B':>8} {'DMA B':>10} "
        f"{'/ compulsory':>12} {'solver ms':>9}",
    ]
    for layer in section["layers"]:
        tile = "x".join(map(str, layer["tile"]))
        ms = seconds.get(layer["node"], 0.0) * 1e3
        lines.append(
            f"  {layer['node'][:36]:<36} {layer['op'][:18]:<18} {tile[:16]:<16} "
            f"{layer['l1_bytes']:>8} {layer['dma_bytes']:>10} "
            f"{_ratio(layer['dma_bytes'], layer['compulsory_bytes']):>12} {ms:>9.1f}"
        )
    total_ms = sum(r.seconds for r in records) * 1e3
    lines.append(
        f"  L1 arena peak {section['l1_arena_bytes']} B of {budget} B "
        f"(lower bound {section['l1_arena_lower_bound_bytes']} B); DMA {section['dma_bytes']} B "
        f"= {_ratio(section['dma_bytes'], section['compulsory_bytes'])} x compulsory; "
        f"solver {total_ms:.0f} ms in all"
    )
    return lines
