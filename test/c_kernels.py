"""Test helpers for the C kernels: build and load them with ctypes, and re-run a test
file in a subprocess against ASan + UBSan builds."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

SANITIZE_ENV = "XDEEPLOY_SANITIZE"
"""Set to 1 in the re-run: the file then builds its kernels with the sanitizers."""


SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def load_kernels(
    out: Path,
    sources: Sequence[Path],
    flags: Sequence[str],
    include: Path,
    signatures: Mapping[str, list[Any]],
) -> ctypes.CDLL:
    """Builds `sources` into the shared library `out` (with the sanitizers in the re-run
    of `rerun_under_sanitizers`) and declares the ctypes argument types of `signatures`."""
    extra = [*SANITIZE, "-g"] if os.environ.get(SANITIZE_ENV) == "1" else []
    cmd = ["gcc", *flags, *extra, "-shared", "-fPIC", f"-I{include}", *map(str, sources)]
    proc = subprocess.run([*cmd, "-o", str(out), "-lm"], capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    dll = ctypes.CDLL(str(out))
    for name, argtypes in signatures.items():
        fn = getattr(dll, name)
        fn.argtypes = argtypes
        fn.restype = None
    return dll


def rerun_under_sanitizers(test_file: str, tmp_path: Path, deselect: str) -> None:
    """Runs `test_file`'s tests (less `deselect`, a -k expression) with libasan preloaded
    and fails with the start of the first sanitizer report."""
    libasan = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not os.path.isabs(libasan):
        pytest.skip("gcc has no libasan")
    env = dict(os.environ)
    env.update(
        {
            SANITIZE_ENV: "1",
            "LD_PRELOAD": libasan,
            # Python itself leaks by design; abort on the first error of any kind.
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:halt_on_error=1",
            "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "--capture=sys", "-p", "no:cacheprovider"]
    cmd += ["-p", "no:xdist", f"--basetemp={tmp_path / 'run'}", "-k", f"not {deselect}"]
    cmd.append(str(Path(test_file)))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    # --capture=sys leaves fd 2 alone, so sanitizer reports reach proc.stderr: show the
    # start of the first one (the stack trace of the bad access).
    found = [output.find(m) for m in ("ERROR: AddressSanitizer", "runtime error:")]
    start = min((i for i in found if i >= 0), default=-1)
    report = output[start : start + 4000] if start >= 0 else output[-4000:]
    assert proc.returncode == 0 and start < 0, report
    assert " passed" in proc.stdout, report
