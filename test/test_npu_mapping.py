"""`--engines npu`: integer products become NPU jobs, run by the engine's functional
model, bit for bit what integer_reference computes — a MatMul by constant int8 weights
with the RequantShift the engine can fuse (a scale beyond 8 bits stays on the cluster),
a MatMul of two activations (B loaded into the engine's memory per job, one job per
batch), a Gemm (C added by the cluster), convolutions in the engine's own modes and,
any other one-group convolution, as im2col patches and a matmul job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import PEER
from onnx import TensorProto, helper, numpy_helper

from xdeeploy.interp import integer_reference as iref
from xdeeploy.tools import deeploy

Array = np.ndarray[Any, Any]


def _rq_matmul(rows: int, k: int, n: int, mul: Array, add: Array, div: int) -> onnx.ModelProto:
    """MatMul(x, W) → RequantShift (Deeploy's, float-typed as its exports are)."""
    r = np.random.default_rng(k)
    w = r.integers(-128, 128, (k, n)).astype(np.float32)
    consts = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(mul, "mul"),
              numpy_helper.from_array(add, "add")]  # fmt: skip
    scalar = {name: numpy_helper.from_array(np.array([v], dtype=np.float32), name)
              for name, v in (("div", div), ("n_levels_out", 256), ("signed", 1))}  # fmt: skip
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["acc"]),
        helper.make_node(
            "RequantShift", ["acc", "mul", "add"], ["y"], domain="ai.onnx.contrib", **scalar
        ),  # fmt: skip
    ]
    graph = helper.make_graph(
        nodes, "rq_matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows, n])], initializer=consts,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.contrib", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def _case(folder: Path, mul_max: int) -> Path:
    rows, k, n = 5, 40, 20
    r = np.random.default_rng(mul_max)
    mul = r.integers(1, mul_max, n).astype(np.float32)
    add = r.integers(-(2**14), 2**14, n).astype(np.float32)
    model = _rq_matmul(rows, k, n, mul, add, 2**10)
    x = r.integers(-128, 128, (1, rows, k)).astype(np.float32)
    w = numpy_helper.to_array(model.graph.initializer[0])
    acc = iref.matmul(x.astype(np.int64), w.astype(np.int64))
    y = iref.requant_shift(acc, mul.astype(np.int64), add.astype(np.int64), div=2**10,
                           n_levels=256, signed=True)  # fmt: skip
    folder.mkdir(parents=True)
    onnx.save(model, folder / "network.onnx")
    np.savez(folder / "inputs.npz", input_0=x)
    np.savez(folder / "outputs.npz", output_0=y.astype(np.float32))
    return folder


@pytest.mark.parametrize("platform", ["generic", "siracusa"])
def test_requantized_matmul_runs_on_the_npu(
    platform: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = _case(tmp_path / "rq", 256)
    assert deeploy.main(["run", str(case), "--platform", platform, "--engines", "npu"]) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 failed" in out and "npu: matmul]" in out and "(exact)" in out
    assert "matmul_int" not in out and "requant_shift" not in out


def test_a_scale_beyond_8_bits_stays_on_the_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine cannot fuse that requantization: the matmul alone goes to it (into
    int32 accumulators) and the requantization runs on the cluster."""
    case = _case(tmp_path / "rq", 2000)
    assert deeploy.main(["run", str(case), "--platform", "generic", "--engines", "npu"]) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 failed" in out and "npu: matmul;" in out and "(exact)" in out
    assert "requant_shift" in out and "matmul_int" not in out


def test_engines_need_a_compiled_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = _case(tmp_path / "rq", 256)
    assert deeploy.main(["run", str(case), "--platform", "interp", "--engines", "npu"]) == 1
    assert capsys.readouterr().err.startswith("error: --engines npu maps ops for a compiled")


def _rq_conv(case: Path, kind: str, stride: int, requant: bool) -> Path:
    """A convolution in one of the engine's modes (see `_conv_case`)."""
    r = np.random.default_rng(stride + len(kind))
    cin, cout, h, w = (6, 6, 7, 5) if kind == "depthwise" else (5, 9, 7, 5)
    group, k = (cin if kind == "depthwise" else 1), (1 if kind == "pointwise" else 3)
    weights = r.integers(-128, 128, (cout, cin // group, k, k)).astype(np.float32)
    pads = [0, 0, 0, 0] if k == 1 else [1, 0, 1, 1]
    return _conv_case(case, r, weights, (h, w), [stride, stride], pads, [1, 1], group, requant)


def _conv_case(case: Path, r: np.random.Generator, weights: Array, size: tuple[int, int],
               strides: list[int], pads: list[int], dilations: list[int], group: int,
               requant: bool) -> Path:  # fmt: skip
    """Conv (NCHW, constant int8 weights) → RequantShift per channel (or the int32
    accumulators), with the expected outputs from integer_reference."""
    cout, cin_g, kh, kw = weights.shape
    x = r.integers(-128, 128, (1, cin_g * group, *size)).astype(np.float32)
    acc = iref.conv(x.astype(np.int64), weights.astype(np.int64), strides=strides, pads=pads,
                    dilations=dilations, group=group)  # fmt: skip
    nodes = [helper.make_node("Conv", ["x", "w"], ["acc"], group=group, kernel_shape=[kh, kw],
                              pads=pads, strides=strides, dilations=dilations)]  # fmt: skip
    consts = [numpy_helper.from_array(weights, "w")]
    out, want = "acc", acc
    if requant:
        mul = r.integers(1, 256, (1, cout, 1, 1)).astype(np.float32)
        add = r.integers(-(2**12), 2**12, (1, cout, 1, 1)).astype(np.float32)
        consts += [numpy_helper.from_array(mul, "mul"), numpy_helper.from_array(add, "add")]
        nodes.append(_requant_node("acc", "mul", "add", "y", 256))
        out = "y"
        want = iref.requant_shift(acc, mul.astype(np.int64), add.astype(np.int64), div=256,
                                  n_levels=256, signed=True)  # fmt: skip
    return _save(case, nodes, consts, {"x": x}, out, want)


def _requant_node(acc: str, mul: str, add: str, out: str, div: int) -> onnx.NodeProto:
    """Deeploy's RequantShift (float-typed attributes, as its exports are)."""
    scalar = {name: numpy_helper.from_array(np.array([v], dtype=np.float32), name)
              for name, v in (("div", div), ("n_levels_out", 256), ("signed", 1))}  # fmt: skip
    return helper.make_node("RequantShift", [acc, mul, add], [out], domain="ai.onnx.contrib",
                            **scalar)  # fmt: skip


def _save(case: Path, nodes: list[onnx.NodeProto], consts: list[onnx.TensorProto],
          inputs: dict[str, Array], out: str, want: Array) -> Path:  # fmt: skip
    """A peer-style case folder: network.onnx, inputs.npz and outputs.npz."""
    graph = helper.make_graph(
        nodes, "npu_case",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape))
         for k, v in inputs.items()],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, list(want.shape))],
        initializer=consts,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.contrib", 1)]
    case.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=opsets), case / "network.onnx")
    np.savez(case / "inputs.npz", **{f"input_{i}": v for i, v in enumerate(inputs.values())})
    np.savez(case / "outputs.npz", output_0=want.astype(np.float32))
    return case


def _run_npu(case: Path, capsys: pytest.CaptureFixture[str], platform: str = "siracusa") -> str:
    assert deeploy.main(["run", str(case), "--platform", platform, "--engines", "npu"]) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 failed" in out and "(exact)" in out
    return out


@pytest.mark.parametrize(("kernel", "strides", "pads", "dilations", "requant"), [
    ((8, 8), [2, 4], [1, 1, 1, 1], [1, 1], False),  # Deeploy's Conv/Regular_2D
    ((5, 3), [1, 1], [2, 0, 1, 1], [1, 1], True),
    ((3, 3), [3, 1], [0, 0, 0, 0], [2, 2], True),
    ((2, 2), [1, 1], [0, 0, 0, 0], [1, 1], False),
])  # fmt: skip
def test_other_convolutions_run_as_im2col_and_a_matmul_job(
    kernel: tuple[int, int], strides: list[int], pads: list[int], dilations: list[int],
    requant: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    r = np.random.default_rng(sum(kernel) + strides[0])
    weights = r.integers(-128, 128, (5, 3, *kernel)).astype(np.float32)
    case = _conv_case(tmp_path / "conv", r, weights, (17, 12), strides, pads, dilations, 1,
                      requant)  # fmt: skip
    out = _run_npu(case, capsys)
    assert "npu: matmul;" in out and "im2col" in out
    assert "conv2d" not in out and "requant_shift" not in out


def test_a_grouped_convolution_without_a_mode_stays_on_the_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = np.random.default_rng(5)
    weights = r.integers(-128, 128, (4, 1, 5, 5)).astype(np.float32)
    case = _conv_case(tmp_path / "conv", r, weights, (9, 9), [1, 1], [2, 2, 2, 2], [1, 1], 4,
                      False)  # fmt: skip
    out = _run_npu(case, capsys)
    assert "npu" not in out and "conv2d_int" in out


@pytest.mark.parametrize(("requant", "platform"), [(True, "rv32-virt"), (False, "siracusa")])
def test_products_of_two_activations_run_on_the_npu(
    requant: bool, platform: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """B is an activation: each of the 2x3 jobs (batch dims broadcast) loads its matrix
    into the engine's memory; the requantization differs per batch."""
    r = np.random.default_rng(7)
    a = r.integers(-128, 128, (2, 3, 5, 40)).astype(np.float32)
    b = r.integers(-128, 128, (2, 1, 40, 36)).astype(np.float32)
    acc = iref.matmul(a.astype(np.int64), b.astype(np.int64))
    nodes = [helper.make_node("MatMul", ["a", "b"], ["acc"])]
    consts: list[onnx.TensorProto] = []
    out, want = "acc", acc
    if requant:
        mul = r.integers(1, 256, (2, 3, 1, 1)).astype(np.float32)
        add = r.integers(-(2**14), 2**14, (2, 3, 1, 1)).astype(np.float32)
        consts = [numpy_helper.from_array(mul, "mul"), numpy_helper.from_array(add, "add")]
        nodes.append(_requant_node("acc", "mul", "add", "y", 2**12))
        out = "y"
        want = iref.requant_shift(acc, mul.astype(np.int64), add.astype(np.int64), div=2**12,
                                  n_levels=256, signed=True)  # fmt: skip
    case = _save(tmp_path / "mm", nodes, consts, {"a": a, "b": b}, out, want)
    text = _run_npu(case, capsys, platform)
    assert "npu: load_weights matmul" in text and "matmul_int" not in text
    assert "requant_shift" not in text


def test_gemm_runs_on_the_npu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """B constant and transposed; C broadcast over the rows, added by the cluster."""
    r = np.random.default_rng(11)
    a = r.integers(-128, 128, (6, 40)).astype(np.float32)
    w = r.integers(-128, 128, (33, 40)).astype(np.float32)
    c = r.integers(-1000, 1000, (33,)).astype(np.float32)
    want = iref.gemm(a.astype(np.int64), w.astype(np.int64), c.astype(np.int64), trans_b=True)
    nodes = [helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1)]
    consts = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")]
    case = _save(tmp_path / "gemm", nodes, consts, {"a": a}, "y", want)
    out = _run_npu(case, capsys, "generic")
    assert "npu: matmul;" in out and "binary_int" in out and "gemm_int" not in out


@pytest.mark.parametrize(("kind", "stride", "requant"), [
    ("dense", 1, True), ("dense", 2, False), ("depthwise", 1, True), ("depthwise", 2, True),
    ("pointwise", 1, False), ("pointwise", 2, True),
])  # fmt: skip
def test_convolutions_run_on_the_npu(kind: str, stride: int, requant: bool, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    case = _rq_conv(tmp_path / "conv", kind, stride, requant)
    assert deeploy.main(["run", str(case), "--platform", "siracusa", "--engines", "npu"]) == 0
    out = capsys.readouterr().out
    # in L1, the transposes are DMA transfers: no cluster kernel is left
    assert "1 passed, 0 failed" in out and "npu: conv2d]" in out and "(exact)" in out
    assert "conv2d_int" not in out and "requant_shift" not in out


NPU_CASES = ("Conv/Regular_2D", "GEMM/Batch_RQ", "GEMM/Regular", "MatMul/Batch",
             "MatMul/Regular", "MatMul/Regular_RQ")  # fmt: skip
"""Deeploy's integer conv and matmul kernels: every one runs on the NPU with npu."""


@pytest.mark.slow
@pytest.mark.parametrize("engines", ["cluster", "npu", "auto"])
def test_every_peer_runs_on_siracusa(engines: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not PEER.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    assert deeploy.main(["run", str(PEER), "--platform", "siracusa", "--engines", engines]) == 0
    out = capsys.readouterr().out
    assert ", 0 failed, 0 skipped" in out
    assert ("npu: " in out) == (engines != "cluster")
    if engines == "npu":
        _assert_on_the_npu(out, NPU_CASES)


@pytest.mark.slow
@pytest.mark.parametrize(("platform", "folder"), [
    ("generic", PEER),
    ("rv32-virt", PEER / "Kernels" / "Integer"),  # the engine's C model bare-metal on QEMU
])  # fmt: skip
def test_peers_run_with_the_npu(
    platform: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not folder.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    assert deeploy.main(["run", str(folder), "--platform", platform, "--engines", "npu"]) == 0
    out = capsys.readouterr().out
    assert ", 0 failed, 0 skipped" in out
    _assert_on_the_npu(out, NPU_CASES)


def _assert_on_the_npu(out: str, cases: tuple[str, ...]) -> None:
    for case in cases:
        line = next(
            x
            for x in out.splitlines()
            if f"Integer/{case} [" in x or x.startswith(f"PASS {case} [")
        )
        assert line.startswith("PASS") and "npu: " in line, line


def test_auto_puts_a_job_where_the_model_says_it_is_faster() -> None:
    """Hand-computed: with call 10, fork 20, 2 MACs/cycle/core at efficiency 1, 1 cycle
    per element on 2 cores, the cluster takes 2·(10+20) + macs/4 + outputs/2; the NPU 100
    + macs/50 (+ transposes: 2·10 + elements); its weights stay in its memory."""
    from xdeeploy.passes.dnn_map_engines import JobCost, npu_is_faster
    from xdeeploy.platforms.cost_model import PARAMETERS, CostModel, Parameter

    values = {"call_cycles": 10, "fork_cycles": 20, "int8_macs_per_cycle": 2,
              "mac_efficiency": 1, "element_cycles": 1, "npu_job_cycles": 100,
              "npu_macs_per_cycle": 50, "dma_setup_cycles": 5, "dma_bytes_per_cycle": 4}  # fmt: skip
    model = CostModel({k: Parameter(float(values.get(k, 1)), "test") for k in PARAMETERS})
    # 4000 MACs, 100 outputs: cluster 60 + 1000 + 50 = 1110; NPU 100 + 80 = 180
    assert npu_is_faster(JobCost(4000, 100, 2048, 0), model, cores=2)
    # 200 MACs: cluster 60 + 50 + 50 = 160; NPU 100 + 4 = 104
    assert npu_is_faster(JobCost(200, 100, 2048, 0), model, cores=2)
    # 40 MACs, 10 outputs: cluster 60 + 10 + 5 = 75; NPU 100 + 0.8
    assert not npu_is_faster(JobCost(40, 10, 2048, 0), model, cores=2)
    # the transposes of a convolution count: 180 + 20 + 1000 = 1200 > 1110
    assert not npu_is_faster(JobCost(4000, 100, 2048, 1000), model, cores=2)
    # weights loaded at run time: 4 jobs of 500 MACs (cluster 60 + 500 + 50 = 610) cost
    # 4·100 + 40 + 4·5 + 512/4 = 588 on the NPU; with twice the bytes 716
    assert npu_is_faster(JobCost(2000, 100, 0, 0, jobs=4, loaded_bytes=512), model, cores=2)
    assert not npu_is_faster(JobCost(2000, 100, 0, 0, jobs=4, loaded_bytes=1024), model, cores=2)


def test_auto_needs_a_cost_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = _case(tmp_path / "rq", 256)
    assert deeploy.main(["run", str(case), "--platform", "generic", "--engines", "auto"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --engines auto needs a cost model: platform 'generic' has none")


def test_qdq_projections_run_on_the_npu(tmp_path: Path) -> None:
    """The int8 Llama's projections (dnn-lower-qdq: an int32 widening of the 8-bit
    activation, then the matmul by int8 weights, rescaled in float after) map as NPU
    jobs into int32 accumulators: one decoding step computes the cluster build's bits."""
    from conftest import tiny_int8_llama

    from xdeeploy.tools.build import build_shared_library, compile_model
    from xdeeploy.tools.host import HostLibrary

    model = onnx.load(tiny_int8_llama(tmp_path))
    r = np.random.default_rng(0)
    inputs: list[Array] = []
    for value in model.graph.input:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if value.type.tensor_type.elem_type == TensorProto.INT64:
            inputs.append(np.full(shape, 2, dtype=np.int64))
        else:
            inputs.append((r.standard_normal(shape) * 0.1).astype(np.float32))
    outputs, names = [], []
    for engines in ("cluster", "npu"):
        build = compile_model(model, tmp_path / engines, l1=64000, cores=8, engines=engines)
        outputs.append(HostLibrary(build, build_shared_library(build)).run(inputs))
        names.append(build.kernel_names())
    assert names[1].startswith("npu: matmul;") and "gemv_int" not in names[1]
    assert "npu" not in names[0]
    for c, n in zip(*outputs, strict=True):
        assert c.tobytes() == n.tobytes()


def test_the_report_counts_the_npu_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resident weights: 20 columns x 40 rows packed into [32, 64]; weights loaded at
    run time (40 x 36, one buffer for both batches) into a [64, 64] arena. The tiling
    table lists each job as the NPU's."""
    r = np.random.default_rng(3)
    resident = _case(tmp_path / "rq", 256)
    a = r.integers(-128, 128, (2, 5, 40)).astype(np.float32)
    b = r.integers(-128, 128, (2, 40, 36)).astype(np.float32)
    want = iref.matmul(a.astype(np.int64), b.astype(np.int64))
    loaded = _save(tmp_path / "mm", [helper.make_node("MatMul", ["a", "b"], ["y"])], [],
                   {"a": a, "b": b}, "y", want)  # fmt: skip
    for case, line in ((resident, "2048 B of resident weights, 0 B arena"),
                       (loaded, "0 B of resident weights, 4096 B arena")):  # fmt: skip
        args = ["compile", str(case / "network.onnx"), "--inputs", str(case / "inputs.npz"),
                "--platform", "siracusa", "--engines", "npu", "--report", "-o",
                str(tmp_path / "build")]  # fmt: skip
        assert deeploy.main(args) == 0
        out = capsys.readouterr().out
        assert f"NPU memory: {line} for weights loaded at run time" in out
        # the tiling table names the job its rows go through L1 for
        rows = [row.split() for row in out.splitlines() if row.split()[1:2] == ["npu.matmul"]]
        assert len(rows) == 1
    # both batches' jobs move their rows: 2 · (5 · 40 B in + 5 · 36 · 4 B out)
    assert rows[0][4] == str(2 * (5 * 40 + 5 * 36 * 4))


def test_npu_row_tiles_are_staged_through_l1_by_dma(tmp_path: Path) -> None:
    """With siracusa's memory hierarchy the engine reads L1: dnn-tile cuts a 64-row job
    (200 B of A and 40 B of result per row) into row tiles for a 4,000 B L1, each fetched
    by DMA around its job. The buffer interpreter, where a DMA destination is poisoned
    until its wait, computes integer_reference's bits."""
    from xdsl.dialects import scf

    from xdeeploy.dialects import dma, npu
    from xdeeploy.interp.run_buffers import run_buffers
    from xdeeploy.tools.build import lower
    from xdeeploy.tools.cases import InputType

    rows, k, n = 64, 200, 40
    r = np.random.default_rng(9)
    mul = r.integers(1, 256, n).astype(np.float32)
    add = r.integers(-(2**14), 2**14, n).astype(np.float32)
    model = _rq_matmul(rows, k, n, mul, add, 2**12)
    x = r.integers(-128, 128, (1, rows, k)).astype(np.float32)
    w = numpy_helper.to_array(model.graph.initializer[0])
    want = iref.requant_shift(iref.matmul(x.astype(np.int64), w.astype(np.int64)),
                              mul.astype(np.int64), add.astype(np.int64), div=2**12,
                              n_levels=256, signed=True)  # fmt: skip
    module, _ = lower(model, l1=4000, input_types={"x": InputType(np.dtype(np.int8))},
                      engines="npu")  # fmt: skip
    jobs = [op for op in module.walk() if op.name == "kernel.call"
            and op.kernel == "xd_npu_matmul"]  # type: ignore[attr-defined]  # fmt: skip
    assert len(jobs) == 1 and isinstance(jobs[0].parent_op(), scf.ForOp)
    assert any(isinstance(op, dma.StartOp) for op in module.walk())
    assert not any(isinstance(op, npu.MatmulOp) for op in module.walk())
    (got,) = run_buffers(module, [x.astype(np.int8)])
    assert np.array_equal(got, want.astype(np.int8))


def test_batched_jobs_are_staged_through_l1_each(tmp_path: Path) -> None:
    """Two activations: every one of the 4 batches loads its B into the engine's memory,
    then runs its rows through L1 in tiles (a 3,000 B L1 for 48 rows of 64 + 4 · 40 B)."""
    from xdsl.dialects import scf

    from xdeeploy.interp.run_buffers import run_buffers
    from xdeeploy.tools.build import lower
    from xdeeploy.tools.cases import InputType

    r = np.random.default_rng(4)
    a = r.integers(-128, 128, (4, 48, 64)).astype(np.int8)
    b = r.integers(-128, 128, (4, 64, 40)).astype(np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], "bmm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [4, 48, 64]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 64, 40])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 48, 40])],
    )  # fmt: skip
    int8 = InputType(np.dtype(np.int8))
    module, _ = lower(helper.make_model(graph), l1=3000, input_types={"a": int8, "b": int8},
                      engines="npu")  # fmt: skip
    calls = [op for op in module.walk() if op.name == "kernel.call"]
    jobs = [c for c in calls if c.kernel == "xd_npu_matmul"]  # type: ignore[attr-defined]
    loads = [c for c in calls if c.kernel == "xd_npu_load_weights"]  # type: ignore[attr-defined]
    assert len(jobs) == 4 and len(loads) == 4
    assert all(isinstance(j.parent_op(), scf.ForOp) for j in jobs)
    (got,) = run_buffers(module, [a, b])
    assert np.array_equal(got, iref.matmul(a, b).astype(np.int32))


@pytest.mark.parametrize(("l1", "staged"), [(4000, True), (300, False)])
def test_a_convolution_in_the_engines_mode_is_staged_whole_when_it_fits(
    l1: int, staged: bool, tmp_path: Path
) -> None:
    """A 3x3 convolution's input (5 x 7 x 5 B) and requantized output (9 x 7 x 5 B) fit
    4,000 B of L1: DMA transfers move them there transposed (no cluster kernel left);
    in 300 B they do not, and the job reads HWC buffers the cluster transposes in L2.
    Either way the DMA-checking interpreter computes integer_reference's bits."""
    from xdeeploy.dialects import dma
    from xdeeploy.interp.run_buffers import run_buffers
    from xdeeploy.tools.build import lower
    from xdeeploy.tools.cases import InputType

    case = _rq_conv(tmp_path / "conv", "dense", 1, True)
    model = onnx.load(case / "network.onnx")
    x = np.load(case / "inputs.npz")["input_0"].astype(np.int8)
    want = np.load(case / "outputs.npz")["output_0"].astype(np.int8)
    module, _ = lower(model, l1=l1, input_types={"x": InputType(np.dtype(np.int8))},
                      engines="npu")  # fmt: skip
    kernels = {op.kernel for op in module.walk() if op.name == "kernel.call"}  # type: ignore[attr-defined]
    assert "xd_npu_conv2d" in kernels
    assert ("xd_strided_copy" not in kernels) == staged
    assert any(isinstance(op, dma.StartOp) for op in module.walk()) == staged
    (got,) = run_buffers(module, [x])
    assert np.array_equal(got, want)


def test_generate_decodes_on_siracusa_with_the_npu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The int8 Llama's decoding loop with its KV cache, its projections NPU jobs: the
    logits are the interpreter's bits at every step, and the cost model gives the
    modeled time per token."""
    from conftest import tiny_int8_llama

    path = tiny_int8_llama(tmp_path)
    capsys.readouterr()
    argv = ["generate", str(path), "--platform", "siracusa", "--engines", "npu", "--steps", "3",
            "--check"]  # fmt: skip
    assert deeploy.main(argv) == 0
    out = capsys.readouterr().out
    assert "kernels npu: matmul;" in out
    assert "max logit difference 0 (tolerance 0, bit-exact)" in out
    assert "cost MODEL (not a measurement):" in out and "uJ/token" in out


def test_generate_takes_engines_on_siracusa_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["generate", str(tmp_path / "q.onnx"), "--platform", "generic", "--engines", "npu"]
    assert deeploy.main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --engines is for --platform siracusa, not generic"
    )
