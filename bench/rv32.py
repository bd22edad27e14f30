"""Benchmark: Llama decoding bare-metal on QEMU's 8-hart RV32 `virt`, 1 against 8 harts.

    python bench/rv32.py [--presets tiny stories260k] [--steps 4] [--out bench/results]

For each preset (int8, decode mode, seeded weights, built by `deeploy model llama`), the
network is compiled for `rv32-virt` (tiled at its L1) once for 1 core and once for 8
(`cluster-parallelize`), with `XD_LAYER_MARK()` calling the profiler's marker, and
decoded for `--steps` tokens from position 0 on QEMU with our TCG plugin counting each
hart's instructions (`-icount shift=0`: deterministic). Per token:

* the instructions of the 1-hart build (the baseline, measured in the same run), the
  8-hart build's instructions on its busiest hart (the critical path: what the token
  takes in time) and summed over harts (the work, overheads included);
* speedup = 1-hart instructions / busiest hart of the 8-hart run.

Per layer (between two marks), averaged over the steps: the same speedup, and the
8-hart run's own total ÷ busiest hart. Layers whose kernels are matrix products
(matmul, gemv, gemm) are summarised separately (goal: speedup ≥ 6.5).

A third build, 8 harts with `--kernels asm` (our assembly for the matrix products,
integer add and requantization), gives its busiest hart's instructions per token and the
ratio to the C build's. The logits of all three builds must be bit-identical at every
step (the split computes the serial bits, the asm kernels the C kernels' bits). Writes OUT/rv32.json and OUT/rv32.md and prints the table; a failed
measurement is recorded as an error string and the rest still runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PRESETS = ["tiny", "stories260k"]
MATMUL_KERNELS = ("xd_matmul", "xd_gemv", "xd_gemm")


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                         text=True, check=False)  # fmt: skip
    return out.stdout.strip() or "unknown"


def _model(preset: str, folder: Path) -> Path:
    path = folder / f"{preset}_int8.onnx"
    cmd = [sys.executable, "-m", "xdeeploy.tools.deeploy", "model", "llama", "--preset", preset,
           "--quant", "int8", "-o", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return path


def _decode(
    model_path: Path, cores: int, steps: int, folder: Path, kernels: str = "c"
) -> dict[str, Any]:
    """Compiles for rv32-virt with `cores` cores (and `kernels`) and decodes `steps`
    tokens."""
    import onnx

    from xdeeploy.platforms import load_platform
    from xdeeploy.tools.build import compile_model
    from xdeeploy.tools.generate import _feeds, _zero_caches  # pyright: ignore[reportPrivateUsage]
    from xdeeploy.tools.rv32 import Rv32Program

    model = onnx.load(str(model_path))
    platform = load_platform("rv32-virt")
    build = compile_model(model, folder, l1=platform.l1, l2=platform.l2, cores=cores,
                          kernels=kernels)  # fmt: skip
    program = Rv32Program(build, cores=cores, profile=True)
    caches = _zero_caches(model)
    token = 1
    logits: list[np.ndarray] = []
    per_step: list[dict[str, Any]] = []
    for pos in range(steps):
        run = program.run([*_feeds(token, pos), *caches])
        out, *caches = run.outputs
        logits.append(out)
        token = int(np.argmax(out.reshape(-1)))
        marks = np.array(run.marks, dtype=np.int64)  # snapshots x harts
        layers = np.diff(marks, axis=0)  # layers x harts
        per_step.append({
            "per_hart": list(run.per_hart),
            "layer_total": layers.sum(axis=1).tolist(),
            "layer_max": layers.max(axis=1).tolist(),
            "net_total": int(layers.sum()),
            "net_max": int(layers.sum(axis=0).max()),
        })  # fmt: skip
    names = list(build.report.get("layers", []))  # type: ignore[arg-type]
    kernels = dict(build.report.get("layer_calls", {}))  # type: ignore[arg-type]
    return {"logits": logits, "steps": per_step, "layers": names, "kernels": kernels}


def measure(preset: str, steps: int, folder: Path) -> dict[str, Any]:
    model_path = _model(preset, folder)
    one = _decode(model_path, 1, steps, folder / "one")
    eight = _decode(model_path, 8, steps, folder / "eight")
    asm = _decode(model_path, 8, steps, folder / "asm", kernels="asm")
    exact = all(a.tobytes() == b.tobytes() == c.tobytes()
                for a, b, c in zip(one["logits"], eight["logits"], asm["logits"], strict=True))  # fmt: skip
    crit_asm = statistics.mean(s["net_max"] for s in asm["steps"])
    base = statistics.mean(s["net_total"] for s in one["steps"])
    crit = statistics.mean(s["net_max"] for s in eight["steps"])
    work = statistics.mean(s["net_total"] for s in eight["steps"])
    layers = []
    for k, name in enumerate(one["layers"]):
        if k >= len(eight["layers"]) or eight["layers"][k] != name:
            break
        serial = statistics.mean(s["layer_total"][k] for s in one["steps"])
        busiest = statistics.mean(s["layer_max"][k] for s in eight["steps"])
        total = statistics.mean(s["layer_total"][k] for s in eight["steps"])
        kernels = eight["kernels"].get(name, [])
        layers.append({
            "layer": name,
            "kernels": kernels,
            "matmul": any(k.startswith(MATMUL_KERNELS) for k in kernels),
            "instructions_1": serial,
            "busiest_8": busiest,
            "total_8": total,
            "speedup": serial / busiest if busiest else None,
            "total_over_busiest": total / busiest if busiest else None,
        })  # fmt: skip
    matmuls = [r["speedup"] for r in layers if r["matmul"] and r["speedup"]]
    return {
        "preset": preset,
        "steps": steps,
        "bit_exact_1_vs_8": exact,
        "instructions_per_token_1": base,
        "busiest_hart_per_token_8": crit,
        "total_per_token_8": work,
        "speedup": base / crit,
        "busiest_hart_per_token_8_asm": crit_asm,
        "asm_over_c_8": crit_asm / crit,
        "matmul_layers": len(matmuls),
        "matmul_speedup_min": min(matmuls, default=None),
        "matmul_speedup_median": statistics.median(matmuls) if matmuls else None,
        "layers": layers,
    }


def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model (int8) | 1 hart: instr/token | 8 harts: busiest hart | 8 harts: all harts "
        "| speedup | matmul layers: min / median speedup | 8 harts, --kernels asm: busiest "
        "(asm / C) | bit-exact |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['preset']} | error: {r['error']} |||||")
            continue
        mm = (f"{r['matmul_speedup_min']:.2f} / {r['matmul_speedup_median']:.2f} "
              f"({r['matmul_layers']})") if r["matmul_layers"] else "-"  # fmt: skip
        lines.append(
            f"| {r['preset']} | {r['instructions_per_token_1']:,.0f} "
            f"| {r['busiest_hart_per_token_8']:,.0f} | {r['total_per_token_8']:,.0f} "
            f"| {r['speedup']:.2f} | {mm} | {r['busiest_hart_per_token_8_asm']:,.0f} "
            f"({r['asm_over_c_8']:.2f}) | {'yes' if r['bit_exact_1_vs_8'] else 'NO'} |"
        )
    for r in results:
        if "error" in r:
            continue
        lines += ["", f"Layers of {r['preset']} (mean over {r['steps']} tokens):", "",
                  "| layer | kernels | 1 hart | 8: busiest | 8: all | speedup | all/busiest |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for layer in r["layers"]:
            kernels = " ".join(k.removeprefix("xd_") for k in layer["kernels"])
            sp, tb = layer["speedup"], layer["total_over_busiest"]
            lines.append(
                f"| {layer['layer']} | {kernels} | {layer['instructions_1']:,.0f} "
                f"| {layer['busiest_8']:,.0f} | {layer['total_8']:,.0f} "
                f"| {sp:.2f} | {tb:.2f} |"
                if sp and tb
                else f"| {layer['layer']} | {kernels} |||||"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    results = []
    for preset in args.presets:
        with tempfile.TemporaryDirectory(prefix="xdeeploy-bench-rv32-") as tmp:
            try:
                results.append(measure(preset, args.steps, Path(tmp)))
            except Exception as exc:  # noqa: BLE001 - recorded, the other presets still run
                traceback.print_exc()
                results.append({"preset": preset, "error": f"{type(exc).__name__}: {exc}"})
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": _commit()}  # fmt: skip
    (args.out / "rv32.json").write_text(json.dumps({**meta, "results": results}, indent=1))
    table = _table(results)
    (args.out / "rv32.md").write_text(
        f"# rv32-virt, 1 vs 8 harts ({meta['date']}, {meta['commit']})\n\n{table}"
    )
    print(table)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
