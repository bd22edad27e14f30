"""`convert-npu-to-accfg`: NPU jobs as the register writes that launch them on the
engine, in xDSL's `accfg` dialect (accelerator configuration):

    npu.matmul shift 8 (%a, %w) requant(%s, %b) -> %y : ...
      →  %0 = "memref.extract_aligned_pointer_as_index"(%w) : (...) -> index
         %weights_ptr = arith.index_cast %0 : index to i32
         ...                        (an i32 value per field: addresses, then constants)
         %conf0 = arith.constant 109576919 : i32
         %trigger = arith.constant 0 : i32
         %s1 = accfg.setup "neureka" from %s0 to ("weights_ptr" = %weights_ptr : i32,
                                 ..., "conf0" = %conf0 : i32) : !accfg.state<"neureka">
         %t = "accfg.launch"(%trigger, %s1) <{param_names = ["trigger"], ...}> : ...
         "accfg.await"(%t) : (!accfg.token<"neureka">) -> ()

Not in the default pipeline: no platform of ours programs the engine's registers. The
siracusa platform runs each job through the engine's functional model in C
(`convert-npu-to-kernel`) and nothing in xdeeploy lowers `accfg` further. This pass is
where a platform with the real engine, or research on accfg flows, takes our jobs over:
run it instead of `convert-npu-to-kernel`, then lower `accfg.setup` to stores at
base + field offset, `accfg.launch` to the store into the trigger register and
`accfg.await` to polling the barrier register (or waiting for the engine's event).
Between those, xDSL's and snax-mlir's accfg passes apply: after `cse` merges equal
values, a setup chained from the previous one (`from %state`, below) can drop the
fields it does not change. Whether the engine keeps unchanged registers
between jobs is for that lowering to know: pulp-nnx rewrites all of them for every job
(N-EUREKA queues up to two jobs).

The register map (`FIELDS`) models N-EUREKA's as pulp-nnx drives it (hal/neureka_task_defs.h,
util/hwpe.c: HWPE control registers from 0x00, the job registers from 0x20, one 32-bit
word each), as byte offsets from the engine's base (0x00201000 on Siracusa):

    0x00 trigger          launch field: writing 0 queues the job and starts it
    0x0C status           the barrier: non-zero while a job runs
    0x20 weights_ptr      \\
    0x24 infeat_ptr        | buffer addresses: the first element of each (the
    0x28 outfeat_ptr       | allocation's aligned pointer plus the view's offset);
    0x2C scale_ptr         | 0 for the scale and bias of a job without requant
    0x34 bias_ptr         /
    0x38 in_height        \\
    0x3C in_width          | the job's dimensions; an npu.matmul m x k by n is a
    0x40 in_channels       | pointwise job on 1 x m pixels (in/out height 1, width m,
    0x44 out_height        | in_channels k, out_channels n); weight_channels is the
    0x48 out_width         | weights' padded input channels Cin' (depthwise: C')
    0x4C out_channels      |
    0x50 weight_channels  /
    0x70 padding          top << 28 | right << 24 | bottom << 20 | left << 16
    0x7C conf0            the job's mode word, below

    conf0  [2:0]   7: 8-bit weights              [9]     weights in the engine's memory
           [4]     requant                       [20:16] shift
           [6:5]   kind: 0 dense3x3,             [22:21] output width: 0 8 bits
                   1 depthwise3x3, 2 pointwise           (requant), 2 32 bits
           [7]     npu.matmul (rows x features)  [23]    signed output
           [8]     stride 2                      [25]    requant adds the bias
                                                 [26]    signed input

The pointers, padding and conf0 sit where N-EUREKA has them, with its bit positions
(conf0's [7] is its linear mode, [23] its identity quantization function: its ReLU
clamps at 0, an unsigned output). Where N-EUREKA's registers hold what a driver derives
from the dimensions (the strides and subtile counts of 0x38-0x6C), ours hold the
dimensions themselves, in the slots of the same buffer's geometry, so that a job reads
back from its fields alone (`JobRegisters.decode`); pulp-nnx's `neureka_task_set_dims`
is that derivation. Likewise its input pointer is the origin of the padded input, ours
the buffer. Its other job registers (0x30 per-channel shift pointer, 0x74 weight offset,
0x78 filter mask) are no fields here: one shift per job, signed weights, every filter.

A setup starts `from` the state of the previous one in its block unless an op between
may have programmed the engine: an op whose effects xDSL does not know (a call, a job
not lowered yet, a loop around setups), an `accfg.reset`; `accfg.effects` on an op
says so explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import accfg, arith, memref
from xdsl.dialects.accfg import EffectsAttr, EffectsEnum
from xdsl.dialects.builtin import (
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    NoneAttr,
    Signedness,
    StridedLayoutAttr,
    i32,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import get_effects

from xdeeploy.dialects import dnn, npu
from xdeeploy.errors import DeeployError
from xdeeploy.lowering.buffers import contiguous_strides

ACCELERATOR = "neureka"
"""The `accfg.accelerator` symbol the jobs are set up and launched on."""

ADDRESS_FIELDS = ("weights_ptr", "infeat_ptr", "outfeat_ptr", "scale_ptr", "bias_ptr")
DIM_FIELDS = ("in_height", "in_width", "in_channels", "out_height", "out_width",
              "out_channels", "weight_channels")  # fmt: skip

FIELDS: dict[str, int] = {
    "weights_ptr": 0x20, "infeat_ptr": 0x24, "outfeat_ptr": 0x28, "scale_ptr": 0x2C,
    "bias_ptr": 0x34, "in_height": 0x38, "in_width": 0x3C, "in_channels": 0x40,
    "out_height": 0x44, "out_width": 0x48, "out_channels": 0x4C, "weight_channels": 0x50,
    "padding": 0x70, "conf0": 0x7C,
}  # fmt: skip
"""Job register → byte offset from the engine's base, in the order a setup writes them."""
LAUNCH_FIELDS = {"trigger": 0x00}
TRIGGER_RUN = 0
"""The value written to `trigger` to queue the job and start the engine."""
BARRIER = 0x0C
"""The status register, non-zero while the engine runs a job."""

# conf0, at N-EUREKA's bit positions.
CONF0_WEIGHT_BITS = 7  # [2:0]: weight bits - 1
CONF0_REQUANT = 1 << 4
CONF0_KIND_SHIFT = 5  # [6:5]
CONF0_MATMUL = 1 << 7
CONF0_STRIDE2 = 1 << 8
CONF0_WEIGHT_MEMORY = 1 << 9
CONF0_SHIFT_SHIFT = 16  # [20:16]
CONF0_OUT32 = 2 << 21  # [22:21]; 0 is 8-bit
CONF0_SIGNED_OUTPUT = 1 << 23
CONF0_BIAS = 1 << 25
CONF0_SIGNED_INPUT = 1 << 26
KIND_CODES = {"dense3x3": 0, "depthwise3x3": 1, "pointwise": 2}
_CONF0_KNOWN = (CONF0_WEIGHT_BITS | CONF0_REQUANT | 3 << CONF0_KIND_SHIFT | CONF0_MATMUL
                | CONF0_STRIDE2 | CONF0_WEIGHT_MEMORY | 31 << CONF0_SHIFT_SHIFT | 3 << 21
                | CONF0_SIGNED_OUTPUT | CONF0_BIAS | CONF0_SIGNED_INPUT)  # fmt: skip


def padding_word(pads: tuple[int, int, int, int]) -> int:
    """The padding register for pads [top, left, bottom, right] (pad value 0)."""
    top, left, bottom, right = pads
    return top << 28 | right << 24 | bottom << 20 | left << 16


@dataclass(frozen=True)
class JobRegisters:
    """A job as its fields but the addresses: what conf0, padding and the dims hold."""

    kind: str
    matmul: bool
    stride: int
    pads: tuple[int, int, int, int]
    """[top, left, bottom, right], as `npu.conv2d` orders them."""
    shift: int
    requant: bool
    in_signed: bool
    out_signed: bool
    out_bits: int
    """8 (requantized) or 32 (the accumulators)."""
    dims: tuple[int, ...]
    """The values of `DIM_FIELDS`, in that order."""

    @staticmethod
    def of(op: npu.Conv2dOp | npu.MatmulOp) -> JobRegisters:
        x, w, y = (_memref(v) for v in (op.input, op.weights, op.output))
        if isinstance(op, npu.MatmulOp):
            (m, k), n = x.get_shape(), y.get_shape()[1]
            kind, stride, pads = "pointwise", 1, (0, 0, 0, 0)
            dims = (1, m, k, 1, m, n, w.get_shape()[-1])
        else:
            kind, stride = op.kind.data, op.stride.value.data
            top, left, bottom, right = op.pads
            pads = (top, left, bottom, right)
            weight_channels = w.get_shape()[0 if kind == "depthwise3x3" else -1]
            dims = (*x.get_shape(), *y.get_shape(), weight_channels)
        out = y.element_type
        assert isinstance(out, IntegerType)
        return JobRegisters(
            kind, isinstance(op, npu.MatmulOp), stride, pads, op.shift.value.data,
            op.scale is not None, _signed(x), _signed(y), out.width.data, dims,
        )  # fmt: skip

    @property
    def conf0(self) -> int:
        return (CONF0_WEIGHT_BITS | CONF0_WEIGHT_MEMORY
                | KIND_CODES[self.kind] << CONF0_KIND_SHIFT
                | self.shift << CONF0_SHIFT_SHIFT
                | (CONF0_REQUANT | CONF0_BIAS if self.requant else 0)
                | (CONF0_MATMUL if self.matmul else 0)
                | (CONF0_STRIDE2 if self.stride == 2 else 0)
                | (CONF0_OUT32 if self.out_bits == 32 else 0)
                | (CONF0_SIGNED_OUTPUT if self.out_signed else 0)
                | (CONF0_SIGNED_INPUT if self.in_signed else 0))  # fmt: skip

    def words(self) -> dict[str, int]:
        """The values of every field but the addresses."""
        return {**dict(zip(DIM_FIELDS, self.dims, strict=True)),
                "padding": padding_word(self.pads), "conf0": self.conf0}  # fmt: skip

    @staticmethod
    def decode(words: Mapping[str, int]) -> JobRegisters:
        """The job that `words` (every field but the addresses) set up; a `ValueError`
        names a word this pass never writes."""
        conf0 = words["conf0"]
        if conf0 & ~_CONF0_KNOWN:
            raise ValueError(f"conf0 {conf0:#x}: bits {conf0 & ~_CONF0_KNOWN:#x} are not ours")
        if conf0 & CONF0_WEIGHT_BITS != CONF0_WEIGHT_BITS or not conf0 & CONF0_WEIGHT_MEMORY:
            raise ValueError(f"conf0 {conf0:#x}: jobs read 8-bit weights in the engine's memory")
        codes = {code: kind for kind, code in KIND_CODES.items()}
        kind = codes.get(conf0 >> CONF0_KIND_SHIFT & 3)
        width = conf0 >> 21 & 3
        requant = bool(conf0 & CONF0_REQUANT)
        if kind is None or width not in (0, 2) or requant != bool(conf0 & CONF0_BIAS):
            raise ValueError(f"conf0 {conf0:#x}: no such job (kind, output width, requant)")
        padding = words["padding"]
        if padding & 0xFFFF:  # the pad value among them: ours is 0
            raise ValueError(f"padding {padding:#x}: bits 15:0 are not ours")
        pads = (padding >> 28 & 15, padding >> 16 & 15, padding >> 20 & 15, padding >> 24 & 15)
        return JobRegisters(
            kind, bool(conf0 & CONF0_MATMUL), 2 if conf0 & CONF0_STRIDE2 else 1, pads,
            conf0 >> CONF0_SHIFT_SHIFT & 31, requant, bool(conf0 & CONF0_SIGNED_INPUT),
            bool(conf0 & CONF0_SIGNED_OUTPUT), 32 if width == 2 else 8,
            tuple(words[f] for f in DIM_FIELDS),
        )  # fmt: skip


def accelerator_op() -> accfg.AcceleratorOp:
    """The engine's declaration: its fields, the launch field and the barrier."""
    return accfg.AcceleratorOp(ACCELERATOR, FIELDS, LAUNCH_FIELDS, BARRIER)


def _memref(value: SSAValue) -> MemRefType:
    ty = value.type
    assert isinstance(ty, MemRefType)
    return ty


def _signed(ty: MemRefType) -> bool:
    """Signless integers are signed in xdeeploy (`i8` is int8)."""
    elem = ty.element_type
    assert isinstance(elem, IntegerType)
    return elem.signedness.data != Signedness.UNSIGNED


def _where(op: Operation) -> str:
    name = dnn.node_name(op)
    return op.name if name == op.name else f"{op.name} (node '{name}')"


def _leaves_registers(op: Operation) -> bool:
    """Whether `op` cannot have written the engine's registers, so that a setup after it
    may start from the state of a setup before it. A launch or await only reads them;
    an op whose effects xDSL knows is no register write; a call or a loop whose body
    does not declare its effects might launch jobs itself. `accfg.effects` overrides."""
    effects = op.attributes.get("accfg.effects")
    if isinstance(effects, EffectsAttr):
        return effects.data == EffectsEnum.NONE
    if isinstance(op, accfg.LaunchOp | accfg.AwaitOp):
        return True
    if isinstance(op, accfg.SetupOp | accfg.ResetOp):
        # Another accelerator's registers; our own setups end the search before this.
        state = op.out_state if isinstance(op, accfg.SetupOp) else op.in_state
        assert isinstance(state.type, accfg.StateType)
        return state.type.accelerator.data != ACCELERATOR
    return get_effects(op) is not None


def _previous_state(op: Operation) -> SSAValue | None:
    """The state of the engine's last setup before `op` in its block, if the registers
    still hold it."""
    prev = op.prev_op
    while prev is not None:
        if isinstance(prev, accfg.SetupOp) and prev.accelerator.data == ACCELERATOR:
            return prev.out_state
        if not _leaves_registers(prev):
            return None
        prev = prev.prev_op
    return None


def _offset(job: Operation, field: str, buffer: SSAValue) -> int | None:
    """The element offset of `buffer` in its allocation (None: dynamic). The engine
    streams dense buffers of a static shape (our register map has no strides)."""
    ty = _memref(buffer)
    shape = ty.get_shape()
    if any(d < 0 for d in shape):
        raise DeeployError(f"{_where(job)}: the {field} buffer {ty} has a dynamic shape")
    layout = ty.layout
    if isinstance(layout, NoneAttr):
        return 0
    if not isinstance(layout, StridedLayoutAttr):
        raise DeeployError(f"{_where(job)}: the {field} buffer {ty}: layout not supported")
    dense = contiguous_strides(shape)
    if any(s != d and n != 1 for s, d, n in zip(layout.get_strides(), dense, shape, strict=True)):
        raise DeeployError(
            f"{_where(job)}: the {field} buffer {ty} is not statically contiguous (the "
            "engine's register map has no strides)"
        )
    return layout.get_offset()


def _address(field: str, buffer: SSAValue, offset: int | None) -> list[Operation]:
    """Ops computing the i32 address of `buffer`'s first element, the last one's result:
    the allocation's aligned pointer plus the view's offset in bytes."""
    ops: list[Operation] = [pointer := memref.ExtractAlignedPointerAsIndexOp.get(buffer)]
    address = pointer.aligned_pointer
    elem = _memref(buffer).element_type
    assert isinstance(elem, IntegerType)
    size = elem.width.data // 8
    if offset is None:  # dynamic: read it at run time
        ops += [meta := memref.ExtractStridedMetaDataOp(buffer)]
        byte_offset = meta.offset
        if size != 1:
            ops += [scale := arith.ConstantOp(IntegerAttr(size, IndexType()))]
            ops += [bytes_in := arith.MuliOp(byte_offset, scale)]
            byte_offset = bytes_in.result
        ops += [add := arith.AddiOp(address, byte_offset)]
        address = add.result
    elif offset:
        ops += [bytes_in := arith.ConstantOp(IntegerAttr(offset * size, IndexType()))]
        ops += [add := arith.AddiOp(address, bytes_in)]
        address = add.result
    ops += [cast := arith.IndexCastOp(address, i32)]
    cast.result.name_hint = field
    return ops


def _launch(op: npu.Conv2dOp | npu.MatmulOp, rewriter: PatternRewriter) -> None:
    """`op` as setup (chained from the registers' known state), launch and await."""
    operands = (op.weights, op.input, op.output, op.scale, op.bias)
    buffers = {f: (b, _offset(op, f, b))
               for f, b in zip(ADDRESS_FIELDS, operands, strict=True) if b is not None}  # fmt: skip
    statics = JobRegisters.of(op).words()
    ops: list[Operation] = []
    values: list[SSAValue] = []
    for field in FIELDS:
        if field in buffers:
            ops += _address(field, *buffers[field])
        else:  # no requant: 0 (NULL) for the scale and bias pointers
            ops += [arith.ConstantOp(IntegerAttr(statics.get(field, 0), i32))]
            ops[-1].results[0].name_hint = field
        values.append(ops[-1].results[0])
    trigger = arith.ConstantOp(IntegerAttr(TRIGGER_RUN, i32))
    trigger.result.name_hint = "trigger"
    setup = accfg.SetupOp(values, list(FIELDS), ACCELERATOR, _previous_state(op))
    launch = accfg.LaunchOp([trigger], list(LAUNCH_FIELDS), setup)
    launch.attributes.update(op.attributes)  # the job's identity (dnn.node) stays with it
    rewriter.replace(op, [*ops, trigger, setup, launch, accfg.AwaitOp(launch)], [])


class Conv2dToAccfg(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: npu.Conv2dOp, rewriter: PatternRewriter) -> None:
        _launch(op, rewriter)


class MatmulToAccfg(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: npu.MatmulOp, rewriter: PatternRewriter) -> None:
        _launch(op, rewriter)


def _declare(module: ModuleOp) -> None:
    """`accfg.accelerator @neureka` at the top of `module`, once: an existing one must
    declare our register map."""
    ours = accelerator_op()
    for op in module.body.ops:
        if isinstance(op, accfg.AcceleratorOp) and op.name_prop == ours.name_prop:
            if op.properties != ours.properties:
                raise DeeployError(
                    f"accfg.accelerator @{ACCELERATOR} is already declared with another "
                    "register map than convert-npu-to-accfg's"
                )
            return
    Rewriter.insert_op(ours, InsertPoint.at_start(module.body.block))


@dataclass(frozen=True)
class ConvertNpuToAccfg(ModulePass):
    """NPU jobs → accfg setup, launch and await on `accfg.accelerator @neureka`
    (N-EUREKA's register map); not in the default pipeline (see the module docstring)."""

    name = "convert-npu-to-accfg"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not any(isinstance(o, npu.Conv2dOp | npu.MatmulOp) for o in op.walk()):
            return
        _declare(op)
        # Forward, so that each job finds the setup of the one before it already there.
        PatternRewriteWalker(
            GreedyRewritePatternApplier([Conv2dToAccfg(), MatmulToAccfg()]),
            apply_recursively=False,
        ).rewrite_module(op)
