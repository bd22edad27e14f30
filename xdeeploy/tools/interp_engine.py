"""The `interp` engine of `deeploy run`: import the ONNX model (typed from the input
data, as Deeploy types it) and run `dnn` in xDSL's interpreter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from xdeeploy.interp.run import run_module
from xdeeploy.tools.typed_import import import_typed


class InterpEngine:
    name = "interp"

    def can_run(self, model: onnx.ModelProto) -> str | None:
        return None  # every op we import has an implementation; gaps are failures

    def run(
        self, model: onnx.ModelProto, model_path: Path, inputs: list[np.ndarray], options: Any
    ) -> list[np.ndarray]:
        return run_module(import_typed(model, options.input_types), inputs)
