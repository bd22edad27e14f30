"""Tiling for L1 (`dnn-tile` + the tiled bufferization + DMA): the tiled program computes
the same bits as the untiled one, fits its budget, and reports what it moves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import PEER, peer_case
from onnx import TensorProto, helper, numpy_helper
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr

from xdeeploy.dialects import dma
from xdeeploy.frontend.onnx import import_model
from xdeeploy.interp.run_buffers import run_buffers
from xdeeploy.lowering.generic_pipeline import lower_for_host
from xdeeploy.tools import deeploy

F32 = TensorProto.FLOAT


def _random_model(rng: np.random.Generator) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """A small float graph of the tiled op kinds, with random sizes: matmul by a weight,
    a broadcast add, an activation, then softmax or a layer norm over the last axis."""
    rows = int(rng.choice([4, 6, 8, 12, 16, 32]))
    k = int(rng.choice([3, 8, 16, 24]))
    n = int(rng.choice([4, 10, 16, 32, 48]))
    w = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal((n,)).astype(np.float32), "bias")
    scale = numpy_helper.from_array(rng.standard_normal((n,)).astype(np.float32), "scale")
    act = str(rng.choice(["Relu", "Sigmoid", "Tanh"]))
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "bias"], ["a"], name="add"),
        helper.make_node(act, ["a"], ["h"], name="act"),
    ]
    if rng.random() < 0.5:
        nodes.append(helper.make_node("Softmax", ["h"], ["y"], name="softmax", axis=-1))
    else:
        nodes.append(
            helper.make_node("LayerNormalization", ["h", "scale"], ["y"], name="ln", axis=-1)
        )
    graph = helper.make_graph(
        nodes,
        "random",
        [helper.make_tensor_value_info("x", F32, [rows, k])],
        [helper.make_tensor_value_info("y", F32, [rows, n])],
        initializer=[w, bias, scale],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, [rng.standard_normal((rows, k)).astype(np.float32)]


def _buffer_run(model: onnx.ModelProto, inputs: list[np.ndarray], l1: int) -> np.ndarray:
    module = import_model(model)
    lower_for_host(Context(), module, l1)
    return run_buffers(module, inputs)[0]


@pytest.mark.parametrize("seed", range(12))
def test_tiled_program_computes_the_untiled_bits(seed: int) -> None:
    rng = np.random.default_rng(seed)
    model, inputs = _random_model(rng)
    want = _buffer_run(model, inputs, 0)
    smallest = 2 * 4 * (model.graph.initializer[0].dims[0] + 2) + 4 * 64
    for l1 in sorted({int(rng.integers(smallest, 4096)), 1 << 20}):
        module = import_model(model)
        lower_for_host(Context(), module, l1)
        starts = [op for op in module.walk() if isinstance(op, dma.StartOp)]
        assert starts, "every tiled op stages its operands through DMA"
        got = run_buffers(module, inputs)[0]
        assert np.array_equal(got, want, equal_nan=True), f"L1 = {l1}"


@pytest.mark.parametrize("l1", [1500, 3000, 8000])
def test_planned_l1_arena_fits_the_budget(l1: int) -> None:
    """What plan-memory really allocates in L1 (every tile buffer of the op alive at the
    time) stays within the budget the solver was given."""
    model, _ = _random_model(np.random.default_rng(7))
    module = import_model(model)
    records = lower_for_host(Context(), module, l1)
    assert records and all(r.solution.l1_bytes <= l1 for r in records)
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    arena = fn.attributes["kernel.l1_arena"]
    assert isinstance(arena, DictionaryAttr)
    size = arena.data["size"]
    assert isinstance(size, IntegerAttr)
    assert 0 < size.value.data <= l1


# ----------------------------------------------------------------------------- peers and CLI

FAST_PEERS = [
    "Kernels/Integer/Attention",
    "Kernels/Integer/MatMul/Regular_RQ",
    "Kernels/Integer/GEMM/Regular",
    "Kernels/Integer/Add/Regular_RQ",
    "Kernels/Integer/Softmax/Regular",
    "Kernels/FP32/LayerNorm",
]


@pytest.mark.parametrize("case", FAST_PEERS)
def test_peer_is_bit_exact_at_small_l1(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = peer_case(case)
    assert deeploy.main(["run", str(folder), "--platform", "generic", "--l1", "16000"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("l1", ["64000", "16000"])
def test_every_peer_passes_tiled(l1: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not PEER.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    assert deeploy.main(["run", str(PEER), "--platform", "generic", "--l1", l1]) == 0
    assert ", 0 failed, 0 skipped" in capsys.readouterr().out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdeeploy.tools.deeploy", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _case(tmp_path: Path) -> Path:
    model, inputs = _random_model(np.random.default_rng(3))
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    np.savez(tmp_path / "in.npz", inputs[0])
    return path


def test_infeasible_budget_is_one_line_naming_node_and_smallest_l1(tmp_path: Path) -> None:
    path = _case(tmp_path)
    result = _cli("run", str(path), "--inputs", str(tmp_path / "in.npz"), "--platform",
                  "generic", "--l1", "8")  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    line = next(li for li in result.stdout.splitlines() if li.startswith("FAIL"))
    assert "node '" in line and "(budget 8)" in line
    needed = int(line.split("raise --l1 to at least ")[1].split()[0])
    # The named size is enough for the whole network, one byte less is not.
    ok = _cli("run", str(path), "--inputs", str(tmp_path / "in.npz"), "--platform", "generic",
              "--l1", str(needed))  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    short = _cli("run", str(path), "--inputs", str(tmp_path / "in.npz"), "--platform",
                 "generic", "--l1", str(needed - 1))  # fmt: skip
    assert short.returncode == 1


def test_bad_l1_option_is_one_line(tmp_path: Path) -> None:
    result = _cli("compile", str(_case(tmp_path)), "--l1", "-5", "-o", str(tmp_path / "b"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "--l1" in result.stderr
    assert not (tmp_path / "b").exists()


def test_compile_report_gives_l1_peak_and_traffic(tmp_path: Path) -> None:
    path = _case(tmp_path)
    result = _cli("compile", str(path), "--l1", "4000", "--report", "-o", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    assert "L1 arena peak" in result.stdout and "x compulsory" in result.stdout
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    tiling = report["tiling"]
    assert tiling["l1_budget_bytes"] == 4000
    assert 0 < tiling["l1_arena_bytes"] <= 4000
    layers = {layer["op"] for layer in tiling["layers"]}
    assert {"dnn.matmul", "dnn.add"} <= layers
    for layer in tiling["layers"]:
        assert layer["l1_bytes"] <= 4000
        # Traffic can only exceed what must be moved at least once.
        assert layer["dma_bytes"] >= layer["compulsory_bytes"] > 0


def test_double_buffering_is_checked_by_the_interpreter() -> None:
    """Computing on the buffer the prefetch is filling (the two selects swapped) is
    caught: the DMA-checking interpreter refuses a kernel touching a tile in flight."""
    from xdsl.dialects import arith

    from xdeeploy.errors import DeeployError
    from xdeeploy.lowering.convert_dnn_to_kernel import ConvertDnnToKernel
    from xdeeploy.lowering.generic_pipeline import INTEGER_PASSES
    from xdeeploy.passes.dma_double_buffer import DmaDoubleBuffer
    from xdeeploy.passes.dnn_tile import tile_ops
    from xdeeploy.passes.plan_memory import PlanMemory

    model, inputs = _random_model(np.random.default_rng(0))

    def lowered(swap: bool) -> list[np.ndarray]:
        module = import_model(model)
        for p in INTEGER_PASSES:
            p.apply(Context(), module)
        tile_ops(module, 1200)
        ConvertDnnToKernel().apply(Context(), module)
        DmaDoubleBuffer().apply(Context(), module)
        selects = [op for op in module.walk() if isinstance(op, arith.SelectOp)]
        assert selects, "the pass found tiles to prefetch"
        if swap:  # each prefetch has (current, next); compute on "next" instead
            for sel in selects[::2]:
                sel.operands = [sel.cond, sel.rhs, sel.lhs]
        PlanMemory().apply(Context(), module)
        return run_buffers(module, inputs)

    want = _buffer_run(model, inputs, 0)
    assert np.array_equal(lowered(False)[0], want)
    with pytest.raises(DeeployError, match="before its dma.wait"):
        lowered(True)


def test_arena_picture_shows_non_overlapping_buffers(tmp_path: Path) -> None:
    """`--arenas` draws every planned buffer; buffers alive at the same time never share
    addresses (what the picture is for)."""
    from xdeeploy.tools.arena_picture import arena_buffers

    path = _case(tmp_path)
    result = _cli("compile", str(path), "--l1", "3000", "--arenas", "-o", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    picture = (tmp_path / "b" / "arenas.svg").read_text()
    assert picture.startswith("<svg") and "@main_l1_arena" in picture and "@main_arena" in picture

    module = import_model(onnx.load(path))
    lower_for_host(Context(), module, 3000)
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    arenas = arena_buffers(fn)
    assert picture.count("<title>") == sum(len(b) for b in arenas.values())
    for buffers in arenas.values():
        for i, a in enumerate(buffers):
            for b in buffers[i + 1 :]:
                live_together = a.start <= b.end and b.start <= a.end
                disjoint = a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
                assert not live_together or disjoint, (a, b)


@pytest.mark.parametrize("case", [*FAST_PEERS, "Models/CCT/Int/ICCT"])
@pytest.mark.parametrize("l1", [16000, 64000])
def test_peer_l1_arena_stays_within_budget(case: str, l1: int, tmp_path: Path) -> None:
    """What plan-memory places in L1 (operand tiles, their double buffers and the
    kernels' own work buffers, e.g. int8 operands widened to int32) fits the budget."""
    from xdeeploy.tools.build import compile_model
    from xdeeploy.tools.cases import bind_inputs, input_types, load_npz

    folder = peer_case(case)
    model = onnx.load(folder / "network.onnx")
    types = input_types(bind_inputs(model, load_npz(folder / "inputs.npz"), {}))
    report = compile_model(model, tmp_path / "b", l1=l1, input_types=types).report
    tiling = report["tiling"]
    assert isinstance(tiling, dict)
    assert 0 < tiling["l1_arena_bytes"] <= l1
