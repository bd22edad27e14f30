"""`deeploy compile`: ONNX → a self-contained build folder, and host builds of it.

BUILD_DIR holds `network.c` (the `c` target's output), `network.h` (the API),
`weights.bin` + `weights.S` (the weights blob, linked with `.incbin` so that a 60 MB
model never passes through the C compiler), `runtime/` (the kernels), a `Makefile`
and `report.json`. Everything is written to a temporary folder first and moved into
place at the end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
from xdsl.backend.register_stack import OutOfRegisters
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp
from xdsl.dialects.riscv.abstract_ops import riscv_code

from xdeeploy import weights
from xdeeploy.dialects import dnn, kernel
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.lowering.convert_dnn_to_kernel import ALIAS_ATTR, OUTPUT_ATTR, arg_name
from xdeeploy.lowering.emit_c import CEmitter, Names, prototype, weights_symbol
from xdeeploy.lowering.generic_pipeline import lower_for_host
from xdeeploy.lowering.kernel_to_asm import ConvertKernelToAsm, asm_kernels, replaced
from xdeeploy.lowering.riscv_pipeline import LowerToRiscv
from xdeeploy.passes.dnn_tile import TileRecord
from xdeeploy.passes.plan_memory import NPU, NPU_ARENA_ATTR, arena_of, buffer_bytes
from xdeeploy.platforms.cost_model import CostModel, CostReport
from xdeeploy.tools.arena_picture import write_svg
from xdeeploy.tools.cases import InputType
from xdeeploy.tools.progress import Stage, quiet
from xdeeploy.tools.tiling_report import tiling_section
from xdeeploy.tools.typed_import import import_typed
from xdeeploy.universe import full_context

PREFIX = "xd"
ENTRY = "main"
CFLAGS = ["-std=c99", "-O3", "-Wall", "-Wextra", "-Werror"]
WEIGHT_ALIGN = 16


@dataclass(frozen=True)
class Port:
    """One argument of the generated entry function."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    is_output: bool
    may_alias: str | None = None  # outputs: the input whose buffer may be passed again


@dataclass(frozen=True)
class Build:
    folder: Path
    inputs: list[Port]
    outputs: list[Port]
    report: dict[str, object]
    tiling_records: list[TileRecord] = field(default_factory=list)
    """The tiling decisions with their solver times (not in report.json: not deterministic)."""
    cost: CostReport | None = None
    """The platform's cost model of the network (report.json `cost_model` too)."""

    def kernel_names(self) -> str:
        """The kernels the network calls, for one-line reports: the NPU's jobs, the
        runtime's C kernels, and (`--kernels asm`) those whose calls run our assembly."""
        kernels, asm = self.report.get("kernels", []), self.report.get("asm_kernels", [])
        assert isinstance(kernels, list) and isinstance(asm, list)
        npu = [str(k).removeprefix("xd_npu_") for k in kernels if str(k).startswith("xd_npu_")]
        kernels = [k for k in kernels if not str(k).startswith("xd_npu_")]
        text = " ".join(str(k).removeprefix("xd_") for k in kernels)
        if npu:
            text = f"npu: {' '.join(npu)}" + (f"; {text}" if text else "")
        if asm:
            names = " ".join(str(k).removeprefix("xd_") for k in asm)
            text = f"asm: {names}; c: {text or '-'}"
        return text


def lower(
    model: onnx.ModelProto,
    l1: int = 0,
    input_types: Mapping[str, InputType] | None = None,
    l2: int = 0,
    cores: int = 1,
    kernels: str = "c",
    engines: str = "cluster",
    platform: str = "",
) -> tuple[ModuleOp, list[TileRecord]]:
    """`kernels` "asm": the hot integer kernels as our RISC-V assembly (rv32 only);
    `engines` "npu": what the NPU can compute as its jobs (`dnn-map-engines`)."""
    module = import_typed(model, input_types or {})
    records = lower_for_host(Context(), module, l1, l2, cores, engines, platform)
    if kernels == "asm":
        ConvertKernelToAsm().apply(Context(), module)
    return module, records


def entry(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == ENTRY:
            return op
    raise DeeployError(f"the module has no @{ENTRY} function")


def ports(fn: func.FuncOp) -> list[Port]:
    out = []
    for k, arg in enumerate(fn.args):
        ty = arg.type
        assert isinstance(ty, MemRefType)
        attrs = fn.arg_attrs.data[k].data if fn.arg_attrs else {}
        name = arg_name(fn, k) or f"arg{k}"
        alias = attrs.get(ALIAS_ATTR)
        alias_name = arg_name(fn, alias.value.data) if isinstance(alias, IntegerAttr) else None
        out.append(
            Port(
                name, ty.get_shape(), numpy_dtype(ty.element_type), OUTPUT_ATTR in attrs, alias_name
            )
        )
    return out


def _weights_files(module: ModuleOp, folder: Path) -> int:
    """Writes weights.bin and weights.S; returns the blob size."""
    found = {w.value.digest.data for w in module.walk() if isinstance(w, kernel.WeightsOp)}
    asm = ["/* Generated by xdeeploy: the weights, from weights.bin. */", "    .section .rodata"]
    offset = 0
    with open(folder / "weights.bin", "wb") as blob:
        for digest in sorted(found):
            data = np.ascontiguousarray(weights.load(digest)).tobytes()
            pad = (-offset) % WEIGHT_ALIGN
            blob.write(b"\0" * pad)
            offset += pad
            symbol = weights_symbol(digest)
            asm += [
                f"    .balign {WEIGHT_ALIGN}",
                f"    .global {symbol}",
                f"    .type {symbol}, %object",
                f"    .size {symbol}, {len(data)}",
                f"{symbol}:",
                f'    .incbin "weights.bin", {offset}, {len(data)}',
            ]
            blob.write(data)
            offset += len(data)
    asm.append('    .section .note.GNU-stack,"",%progbits')
    (folder / "weights.S").write_text("\n".join(asm) + "\n")
    return offset


def _header(fn: func.FuncOp, inputs: list[Port], outputs: list[Port]) -> str:
    names = Names()
    signature = prototype(fn, PREFIX, names)
    # The parameters in the prototype's spelling (a model's name may not be a C one).
    c_name = {p.name: names.names[arg] for p, arg in zip(ports(fn), fn.args, strict=True)}

    def describe(p: Port) -> str:
        name = c_name[p.name] + (f" (model: {p.name})" if c_name[p.name] != p.name else "")
        text = f" *   {name}: {C_NAMES.get(p.dtype.name, p.dtype.name)}[{']['.join(map(str, p.shape))}]"
        if p.may_alias:
            text += (f" (may be the buffer of {c_name[p.may_alias]}: updated in place, nothing "
                     "copied)")  # fmt: skip
        return text

    lines = [
        "/* Generated by xdeeploy: do not edit.",
        " *",
        f" * {signature} runs the network once. Buffers are dense, row-major;",
        " * inputs are read only, outputs are written completely. Scratch memory is one",
        " * static arena inside network.c: the function is not reentrant.",
        " *",
        " * Inputs:",
        *[describe(p) for p in inputs],
        " * Outputs:",
        *[describe(p) for p in outputs],
        " */",
        "#ifndef XD_NETWORK_H",
        "#define XD_NETWORK_H",
        "#include <stdint.h>",
        f"{signature};",
        "#endif",
    ]
    return "\n".join(lines) + "\n"


C_NAMES = {"float32": "float", "bool": "uint8_t"} | {
    t: f"{t}_t" for t in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
}

MAKEFILE = """# Generated by xdeeploy: builds the network as a static and a shared library.
CC ?= gcc
CFLAGS ?= {cflags}
SRC = network.c weights.S $(wildcard runtime/src/*.c)
OBJ = $(patsubst %.c,%.o,$(patsubst %.S,%.o,$(SRC)))

all: libnetwork.a libnetwork.so

%.o: %.c
\t$(CC) $(CFLAGS) -fPIC -Iruntime/include -c $< -o $@
%.o: %.S
\t$(CC) -fPIC -c $< -o $@
libnetwork.a: $(OBJ)
\t$(AR) rcs $@ $^
libnetwork.so: $(OBJ)
\t$(CC) -shared -pthread -o $@ $^ -lm
clean:
\trm -f $(OBJ) libnetwork.a libnetwork.so
.PHONY: all clean
"""


def compile_model(
    model: onnx.ModelProto,
    build_dir: Path,
    stage: Stage = quiet,
    l1: int = 0,
    input_types: Mapping[str, InputType] | None = None,
    l2: int = 0,
    arena_picture: bool = False,
    cores: int = 1,
    kernels: str = "c",
    cost: CostModel | None = None,
    engines: str = "cluster",
    platform: str = "",
) -> Build:
    """Compiles `model` into BUILD_DIR; with `l1` > 0, tiled for an L1 of that many bytes;
    integer `input_types` type the graph in integers (as Deeploy does); `arena_picture`
    adds arenas.svg (time x address of every planned buffer); `cores` > 1 splits the
    kernel calls across that many cluster cores; `kernels` "asm" adds kernels.S, our
    RISC-V assembly for the hot integer kernels, which the calls then use; `cost`, a
    platform's cost model, adds its modeled cycles, latency and energy."""
    with stage("importing and lowering the model"):
        module, records = lower(model, l1, input_types, l2, cores, kernels, engines, platform)
    estimate = cost.estimate(module) if cost is not None else None
    return compile_module(module, build_dir, stage, records, l1, arena_picture, estimate)


def compile_module(
    module: ModuleOp,
    build_dir: Path,
    stage: Stage = quiet,
    tiling: Sequence[TileRecord] = (),
    l1: int = 0,
    arena_picture: bool = False,
    cost: CostReport | None = None,
) -> Build:
    """A build folder from a lowered module (after `generic-pipeline`, or at least
    `convert-dnn-to-kernel` and `plan-memory`)."""
    fn = entry(module)
    all_ports = ports(fn)
    inputs = [p for p in all_ports if not p.is_output]
    outputs = [p for p in all_ports if p.is_output]
    build_dir = build_dir.resolve()
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{build_dir.name}-", dir=build_dir.parent))
    try:
        with stage("emitting C"):
            text = io.StringIO()
            emitter = CEmitter(text, PREFIX)
            emitter.emit_module(module)
            (staging / "network.c").write_text(text.getvalue())
            (staging / "network.h").write_text(_header(fn, inputs, outputs))
        if asm_kernels(module):
            with stage("lowering the asm kernels to RISC-V"):
                (staging / "kernels.S").write_text(kernels_assembly(module))
        with stage("writing the weights"):
            blob = _weights_files(module, staging)
        runtime = resources.files("xdeeploy") / "runtime_c"
        with resources.as_file(runtime) as src:
            shutil.copytree(src, staging / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
        (staging / "Makefile").write_text(MAKEFILE.format(cflags=" ".join(CFLAGS)))
        report = _report(fn, blob)
        if asm_kernels(module):
            report["asm_kernels"] = replaced(module)
        report["layers"] = emitter.layers
        report["layer_calls"] = emitter.layer_calls
        report["in_place_outputs"] = {p.name: p.may_alias for p in outputs if p.may_alias}
        if l1:
            report["tiling"] = tiling_section(tiling, fn, l1)
        if cost is not None:
            report["cost_model"] = cost.as_dict()
        if arena_picture:
            write_svg(fn, staging / "arenas.svg")
        (staging / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        if build_dir.exists():
            shutil.rmtree(build_dir)
        staging.rename(build_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Build(build_dir, inputs, outputs, report, list(tiling), cost)


def kernels_assembly(module: ModuleOp) -> str:
    """The asm kernels of `module` through `lower-to-riscv`, printed by `-t riscv-asm`
    (in one module: the control-flow lowering numbers the labels per module)."""
    kernels = ModuleOp([fn.clone() for fn in asm_kernels(module)])
    try:
        LowerToRiscv(allocate=True).apply(full_context(), kernels)
    except OutOfRegisters:
        raise _out_of_registers(module) from None
    return riscv_code(kernels)


def _out_of_registers(module: ModuleOp) -> DeeployError:
    """The error naming the first kernel (and a node calling it) that does not fit."""
    for fn in asm_kernels(module):
        try:
            LowerToRiscv(allocate=True).apply(full_context(), ModuleOp([fn.clone()]))
        except OutOfRegisters:
            name = fn.sym_name.data
            nodes = sorted({dnn.node_name(c) for c in module.walk()
                            if isinstance(c, kernel.AsmCallOp) and c.callee.string_value() == name})  # fmt: skip
            return DeeployError(
                f"node '{nodes[0] if nodes else '?'}': asm kernel {name} needs more registers "
                "than RV32 has (the allocator does not spill): use --kernels c"
            )
    return DeeployError("the asm kernels need more registers than RV32 has: use --kernels c")


def _report(fn: func.FuncOp, weights_bytes: int) -> dict[str, object]:
    size, bound = arena_of(fn)
    calls = [op for op in fn.walk() if isinstance(op, kernel.CallOp)]
    kernels = sorted({c.kernel for c in calls})
    report: dict[str, object] = {
        "arena_bytes": size,
        "arena_lower_bound_bytes": bound,
        "weights_bytes": weights_bytes,
        "kernel_calls": len(calls),
        "kernels": kernels,
    }
    resident = [t for op in fn.walk() if isinstance(op, kernel.WeightsOp)
                and isinstance(t := op.result.type, MemRefType) and t.memory_space == NPU]  # fmt: skip
    if resident or NPU_ARENA_ATTR in fn.attributes:
        report["npu_memory"] = {
            "resident_weights_bytes": sum(buffer_bytes(t) for t in resident),
            "arena_bytes": arena_of(fn, NPU_ARENA_ATTR)[0],
        }
    return report


def _cache_root() -> Path:
    if env := os.environ.get("XDEEPLOY_CACHE_DIR"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xdeeploy"


def _gcc(cmd: list[str], folder: Path) -> None:
    try:
        result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise DeeployError(f"{cmd[0]} not found: run scripts/setup.sh (it installs it)") from None
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        first = (errors or result.stderr.strip().splitlines() or ["unknown error"])[0]
        raise DeeployError(f"C compilation failed in {folder}: {first.strip()}")


def runtime_objects(
    runtime: Path, flags: list[str], cc: str = "gcc", pic: bool = True
) -> list[Path]:
    """The kernels of `runtime/`, compiled once per content, compiler and flags and kept
    in the cache: every build of every network links the same objects."""
    flags = [*flags, "-fPIC"] if pic else list(flags)
    digest = hashlib.sha256(" ".join([cc, *flags]).encode())
    files = sorted(p for p in runtime.rglob("*") if p.is_file() and p.suffix in (".c", ".h"))
    for f in files:
        digest.update(str(f.relative_to(runtime)).encode() + b"\0" + f.read_bytes())
    target = _cache_root() / "runtime" / digest.hexdigest()[:20]
    sources = sorted(runtime.glob("src/*.c"))
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".runtime-", dir=target.parent))
        try:
            for src in sources:
                obj = staging / (src.stem + ".o")
                _gcc(
                    [
                        cc,
                        *flags,
                        f"-I{runtime / 'include'}",
                        "-c",
                        str(src),
                        "-o",
                        str(obj),
                    ],
                    staging,
                )
            os.rename(staging, target)  # atomic; a concurrent build may have won the race
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return [target / (src.stem + ".o") for src in sources]


def build_shared_library(
    build: Build, extra_flags: list[str] | None = None, stage: Stage = quiet
) -> Path:
    """Compiles BUILD_DIR into libnetwork.so with the host gcc (warnings are errors)."""
    folder = build.folder
    lib = folder / "libnetwork.so"
    flags = [*CFLAGS, *(extra_flags or [])]
    with stage("compiling C with gcc"):
        objects = runtime_objects(folder / "runtime", flags)
        _gcc(
            ["gcc", *flags, "-fPIC", "-shared", "-pthread", "-Iruntime/include", "network.c",
             "weights.S", *map(str, objects), "-o", lib.name, "-lm"],
            folder,
        )  # fmt: skip
    return lib
