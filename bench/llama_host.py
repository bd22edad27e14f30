"""Benchmark: Llama decoding on the host, our generated C against onnxruntime.

    python bench/llama_host.py [--presets stories260k stories15m] [--steps 32] [--repeats 3]
        [--out bench/results] [--from-llama2c CKPT.bin --tokenizer TOK.bin] [--keep DIR]

For each preset (decode mode, seeded random weights unless a llama2.c checkpoint of the
same shape is given):

1. decode speed at mid-context, single thread: our C (the `generic` platform, called
   in-process through ctypes, the KV cache updated in place as `GenericSession` does)
   and onnxruntime (`intra_op_num_threads=1`, as `OnnxruntimeSession`). Both are fed
   the same seeded tokens from position 0 up to `context/2 - steps/2` (to fill the
   cache), then a window of `steps` positions around `context/2` is timed, `repeats`
   times (re-running a position rewrites its cache row with the same values), the two
   engines alternating window by window. Reported: median per-token latency, tokens/s
   and ours/onnxruntime (goal ≥ 1.0); the logits of the window are compared
   (|a−b| ≤ 1e-4·max(1,|b|)).
2. `deeploy compile` cost, in a subprocess (this script's `--compile-only` mode):
   wall time of `compile_model` and of `build_shared_library` separately, peak RSS
   (`RUSAGE_CHILDREN`), bytes of the printed IR (`deeploy-opt model.onnx`, weights not
   inline) and of the weights blob.

Results go to OUT/llama_host.json and OUT/llama_host.md (the table is also printed).
Every measurement is wrapped: a failure is recorded as an error string and the bench
goes on. Weights are stored in a fresh folder of this run ($XDEEPLOY_WEIGHTS_DIR), so the
compile is measured cold.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PRESETS = ["stories260k", "stories15m"]
TOLERANCE = 1e-4  # DESIGN §6: |a−b| ≤ 1e-4·max(1,|b|)


# ----------------------------------------------------------------------------- helpers


def _error(exc: BaseException) -> str:
    traceback.print_exc(file=sys.stderr)
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"[:500]


def _guard(record: dict[str, Any], what: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Runs one measurement; its results, or an error string, go to record[what]."""
    print(f"bench: {what} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        record[what] = fn()
    except Exception as exc:  # a bench records failures and keeps going
        record[what] = {"error": _error(exc)}
    print(f"bench: {what} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _command(cmd: Sequence[str]) -> str | None:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=REPO)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _child(cmd: list[str], timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exit {result.returncode}: {lines[-1]}")
    return result, elapsed


def machine_info() -> dict[str, Any]:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gcc = _command(["gcc", "--version"])
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
        "gcc": gcc.splitlines()[0] if gcc else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for module in ("numpy", "onnxruntime", "onnx", "xdsl"):
        try:
            info[module] = str(__import__(module).__version__)
        except Exception as exc:
            info[module] = f"unavailable ({type(exc).__name__})"
    return info


def git_info() -> dict[str, Any]:
    commit = _command(["git", "rev-parse", "--short", "HEAD"])
    status = _command(["git", "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


# ----------------------------------------------------------------------------- models


@dataclass
class ModelSpec:
    name: str  # the row's name: the preset, or the checkpoint's file name
    preset: str | None
    checkpoint: Path | None = None
    tokenizer: Path | None = None


def _checkpoint_shape(checkpoint: Path) -> tuple[int, ...]:
    """The llama2.c header's shape fields; the weights are not read (this process stays
    small until the compiles are measured)."""
    with open(checkpoint, "rb") as f:
        header = f.read(28)
    if len(header) < 28:
        raise ValueError(f"{checkpoint}: {len(header)} bytes, too short for a llama2.c header")
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", header)
    return dim, hidden, layers, heads, kv_heads, abs(vocab), seq_len


def model_specs(
    presets: Sequence[str], checkpoint: Path | None, tokenizer: Path | None
) -> list[ModelSpec]:
    """One spec per preset; a checkpoint replaces the random weights of the preset of its
    shape, or is benchmarked as a model of its own if it matches none."""
    specs = [ModelSpec(p, p) for p in presets]
    if checkpoint is None:
        return specs
    from xdeeploy.frontend.models.llama import PRESETS

    shape = _checkpoint_shape(checkpoint)
    for spec in specs:
        c = PRESETS[spec.preset or ""]
        fields = (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size)
        if (*fields, c.seq_len) == shape:
            spec.name = f"{spec.preset} ({checkpoint.name})"
            spec.checkpoint, spec.tokenizer = checkpoint, tokenizer
            return specs
    return [*specs, ModelSpec(checkpoint.name, None, checkpoint, tokenizer)]


def write_model(spec: ModelSpec, path: Path) -> dict[str, Any]:
    """`deeploy model llama --mode decode`, in a subprocess (see `_checkpoint_shape`)."""
    cmd = [sys.executable, "-m", "xdeeploy.tools.deeploy", "model", "llama", "--mode", "decode"]
    if spec.preset:
        cmd += ["--preset", spec.preset]
    if spec.checkpoint:
        cmd += ["--from-llama2c", str(spec.checkpoint)]
    if spec.tokenizer:
        cmd += ["--tokenizer", str(spec.tokenizer)]
    result, wall = _child([*cmd, "-o", str(path)], timeout=900)
    return {"summary": result.stdout.strip(), "write_s": wall, "onnx_bytes": path.stat().st_size}


def _vm(field: str) -> int | None:
    """A `/proc/self/status` field in kB (VmHWM: this process's peak RSS since its exec;
    unlike ru_maxrss it does not inherit the RSS of the process that spawned it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# ----------------------------------------------------------------------------- compile


def compile_only(model_path: Path, build_dir: Path) -> int:
    """The child of `measure_compile`: compiles, builds, prints one JSON line."""
    from xdeeploy.frontend.onnx import load_model
    from xdeeploy.tools.build import build_shared_library, compile_model

    start = time.perf_counter()
    model = load_model(model_path)
    loaded = time.perf_counter()
    build = compile_model(model, build_dir)
    compiled = time.perf_counter()
    library = build_shared_library(build)
    built = time.perf_counter()
    record = {
        "load_s": loaded - start,
        "compile_s": compiled - loaded,
        "gcc_s": built - compiled,
        # This process's peak, and the largest of gcc's processes (whose ru_maxrss starts
        # from this process's RSS at the spawn: a bound from above, hence the max).
        "python_peak_rss_kb": _vm("VmHWM"),
        "gcc_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "library_bytes": library.stat().st_size,
        "weights_bin_bytes": (build.folder / "weights.bin").stat().st_size,
        "network_c_bytes": (build.folder / "network.c").stat().st_size,
        "report": build.report,
    }
    print(json.dumps(record))
    return 0


def measure_compile(model_path: Path, work: Path) -> dict[str, Any]:
    spawner_rss = _vm("VmRSS")
    result, wall = _child(
        [sys.executable, __file__, "--compile-only", str(model_path), str(work / "compile")],
        timeout=1800,
    )
    record: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    record["subprocess_wall_s"] = wall
    # The compile's peak: the largest of the python process and the gcc processes.
    record["peak_rss_kb"] = max(record["python_peak_rss_kb"] or 0, record["gcc_maxrss_kb"])
    # RUSAGE_CHILDREN here: the largest ru_maxrss among this script's children reaped so
    # far and their descendants. A child's ru_maxrss starts from the RSS of the process
    # that spawned it, so this script stays small until here (the models are written by
    # subprocesses, nothing big is imported); its own RSS is recorded for comparison.
    record["rusage_children_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    record["spawner_rss_kb"] = spawner_rss
    return record


def measure_ir(model_path: Path, work: Path) -> dict[str, Any]:
    out = work / "model.mlir"
    cmd = [sys.executable, "-m", "xdeeploy.tools.deeploy_opt", str(model_path), "-o", str(out)]
    _, wall = _child(cmd, timeout=900)
    return {"ir_bytes": out.stat().st_size, "deeploy_opt_s": wall}


# ----------------------------------------------------------------------------- decode


class Stepper(Protocol):
    def step(self, token: int, pos: int) -> np.ndarray: ...


class HostDecoder:
    """Our C in-process, stepped as `GenericSession` steps it: each present cache is the
    past cache's buffer (when the build allows it), so a step writes one row in place."""

    def __init__(self, library: Any):
        self.library = library
        outputs = library.build.outputs
        self.in_place = all(p.may_alias for p in outputs[1:])
        self.caches = [np.zeros(p.shape, dtype=p.dtype) for p in library.build.inputs[2:]]
        self.logits = np.zeros(outputs[0].shape, dtype=outputs[0].dtype)

    def step(self, token: int, pos: int) -> np.ndarray:
        if self.in_place:
            presents = self.caches
        else:
            presents = [np.zeros(p.shape, dtype=p.dtype) for p in self.library.build.outputs[1:]]
        feeds = [np.array([token], dtype=np.int64), np.array([pos], dtype=np.int64)]
        self.library.run([*feeds, *self.caches], [self.logits, *presents])
        self.caches = presents
        return self.logits.copy()


@dataclass
class Engine:
    name: str
    session: Stepper
    warmup_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)

    def run(self, tokens: Sequence[int], positions: range, keep: bool) -> float:
        total = 0.0
        for pos in positions:
            start = time.perf_counter()
            logits = self.session.step(tokens[pos], pos)
            elapsed = time.perf_counter() - start
            total += elapsed
            if keep:
                self.latencies.append(elapsed)
                if len(self.logits) < len(positions):
                    self.logits.append(logits.reshape(-1))
        return total

    def summary(self) -> dict[str, Any]:
        median = statistics.median(self.latencies)
        return {
            "median_ms": median * 1e3,
            "mean_ms": statistics.fmean(self.latencies) * 1e3,
            "min_ms": min(self.latencies) * 1e3,
            "max_ms": max(self.latencies) * 1e3,
            "tokens_per_s": 1.0 / median,
            "samples": len(self.latencies),
            "warmup_s": self.warmup_s,
        }


def measure_decode(
    model_path: Path, work: Path, steps: int, repeats: int, seed: int
) -> dict[str, Any]:
    from xdeeploy.frontend.models.llama import read_llama_info
    from xdeeploy.frontend.onnx import load_model
    from xdeeploy.tools.generate import OnnxruntimeSession
    from xdeeploy.tools.host import build_and_load

    model = load_model(model_path)
    config = read_llama_info(model).config
    context = config.seq_len
    steps = min(steps, context)
    first = max(0, min(context // 2 - steps // 2, context - steps))
    window = range(first, first + steps)
    rng = np.random.default_rng(seed)
    tokens = [int(t) for t in rng.integers(0, config.vocab_size, size=first + steps)]
    record: dict[str, Any] = {
        "context": context,
        "warmup_positions": first,
        "window": [window.start, window.stop - 1],
        "steps": steps,
        "repeats": repeats,
        "token_seed": seed,
    }

    start = time.perf_counter()
    library = build_and_load(model, work / "build")
    record["host_build_s"] = time.perf_counter() - start
    record["report"] = {
        k: library.build.report.get(k)
        for k in ("arena_bytes", "weights_bytes", "kernel_calls", "in_place_outputs")
    }
    host = HostDecoder(library)
    record["kv_in_place"] = host.in_place
    start = time.perf_counter()
    ort = OnnxruntimeSession(model)
    record["ort_session_s"] = time.perf_counter() - start
    engines = [Engine("ours", host), Engine("onnxruntime", ort)]

    for engine in engines:  # fill the caches up to the window
        engine.warmup_s = engine.run(tokens, range(first), keep=False)
    for _ in range(repeats):  # alternate, so that background noise hits both alike
        for engine in engines:
            engine.run(tokens, window, keep=True)

    ours, ref = (e.summary() for e in engines)
    record["ours"], record["onnxruntime"] = ours, ref
    record["ratio"] = ours["tokens_per_s"] / ref["tokens_per_s"]
    got = np.stack(engines[0].logits).astype(np.float64)
    want = np.stack(engines[1].logits).astype(np.float64)
    diff = np.abs(got - want)
    scaled = diff / np.maximum(1.0, np.abs(want))
    record["logits"] = {
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(scaled.max()),
        "ok": bool(scaled.max() <= TOLERANCE),
        "argmax_agree": int(np.sum(got.argmax(-1) == want.argmax(-1))),
        "compared_steps": len(got),
    }
    return record


# ----------------------------------------------------------------------------- report


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "–"


def markdown(result: dict[str, Any]) -> str:
    m, g = result["machine"], result["git"]
    dirty = " (uncommitted changes)" if g.get("dirty") else ""
    lines = [
        f"# Llama decode on the host — {result['date']}",
        "",
        f"commit {g.get('commit') or '?'}{dirty}; {m.get('cpu')} ({m.get('cpus')} cpus, "
        f"load {' '.join(f'{x:.2f}' for x in m.get('loadavg', []))}); {m.get('gcc')}; "
        f"onnxruntime {m.get('onnxruntime')}; numpy {m.get('numpy')}; python {m.get('python')}",
        "",
        f"Decode, 1 thread, median over {result['steps']} positions around context/2 "
        f"× {result['repeats']} repeats; logits checked at 1e-4 relative.",
        "",
        "| model | window | ours ms/tok | ours tok/s | ort ms/tok | ort tok/s "
        "| ours/ort | max \\|Δlogit\\| | logits |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    errors = []
    for name, rec in result["models"].items():
        d = rec.get("decode", {})
        if "error" in d or "ours" not in d:
            lines.append(f"| {name} | error | – | – | – | – | – | – | – |")
            errors.append(f"- {name} decode: {d.get('error', 'not run')}")
            continue
        o, r, lg = d["ours"], d["onnxruntime"], d["logits"]
        verdict = "ok" if lg["ok"] else f"**MISMATCH** (rel {lg['max_rel_diff']:.2g})"
        lines.append(
            f"| {name} | {d['window'][0]}–{d['window'][1]} of {d['context']} "
            f"| {o['median_ms']:.3f} | {o['tokens_per_s']:.1f} "
            f"| {r['median_ms']:.3f} | {r['tokens_per_s']:.1f} "
            f"| **{d['ratio']:.2f}** | {lg['max_abs_diff']:.2e} | {verdict} |"
        )
    if any("compile" in rec for rec in result["models"].values()):
        lines += [
            "",
            "Compile (`compile_model` + `build_shared_library` in a subprocess; peak RSS of "
            "that process tree; IR = `deeploy-opt model.onnx`, weights not inline):",
            "",
            "| model | compile s | gcc s | peak RSS MB | IR bytes | weights bytes | arena bytes "
            "| .so bytes |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
    for name, rec in result["models"].items():
        c, ir = rec.get("compile"), rec.get("ir", {})
        if c is None:
            continue
        if "error" in c:
            errors.append(f"- {name} compile: {c['error']}")
        if "error" in ir:
            errors.append(f"- {name} IR: {ir['error']}")
        report = c.get("report", {})
        rss = c.get("peak_rss_kb")
        lines.append(
            f"| {name} | {_fmt(c.get('compile_s'), '.2f')} | {_fmt(c.get('gcc_s'), '.2f')} "
            f"| {_fmt(rss / 1024 if rss else None, '.0f')} | {_fmt(ir.get('ir_bytes'), ',')} "
            f"| {_fmt(c.get('weights_bin_bytes'), ',')} "
            f"| {_fmt(report.get('arena_bytes'), ',')} | {_fmt(c.get('library_bytes'), ',')} |"
        )
    for name, rec in result["models"].items():
        if "error" in rec.get("model", {}):
            errors.append(f"- {name} model: {rec['model']['error']}")
    if "checkpoint_error" in result:
        errors.append(f"- --from-llama2c: {result['checkpoint_error']}")
    if errors:
        lines += ["", "Errors:", "", *errors]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS, metavar="PRESET")
    p.add_argument("--steps", type=int, default=32, help="timed positions around context/2")
    p.add_argument("--repeats", type=int, default=3, help="times the window is timed")
    p.add_argument("--seed", type=int, default=0, help="seed of the token sequence")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--from-llama2c", type=Path, metavar="CKPT.bin", help="real weights")
    p.add_argument("--tokenizer", type=Path, metavar="TOK.bin", help="with --from-llama2c")
    p.add_argument("--no-compile", action="store_true", help="skip the compile measurements")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep models and builds in DIR")
    p.add_argument("--compile-only", nargs=2, metavar=("MODEL.onnx", "BUILD_DIR"), type=Path)
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        p.error("--steps and --repeats must be at least 1")
    if args.tokenizer and not args.from_llama2c:
        p.error("--tokenizer goes with --from-llama2c")
    return args


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from xdeeploy.frontend.models.llama import PRESETS

    result: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "steps": args.steps,
        "repeats": args.repeats,
        "tolerance_rel": TOLERANCE,
        "models": {},
    }
    unknown = [p for p in args.presets if p not in PRESETS]
    if unknown:
        raise SystemExit(f"error: unknown preset(s) {unknown}; expected {sorted(PRESETS)}")
    try:
        specs = model_specs(args.presets, args.from_llama2c, args.tokenizer)
    except Exception as exc:
        result["checkpoint_error"] = _error(exc)
        specs = model_specs(args.presets, None, None)

    paths: dict[str, Path] = {}
    for k, spec in enumerate(specs):
        folder = work / f"m{k}"
        folder.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = result["models"].setdefault(spec.name, {})
        path = folder / "model.onnx"
        _guard(record, "model", lambda spec=spec, path=path: write_model(spec, path))
        if "error" not in record["model"]:
            paths[spec.name] = path
    # The compiles first: RUSAGE_CHILDREN is a maximum over every child reaped so far.
    if not args.no_compile:
        for k, spec in enumerate(specs):
            if spec.name in paths:
                record, path, folder = result["models"][spec.name], paths[spec.name], work / f"m{k}"
                _guard(record, "compile", lambda p=path, f=folder: measure_compile(p, f))
                _guard(record, "ir", lambda p=path, f=folder: measure_ir(p, f))
    result["machine"] = machine_info()
    result["git"] = git_info()
    for k, spec in enumerate(specs):
        if spec.name in paths:
            record, path = result["models"][spec.name], paths[spec.name]
            folder = work / f"m{k}"
            _guard(
                record,
                "decode",
                lambda p=path, f=folder: measure_decode(p, f, args.steps, args.repeats, args.seed),
            )
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compile_only:
        return compile_only(*args.compile_only)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = args.keep.resolve()
    else:
        work = Path(tempfile.mkdtemp(prefix="xdeeploy-bench-"))
    # A fresh weights store: the compile is measured cold, ~/.cache is left alone.
    os.environ["XDEEPLOY_WEIGHTS_DIR"] = str(work / "weights")
    try:
        result = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "llama_host.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    table = markdown(result)
    (args.out / "llama_host.md").write_text(table)
    print(table)
    print(f"wrote {args.out / 'llama_host.json'} and {args.out / 'llama_host.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
