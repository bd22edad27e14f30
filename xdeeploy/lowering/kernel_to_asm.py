"""`convert-kernel-to-asm`: the hot integer kernel calls become calls of kernels made
from IR, which `lower-to-riscv` and `-t riscv-asm` turn into RISC-V assembly.

Each `kernel.call` of xd_matmul_int, xd_gemv_int, xd_gemm_int (and their f32 forms),
xd_binary_int (add, sub, mul) or xd_requant_shift whose types an asm kernel handles gets a `func.func` computing
what the C kernel computes for exactly its static arguments (shapes, strides, types,
constants), at memref level (`asm_kernels.py`); the call becomes a `kernel.asm_call` of
it, with the same buffers:

    kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_I8, %y, XD_T_I32, 4 : i32, ...)
      →  kernel.asm_call @xd_asm_matmul_int_1f2e3d4c(%a, %b, %y) : ...
         func.func @xd_asm_matmul_int_1f2e3d4c(%a: memref<256xi8>, ...)
             attributes {kernel.asm = "xd_matmul_int"} { scf.for ... }

Calls with the same static arguments share one kernel (the per-core chunks of a cluster
fork, the tiles of a loop). Calls no asm kernel handles stay C calls; the build report
lists which kernels went which way, so nothing falls back silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from xdsl.backend.register_stack import OutOfRegisters
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.parser import Parser
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from xdeeploy.dialects import kernel
from xdeeploy.lowering import asm_kernels as ak
from xdeeploy.lowering.emit_c import static_strides
from xdeeploy.lowering.riscv_pipeline import LowerToRiscv

ASM_ATTR = "kernel.asm"
"""On a kernel's `func.func`: the runtime kernel it stands in for."""

Args = list[SSAValue | Attribute | None]
Maker = Callable[[str, list[int], int], str]
"""(function name, element counts of the buffers, unroll) -> the kernel's func.func text;
`unroll` is a hint the products take (fewer columns at once when registers run out)."""


def _int(a: SSAValue | Attribute | None) -> int:
    assert isinstance(a, IntegerAttr)
    return int(a.value.data)


def _float(a: SSAValue | Attribute | None) -> float:
    assert isinstance(a, FloatAttr)
    return float(a.value.data)


def _ints(a: SSAValue | Attribute | None) -> list[int]:
    assert isinstance(a, DenseArrayBase)
    return [int(v) for v in a.get_values()]  # pyright: ignore[reportUnknownArgumentType]


def _type(a: SSAValue | Attribute | None) -> tuple[int, bool] | None:
    """(bits, signed) of an xd_type enumerator an asm kernel handles."""
    if not isinstance(a, StringAttr) or a.data not in ak.XD_TYPES:
        return None
    return ak.XD_TYPES[a.data]


def _matmul(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args = call.arguments()
    at, bt, ot = _type(args[1]), _type(args[3]), _type(args[5])
    if at is None or bt is None or ot is None:
        return None
    m, k, n, rank = (_int(a) for a in args[6:10])
    p = ak.Product(at, bt, ot, m, k, n, k, 1, n, 1, _ints(args[10])[:rank],
                   _ints(args[11])[:rank], _ints(args[12])[:rank])  # fmt: skip
    return repr(p), lambda name, sizes, u: ak.matrix_product(name, p, sizes, u)


def _gemv(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args = call.arguments()
    at, bt, ot = _type(args[1]), _type(args[3]), _type(args[5])
    if at is None or bt is None or ot is None:
        return None
    k, n, b_rs = (_int(a) for a in args[6:9])
    p = ak.Product(at, bt, ot, 1, k, n, k, 1, b_rs, 1)
    return repr(p), lambda name, sizes, u: ak.matrix_product(name, p, sizes, u)


def _gemm(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args = call.arguments()
    at, bt, ot = _type(args[1]), _type(args[3]), _type(args[7])
    ct = _type(args[5]) if args[4] is not None else None
    if at is None or bt is None or ot is None or (args[4] is not None and ct is None):
        return None
    m, k, n, ta, tb, alpha, beta, c_rs, c_cs = (_int(a) for a in args[8:17])
    p = ak.Product(at, bt, ot, m, k, n, 1 if ta else k, m if ta else 1, 1 if tb else n,
                   k if tb else 1, alpha=alpha, beta=beta, c=ct, c_rs=c_rs, c_cs=c_cs)  # fmt: skip
    return repr(p), lambda name, sizes, u: ak.matrix_product(name, p, sizes, u)


def _matmul_f32(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args = call.arguments()
    m, k, n, rank = (_int(a) for a in args[3:7])
    p = ak.Product(ak.F32, ak.F32, ak.F32, m, k, n, k, 1, n, 1, _ints(args[7])[:rank],
                   _ints(args[8])[:rank], _ints(args[9])[:rank])  # fmt: skip
    return repr(p), lambda name, sizes, u: ak.matrix_product(name, p, sizes, u)


def _gemv_f32(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args = call.arguments()
    k, n, b_rs = (_int(a) for a in args[3:6])
    p = ak.Product(ak.F32, ak.F32, ak.F32, 1, k, n, k, 1, b_rs, 1)
    return repr(p), lambda name, sizes, u: ak.matrix_product(name, p, sizes, u)


def _gemm_f32(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args = call.arguments()
    m, k, n, ta, tb = (_int(a) for a in args[4:9])
    alpha, beta = (_float(a) for a in args[9:11])
    c_rs, c_cs = (_int(a) for a in args[11:13])
    c = ak.F32 if args[2] is not None else None
    p = ak.Product(ak.F32, ak.F32, ak.F32, m, k, n, 1 if ta else k, m if ta else 1,
                   1 if tb else n, k if tb else 1, alpha=alpha, beta=beta, c=c, c_rs=c_rs,
                   c_cs=c_cs)  # fmt: skip
    return repr(p), lambda name, sizes, u: ak.matrix_product(name, p, sizes, u)


def _binary(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args = call.arguments()
    op, ty = args[0], _type(args[1])
    if not isinstance(op, StringAttr) or op.data not in ak.BINARY_OPS or ty is None:
        return None
    rank = _int(args[5])
    dims, a_s, b_s = (_ints(a)[:rank] for a in args[6:9])
    key = repr((op.data, ty, dims, a_s, b_s))
    return key, lambda name, sizes, u: ak.binary_int(
        name, op.data, *ty, dims, a_s, b_s, sizes, ak.PEELS[u]
    )


def _requant(call: kernel.CallOp) -> tuple[str, Maker] | None:
    args, attrs = call.arguments(), call.attributes
    xt, mt, at, yt = (_type(args[k]) for k in (1, 3, 5, 7))
    if xt is None or mt is None or at is None or yt is None:
        return None
    rank = _int(args[8])
    dims, xs, ms, as_ = (_ints(a)[:rank] for a in args[9:13])
    bounds = _ints(attrs[kernel.REQUANT_RANGE_ATTR]) if kernel.REQUANT_RANGE_ATTR in attrs else []
    narrow = len(bounds) == 2 and bounds[0] >= -(2**31) and bounds[1] < 2**31
    r = ak.Requant(
        xt, mt, at, yt, dims, xs, ms, as_, *(_int(a) for a in args[13:16]), narrow=narrow
    )
    return repr(r), lambda name, sizes, u: ak.requant_shift(name, r, sizes, ak.PEELS[u])


SPECS: dict[str, Callable[[kernel.CallOp], tuple[str, Maker] | None]] = {
    "xd_matmul_int": _matmul,
    "xd_gemv_int": _gemv,
    "xd_gemm_int": _gemm,
    "xd_matmul_f32": _matmul_f32,
    "xd_gemv_f32": _gemv_f32,
    "xd_gemm_f32": _gemm_f32,
    "xd_binary_int": _binary,
    "xd_requant_shift": _requant,
}
"""Per runtime kernel: a call (its static arguments, and what was proved of it) -> (a key
naming them, the kernel maker), or None where the asm kernels do not handle them (e.g.
64-bit integers)."""


def _extent(value: SSAValue) -> int:
    ty = value.type
    assert isinstance(ty, MemRefType)
    shape = tuple(ty.get_shape())
    return ak.span(shape, tuple(static_strides(ty)))


@dataclass
class KernelCallToAsm(RewritePattern):
    made: dict[str, func.FuncOp]
    """The kernels made so far, by name."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: kernel.CallOp, rewriter: PatternRewriter) -> None:
        spec = SPECS.get(op.kernel)
        found = spec(op) if spec is not None else None
        if found is None:
            return
        key, make = found
        sizes = [_extent(b) for b in op.buffers]
        digest = hashlib.sha256(f"{op.kernel} {key} {sizes}".encode()).hexdigest()[:8]
        name = f"xd_asm_{op.kernel.removeprefix('xd_')}_{digest}"
        if name not in self.made:
            fn = fitting_kernel(name, sizes, make)
            if fn is None:
                return  # no variant fits the registers: the C kernel stays
            fn.attributes[ASM_ATTR] = StringAttr(op.kernel)
            self.made[name] = fn
        call = kernel.AsmCallOp(name, list(op.buffers))
        call.attributes.update(op.attributes)
        rewriter.replace(op, call)


def fitting_kernel(name: str, sizes: list[int], make: Maker) -> func.FuncOp | None:
    """The first variant (most unrolled first) that `lower-to-riscv` can allocate."""
    from xdeeploy.universe import full_context

    for unroll in ak.UNROLLS:
        fn = _parse_function(make(name, sizes, unroll))
        try:
            LowerToRiscv().apply(full_context(), ModuleOp([fn.clone()]))
        except OutOfRegisters:
            continue
        return fn
    return None


def _parse_function(text: str) -> func.FuncOp:
    from xdeeploy.universe import full_context

    parsed = Parser(full_context(), text).parse_module()
    fn = next(iter(parsed.ops))
    assert isinstance(fn, func.FuncOp)
    fn.detach()
    return fn


@dataclass(frozen=True)
class ConvertKernelToAsm(ModulePass):
    """Calls of the hot kernels → `kernel.asm_call`s of kernels made from IR."""

    name = "convert-kernel-to-asm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        made: dict[str, func.FuncOp] = {}
        PatternRewriteWalker(KernelCallToAsm(made), apply_recursively=False).rewrite_module(op)
        for name in sorted(made):
            op.body.block.add_op(made[name])


def asm_kernels(module: ModuleOp) -> list[func.FuncOp]:
    """The kernels of `module` made for assembly."""
    return [f for f in module.ops if isinstance(f, func.FuncOp) and ASM_ATTR in f.attributes]


def replaced(module: ModuleOp) -> list[str]:
    """The runtime kernels whose calls became asm calls, sorted."""
    names = {f.attributes[ASM_ATTR] for f in asm_kernels(module)}
    return sorted(n.data for n in names if isinstance(n, StringAttr))
