"""ONNX schemas for the non-standard operators used by Deeploy-style networks.

Quantized and fused networks exported for Deeploy use operators that stock ONNX does
not know (``RequantShift``, ``iSoftmax``, ``RMSNorm``, ``com.microsoft:Gelu``, ...).
Without a schema, ``onnx.checker.check_model(full_check=True)`` rejects such a graph
and shape inference leaves every tensor downstream of them without a type or shape.
Registering the schemas below lets the frontend validate these graphs and get fully
static shapes from the stock ONNX tools before it builds IR.

The declarations follow how the operators actually appear in exported graphs: several
integer parameters are stored as float *tensor* attributes (ONNX checks attribute
types exactly, so they are declared as ``TENSOR``), ``RequantShift`` carries either
``n_levels`` or ``n_levels_out``, and the requantization multiplier/offset are inputs.

The Python inference functions never raise: an exception raised from Python escapes
ONNX shape inference even in non-strict mode, so on missing or inconsistent
information they set the element type only (or nothing) and leave diagnosis to the
checker and to the importer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from onnx import TensorShapeProto, TypeProto, defs, helper
from onnx.defs import OpSchema
from onnx.shape_inference import InferenceContext

__all__ = ["register_custom_schemas"]

_DEFAULT_DOMAIN = ""
_CONTRIB_DOMAIN = "ai.onnx.contrib"
_MICROSOFT_DOMAIN = "com.microsoft"

# The operators are registered at opset version 1 of their domain so that a model
# importing any version of that domain (the peer graphs import ai.onnx 10..13,
# ai.onnx.contrib 1, com.microsoft 1) resolves to them.
_SINCE_VERSION = 1

_FLOAT_TYPES = (
    "tensor(float16)",
    "tensor(bfloat16)",
    "tensor(float)",
    "tensor(double)",
)
# Integer operators run on real integer tensors or on "fake-quantized" float tensors
# holding integer values, so they accept every numeric type.
_NUMERIC_TYPES = (
    *_FLOAT_TYPES,
    "tensor(int8)",
    "tensor(int16)",
    "tensor(int32)",
    "tensor(int64)",
    "tensor(uint8)",
    "tensor(uint16)",
    "tensor(uint32)",
    "tensor(uint64)",
)

_InferenceFunction = Callable[[InferenceContext], None]


# --------------------------------------------------------------------------------------
# Type and shape inference
# --------------------------------------------------------------------------------------


def _input_tensor_type(ctx: InferenceContext, index: int) -> TypeProto.Tensor | None:
    """Return the tensor type of input ``index``, or None when it is absent/unknown."""
    if index >= ctx.get_num_inputs() or not ctx.has_input(index):
        return None
    type_proto = ctx.get_input_type(index)
    if type_proto is None or not type_proto.HasField("tensor_type"):
        return None
    return type_proto.tensor_type


def _set_output(ctx: InferenceContext, elem_type: int, shape: TensorShapeProto | None) -> None:
    """Set output 0 to a tensor of ``elem_type``; ``shape=None`` leaves rank unknown."""
    out = TypeProto()
    out.tensor_type.elem_type = elem_type
    if shape is not None:
        out.tensor_type.shape.CopyFrom(shape)
    ctx.set_output_type(0, out)


def _infer_like_input(ctx: InferenceContext) -> None:
    """Output 0 has the element type and shape of input 0 (elementwise-style ops)."""
    data = _input_tensor_type(ctx, 0)
    if data is None:
        return
    _set_output(ctx, data.elem_type, data.shape if data.HasField("shape") else None)


def _broadcast_dim(
    dims: Sequence[TensorShapeProto.Dimension],
) -> TensorShapeProto.Dimension | None:
    """Broadcast one aligned dimension position; None if the values are incompatible."""
    result = TensorShapeProto.Dimension()
    values = {d.dim_value for d in dims if d.HasField("dim_value") and d.dim_value != 1}
    params = {d.dim_param for d in dims if d.HasField("dim_param")}
    unknown = any(not d.HasField("dim_value") and not d.HasField("dim_param") for d in dims)
    if len(values) > 1:
        return None
    if values:
        # A concrete extent > 1 wins: symbolic/unknown dims must be 1 or equal to it.
        result.dim_value = values.pop()
    elif not params and not unknown:
        result.dim_value = 1
    elif len(params) == 1 and not unknown:
        result.dim_param = params.pop()
    return result


def _broadcast_shapes(shapes: Sequence[TensorShapeProto]) -> TensorShapeProto | None:
    """Numpy-style multidirectional broadcast of shapes; None when incompatible."""
    rank = max((len(s.dim) for s in shapes), default=0)
    out = TensorShapeProto()
    for axis in range(rank):
        aligned = [s.dim[axis - (rank - len(s.dim))] for s in shapes if axis >= rank - len(s.dim)]
        dim = _broadcast_dim(aligned)
        if dim is None:
            return None
        out.dim.append(dim)
    return out


def _infer_broadcast(ctx: InferenceContext) -> None:
    """Output 0 has input 0's element type and the broadcast shape of all inputs.

    ``RequantShift`` applies a per-tensor or per-channel multiplier/offset; the
    result is the broadcast of data, mul and add (data's shape in practice).
    """
    data = _input_tensor_type(ctx, 0)
    if data is None:
        return
    shapes: list[TensorShapeProto] = []
    for index in range(ctx.get_num_inputs()):
        if not ctx.has_input(index):
            continue
        tensor_type = _input_tensor_type(ctx, index)
        if tensor_type is None or not tensor_type.HasField("shape"):
            _set_output(ctx, data.elem_type, None)
            return
        shapes.append(tensor_type.shape)
    _set_output(ctx, data.elem_type, _broadcast_shapes(shapes))


def _infer_reduce(ctx: InferenceContext) -> None:
    """ReduceMean-style shape: drop (or keep as 1) the ``axes``; all axes if absent."""
    data = _input_tensor_type(ctx, 0)
    if data is None:
        return
    if not data.HasField("shape"):
        _set_output(ctx, data.elem_type, None)
        return
    rank = len(data.shape.dim)
    axes_attr = ctx.get_attribute("axes")
    keepdims_attr = ctx.get_attribute("keepdims")
    keepdims = True if keepdims_attr is None else keepdims_attr.i != 0
    requested = range(rank) if axes_attr is None else list(axes_attr.ints)
    if any(not -rank <= a < rank for a in requested):
        _set_output(ctx, data.elem_type, None)
        return
    axes = {a % rank for a in requested}
    out = TensorShapeProto()
    for axis, dim in enumerate(data.shape.dim):
        if axis not in axes:
            out.dim.append(dim)
        elif keepdims:
            out.dim.add().dim_value = 1
    _set_output(ctx, data.elem_type, out)


# --------------------------------------------------------------------------------------
# Schema declarations
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attr:
    """One attribute: its ONNX type, and whether graphs may omit it (with a default)."""

    name: str
    type: OpSchema.AttrType
    description: str
    required: bool = True
    default: int | float | None = None


@dataclass(frozen=True)
class _Input:
    """One formal input; ``type_str`` names a type constraint ("T", "T1", ...)."""

    name: str
    type_str: str
    description: str


@dataclass(frozen=True)
class _Spec:
    """Everything needed to build one ``OpSchema``."""

    name: str
    domain: str
    doc: str
    inputs: tuple[_Input, ...]
    attributes: tuple[_Attr, ...]
    type_constraints: tuple[tuple[str, tuple[str, ...], str], ...]
    inference: _InferenceFunction
    output_type_str: str = "T"


_TENSOR = OpSchema.AttrType.TENSOR
_INT = OpSchema.AttrType.INT
_INTS = OpSchema.AttrType.INTS
_FLOAT = OpSchema.AttrType.FLOAT

_DATA = _Input("data_in", "T", "Input tensor.")
_T_NUMERIC = ("T", _NUMERIC_TYPES, "Data type (integer, or float holding integers).")
_T1_NUMERIC = ("T1", _NUMERIC_TYPES, "Type of the constant parameter inputs.")
_T_FLOAT = ("T", _FLOAT_TYPES, "Floating-point data type.")


def _requant_shift(domain: str) -> _Spec:
    """RequantShift: y = clip(floor((x * mul + add) / div), n_levels range)."""
    return _Spec(
        name="RequantShift",
        domain=domain,
        doc=(
            "Integer requantization: scale by `mul`, add `add`, divide by the power "
            "of two `div` and clip to `n_levels` (or `n_levels_out`) levels, signed "
            "or unsigned. `mul`/`add` broadcast against the data (per-channel)."
        ),
        inputs=(
            _DATA,
            _Input("mul", "T1", "Multiplier, broadcastable to data."),
            _Input("add", "T1", "Offset, broadcastable to data."),
        ),
        attributes=(
            _Attr("div", _TENSOR, "Power-of-two divisor (scalar float tensor)."),
            _Attr("signed", _TENSOR, "1 for a signed output range, 0 for unsigned."),
            _Attr("n_levels", _TENSOR, "Number of output levels.", required=False),
            _Attr(
                "n_levels_out",
                _TENSOR,
                "Number of output levels (alternative spelling of n_levels).",
                required=False,
            ),
        ),
        type_constraints=(_T_NUMERIC, _T1_NUMERIC),
        inference=_infer_broadcast,
    )


def _unary(
    name: str, doc: str, attributes: tuple[_Attr, ...], domain: str = _DEFAULT_DOMAIN
) -> _Spec:
    """Declare a one-input, shape-preserving integer operator."""
    return _Spec(
        name=name,
        domain=domain,
        doc=doc,
        inputs=(_DATA,),
        attributes=attributes,
        type_constraints=(_T_NUMERIC,),
        inference=_infer_like_input,
    )


def _specs() -> tuple[_Spec, ...]:
    """All custom operator declarations."""
    weight = _Input("weight", "T1", "Per-feature scale over the last axis.")
    return (
        _requant_shift(_DEFAULT_DOMAIN),
        _requant_shift(_CONTRIB_DOMAIN),
        _unary(
            "iSoftmax",
            "Integer softmax (I-BERT style polynomial exp) over the last axis.",
            (
                _Attr("coeffA", _TENSOR, "Polynomial coefficient A."),
                _Attr("coeffB", _TENSOR, "Polynomial coefficient B."),
                _Attr("coeffC", _TENSOR, "Polynomial coefficient C."),
                _Attr("log2", _TENSOR, "Integer representation of ln(2)."),
                _Attr("n_levels", _TENSOR, "Number of output levels."),
            ),
        ),
        _unary(
            "ITAMax",
            "Integer softmax of the ITA accelerator over the last axis.",
            (_Attr("n_levels", _TENSOR, "Number of output levels."),),
        ),
        _unary(
            "iGELU",
            "Integer GELU (I-BERT style polynomial erf).",
            (
                _Attr("b", _INT, "Polynomial coefficient b."),
                _Attr("one", _INT, "Integer representation of 1."),
            ),
        ),
        _unary(
            "iHardswish",
            "Integer hard-swish x * clip(x + three, 0, six) * one_over_six.",
            (
                _Attr("one_over_six", _INT, "Integer representation of 1/6."),
                _Attr("six", _INT, "Integer representation of 6."),
                _Attr("three", _INT, "Integer representation of 3."),
            ),
        ),
        _unary(
            "TrueIntegerDiv",
            "Integer division by the constant `y` with rounding parameters.",
            (
                _Attr("Delta", _INT, "Fixed-point scale of the reciprocal."),
                _Attr("eps", _INT, "Rounding epsilon."),
                _Attr("eta", _INT, "Fixed-point scale of the quotient."),
                _Attr("y", _INT, "Constant divisor."),
            ),
        ),
        _Spec(
            name="IntegerMean",
            domain=_DEFAULT_DOMAIN,
            doc="Integer mean over `axes` (ReduceMean semantics and defaults).",
            inputs=(_DATA,),
            attributes=(
                _Attr("axes", _INTS, "Axes to reduce; all axes if absent.", required=False),
                _Attr("keepdims", _INT, "Keep reduced axes as size 1.", False, default=1),
            ),
            type_constraints=(_T_NUMERIC,),
            inference=_infer_reduce,
        ),
        _Spec(
            name="iLayerNorm",
            domain=_DEFAULT_DOMAIN,
            doc="Integer layer normalization over the last axis with scale and bias.",
            inputs=(_DATA, weight, _Input("bias", "T1", "Per-feature bias over the last axis.")),
            attributes=(
                _Attr("D", _TENSOR, "Fixed-point scale of the normalization."),
                _Attr("n_levels", _TENSOR, "Number of output levels."),
            ),
            type_constraints=(_T_NUMERIC, _T1_NUMERIC),
            inference=_infer_like_input,
        ),
        _Spec(
            name="iRMSNorm",
            domain=_DEFAULT_DOMAIN,
            doc="Integer RMS normalization over the last axis with a scale input.",
            inputs=(_DATA, weight),
            attributes=(
                _Attr("D", _INT, "Fixed-point scale of the normalization."),
                _Attr("n_levels", _INT, "Number of output levels."),
            ),
            type_constraints=(_T_NUMERIC, _T1_NUMERIC),
            inference=_infer_like_input,
        ),
        _Spec(
            name="RMSNorm",
            domain=_DEFAULT_DOMAIN,
            doc="y = x / sqrt(mean(x^2, last axis) + eps) * weight.",
            inputs=(_DATA, _Input("weight", "T", "Per-feature scale over the last axis.")),
            attributes=(
                # 1e-6 matches the reference outputs of graphs that omit it.
                _Attr("eps", _FLOAT, "Added to the mean square before sqrt.", False, 1e-6),
            ),
            type_constraints=(_T_FLOAT,),
            inference=_infer_like_input,
        ),
        _Spec(
            name="Gelu",
            domain=_MICROSOFT_DOMAIN,
            doc="Exact GELU: y = 0.5 * x * (1 + erf(x / sqrt(2))).",
            inputs=(_Input("X", "T", "Input tensor."),),
            attributes=(),
            type_constraints=(_T_FLOAT,),
            inference=_infer_like_input,
        ),
    )


def _build_attribute(attr: _Attr) -> OpSchema.Attribute:
    """Turn an ``_Attr`` into an ``OpSchema.Attribute`` (with default if it has one)."""
    if attr.default is not None:
        return OpSchema.Attribute(
            attr.name, helper.make_attribute(attr.name, attr.default), attr.description
        )
    return OpSchema.Attribute(attr.name, attr.type, attr.description, required=attr.required)


def _build_schema(spec: _Spec) -> OpSchema:
    """Turn a ``_Spec`` into an ``OpSchema`` with its inference function attached."""
    schema = OpSchema(
        spec.name,
        spec.domain,
        _SINCE_VERSION,
        spec.doc,
        inputs=[OpSchema.FormalParameter(i.name, i.type_str, i.description) for i in spec.inputs],
        outputs=[OpSchema.FormalParameter("data_out", spec.output_type_str, "Output tensor.")],
        type_constraints=[(t, list(allowed), d) for t, allowed, d in spec.type_constraints],
        attributes=[_build_attribute(a) for a in spec.attributes],
    )
    schema.set_type_and_shape_inference_function(spec.inference)
    return schema


def register_custom_schemas() -> None:
    """Register the schemas of all non-standard operators with ONNX.

    Idempotent: operators that already have a schema in their domain (from an earlier
    call, or from ONNX itself) are left untouched. Registration extends the opset
    version range of custom domains as needed.
    """
    for spec in _specs():
        if not defs.has(spec.name, spec.domain):
            defs.register_schema(_build_schema(spec))
