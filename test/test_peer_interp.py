"""Deeploy's float test networks through our frontend and interpreter vs outputs.npz.

Each case runs in-process (import + interpret) so a failure shows the differing output;
the `deeploy run` CLI on the same folders is covered in test_cli_run.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FLOAT_PEERS, peer_case

from xdeeploy.frontend.onnx import import_model, load_model
from xdeeploy.interp.run import run_module


def _arrays(path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[k] for k in data.files if data[k].size]


@pytest.mark.parametrize("case", FLOAT_PEERS)
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


def test_typed_integer_graph_checks_its_values() -> None:
    """Typed graphs compute in integers: a mixed-type Concat is coerced, input data must
    fit the input's type, and a result that overflows its type names the node."""
    from onnx import TensorProto, helper, numpy_helper
    from xdsl.context import Context
    from xdsl.parser import Parser

    from xdeeploy.errors import DeeployError
    from xdeeploy.tools.cases import InputType
    from xdeeploy.tools.typed_import import import_typed
    from xdeeploy.universe import DIALECTS

    graph = helper.make_graph(
        [helper.make_node("Concat", ["x", "c"], ["y"], name="join", axis=0)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(np.array([1.0, 200.0], np.float32), "c")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    module = import_typed(model, {"x": InputType(np.dtype("int8"))})
    (out,) = run_module(module, [np.array([3, -4])])
    assert out.dtype == np.int16  # int8 data joined with uint8 constants
    np.testing.assert_array_equal(out.astype(np.int64), [3, -4, 1, 200])
    with pytest.raises(DeeployError, match=r"input 'x' holds values in \[3, 300\]"):
        run_module(module, [np.array([3, 300])])

    ctx = Context()
    for name, factory in DIALECTS.items():
        ctx.register_dialect(name, factory)
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func

    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    typed = Parser(
        ctx,
        """
      func.func @main(%a: tensor<2xi8>) -> tensor<2xi8> {
        %s = dnn.add %a, %a {dnn.node = "double", dnn.inferred} : (tensor<2xi8>, tensor<2xi8>) -> tensor<2xi8>
        func.return %s : tensor<2xi8>
      }""",
    ).parse_module()
    np.testing.assert_array_equal(run_module(typed, [np.array([60, -64])])[0], [120, -128])
    with pytest.raises(DeeployError, match="node 'double' \\(dnn.add\\): value 200 does not fit"):
        run_module(typed, [np.array([100, 1])])
    # Without the inference mark the ONNX semantics hold: int8 arithmetic wraps around.
    wrapping = Parser(
        ctx,
        """
      func.func @main(%a: tensor<2xi8>) -> tensor<2xi8> {
        %w = dnn.add %a, %a {dnn.node = "wraps"} : (tensor<2xi8>, tensor<2xi8>) -> tensor<2xi8>
        func.return %w : tensor<2xi8>
      }""",
    ).parse_module()
    np.testing.assert_array_equal(run_module(wrapping, [np.array([100, 1])])[0], [-56, 2])
