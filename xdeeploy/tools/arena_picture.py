"""A picture of the static arenas: time (the function's ops, in order) across, address
down, one rectangle per buffer from the op that defines it to its last use. Written as
SVG by hand (no plotting dependency); one panel per arena (L2, L1)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import IntegerAttr, MemRefType

from xdeeploy.passes.plan_memory import buffer_bytes, last_use


@dataclass(frozen=True)
class Placed:
    name: str
    offset: int
    size: int
    start: int
    end: int


def arena_buffers(fn: func.FuncOp) -> dict[str, list[Placed]]:
    """The buffers `plan-memory` placed, per arena symbol."""
    ops = list(fn.body.block.ops)
    index = {op: k for k, op in enumerate(ops)}
    arenas: dict[str, list[Placed]] = {}
    for op in ops:
        if not isinstance(op, memref.ViewOp):
            continue
        source = op.source.owner
        offset = op.byte_shift.owner
        if not isinstance(source, memref.GetGlobalOp) or not isinstance(offset, arith.ConstantOp):
            continue
        ty = op.result.type
        assert isinstance(ty, MemRefType) and isinstance(offset.value, IntegerAttr)
        name = op.result.name_hint or "?"
        start = index[op]
        end = last_use(op.result, fn, index, start)
        arenas.setdefault(source.name_.root_reference.data, []).append(
            Placed(name, offset.value.value.data, buffer_bytes(ty), start, end)
        )
    return arenas


def svg(fn: func.FuncOp) -> str:
    arenas = arena_buffers(fn)
    width, panel_h, margin = 900, 260, 40
    n_ops = max(len(list(fn.body.block.ops)), 1)
    parts = []
    for k, (symbol, buffers) in enumerate(sorted(arenas.items())):
        top = margin + k * (panel_h + margin)
        size = max((b.offset + b.size for b in buffers), default=1)
        parts.append(
            f'<text x="{margin}" y="{top - 8}" font-size="13">@{escape(symbol)}: '
            f"{size} B, {len(buffers)} buffers (x: op index 0..{n_ops - 1}, y: address)</text>"
        )
        parts.append(
            f'<rect x="{margin}" y="{top}" width="{width}" height="{panel_h}" '
            'fill="none" stroke="black"/>'
        )
        for j, b in enumerate(buffers):
            x = margin + width * b.start / n_ops
            w = max(width * (b.end - b.start + 1) / n_ops, 1.0)
            y = top + panel_h * b.offset / size
            h = max(panel_h * b.size / size, 1.0)
            hue = (j * 47) % 360
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="hsl({hue},60%,70%)" stroke="gray"><title>{escape(b.name)}: '
                f"{b.size} B at {b.offset}, ops {b.start}..{b.end}</title></rect>"
            )
    height = margin + len(arenas) * (panel_h + margin)
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 2 * margin}" '
        f'height="{height}" font-family="sans-serif">\n{body}\n</svg>\n'
    )


def write_svg(fn: func.FuncOp, path: Path) -> None:
    path.write_text(svg(fn))
