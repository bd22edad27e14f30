"""The one mapping between numpy dtypes and xDSL element types.

Unsigned ONNX types become unsigned builtin integers (`ui8`), signed ones signless
(`i8`), as MLIR's tensor dialects do; booleans are `i1`.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    Signedness,
    TensorType,
)
from xdsl.ir import Attribute

_INT_TYPES: dict[np.dtype, IntegerType] = {
    np.dtype(np.bool_): IntegerType(1),
    np.dtype(np.int8): IntegerType(8),
    np.dtype(np.int16): IntegerType(16),
    np.dtype(np.int32): IntegerType(32),
    np.dtype(np.int64): IntegerType(64),
    np.dtype(np.uint8): IntegerType(8, Signedness.UNSIGNED),
    np.dtype(np.uint16): IntegerType(16, Signedness.UNSIGNED),
    np.dtype(np.uint32): IntegerType(32, Signedness.UNSIGNED),
    np.dtype(np.uint64): IntegerType(64, Signedness.UNSIGNED),
}
_FLOAT_TYPES: dict[np.dtype, Attribute] = {
    np.dtype(np.float16): Float16Type(),
    np.dtype(np.float32): Float32Type(),
    np.dtype(np.float64): Float64Type(),
}


def element_type(dtype: np.dtype | type) -> Attribute:
    """The xDSL element type of a numpy dtype; KeyError for types we do not model."""
    dt = np.dtype(dtype)
    if dt in _INT_TYPES:
        return _INT_TYPES[dt]
    return _FLOAT_TYPES[dt]


def numpy_dtype(elem: Attribute) -> np.dtype:
    """The numpy dtype holding values of an xDSL element type."""
    if isinstance(elem, IntegerType):
        for dt, ty in _INT_TYPES.items():
            if ty == elem:
                return dt
        # Signless and signed integers share storage; `si8` behaves like `i8`.
        signed = IntegerType(elem.width.data)
        for dt, ty in _INT_TYPES.items():
            if ty == signed:
                return dt
    for dt, ty in _FLOAT_TYPES.items():
        if ty == elem:
            return dt
    if isinstance(elem, BFloat16Type):
        raise KeyError("bf16 has no numpy dtype")
    raise KeyError(f"no numpy dtype for {elem}")


def tensor_type(shape: tuple[int, ...] | list[int], dtype: np.dtype | type) -> TensorType:
    return TensorType(element_type(dtype), list(shape))


def is_integer(elem: Attribute) -> bool:
    return isinstance(elem, IntegerType)
