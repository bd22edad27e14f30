"""The `deeploy` driver (DESIGN.md §6).

    deeploy reference MODEL.onnx --inputs in.npz -o out.npz [--engine interp|onnxruntime]
    deeploy run CASE... --platform interp|onnxruntime|... [--input-type NAME=TYPE[,OFFSET]]

User problems (DeeployError) print as one `error: ...` line on stderr and exit 1.
Run as `python -m xdeeploy.tools.deeploy`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from xdeeploy.errors import DeeployError
from xdeeploy.frontend.onnx import load_model
from xdeeploy.passes import dnn_map_engines
from xdeeploy.platforms import Platform, load_platform, platform_names
from xdeeploy.tools.cases import (
    Case,
    ExpectedOutput,
    InputType,
    bind_inputs,
    bind_outputs,
    compare_output,
    discover_cases,
    input_types,
    load_npz,
    parse_input_type,
    runtime_inputs,
    write_npz_atomic,
)
from xdeeploy.tools.diagnostics import one_line
from xdeeploy.tools.engines import (
    ENGINES,
    PLATFORM_ENGINES,
    Engine,
    EngineCannotRun,
    RunOptions,
    engine_for_platform,
    get_engine,
)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


# ----------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Outcome:
    status: str  # PASS, FAIL or SKIP
    line: str  # the report line, without trailing newline


def _run_one(
    case: Case, engine: Engine, options: RunOptions, overrides: dict[str, InputType]
) -> Outcome:
    """Run one case; DeeployError and other exceptions are left to the caller."""
    model = load_model(case.model_path)
    if case.inputs_path is None and runtime_inputs(model):
        raise DeeployError(
            f"{case.model_path}: input {runtime_inputs(model)[0].name!r} needs data; "
            "pass --inputs in.npz"
        )
    arrays = load_npz(case.inputs_path) if case.inputs_path else []
    bound = bind_inputs(model, arrays, overrides)
    expected = bind_outputs(model, load_npz(case.expect_path)) if case.expect_path else None
    reason = engine.can_run(model)
    if reason is not None:
        return Outcome(SKIP, f"SKIP {case.name}: {reason}")
    case_options = replace(options, input_types=input_types(bound))
    try:
        produced = engine.run(model, case.model_path, [b.data for b in bound], case_options)
    except EngineCannotRun as exc:
        return Outcome(SKIP, f"SKIP {case.name}: {one_line(str(exc))}")
    if len(produced) != len(model.graph.output):
        # The engine broke its contract: a bug, not a user problem.
        raise RuntimeError(
            f"engine {engine.name} returned {len(produced)} output(s) for "
            f"{len(model.graph.output)} graph output(s)"
        )
    return _judge(case, engine, expected, produced)


def _judge(
    case: Case, engine: Engine, expected: list[ExpectedOutput] | None, produced: list[np.ndarray]
) -> Outcome:
    # Engines that compile say what the case ran on (e.g. the kernels called).
    used = getattr(engine, "used", "")
    tag = f"{case.name} [{engine.name}{': ' + used if used else ''}]"
    if expected is None:
        return Outcome(PASS, f"PASS {tag} (ran; no --expect to compare against)")
    results = [compare_output(e, np.asarray(p)) for e, p in zip(expected, produced, strict=True)]
    errors = [r.error for r in results if r.error is not None]
    if errors:
        more = f" (and {len(errors) - 1} more output(s) differ)" if len(errors) > 1 else ""
        return Outcome(FAIL, f"FAIL {case.name}: {errors[0]}{more}")
    float_diffs = [r.max_abs_diff for e, r in zip(expected, results, strict=True) if not e.exact]
    detail = f"max abs diff {max(float_diffs):.3g}" if float_diffs else "exact"
    return Outcome(PASS, f"PASS {tag} ({detail})")


def _run_case(
    case: Case,
    engine: Engine,
    options: RunOptions,
    overrides: dict[str, InputType],
    show_traceback: bool,
) -> Outcome:
    """Run one case, turning every failure into a FAIL line so the others still run."""
    try:
        return _run_one(case, engine, options, overrides)
    except DeeployError as exc:
        return Outcome(FAIL, f"FAIL {case.name}: {one_line(str(exc))}")
    except Exception as exc:  # a bug in xdeeploy: report it, keep going
        if show_traceback:
            traceback.print_exc(file=sys.stderr)
        message = one_line(str(exc)) or "no details"
        return Outcome(FAIL, f"FAIL {case.name}: internal error: {type(exc).__name__}: {message}")


def cmd_run(args: argparse.Namespace) -> int:
    engine = engine_for_platform(args.platform)
    options = _run_options(args)
    overrides = _parse_overrides(args.input_type)
    cases = discover_cases(
        args.cases,
        Path(args.inputs) if args.inputs else None,
        Path(args.expect) if args.expect else None,
    )
    counts = {PASS: 0, FAIL: 0, SKIP: 0}
    for case in cases:
        outcome = _run_case(case, engine, options, overrides, args.traceback)
        counts[outcome.status] += 1
        print(outcome.line, flush=True)
    print(f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped", flush=True)
    return 1 if counts[FAIL] else 0


# ----------------------------------------------------------------------------- reference


def cmd_reference(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    model = load_model(model_path)
    overrides = _parse_overrides(args.input_type)
    arrays = load_npz(Path(args.inputs)) if args.inputs else []
    bound = bind_inputs(model, arrays, overrides)
    engine = get_engine(args.engine)
    reason = engine.can_run(model)
    if reason is not None:
        others = ", ".join(sorted(name for name in ENGINES if name != engine.name))
        raise DeeployError(f"{model_path}: {reason}; try --engine {others}")
    options = RunOptions(input_types=input_types(bound), platform=engine.name)
    produced = engine.run(model, model_path, [b.data for b in bound], options)
    names = [o.name for o in model.graph.output]
    if len(produced) != len(names):
        raise RuntimeError(
            f"engine {engine.name} returned {len(produced)} outputs for {len(names)}"
        )
    write_npz_atomic(Path(args.output), list(zip(names, produced, strict=True)))
    print(f"wrote {args.output}: {len(names)} output(s) from {engine.name}")
    return 0


# ----------------------------------------------------------------------------- parser


def _parse_overrides(specs: Sequence[str] | None) -> dict[str, InputType]:
    return dict(parse_input_type(spec) for spec in specs or [])


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-type",
        action="append",
        metavar="NAME=TYPE[,OFFSET]",
        help="C type of an input (int8 ... uint32, int64, float32) and an offset added to "
        "its data in the C harness; default: inferred from the data like Deeploy",
    )


def _add_compile_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `compile` and `run` (DESIGN §6)."""
    _add_input_options(parser)
    parser.add_argument(
        "--l1", type=int, metavar="BYTES", help="L1 scratchpad budget (default: the platform's)"
    )
    parser.add_argument(
        "--l2", type=int, metavar="BYTES", help="L2 budget (default: the platform's)"
    )
    parser.add_argument(
        "--cores", type=int, metavar="N", help="cluster cores (default: the platform's)"
    )
    _add_kernels_option(parser)
    _add_engines_option(
        parser,
        "npu: the convolutions and matrix products the NPU can compute run as NPU jobs "
        "(its bit-exact functional model; compiled platforms); auto: those the platform's "
        "cost model puts faster there (siracusa)",
    )


def _add_engines_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--engines", choices=dnn_map_engines.ENGINES, default="cluster", help=help_text
    )


def _add_kernels_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kernels",
        choices=["c", "asm"],
        default="c",
        help="asm: the hot integer kernels (matmul, gemm, add, requant) as our RISC-V "
        "assembly instead of the C runtime's (--platform rv32-virt)",
    )


def _check_auto(args: argparse.Namespace, platform: Platform | None) -> None:
    if args.engines == "auto" and (platform is None or "cost" not in platform.extra):
        raise DeeployError(
            f"--engines auto needs a cost model: platform {args.platform!r} has none "
            "(use --platform siracusa, or --engines npu)"
        )


def _check_kernels(args: argparse.Namespace) -> None:
    if args.kernels == "asm" and args.platform != "rv32-virt":
        raise DeeployError(
            f"--kernels asm makes RISC-V assembly: use --platform rv32-virt, not {args.platform}"
        )


def _platform(args: argparse.Namespace) -> Platform | None:
    """The compiled platform's description with the command-line overrides; None for
    the reference engines (interp, onnxruntime), which have no memory hierarchy."""
    if args.platform not in platform_names():
        return None
    return load_platform(args.platform).with_overrides(args.l1, args.l2, args.cores)


def _run_options(args: argparse.Namespace) -> RunOptions:
    _check_kernels(args)
    platform = _platform(args)
    if platform is None:
        if args.engines != "cluster":
            raise DeeployError(
                f"--engines {args.engines} maps ops for a compiled platform: use "
                f"--platform generic, rv32-virt or siracusa, not {args.platform}"
            )
        return RunOptions(platform=args.platform)
    _check_auto(args, platform)
    return RunOptions(platform=args.platform, l1=platform.l1, l2=platform.l2, cores=platform.cores,
                      kernels=args.kernels, engines=args.engines)  # fmt: skip


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run test cases and compare with the expected outputs",
        description="Run cases: folders with network.onnx, inputs.npz, outputs.npz "
        "(Deeploy's layout), folders with such folders below them, or MODEL.onnx with "
        "--inputs [--expect]. Prints one line per case, then 'N passed, M failed, K skipped'.",
    )
    p.add_argument("cases", nargs="+", metavar="CASE")
    p.add_argument(
        "--platform",
        required=True,
        choices=list(PLATFORM_ENGINES),
        help="where to run: interp (our interpreter), onnxruntime (the reference), or a C platform",
    )
    p.add_argument("--inputs", metavar="IN.npz", help="inputs for MODEL.onnx cases")
    p.add_argument("--expect", metavar="OUT.npz", help="expected outputs for MODEL.onnx cases")
    p.add_argument("--traceback", action="store_true", help="print tracebacks of internal errors")
    _add_compile_options(p)
    p.set_defaults(func=cmd_run)


def _add_reference(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reference",
        help="compute a model's outputs with a reference engine",
        description="Run MODEL.onnx on the arrays of IN.npz and write its outputs to OUT.npz "
        "(keys = graph output names, in graph order).",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--inputs", metavar="IN.npz", help="input arrays, bound in file order")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    p.add_argument("--engine", default="onnxruntime", choices=sorted(ENGINES))
    _add_input_options(p)
    p.set_defaults(func=cmd_reference)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="import and interpret the built-in transformer block; check it against numpy",
    )
    p.add_argument("-o", "--output", type=Path, help="also write the model and its dnn IR here")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the built-in model: import, interpret, compile to C, run on the
    host; both results are checked against an independent numpy computation."""
    from xdeeploy.frontend.models.demo import demo_block, demo_inputs, numpy_reference
    from xdeeploy.frontend.onnx import import_model
    from xdeeploy.interp.run import run_module
    from xdeeploy.tools.host import build_and_load

    model = demo_block()
    module = import_model(model)
    inputs = demo_inputs()
    want = numpy_reference(model, inputs[0])
    ops = sum(1 for op in module.walk() if op.name.startswith("dnn."))
    print(f"demo: transformer block: {len(model.graph.node)} ONNX nodes -> {ops} dnn ops")
    with tempfile.TemporaryDirectory(prefix="xdeeploy-demo-") as tmp:
        folder = (args.output or Path(tmp)) / "build"
        library = build_and_load(model, folder)
        arena = library.build.report["arena_bytes"]
        print(f"demo: C in {folder if args.output else 'a temporary folder'} ({arena} B arena)")
        results = {
            "interpreter": run_module(module, inputs)[0],
            "host C": library.run(inputs)[0],
        }
    if args.output is not None:
        onnx.save(model, args.output / "demo.onnx")
        (args.output / "demo.mlir").write_text(str(module) + "\n")
    passed = 0
    for what, got in results.items():
        diff = np.abs(got.astype(np.float64) - want)
        ok = bool(np.all(diff <= 1e-4 * np.maximum(1.0, np.abs(want))))
        passed += ok
        print(
            f"demo: {'PASS' if ok else 'FAIL'} {what} vs numpy float64: max abs diff {diff.max():.2e}"
        )
    print(f"demo: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


def _add_generate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("generate", help="prompt, then greedy decoding with the KV cache")
    p.add_argument("model", type=Path, help="a decode-mode model from `deeploy model llama`")
    p.add_argument(
        "--platform",
        choices=["generic", "rv32-virt", "siracusa", "interp", "onnxruntime"],
        default="generic",
    )
    p.add_argument("--steps", type=int, default=16, help="tokens to generate")
    p.add_argument("--prompt", help="text to start from (models with a tokenizer)")
    p.add_argument(
        "--check", action="store_true", help="compare logits with the reference at every step"
    )
    p.add_argument("--cores", type=int, metavar="N", help="rv32-virt: harts to run on (default: 8)")
    _add_kernels_option(p)
    _add_engines_option(
        p,
        "siracusa: npu runs the matrix products the NPU can compute as its jobs; auto those "
        "its cost model puts faster there",
    )
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args: argparse.Namespace) -> int:
    from xdeeploy.tools.generate import generate

    if args.steps < 1:
        raise DeeployError("--steps must be at least 1")
    if args.cores is not None and args.platform != "rv32-virt":
        raise DeeployError(f"--cores is for --platform rv32-virt, not {args.platform}")
    _check_kernels(args)
    if args.engines != "cluster" and args.platform != "siracusa":
        raise DeeployError(f"--engines is for --platform siracusa, not {args.platform}")
    model = load_model(args.model)
    return generate(model, args.platform, args.steps, args.prompt, args.check, cores=args.cores,
                    kernels=args.kernels, engines=args.engines)  # fmt: skip


def _add_compile(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compile", help="compile an ONNX model to C in a build folder")
    p.add_argument("model", type=Path, help="MODEL.onnx")
    p.add_argument("--platform", choices=["generic", "rv32-virt", "siracusa"], default="generic")
    p.add_argument("--report", action="store_true", help="print the memory report")
    p.add_argument("-o", "--output", type=Path, required=True, help="BUILD_DIR")
    p.add_argument(
        "--inputs",
        metavar="IN.npz",
        help="example inputs: integer data types the graph in integers",
    )
    p.add_argument(
        "--arenas", action="store_true", help="also draw the arenas (time x address) to arenas.svg"
    )
    _add_compile_options(p)
    p.set_defaults(func=_cmd_compile)


def _cmd_compile(args: argparse.Namespace) -> int:
    from xdeeploy.platforms.cost_model import CostModel
    from xdeeploy.tools.build import compile_model
    from xdeeploy.tools.progress import stage_reporter

    _check_kernels(args)
    platform = _platform(args)
    _check_auto(args, platform)
    l1, l2, cores = (platform.l1, platform.l2, platform.cores) if platform else (0, 0, 1)
    model = load_model(args.model)
    types = _parse_overrides(args.input_type)
    if args.inputs:
        types = input_types(bind_inputs(model, load_npz(Path(args.inputs)), types))
    build = compile_model(
        model,
        args.output,
        stage_reporter(),
        l1=l1,
        l2=l2,
        input_types=types,
        arena_picture=args.arenas,
        cores=cores,
        kernels=args.kernels,
        cost=CostModel.of(platform) if platform and "cost" in platform.extra else None,
        engines=args.engines,
        platform=args.platform,
    )
    report = build.report
    print(f"compiled {args.model} for {args.platform} into {build.folder}")
    if args.report:
        from xdeeploy.tools.tiling_report import tiling_text

        print(
            f"  L2 arena: {report['arena_bytes']} B (lower bound "
            f"{report['arena_lower_bound_bytes']} B)"
        )
        print(f"  weights: {report['weights_bytes']} B, {report['kernel_calls']} kernel calls")
        npu = report.get("npu_memory")
        if isinstance(npu, dict):
            print(
                f"  NPU memory: {npu['resident_weights_bytes']} B of resident weights, "
                f"{npu['arena_bytes']} B arena for weights loaded at run time"
            )
        section = report.get("tiling")
        if isinstance(section, dict):
            for line in tiling_text(section, build.tiling_records):
                print(line)
        if build.cost is not None:
            for line in build.cost.lines():
                print(line)
        print(f"  full report: {build.folder / 'report.json'}")
    return 0


def _add_model(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from xdeeploy.frontend.models.llama import DEFAULT_PROMPT_LEN, MODES, PRESETS, QUANT_SCHEMES

    p = sub.add_parser(
        "model",
        help="write a built-in model (a Llama-style decoder) as ONNX",
        description="Write a Llama-style decoder with seeded random weights or a llama2.c "
        "checkpoint and tokenizer; the KV cache is graph I/O.",
    )
    p.add_argument("family", choices=["llama"], help="the model family")
    p.add_argument("--preset", choices=sorted(PRESETS), help="shape (and random weights)")
    p.add_argument("--mode", choices=MODES, default="decode", help="decode: 1 token per call")
    p.add_argument(
        "--prompt-len",
        type=int,
        metavar="N",
        help=f"tokens per call in prompt mode (default {DEFAULT_PROMPT_LEN})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs")
    p.add_argument("--from-llama2c", type=Path, metavar="CKPT.bin", help="legacy checkpoint")
    p.add_argument("--tokenizer", type=Path, metavar="TOK.bin", help="llama2.c tokenizer")
    p.add_argument(
        "--quant",
        choices=QUANT_SCHEMES,
        help="quantize the MatMul weights and inputs with onnxruntime (QDQ, seeded calibration)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.onnx")
    p.add_argument("--inputs", type=Path, metavar="IN.npz", help="also write seeded inputs")
    p.set_defaults(func=_cmd_model)


def _cmd_model(args: argparse.Namespace) -> int:
    from xdeeploy.frontend.models.llama import write_llama

    print(
        write_llama(
            args.output,
            preset=args.preset,
            mode=args.mode,
            prompt_len=args.prompt_len,
            seed=args.seed,
            checkpoint=args.from_llama2c,
            tokenizer=args.tokenizer,
            inputs=args.inputs,
            quant=args.quant,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deeploy", description="xdeeploy: ONNX to C for DNNs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_reference(sub)
    _add_run(sub)
    _add_demo(sub)
    _add_compile(sub)
    _add_generate(sub)
    _add_model(sub)
    # Reserved for later (DESIGN §6), each with its own _add_<name>(sub):
    #   compile  MODEL.onnx --platform P [compile options] -o BUILD_DIR
    #   generate MODEL.onnx --platform P --steps N [--prompt TEXT] [--check]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`deeploy run … | head`): stop quietly, as Unix tools do;
        # stdout is pointed at /dev/null so the interpreter's final flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except DeeployError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
