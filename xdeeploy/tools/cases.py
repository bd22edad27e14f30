"""Test cases for `deeploy run` / `deeploy reference`: discovery, npz binding, comparison.

The npz conventions are Deeploy's (see DESIGN.md §6): arrays are taken in file order,
empty ones skipped, and bound positionally to the graph inputs that are not
initializers; extra arrays are ignored.  Outputs are bound the same way.  Input C types
are inferred from the data the way Deeploy's harness does, unless overridden.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from xdeeploy.errors import DeeployError

# The files that make a folder a test case, in Deeploy's layout.
NETWORK_FILE = "network.onnx"
INPUTS_FILE = "inputs.npz"
OUTPUTS_FILE = "outputs.npz"

# Types a user may name with --input-type (Deeploy's names without the `_t`).
DEEPLOY_TYPES: dict[str, np.dtype] = {
    name: np.dtype(name)
    for name in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "float32")
}

# Candidates for inference, narrowest first and signed before unsigned at each width:
# this order is what makes all-zero data int8 and 0..255 uint8, as in Deeploy.
_INFERABLE_INTEGER_TYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(name) for name in ("int8", "uint8", "int16", "uint16", "int32", "uint32")
)

# Float tolerance of Deeploy's harness, scaled by the magnitude of large values.
FLOAT_RTOL = 1e-4


# ----------------------------------------------------------------------------- types


@dataclass(frozen=True)
class InputType:
    """The C type of one network input and the offset Deeploy adds to its data.

    The offset is a storage shift (Deeploy's input offset map): the C harness writes
    `data + offset` into a buffer of `dtype`; reference engines see the plain data.
    """

    dtype: np.dtype
    offset: int = 0

    def __str__(self) -> str:
        return f"{self.dtype.name},{self.offset}" if self.offset else self.dtype.name


def _is_integer_valued(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "iub":
        return True
    if arr.dtype.kind != "f":
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.all(arr == np.round(arr)))


def _fits(lo: float, hi: float, dtype: np.dtype) -> bool:
    info = np.iinfo(dtype)
    return info.min <= lo and hi <= info.max


def infer_input_type(arr: np.ndarray) -> np.dtype:
    """The type Deeploy's harness gives an input from its data (narrowest integer type,
    unsigned first at each width, else float32); see `integer_reference.infer_input_type`."""
    from xdeeploy.interp.integer_reference import infer_input_type as deeploy_type

    if arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr)):
        return np.dtype("float32")  # ±inf and NaN are not integers
    try:
        return deeploy_type(arr)
    except ValueError:  # wider than 64 bits
        return np.dtype("float32")


def parse_input_type(spec: str) -> tuple[str, InputType]:
    """Parse `NAME=TYPE[,OFFSET]` from --input-type."""
    name, sep, rest = spec.partition("=")
    type_name, _, offset_text = rest.partition(",")
    type_name = type_name.strip().removesuffix("_t")  # accept Deeploy's `int8_t` too
    if not sep or not name or type_name not in DEEPLOY_TYPES:
        raise DeeployError(
            f"--input-type {spec!r}: expected NAME=TYPE[,OFFSET] with TYPE one of "
            f"{', '.join(DEEPLOY_TYPES)}"
        )
    try:
        offset = int(offset_text) if offset_text.strip() else 0
    except ValueError:
        raise DeeployError(f"--input-type {spec!r}: OFFSET must be an integer") from None
    return name, InputType(DEEPLOY_TYPES[type_name], offset)


# ----------------------------------------------------------------------------- files


def load_npz(path: Path) -> list[tuple[str, np.ndarray]]:
    """The non-empty arrays of an npz file, in file order (Deeploy skips empty ones)."""
    if not path.is_file():
        raise DeeployError(f"{path}: no such npz file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DeeployError(f"{path}: not an npz archive (np.savez writes one)")
        with loaded as npz:
            arrays = [(key, npz[key]) for key in npz.files]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise DeeployError(
            f"{path}: not a readable npz file ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    return [(key, arr) for key, arr in arrays if arr.size > 0]


def write_npz_atomic(path: Path, arrays: Sequence[tuple[str, np.ndarray]]) -> None:
    """Write arrays under the given keys, in order, via a temp file and a rename.

    The zip is written by hand rather than with np.savez so that any ONNX name works
    as a key (np.savez reserves `file` and `allow_pickle`) and so that entries carry a
    fixed timestamp: the same outputs give a byte-identical file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for key, arr in arrays:
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asarray(arr), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One model to run, its input data and (optionally) its expected outputs."""

    name: str
    model_path: Path
    inputs_path: Path | None
    expect_path: Path | None


def discover_cases(
    args: Sequence[str], inputs: Path | None = None, expect: Path | None = None
) -> list[Case]:
    """Expand CASE arguments: case folders, folders of cases, or MODEL.onnx files.

    `inputs` / `expect` belong to the MODEL.onnx arguments; folders bring their own.
    """
    onnx_args = [arg for arg in args if arg.endswith(".onnx")]
    if (inputs or expect) and not onnx_args:
        raise DeeployError("--inputs/--expect go with a MODEL.onnx argument, not a case folder")
    cases: list[Case] = []
    folders = [Path(a).resolve() for a in args if Path(a).is_dir()]
    # With several folders, names are relative to their common parent so that
    # `Kernels/FP32/Add/Regular` and `Models/...` stay distinguishable.
    base = Path(os.path.commonpath(folders)) if len(folders) > 1 else None
    for arg in args:
        path = Path(arg)
        if arg.endswith(".onnx"):
            if not path.is_file():
                raise DeeployError(f"{arg}: no such ONNX file")
            cases.append(Case(arg, path, inputs, expect))
        elif path.is_dir():
            cases.extend(_cases_under(arg, path, base))
        else:
            raise DeeployError(f"{arg}: not a case folder, a folder of cases or a .onnx file")
    return cases


def _cases_under(arg: str, root: Path, base: Path | None = None) -> list[Case]:
    # A folder is a case if it holds network.onnx; a missing npz then fails the case
    # visibly instead of the folder being silently ignored.
    found = [root] if (root / NETWORK_FILE).is_file() else []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if NETWORK_FILE in filenames and Path(dirpath) != root:
            found.append(Path(dirpath))
    if not found:
        raise DeeployError(
            f"{arg}: no test cases below (a case is a folder with {NETWORK_FILE}, "
            f"{INPUTS_FILE} and {OUTPUTS_FILE})"
        )
    # Sorted by path so that the report does not depend on the file system's order.
    found.sort(key=lambda d: d.relative_to(root).parts)

    def name(d: Path) -> str:
        if base is not None and d.resolve() != base:
            return d.resolve().relative_to(base).as_posix()
        return (arg.rstrip("/") or arg) if d == root else d.relative_to(root).as_posix()

    return [
        Case(
            name(d),
            d / NETWORK_FILE,
            d / INPUTS_FILE,
            d / OUTPUTS_FILE,
        )
        for d in found
    ]


# ----------------------------------------------------------------------------- binding


@dataclass(frozen=True)
class BoundInput:
    """One graph input with its data.

    `data` has the graph input's ONNX element type and static shape, ready for a
    reference engine; `type` is the C type (and offset) a generated harness uses.
    """

    name: str
    data: np.ndarray
    type: InputType


@dataclass(frozen=True)
class ExpectedOutput:
    """One graph output with its expected data and how it is compared."""

    name: str
    data: np.ndarray
    exact: bool  # integer outputs are compared bit-exactly


def runtime_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that take data: initializers listed as inputs are weights."""
    weights = {t.name for t in model.graph.initializer}
    weights |= {t.values.name for t in model.graph.sparse_initializer}
    return [v for v in model.graph.input if v.name not in weights]


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    """The declared shape, None per unknown dim, or None if the rank is unknown."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


def _elem_dtype(value: onnx.ValueInfoProto) -> np.dtype | None:
    elem = value.type.tensor_type.elem_type
    if elem == onnx.TensorProto.UNDEFINED:
        return None
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
    except (KeyError, TypeError, ValueError):
        return None


def _fit_shape(
    kind: str, name: str, arr: np.ndarray, shape: tuple[int | None, ...] | None
) -> np.ndarray:
    """Reshape data to the declared shape; Deeploy stores arrays flattened."""
    if shape is None:
        return arr
    static = [d for d in shape if d is not None]
    if len(static) == len(shape):
        if math.prod(static) == arr.size:
            return arr.reshape(static)
    elif len(shape) == arr.ndim and all(
        d in (None, n) for d, n in zip(shape, arr.shape, strict=True)
    ):
        return arr
    shown = "x".join("?" if d is None else str(d) for d in shape) or "scalar"
    have = "x".join(map(str, arr.shape)) or "scalar"
    raise DeeployError(
        f"{kind} {name!r}: the model declares shape {shown} but the npz array has shape "
        f"{have}; check the npz matches this model"
    )


def _resolve_overrides(
    inputs: Sequence[onnx.ValueInfoProto], overrides: Mapping[str, InputType]
) -> dict[str, InputType]:
    """Key overrides by graph input name; Deeploy's `input_N` names are accepted too."""
    names = [v.name for v in inputs]
    resolved: dict[str, InputType] = {}
    for key, input_type in overrides.items():
        if key in names:
            resolved[key] = input_type
        elif key.startswith("input_") and key[6:].isdigit() and int(key[6:]) < len(names):
            resolved[names[int(key[6:])]] = input_type
        else:
            raise DeeployError(
                f"--input-type {key}: the model has no input of that name "
                f"(inputs: {', '.join(names) or 'none'})"
            )
    return resolved


def _check_override(name: str, arr: np.ndarray, input_type: InputType) -> None:
    if input_type.dtype.kind == "f":
        return
    if not _is_integer_valued(arr):
        raise DeeployError(
            f"input {name!r}: --input-type {input_type.dtype.name} given but the data is not "
            "integer-valued"
        )
    lo, hi = float(np.min(arr)) + input_type.offset, float(np.max(arr)) + input_type.offset
    if not _fits(lo, hi, input_type.dtype):
        raise DeeployError(
            f"input {name!r}: data plus offset spans [{lo:g}, {hi:g}], which does not fit "
            f"--input-type {input_type}"
        )


def _converts_exactly(arr: np.ndarray, dtype: np.dtype) -> bool:
    """Whether `arr` survives a cast to the integer type `dtype` unchanged."""
    if not _is_integer_valued(arr):
        return False
    return arr.size == 0 or _fits(float(np.min(arr)), float(np.max(arr)), dtype)


def _to_graph_dtype(name: str, arr: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    """Cast npz data to the graph input's element type, refusing lossy integer casts."""
    if dtype is None or arr.dtype == dtype:
        return arr
    if dtype.kind in "iu" and not _converts_exactly(arr, dtype):
        raise DeeployError(
            f"input {name!r}: the model declares {dtype.name} but the npz data "
            f"({arr.dtype.name}) does not convert to it exactly"
        )
    return arr.astype(dtype)


def bind_inputs(
    model: onnx.ModelProto,
    arrays: Sequence[tuple[str, np.ndarray]],
    overrides: Mapping[str, InputType] | None = None,
) -> list[BoundInput]:
    """Bind npz arrays (file order, empties already dropped) to the runtime inputs."""
    inputs = runtime_inputs(model)
    resolved = _resolve_overrides(inputs, overrides or {})
    bound: list[BoundInput] = []
    pending = iter(arrays)
    for value in inputs:
        shape = _static_shape(value)
        dtype = _elem_dtype(value)
        if shape is not None and 0 in shape:
            # Deeploy drops 0-sized inputs; a reference engine still needs a tensor.
            empty = np.zeros(shape, dtype or np.float32)  # type: ignore[arg-type]
            bound.append(BoundInput(value.name, empty, InputType(empty.dtype)))
            continue
        entry = next(pending, None)
        if entry is None:
            raise DeeployError(
                f"input {value.name!r} has no data: the npz holds {len(arrays)} non-empty "
                f"array(s) for {len(inputs)} model input(s); add one per input, in order"
            )
        raw = _fit_shape("input", value.name, entry[1], shape)
        if value.name in resolved:
            input_type = resolved[value.name]
            _check_override(value.name, raw, input_type)
        else:
            input_type = InputType(infer_input_type(raw))
        bound.append(BoundInput(value.name, _to_graph_dtype(value.name, raw, dtype), input_type))
    return bound


def bind_outputs(
    model: onnx.ModelProto, arrays: Sequence[tuple[str, np.ndarray]]
) -> list[ExpectedOutput]:
    """Bind expected arrays (file order) to the graph outputs."""
    outputs = list(model.graph.output)
    if len(arrays) < len(outputs):
        missing = outputs[len(arrays)].name
        raise DeeployError(
            f"output {missing!r} has no expected data: the npz holds {len(arrays)} non-empty "
            f"array(s) for {len(outputs)} model output(s)"
        )
    expected: list[ExpectedOutput] = []
    for value, (_, arr) in zip(outputs, arrays, strict=False):  # extras ignored
        data = _fit_shape("output", value.name, arr, _static_shape(value))
        # Strictly integral data is compared exactly (Deeploy's 0.001-tolerant integer
        # test is for typing inputs: tiny float logits would pass it).
        exact = data.dtype.kind in "iub" or bool(
            data.size and np.all(np.isfinite(data)) and np.all(data == np.round(data))
        )
        expected.append(ExpectedOutput(value.name, data, exact))
    return expected


# ----------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing one output; `error` is None when it matches."""

    max_abs_diff: float
    error: str | None


def compare_output(expected: ExpectedOutput, produced: np.ndarray) -> Comparison:
    """Integers bit-exact; floats |a-b| <= 1e-4*max(1,|b|) (Deeploy's tolerance)."""
    name = expected.name
    want = expected.data
    if produced.size != want.size:
        return Comparison(
            math.inf,
            f"output {name!r} has shape {_shape_text(produced)}, expected {_shape_text(want)}",
        )
    # Deeploy compares flattened buffers, so only the element count has to agree.
    want = want.reshape(produced.shape)
    if expected.exact and produced.dtype.kind in "iub" and want.dtype.kind in "iub":
        # Both integer: compare as Python-width integers, no float rounding involved.
        diff = np.abs(produced.astype(np.int64) - want.astype(np.int64)).astype(np.float64)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(produced.astype(np.float64) - want.astype(np.float64))
        got, ref = produced.astype(np.float64), want.astype(np.float64)
        # Equal values (infinities included) and NaN against NaN match; any other NaN
        # is as far off as it gets.
        same = (got == ref) | (np.isnan(got) & np.isnan(ref))
        diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
    if expected.exact:
        tol = np.zeros_like(diff)
    else:
        ref_abs = np.abs(want.astype(np.float64))
        tol = np.where(np.isfinite(ref_abs), FLOAT_RTOL * np.maximum(1.0, ref_abs), 0.0)
    bad = diff > tol
    max_diff = float(diff.max()) if diff.size else 0.0
    if not bad.any():
        return Comparison(max_diff, None)
    # Point at the worst violation: the largest excess over the tolerance.
    worst = np.unravel_index(int(np.argmax(np.where(bad, diff - tol, -np.inf))), diff.shape)
    index = ", ".join(map(str, worst)) if worst else ""
    return Comparison(
        max_diff,
        f"output {name!r} max abs diff {diff[worst]:.6g} at index [{index}] "
        f"(tol {tol[worst]:.3g}); {int(bad.sum())} of {diff.size} elements differ",
    )


def _shape_text(arr: np.ndarray) -> str:
    return "x".join(map(str, arr.shape)) or "scalar"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


def input_types(bound: Iterable[BoundInput]) -> dict[str, InputType]:
    return {b.name: b.type for b in bound}
