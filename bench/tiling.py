"""Benchmark: tiling every Deeploy peer network for an L1 scratchpad.

    python bench/tiling.py [--l1 64000] [--peers ../shared/peer-tests/deeploy] [--out bench/results]

For each peer case (a folder with network.onnx and inputs.npz), in a subprocess of its
own (this script's `--one` mode) so that its peak RSS is its own:

* compile time of `deeploy compile` tiled at `--l1` and, as the baseline measured in the
  same run, untiled (ratio tiled / untiled);
* peak RSS of the tiled compile (`ru_maxrss` of the child);
* solver time (sum over the layers, wall clock);
* L1 arena peak / budget (goal ≤ 1), L2 arena peak / its lower bound (goal ≤ 1.05),
  DMA bytes / compulsory bytes over the tiled layers (goal ≤ 1.5 on Attention).

Writes OUT/tiling.json and OUT/tiling.md and prints the table. A failing case is recorded
with its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PEERS = REPO.parent / "shared" / "peer-tests" / "deeploy"


def _compile(case: Path, build: Path, l1: int) -> tuple[dict[str, Any], float, float]:
    """(report, compile seconds, solver seconds) of one compile in this process."""
    import onnx

    from xdeeploy.tools.build import compile_model
    from xdeeploy.tools.cases import bind_inputs, input_types, load_npz

    model = onnx.load(case / "network.onnx")
    types = input_types(bind_inputs(model, load_npz(case / "inputs.npz"), {}))
    start = time.perf_counter()
    result = compile_model(model, build, l1=l1, input_types=types)
    seconds = time.perf_counter() - start
    solver = sum(r.seconds for r in result.tiling_records)
    return result.report, seconds, solver


def one(case: Path, l1: int) -> int:
    """`--one` mode: measure one case, print one JSON line."""
    with tempfile.TemporaryDirectory(prefix="xdeeploy-bench-") as tmp:
        _, untiled_s, _ = _compile(case, Path(tmp) / "untiled", 0)
        report, tiled_s, solver_s = _compile(case, Path(tmp) / "tiled", l1)
    tiling = report["tiling"]
    assert isinstance(tiling, dict)
    row = {
        "compile_s": tiled_s,
        "untiled_compile_s": untiled_s,
        "solver_s": solver_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "layers_tiled": len(tiling["layers"]),
        "l1_peak": tiling["l1_arena_bytes"],
        "l2_peak": report["arena_bytes"],
        "l2_lower_bound": report["arena_lower_bound_bytes"],
        "dma_bytes": tiling["dma_bytes"],
        "compulsory_bytes": tiling["compulsory_bytes"],
    }
    print(json.dumps(row))
    return 0


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def markdown(results: dict[str, Any]) -> str:
    l1 = results["l1"]
    lines = [
        f"# Tiling for L1 = {l1} B ({results['date']})",
        "",
        "| case | compile s | tiled/untiled | solver ms | RSS MB | layers | L1 peak/budget "
        "| L2 peak/bound | DMA/compulsory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["cases"].items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} |||||||| ")
            continue
        lines.append(
            f"| {name} | {r['compile_s']:.2f} | {_fmt(_ratio(r['compile_s'], r['untiled_compile_s']))} "
            f"| {r['solver_s'] * 1e3:.0f} | {r['peak_rss_mb']:.0f} | {r['layers_tiled']} "
            f"| {_fmt(_ratio(r['l1_peak'], l1))} | {_fmt(_ratio(r['l2_peak'], r['l2_lower_bound']))} "
            f"| {_fmt(_ratio(r['dma_bytes'], r['compulsory_bytes']))} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Tile every peer network for an L1 budget.")
    p.add_argument("--l1", type=int, default=64000)
    p.add_argument("--peers", type=Path, default=DEFAULT_PEERS)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one is not None:
        return one(args.one, args.l1)
    cases = sorted(
        Path(root)
        for root, _, files in os.walk(args.peers, followlinks=True)
        if "network.onnx" in files
    )
    if not cases:
        print(f"no peer cases under {args.peers}", file=sys.stderr)
        return 1
    results: dict[str, Any] = {
        "l1": args.l1,
        "date": time.strftime("%Y-%m-%d"),
        "cases": {},
    }
    for case in cases:
        name = str(case.relative_to(args.peers))
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(case), "--l1", str(args.l1)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if child.returncode != 0 or not child.stdout.strip():
            err = (child.stderr.strip().splitlines() or ["no output"])[-1]
            results["cases"][name] = {"error": err}
        else:
            results["cases"][name] = json.loads(child.stdout.strip().splitlines()[-1])
        print(name, results["cases"][name], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tiling.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "tiling.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
