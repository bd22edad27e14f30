"""ONNX → `dnn`: load, check, infer static shapes, fold compile-time values, convert.

The result is a module with one `func.func @main` whose arguments are the graph inputs
that are not initializers (in graph order, each carrying its ONNX name in `dnn.name`)
and whose results are the graph outputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx.reference
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from xdsl.builder import Builder
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import VerifyException

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import element_type
from xdeeploy.errors import DeeployError
from xdeeploy.frontend.converters import CONVERTERS, NodeContext
from xdeeploy.frontend.schemas import register_custom_schemas

FOLD_LIMIT = 1 << 22
"""Largest constant (in elements) the importer computes itself, e.g. a weight transpose."""

MIN_OPSET, MAX_OPSET = 7, onnx.defs.onnx_opset_version()

_NON_FOLDABLE = {
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
    # Kept so that `dnn-lower-qdq` sees int8 weights, not their float dequantization.
    "QuantizeLinear", "DequantizeLinear",
}  # fmt: skip


def load_model(path: str | Path) -> onnx.ModelProto:
    """Reads an ONNX file; a missing, truncated or non-ONNX file is a one-line DeeployError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DeeployError(f"cannot read '{p}': {e.strerror}") from None
    return load_model_bytes(data, p)


def load_model_bytes(data: bytes, path: str | Path) -> onnx.ModelProto:
    """Parses ONNX bytes read from `path` (named in errors; external data is found beside it)."""
    p = Path(path)
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise DeeployError(
            f"'{p}' is not a valid ONNX model ({type(e).__name__}): is the file truncated?"
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise DeeployError(f"'{p}' holds no ONNX graph: is it an ONNX model?")
    _check_model_complete(p, model)
    try:
        onnx.load_external_data_for_model(model, str(p.parent))
    except (OSError, ValueError) as e:
        raise DeeployError(f"'{p}': cannot load its external data: {e}") from None
    return model


def _check_model_complete(path: Path, model: onnx.ModelProto) -> None:
    """Catch files protobuf parses without complaint though they are not whole models.

    An empty file parses as an empty model, and a file cut at a field boundary parses
    as a model missing its tail (nodes, initializers or outputs).
    """
    graph = model.graph
    if not graph.output:
        raise DeeployError(f"'{path}': ONNX model has no graph outputs; is the file truncated?")
    known = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    known |= {t.values.name for t in graph.sparse_initializer}
    for node in graph.node:
        known.update(node.output)
    for node in graph.node:
        missing = [name for name in node.input if name and name not in known]
        if missing:
            raise DeeployError(
                f"'{path}': node {node.name or node.op_type!r} ({node.op_type}) reads "
                f"{missing[0]!r}, which nothing defines; is the file truncated?"
            )
    for out in graph.output:
        if out.name not in known:
            raise DeeployError(
                f"'{path}': graph output {out.name!r} is not produced by any node; "
                "is the file truncated?"
            )


def sanitize_name(name: str) -> str:
    """An ONNX value name as an SSA name hint (`onnx::Add_1` → `onnx_Add_1`)."""
    cleaned = re.sub(r"[^\w$.-]", "_", name)
    if not cleaned or not re.match(r"[A-Za-z_$.-]", cleaned[0]):
        cleaned = "v" + cleaned
    return cleaned


def _check_opsets(model: onnx.ModelProto) -> None:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx") and not MIN_OPSET <= imp.version <= MAX_OPSET:
            raise DeeployError(
                f"opset {imp.version} of the default ONNX domain is not supported "
                f"(supported: {MIN_OPSET}..{MAX_OPSET}); convert the model with onnx.version_converter"
            )


def _bind_dims(model: onnx.ModelProto, dims: Mapping[str, int]) -> None:
    """Replaces symbolic input dimensions by `dims`; an unbound one is an error."""
    for inp in model.graph.input:
        for d in inp.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                if d.dim_param not in dims:
                    raise DeeployError(
                        f"input '{inp.name}' has symbolic dimension '{d.dim_param}': "
                        f"give it a value with --dim {d.dim_param}=<size>"
                    )
                d.dim_value = dims[d.dim_param]
            elif not d.HasField("dim_value"):
                raise DeeployError(
                    f"input '{inp.name}' has an unknown dimension: give the model static shapes"
                )


def _first_versions() -> dict[str, int]:
    first: dict[str, int] = {}
    for schema in onnx.defs.get_all_schemas_with_history():
        if schema.domain == "":
            first[schema.name] = min(
                first.get(schema.name, schema.since_version), schema.since_version
            )
    return first


def _raise_opset_to_ops_used(model: onnx.ModelProto) -> int:
    """The default-domain opset, raised to the first one defining every op the graph uses.

    Deeploy's exporters declare opset 10 but use HardSwish (opset 14); onnxruntime and
    Deeploy accept that, so we do too, and read the graph with the newer semantics.
    """
    imports = [i for i in model.opset_import if i.domain in ("", "ai.onnx")]
    if not imports:
        return MAX_OPSET
    declared = imports[0].version
    first = _first_versions()
    needed = max(
        (first.get(n.op_type, 0) for n in model.graph.node if n.domain in ("", "ai.onnx")),
        default=0,
    )
    if needed > declared:
        imports[0].version = needed
    return imports[0].version


def _drop_annotations(model: onnx.ModelProto, opset: int) -> None:
    """Removes attributes that a standard op's schema does not declare.

    Deeploy's quantization flow leaves its own annotations on standard ops (`Delta`,
    `eps`, `eta` on Div; `six`, `three` on HardSwish); they carry no semantics for the
    op and only make the checker reject the model.
    """
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            schema = onnx.defs.get_schema(node.op_type, opset, "")
        except onnx.defs.SchemaError:
            continue  # an unknown op is reported by the checker or the converter
        known = schema.attributes
        kept = [a for a in node.attribute if a.name in known]
        if len(kept) != len(node.attribute):
            del node.attribute[:]
            node.attribute.extend(kept)


def check_and_infer(
    model: onnx.ModelProto, dims: Mapping[str, int] | None = None
) -> onnx.ModelProto:
    """Checker + strict shape inference with Deeploy's custom ops registered."""
    register_custom_schemas()
    _check_opsets(model)
    _bind_dims(model, dims or {})
    _drop_annotations(model, _raise_opset_to_ops_used(model))
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise DeeployError(f"invalid ONNX model: {_first_line(str(e))}") from None
    try:
        return onnx.shape_inference.infer_shapes(
            model, check_type=True, strict_mode=True, data_prop=True
        )
    except (onnx.shape_inference.InferenceError, RuntimeError) as e:
        raise DeeployError(f"ONNX shape inference failed: {_first_line(str(e))}") from None


def _first_line(msg: str) -> str:
    lines = [line.strip() for line in msg.strip().splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else "unknown error"


@dataclass
class Importer:
    """Walks the ONNX graph in order, building `dnn` ops at the end of `block`."""

    graph: onnx.GraphProto
    opsets: dict[str, int]
    block: Block
    types: dict[str, onnx.TypeProto] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, SSAValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for vi in [*self.graph.input, *self.graph.value_info, *self.graph.output]:
            self.types[vi.name] = vi.type
        for init in self.graph.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        for sparse in self.graph.sparse_initializer:
            self.consts[sparse.values.name] = _densify(sparse)

    @property
    def builder(self) -> Builder:
        return Builder(InsertPoint.at_end(self.block))

    # -- values --------------------------------------------------------------

    def tensor_type(self, name: str, node: onnx.NodeProto | None = None) -> TensorType:
        """The static tensor type of ONNX value `name`, as shape inference found it."""
        where = f"node '{node.name}' ({node.op_type}): " if node else ""
        if name in self.consts:
            arr = self.consts[name]
            return TensorType(self._elem(arr.dtype, name, where), list(arr.shape))
        ty = self.types.get(name)
        if ty is None or not ty.HasField("tensor_type"):
            raise DeeployError(
                f"{where}the type of '{name}' is unknown; give the model static shapes"
            )
        tt = ty.tensor_type
        if not tt.HasField("shape") or any(not d.HasField("dim_value") for d in tt.shape.dim):
            raise DeeployError(
                f"{where}'{name}' has no static shape; give the model static shapes or pass --dim"
            )
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type) if tt.elem_type else None
        if dtype is None:
            raise DeeployError(f"{where}'{name}' has no element type")
        return TensorType(self._elem(dtype, name, where), [d.dim_value for d in tt.shape.dim])

    @staticmethod
    def _elem(dtype: np.dtype, name: str, where: str):
        try:
            return element_type(dtype)
        except KeyError:
            raise DeeployError(
                f"{where}'{name}' has element type {dtype}, which is not supported"
            ) from None

    def value(self, name: str) -> SSAValue:
        """The SSA value of `name`, materialising a `dnn.constant` on first use."""
        if name in self.values:
            return self.values[name]
        if name not in self.consts:
            raise DeeployError(
                f"value '{name}' is used before it is defined (is the graph sorted?)"
            )
        op = dnn.ConstantOp(self.constant_attr(self.consts[name], name))
        op.result.name_hint = sanitize_name(name)
        self.builder.insert(op)
        self.values[name] = op.result
        return op.result

    def constant_attr(
        self, arr: np.ndarray, name: str
    ) -> DenseIntOrFPElementsAttr | dnn.WeightsAttr:
        self._elem(arr.dtype, name, "")  # names the value when its dtype is unsupported
        return dnn.constant_attr(arr)

    # -- nodes ---------------------------------------------------------------

    def fold(self, node: onnx.NodeProto) -> bool:
        """Computes a node whose inputs are all compile-time constants (shape arithmetic)."""
        if node.op_type == "Constant":
            self.consts[node.output[0]] = _constant_node_value(node)
            return True
        if node.op_type == "Shape" and node.input[0] not in self.consts:
            shape = np.array(self.tensor_type(node.input[0], node).get_shape(), dtype=np.int64)
            start = _attr(node, "start", 0)
            end = _attr(node, "end", len(shape))
            self.consts[node.output[0]] = shape[start:end]
            return True
        inputs = [i for i in node.input if i]
        if not inputs or any(i not in self.consts for i in inputs) or node.op_type in _NON_FOLDABLE:
            return False
        if node.domain not in ("", "ai.onnx"):
            return False
        if sum(self.consts[i].size for i in inputs) > FOLD_LIMIT:
            return False
        try:
            outputs = _evaluate(
                node, [self.consts.get(i) if i else None for i in node.input], self.opsets
            )
        except Exception:  # noqa: BLE001 - the op is then imported and computed at run time
            return False
        for name, arr in zip(node.output, outputs, strict=False):
            if name:
                self.consts[name] = np.asarray(arr)
        return True

    def convert(self, node: onnx.NodeProto) -> None:
        key = (node.domain if node.domain != "ai.onnx" else "", node.op_type)
        converter = CONVERTERS.get(key)
        if converter is None:
            raise DeeployError(
                f"node '{node.name}' (OpType '{node.op_type}', domain '{node.domain}'): not supported"
            )
        ctx = NodeContext(self, node)
        for name, value in zip(node.output, converter(ctx), strict=False):
            if name:
                self.values[name] = value
                if value.name_hint is None:  # values passed through keep their name
                    value.name_hint = sanitize_name(name)


def _densify(sparse: onnx.SparseTensorProto) -> np.ndarray:
    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices)
    dense = np.zeros(tuple(sparse.dims), dtype=values.dtype)
    if indices.ndim == 1:  # linear indices into the flattened tensor
        dense.reshape(-1)[indices] = values
    else:  # one coordinate tuple per value
        dense[tuple(indices.T)] = values
    return dense


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(onnx.helper.get_attribute_value(a))
    return default


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray:
    attr = node.attribute[0]
    value = onnx.helper.get_attribute_value(attr)
    if attr.name == "value":
        return numpy_helper.to_array(value)
    if attr.name in ("value_float", "value_int"):
        return np.array(value, dtype=np.float32 if attr.name == "value_float" else np.int64)
    if attr.name in ("value_floats", "value_ints"):
        return np.array(value, dtype=np.float32 if attr.name == "value_floats" else np.int64)
    raise DeeployError(
        f"node '{node.name}' (OpType 'Constant'): attribute '{attr.name}' is not supported"
    )


def _evaluate(
    node: onnx.NodeProto, inputs: list[np.ndarray | None], opsets: dict[str, int]
) -> list[np.ndarray]:
    """Runs one node with onnx's reference evaluator (used only for compile-time values)."""
    names = [f"i{k}" if v is not None else "" for k, v in enumerate(inputs)]
    n = onnx.NodeProto()
    n.CopyFrom(node)
    del n.input[:]
    n.input.extend(names)
    feeds = {nm: v for nm, v in zip(names, inputs, strict=True) if nm and v is not None}
    graph = onnx.helper.make_graph(
        [n],
        "fold",
        [
            onnx.helper.make_tensor_value_info(
                k, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape
            )
            for k, v in feeds.items()
        ],
        [onnx.helper.make_empty_tensor_value_info(o) for o in node.output if o],
    )
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in opsets.items()]
    )
    outputs = onnx.reference.ReferenceEvaluator(model).run(None, feeds)
    return [np.asarray(o) for o in outputs]


def import_model(
    model: onnx.ModelProto | str | Path, dims: Mapping[str, int] | None = None
) -> ModuleOp:
    """Imports an ONNX model (or file) as a `dnn` module; user errors are DeeployErrors."""
    if isinstance(model, onnx.ModelProto):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # the checks below adjust opsets and attributes in place
        model = copy
    else:
        model = load_model(model)
    model = check_and_infer(model, dims)
    graph = model.graph
    opsets = {imp.domain: imp.version for imp in model.opset_import}
    block = Block()
    importer = Importer(graph, opsets, block)

    inputs = [i for i in graph.input if i.name not in importer.consts]
    arg_types = [importer.tensor_type(i.name) for i in inputs]
    for inp, ty in zip(inputs, arg_types, strict=True):
        arg = block.insert_arg(ty, len(block.args))
        arg.name_hint = sanitize_name(inp.name)
        importer.values[inp.name] = arg

    for k, node in enumerate(graph.node):
        if not node.name:
            node.name = f"{node.op_type}#{k}"  # so that errors can point at it
        if not importer.fold(node):
            importer.convert(node)

    results = [importer.value(o.name) for o in graph.output]
    block.add_op(func.ReturnOp(*results))
    main = func.FuncOp(
        "main",
        (arg_types, [r.type for r in results]),
        Region(block),
        arg_attrs=_names(i.name for i in inputs),
        res_attrs=_names(o.name for o in graph.output),
    )
    module = ModuleOp([main])
    try:
        module.verify()
    except VerifyException as e:
        op = _failing_op(module)
        where = f"node '{dnn.node_name(op)}' ({op.name})" if op else "the imported graph"
        raise DeeployError(f"{where}: {_first_line(str(e))}") from None
    return module


def _names(names: Iterable[str]) -> ArrayAttr[DictionaryAttr]:
    return ArrayAttr([DictionaryAttr({"dnn.name": StringAttr(n)}) for n in names])


def _failing_op(module: ModuleOp) -> Operation | None:
    for op in module.walk():
        try:
            op.verify_()
        except VerifyException:
            return op
    return None
