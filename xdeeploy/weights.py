"""Content-addressed storage for large constants.

Textual IR refers to a large tensor by the digest of its bytes (`#dnn.weights<"…">`)
instead of printing it, so a 15M-parameter model prints and parses in milliseconds and
parsing a file twice in one process yields the same attribute (xDSL's `dense_resource`
renames its handles and keeps hex blobs in the file). The blobs live in one folder as
`.npy` files named by their digest: writing the same tensor twice is a no-op, and the
folder can be shared between runs and machines.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from xdeeploy.errors import DeeployError

ENV_VAR = "XDEEPLOY_WEIGHTS_DIR"


def store_dir() -> Path:
    """`$XDEEPLOY_WEIGHTS_DIR`, else `$XDG_CACHE_HOME/xdeeploy/weights` (~/.cache)."""
    if env := os.environ.get(ENV_VAR):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "xdeeploy" / "weights"


def digest(array: np.ndarray) -> str:
    """Names the tensor by dtype, shape and bytes, so equal names mean equal tensors."""
    h = hashlib.sha256()
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:40]


def save(array: np.ndarray) -> str:
    """Stores `array` (atomically: a crash never leaves a partial blob) and returns its digest."""
    name = digest(array)
    folder = store_dir()
    path = folder / f"{name}.npy"
    if path.exists():
        return name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    except OSError as e:
        raise DeeployError(
            f"cannot write weights to {folder}: {e.strerror}; set {ENV_VAR} to a writable folder"
        ) from None
    return name


def load(name: str) -> np.ndarray:
    path = store_dir() / f"{name}.npy"
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DeeployError(
            f"weights '{name}' not found in {path.parent}: import the ONNX model again "
            f"or point {ENV_VAR} at the folder that holds them"
        ) from None
