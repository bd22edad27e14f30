"""Benchmark: our RISC-V assembly kernels against the gcc -O2 C kernels, same tiles.

    python bench/asm_kernels.py [--out bench/results]

For each kernel and tile shape, one bare-metal RV32 program (QEMU virt, one hart,
`-icount shift=0`) calls the C kernel of `runtime_c` and the assembly kernel that
`lower-to-riscv` + `-t riscv-asm` made from its memref-level IR, each between two reads
of `rdinstret`, on the same seeded inputs; the outputs must be identical (bytes).
Reported: instructions of each and asm / C (goal ≤ 0.8). Writes OUT/asm_kernels.json and
OUT/asm_kernels.md and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHAPES = {
    "matmul i8->i32": [(1, 64, 64), (4, 64, 16), (8, 32, 32)],
    "matmul f32": [(1, 64, 64), (4, 32, 16)],
    "add i8": [(256,), (1024,)],
    "requant i32->i8": [(4, 64), (16, 16)],
    "requant i32->i8, proved in int32": [(4, 64), (16, 16)],
}
"""The last: x within an int8 matmul's bounds over K = 64 (±2^20), mul below 2^10, so
x·mul + add + round fits int32 (what `kernel.requant_range` proves): 32-bit arithmetic."""


def _c_array(values: np.ndarray) -> str:
    if values.dtype == np.float32:
        return "{" + ", ".join(f"{float(v).hex()}" for v in values.reshape(-1)) + "}"
    return "{" + ", ".join(str(int(v)) for v in values.reshape(-1)) + "}"


def _decl(name: str, ctype: str, values: np.ndarray) -> str:
    return f"static const {ctype} {name}[{values.size}] = {_c_array(values)};\n"


def _case(kind: str, shape: tuple[int, ...]) -> tuple[str, str, str]:
    """(kernel IR, C declarations and calls around instret, the checks) for one case.
    The integer kernels come from the compiler's own makers (`convert-kernel-to-asm`),
    the most unrolled variant that fits the registers."""
    from xdeeploy.lowering import asm_kernels as ak
    from xdeeploy.lowering.kernel_to_asm import fitting_kernel

    def made(make: Any, sizes: list[int]) -> str:
        fn = fitting_kernel("asm_kernel", sizes, make)
        if fn is None:
            raise RuntimeError("no variant fits the registers")
        return str(fn)

    r = np.random.default_rng(sum(shape))
    if kind == "add i8":
        (n,) = shape
        a, b = (r.integers(-128, 128, n, dtype=np.int8) for _ in range(2))
        decl = (_decl("a", "int8_t", a) + _decl("b", "int8_t", b)
                + f"static int8_t y_c[{n}], y_asm[{n}];\n"
                "void asm_kernel(const int8_t *, const int8_t *, int8_t *);\n")  # fmt: skip
        c_call = (f"xd_binary_int(XD_ADD, XD_T_I8, a, b, y_c, 1, (const int32_t[]){{{n}}}, "
                  "(const int32_t[]){1}, (const int32_t[]){1})")  # fmt: skip
        ir = made(lambda name, sizes, _: ak.binary_int(name, "XD_ADD", 8, True, [n], [1], [1],
                                                        (n, n, n)), [n, n, n])  # fmt: skip
        return ir, decl, _calls(c_call, "asm_kernel(a, b, y_asm)", "y", n)
    if kind.startswith("requant i32->i8"):
        m, n = shape
        narrow = kind.endswith("in int32")
        x = r.integers(-(2**20), 2**20, (m, n), dtype=np.int32)
        mul = r.integers(1, 2**10 if narrow else 2**12, m, dtype=np.int32)
        add = r.integers(-(2**15), 2**15, m, dtype=np.int32)
        decl = (_decl("x", "int32_t", x) + _decl("mul", "int32_t", mul)
                + _decl("add", "int32_t", add) + f"static int8_t y_c[{m * n}], y_asm[{m * n}];\n"
                "void asm_kernel(const int32_t *, const int32_t *, const int32_t *, int8_t *);\n")  # fmt: skip
        c_call = (f"xd_requant_shift(x, XD_T_I32, mul, XD_T_I32, add, XD_T_I32, y_c, XD_T_I8, 2, "
                  f"(const int32_t[]){{{m}, {n}}}, (const int32_t[]){{{n}, 1}}, "
                  "(const int32_t[]){1, 0}, (const int32_t[]){1, 0}, 16, -128, 127)")  # fmt: skip
        rq = ak.Requant((32, True), (32, True), (32, True), (8, True), [m, n], [n, 1], [1, 0],
                        [1, 0], 16, -128, 127, narrow=narrow)  # fmt: skip
        ir = made(lambda name, sizes, _: ak.requant_shift(name, rq, sizes), [m * n, m, m, m * n])
        return ir, decl, _calls(c_call, "asm_kernel(x, mul, add, y_asm)", "y", m * n)
    m, k, n = shape
    if kind == "matmul f32":
        a = r.standard_normal((m, k)).astype(np.float32)
        b = r.standard_normal((k, n)).astype(np.float32)
        t, o = "float", "float"
        c_call = f"xd_matmul_f32(a, b, y_c, {m}, {k}, {n}, 0, NULL, NULL, NULL)"
        ir = ak.matmul("asm_kernel", m, k, n, "f32")
    else:
        a = r.integers(-128, 128, (m, k), dtype=np.int8)
        b = r.integers(-128, 128, (k, n), dtype=np.int8)
        t, o = "int8_t", "int32_t"
        c_call = (f"xd_matmul_int(a, XD_T_I8, b, XD_T_I8, y_c, XD_T_I32, {m}, {k}, {n}, 0, NULL, "
                  "NULL, NULL)")  # fmt: skip
        p = ak.Product((8, True), (8, True), (32, True), m, k, n, k, 1, n, 1)
        ir = made(
            lambda name, sizes, u: ak.matrix_product(name, p, sizes, u), [m * k, k * n, m * n]
        )
    decl = (_decl("a", t, a) + _decl("b", t, b)
            + f"static {o} y_c[{m * n}], y_asm[{m * n}];\n"
            f"void asm_kernel(const {t} *, const {t} *, {o} *);\n")  # fmt: skip
    return ir, decl, _calls(c_call, "asm_kernel(a, b, y_asm)", "y", m * n)


def _calls(c_call: str, asm_call: str, out: str, count: int) -> str:
    return f"""
    uint32_t t0 = instret();
    {c_call};
    uint32_t t1 = instret();
    {asm_call};
    uint32_t t2 = instret();
    printf("c %lu asm %lu same %d\\n", (unsigned long)(t1 - t0), (unsigned long)(t2 - t1),
           memcmp({out}_c, {out}_asm, sizeof {out}_c) == 0);
"""


def measure(kind: str, shape: tuple[int, ...], folder: Path) -> dict[str, Any]:
    from xdsl.context import Context
    from xdsl.dialects.riscv.abstract_ops import riscv_code
    from xdsl.parser import Parser

    from xdeeploy.lowering.riscv_pipeline import LowerToRiscv
    from xdeeploy.tools import rv32
    from xdeeploy.tools.build import _gcc, runtime_objects  # pyright: ignore[reportPrivateUsage]
    from xdeeploy.universe import full_context

    ir, decl, calls = _case(kind, shape)
    ctx: Context = full_context()
    module = Parser(ctx, ir).parse_module()
    LowerToRiscv().apply(ctx, module)
    folder.mkdir(parents=True)
    (folder / "kernel.S").write_text(riscv_code(module))
    (folder / "main.c").write_text(
        "#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n"
        '#include "xd_kernels.h"\n'
        "static inline uint32_t instret(void) {\n"
        '    uint32_t v; __asm__ volatile("rdinstret %0" : "=r"(v)); return v;\n}\n'
        f"{decl}int main(void) {{{calls}    return 0;\n}}\n"
    )
    rv32.stage_runtime(folder)
    objects = runtime_objects(folder / "runtime", [*rv32.CFLAGS, "-DXD_HARTS=1"], cc=rv32.CC,
                              pic=False)  # fmt: skip
    _gcc(rv32.link_command(["main.c", "kernel.S", *map(str, objects)], "k.elf", 1, []), folder)
    run = rv32.run_qemu(folder, "k.elf", 1, timeout=120)
    match = re.search(r"c (\d+) asm (\d+) same (\d)", run.stdout + run.stderr)
    if match is None:
        raise RuntimeError(f"no result: {(run.stdout + run.stderr)[-300:]}")
    c, asm, same = (int(g) for g in match.groups())
    return {"kernel": kind, "shape": list(shape), "c": c, "asm": asm, "ratio": asm / c,
            "identical": bool(same)}  # fmt: skip


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| kernel | tile | gcc -O2 C | our asm | asm / C | identical |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['kernel']} | {r['shape']} | error: {r['error']} ||||")
            continue
        tile = "x".join(map(str, r["shape"]))
        lines.append(f"| {r['kernel']} | {tile} | {r['c']:,} | {r['asm']:,} | "
                     f"{r['ratio']:.2f} | {'yes' if r['identical'] else 'NO'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="xdeeploy-bench-asm-") as tmp:
        for kind, shapes in SHAPES.items():
            for k, shape in enumerate(shapes):
                try:
                    rows.append(
                        measure(kind, shape, Path(tmp) / f"{kind.split()[0]}{k}{len(rows)}")
                    )
                except Exception as exc:  # noqa: BLE001 - recorded; the others still run
                    rows.append({"kernel": kind, "shape": list(shape), "error": str(exc)[:200]})
    args.out.mkdir(parents=True, exist_ok=True)
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    (args.out / "asm_kernels.json").write_text(json.dumps({"date": date, "rows": rows}, indent=1))
    table = _table(rows)
    (args.out / "asm_kernels.md").write_text(f"# asm kernels vs C ({date})\n\n{table}")
    print(table)
    return 0 if all("error" not in r and r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
