"""Import an ONNX model typed the way Deeploy types it from the input data."""

from __future__ import annotations

from collections.abc import Mapping

import onnx
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from xdeeploy.frontend.onnx import import_model
from xdeeploy.passes.dnn_infer_int_types import DnnInferIntTypes, type_name
from xdeeploy.tools.cases import InputType


def import_typed(model: onnx.ModelProto, input_types: Mapping[str, InputType]) -> ModuleOp:
    """The `dnn` module of `model`; when some inputs are integers (inferred from the data
    or given with --input-type), `dnn-infer-int-types` turns the fake-quantized graph
    into real integer types, so integer networks are computed in integers."""
    module = import_model(model)
    initializers = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    dtypes = [input_types[n].dtype if n in input_types else None for n in names]
    if any(d is not None and d.kind in "iu" for d in dtypes):
        spelled = tuple("" if d is None else type_name(d) for d in dtypes)
        DnnInferIntTypes(spelled).apply(Context(), module)
    return module
