"""`rv32-virt`: the generated C, cross-compiled for bare-metal RV32 and run on QEMU on 1
or 8 harts, computes the host's bits (integers and floats alike) and reports its
instructions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import PEER, peer_case, tiny_int8_llama
from onnx import TensorProto, helper, numpy_helper
from xdsl.context import Context

from xdeeploy.errors import DeeployError
from xdeeploy.frontend.models.llama import PRESETS, build_llama, random_weights
from xdeeploy.lowering.generic_pipeline import lower_for_host
from xdeeploy.tools import deeploy
from xdeeploy.tools.build import compile_module
from xdeeploy.tools.host import build_and_load
from xdeeploy.tools.rv32 import CC, QEMU, Rv32Program, Rv32Run, run_build
from xdeeploy.tools.typed_import import import_typed

pytestmark = pytest.mark.skipif(
    shutil.which(CC) is None or shutil.which(QEMU) is None,
    reason=f"{CC} / {QEMU} not installed (scripts/setup.sh installs them)",
)


def _rv32(
    model: onnx.ModelProto, inputs: list[np.ndarray], folder: Path, l1: int = 0, cores: int = 1
) -> Rv32Run:
    module = import_typed(model, {})
    records = lower_for_host(Context(), module, l1, 0, cores)
    build = compile_module(module, folder, tiling=records, l1=l1)
    return Rv32Program(build, cores).run(inputs)


def _float_model() -> onnx.ModelProto:
    """exp/tanh/erf-based ops, a softmax, a layer norm and a matmul with K = 13: the
    float paths where summation order and libm would show."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((13, 24)).astype(np.float32), "w")
    scale = numpy_helper.from_array(rng.standard_normal((24,)).astype(np.float32), "scale")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Tanh", ["m"], ["t"]),
        helper.make_node("Erf", ["m"], ["e"]),
        helper.make_node("Add", ["t", "e"], ["s"]),
        helper.make_node("Softmax", ["s"], ["p"], axis=-1),
        helper.make_node("LayerNormalization", ["p", "scale"], ["y"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "floats",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 13])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 24])],
        initializer=[w, scale],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("cores", [1, 8])
@pytest.mark.parametrize("l1", [0, 2000])
def test_float_graph_is_bit_identical_to_the_host(l1: int, cores: int, tmp_path: Path) -> None:
    model = _float_model()
    x = np.random.default_rng(1).standard_normal((8, 13)).astype(np.float32)
    host = build_and_load(model, tmp_path / "host", l1=l1).run([x])[0]
    run = _rv32(model, [x], tmp_path / "rv32", l1, cores)
    assert np.array_equal(run.outputs[0], host)
    assert run.instructions > 0


@pytest.mark.parametrize("cores", [1, 8])
def test_tiny_llama_step_is_bit_identical_to_the_host(cores: int, tmp_path: Path) -> None:
    config = PRESETS["tiny"]
    model = build_llama(config, random_weights(config, seed=0))
    inputs = [np.array([3], dtype=np.int64), np.array([0], dtype=np.int64)]
    for value in model.graph.input[2:]:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        inputs.append(np.zeros(shape, dtype=np.float32))
    host = build_and_load(model, tmp_path / "host", l1=64000).run(inputs)
    run = _rv32(model, inputs, tmp_path / "rv32", 64000, cores)
    for got, want in zip(run.outputs, host, strict=True):
        assert np.array_equal(got, want)
    if cores > 1 and run.per_hart:  # the plugin counted: every hart worked
        assert len(run.per_hart) == cores and min(run.per_hart) > 0


def test_instruction_count_is_deterministic(tmp_path: Path) -> None:
    model = _float_model()
    x = np.ones((8, 13), dtype=np.float32)
    first = _rv32(model, [x], tmp_path / "a").instructions
    second = _rv32(model, [x], tmp_path / "b").instructions
    assert first == second > 1000


def test_a_trap_is_one_line_naming_the_cause(tmp_path: Path) -> None:
    model = _float_model()
    x = np.ones((8, 13), dtype=np.float32)
    module = import_typed(model, {})
    lower_for_host(Context(), module)
    build = compile_module(module, tmp_path / "b")
    # An illegal instruction in place of the network's entry: the trap handler reports it.
    network = build.folder / "network.c"
    network.write_text(network.read_text().replace("{", '{ __asm__ volatile(".word 0");', 1))
    with pytest.raises(DeeployError, match=r"trap mcause 0x00000002") as info:
        run_build(build, [x])
    assert "\n" not in str(info.value)


FAST_PEERS = [
    "Kernels/Integer/Attention",
    "Kernels/Integer/MatMul/Regular_RQ",
    "Kernels/FP32/Softmax/Regular",
    "Models/microLlama/INT8/microLlama1",
]


@pytest.mark.parametrize("cores", ["1", "8"])
@pytest.mark.parametrize("case", FAST_PEERS)
def test_peer_runs_bare_metal(case: str, cores: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = peer_case(case)
    assert deeploy.main(["run", str(folder), "--platform", "rv32-virt", "--cores", cores]) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 failed" in out and " instructions]" in out


@pytest.mark.slow
@pytest.mark.parametrize("cores", ["1", "8"])
def test_every_peer_runs_bare_metal(cores: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not PEER.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    assert deeploy.main(["run", str(PEER), "--platform", "rv32-virt", "--cores", cores]) == 0
    assert ", 0 failed, 0 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("cores", ["1", "8"])
def test_generate_int8_llama_is_bit_exact_on_rv32(
    cores: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_int8_llama(tmp_path)
    capsys.readouterr()
    argv = ["generate", str(path), "--platform", "rv32-virt", "--steps", "4", "--check",
            "--cores", cores]  # fmt: skip
    assert deeploy.main(argv) == 0
    out = capsys.readouterr().out
    assert "max logit difference 0 (tolerance 0, bit-exact)" in out
    per_token = int(out.split(" instructions/token")[0].rsplit(" ", 1)[1])
    assert per_token > 100_000


@pytest.mark.slow
def test_stories15m_fits_and_is_bit_exact_on_rv32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The largest preset: 40 MB of weights and arenas in the QEMU machine's memory."""
    path = tmp_path / "q.onnx"
    argv = ["model", "llama", "--preset", "stories15m", "--quant", "int8", "-o", str(path)]
    assert deeploy.main(argv) == 0
    argv = ["generate", str(path), "--platform", "rv32-virt", "--steps", "2", "--check"]
    assert deeploy.main(argv) == 0
    assert "max logit difference 0 (tolerance 0, bit-exact)" in capsys.readouterr().out
