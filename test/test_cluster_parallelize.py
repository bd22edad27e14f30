"""cluster-parallelize on whole graphs: every split rule gives the serial bits.

Each case is one ONNX node large enough to be split; it is lowered for one core and for
8 (untiled and tiled for a small L1), and both are run by the buffer interpreter (cores
in a shuffled order, overlapping writes reported) and as C on the host (threads): the
results must be bit-identical to the one-core run, floats included, since every core
computes its outputs in the kernel's own order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx_builders import single_node_model
from xdsl.context import Context
from xdsl.dialects import memref
from xdsl.utils.exceptions import InterpretationError

from xdeeploy.dialects import cluster, kernel
from xdeeploy.frontend.onnx import import_model
from xdeeploy.interp.run_buffers import run_buffers
from xdeeploy.lowering.generic_pipeline import lower_for_host
from xdeeploy.tools.build import compile_model
from xdeeploy.tools.host import build_and_load

Array = np.ndarray[Any, Any]
Case = Callable[[np.random.Generator], tuple[onnx.ModelProto, list[Array]]]


def _f32(r: np.random.Generator, *shape: int) -> Array:
    return r.standard_normal(shape).astype(np.float32)


def _node(op: str, inputs: dict[str, Array], consts: dict[str, Array] | None = None,
          **attrs: Any) -> tuple[onnx.ModelProto, list[Array]]:  # fmt: skip
    return single_node_model(op, inputs, attrs, initializers=consts), list(inputs.values())


CASES: dict[str, tuple[Case, str]] = {
    # name: (model, the kernel a core calls)
    "gemv": (lambda r: _node("MatMul", {"a": _f32(r, 1, 64)}, {"b": _f32(r, 64, 40)}),
             "xd_gemv_f32"),
    "matmul_rows": (lambda r: _node("MatMul", {"a": _f32(r, 10, 16)}, {"b": _f32(r, 16, 24)}),
                    "xd_matmul_f32"),
    "matmul_batch": (lambda r: _node("MatMul", {"a": _f32(r, 4, 3, 16), "b": _f32(r, 4, 16, 12)}),
                     "xd_matmul_f32"),
    "gemm_columns": (lambda r: _node("Gemm", {"a": _f32(r, 1, 32)},
                                     {"b": _f32(r, 24, 32), "c": _f32(r, 24)}, transB=1),
                     "xd_gemm_f32"),
    "gemm_rows": (lambda r: _node("Gemm", {"a": _f32(r, 12, 16)},
                                  {"b": _f32(r, 16, 8), "c": _f32(r, 8)}), "xd_gemm_f32"),
    "softmax": (lambda r: _node("Softmax", {"x": _f32(r, 9, 32)}, axis=-1), "xd_softmax_f32"),
    "layernorm": (lambda r: _node("LayerNormalization", {"x": _f32(r, 6, 48)},
                                  {"s": _f32(r, 48), "b": _f32(r, 48)}, axis=-1),
                  "xd_layernorm_f32"),
    "add_broadcast": (lambda r: _node("Add", {"x": _f32(r, 1, 10, 32), "v": _f32(r, 32)}),
                      "xd_binary_f32"),
    "relu": (lambda r: _node("Relu", {"x": _f32(r, 3, 100)}), "xd_unary_f32"),
    "conv": (lambda r: _node("Conv", {"x": _f32(r, 1, 4, 8, 8)},
                             {"w": _f32(r, 6, 4, 3, 3), "b": _f32(r, 6)}, pads=[1, 1, 1, 1]),
             "xd_conv2d_f32"),
    "depthwise": (lambda r: _node("Conv", {"x": _f32(r, 1, 8, 8, 8)}, {"w": _f32(r, 8, 1, 3, 3)},
                                  group=8), "xd_conv2d_f32"),
    "maxpool": (lambda r: _node("MaxPool", {"x": _f32(r, 1, 6, 8, 8)}, kernel_shape=[2, 2],
                                strides=[2, 2]), "xd_maxpool2d_f32"),
}  # fmt: skip


def _lowered(model: onnx.ModelProto, l1: int, cores: int) -> Any:
    module = import_model(model)
    lower_for_host(Context(), module, l1, 0, cores)
    return module


@pytest.mark.parametrize("l1", [0, 2048])
@pytest.mark.parametrize("name", sorted(CASES))
def test_split_computes_the_serial_bits_in_the_interpreter(name: str, l1: int) -> None:
    make, callee = CASES[name]
    model, inputs = make(np.random.default_rng(7))
    want = run_buffers(_lowered(model, l1, 1), inputs)
    module = _lowered(model, l1, 8)
    forks = [op for op in module.walk() if isinstance(op, cluster.ForkOp)]
    if l1 == 0:  # tiles may hold too little work to be worth a fork
        assert forks, "the node's kernel call is split across cores"
        called = {op.kernel for f in forks for op in f.walk() if isinstance(op, kernel.CallOp)}
        assert callee in called
    got = run_buffers(module, inputs)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes(), name


@pytest.mark.parametrize("name", ["gemv", "softmax", "conv", "add_broadcast"])
def test_split_computes_the_serial_bits_in_host_c(name: str, tmp_path: Path) -> None:
    make, _ = CASES[name]
    model, inputs = make(np.random.default_rng(11))
    want = build_and_load(model, tmp_path / "one", cores=1).run(inputs)
    got = build_and_load(model, tmp_path / "eight", cores=8, l1=4096).run(inputs)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes(), name


def test_overlapping_chunks_are_reported_by_the_interpreter() -> None:
    """A split whose chunks overlap (every core writes the whole output) is a race the
    interpreter names, rather than a result that happens to match."""
    make, _ = CASES["relu"]
    model, inputs = make(np.random.default_rng(3))
    module = _lowered(model, 0, 8)
    (fork,) = [op for op in module.walk() if isinstance(op, cluster.ForkOp)]
    call = next(op for op in fork.walk() if isinstance(op, kernel.CallOp))
    y_core = call.operands[1].owner
    assert isinstance(y_core, memref.SubviewOp)
    call.operands[1] = y_core.source  # every core writes from the output's first element
    with pytest.raises(InterpretationError, match=r"cores \d+ and \d+ both write"):
        run_buffers(module, inputs)


def test_the_report_names_what_each_layer_calls(tmp_path: Path) -> None:
    """report.json's `layer_calls`: a tiled, split layer calls its kernel in the fork,
    the fork and the DMA (what a per-layer profile is spent in)."""
    model, _ = CASES["matmul_rows"][0](np.random.default_rng(0))
    build = compile_model(model, tmp_path / "b", l1=4096, cores=8)
    layers = build.report["layers"]
    calls = build.report["layer_calls"]
    assert isinstance(layers, list) and isinstance(calls, dict) and layers
    assert set(calls[layers[0]]) >= {"xd_matmul_f32", "xd_cluster_fork", "xd_dma_start"}
