"""Deeploy's float test networks through our frontend and interpreter vs outputs.npz.

Each case runs in-process (import + interpret) so a failure shows the differing output;
the `deeploy run` CLI on the same folders is covered in test_cli_run.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import peer_case

from xdeeploy.frontend.onnx import import_model, load_model
from xdeeploy.interp.run import run_module

FLOAT_CASES = [
    "Kernels/FP32/Add/Regular",
    "Kernels/FP32/Conv/Regular_2D_Bias",
    "Kernels/FP32/GELU",
    "Kernels/FP32/GEMM/Regular",
    "Kernels/FP32/HardSwish",
    "Kernels/FP32/LayerNorm",
    "Kernels/FP32/MatMul",
    "Kernels/FP32/RMSNorm/separate_ops",
    "Kernels/FP32/RMSNorm/single_fused_op",
    "Kernels/FP32/Softmax/Regular",
    "Models/TinyViT/Demo",
    "Models/microLlama/FP32/microLlama1",
]


def _arrays(path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[k] for k in data.files if data[k].size]


@pytest.mark.parametrize("case", FLOAT_CASES)
def test_float_peer_case(case: str) -> None:
    folder = peer_case(case)
    model = load_model(folder / "network.onnx")
    module = import_model(model)
    n_inputs = len(
        [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    )
    results = run_module(module, _arrays(folder / "inputs.npz")[:n_inputs])
    expected = _arrays(folder / "outputs.npz")
    assert len(results) == len(model.graph.output)
    for k, (got, want) in enumerate(zip(results, expected, strict=False)):
        got64 = got.astype(np.float64).reshape(-1)
        want64 = want.astype(np.float64).reshape(-1)
        tol = 1e-4 * np.maximum(1.0, np.abs(want64))
        err = np.abs(got64 - want64)
        assert np.all(err <= tol), f"output {k}: max abs diff {err.max():.3g}"
