"""The `c` target: prints a buffer-level module (after `convert-dnn-to-kernel` and
`plan-memory`) as one C99 file, walking the IR op by op.

- small constants (`memref.global` with a value) → `static const` arrays;
- arenas (`memref.global`, uninitialized) → `static uint64_t` arrays (8-byte aligned);
- stored weights (`kernel.weights`) → `extern const` symbols named by digest, which
  `deeploy compile` defines from the weights blob;
- each `func.func` → `void <prefix>_<name>(inputs…, outputs…)`;
- `memref.view` / `memref.reinterpret_cast` / `memref.subview` → pointers into the
  arena or a buffer (a subview's pointer is its source's plus Σ offset_i · stride_i);
- `kernel.call` → the call, static arguments printed in place;
- tiled code: `scf.for` / `scf.if` → C loops and ifs (loop-carried values and an if's
  results become variables declared before it), index arithmetic → `int32_t` expressions,
  `arith.select` between buffers → a pointer `?:`, `dma.start` / `dma.wait` → the
  `xd_dma.h` runtime; the `"L1"` arena is declared with `XD_L1_SECTION`, which a
  platform defines to place it (e.g. in a scratchpad's linker section).

Constants are printed where they are used, and ops whose results nobody uses print
nothing (a dead variable would fail `-Werror`).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    Signedness,
    StridedLayoutAttr,
    StringAttr,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.utils.target import Target

from xdeeploy.dialects import cluster, dma, dnn, kernel
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.lowering.convert_dnn_to_kernel import OUTPUT_ATTR
from xdeeploy.passes.plan_memory import is_l1

C_TYPES = {
    "float32": "float", "float64": "double", "int8": "int8_t", "uint8": "uint8_t",
    "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t", "uint32": "uint32_t",
    "int64": "int64_t", "uint64": "uint64_t", "bool": "uint8_t",
}  # fmt: skip

C_KEYWORDS = set(
    [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "main",
        "NULL",
    ]
) | set(keyword.kwlist)


def c_type(ty: MemRefType) -> str:
    return C_TYPES[numpy_dtype(ty.element_type).name]


INDEX = "int32_t"
"""The C type of `index` values (loop counters, tile offsets)."""

BINARY_OPS: dict[type[Operation], str] = {
    arith.AddiOp: "+", arith.SubiOp: "-", arith.MuliOp: "*", arith.AndIOp: "&",
}  # fmt: skip
UNSIGNED_OPS: dict[type[Operation], str] = {arith.DivUIOp: "/", arith.RemUIOp: "%"}
CMPI = ["==", "!=", "<", "<=", ">", ">=", "<", "<=", ">", ">="]
"""C operators of `arith.cmpi` predicates 0-9; 6-9 compare unsigned."""

VALUE_OPS = (
    arith.ConstantOp, arith.SelectOp, arith.CmpiOp, memref.ViewOp, memref.ReinterpretCastOp,
    memref.SubviewOp, memref.MemorySpaceCastOp, *BINARY_OPS, *UNSIGNED_OPS,
)  # fmt: skip
"""Ops without side effects: unused (see `_dead`), they print nothing."""


def scalar_type(ty: Attribute) -> str:
    """The C type of a non-buffer value."""
    match ty:
        case IndexType():
            return INDEX
        case IntegerType() if ty.width.data == 1:
            return "int"
        case IntegerType() if ty.width.data in (8, 16, 32, 64):
            sign = "u" if ty.signedness.data == Signedness.UNSIGNED else ""
            return f"{sign}int{ty.width.data}_t"
        case dma.TokenType():
            return "xd_dma_token"
    raise DeeployError(f"values of type {ty} have no C form")


def unsigned_type(ty: Attribute) -> str:
    """The unsigned C type of the same width as an integer value's."""
    signed = scalar_type(ty)
    return "unsigned" if signed == "int" else signed if signed.startswith("u") else "u" + signed


def static_strides(ty: MemRefType) -> list[int]:
    strides = ty.get_strides()
    if strides is None or any(s is None for s in strides):
        raise DeeployError(f"a buffer of type {ty} has dynamic strides: no C form")
    return [int(s) for s in strides if s is not None]


def const_int(value: SSAValue) -> int | None:
    """The value of an integer `arith.constant` (i1 true as 1), else None."""
    op = value.owner
    if isinstance(op, arith.ConstantOp) and isinstance(op.value, IntegerAttr):
        v = int(op.value.value.data)
        return int(v != 0) if value.type == IntegerType(1) else v
    return None


_LAYER_WORK = (kernel.CallOp, kernel.AsmCallOp, cluster.ForkOp, scf.ForOp, dma.StartOp)
"""Top-level ops that compute or move a layer's data (pointer arithmetic does not count)."""


def _dead(op: Operation) -> bool:
    """A side-effect-free op whose results only dead ops read: printed, it would leave
    an unused C variable."""
    return isinstance(op, VALUE_OPS) and all(
        _dead(use.operation) for r in op.results for use in r.uses
    )


def int_array(values: list[int]) -> str:
    return f"(const int32_t[]){{{', '.join(map(str, values))}}}"


def weights_symbol(digest: str) -> str:
    return f"xd_w_{digest[:20]}"


def c_float(value: float) -> str:
    if np.isnan(value):
        return "NAN"
    if np.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    text = str(np.float32(value))  # the shortest text that reads back as the same float
    return text + ("f" if ("." in text or "e" in text) else ".0f")


def c_number(value: int | float, ctype: str) -> str:
    if ctype in ("float", "double"):
        return c_float(float(value)) if ctype == "float" else repr(float(value))
    if ctype == "int64_t":
        return f"INT64_C({int(value)})"
    if ctype == "uint64_t":
        return f"UINT64_C({int(value)})"
    return str(int(value))


@dataclass
class Names:
    """Unique, readable C identifiers for SSA values, in order of definition."""

    taken: set[str] = field(default_factory=lambda: set(C_KEYWORDS))
    names: dict[SSAValue, str] = field(default_factory=dict)

    def fresh(self, hint: str | None) -> str:
        base = re.sub(r"\W", "_", hint or "v")
        if not re.match(r"[A-Za-z_]", base):
            base = "v" + base
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def define(self, value: SSAValue) -> str:
        self.names[value] = self.fresh(value.name_hint)
        return self.names[value]


def prototype(fn: func.FuncOp, prefix: str, names: Names | None = None) -> str:
    """`void <prefix>_<name>(const float *x, float *y)`."""
    names = names or Names()
    params = []
    for k, arg in enumerate(fn.args):
        ty = arg.type
        assert isinstance(ty, MemRefType)
        attrs = fn.arg_attrs.data[k].data if fn.arg_attrs else {}
        const = "" if OUTPUT_ATTR in attrs else "const "
        params.append(f"{const}{c_type(ty)} *{names.define(arg)}")
    return f"void {prefix}_{fn.sym_name.data}({', '.join(params) or 'void'})"


@dataclass
class CEmitter:
    out: IO[str]
    prefix: str = "xd"
    symbols: set[str] = field(default_factory=set)
    arenas: set[str] = field(default_factory=set)
    const_values: set[SSAValue] = field(default_factory=set)
    layers: list[str] = field(default_factory=list)
    """The nodes in the order their `XD_LAYER_MARK()`s run (one mark before each, one after
    the last): a profiler that snapshots counters at every mark (`-DXD_PROFILE`) gets
    each layer's cost."""
    layer_calls: dict[str, list[str]] = field(default_factory=dict)
    """Per layer, the runtime functions its code calls (kernels, asm kernels, DMA, fork),
    sorted: what a profile of the layer is spent in."""
    outlined: list[str] = field(default_factory=list)
    """Fork bodies made functions, waiting to be printed before the function using them."""
    forks: int = 0

    def line(self, text: str = "", indent: int = 0) -> None:
        self.out.write("    " * indent + text + "\n")

    def emit_module(self, module: ModuleOp) -> None:
        self._check_lowered(module)
        self.line("/* Generated by xdeeploy: do not edit. */")
        headers = ["<math.h>", "<stddef.h>", "<stdint.h>", '"xd_kernels.h"']
        if any(isinstance(op, dma.StartOp | dma.WaitOp) for op in module.walk()):
            headers.append('"xd_dma.h"')
        if any(isinstance(op, cluster.ForkOp) for op in module.walk()):
            headers.append('"xd_cluster.h"')
        for header in headers:
            self.line(f"#include {header}")
        self.line()
        self.line("#ifdef XD_PROFILE /* a profiler snapshots its counters at every layer */")
        self.line('#include "xd_cluster.h"')
        self.line("#define XD_LAYER_MARK() xd_cluster_mark()")
        self.line("#else")
        self.line("#define XD_LAYER_MARK() ((void)0)")
        self.line("#endif")
        if any(isinstance(op, memref.GlobalOp) and is_l1(op.type) for op in module.ops):
            self.line("#ifndef XD_L1_SECTION /* where the L1 arena goes: a platform defines it */")
            self.line("#define XD_L1_SECTION")
            self.line("#endif")
        for op in module.ops:
            if isinstance(op, memref.GlobalOp):
                self._global(op)
        weights = sorted(
            {
                w.value.digest.data: w for w in module.walk() if isinstance(w, kernel.WeightsOp)
            }.items()
        )
        for digest, w in weights:
            ty = w.result.type
            assert isinstance(ty, MemRefType)
            n = int(np.prod(ty.get_shape()))
            self.line(f"extern const {c_type(ty)} {weights_symbol(digest)}[{n}];")
        asm = [op for op in module.ops if isinstance(op, func.FuncOp) and _is_asm_kernel(op)]
        for op in asm:
            self.line(_asm_prototype(op))
        for op in module.ops:
            if isinstance(op, func.FuncOp) and not op.is_declaration and op not in asm:
                self.line()
                self._function(op)

    def _check_lowered(self, module: ModuleOp) -> None:
        allowed = (
            func.FuncOp, func.ReturnOp, memref.GlobalOp, memref.GetGlobalOp, kernel.CallOp,
            kernel.AsmCallOp, kernel.WeightsOp, scf.ForOp, scf.IfOp, scf.YieldOp, dma.StartOp,
            dma.WaitOp, cluster.ForkOp, cluster.JoinOp, cluster.BarrierOp, cluster.NumCoresOp, *VALUE_OPS,
        )  # fmt: skip
        for top in module.ops:
            if isinstance(top, func.FuncOp) and _is_asm_kernel(top):
                continue  # memref-level IR, for the assembly
            for op in top.walk():
                if not isinstance(op, allowed):
                    raise DeeployError(
                        f"node '{dnn.node_name(op)}' ({op.name}) has no C form: lower the "
                        "module first (deeploy-opt -p generic-pipeline)"
                    )

    def _global(self, op: memref.GlobalOp) -> None:
        ty = op.type
        name = op.sym_name.data
        self.symbols.add(name)
        size = int(np.prod(ty.get_shape()))
        if isinstance(op.initial_value, DenseIntOrFPElementsAttr):
            ctype = c_type(ty)
            values = dnn.constant_value(op.initial_value).reshape(-1)
            items = ", ".join(c_number(v, ctype) for v in values.tolist())
            self.line(f"static const {ctype} {name}[{size}] = {{{items}}};")
        else:
            self.arenas.add(name)
            nbytes = size * numpy_dtype(ty.element_type).itemsize
            section = "XD_L1_SECTION " if is_l1(ty) else ""
            self.line(f"{section}static uint64_t {name}[{(nbytes + 7) // 8}]; /* {nbytes} bytes */")

    def _function(self, fn: func.FuncOp) -> None:
        taken = C_KEYWORDS | self.symbols | {f"{self.prefix}_{fn.sym_name.data}"}
        names = Names(taken=set(taken))
        head = prototype(fn, self.prefix, names) + " {"
        for k, arg in enumerate(fn.args):
            attrs = fn.arg_attrs.data[k].data if fn.arg_attrs else {}
            if OUTPUT_ATTR not in attrs:
                self.const_values.add(arg)
        body = list(self._layers(fn.body.block, names))
        for text in self.outlined:
            self.line(text)
        self.outlined = []
        self.line(head)
        for text in body:
            self.line(text, 1)
        self.line("}")

    def _layers(self, block: Block, names: Names) -> Iterator[str]:
        """A function body with `XD_LAYER_MARK();` where the node computed changes."""
        current: str | None = None
        for op in block.ops:
            if isinstance(op, _LAYER_WORK) and dnn.NODE_ATTR in op.attributes:
                node = dnn.node_name(op)
                if node != current:
                    yield "XD_LAYER_MARK();"
                    self.layers.append(node)
                    current = node
            if isinstance(op, func.ReturnOp) and current is not None:
                yield "XD_LAYER_MARK();"
            if not _dead(op):
                yield from self._op(op, names)

    def _block(self, block: Block, names: Names) -> Iterator[str]:
        for op in block.ops:
            if not _dead(op):
                yield from self._op(op, names)

    def _nested(self, block: Block, names: Names) -> Iterator[str]:
        for text in self._block(block, names):
            yield "    " + text

    def _value(self, value: SSAValue, names: Names) -> str:
        """A scalar operand: its constant's literal, else its variable."""
        known = const_int(value)
        return str(known) if known is not None else names.names[value]

    def _type_of(self, value: SSAValue) -> str:
        """`T ` for scalars, `[const] T *` for buffers: a declaration's start."""
        ty = value.type
        if isinstance(ty, MemRefType):
            return f"{'const ' if value in self.const_values else ''}{c_type(ty)} *"
        return f"{scalar_type(ty)} "

    def _declare(self, value: SSAValue, names: Names, const: bool = False) -> str:
        """`T name` for a new variable holding `value` (buffers: `[const] T *name`)."""
        if const:
            self.const_values.add(value)
        return self._type_of(value) + names.define(value)

    def _op(self, op: Operation, names: Names) -> Iterator[str]:
        called = _runtime_call(op)
        if called is not None and self.layers:
            calls = self.layer_calls.setdefault(self.layers[-1], [])
            if called not in calls:
                calls.append(called)
                calls.sort()
        match op:
            case arith.ConstantOp():
                return  # printed where they are used
            case memref.GetGlobalOp():
                ty = op.memref.type
                assert isinstance(ty, MemRefType)
                symbol = op.name_.root_reference.data
                names.names[op.memref] = symbol
                if symbol not in self.arenas:
                    self.const_values.add(op.memref)
            case memref.ViewOp():
                ty = op.result.type
                assert isinstance(ty, MemRefType)
                offset = op.byte_shift.owner
                assert isinstance(offset, arith.ConstantOp) and isinstance(
                    offset.value, IntegerAttr
                )
                base = names.names[op.source]
                name = names.define(op.result)
                yield (f"{c_type(ty)} *{name} = ({c_type(ty)} *)((uint8_t *){base} + "
                       f"{offset.value.value.data});")  # fmt: skip
            case memref.ReinterpretCastOp():
                ty = op.result.type
                assert isinstance(ty, MemRefType)
                layout = ty.layout
                offset = layout.get_offset() if isinstance(layout, StridedLayoutAttr) else 0
                const = "const " if op.source in self.const_values else ""
                if const:
                    self.const_values.add(op.result)
                name = names.define(op.result)
                src = names.names[op.source]
                yield f"{const}{c_type(ty)} *{name} = {src}{f' + {offset}' if offset else ''};"
            case kernel.WeightsOp():
                names.names[op.result] = weights_symbol(op.value.digest.data)
                self.const_values.add(op.result)
            case memref.SubviewOp():
                yield self._subview(op, names)
            case memref.MemorySpaceCastOp():  # main memory either way: the same pointer
                names.names[op.dest] = names.names[op.source]
                if op.source in self.const_values:
                    self.const_values.add(op.dest)
            case kernel.CallOp():
                yield f"{op.kernel}({', '.join(self._arg(a, names) for a in op.arguments())});"
            case kernel.AsmCallOp():
                args = ", ".join(names.names[b] for b in op.buffers)
                yield f"{op.callee.root_reference.data}({args});"
            case func.ReturnOp():
                return
            case scf.ForOp():
                yield from self._for(op, names)
            case scf.IfOp():
                yield from self._if(op, names)
            case scf.YieldOp():
                yield from self._yield(op, names)
            case arith.SelectOp():
                c, a, b = (self._value(v, names) for v in op.operands)
                const = op.lhs in self.const_values or op.rhs in self.const_values
                yield f"{self._declare(op.result, names, const)} = {c} ? {a} : {b};"
            case arith.CmpiOp():
                a, b = self._value(op.lhs, names), self._value(op.rhs, names)
                predicate = op.predicate.value.data
                if predicate >= 6:
                    u = unsigned_type(op.lhs.type)
                    a, b = f"({u}){a}", f"({u}){b}"
                yield f"{self._declare(op.result, names)} = {a} {CMPI[predicate]} {b};"
            case _ if type(op) in BINARY_OPS:
                a, b = (self._value(v, names) for v in op.operands)
                yield f"{self._declare(op.results[0], names)} = {a} {BINARY_OPS[type(op)]} {b};"
            case _ if type(op) in UNSIGNED_OPS:
                a, b = (self._value(v, names) for v in op.operands)
                ty = op.results[0].type
                u, symbol = unsigned_type(ty), UNSIGNED_OPS[type(op)]
                yield (f"{self._declare(op.results[0], names)} = "
                       f"({scalar_type(ty)})(({u}){a} {symbol} ({u}){b});")  # fmt: skip
            case cluster.ForkOp():
                yield from self._fork(op, names)
            case cluster.BarrierOp():
                yield "xd_cluster_barrier();"
            case cluster.NumCoresOp():
                fork = op.parent_op()
                while not isinstance(fork, cluster.ForkOp):
                    assert fork is not None
                    fork = fork.parent_op()
                yield f"{self._declare(op.result, names)} = {fork.cores.value.data};"
            case cluster.JoinOp():
                return
            case dma.StartOp():
                yield self._dma_start(op, names)
            case dma.WaitOp():
                yield f"xd_dma_wait({names.names[op.token]});"
            case _:
                raise DeeployError(f"{op.name} has no C form")

    def _subview(self, op: memref.SubviewOp, names: Names) -> str:
        """`T *v = src + Σ offset_i · stride_i` (the source pointer already includes the
        source's own offset): sizes and strides only shape the type."""
        if op.sizes or op.strides:
            raise DeeployError(
                f"node '{dnn.node_name(op)}': memref.subview with dynamic sizes or strides "
                "has no C form"
            )
        src_ty = op.source.type
        assert isinstance(src_ty, MemRefType)
        dynamic = iter(op.offsets)
        static, terms = 0, []
        offsets = op.static_offsets.get_values()
        for offset, stride in zip(offsets, static_strides(src_ty), strict=True):
            value = next(dynamic) if offset == DYNAMIC_INDEX else None
            known = int(offset) if value is None else const_int(value)
            if known is not None:
                static += known * stride
            else:
                assert value is not None
                name = names.names[value]
                terms.append(name if stride == 1 else f"{name} * {stride}")
        if static:
            terms.append(str(static))
        expr = " + ".join(terms)
        shift = "" if not terms else f" + ({expr})" if len(terms) > 1 else f" + {expr}"
        const = op.source in self.const_values
        return f"{self._declare(op.result, names, const)} = {names.names[op.source]}{shift};"

    def _for(self, op: scf.ForOp, names: Names) -> Iterator[str]:
        """`for (i = lb; i < ub; i += step)`; loop-carried values are variables declared
        before it, which the yield assigns and the loop's results then name."""
        iv, *carried = op.body.block.args
        for arg, init, result in zip(carried, op.iter_args, op.results, strict=True):
            const = init in self.const_values
            yield f"{self._declare(arg, names, const)} = {self._value(init, names)};"
            names.names[result] = names.names[arg]
            if const:
                self.const_values.add(result)
        lb, ub, step = (self._value(v, names) for v in (op.lb, op.ub, op.step))
        i = self._declare(iv, names)
        name = names.names[iv]
        yield f"for ({i} = {lb}; {name} < {ub}; {name} += {step}) {{"
        yield from self._nested(op.body.block, names)
        yield "}"

    def _if(self, op: scf.IfOp, names: Names) -> Iterator[str]:
        """`if (c) {...} else {...}`; results are variables declared before it, which
        each branch's yield assigns."""
        for result in op.results:
            if isinstance(result.type, MemRefType):  # its constness is not known up front
                raise DeeployError(
                    f"node '{dnn.node_name(op)}': scf.if yielding a buffer has no C form "
                    "(choose buffers with arith.select)"
                )
            yield f"{self._declare(result, names)};"
        yield f"if ({self._value(op.cond, names)}) {{"
        yield from self._nested(op.true_region.block, names)
        otherwise = (
            list(self._nested(op.false_region.block, names)) if op.false_region.blocks else []
        )
        if otherwise:
            yield "} else {"
            yield from otherwise
        yield "}"

    def _yield(self, op: scf.YieldOp, names: Names) -> Iterator[str]:
        """Assigns an scf.if's results, or the next iteration's loop-carried values
        (through temporaries when there are several: one may read another's old value)."""
        parent = op.parent_op()
        if isinstance(parent, scf.IfOp):
            for result, value in zip(parent.results, op.operands, strict=True):
                yield f"{names.names[result]} = {self._value(value, names)};"
            return
        if not isinstance(parent, scf.ForOp):
            return
        moves = [
            (names.names[arg], value)
            for arg, value in zip(parent.body.block.args[1:], op.operands, strict=True)
            if self._value(value, names) != names.names[arg]
        ]
        if len(moves) == 1:
            target, value = moves[0]
            yield f"{target} = {self._value(value, names)};"
            return
        temps = [(target, names.fresh(f"{target}_next")) for target, _ in moves]
        for (_, value), (_, temp) in zip(moves, temps, strict=True):
            yield f"{self._type_of(value)}{temp} = {self._value(value, names)};"
        for target, temp in temps:
            yield f"{target} = {temp};"

    def _fork(self, op: cluster.ForkOp, names: Names) -> Iterator[str]:
        """The region becomes `static void f(int32_t core, void *arg)`, the values it
        uses from outside travel in a struct, and `xd_cluster_fork` runs it on every
        core (each core needs a function to call: a region cannot be jumped into)."""
        fn = names.fresh(f"{self.prefix}_fork{self.forks}")
        self.forks += 1
        self.symbols.add(fn)
        captured: list[SSAValue] = []
        for inner in op.body.walk():
            for value in inner.operands:
                if value in captured or const_int(value) is not None:
                    continue
                # IRNode.is_ancestor(x) is true for x itself: a block argument of the
                # fork's own block is inside.
                if not op.is_ancestor(value.owner):
                    captured.append(value)
        inner_names = Names(taken=set(C_KEYWORDS | self.symbols))
        core = op.body.block.args[0]
        fields = [f"{self._type_of(v)}{names.names[v]};" for v in captured]
        text = [f"struct {fn}_ctx {{", *("    " + f for f in fields), "};", ""] if captured else []
        text.append(f"static void {fn}({self._declare(core, inner_names)}, void *arg) {{")
        text.append(f"    (void){inner_names.names[core]};")
        if captured:
            text.append(f"    const struct {fn}_ctx *ctx = (const struct {fn}_ctx *)arg;")
        else:
            text.append("    (void)arg;")
        for v in captured:
            outer = names.names[v]
            local = inner_names.fresh(outer)
            text.append(f"    {self._type_of(v)}{local} = ctx->{outer};")
            inner_names.names[v] = local
        text += ["    " + t for t in self._block(op.body.block, inner_names)]
        text += ["}", ""]
        self.outlined += text
        cores = op.cores.value.data
        if not captured:
            yield f"xd_cluster_fork({cores}, {fn}, NULL);"
            return
        args = ", ".join(names.names[v] for v in captured)
        yield "{"
        yield f"    struct {fn}_ctx ctx = {{{args}}};"
        yield f"    xd_cluster_fork({cores}, {fn}, &ctx);"
        yield "}"

    def _dma_start(self, op: dma.StartOp, names: Names) -> str:
        """`xd_dma_start(dst, src, elem_size, rank, sizes, dst_strides, src_strides)`."""
        src_ty, dst_ty = op.src.type, op.dst.type
        assert isinstance(src_ty, MemRefType) and isinstance(dst_ty, MemRefType)
        shape = list(src_ty.get_shape())
        src_strides, dst_strides = static_strides(src_ty), static_strides(dst_ty)
        if not shape:  # a scalar: one element
            shape, src_strides, dst_strides = [1], [1], [1]
        elem = numpy_dtype(src_ty.element_type).itemsize
        call = (
            f"xd_dma_start({names.names[op.dst]}, {names.names[op.src]}, {elem}, {len(shape)}, "
            f"{int_array(shape)}, {int_array(dst_strides)}, {int_array(src_strides)})"
        )
        if not op.token.uses:
            return f"{call};"
        return f"xd_dma_token {names.define(op.token)} = {call};"

    def _arg(self, arg: SSAValue | Attribute | None, names: Names) -> str:
        if arg is None:
            return "NULL"
        if isinstance(arg, SSAValue):
            return names.names[arg]
        if isinstance(arg, StringAttr):
            return arg.data
        if isinstance(arg, IntegerAttr):
            return str(arg.value.data)
        if isinstance(arg, FloatAttr):
            return c_float(arg.value.data)
        if isinstance(arg, DenseArrayBase):
            values = [int(v) for v in arg.get_values()]  # pyright: ignore[reportUnknownArgumentType]
            return int_array(values)
        raise DeeployError(f"kernel argument {arg} has no C form")


def _runtime_call(op: Operation) -> str | None:
    """The runtime function `op` prints a call of, if any."""
    match op:
        case kernel.CallOp():
            return op.kernel
        case kernel.AsmCallOp():
            return op.callee.root_reference.data
        case cluster.ForkOp():
            return "xd_cluster_fork"
        case cluster.BarrierOp():
            return "xd_cluster_barrier"
        case dma.StartOp():
            return "xd_dma_start"
        case dma.WaitOp():
            return "xd_dma_wait"
        case _:
            return None


def _is_asm_kernel(fn: func.FuncOp) -> bool:
    """A kernel made for assembly (`convert-kernel-to-asm`): the C side only calls it."""
    return "kernel.asm" in fn.attributes


def _asm_prototype(fn: func.FuncOp) -> str:
    """`void name(const void *, void *, ...);`: buffers by address, as `kernel.asm_call`
    passes them (signed and unsigned element types alike); read-only ones const."""
    stored = {op.memref for op in fn.walk() if isinstance(op, memref.StoreOp)}
    params = ", ".join("void *" if a in stored else "const void *" for a in fn.args)
    return f"void {fn.sym_name.data}({params}); /* assembly: kernels.S */"


@dataclass(frozen=True)
class CTarget(Target):
    name = "c"

    prefix: str = "xd"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        CEmitter(output, self.prefix).emit_module(module)
