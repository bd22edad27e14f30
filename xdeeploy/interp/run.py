"""Runs a `dnn`-level module's `main` in xDSL's interpreter on numpy inputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.interpreter import Interpreter
from xdsl.interpreters.func import FuncFunctions

from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.interp.dnn import DnnFunctions, DnnIntegerFunctions


def entry_function(module: ModuleOp, name: str = "main") -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == name:
            return op
    raise DeeployError(f"the module has no function @{name}")


def _arg_name(fn: func.FuncOp, index: int) -> str:
    attrs = fn.arg_attrs.data[index].data if fn.arg_attrs else {}
    name = attrs.get("dnn.name")
    return name.data if isinstance(name, StringAttr) else f"#{index}"


def run_module(
    module: ModuleOp, inputs: Sequence[np.ndarray], name: str = "main"
) -> list[np.ndarray]:
    """Calls `@name` with `inputs` converted to the argument types (shape and dtype)."""
    fn = entry_function(module, name)
    arg_types = fn.function_type.inputs.data
    if len(inputs) != len(arg_types):
        raise DeeployError(f"@{name} takes {len(arg_types)} inputs but {len(inputs)} were given")
    args: list[np.ndarray] = []
    for k, (arr, ty) in enumerate(zip(inputs, arg_types, strict=True)):
        assert isinstance(ty, TensorType)
        shape = ty.get_shape()
        if arr.size != int(np.prod(shape)):
            raise DeeployError(
                f"input {k} has shape {list(arr.shape)} but @{name} expects {list(shape)}"
            )
        dtype = numpy_dtype(ty.element_type)
        if dtype.kind in "iu" and arr.size:
            info = np.iinfo(dtype)
            if arr.min() < info.min or arr.max() > info.max:
                name = _arg_name(fn, k)
                raise DeeployError(
                    f"input '{name}' holds values in [{arr.min()}, {arr.max()}], which do not "
                    f"fit its type {dtype.name}; give a wider one with --input-type {name}=TYPE"
                )
        args.append(np.asarray(arr).astype(dtype, copy=False).reshape(shape))
    interpreter = Interpreter(module)
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(DnnFunctions())
    interpreter.register_implementations(DnnIntegerFunctions())
    return [np.asarray(r) for r in interpreter.call_op(name, tuple(args))]
