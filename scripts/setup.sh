#!/usr/bin/env bash
# Sets up everything xdeeploy needs on a fresh Debian machine; safe to run again.
# Installs the RISC-V cross toolchain, picolibc and QEMU (the rv32-virt platform) with
# apt-get, and creates .venv with the package (editable) and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: only when one is missing, so that a second run takes a second.
packages=(gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc)
have_system_tools() {
    command -v riscv64-unknown-elf-gcc >/dev/null &&
        command -v qemu-system-riscv32 >/dev/null &&
        [ -f /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ]
}
if ! have_system_tools; then
    if [ "$(id -u)" = 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        sudo=(none)
    fi
    if [ "${sudo[*]}" = none ]; then
        echo "warning: not root and no sudo: install ${packages[*]} for the rv32-virt platform" >&2
    else
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    fi
fi

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

# Our QEMU plugin counting the instructions of each hart (rv32-virt with --cores > 1):
# rebuilt when its source changed; without QEMU or gcc the counts are simply absent.
plugin=.venv/lib/xdeeploy/libxd_count.so
if command -v gcc >/dev/null && command -v qemu-system-riscv32 >/dev/null; then
    if [ ! -f "$plugin" ] || [ scripts/xd_count_plugin.c -nt "$plugin" ]; then
        mkdir -p "$(dirname "$plugin")"
        gcc -std=c99 -O2 -Wall -Wextra -Werror -shared -fPIC scripts/xd_count_plugin.c -o "$plugin"
    fi
else
    echo "warning: no gcc or qemu-system-riscv32: per-hart instruction counts unavailable" >&2
fi
