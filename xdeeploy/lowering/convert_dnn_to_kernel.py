"""`convert-dnn-to-kernel`: bufferize a `dnn` function into kernel calls on memrefs.

- Tensor arguments become memref arguments; results become trailing out-parameter
  memrefs (tagged `dnn.output`), so the caller owns every buffer it sees.
- A value that is returned is computed straight into its out-parameter; the rest get a
  `memref.alloc` (placed into the static arena later by `plan-memory`).
- Reshapes are aliases (`memref.reinterpret_cast`), not copies.
- Constants: small ones become `memref.global`s, stored weights `kernel.weights`.
- An op tiled by `dnn-tile` becomes loops over tiles staged in L1 (`tile_loops.py`).
- A requant_shift(matmul) pair mapped to the NPU (`dnn-map-engines`) becomes one
  `npu.matmul` job (`dnn_to_npu.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    FunctionType,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint

from xdeeploy.dialects import dnn, kernel
from xdeeploy.lowering.buffers import BufferBuilder, elem_size, memref_of, numel
from xdeeploy.lowering.dnn_kernels import LOWERINGS
from xdeeploy.lowering.dnn_to_npu import lower_npu_conv, lower_npu_matmul
from xdeeploy.lowering.tile_loops import lower_tiled
from xdeeploy.passes.dnn_map_engines import (
    NpuConv,
    NpuMatmul,
    engine_of,
    fused_requant,
    npu_job,
)
from xdeeploy.passes.dnn_tile import tile_choice
from xdeeploy.passes.tiling_rules import tiling_of

OUTPUT_ATTR = "dnn.output"
ALIAS_ATTR = "dnn.may_alias"
"""On an output: the input whose buffer the caller may pass for it too (updated in place)."""


def _arg_attrs(fn: func.FuncOp, outputs: int, aliases: dict[int, int]) -> ArrayAttr[DictionaryAttr]:
    inputs = list(fn.arg_attrs.data) if fn.arg_attrs else [DictionaryAttr({})] * len(fn.args)
    results = list(fn.res_attrs.data) if fn.res_attrs else [DictionaryAttr({})] * outputs
    marked = []
    for k, r in enumerate(results):
        extra: dict[str, Attribute] = {OUTPUT_ATTR: UnitAttr()}
        if k in aliases:
            extra[ALIAS_ATTR] = IntegerAttr(aliases[k], i64)
        marked.append(DictionaryAttr({**r.data, **extra}))
    return ArrayAttr([*inputs, *marked])


def _in_place_outputs(old: Block, ret: func.ReturnOp) -> dict[int, int]:
    """Outputs that are a ScatterND of an input read by nothing after the scatter: the
    caller may pass the input's buffer for both (a KV cache updated in place)."""
    ops = list(old.ops)
    position = {op: i for i, op in enumerate(ops)}
    aliases: dict[int, int] = {}
    for k, value in enumerate(ret.operands):
        op = value.owner
        if not isinstance(op, dnn.ScatterNDOp) or not isinstance(op.data, BlockArgument):
            continue
        if list(ret.operands).count(value) > 1:
            continue
        later = [
            u
            for u in op.data.uses
            if u.operation is not op and position[u.operation] > position[op]
        ]
        if not later:
            aliases[k] = op.data.index
    return aliases


def lower_function(fn: func.FuncOp, constants: dict[bytes, str]) -> func.FuncOp:
    """`fn` on buffers; `constants`: the module's small constants so far (by value)."""
    old = fn.body.block
    ret = old.last_op
    assert isinstance(ret, func.ReturnOp)
    in_types = [memref_of(t) for t in fn.function_type.inputs.data]
    out_types = [memref_of(t) for t in fn.function_type.outputs.data]
    block = Block(arg_types=[*in_types, *out_types])
    builder = Builder(InsertPoint.at_end(block))
    b = BufferBuilder(builder, fn, constants=constants)

    buffers: dict[SSAValue, SSAValue] = {}
    for old_arg, new_arg in zip(old.args, block.args, strict=False):
        new_arg.name_hint = old_arg.name_hint
        buffers[old_arg] = new_arg
    outs = block.args[len(in_types) :]

    # A returned value produced by a computing op is written directly to its output.
    destinations: dict[SSAValue, SSAValue] = {}
    for value, out in zip(ret.operands, outs, strict=True):
        out.name_hint = value.name_hint
        owner = value.owner
        computed = isinstance(owner, dnn.DnnOp) and not isinstance(
            owner, dnn.ConstantOp | dnn.ReshapeOp
        )
        if computed and value not in destinations:
            destinations[value] = out

    for op in list(old.ops)[:-1]:
        b.op = op
        if isinstance(op, dnn.ConstantOp):
            buffers[op.result] = _constant(b, op)
        elif isinstance(op, dnn.ReshapeOp):
            src = buffers[op.input]
            buffers[op.result] = b.view(src, memref_of(op.result.type).get_shape())
            buffers[op.result].name_hint = op.result.name_hint
        elif engine_of(op) == "npu" and _fused_producer(op):
            continue  # computed, requantized, by the NPU job of the requant reading it
        elif engine_of(op) == "npu":
            dst = destinations.get(op.results[0]) or b.alloc(memref_of(op.results[0].type))
            dst.name_hint = dst.name_hint or op.results[0].name_hint
            buffers[op.results[0]] = dst
            _lower_npu(b, op, buffers, dst)
        else:
            lower = LOWERINGS.get(type(op))
            if lower is None:
                raise b.error("no C kernel lowers this op yet")
            ins = [buffers[v] for v in op.operands]
            results = []
            for r in op.results:
                dst = destinations.get(r) or b.alloc(memref_of(r.type))
                dst.name_hint = dst.name_hint or r.name_hint
                buffers[r] = dst
                results.append(dst)
            choice = tile_choice(op)
            tiling = tiling_of(op) if choice is not None else None
            if choice is not None and tiling is not None:
                lower_tiled(b, op, ins, results, lower, tiling, choice)
            else:
                lower(b, op, ins, results)
    b.op = None

    for value, out in zip(ret.operands, outs, strict=True):
        if destinations.get(value) is not out:
            src = buffers[value]
            b.call("xd_copy", src, out, elem_size(src), numel(src))
    builder.insert(func.ReturnOp())
    _drop_unused_constants(block)
    new = func.FuncOp(
        fn.sym_name.data,
        FunctionType.from_lists([*in_types, *out_types], []),
        Region(block),
        arg_attrs=_arg_attrs(fn, len(out_types), _in_place_outputs(old, ret)),
    )
    return new


def _fused_producer(op: Operation) -> bool:
    """An op whose result an NPU job consumes internally: a matmul or conv whose job is
    written where the requant reading it lowers, a widening the job reads through."""
    if isinstance(op, dnn.MatmulOp | dnn.ConvOp):
        return fused_requant(op) is not None
    return isinstance(op, dnn.CastOp)


def _lower_npu(b: BufferBuilder, op: Operation, buffers: dict[SSAValue, SSAValue],
               dst: SSAValue) -> None:  # fmt: skip
    """The NPU jobs lowered at `op` (`npu_job`), staged through L1 by the tiles
    `dnn-tile` chose for them, if it did."""
    job = npu_job(op)
    choice = tile_choice(op)
    if isinstance(job, NpuMatmul):
        lower_npu_matmul(b, job, buffers.__getitem__, dst, choice)
    elif isinstance(job, NpuConv):
        lower_npu_conv(b, job, buffers[job.conv.input], dst, choice)
    else:
        raise b.error("mapped to the NPU, but the engine cannot compute it")


def _drop_unused_constants(block: Block) -> None:
    """Constants no kernel reads (those an NPU job replaced by its own: the matmul's
    weights, the requantization's mul and add)."""
    reads = (memref.GetGlobalOp, kernel.WeightsOp, memref.ReinterpretCastOp, memref.SubviewOp,
             memref.ViewOp)  # fmt: skip
    for op in reversed(list(block.ops)):  # views of a constant before the constant
        if isinstance(op, reads) and not any(r.uses for r in op.results):
            op.detach()
            op.erase()


def _drop_unreferenced_globals(module: ModuleOp) -> None:
    used = {op.name_.root_reference.data for op in module.walk()
            if isinstance(op, memref.GetGlobalOp)}  # fmt: skip
    for op in list(module.ops):
        if isinstance(op, memref.GlobalOp) and op.sym_name.data not in used:
            op.detach()
            op.erase()


def _constant(b: BufferBuilder, op: dnn.ConstantOp) -> SSAValue:
    value = op.value
    if isinstance(value, dnn.WeightsAttr):
        weights = kernel.WeightsOp(value, memref_of(op.result.type))
        weights.result.name_hint = op.result.name_hint
        return b.insert(weights).results[0]
    assert isinstance(value, DenseIntOrFPElementsAttr)
    return b.constant(dnn.constant_value(value), op.result.name_hint or "const")


@dataclass(frozen=True)
class ConvertDnnToKernel(ModulePass):
    name = "convert-dnn-to-kernel"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        constants: dict[bytes, str] = {}
        for fn in [f for f in op.ops if isinstance(f, func.FuncOp)]:
            if any(isinstance(t, TensorType) for t in fn.function_type.inputs.data) or any(
                isinstance(o, dnn.DnnOp) for o in fn.walk()
            ):
                new = lower_function(fn, constants)
                op.body.block.insert_op_before(new, fn)
                fn.detach()
                fn.erase()
        _drop_unreferenced_globals(op)


def arg_name(fn: func.FuncOp, index: int) -> str | None:
    attrs = fn.arg_attrs.data[index] if fn.arg_attrs else None
    name = attrs.data.get("dnn.name") if attrs else None
    return name.data if isinstance(name, StringAttr) else None
