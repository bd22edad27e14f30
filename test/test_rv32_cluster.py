"""The cluster runtime (`xd_cluster.h`) on its own, without the compiler: a hand-written
program forks over 8 cores on host threads and on rv32-virt's harts, and must compute
what Python computes serially; on QEMU our plugin's per-hart counts show the harts
sharing a balanced loop, and what a fork and a barrier cost."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import xdeeploy
from xdeeploy.tools.rv32 import (
    CC,
    PLUGIN,
    QEMU,
    _read_counts,  # pyright: ignore[reportPrivateUsage]
    _symbol,  # pyright: ignore[reportPrivateUsage]
    link_command,
    qemu_command,
    stage_runtime,
)

RUNTIME = Path(xdeeploy.__file__).parent / "runtime_c"
M = 0xFFFFFFFF
SLICE, PHASES, ROUNDS, LOOP, BARRIERS = 64, 4, 3, 8192, 16

# Each phase: every core fills its slice, a barrier, then it sums another core's slice
# (a different one per phase), a barrier before the next phase overwrites it. Without
# the first barrier a core reads a slice not written yet, or written in the phase before.
PROGRAM = rf"""
#if !defined(__riscv)
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#endif
#include <stdint.h>
#include <stdio.h>

#include "xd_cluster.h"

#define SLICE {SLICE}
#define PHASES {PHASES}
#define ROUNDS {ROUNDS}
#define LOOP {LOOP}
#define BARRIERS {BARRIERS}

static uint32_t data[XD_MAX_CORES * SLICE];
static uint32_t seen[XD_MAX_CORES];
static uint32_t partial[XD_MAX_CORES];

static uint32_t value(uint32_t round, uint32_t phase, uint32_t i)
{{
    uint32_t x = i + 4096u * phase + 65536u * round;
    x = (x ^ (x >> 16)) * 0x45d9f3bu;
    return x ^ (x >> 16);
}}

static void exchange(int32_t core, void *ctx)
{{
    const uint32_t round = *(const uint32_t *)ctx;
    const uint32_t c = (uint32_t)core;
    uint32_t acc = 0;
    for (uint32_t p = 0; p < PHASES; ++p) {{
        const uint32_t from = (c + 1 + p) % CORES;
        uint32_t sum = 0;
        for (uint32_t i = 0; i < SLICE; ++i)
            data[c * SLICE + i] = value(round, p, c * SLICE + i);
#ifndef SKIP_BARRIER
        xd_cluster_barrier();
#endif
        for (uint32_t i = 0; i < SLICE; ++i)
            sum += data[from * SLICE + i];
        acc = acc * 31u + sum;
        xd_cluster_barrier();
    }}
    seen[c] = acc;
}}

static uint32_t work(uint32_t x)
{{
    for (int k = 0; k < 16; ++k) {{
        x = x * 1103515245u + 12345u;
        x ^= x >> 13;
    }}
    return x;
}}

static void loop(int32_t core, void *ctx)
{{
    const uint32_t cores = *(const uint32_t *)ctx;
    const uint32_t c = (uint32_t)core;
    uint32_t acc = 0;
    for (uint32_t i = c * LOOP / cores; i < (c + 1) * LOOP / cores; ++i)
        acc += work(i);
    partial[c] = acc;
}}

static void nothing(int32_t core, void *ctx)
{{
    (void)core;
    (void)ctx;
}}

static void barriers(int32_t core, void *ctx)
{{
    (void)core;
    (void)ctx;
    for (int k = 0; k < BARRIERS; ++k)
        xd_cluster_barrier();
}}

static uint32_t run_loop(uint32_t cores)
{{
    uint32_t sum = 0;
    xd_cluster_fork((int32_t)cores, loop, &cores);
    for (uint32_t c = 0; c < cores; ++c)
        sum += partial[c];
    return sum;
}}

#if !defined(__riscv)
static int threads(void)
{{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *entry;
    int n = 0;
    if (dir == NULL)
        return -1;
    while ((entry = readdir(dir)) != NULL)
        n += entry->d_name[0] != '.';
    closedir(dir);
    return n;
}}
#endif

/* The marks split the run for the plugin: two empty forks, BARRIERS barriers, the
 * exchange, the loop on one core, the loop on CORES. */
int main(void)
{{
    const uint32_t cores = CORES;
    uint32_t check = 0, serial, parallel;
    xd_cluster_mark();
    xd_cluster_fork(CORES, nothing, NULL);
    xd_cluster_mark();
    xd_cluster_fork(CORES, nothing, NULL);
    xd_cluster_mark();
    xd_cluster_fork(CORES, barriers, NULL);
    xd_cluster_mark();
    for (uint32_t round = 0; round < ROUNDS; ++round) {{
        xd_cluster_fork(CORES, exchange, &round);
        for (uint32_t c = 0; c < cores; ++c)
            check = check * 7u + seen[c];
    }}
    xd_cluster_mark();
    serial = run_loop(1);
    xd_cluster_mark();
    parallel = run_loop(cores);
    xd_cluster_mark();
    printf("exchange %lu\nloop %lu %lu\n", (unsigned long)check, (unsigned long)serial,
           (unsigned long)parallel);
#if !defined(__riscv)
    printf("threads %d\n", threads());
#endif
    return 0;
}}
"""

TRAP = r"""
#include <stdint.h>

#include "xd_cluster.h"

static void crash(int32_t core, void *ctx)
{
    (void)ctx;
    if (core == 3)
        __asm__ volatile("unimp");
    xd_cluster_barrier();
}

int main(void)
{
    xd_cluster_fork(8, crash, 0);
    return 0;
}
"""


def _value(rnd: int, phase: int, i: int) -> int:
    x = (i + 4096 * phase + 65536 * rnd) & M
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M
    return x ^ (x >> 16)


def _exchange(cores: int) -> int:
    check = 0
    for rnd in range(ROUNDS):
        for core in range(cores):
            acc = 0
            for phase in range(PHASES):
                src = (core + 1 + phase) % cores
                total = sum(_value(rnd, phase, src * SLICE + i) for i in range(SLICE))
                acc = (acc * 31 + total) & M
            check = (check * 7 + acc) & M
    return check


def _work(x: int) -> int:
    for _ in range(16):
        x = (x * 1103515245 + 12345) & M
        x ^= x >> 13
    return x


LOOP_SUM = sum(_work(i) for i in range(LOOP)) & M


def _expected(cores: int) -> str:
    return f"exchange {_exchange(cores)}\nloop {LOOP_SUM} {LOOP_SUM}\n"


def _run(cmd: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    # QEMU's semihosting console is its stderr.
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host gcc")
@pytest.mark.parametrize("cores", [1, 8])
def test_host_threads_compute_the_serial_results(cores: int, tmp_path: Path) -> None:
    (tmp_path / "prog.c").write_text(PROGRAM)
    cmd = ["gcc", "-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", "-pthread",
           f"-DCORES={cores}", f"-I{RUNTIME / 'include'}", "prog.c",
           str(RUNTIME / "src" / "cluster.c"), "-o", "prog"]  # fmt: skip
    built = _run(cmd, tmp_path)
    assert built.returncode == 0, built.stderr
    run = _run([str(tmp_path / "prog")], tmp_path)
    assert run.returncode == 0, run.stderr
    # One fork on one core starts no thread; on 8, the 7 workers are started once.
    assert run.stdout == _expected(cores) + f"threads {cores}\n"


needs_rv32 = pytest.mark.skipif(
    shutil.which(CC) is None or shutil.which(QEMU) is None,
    reason=f"{CC} / {QEMU} not installed (scripts/setup.sh installs them)",
)


def _rv32_elf(folder: Path, source: str, harts: int, defines: list[str]) -> Path:
    """Builds `source` for rv32-virt as rv32.py builds networks (its start-up file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stage_runtime(folder)
    (folder / "prog.c").write_text(source)
    cmd = link_command(["prog.c", "runtime/src/cluster.c"], "prog.elf", harts, defines)
    built = _run(cmd, folder)
    assert built.returncode == 0, built.stderr
    return folder / "prog.elf"


@pytest.fixture(scope="module")
def eight_harts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _rv32_elf(tmp_path_factory.mktemp("rv32-cluster"), PROGRAM, 8, ["-DCORES=8"])


@needs_rv32
def test_rv32_harts_compute_the_serial_results(eight_harts: Path) -> None:
    run = _run(qemu_command(eight_harts.name, 8, None, None), eight_harts.parent)
    assert run.returncode == 0, run.stderr
    assert run.stdout + run.stderr == _expected(8)


@needs_rv32
def test_rv32_without_the_barrier_reads_stale_slices(tmp_path: Path) -> None:
    """The exchange checks the barrier: without it, the harts (deterministic under
    -icount) read slices not written yet, and the result differs."""
    elf = _rv32_elf(tmp_path, PROGRAM, 8, ["-DCORES=8", "-DSKIP_BARRIER"])
    run = _run(qemu_command(elf.name, 8, None, None), tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout + run.stderr
    assert out.startswith("exchange ")
    assert out != _expected(8)


@needs_rv32
@pytest.mark.skipif(not PLUGIN.is_file(), reason=f"{PLUGIN} not built (scripts/setup.sh)")
def test_rv32_counts_show_the_harts_sharing_the_work(eight_harts: Path) -> None:
    folder = eight_harts.parent
    counts = folder / "counts.txt"
    mark = _symbol(eight_harts, "xd_cluster_mark")
    run = _run(qemu_command(eight_harts.name, 8, counts, mark), folder)
    assert run.returncode == 0, run.stderr
    totals, marks = _read_counts(counts, 8)
    assert len(totals) == 8 and len(marks) == 7
    first, empty, barriers, exchange, serial, parallel = (
        [b - a for a, b in zip(before, after, strict=True)]
        for before, after in zip(marks, marks[1:], strict=False)
    )
    # One core: a plain call on hart 0, no other hart woken.
    assert serial[0] > 8 * LOOP and serial[1:] == [0] * 7
    # Eight: every hart takes an eighth, and the busiest one is the time.
    assert max(parallel) / min(parallel) < 1.02
    assert sum(parallel) / max(parallel) > 7.5
    assert serial[0] / max(parallel) > 7.5
    # A fork wakes every hart; it and a barrier cost tens of instructions per hart.
    assert all(0 < n < 150 for n in empty[1:]) and 0 < empty[0] < 250
    per_barrier = [(b - e) / BARRIERS for b, e in zip(barriers, empty, strict=True)]
    assert all(10 < n < 100 for n in per_barrier)
    assert all(n > 0 for n in first + exchange)


@needs_rv32
def test_rv32_fork_over_missing_harts_fails_at_once(eight_harts: Path) -> None:
    """An ELF forking over 8 cores on a 2-hart machine stops with a message (a hart that
    does not exist would never answer)."""
    run = _run(qemu_command(eight_harts.name, 2, None, None), eight_harts.parent)
    assert run.returncode == 3
    assert "8 cores but the machine has 2 harts" in run.stdout + run.stderr


@needs_rv32
def test_rv32_trap_on_a_worker_hart_fails_the_run(tmp_path: Path) -> None:
    elf = _rv32_elf(tmp_path, TRAP, 8, [])
    run = _run(qemu_command(elf.name, 8, None, None), tmp_path)
    assert run.returncode != 0
    assert "trap on hart 3: mcause 0x2" in run.stdout + run.stderr
