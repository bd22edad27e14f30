"""Shared test configuration: where the peer tests live, and a private weights store."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from xdeeploy.universe import full_context

REPO = Path(__file__).resolve().parents[1]
PEER = REPO.parent / "shared" / "peer-tests" / "deeploy"
BIN = Path(sys.executable).parent


FLOAT_PEERS = [
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
"""The peer networks in float32: the FP32 kernels, TinyViT and the float microLlama."""


def peer_case(relative: str) -> Path:
    """A Deeploy peer test folder; skips (visibly) where ../shared/peer-tests is absent."""
    if not PEER.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    return PEER / relative


@pytest.fixture(autouse=True)
def _weights_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests never write into the user's ~/.cache; one store per worker is shared by its tests.
    monkeypatch.setenv("XDEEPLOY_WEIGHTS_DIR", str(tmp_path_factory.getbasetemp() / "weights"))


def parse_ir(text: str) -> ModuleOp:
    """`text` parsed with xDSL's dialects and ours, and verified."""
    module = Parser(full_context(), text).parse_module()
    module.verify()
    return module


def run_riscv(module: ModuleOp, name: str, *buffers: np.ndarray) -> list[np.ndarray]:
    """Calls `name` of a `riscv`-level module in xDSL's interpreter (with our 32-bit
    additions, `interp/riscv_extra.py`) on raw copies of `buffers`; returns them as the
    function left them."""
    from xdsl.interpreter import Interpreter
    from xdsl.interpreters.riscv import RiscvFunctions
    from xdsl.interpreters.riscv_func import RiscvFuncFunctions
    from xdsl.interpreters.riscv_scf import RiscvScfFunctions
    from xdsl.interpreters.rv32 import Rv32Functions
    from xdsl.interpreters.utils.ptr import RawPtr

    from xdeeploy.interp.riscv_extra import RiscvExtraFunctions, Rv32ExtraFunctions

    interpreter = Interpreter(module)
    interpreter.register_implementations(RiscvFunctions())
    interpreter.register_implementations(RiscvFuncFunctions())
    interpreter.register_implementations(RiscvScfFunctions())
    interpreter.register_implementations(Rv32Functions())
    interpreter.register_implementations(RiscvExtraFunctions(), override=True)
    interpreter.register_implementations(Rv32ExtraFunctions(), override=True)
    pointers = [RawPtr(bytearray(b.tobytes())) for b in buffers]
    interpreter.call_op(name, tuple(pointers))
    return [
        np.frombuffer(bytes(p.memory), dtype=b.dtype).reshape(b.shape)
        for p, b in zip(pointers, buffers, strict=True)
    ]


def tiny_int8_llama(folder: Path) -> Path:
    """`deeploy model llama --preset tiny --quant int8` written into `folder`."""
    from xdeeploy.tools import deeploy

    path = folder / "tiny_int8.onnx"
    assert deeploy.main(["model", "llama", "--preset", "tiny", "--quant", "int8", "-o",
                         str(path)]) == 0  # fmt: skip
    return path
