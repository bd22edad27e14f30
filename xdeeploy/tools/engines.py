"""Engines that execute an ONNX model on bound inputs: the back ends of `deeploy run`.

An engine is anything with a `name`, `can_run` and `run` (see `Engine`).  `ENGINES`
maps engine names to factories; engines living in modules that may be absent (or
expensive to import) are registered by import path with `lazy_engine`, so that a
missing module is a one-line error only for whoever asks for that engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import onnx

from xdeeploy.errors import DeeployError
from xdeeploy.tools.cases import InputType
from xdeeploy.tools.diagnostics import one_line


@dataclass(frozen=True)
class RunOptions:
    """What an engine may need besides the model and the input data.

    `input_types` holds the C type (and offset) of every runtime input, inferred from
    the data as Deeploy does or given with --input-type; the arrays passed to `run`
    keep the graph's declared ONNX element types.
    """

    input_types: dict[str, InputType] = field(default_factory=dict)
    platform: str = ""
    l1: int = 0
    """Bytes of L1 the compiled platforms tile for (0: untiled)."""
    l2: int = 0
    """Bytes of L2 for activations and weights (weights beyond it go to L3; 0: no limit)."""
    cores: int = 1
    """Cluster cores the kernel calls are split across."""
    kernels: str = "c"
    """"asm": the hot integer kernels as our RISC-V assembly (rv32-virt)."""
    engines: str = "cluster"
    """"npu": what the NPU can compute runs as its jobs (its functional model); "auto":
    where the platform's cost model puts it faster."""


class EngineCannotRun(DeeployError):
    """Raised by `Engine.run` when it finds out late that it cannot run the model by
    construction (e.g. a kernel missing for a type); the case is skipped, not failed."""


@runtime_checkable
class Engine(Protocol):
    name: str

    def can_run(self, model: onnx.ModelProto) -> str | None:
        """A reason this engine cannot run `model` by construction, or None."""
        ...

    def run(
        self,
        model: onnx.ModelProto,
        model_path: Path,
        inputs: list[np.ndarray],
        options: RunOptions,
    ) -> list[np.ndarray]:
        """Outputs in graph-output order for `inputs` in runtime-input order."""
        ...


# ----------------------------------------------------------------------------- compiled


class CompilingEngine:
    """An engine that compiles each case into a temporary build folder (tiled, split
    and with the kernels `options` ask for) and runs the build: subclasses say how
    (`execute`) and what the case line says it ran on (`used`)."""

    name = ""
    used = ""
    """The kernels the last case called (and where), for its report line."""

    def can_run(self, model: onnx.ModelProto) -> str | None:
        return None

    def run(
        self,
        model: onnx.ModelProto,
        model_path: Path,
        inputs: list[np.ndarray],
        options: RunOptions,
    ) -> list[np.ndarray]:
        import tempfile

        from xdeeploy.tools.build import compile_model
        from xdeeploy.tools.progress import stage_reporter

        stage = stage_reporter()
        with tempfile.TemporaryDirectory(prefix=f"xdeeploy-{self.name}-") as tmp:
            build = compile_model(
                model, Path(tmp) / "build", stage, l1=options.l1,
                input_types=options.input_types, l2=options.l2, cores=options.cores,
                kernels=options.kernels, engines=options.engines, platform=options.platform,
            )  # fmt: skip
            outputs, detail = self.execute(build, inputs, options)
        self.used = build.kernel_names() + (f"; {detail}" if detail else "")
        return outputs

    def execute(
        self, build: Any, inputs: list[np.ndarray], options: RunOptions
    ) -> tuple[list[np.ndarray], str]:
        """Runs the build folder on `inputs`: the outputs, and what to add to the line."""
        raise NotImplementedError


# ----------------------------------------------------------------------------- onnxruntime

# ONNX spells the default domain two ways.
_DEFAULT_DOMAINS = ("", "ai.onnx")

# Session-creation errors that mean "onnxruntime lacks this op or kernel" rather than
# "the model is broken".
_UNSUPPORTED_MARKERS = (
    "No Op registered for",
    "is not a registered function/op",
    "Could not find an implementation for",
    "NOT_IMPLEMENTED",
)


def _domain(domain: str) -> str:
    return "" if domain in _DEFAULT_DOMAINS else domain


class OnnxruntimeEngine:
    """The reference: onnxruntime on the CPU, one thread so results are repeatable."""

    name = "onnxruntime"

    def __init__(self) -> None:
        self._schemas: dict[tuple[str, str], int] | None = None

    def _registered_ops(self) -> dict[tuple[str, str], int]:
        """(domain, op) -> the lowest opset version that has the op."""
        if self._schemas is None:
            # The schema list lives in the compiled module, which has no type stubs.
            ort_c = importlib.import_module("onnxruntime.capi.onnxruntime_pybind11_state")

            schemas: dict[tuple[str, str], int] = {}
            for schema in ort_c.get_all_operator_schema():
                key = (_domain(schema.domain), schema.name)
                since = int(schema.since_version)
                schemas[key] = min(schemas.get(key, since), since)
            self._schemas = schemas
        return self._schemas

    def can_run(self, model: onnx.ModelProto) -> str | None:
        registered = self._registered_ops()
        opsets = {_domain(o.domain): o.version for o in model.opset_import}
        local = {(_domain(f.domain), f.name) for f in model.functions}
        missing: list[str] = []
        too_new: list[str] = []
        for node in model.graph.node:
            key = (_domain(node.domain), node.op_type)
            since = registered.get(key)
            if key in local or (since is not None and since <= opsets.get(key[0], since)):
                continue
            text = f"{node.op_type} (domain '{key[0]}')"
            if since is not None:
                # A standard op newer than the opset the model imports.
                text += f" only from opset {since} (the model imports {opsets.get(key[0])})"
                if text not in too_new:
                    too_new.append(text)
            elif text not in missing:
                missing.append(text)
        reasons = []
        if missing:
            plural = "s" if len(missing) > 1 else ""
            reasons.append(f"onnxruntime lacks custom op{plural} {', '.join(missing)}")
        if too_new:
            reasons.append(f"onnxruntime has {', '.join(too_new)}")
        return "; ".join(reasons) or None

    def run(
        self,
        model: onnx.ModelProto,
        model_path: Path,
        inputs: list[np.ndarray],
        options: RunOptions,
    ) -> list[np.ndarray]:
        session = self._session(model, model_path)
        names = [i.name for i in session.get_inputs()]
        if len(names) != len(inputs):
            raise DeeployError(
                f"{model_path}: onnxruntime expects {len(names)} input(s), got {len(inputs)}"
            )
        outputs = [o.name for o in model.graph.output]
        try:
            results = session.run(outputs, dict(zip(names, inputs, strict=True)))
        except Exception as exc:  # onnxruntime raises bare pybind11 exception types
            raise DeeployError(f"{model_path}: onnxruntime failed: {one_line(str(exc))}") from None
        return [np.asarray(r) for r in results]

    @staticmethod
    def _session(model: onnx.ModelProto, model_path: Path) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # One thread: reductions then sum in a fixed order, so reruns agree bit for bit.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # warnings would clutter the one-line-per-case report
        # Loading from the path lets onnxruntime find external weight files.
        source = str(model_path) if model_path.is_file() else model.SerializeToString()
        try:
            return ort.InferenceSession(
                source, sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # pybind11 exception types have no common base but this
            message = one_line(str(exc))
            if any(marker in message for marker in _UNSUPPORTED_MARKERS):
                raise EngineCannotRun(f"onnxruntime cannot run it: {message}") from None
            raise DeeployError(f"{model_path}: onnxruntime rejects the model: {message}") from None


# ----------------------------------------------------------------------------- registry

EngineFactory = Callable[[], Engine]


def lazy_engine(name: str, target: str) -> EngineFactory:
    """A factory importing `module:Class` on first use.

    Only a missing `module` (or a missing parent package) is the user's problem and
    becomes a DeeployError; an ImportError raised from inside an existing module is a
    bug there and propagates with its traceback.
    """
    module_name, _, attr = target.partition(":")

    def factory() -> Engine:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (
                module_name == exc.name or module_name.startswith(exc.name + ".")
            ):
                raise
            raise DeeployError(
                f"engine {name!r} is not available: module {exc.name!r} ({target}) is not "
                "installed or not written yet"
            ) from None
        engine_class = getattr(module, attr, None)
        if engine_class is None:
            raise DeeployError(f"engine {name!r} is not available: {module_name} has no {attr}")
        return engine_class()

    return factory


ENGINES: dict[str, EngineFactory] = {
    "onnxruntime": OnnxruntimeEngine,
    # Our dnn interpreter; implemented in xdeeploy/tools/interp_engine.py.
    "interp": lazy_engine("interp", "xdeeploy.tools.interp_engine:InterpEngine"),
    # Generated C, built with the host gcc and called in-process.
    "generic": lazy_engine("generic", "xdeeploy.tools.host:GenericEngine"),
    # The same C cross-compiled for bare-metal RV32 and run on QEMU's virt machine.
    "rv32-virt": lazy_engine("rv32-virt", "xdeeploy.tools.rv32:Rv32Engine"),
    # Siracusa's program (its budgets and cores) run functionally on the host.
    "siracusa": lazy_engine("siracusa", "xdeeploy.tools.host:SiracusaEngine"),
}

# `deeploy run --platform P` -> the engine that runs the case.
PLATFORM_ENGINES: dict[str, str] = {
    "interp": "interp",
    "onnxruntime": "onnxruntime",
    "generic": "generic",
    "rv32-virt": "rv32-virt",
    "siracusa": "siracusa",
}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Add (or replace) an engine, e.g. from a plug-in or a test."""
    ENGINES[name] = factory


def get_engine(name: str) -> Engine:
    factory = ENGINES.get(name)
    if factory is None:
        raise DeeployError(f"unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})")
    return factory()


def engine_for_platform(platform: str) -> Engine:
    if platform in PLATFORM_ENGINES:
        return get_engine(PLATFORM_ENGINES[platform])
    raise DeeployError(f"unknown platform {platform!r}")
