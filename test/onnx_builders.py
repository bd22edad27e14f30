"""Build single-node ONNX models and run them with onnxruntime.

Shared by the reference-op tests and the ONNX frontend tests, which run the same
cases through the compiler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

DEFAULT_OPSET = 17


def _value_info(name: str, array: npt.NDArray[Any]) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(array.dtype)
    return helper.make_tensor_value_info(name, elem, list(array.shape))


def single_node_model(
    op_type: str,
    inputs: Mapping[str, npt.NDArray[Any]],
    attrs: Mapping[str, Any],
    n_outputs: int = 1,
    initializers: Mapping[str, npt.NDArray[Any]] | None = None,
    domain: str = "",
    *,
    opset: int = DEFAULT_OPSET,
    node_inputs: Sequence[str] | None = None,
    output_dtypes: Sequence[npt.DTypeLike] | None = None,
) -> onnx.ModelProto:
    """A model with one `op_type` node whose outputs are the graph outputs.

    `inputs` become graph inputs (fed at run time; their arrays only give the type
    and shape), `initializers` constant inputs (e.g. Reshape's shape). The node takes
    `node_inputs` in that order ("" skips an optional input); by default the inputs
    then the initializers, in dict order. Outputs are named y0, y1, …; their types
    come from ONNX shape inference (and the model is checked), or from
    `output_dtypes` for ops ONNX has no schema for (onnxruntime contrib ops such as
    com.microsoft.QuickGelu or SimplifiedLayerNormalization); then only onnxruntime
    validates the model.
    """
    initializers = dict(initializers or {})
    names = list(node_inputs) if node_inputs is not None else [*inputs, *initializers]
    outputs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outputs, domain=domain or None, **dict(attrs))
    if output_dtypes is not None:
        out_info = [
            helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), None)
            for o, dt in zip(outputs, output_dtypes, strict=True)
        ]
    else:
        out_info = [onnx.ValueInfoProto(name=o) for o in outputs]
    graph = helper.make_graph(
        [node],
        f"single_{op_type}",
        [_value_info(n, a) for n, a in inputs.items()],
        out_info,
        initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in initializers.items()],
    )
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="xdeeploy-tests")
    model.ir_version = max(8, helper.find_min_ir_version_for(opsets, ignore_unknown=True))
    if output_dtypes is None:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        for out, inf in zip(model.graph.output, inferred.graph.output, strict=True):
            out.CopyFrom(inf)
        onnx.checker.check_model(model)
    return model


def run_onnxruntime(
    model: onnx.ModelProto, feeds: Mapping[str, npt.NDArray[Any]]
) -> list[npt.NDArray[Any]]:
    """Run `model` on the CPU provider with graph optimisations off, so that the
    node's own kernel (not a fused or constant-folded variant) computes the result."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    feeds = {name: np.asarray(value) for name, value in feeds.items()}
    return [np.asarray(r) for r in session.run(None, feeds)]
