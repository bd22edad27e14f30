"""The `generic` platform: compile to C, build a shared library with the host gcc, call it."""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from xdeeploy.errors import DeeployError
from xdeeploy.tools.build import ENTRY, PREFIX, Build, build_shared_library, compile_model
from xdeeploy.tools.cases import InputType
from xdeeploy.tools.engines import CompilingEngine, RunOptions
from xdeeploy.tools.progress import stage_reporter


class HostLibrary:
    """A built network loaded into this process; `run` calls its entry function."""

    def __init__(self, build: Build, library: Path):
        self.build = build
        self._fn = getattr(ctypes.CDLL(str(library)), f"{PREFIX}_{ENTRY}")
        self._fn.restype = None
        self._fn.argtypes = [ctypes.c_void_p] * (len(build.inputs) + len(build.outputs))

    def run(
        self, inputs: list[np.ndarray], outputs: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        if len(inputs) != len(self.build.inputs):
            raise DeeployError(
                f"the network takes {len(self.build.inputs)} inputs, {len(inputs)} were given"
            )
        args = []
        for port, arr in zip(self.build.inputs, inputs, strict=True):
            if arr.size != int(np.prod(port.shape)):
                raise DeeployError(
                    f"input '{port.name}' needs {list(port.shape)}, got {list(arr.shape)}"
                )
            args.append(np.ascontiguousarray(arr, dtype=port.dtype).reshape(port.shape))
        if outputs is None:
            outputs = [np.zeros(p.shape, dtype=p.dtype) for p in self.build.outputs]
        self._fn(*(a.ctypes.data for a in [*args, *outputs]))
        return outputs


def build_and_load(
    model: onnx.ModelProto,
    folder: Path,
    extra_flags: list[str] | None = None,
    input_types: Mapping[str, InputType] | None = None,
    l1: int = 0,
    l2: int = 0,
    cores: int = 1,
) -> HostLibrary:
    """Compiles `model` (typed from `input_types` when some are integers, as Deeploy
    types its networks) with the host gcc and loads it; `l1` > 0 tiles it for an L1
    scratchpad of that many bytes."""
    stage = stage_reporter()
    build = compile_model(model, folder, stage, l1=l1, input_types=input_types, l2=l2, cores=cores)
    return HostLibrary(build, build_shared_library(build, extra_flags, stage))


class GenericEngine(CompilingEngine):
    """`deeploy run --platform generic`: each case compiled and built with the host gcc,
    then called in this process."""

    name = "generic"

    def execute(
        self, build: Build, inputs: list[np.ndarray], options: RunOptions
    ) -> tuple[list[np.ndarray], str]:
        return HostLibrary(build, build_shared_library(build, stage=stage_reporter())).run(
            inputs
        ), ""


class SiracusaEngine(GenericEngine):
    """`deeploy run --platform siracusa`: the chip's program run functionally on the
    host: tiled for its L1 and L2, split across its 8 cluster cores (threads here). Its
    time and energy are the cost model's (`compile --report`), never this run's."""

    name = "siracusa"

    def run(
        self, model: onnx.ModelProto, model_path: Path, inputs: list[np.ndarray], options: Any
    ) -> list[np.ndarray]:
        outputs = super().run(model, model_path, inputs, options)
        self.used = f"cluster ({options.cores} cores): {self.used}"
        return outputs
