"""Runs a buffer-level module's `main` (after `convert-dnn-to-kernel`, `plan-memory`).

`@main(inputs..., outputs...)` returns nothing: the outputs are trailing arguments tagged
`dnn.output` that the caller allocates. Here the caller is numpy: inputs are read-only
copies (C sees them as `const`), outputs start poisoned (0xFF bytes, NaN as floats), so
an output the function never writes shows.

Tiled modules run too: `scf` loops and index arithmetic (xDSL's interpreters, with
32-bit indices as the C target prints them), `memref.subview` windows (`loops.py`) and
`dma` transfers, checked as `interp/dma.py` describes; a transfer never waited for, or
a kernel call racing a transfer in flight, is an error. `cluster.fork` regions run
their cores in a shuffled order, with overlapping writes between cores reported
(`interp/cluster.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp
from xdsl.interpreter import Interpreter
from xdsl.interpreters.arith import ArithFunctions
from xdsl.interpreters.func import FuncFunctions
from xdsl.interpreters.scf import ScfFunctions

from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.interp.buffers import BufferFunctions, fresh
from xdeeploy.interp.cluster import ClusterFunctions, CoreWriteGuard
from xdeeploy.interp.dma import DmaFunctions, InFlightGuard, check_all_waited
from xdeeploy.interp.loops import LoopFunctions
from xdeeploy.interp.run import entry_function

OUTPUT_ATTR = "dnn.output"
ALIAS_ATTR = "dnn.may_alias"
"""As `convert_dnn_to_kernel.OUTPUT_ATTR` / `ALIAS_ATTR` (interp does not import the
lowering): an out-parameter, and the input whose buffer the caller may pass for it."""


def _is_output(fn: func.FuncOp, index: int) -> bool:
    return fn.arg_attrs is not None and OUTPUT_ATTR in fn.arg_attrs.data[index].data


def _alias_of(fn: func.FuncOp, index: int) -> int | None:
    attr = fn.arg_attrs.data[index].data.get(ALIAS_ATTR) if fn.arg_attrs else None
    return attr.value.data if isinstance(attr, IntegerAttr) else None


def run_buffers(
    module: ModuleOp, inputs: Sequence[np.ndarray], name: str = "main", in_place: bool = False
) -> list[np.ndarray]:
    """Calls `@name` with `inputs` (converted to the argument types) and fresh outputs;
    returns the outputs. With `in_place`, an output tagged `dnn.may_alias = k` is input
    k's buffer (a writable copy), as a caller updating a KV cache in place passes it."""
    fn = entry_function(module, name)
    types = list(fn.function_type.inputs.data)
    n_in = sum(1 for k in range(len(types)) if not _is_output(fn, k))
    if any(_is_output(fn, k) for k in range(n_in)):
        raise DeeployError(f"@{name}: the dnn.output arguments must come last")
    if len(inputs) != n_in:
        raise DeeployError(f"@{name} takes {n_in} inputs but {len(inputs)} were given")
    args: list[np.ndarray[Any, Any]] = []
    for k, ty in enumerate(types):
        assert isinstance(ty, MemRefType)
        shape, dtype = list(ty.get_shape()), numpy_dtype(ty.element_type)
        if k >= n_in:
            args.append(fresh(shape, dtype))
            continue
        arr = np.asarray(inputs[k])
        if arr.size != int(np.prod(shape)):
            raise DeeployError(f"input {k} has shape {list(arr.shape)} but @{name} expects {shape}")
        value = np.array(arr.astype(dtype, copy=False).reshape(shape), order="C")
        value.flags.writeable = False
        args.append(value)
    if in_place:
        for k in range(n_in, len(types)):
            alias = _alias_of(fn, k)
            if alias is not None:
                args[alias] = args[k] = np.array(args[alias], order="C")  # writable
    dma = DmaFunctions()
    cluster = ClusterFunctions()
    listeners = (InFlightGuard(dma), CoreWriteGuard(cluster, dma))
    interpreter = Interpreter(module, index_bitwidth=32, listeners=listeners)
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(ArithFunctions())
    # Both implement arith.constant (alike for scalars): keep the buffer level's own.
    interpreter.register_implementations(BufferFunctions(), override=True)
    interpreter.register_implementations(ScfFunctions())
    interpreter.register_implementations(LoopFunctions())
    interpreter.register_implementations(dma)
    interpreter.register_implementations(cluster)
    interpreter.call_op(name, tuple(args))
    check_all_waited(dma)
    return args[n_in:]
