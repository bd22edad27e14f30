"""`deeploy run` / `deeploy reference`: case discovery, npz binding, types, comparison."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from xdeeploy.errors import DeeployError
from xdeeploy.frontend.onnx import load_model
from xdeeploy.tools import deeploy, engines
from xdeeploy.tools.cases import (
    ExpectedOutput,
    InputType,
    bind_inputs,
    bind_outputs,
    compare_output,
    discover_cases,
    infer_input_type,
    load_npz,
    parse_input_type,
)

REPO = Path(__file__).resolve().parents[1]
PEER = REPO.parent / "shared" / "peer-tests" / "deeploy"
F32 = TensorProto.FLOAT


# ----------------------------------------------------------------------------- helpers


def make_model(
    op_type: str,
    inputs: Sequence[tuple[str, Sequence[int]]],
    output_shape: Sequence[int],
    *,
    domain: str = "",
    initializers: Sequence[onnx.TensorProto] = (),
) -> onnx.ModelProto:
    """One `op_type` node reading `inputs` (float32) and the initializers."""
    node = helper.make_node(
        op_type, [n for n, _ in inputs] + [t.name for t in initializers], ["y"], domain=domain
    )
    graph = helper.make_graph(
        [node],
        f"{op_type.lower()}_graph",
        [helper.make_tensor_value_info(n, F32, list(s)) for n, s in inputs],
        [helper.make_tensor_value_info("y", F32, list(output_shape))],
        initializer=list(initializers),
    )
    opsets = [helper.make_opsetid("", 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    return helper.make_model(graph, opset_imports=opsets)


def write_case(
    folder: Path,
    model: onnx.ModelProto,
    inputs: Sequence[np.ndarray],
    outputs: Sequence[np.ndarray],
) -> Path:
    """A case in Deeploy's layout, with Deeploy's `input_N` / `output_N` keys."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "network.onnx")
    in_arrays: dict[str, Any] = {f"input_{i}": a for i, a in enumerate(inputs)}
    out_arrays: dict[str, Any] = {f"output_{i}": a for i, a in enumerate(outputs)}
    np.savez(folder / "inputs.npz", **in_arrays)
    np.savez(folder / "outputs.npz", **out_arrays)
    return folder


def add_case(folder: Path, *, wrong: bool = False) -> Path:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 4))
    expected = a + b + (1.0 if wrong else 0.0)
    return write_case(
        folder, make_model("Add", [("a", (4, 4)), ("b", (4, 4))], (4, 4)), [a, b], [expected]
    )


def int_add_case(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    a, b = rng.integers(-100, 100, (2, 2, 3, 5)).astype(np.float32)
    model = make_model("Add", [("a", (2, 3, 5)), ("b", (2, 3, 5))], (2, 3, 5))
    return write_case(folder, model, [a, b], [a + b])


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "xdeeploy.tools.deeploy", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- CLI: run


def test_run_passing_case(tmp_path: Path) -> None:
    add_case(tmp_path / "add")
    result = run_cli("run", tmp_path / "add", "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"PASS {tmp_path / 'add'} [onnxruntime]")
    assert last_line(result.stdout) == "1 passed, 0 failed, 0 skipped"


def test_run_model_with_inputs_and_expect(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 8)).astype(np.float32)
    b = rng.standard_normal((8, 5)).astype(np.float32)
    onnx.save(make_model("MatMul", [("a", (3, 8)), ("b", (8, 5))], (3, 5)), tmp_path / "mm.onnx")
    # Flattened arrays, as Deeploy stores them, under arbitrary keys.
    np.savez(tmp_path / "in.npz", arr_0=a.ravel(), arr_1=b.ravel())
    np.savez(tmp_path / "out.npz", arr_0=(a @ b).ravel())
    result = run_cli(
        "run", "mm.onnx", "--inputs", "in.npz", "--expect", "out.npz",
        "--platform", "onnxruntime", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS mm.onnx [onnxruntime] (max abs diff")
    assert last_line(result.stdout) == "1 passed, 0 failed, 0 skipped"


def test_run_integer_case_is_exact(tmp_path: Path) -> None:
    int_add_case(tmp_path / "iadd")
    result = run_cli("run", ".", "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "PASS iadd [onnxruntime] (exact)"


def test_run_failing_case(tmp_path: Path) -> None:
    add_case(tmp_path / "bad", wrong=True)
    result = run_cli("run", tmp_path, "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL bad: output 'y' max abs diff 1 at index [")
    assert "(tol " in lines[0]
    assert lines[-1] == "0 passed, 1 failed, 0 skipped"


def test_run_custom_op_is_skipped(tmp_path: Path) -> None:
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    model = make_model("RequantShift", [("x", (4, 4))], (4, 4))
    write_case(tmp_path / "rq", model, [x], [x])
    result = run_cli("run", tmp_path, "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "SKIP rq: onnxruntime lacks custom op RequantShift (domain '')",
        "0 passed, 0 failed, 1 skipped",
    ]


def test_run_too_few_arrays_fails_the_case(tmp_path: Path) -> None:
    case = add_case(tmp_path / "add")
    np.savez(case / "inputs.npz", input_0=np.zeros((4, 4)), empty=np.zeros((0,)))
    result = run_cli("run", tmp_path, "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL add: input 'b' has no data")
    assert lines[-1] == "0 passed, 1 failed, 0 skipped"


def test_run_truncated_onnx_fails_the_case(tmp_path: Path) -> None:
    case = add_case(tmp_path / "cut")
    data = (case / "network.onnx").read_bytes()
    (case / "network.onnx").write_bytes(data[: len(data) // 2])
    result = run_cli("run", tmp_path, "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("FAIL cut: ")
    assert "network.onnx" in result.stdout.splitlines()[0]
    assert "Traceback" not in result.stderr


def test_run_discovers_nested_cases_sorted(tmp_path: Path) -> None:
    int_add_case(tmp_path / "suite" / "b" / "deep" / "int")
    add_case(tmp_path / "suite" / "a")
    (tmp_path / "suite" / "notes").mkdir()  # folders without a case are ignored
    result = run_cli("run", "suite", "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == ["a", "b/deep/int"]
    assert lines[-1] == "2 passed, 0 failed, 0 skipped"


def test_run_folder_without_cases_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("run", "empty", "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: empty: no test cases below")
    assert len(result.stderr.splitlines()) == 1


# ----------------------------------------------------------------------------- CLI: reference


def test_reference_writes_outputs_in_graph_order(tmp_path: Path) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [helper.make_node("Neg", ["x"], ["zeta"]), helper.make_node("Abs", ["x"], ["alpha"])]
    graph = helper.make_graph(
        nodes,
        "two_outputs",
        [helper.make_tensor_value_info("x", F32, [2, 3])],
        [helper.make_tensor_value_info(n, F32, [2, 3]) for n in ("zeta", "alpha")],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx"
    )
    np.savez(tmp_path / "in.npz", x=x)
    result = run_cli("reference", "m.onnx", "--inputs", "in.npz", "-o", "out/o.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "out" / "o.npz") as out:
        assert out.files == ["zeta", "alpha"]
        np.testing.assert_array_equal(out["zeta"], -x)
        np.testing.assert_array_equal(out["alpha"], np.abs(x))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["o.npz"]  # no temp left


def test_reference_truncated_onnx_is_one_line(tmp_path: Path) -> None:
    add_case(tmp_path / "add")
    data = (tmp_path / "add" / "network.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    result = run_cli(
        "reference", "cut.onnx", "--inputs", "add/inputs.npz", "-o", "o.npz", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: 'cut.onnx' is not a valid ONNX model")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o.npz").exists()


def test_reference_custom_op_is_an_error(tmp_path: Path) -> None:
    model = make_model("iSoftmax", [("x", (4,))], (4,))
    write_case(tmp_path / "c", model, [np.zeros(4)], [np.zeros(4)])
    result = run_cli(
        "reference", "c/network.onnx", "--inputs", "c/inputs.npz", "-o", "o.npz", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "lacks custom op iSoftmax (domain '')" in result.stderr
    assert "try --engine" in result.stderr and "interp" in result.stderr
    assert not (tmp_path / "o.npz").exists()


# ----------------------------------------------------------------------------- in-process


class _BrokenEngine:
    name = "broken"

    def can_run(self, model: onnx.ModelProto) -> str | None:
        return None

    def run(
        self,
        model: onnx.ModelProto,
        model_path: Path,
        inputs: list[np.ndarray],
        options: engines.RunOptions,
    ) -> list[np.ndarray]:
        raise ValueError("boom\nsecond line")


def test_internal_error_is_one_fail_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_case(tmp_path / "add")
    monkeypatch.setitem(engines.ENGINES, "onnxruntime", _BrokenEngine)
    assert deeploy.main(["run", str(tmp_path), "--platform", "onnxruntime"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "FAIL add: internal error: ValueError: boom second line",
        "0 passed, 1 failed, 0 skipped",
    ]
    assert "Traceback" not in captured.err
    assert deeploy.main(["run", str(tmp_path), "--platform", "onnxruntime", "--traceback"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_missing_engine_module_is_a_deeploy_error() -> None:
    factory = engines.lazy_engine("ghost", "xdeeploy.no_such_module:Engine")
    with pytest.raises(DeeployError, match="engine 'ghost' is not available"):
        factory()


def test_siracusa_runs_functionally_on_its_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tiled for Siracusa's L1 and split across its 8 cores; the line says so."""
    case = add_case(tmp_path / "add")
    assert deeploy.main(["run", str(case), "--platform", "siracusa"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "[siracusa: cluster (8 cores): " in out


# ----------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (np.array([-3.0, 0.0, 100.0]), "int8"),  # small integer-valued floats
        (np.array([-16377, 16380], dtype=np.int64), "int16"),  # Kernels/Integer/Concat
        (np.arange(256, dtype=np.float32), "uint8"),
        (np.array([0, 40000]), "uint16"),
        (np.array([-1, 40000]), "int32"),
        (np.array([0.5, 1.0]), "float32"),
        (np.zeros((1, 16, 1, 4), dtype=np.float32), "float32"),  # float zeros stay float
        (np.zeros(2, dtype=np.int64), "uint8"),  # the microLlama INT8 mask
        (np.array([0, 127]), "uint8"),  # non-negative: unsigned first, as Deeploy
        (np.array([np.inf, 1.0]), "float32"),
        (np.array([1.0, np.nan]), "float32"),
    ],
)
def test_infer_input_type(data: np.ndarray, expected: str) -> None:
    assert infer_input_type(data) == np.dtype(expected)


def test_parse_input_type() -> None:
    assert parse_input_type("x=uint8,128") == ("x", InputType(np.dtype("uint8"), 128))
    assert parse_input_type("input_0=int16_t") == ("input_0", InputType(np.dtype("int16")))
    with pytest.raises(DeeployError, match="expected NAME=TYPE"):
        parse_input_type("x=int12")
    with pytest.raises(DeeployError, match="OFFSET must be an integer"):
        parse_input_type("x=int8,one")


# ----------------------------------------------------------------------------- binding


def test_bind_inputs_skips_initializers_empties_and_extras() -> None:
    w = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), "w")
    model = make_model("Sum", [("a", (2, 2)), ("b", (2, 2))], (2, 2), initializers=[w])
    model.graph.input.append(helper.make_tensor_value_info("w", F32, [2, 2]))  # IR<4 style
    a, b = np.arange(4.0), np.full(4, 7, dtype=np.int64)
    arrays = load_like_npz([("first", a), ("extra", b), ("ignored", np.zeros(3))])
    bound = bind_inputs(model, arrays)
    assert [x.name for x in bound] == ["a", "b"]
    assert bound[0].data.shape == (2, 2) and bound[0].data.dtype == np.float32
    assert bound[1].data.dtype == np.float32  # ONNX dtype for the reference engines
    # C type from the data: 7 is non-negative, and Deeploy tries unsigned types first.
    assert bound[1].type == InputType(np.dtype("uint8"))


def load_like_npz(arrays: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """What load_npz returns: file order, empty arrays dropped."""
    return [(k, a) for k, a in arrays if a.size]


def test_load_npz_keeps_file_order_and_drops_empties(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", zz=np.ones(2), empty=np.zeros(0), aa=np.ones(3))
    assert [k for k, _ in load_npz(tmp_path / "x.npz")] == ["zz", "aa"]


def test_bind_inputs_errors_name_the_input() -> None:
    model = make_model("Add", [("a", (2, 2)), ("b", (2, 2))], (2, 2))
    with pytest.raises(DeeployError, match="input 'b' has no data"):
        bind_inputs(model, [("x", np.zeros(4))])
    with pytest.raises(DeeployError, match="input 'a': the model declares shape 2x2 .* 5"):
        bind_inputs(model, [("x", np.zeros(5)), ("y", np.zeros(4))])
    with pytest.raises(DeeployError, match="--input-type c: the model has no input"):
        bind_inputs(
            model, [("x", np.zeros(4)), ("y", np.zeros(4))], {"c": InputType(np.dtype("int8"))}
        )


def test_bind_inputs_override_and_deeploy_names() -> None:
    model = make_model("Add", [("a", (2,)), ("b", (2,))], (2,))
    arrays = [("x", np.array([0.0, 200.0])), ("y", np.array([1.0, 2.0]))]
    bound = bind_inputs(model, arrays, {"input_1": InputType(np.dtype("uint8"), 3)})
    assert [b.type for b in bound] == [
        InputType(np.dtype("uint8")),
        InputType(np.dtype("uint8"), 3),
    ]
    with pytest.raises(DeeployError, match="does not fit --input-type int8"):
        bind_inputs(model, arrays, {"a": InputType(np.dtype("int8"))})


def test_bind_outputs_in_order() -> None:
    model = make_model("Add", [("a", (2, 2)), ("b", (2, 2))], (2, 2))
    (out,) = bind_outputs(model, [("output_0", np.arange(4)), ("extra", np.zeros(1))])
    assert out.name == "y" and out.exact and out.data.shape == (2, 2)
    with pytest.raises(DeeployError, match="output 'y' has no expected data"):
        bind_outputs(model, [])


# ----------------------------------------------------------------------------- comparison


def test_compare_float_tolerance_scales_with_magnitude() -> None:
    want = np.array([0.5, 1000.0])
    ok = compare_output(ExpectedOutput("y", want, exact=False), want + [9e-5, 0.09])
    assert ok.error is None
    bad = compare_output(ExpectedOutput("y", want, exact=False), want + [2e-4, 0.0])
    assert bad.error is not None and "at index [0]" in bad.error and "(tol 0.0001)" in bad.error


def test_compare_integers_bit_exact() -> None:
    want = np.array([[1, 2], [3, 4]], dtype=np.int32)
    assert (
        compare_output(ExpectedOutput("y", want, exact=True), want.astype(np.float32)).error is None
    )
    got = want.astype(np.float32) + [[0, 0], [0, 1e-3]]
    error = compare_output(ExpectedOutput("y", want, exact=True), got).error
    assert error is not None and "at index [1, 1] (tol 0)" in error


def test_discovery_rejects_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DeeployError, match="not a case folder"):
        discover_cases([str(tmp_path / "nope")])


def test_load_model_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(DeeployError, match="holds no ONNX graph"):
        load_model(tmp_path / "e.onnx")


# ----------------------------------------------------------------------------- peer tests


def test_peer_fp32_kernels_on_onnxruntime(tmp_path: Path) -> None:
    if not PEER.is_dir():
        pytest.skip(f"peer tests not found at {PEER}")
    result = run_cli("run", PEER / "Kernels" / "FP32", "--platform", "onnxruntime", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].endswith(" 0 failed, 1 skipped"), lines[-1]
    skipped = [line for line in lines if line.startswith("SKIP")]
    assert skipped == [
        "SKIP RMSNorm/single_fused_op: onnxruntime lacks custom op RMSNorm (domain '')"
    ]


def _peer_root() -> Path:
    if not PEER.is_dir():
        pytest.skip(f"Deeploy peer tests not found at {PEER}")
    return PEER


def test_every_peer_network_on_interp() -> None:
    """Issue acceptance: every case folder below the peer tests, float and integer."""
    result = run_cli("run", str(_peer_root()), "--platform", "interp", cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "31 passed, 0 failed, 0 skipped"


def test_every_peer_network_on_generic() -> None:
    """Issue acceptance: every case compiled to C, built with gcc and run bit-exact
    (integer networks typed from their data as Deeploy types them)."""
    result = run_cli("run", str(_peer_root()), "--platform", "generic", cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "31 passed, 0 failed, 0 skipped"
    # Each line names the kernels the case ran: integer networks run integer kernels.
    (attention,) = [line for line in lines if "Kernels/Integer/Attention " in line]
    for kernel in ("isoftmax", "matmul_int", "requant_shift"):
        assert kernel in attention, attention
    assert "_f32" not in attention, attention
