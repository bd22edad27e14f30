"""Runs every lit/FileCheck test under test/filecheck as one pytest case each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent / "filecheck"
TESTS = sorted(
    p for p in ROOT.rglob("*") if p.suffix in (".mlir", ".py") and "Output" not in p.parts
)


@pytest.mark.parametrize("path", TESTS, ids=[str(p.relative_to(ROOT)) for p in TESTS])
def test_filecheck(path: Path, tmp_path: Path) -> None:
    lit = Path(sys.executable).parent / "lit"
    env_weights = tmp_path / "weights"
    result = subprocess.run(
        [str(lit), "-v", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": f"{lit.parent}:/usr/bin:/bin", "XDEEPLOY_WEIGHTS_DIR": str(env_weights)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
