#!/usr/bin/env bash
# Sets up everything xdeeploy needs on a fresh Debian machine; safe to run again.
# Creates .venv with the package (editable) and its test tools. System packages
# (RISC-V toolchain, QEMU) are added here when a platform first needs them.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: xdeeploy needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency list changed: a second run takes a second.
stamp=.venv/.xdeeploy-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c 'import xdeeploy' 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    echo "$want" > "$stamp"
fi
