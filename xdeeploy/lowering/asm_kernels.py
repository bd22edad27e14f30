"""The hot kernels as memref-level IR (func, scf, arith, memref), specialised on one
call's static arguments, for `lower-to-riscv`: `convert-kernel-to-asm` makes one per
distinct `kernel.call`.

Each computes what its C kernel in `runtime_c` computes, bit for bit: products summed
per output in the C kernels' order (so floats round alike), integers wrapping at their
width, requantization in exact 64-bit arithmetic. Every buffer is a dense 1-D memref of
the elements the call reaches; loops carry each operand's offset (never an index
multiply), which `riscv-pointer-induction` turns into pointers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from xdeeploy.dialects.riscv_mem import IMM12


def matmul(name: str, m: int, k: int, n: int, elem: str) -> str:
    """out (m x n) = a (m x k) @ b (k x n) on flat buffers, `elem` "i8" (int8 operands,
    int32 sums, as xd_matmul_int) or "f32" (xd_matmul_f32): `matrix_product` on dense
    operands."""
    types = (F32, F32, F32) if elem == "f32" else ((8, True), (8, True), (32, True))
    p = Product(*types, m, k, n, k, 1, n, 1)
    return matrix_product(name, p, [m * k, k * n, m * n])


# ----------------------------------------------------------------------------- from calls
#
# The kernels `convert-kernel-to-asm` makes from a `kernel.call` of the runtime: each is
# the C kernel's computation on the call's static arguments (shapes, strides, types and
# constants), with every buffer a dense 1-D memref of the elements the call reaches.
# Integers are computed in 32-bit registers, loaded sign- or zero-extended as their
# xd_type says and stored truncated: the C kernels' results modulo 2^width.

XD_TYPES = {"XD_T_I8": (8, True), "XD_T_U8": (8, False), "XD_T_I16": (16, True),
            "XD_T_U16": (16, False), "XD_T_I32": (32, True), "XD_T_U32": (32, False)}  # fmt: skip
"""The integer xd_types an asm kernel handles: (bits, signed)."""


IMM12_MAX = IMM12[-1]


@dataclass
class _Text:
    """A function body being written: fresh SSA names, index/i32 constants hoisted to the
    top, scf.for loops with carried values."""

    lines: list[str] = field(default_factory=list)
    consts: dict[tuple[int, str], str] = field(default_factory=dict)
    fconsts: dict[tuple[float, str], str] = field(default_factory=dict)
    count: int = 0
    depth: int = 1

    def new(self, stem: str = "v") -> str:
        self.count += 1
        return f"%{stem}{self.count}"

    def c(self, value: int, ty: str = "index") -> str:
        key = (int(value), ty)
        if key not in self.consts:
            self.consts[key] = f"%c{'m' if value < 0 else ''}{abs(value)}_{ty}"
        return self.consts[key]

    def cf(self, value: float) -> str:
        """An f32 constant (`value` a float32: its repr converts back exactly)."""
        key = (float(value), "f32")
        if key not in self.fconsts:
            self.fconsts[key] = f"%cf{len(self.fconsts)}"
        return self.fconsts[key]

    def emit(self, line: str) -> None:
        self.lines.append("  " * self.depth + line)

    def op(self, text: str, stem: str = "v") -> str:
        """`%new = text`; returns %new."""
        name = self.new(stem)
        self.emit(f"{name} = {text}")
        return name

    def add(self, a: str, b: str, ty: str = "index") -> str:
        return self.op(f"arith.addi {a}, {b} : {ty}")

    def add_imm(self, a: str, value: int) -> str:
        """a + value (index) as `addi`s of 12-bit immediates: xDSL's canonicalization
        turns an add of a constant into one `addi` whatever its size (0.74), so larger
        steps are split."""
        while abs(value) > IMM12_MAX:
            chunk = IMM12_MAX if value > 0 else -IMM12_MAX
            a, value = self.add(a, self.c(chunk)), value - chunk
        return self.add(a, self.c(value)) if value else a

    def offset(self, base: str | None, terms: list[tuple[str, int]]) -> str:
        """base + Σ iv·stride (index), skipping zero strides; the constant 0 if empty."""
        acc = base
        for iv, stride in terms:
            if stride == 0:
                continue
            term = iv if stride == 1 else self.op(f"arith.muli {iv}, {self.c(stride)} : index")
            acc = term if acc is None else self.add(acc, term)
        return acc if acc is not None else self.c(0)

    def function(self, name: str, params: list[tuple[str, str]]) -> str:
        args = ", ".join(f"{p}: {t}" for p, t in params)
        consts = [f"  {n} = arith.constant {v} : {t}" for (v, t), n in sorted(self.consts.items())]
        consts += [f"  {n} = arith.constant {v!r} : {t}" for (v, t), n in self.fconsts.items()]
        return "\n".join([f"func.func @{name}({args}) {{", *consts, *self.lines,
                          "  func.return", "}", ""])  # fmt: skip


@dataclass(frozen=True)
class _Buf:
    """A kernel parameter: its SSA name, element count and (bits, signed); `signed` None
    is float32."""

    name: str
    size: int
    bits: int
    signed: bool | None = True

    @property
    def type(self) -> str:
        elem = "f32" if self.signed is None else f"i{self.bits}"
        return f"memref<{max(self.size, 1)}x{elem}>"

    def load(self, t: _Text, index: str) -> str:
        """The element at `index` as an i32 (sign- or zero-extended) or f32."""
        v = t.op(f"memref.load {self.name}[{index}] : {self.type}")
        if self.bits == 32:
            return v
        ext = "arith.extsi" if self.signed else "arith.extui"
        return t.op(f"{ext} {v} : i{self.bits} to i32")

    def store(self, t: _Text, value: str, index: str) -> None:
        """The low bits of the i32 `value` at `index`."""
        if self.bits != 32:
            value = t.op(f"arith.trunci {value} : i32 to i{self.bits}")
        t.emit(f"memref.store {value}, {self.name}[{index}] : {self.type}")


def _loop(t: _Text, count: int, carried: Sequence[tuple[str, str]] = ()) -> tuple[str, list[str]]:
    """Opens `scf.for %iv = 0 to count` carrying (init, type) values; returns the
    induction variable and the carried values' names inside the loop."""
    iv = t.new("i")
    inner = [t.new("o") for _ in carried]
    iters = ""
    if carried:
        pairs = ", ".join(f"{n} = {init}" for n, (init, _) in zip(inner, carried, strict=True))
        types = ", ".join(ty for _, ty in carried)
        iters = f" iter_args({pairs}) -> ({types})"
    t.emit(f"scf.for {iv} = {t.c(0)} to {t.c(count)} step {t.c(1)}{iters} {{")
    t.depth += 1
    return iv, inner


def _end_loop(
    t: _Text, results: Sequence[str] = (), types: Sequence[str] = (), names: Sequence[str] = ()
) -> None:
    if results:
        t.emit(f"scf.yield {', '.join(results)} : {', '.join(types)}")
    t.depth -= 1
    t.emit("}")
    if names:  # the loop's results: rewrite the opening line to bind them
        for k in range(len(t.lines) - 1, -1, -1):
            if t.lines[k].lstrip().startswith("scf.for") and _indent(t.lines[k]) == t.depth:
                t.lines[k] = "  " * t.depth + f"{', '.join(names)} = " + t.lines[k].lstrip()
                break


def _indent(line: str) -> int:
    return (len(line) - len(line.lstrip())) // 2


def _merge_dims(dims: list[int], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Drops unit dimensions and merges neighbours that every operand walks contiguously
    (stride[d] = stride[d+1]·dims[d+1]): fewer, longer loops over the same elements."""
    keep = [d for d in range(len(dims)) if dims[d] != 1] or [len(dims) - 1]
    out_dims = [dims[d] for d in keep]
    out_strides = [[s[d] for d in keep] for s in strides]
    d = len(out_dims) - 2
    while d >= 0:
        if all(s[d] == s[d + 1] * out_dims[d + 1] for s in out_strides):
            out_dims[d : d + 2] = [out_dims[d] * out_dims[d + 1]]
            for s in out_strides:
                s[d : d + 2] = [s[d + 1]]
        d -= 1
    return out_dims, out_strides


def span(shape: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """Elements from the first to the last one a strided view reaches."""
    if any(n == 0 for n in shape):
        return 0
    return 1 + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))


@dataclass
class _Walk:
    """Open loops that carry the operands' offsets: each loop adds its stride to every
    offset at the end of an iteration, so no offset is ever multiplied (and no stride
    constant is kept in a register: strides below 2048 become `addi` immediates)."""

    t: _Text
    levels: list[tuple[list[str], list[int]]] = field(default_factory=list)
    loops: list[bool] = field(default_factory=list)

    def open(self, count: int, offsets: list[str], strides: list[int]) -> list[str]:
        """`scf.for` over `count` steps; the offsets inside it (operands whose stride is
        zero keep theirs). Each operand carries its own offset, even where two walk
        alike: `riscv-pointer-induction` then makes each the pointer into its buffer."""
        t = self.t
        if count == 1:  # no loop: the offsets stay
            self.levels.append(([], []))
            self.loops.append(False)
            return list(offsets)
        self.loops.append(True)
        carried = [k for k, s in enumerate(strides) if s != 0]
        _, inner = _loop(t, count, [(offsets[k], "index") for k in carried])
        out = list(offsets)
        for k, name in zip(carried, inner, strict=True):
            out[k] = name
        self.levels.append((inner, [strides[k] for k in carried]))
        return out

    def close(self, results: Sequence[str] = (), types: Sequence[str] = (),
              names: Sequence[str] = ()) -> None:  # fmt: skip
        inner, strides = self.levels.pop()
        if not self.loops.pop():
            assert not results
            return
        steps = [self.t.add_imm(o, s) for o, s in zip(inner, strides, strict=True)]
        _end_loop(self.t, [*results, *steps], [*types, *["index"] * len(steps)],
                  [*names, *[self.t.new() for _ in steps]] if names else [])  # fmt: skip


PEEL_MAX = 8
"""Outer loops of at most this many iterations may be unrolled (`peel`)."""


def _rows(
    t: _Text,
    dims: list[int],
    strides: list[list[int]],
    row: Callable[[list[str]], None],
    before: Callable[[list[str]], None] | None = None,
    peel: int = 0,
) -> None:
    """Loops over `dims` (operands walk them with `strides`; the last operand is the dense
    output): `row(offsets)` writes the innermost body given every operand's offset;
    `before(offsets)`, ahead of the innermost loop, what only depends on the operands
    that do not move along it. `peel` outer loops (short ones, never the innermost)
    are unrolled: each fewer loop is a counter and a carried offset per operand less
    in registers."""
    dims, strides = _merge_dims(dims, [*strides, _dense(dims)])
    peeled = 0
    while peeled < min(peel, len(dims) - 1) and dims[peeled] <= PEEL_MAX:
        peeled += 1
    for index in itertools.product(*(range(n) for n in dims[:peeled])):
        start = [t.c(sum(i * s[d] for d, i in enumerate(index))) for s in strides]
        _nest(t, dims[peeled:], [s[peeled:] for s in strides], start, row, before)


def _nest(t: _Text, dims: list[int], strides: list[list[int]], offsets: list[str],
          row: Callable[[list[str]], None],
          before: Callable[[list[str]], None] | None) -> None:  # fmt: skip
    walk = _Walk(t)
    for d, n in enumerate(dims):
        if d == len(dims) - 1 and before is not None:
            before(offsets)
        offsets = walk.open(n, offsets, [s[d] for s in strides])
    row(offsets)
    for _ in dims:
        walk.close()


def _dense(dims: list[int]) -> list[int]:
    out, acc = [], 1
    for n in reversed(dims):
        out.append(acc)
        acc *= n
    return out[::-1]


BINARY_OPS = {"XD_ADD": "arith.addi", "XD_SUB": "arith.subi", "XD_MUL": "arith.muli"}
"""The xd_binary_int operations an asm kernel does (they wrap at any width alike)."""


def binary_int(name: str, op: str, bits: int, signed: bool, dims: list[int],
               a_strides: list[int], b_strides: list[int], sizes: Sequence[int],
               peel: int = 0) -> str:  # fmt: skip
    """xd_binary_int for XD_ADD/XD_SUB/XD_MUL: out = a op b with broadcast strides,
    wrapping at the element width."""
    arith = BINARY_OPS[op]
    a, b, y = (_Buf(n, s, bits, signed) for n, s in zip(("%a", "%b", "%y"), sizes, strict=True))
    t = _Text()

    def row(offsets: list[str]) -> None:
        x, z = a.load(t, offsets[0]), b.load(t, offsets[1])
        y.store(t, t.op(f"{arith} {x}, {z} : i32"), offsets[2])

    _rows(t, dims, [a_strides, b_strides], row, peel=peel)
    return t.function(name, [(a.name, a.type), (b.name, b.type), (y.name, y.type)])


@dataclass(frozen=True)
class Requant:
    """xd_requant_shift's static arguments."""

    x: tuple[int, bool]
    mul: tuple[int, bool]
    add: tuple[int, bool]
    y: tuple[int, bool]
    dims: list[int]
    x_strides: list[int]
    mul_strides: list[int]
    add_strides: list[int]
    shift: int
    lo: int
    hi: int
    narrow: bool = False
    """x·mul and x·mul + add + round are known to fit int32 (`kernel.requant_range`):
    32-bit arithmetic is exact, and nothing needs saturating before the clamp."""


def requant_shift(name: str, r: Requant, sizes: Sequence[int], peel: int = 0) -> str:
    """y = clamp((x·mul + add + round) >> shift, lo, hi) in exact 64-bit arithmetic as
    xd_requant_shift (round = 2^(shift-1), the shift arithmetic), on register pairs: the
    product by mul/mulh (mulhu, less the signed factor's correction, where a factor is
    uint32), the sums with a carry, the shift across the pair; a value beyond int32
    clamps by its sign."""
    s = min(max(r.shift, 0), 63)
    bufs = [_Buf(n, size, bits, signed)
            for n, size, (bits, signed) in zip(("%x", "%mul", "%add", "%y"), sizes,
                                               (r.x, r.mul, r.add, r.y), strict=True)]  # fmt: skip
    x, mul, add, y = bufs
    t = _Text()
    i32 = "i32"
    rnd = (1 << (s - 1)) if s > 0 else 0

    def pair_add(lo: str, hi: str, blo: str, bhi: str | None) -> tuple[str, str]:
        """(lo, hi) + (blo, bhi) with the carry; bhi None: zero."""
        slo = t.op(f"arith.addi {lo}, {blo} : i32")
        carry = t.op(f"arith.cmpi ult, {slo}, {lo} : i32")
        c32 = t.op(f"arith.extui {carry} : i1 to i32")
        shi = t.op(f"arith.addi {hi}, {bhi} : i32") if bhi is not None else hi
        return slo, t.op(f"arith.addi {shi}, {c32} : i32")

    # Per element: x · mul + (add + round); mul and add + round are computed once per
    # row when they are constant along it (per-tensor or per-channel).
    mul_fixed, add_fixed = r.mul_strides[-1] == 0, r.add_strides[-1] == 0
    hoisted: dict[str, str | tuple[str, str | None]] = {}

    def bias(offset: str) -> tuple[str, str | None]:
        bv = add.load(t, offset)
        bhi = t.op(f"arith.shrsi {bv}, {t.c(31, i32)} : i32") if add.signed else None
        if not rnd:
            return bv, bhi
        rlo, rhi = _signed32(rnd & 0xFFFFFFFF), rnd >> 32
        lo, hi = pair_add(bv, bhi if bhi is not None else t.c(0, i32), t.c(rlo, i32), None)
        return lo, t.op(f"arith.addi {hi}, {t.c(rhi, i32)} : i32") if rhi else hi

    def before(offsets: list[str]) -> None:
        if mul_fixed:
            hoisted["mul"] = mul.load(t, offsets[1])
        if add_fixed:
            hoisted["add"] = bias(offsets[2])

    def bias32(offset: str) -> str:
        bv = add.load(t, offset)
        return t.op(f"arith.addi {bv}, {t.c(rnd, i32)} : i32") if rnd else bv

    def before32(offsets: list[str]) -> None:
        if mul_fixed:
            hoisted["mul"] = mul.load(t, offsets[1])
        if add_fixed:
            hoisted["add"] = bias32(offsets[2])

    def clamp_store(v: str, offset: str) -> None:
        """C's `v < lo ? lo : v > hi ? hi : v` (lo > hi included); a bound at int32's
        own limit clamps nothing more (no register for it)."""
        below = t.op(f"arith.cmpi slt, {v}, {t.c(r.lo, i32)} : i32") if r.lo > -(2**31) else None
        if r.hi < 2**31 - 1:
            hi_c = t.c(r.hi, i32)
            above = t.op(f"arith.cmpi sgt, {v}, {hi_c} : i32")
            v = t.op(f"arith.select {above}, {hi_c}, {v} : i32")
        if below is not None:
            v = t.op(f"arith.select {below}, {t.c(r.lo, i32)}, {v} : i32")
        y.store(t, v, offset)

    def row32(offsets: list[str]) -> None:
        """The sum within int32: one multiply, one add, one shift (s >= 32 leaves the
        sign, as s = 31 does)."""
        xv = x.load(t, offsets[0])
        mv = hoisted["mul"] if mul_fixed else mul.load(t, offsets[1])
        bv = hoisted["add"] if add_fixed else bias32(offsets[2])
        assert isinstance(mv, str) and isinstance(bv, str)
        total = t.op(f"arith.addi {t.op(f'arith.muli {xv}, {mv} : i32')}, {bv} : i32")
        v = t.op(f"arith.shrsi {total}, {t.c(min(s, 31), i32)} : i32") if s else total
        clamp_store(v, offsets[3])

    def row(offsets: list[str]) -> None:
        xv = x.load(t, offsets[0])
        mv = hoisted["mul"] if mul_fixed else mul.load(t, offsets[1])
        blo, bhi = hoisted["add"] if add_fixed else bias(offsets[2])
        assert isinstance(mv, str) and isinstance(blo, str)
        plo, phi = t.new("lo"), t.new("hi")
        _product(t, (xv, x), (mv, mul), plo, phi)
        lo, hi = pair_add(plo, phi, blo, bhi)
        if s == 0:
            vlo, vhi = lo, hi
        elif s < 32:
            low = t.op(f"arith.shrui {lo}, {t.c(s, i32)} : i32")
            high = t.op(f"arith.shli {hi}, {t.c(32 - s, i32)} : i32")
            vlo = t.op(f"arith.ori {low}, {high} : i32")
            vhi = t.op(f"arith.shrsi {hi}, {t.c(s, i32)} : i32")
        else:
            vlo = t.op(f"arith.shrsi {hi}, {t.c(s - 32, i32)} : i32") if s > 32 else hi
            vhi = t.op(f"arith.shrsi {hi}, {t.c(31, i32)} : i32")
        # Saturated to int32 first (within it the high word is the low word's sign;
        # beyond, INT32_MAX or, flipped by a negative sign, INT32_MIN), then C's
        # `v < lo ? lo : v > hi ? hi : v`: the same, as lo and hi are int32.
        sign = t.op(f"arith.shrsi {vlo}, {t.c(31, i32)} : i32")
        fits = t.op(f"arith.cmpi eq, {vhi}, {sign} : i32")
        # INT32_MAX or INT32_MIN by the sign, without a constant's register:
        # (~sign >> 1) | (sign << 31).
        vsign = t.op(f"arith.shrsi {vhi}, {t.c(31, i32)} : i32")
        flipped = t.op(f"arith.xori {vsign}, {t.c(-1, i32)} : i32")
        top = t.op(f"arith.shli {vsign}, {t.c(31, i32)} : i32")
        rest = t.op(f"arith.shrui {flipped}, {t.c(1, i32)} : i32")
        wall = t.op(f"arith.ori {rest}, {top} : i32")
        clamp_store(t.op(f"arith.select {fits}, {vlo}, {wall} : i32"), offsets[3])

    strides = [r.x_strides, r.mul_strides, r.add_strides]
    if r.narrow and rnd < 2**31:
        _rows(t, r.dims, strides, row32, before32, peel)
    else:
        _rows(t, r.dims, strides, row, before, peel)
    return t.function(name, [(b.name, b.type) for b in bufs])


def _product(t: _Text, a: tuple[str, _Buf], b: tuple[str, _Buf], lo: str, hi: str) -> None:
    """lo, hi = the exact 64-bit product of two loaded factors: signed unless a uint32
    (narrower unsigned types are zero-extended, non-negative as signed). With one of
    each, the unsigned product's high word less the unsigned factor where the signed
    one is negative (what RV32's mulhsu computes)."""
    (va, ba), (vb, bb) = a, b
    wide_a, wide_b = (q.bits == 32 and q.signed is False for q in (ba, bb))
    if wide_a == wide_b:
        kind = "mului_extended" if wide_a else "mulsi_extended"
        t.emit(f"{lo}, {hi} = arith.{kind} {va}, {vb} : i32")
        return
    signed, unsigned = (vb, va) if wide_a else (va, vb)
    high = t.new("hu")
    t.emit(f"{lo}, {high} = arith.mului_extended {va}, {vb} : i32")
    negative = t.op(f"arith.cmpi slt, {signed}, {t.c(0, 'i32')} : i32")
    correction = t.op(f"arith.select {negative}, {unsigned}, {t.c(0, 'i32')} : i32")
    t.emit(f"{hi} = arith.subi {high}, {correction} : i32")


def _signed32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


@dataclass(frozen=True)
class Product:
    """A (batched) matrix product with its operands' layouts: a[i·a_rs + p·a_cs],
    b[p·b_rs + j·b_cs], out dense m x n per batch; then out·alpha + c·beta (gemm).
    Operands are (bits, signed) integers or `F32` (all float32 or none)."""

    a: tuple[int, bool | None]
    b: tuple[int, bool | None]
    out: tuple[int, bool | None]
    m: int
    k: int
    n: int
    a_rs: int
    a_cs: int
    b_rs: int
    b_cs: int
    batch: list[int] = field(default_factory=list)
    a_batch: list[int] = field(default_factory=list)
    b_batch: list[int] = field(default_factory=list)
    alpha: float = 1
    beta: float = 0
    c: tuple[int, bool | None] | None = None
    c_rs: int = 0
    c_cs: int = 0

    @property
    def floats(self) -> bool:
        return self.out == F32


F32: tuple[int, bool | None] = (32, None)


UNROLLS = (4, 2, 1)
"""Variants of a kernel, first tried first, for when the registers run out (xDSL's
allocator does not spill): a matrix product's output columns per dot-product loop
(a[i][p] is loaded once for all of them); for the elementwise kernels, `PEELS[u]` outer
loops unrolled."""
PEELS = {4: 0, 2: 1, 1: 2}


def matrix_product(name: str, p: Product, sizes: list[int], unroll: int = UNROLLS[0]) -> str:
    """xd_matmul_int / xd_gemv_int / xd_gemm_int and their f32 forms: each output a dot
    product summed in a register, p = 0.. in order (the C kernels' i-k-j order, so floats
    round alike), integers wrapping modulo 2^32 as the C kernels' accumulators;
    `unroll` columns at a time (one load of a[i][p] for all), then the rest."""
    a = _Buf("%a", sizes[0], *p.a)
    b = _Buf("%b", sizes[1], *p.b)
    c = _Buf("%c", sizes[2], *p.c) if p.c is not None else None
    y = _Buf("%y", sizes[-1], *p.out)
    t = _Text()
    walk = _Walk(t)
    zero = t.c(0)
    # Offsets of a, b, c and the output; c does not move with the batch (gemm has none).
    offsets = [zero, zero, zero, zero]
    out_batch = _dense([*p.batch, p.m * p.n])[:-1]
    for d, n in enumerate(p.batch):
        offsets = walk.open(n, offsets, [p.a_batch[d], p.b_batch[d], 0, out_batch[d]])
    oa, ob, oc, oy = walk.open(p.m, offsets, [p.a_rs, 0, p.c_rs, p.n])
    groups, rest = divmod(p.n, unroll)
    if groups:
        _columns(t, walk, p, (a, b, c, y), unroll, groups, oa, ob, oc, oy)
    if rest:
        done = groups * unroll
        ob, oc, oy = t.add_imm(ob, done * p.b_cs), t.add_imm(oc, done * p.c_cs), t.add_imm(oy, done)
        _columns(t, walk, p, (a, b, c, y), 1, rest, oa, ob, oc, oy)
    walk.close()
    for _ in p.batch:
        walk.close()
    params = [a, b, *([c] if c is not None else []), y]
    return t.function(name, [(q.name, q.type) for q in params])


def _columns(t: _Text, walk: _Walk, p: Product, bufs: tuple[_Buf, _Buf, _Buf | None, _Buf],
             unroll: int, count: int, oa: str, ob: str, oc: str, oy: str) -> None:  # fmt: skip
    """`count` groups of `unroll` output columns of one row, from the offsets given."""
    a, b, c, y = bufs
    _, ob, oc, oy = walk.open(count, [oa, ob, oc, oy],
                              [0, unroll * p.b_cs, unroll * p.c_cs, unroll])  # fmt: skip
    pa, pb = t.new("pa"), t.new("pb")
    accs = [t.new("acc") for _ in range(unroll)]
    ty, mul, add = (
        ("f32", "arith.mulf", "arith.addf") if p.floats else ("i32", "arith.muli", "arith.addi")
    )
    zero = t.cf(0.0) if p.floats else t.c(0, "i32")
    inits = ", ".join(f"{acc} = {zero}" for acc in accs)
    types = ", ".join([ty] * unroll)
    t.emit(f"{{dot}} = scf.for {t.new('p')} = {t.c(0)} to {t.c(p.k)} step {t.c(1)} "
           f"iter_args({inits}, {pa} = {oa}, {pb} = {ob}) -> ({types}, index, index) {{")  # fmt: skip
    t.depth += 1
    ea = a.load(t, pa)
    totals = []
    for u, acc in enumerate(accs):
        eb = b.load(t, t.add_imm(pb, u * p.b_cs))
        prod = t.op(f"{mul} {ea}, {eb} : {ty}")
        totals.append(t.op(f"{add} {acc}, {prod} : {ty}"))
    steps = f"{t.add_imm(pa, p.a_cs)}, {t.add_imm(pb, p.b_rs)}"
    t.emit(f"scf.yield {', '.join(totals)}, {steps} : {types}, index, index")
    t.depth -= 1
    t.emit("}")
    dots = [t.new("dot") for _ in range(unroll)]
    back = -1 - _last_for(t)
    t.lines[back] = t.lines[back].replace("{dot}", ", ".join([*dots, t.new(), t.new()]))
    for u, dot in enumerate(dots):
        # As the C kernel: (alpha · AB) + (beta · C), skipping factors of 1.
        value = dot
        if p.alpha != 1:
            value = t.op(f"{mul} {value}, {_scalar(t, p.alpha, p.floats)} : {ty}")
        if c is not None:
            cv = c.load(t, t.add_imm(oc, u * p.c_cs))
            if p.beta != 1:
                cv = t.op(f"{mul} {_scalar(t, p.beta, p.floats)}, {cv} : {ty}")
            value = t.op(f"{add} {value}, {cv} : {ty}")
        y.store(t, value, t.add_imm(oy, u))
    walk.close()


def _scalar(t: _Text, value: float, floats: bool) -> str:
    """A gemm factor: an f32 constant, or an i32 one modulo 2^32."""
    return t.cf(value) if floats else t.c(_signed32(int(value) & 0xFFFFFFFF), "i32")


def _last_for(t: _Text) -> int:
    """Lines back from the end to the most recent line with a `{dot}` placeholder."""
    for back, line in enumerate(reversed(t.lines)):
        if "{dot}" in line:
            return back
    raise AssertionError("no placeholder")
