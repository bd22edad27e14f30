"""xDSL interpreter implementations of the `dnn` ops: tensors are numpy arrays.

Each `@impl` unpacks the op's properties and calls the op's semantics in
`xdeeploy.interp.reference`, so the interpreter and any constant folding share one
definition of what an op computes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.dialects.builtin import I64, DenseArrayBase, FloatAttr, IntegerAttr, TensorType
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import Operation

from xdeeploy.dialects import dnn
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.interp import integer_norms as inorm
from xdeeploy.interp import integer_reference as iref
from xdeeploy.interp import reference as ref

Args = PythonValues


def _ints(attr: DenseArrayBase[I64]) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values())


def _float(attr: FloatAttr | None, default: float) -> float:
    return default if attr is None else float(attr.value.data)


def _bound(attr: FloatAttr | None) -> float | None:
    return None if attr is None else float(attr.value.data)


def _optional(args: Args, index: int) -> Any:
    """An optional trailing operand: absent operands are simply not in `args`."""
    return args[index] if index < len(args) else None


def _result_dtype(op: Operation, index: int = 0) -> np.dtype:
    ty = op.results[index].type
    assert isinstance(ty, TensorType)
    return numpy_dtype(ty.element_type)


def _is_integer_result(op: Operation) -> bool:
    dtype = _result_dtype(op)
    return dtype.kind in "iu"


def _widen(op: Operation, args: Args) -> Args:
    """Integer results are computed exactly: integer operands widen to int64 first."""
    if not _is_integer_result(op):
        return args
    return tuple(
        a.astype(np.int64) if isinstance(a, np.ndarray) and a.dtype.kind in "iub" else a
        for a in args
    )


def _fit(op: Operation, value: np.ndarray) -> np.ndarray:
    """`value` in the op's result type. Integers wrap around (ONNX), except in ops whose
    type was inferred from the data (`dnn.inferred`): there a value that does not fit is
    an error naming the node, since the inferred typing is wrong for this data."""
    dtype = _result_dtype(op)
    if dtype.kind in "iu" and value.size and "dnn.inferred" in op.attributes:
        info = np.iinfo(dtype)
        lo, hi = value.min(), value.max()
        if lo < info.min or hi > info.max:
            raise DeeployError(
                f"node '{dnn.node_name(op)}' ({op.name}): value {lo if lo < info.min else hi} "
                f"does not fit its type {dtype.name}; give the input types with --input-type"
            )
    return value.astype(dtype, copy=False)


def _binary(fn: Any) -> Any:
    def run(self: Any, interpreter: Interpreter, op: Operation, args: Args) -> PythonValues:
        if _is_integer_result(op):
            a, b = _widen(op, args)
            return (_fit(op, fn(a, b)),)
        return (fn(args[0], args[1]),)

    return run


def _unary(fn: Any) -> Any:
    def run(self: Any, interpreter: Interpreter, op: Operation, args: Args) -> PythonValues:
        return (fn(args[0]),)

    return run


def _reduce(fn: Any) -> Any:
    def run(self: Any, interpreter: Interpreter, op: dnn.ReduceOp, args: Args) -> PythonValues:
        return (fn(args[0], axes=_ints(op.axes), keepdims=op.keepdims is not None),)

    return run


@register_impls
class DnnFunctions(InterpreterFunctions):
    @impl(dnn.ConstantOp)
    def run_constant(
        self, interpreter: Interpreter, op: dnn.ConstantOp, args: Args
    ) -> PythonValues:
        return (dnn.constant_value(op.value),)

    run_add = impl(dnn.AddOp)(_binary(ref.add))
    run_sub = impl(dnn.SubOp)(_binary(ref.sub))
    run_mul = impl(dnn.MulOp)(_binary(ref.mul))
    run_div = impl(dnn.DivOp)(_binary(ref.div))
    run_pow = impl(dnn.PowOp)(_binary(ref.pow))
    run_max = impl(dnn.MaxOp)(_binary(ref.maximum))
    run_min = impl(dnn.MinOp)(_binary(ref.minimum))
    run_equal = impl(dnn.EqualOp)(_binary(ref.equal))
    run_less = impl(dnn.LessOp)(_binary(ref.less))
    run_greater = impl(dnn.GreaterOp)(_binary(ref.greater))

    run_sqrt = impl(dnn.SqrtOp)(_unary(ref.sqrt))
    run_neg = impl(dnn.NegOp)(_unary(ref.neg))
    run_abs = impl(dnn.AbsOp)(_unary(ref.abs))
    run_exp = impl(dnn.ExpOp)(_unary(ref.exp))
    run_log = impl(dnn.LogOp)(_unary(ref.log))
    run_erf = impl(dnn.ErfOp)(_unary(ref.erf))
    run_tanh = impl(dnn.TanhOp)(_unary(ref.tanh))
    run_relu = impl(dnn.ReluOp)(_unary(ref.relu))
    run_sigmoid = impl(dnn.SigmoidOp)(_unary(ref.sigmoid))
    run_silu = impl(dnn.SiluOp)(_unary(ref.silu))
    run_reciprocal = impl(dnn.ReciprocalOp)(_unary(ref.reciprocal))
    run_cos = impl(dnn.CosOp)(_unary(ref.cos))
    run_sin = impl(dnn.SinOp)(_unary(ref.sin))
    run_floor = impl(dnn.FloorOp)(_unary(ref.floor))
    run_ceil = impl(dnn.CeilOp)(_unary(ref.ceil))
    run_round = impl(dnn.RoundOp)(_unary(ref.round))
    run_hardswish = impl(dnn.HardSwishOp)(_unary(ref.hardswish))

    @impl(dnn.GeluOp)
    def run_gelu(self, interpreter: Interpreter, op: dnn.GeluOp, args: Args) -> PythonValues:
        approx = op.approximate.data if op.approximate else "none"
        return (ref.gelu(args[0], approximate=approx),)

    @impl(dnn.HardSigmoidOp)
    def run_hardsigmoid(
        self, interpreter: Interpreter, op: dnn.HardSigmoidOp, args: Args
    ) -> PythonValues:
        return (ref.hardsigmoid(args[0], alpha=op.alpha.value.data, beta=op.beta.value.data),)

    @impl(dnn.LeakyReluOp)
    def run_leaky_relu(
        self, interpreter: Interpreter, op: dnn.LeakyReluOp, args: Args
    ) -> PythonValues:
        return (ref.leaky_relu(args[0], alpha=op.alpha.value.data),)

    @impl(dnn.ClipOp)
    def run_clip(self, interpreter: Interpreter, op: dnn.ClipOp, args: Args) -> PythonValues:
        return (ref.clip(args[0], _bound(op.min), _bound(op.max)),)

    @impl(dnn.WhereOp)
    def run_where(self, interpreter: Interpreter, op: dnn.WhereOp, args: Args) -> PythonValues:
        return (ref.where(*args),)

    @impl(dnn.CastOp)
    def run_cast(self, interpreter: Interpreter, op: dnn.CastOp, args: Args) -> PythonValues:
        return (ref.cast(args[0], _result_dtype(op)),)

    @impl(dnn.MatmulOp)
    def run_matmul(self, interpreter: Interpreter, op: dnn.MatmulOp, args: Args) -> PythonValues:
        a, b = _widen(op, args)
        return (_fit(op, ref.matmul(a, b)),)

    @impl(dnn.GemmOp)
    def run_gemm(self, interpreter: Interpreter, op: dnn.GemmOp, args: Args) -> PythonValues:
        alpha, beta = _float(op.alpha, 1.0), _float(op.beta, 1.0)
        trans_a, trans_b = op.trans_a is not None, op.trans_b is not None
        if _is_integer_result(op):  # Deeploy's integer Gemm: integral alpha/beta, int64 sums
            out = iref.gemm(
                args[0], args[1], _optional(args, 2), alpha=int(alpha), beta=int(beta),
                trans_a=trans_a, trans_b=trans_b,
            )  # fmt: skip
            return (_fit(op, out),)
        out = ref.gemm(
            args[0], args[1], _optional(args, 2),
            alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b,
        )  # fmt: skip
        return (out.astype(_result_dtype(op), copy=False),)

    @impl(dnn.ConvOp)
    def run_conv(self, interpreter: Interpreter, op: dnn.ConvOp, args: Args) -> PythonValues:
        args = _widen(op, args)
        out = ref.conv(
            args[0], args[1], _optional(args, 2),
            strides=_ints(op.strides), pads=_ints(op.pads), dilations=_ints(op.dilations),
            group=op.group.value.data,
        )  # fmt: skip
        return (_fit(op, out),)

    @impl(dnn.MaxPoolOp)
    def run_max_pool(self, interpreter: Interpreter, op: dnn.MaxPoolOp, args: Args) -> PythonValues:
        out = ref.max_pool(
            args[0], kernel_shape=_ints(op.kernel_shape), strides=_ints(op.strides),
            pads=_ints(op.pads), dilations=_ints(op.dilations), ceil_mode=op.ceil_mode is not None,
        )  # fmt: skip
        return (out,)

    @impl(dnn.AveragePoolOp)
    def run_average_pool(
        self, interpreter: Interpreter, op: dnn.AveragePoolOp, args: Args
    ) -> PythonValues:
        out = ref.average_pool(
            args[0], kernel_shape=_ints(op.kernel_shape), strides=_ints(op.strides),
            pads=_ints(op.pads), count_include_pad=op.count_include_pad is not None,
            ceil_mode=op.ceil_mode is not None,
        )  # fmt: skip
        return (out,)

    @impl(dnn.SoftmaxOp)
    def run_softmax(self, interpreter: Interpreter, op: dnn.SoftmaxOp, args: Args) -> PythonValues:
        return (ref.softmax(args[0], axis=op.axis.value.data),)

    @impl(dnn.LogSoftmaxOp)
    def run_log_softmax(
        self, interpreter: Interpreter, op: dnn.LogSoftmaxOp, args: Args
    ) -> PythonValues:
        return (ref.log_softmax(args[0], axis=op.axis.value.data),)

    @impl(dnn.LayerNormOp)
    def run_layer_norm(
        self, interpreter: Interpreter, op: dnn.LayerNormOp, args: Args
    ) -> PythonValues:
        bias = _optional(args, 2)
        out = ref.layer_norm(
            args[0], args[1], bias, axis=op.axis.value.data, epsilon=op.epsilon.value.data
        )
        return (out,)

    @impl(dnn.RmsNormOp)
    def run_rms_norm(self, interpreter: Interpreter, op: dnn.RmsNormOp, args: Args) -> PythonValues:
        scale = _optional(args, 1)
        return (
            ref.rms_norm(args[0], scale, axis=op.axis.value.data, epsilon=op.epsilon.value.data),
        )

    run_reduce_mean = impl(dnn.ReduceMeanOp)(_reduce(ref.reduce_mean))
    run_reduce_sum = impl(dnn.ReduceSumOp)(_reduce(ref.reduce_sum))
    run_reduce_max = impl(dnn.ReduceMaxOp)(_reduce(ref.reduce_max))
    run_reduce_min = impl(dnn.ReduceMinOp)(_reduce(ref.reduce_min))

    @impl(dnn.GatherOp)
    def run_gather(self, interpreter: Interpreter, op: dnn.GatherOp, args: Args) -> PythonValues:
        return (ref.gather(args[0], args[1], axis=op.axis.value.data),)

    @impl(dnn.TransposeOp)
    def run_transpose(
        self, interpreter: Interpreter, op: dnn.TransposeOp, args: Args
    ) -> PythonValues:
        return (ref.transpose(args[0], perm=_ints(op.perm)),)

    @impl(dnn.ReshapeOp)
    def run_reshape(self, interpreter: Interpreter, op: dnn.ReshapeOp, args: Args) -> PythonValues:
        assert isinstance(op.result.type, TensorType)
        return (ref.reshape(args[0], shape=op.result.type.get_shape()),)

    @impl(dnn.ExpandOp)
    def run_expand(self, interpreter: Interpreter, op: dnn.ExpandOp, args: Args) -> PythonValues:
        assert isinstance(op.result.type, TensorType)
        return (ref.expand(args[0], shape=op.result.type.get_shape()),)

    @impl(dnn.ConcatOp)
    def run_concat(self, interpreter: Interpreter, op: dnn.ConcatOp, args: Args) -> PythonValues:
        return (ref.concat(list(args), axis=op.axis.value.data),)

    @impl(dnn.SliceOp)
    def run_slice(self, interpreter: Interpreter, op: dnn.SliceOp, args: Args) -> PythonValues:
        out = ref.slice(
            args[0], starts=_ints(op.starts), ends=_ints(op.ends), steps=_ints(op.steps)
        )
        return (out,)

    @impl(dnn.SplitOp)
    def run_split(self, interpreter: Interpreter, op: dnn.SplitOp, args: Args) -> PythonValues:
        axis = op.axis.value.data
        sizes = []
        for r in op.outputs:
            assert isinstance(r.type, TensorType)
            sizes.append(r.type.get_shape()[axis])
        return tuple(ref.split(args[0], axis=axis, sizes=sizes))

    @impl(dnn.QuantizeLinearOp)
    def run_quantize_linear(
        self, interpreter: Interpreter, op: dnn.QuantizeLinearOp, args: Args
    ) -> PythonValues:
        return (ref.quantize_linear(args[0], args[1], args[2], axis=op.axis.value.data),)

    @impl(dnn.DequantizeLinearOp)
    def run_dequantize_linear(
        self, interpreter: Interpreter, op: dnn.DequantizeLinearOp, args: Args
    ) -> PythonValues:
        return (ref.dequantize_linear(args[0], args[1], args[2], axis=op.axis.value.data),)

    @impl(dnn.PadOp)
    def run_pad(self, interpreter: Interpreter, op: dnn.PadOp, args: Args) -> PythonValues:
        return (ref.pad(args[0], pads=_ints(op.pads), value=_float(op.value, 0.0)),)

    @impl(dnn.ScatterNDOp)
    def run_scatter_nd(
        self, interpreter: Interpreter, op: dnn.ScatterNDOp, args: Args
    ) -> PythonValues:
        return (ref.scatter_nd(args[0], args[1], args[2]),)


# ---------------------------------------------------------------------------- integer ops


def _int(x: np.ndarray) -> np.ndarray:
    """Integer values of a tensor, whether it is integer-typed or fake-quantized float."""
    return np.rint(x).astype(np.int64) if x.dtype.kind == "f" else x.astype(np.int64)


def _v(attr: IntegerAttr) -> int:
    return int(attr.value.data)


def _integer(op: Operation, value: np.ndarray) -> PythonValues:
    """Exact integer results stored in the op's result type (float for fake-quantized
    graphs, the integer type once the graph is typed)."""
    return (_fit(op, value),)


@register_impls
class DnnIntegerFunctions(InterpreterFunctions):
    @impl(dnn.RequantShiftOp)
    def run_requant_shift(
        self, interpreter: Interpreter, op: dnn.RequantShiftOp, args: Args
    ) -> PythonValues:
        out = iref.requant_shift(
            _int(args[0]), _int(args[1]), _int(args[2]),
            div=_v(op.div), n_levels=_v(op.n_levels), signed=op.signed is not None,
        )  # fmt: skip
        return _integer(op, out)

    @impl(dnn.ISoftmaxOp)
    def run_i_softmax(
        self, interpreter: Interpreter, op: dnn.ISoftmaxOp, args: Args
    ) -> PythonValues:
        out = inorm.i_softmax(
            _int(args[0]), coeff_a=_v(op.coeff_a), coeff_b=_v(op.coeff_b),
            coeff_c=_v(op.coeff_c), log2=_v(op.log2), n_levels=_v(op.n_levels),
        )  # fmt: skip
        return _integer(op, out)

    @impl(dnn.ITAMaxOp)
    def run_ita_max(self, interpreter: Interpreter, op: dnn.ITAMaxOp, args: Args) -> PythonValues:
        return _integer(op, inorm.ita_max(_int(args[0]), n_levels=_v(op.n_levels)))

    @impl(dnn.IRMSNormOp)
    def run_i_rms_norm(
        self, interpreter: Interpreter, op: dnn.IRMSNormOp, args: Args
    ) -> PythonValues:
        out = inorm.i_rms_norm(_int(args[0]), _int(args[1]), d=_v(op.d), n_levels=_v(op.n_levels))
        return _integer(op, out)

    @impl(dnn.ILayerNormOp)
    def run_i_layer_norm(
        self, interpreter: Interpreter, op: dnn.ILayerNormOp, args: Args
    ) -> PythonValues:
        out = inorm.i_layer_norm(
            _int(args[0]), _int(args[1]), _int(args[2]), d=_v(op.d), n_levels=_v(op.n_levels)
        )
        return _integer(op, out)

    @impl(dnn.IGeluOp)
    def run_i_gelu(self, interpreter: Interpreter, op: dnn.IGeluOp, args: Args) -> PythonValues:
        return _integer(op, iref.igelu(_int(args[0]), b=_v(op.b), one=_v(op.one)))

    @impl(dnn.IHardswishOp)
    def run_i_hardswish(
        self, interpreter: Interpreter, op: dnn.IHardswishOp, args: Args
    ) -> PythonValues:
        out = iref.ihardswish(
            _int(args[0]), one_over_six=_v(op.one_over_six), six=_v(op.six), three=_v(op.three)
        )
        return _integer(op, out)

    @impl(dnn.TrueIntegerDivOp)
    def run_true_integer_div(
        self, interpreter: Interpreter, op: dnn.TrueIntegerDivOp, args: Args
    ) -> PythonValues:
        out = iref.true_integer_div(
            _int(args[0]), Delta=_v(op.delta), eps=_v(op.eps), eta=_v(op.eta), y=_v(op.y)
        )
        return _integer(op, out)

    @impl(dnn.IntegerMeanOp)
    def run_integer_mean(
        self, interpreter: Interpreter, op: dnn.IntegerMeanOp, args: Args
    ) -> PythonValues:
        out = iref.integer_mean(
            _int(args[0]), axes=_ints(op.axes), keepdims=op.keepdims is not None
        )
        return _integer(op, out)
