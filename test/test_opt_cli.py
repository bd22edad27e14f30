"""`deeploy-opt` and stock `xdsl-opt` as a user runs them: round trips and one-line errors."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import BIN, peer_case
from onnx import TensorProto, helper, numpy_helper


def run(tool: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    opset: int = 17,
    extra_opsets: Sequence[onnx.OperatorSetIdProto] = (),
) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *extra_opsets])


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])


def save(tmp_path: Path, m: onnx.ModelProto, name: str = "m.onnx") -> Path:
    path = tmp_path / name
    onnx.save(m, path)
    return path


# ---------------------------------------------------------------------------- round trips


def test_tinyvit_import_print_parse_is_stable(tmp_path: Path) -> None:
    network = peer_case("Models/TinyViT/Demo") / "network.onnx"
    a, b = tmp_path / "a.mlir", tmp_path / "b.mlir"
    assert run("deeploy-opt", network, "-o", a).returncode == 0
    assert run("deeploy-opt", a, "-o", b).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert "dnn.conv" in a.read_text() and "#dnn.weights<" in a.read_text()


def test_import_is_deterministic(tmp_path: Path) -> None:
    network = peer_case("Models/microLlama/FP32/microLlama1") / "network.onnx"
    first = run("deeploy-opt", network)
    second = run("deeploy-opt", network)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


def test_stock_xdsl_opt_sees_our_dialect_and_pass(tmp_path: Path) -> None:
    source = tmp_path / "in.mlir"
    source.write_text(
        "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
        "  %r = dnn.reshape %x : tensor<4xf32> -> tensor<4xf32>\n"
        "  %c = dnn.constant dense<[1.0, 4.0, 9.0, 16.0]> : tensor<4xf32>\n"
        "  %s = dnn.sqrt %c : tensor<4xf32>\n"
        "  %y = dnn.add %r, %s : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>\n"
        "  func.return %y : tensor<4xf32>\n}\n"
    )
    result = run("xdsl-opt", "-p", "dnn-canonicalize", source)
    assert result.returncode == 0, result.stderr
    assert "dnn.reshape" not in result.stdout
    assert "dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]>" in result.stdout
    assert "dnn.add %x, %s" in result.stdout


def test_weights_survive_a_second_parse_in_one_process(tmp_path: Path) -> None:
    """Unlike xDSL's dense_resource, parsing the same text twice keeps the data."""
    from xdsl.context import Context
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func
    from xdsl.parser import Parser

    from xdeeploy.dialects import dnn
    from xdeeploy.frontend.onnx import import_model

    w = np.arange(64, dtype=np.float32).reshape(8, 8)
    m = model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
        [numpy_helper.from_array(w, "w")],
    )
    text = str(import_model(m))
    ctx = Context()
    for dialect in (Builtin, Func, dnn.DNN):
        ctx.load_dialect(dialect)
    for _ in range(2):
        parsed = Parser(ctx, text).parse_module()
        (const,) = [op for op in parsed.walk() if isinstance(op, dnn.ConstantOp)]
        np.testing.assert_array_equal(dnn.constant_value(const.value), w)


# ---------------------------------------------------------------------------- bad input


def test_unsupported_op_names_node_and_domain(tmp_path: Path) -> None:
    m = model(
        [helper.make_node("Foo", ["x"], ["y"], name="weird", domain="bar")],
        [X],
        [Y],
        extra_opsets=[helper.make_opsetid("bar", 1)],
    )
    out = tmp_path / "out.mlir"
    result = run("deeploy-opt", save(tmp_path, m), "-o", out)
    assert_one_line_error(result, "node 'weird' (OpType 'Foo', domain 'bar'): not supported")
    assert not out.exists()


def test_truncated_onnx(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((3, 3), np.float32), "w")
    data = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [X], [Y], [w]).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run("deeploy-opt", path), "cut.onnx")


def test_not_an_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00\xff" * 100)
    assert_one_line_error(run("deeploy-opt", path), "junk.onnx", "not a valid ONNX model")


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(run("deeploy-opt", tmp_path / "nope.onnx"), "nope.onnx")


def test_symbolic_dimension_needs_dim(tmp_path: Path) -> None:
    xs = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    ys = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    path = save(tmp_path, model([helper.make_node("Relu", ["x"], ["y"])], [xs], [ys]))
    assert_one_line_error(run("deeploy-opt", path), "'batch'", "--dim batch=")
    ok = run("deeploy-opt", path, "--dim", "batch=5")
    assert ok.returncode == 0, ok.stderr
    assert "tensor<5x3xf32>" in ok.stdout
    assert_one_line_error(run("deeploy-opt", path, "--dim", "batch=zero"), "--dim")


def test_bad_shapes_name_the_node(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((4, 5), np.float32), "w")
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [X], [Y], [w])
    assert_one_line_error(run("deeploy-opt", save(tmp_path, m)), "mm", "MatMul")


def test_bad_attribute_names_the_node(tmp_path: Path) -> None:
    m = model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=7)], [X], [Y])
    assert_one_line_error(run("deeploy-opt", save(tmp_path, m)), "sm", "axis")


def test_unsupported_attribute_value(tmp_path: Path) -> None:
    m = model(
        [helper.make_node("Pad", ["x", "p"], ["y"], name="pad", mode="reflect")],
        [X],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
        [numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64), "p")],
    )
    assert_one_line_error(
        run("deeploy-opt", save(tmp_path, m)), "node 'pad' (OpType 'Pad')", "'reflect'"
    )


def test_unsupported_dtype(tmp_path: Path) -> None:
    xs = helper.make_tensor_value_info("x", TensorProto.COMPLEX64, [2])
    ys = helper.make_tensor_value_info("y", TensorProto.COMPLEX64, [2])
    path = save(tmp_path, model([helper.make_node("Identity", ["x"], ["y"])], [xs], [ys]))
    assert_one_line_error(run("deeploy-opt", path), "'x'", "complex64")


def test_unsupported_opset(tmp_path: Path) -> None:
    m = model([helper.make_node("Relu", ["x"], ["y"])], [X], [Y], opset=5)
    assert_one_line_error(run("deeploy-opt", save(tmp_path, m)), "opset 5")


def test_runtime_value_where_a_constant_is_needed(tmp_path: Path) -> None:
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    m = model(
        [helper.make_node("Slice", ["x", "shape", "shape"], ["y"], name="dyn")],
        [X, shape],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
    )
    assert_one_line_error(run("deeploy-opt", save(tmp_path, m)), "dyn")


@pytest.mark.parametrize(
    ("pipeline", "fragment"),
    [
        ("dnn-canonicalize{foo=1}", "not found in expected arguments"),
        ("dnn-canonicalize{", "Expected argument name"),
        ("no-such-pass", "Unrecognized passes"),
    ],
)
def test_bad_pass_pipeline(tmp_path: Path, pipeline: str, fragment: str) -> None:
    source = tmp_path / "in.mlir"
    source.write_text("func.func @f() {\n  func.return\n}\n")
    out = tmp_path / "out.mlir"
    result = run("deeploy-opt", source, "-p", pipeline, "-o", out)
    assert_one_line_error(result, f"bad pass pipeline '{pipeline}'", fragment)
    assert not out.exists()


def test_malformed_ir_gives_location(tmp_path: Path) -> None:
    source = tmp_path / "bad.mlir"
    source.write_text("func.func @f() {\n  %x = dnn.add\n}\n")
    assert_one_line_error(run("deeploy-opt", source), "bad.mlir:3:1", "operand expected")


def test_invalid_ir_names_the_broken_invariant(tmp_path: Path) -> None:
    source = tmp_path / "bad.mlir"
    source.write_text(
        "func.func @f(%a: tensor<2xf32>) -> tensor<3xf32> {\n"
        "  %x = dnn.add %a, %a : (tensor<2xf32>, tensor<2xf32>) -> tensor<3xf32>\n"
        "  func.return %x : tensor<3xf32>\n}\n"
    )
    assert_one_line_error(run("deeploy-opt", source), "dnn.add: result shape [3]")


def test_failed_run_keeps_existing_output_file(tmp_path: Path) -> None:
    out = tmp_path / "out.mlir"
    out.write_text("previous result\n")
    m = model([helper.make_node("Foo", ["x"], ["y"], domain="bar")], [X], [Y],
              extra_opsets=[helper.make_opsetid("bar", 1)])  # fmt: skip
    assert run("deeploy-opt", save(tmp_path, m), "-o", out).returncode == 1
    assert out.read_text() == "previous result\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".deeploy-opt-")] == []


def test_demo_main_job(tmp_path: Path) -> None:
    """README command 1's main job: the built-in block, imported, interpreted, checked."""
    result = run("deeploy", "demo", "-o", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "demo: 2 passed, 0 failed"
    assert "dnn.rms_norm" in (tmp_path / "demo.mlir").read_text()
    assert onnx.load(tmp_path / "demo.onnx").graph.node


def test_demo_reference_is_independent() -> None:
    """The demo's numpy reference disagrees with a perturbed model, so the check can fail."""
    from xdeeploy.frontend.models.demo import demo_block, demo_inputs, numpy_reference
    from xdeeploy.frontend.onnx import import_model
    from xdeeploy.interp.run import run_module

    m = demo_block()
    (got,) = run_module(import_model(m), demo_inputs())
    for init in m.graph.initializer:
        if init.name == "wo":
            w = numpy_helper.to_array(init).copy()
            w[0, 0] += 0.5
            init.CopyFrom(numpy_helper.from_array(w, "wo"))
    assert np.abs(got - numpy_reference(m, demo_inputs()[0])).max() > 1e-3


def test_floats_xdsl_would_print_as_hex_stay_exact(tmp_path: Path) -> None:
    """xDSL 0.74 prints 4171896.0, NaN and inf as hex bit patterns and parses those back
    as integers; such constants must survive print → parse → print unchanged."""
    values = np.array([4171896.0, -np.inf, 0.5], dtype=np.float32)
    m = model(
        [helper.make_node("Add", ["x", "c"], ["y"], name="add")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [numpy_helper.from_array(values, "c")],
    )
    a, b = tmp_path / "a.mlir", tmp_path / "b.mlir"
    assert run("deeploy-opt", save(tmp_path, m), "-o", a).returncode == 0
    assert run("deeploy-opt", a, "-o", b).returncode == 0
    assert a.read_text() == b.read_text()
    assert "0x" not in a.read_text()

    from xdeeploy.dialects import dnn

    assert not dnn.prints_exactly(values)
    assert dnn.prints_exactly(np.array([0.5, 1e-6, 3.0e7], dtype=np.float32))
