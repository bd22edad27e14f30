"""`convert-npu-to-accfg`: each job's `accfg.setup` reads back as the job. The decoder
here takes the field values (constants) and the buffer each address points at (through
views and offsets) and rebuilds kind, stride, padding, shift, requant, signedness,
widths and shapes; they match the original op's, and the numpy model of the engine
computes the same bits from either."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import BIN, parse_ir
from xdsl.context import Context
from xdsl.dialects import accfg, arith, memref
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp, StridedLayoutAttr, i32
from xdsl.ir import BlockArgument, SSAValue

from xdeeploy.dialects import npu
from xdeeploy.dialects.dtypes import numpy_dtype
from xdeeploy.errors import DeeployError
from xdeeploy.interp import npu as model
from xdeeploy.lowering.npu_to_accfg import (
    ADDRESS_FIELDS,
    CONF0_STRIDE2,
    FIELDS,
    ConvertNpuToAccfg,
    JobRegisters,
    accelerator_op,
)

Array = np.ndarray[Any, Any]

JOBS = """
func.func @main(%x: memref<7x6x30xi8>, %xu: memref<9x9x20xui8>, %big: memref<200xui8>,
                %a8: memref<5x30xi8>,
                %w: memref<32x9x56xi8, "NPU">, %dw: memref<56x9xi8, "NPU">,
                %pw: memref<64x32xi8, "NPU">, %wd: memref<64x9x28xi8, "NPU">,
                %wm: memref<32x32xi8, "NPU">,
                %s: memref<20xui8>, %b: memref<20xi32>, %sd: memref<30xui8>, %bd: memref<30xi32>,
                %s40: memref<40xui8>, %b40: memref<40xi32>,
                %y1: memref<7x6x20xi8>, %y2: memref<4x3x30xui8>, %y3: memref<4x3x33xi32>,
                %y4: memref<4x4x40xi8>, %y5: memref<5x20xi8>, %accs: memref<120xi32>) {
  npu.conv2d dense3x3 stride 1 pad [1, 1, 1, 1] shift 9 (%x, %w) requant(%s, %b) -> %y1 : memref<7x6x30xi8>, memref<32x9x56xi8, "NPU">, memref<20xui8>, memref<20xi32> -> memref<7x6x20xi8>
  npu.conv2d depthwise3x3 stride 2 pad [1, 0, 1, 1] shift 4 (%x, %dw) requant(%sd, %bd) -> %y2 : memref<7x6x30xi8>, memref<56x9xi8, "NPU">, memref<30xui8>, memref<30xi32> -> memref<4x3x30xui8>
  npu.conv2d pointwise stride 2 pad [0, 0, 0, 0] shift 0 (%x, %pw) -> %y3 : memref<7x6x30xi8>, memref<64x32xi8, "NPU"> -> memref<4x3x33xi32>
  npu.conv2d dense3x3 stride 2 pad [0, 1, 1, 0] shift 11 (%xu, %wd) requant(%s40, %b40) -> %y4 : memref<9x9x20xui8>, memref<64x9x28xi8, "NPU">, memref<40xui8>, memref<40xi32> -> memref<4x4x40xi8>
  %a = memref.reinterpret_cast %big to offset: [30], sizes: [5, 30], strides: [30, 1] : memref<200xui8> to memref<5x30xui8, strided<[30, 1], offset: 30>>
  npu.matmul shift 7 (%a, %wm) requant(%s, %b) -> %y5 : memref<5x30xui8, strided<[30, 1], offset: 30>>, memref<32x32xi8, "NPU">, memref<20xui8>, memref<20xi32> -> memref<5x20xi8>
  %y6 = memref.reinterpret_cast %accs to offset: [10], sizes: [5, 20], strides: [20, 1] : memref<120xi32> to memref<5x20xi32, strided<[20, 1], offset: 10>>
  npu.matmul shift 0 (%a8, %wm) -> %y6 : memref<5x30xi8>, memref<32x32xi8, "NPU"> -> memref<5x20xi32, strided<[20, 1], offset: 10>>
  func.return
}
"""


@dataclass(frozen=True)
class Buffer:
    """Where a job's operand lives: a function argument, a byte offset in it, and how
    the job reads it there."""

    root: SSAValue
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class Job:
    kind: str
    matmul: bool
    stride: int
    pads: tuple[int, ...]
    shift: int
    x: Buffer
    w: Buffer
    y: Buffer
    scale: Buffer | None
    bias: Buffer | None


# ------------------------------------------------------------------- the original op


def _root(value: SSAValue) -> tuple[SSAValue, int]:
    """The argument a view aliases, and the view's byte offset in it (its layout's)."""
    ty = value.type
    assert isinstance(ty, MemRefType)
    offset = ty.layout.get_offset() if isinstance(ty.layout, StridedLayoutAttr) else 0
    assert offset is not None
    while isinstance(value.owner, memref.ReinterpretCastOp):
        value = value.owner.source
    assert isinstance(value, BlockArgument)
    return value, offset * numpy_dtype(ty.element_type).itemsize


def _operand(value: SSAValue | None) -> Buffer | None:
    if value is None:
        return None
    ty = value.type
    assert isinstance(ty, MemRefType)
    return Buffer(*_root(value), ty.get_shape(), numpy_dtype(ty.element_type))


def job_of(op: npu.Conv2dOp | npu.MatmulOp) -> Job:
    """The job as the op states it."""
    x, w, y = _operand(op.input), _operand(op.weights), _operand(op.output)
    assert x is not None and w is not None and y is not None
    if isinstance(op, npu.MatmulOp):
        kind, stride, pads = "pointwise", 1, (0, 0, 0, 0)
    else:
        kind, stride, pads = op.kind.data, op.stride.value.data, tuple(op.pads)
    return Job(kind, isinstance(op, npu.MatmulOp), stride, pads, op.shift.value.data,
               x, w, y, _operand(op.scale), _operand(op.bias))  # fmt: skip


# ------------------------------------------------------------------- the decoder


def _fields(setup: accfg.SetupOp) -> dict[str, SSAValue]:
    """What the engine's registers hold after `setup`: its fields over those of the
    setups it starts from (a setup may leave out fields it does not change)."""
    fields: dict[str, SSAValue] = {}
    if setup.in_state is not None:
        previous = setup.in_state.owner
        assert isinstance(previous, accfg.SetupOp)
        fields.update(_fields(previous))
    fields.update(setup.iter_params())
    return fields


def _constant(value: SSAValue) -> int:
    owner = value.owner
    assert isinstance(owner, arith.ConstantOp), f"{value} is not a constant"
    attr = owner.value
    assert isinstance(attr, IntegerAttr)
    return attr.value.data


def _address(value: SSAValue) -> tuple[SSAValue, int] | None:
    """The buffer an address field points at and the byte offset in it (None: NULL)."""
    owner = value.owner
    if isinstance(owner, arith.ConstantOp):
        assert _constant(value) == 0
        return None
    assert isinstance(owner, arith.IndexCastOp)
    index, offset = owner.input, 0
    while isinstance(index.owner, arith.AddiOp):
        offset += _constant(index.owner.rhs)
        index = index.owner.lhs
    pointer = index.owner
    assert isinstance(pointer, memref.ExtractAlignedPointerAsIndexOp)
    # A view's aligned pointer is its allocation's: the offset is the one added.
    source = pointer.source
    while isinstance(source.owner, memref.ReinterpretCastOp):
        source = source.owner.source
    return source, offset


def decode(setup: accfg.SetupOp) -> Job:
    """The job the registers hold after `setup`, from their values alone."""
    fields = _fields(setup)
    assert set(fields) == set(FIELDS)
    regs = JobRegisters.decode({f: _constant(v) for f, v in fields.items()
                                if f not in ADDRESS_FIELDS})  # fmt: skip
    h, wd, cin, oh, ow, cout, wc = regs.dims
    signed = {8: np.int8, 32: np.int32}
    x_type = np.dtype(np.int8 if regs.in_signed else np.uint8)
    y_type = np.dtype(signed[regs.out_bits] if regs.out_signed else np.uint8)
    filters = npu.round_up(cout, npu.COUT_SUBTILE)
    w_shape = {"dense3x3": (filters, 9, wc), "depthwise3x3": (wc, 9),
               "pointwise": (filters, wc)}[regs.kind]  # fmt: skip
    if regs.matmul:
        assert (h, oh) == (1, 1) and ow == wd
        x_shape, y_shape = (wd, cin), (ow, cout)
    else:
        x_shape, y_shape = (h, wd, cin), (oh, ow, cout)

    def buffer(field: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Buffer | None:
        at = _address(fields[field])
        return None if at is None else Buffer(*at, shape, dtype)

    x = buffer("infeat_ptr", x_shape, x_type)
    w = buffer("weights_ptr", w_shape, np.dtype(np.int8))
    y = buffer("outfeat_ptr", y_shape, y_type)
    assert x is not None and w is not None and y is not None
    scale = buffer("scale_ptr", (cout,), np.dtype(np.uint8))
    bias = buffer("bias_ptr", (cout,), np.dtype(np.int32))
    assert (scale is not None) == (bias is not None) == regs.requant
    return Job(regs.kind, regs.matmul, regs.stride, regs.pads, regs.shift, x, w, y,
               scale, bias)  # fmt: skip


# ------------------------------------------------------------------- the model


def _memory(module: ModuleOp, seed: int) -> dict[SSAValue, bytes]:
    """Random contents for every argument of the module's function."""
    rng = np.random.default_rng(seed)
    memory: dict[SSAValue, bytes] = {}
    for op in module.walk():
        for arg in op.regions[0].blocks[0].args if op.name == "func.func" else ():
            ty = arg.type
            assert isinstance(ty, MemRefType)
            size = prod(ty.get_shape()) * numpy_dtype(ty.element_type).itemsize
            memory[arg] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    return memory


def _read(memory: dict[SSAValue, bytes], buffer: Buffer | None) -> Array | None:
    if buffer is None:
        return None
    count = prod(buffer.shape)
    data = np.frombuffer(memory[buffer.root], buffer.dtype, count, buffer.offset)
    return data.reshape(buffer.shape)


def run(job: Job, memory: dict[SSAValue, bytes]) -> Array:
    """The engine's functional model on the job's buffers."""
    x, w, s, b = (_read(memory, buf) for buf in (job.x, job.w, job.scale, job.bias))
    assert x is not None and w is not None
    if job.matmul:
        return model.matmul(x, w, s, b, shift=job.shift, out_features=job.y.shape[-1],
                            out_dtype=job.y.dtype)  # fmt: skip
    return model.conv2d(x, w, s, b, kind=job.kind, stride=job.stride, pads=job.pads,
                        shift=job.shift, out_channels=job.y.shape[-1],
                        out_dtype=job.y.dtype)  # fmt: skip


# ------------------------------------------------------------------- the tests


def _lowered(text: str) -> tuple[list[Job], list[accfg.SetupOp], ModuleOp]:
    """The jobs of `text` as stated, and the setups the pass made of them."""
    module = parse_ir(text)
    jobs = [job_of(op) for op in module.walk() if isinstance(op, npu.Conv2dOp | npu.MatmulOp)]
    ConvertNpuToAccfg().apply(Context(), module)
    module.verify()
    assert not any(isinstance(op, npu.Conv2dOp | npu.MatmulOp) for op in module.walk())
    return jobs, [op for op in module.walk() if isinstance(op, accfg.SetupOp)], module


def test_setups_decode_to_the_jobs() -> None:
    jobs, setups, _ = _lowered(JOBS)
    assert len(jobs) == len(setups) == 6
    for job, setup in zip(jobs, setups, strict=True):
        assert decode(setup) == job


def test_the_model_computes_the_same_bits_from_the_decoded_jobs() -> None:
    jobs, setups, module = _lowered(JOBS)
    memory = _memory(module, seed=3)
    for job, setup in zip(jobs, setups, strict=True):
        want, got = run(job, memory), run(decode(setup), memory)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        assert want.any()  # random data: an all-zero result would test nothing


def test_setups_chain_and_the_accelerator_is_declared_once() -> None:
    _, setups, module = _lowered(JOBS)
    assert setups[0].in_state is None
    for previous, setup in zip(setups, setups[1:], strict=False):
        assert setup.in_state is previous.out_state
    declared = [op for op in module.walk() if isinstance(op, accfg.AcceleratorOp)]
    assert len(declared) == 1 and module.body.block.first_op is declared[0]
    assert dict(declared[0].field_items()).keys() == FIELDS.keys()
    assert all(attr.value.data == FIELDS[f] for f, attr in declared[0].field_items())
    # Each launch runs its own setup, and is awaited.
    launches = [op for op in module.walk() if isinstance(op, accfg.LaunchOp)]
    assert [launch.state.owner for launch in launches] == setups
    assert all(isinstance(launch.token.get_user_of_unique_use(), accfg.AwaitOp)
               for launch in launches)  # fmt: skip


def test_the_pass_is_idempotent_on_the_declaration() -> None:
    _, _, module = _lowered(JOBS)
    text = str(module)
    ConvertNpuToAccfg().apply(Context(), module)
    assert str(module) == text


def test_a_module_without_jobs_is_left_alone() -> None:
    module = parse_ir("func.func @f() {\n  func.return\n}\n")
    text = str(module)
    ConvertNpuToAccfg().apply(Context(), module)
    assert str(module) == text


MATMUL = """
func.func @f(%a: {a}, %w: memref<32x32xi8, "NPU">, %y: memref<5x20xi32>) {{
  npu.matmul shift 0 (%a, %w) -> %y : {a}, memref<32x32xi8, "NPU"> -> memref<5x20xi32>
  func.return
}}
"""

TWO_JOBS = """
func.func @f(%a: memref<5x30xi8>, %w: memref<32x32xi8, "NPU">, %y: memref<5x20xi32>) {{
  npu.matmul shift 0 (%a, %w) -> %y : memref<5x30xi8>, memref<32x32xi8, "NPU"> -> memref<5x20xi32>
  {between}
  npu.matmul shift 0 (%a, %w) -> %y : memref<5x30xi8>, memref<32x32xi8, "NPU"> -> memref<5x20xi32>
  func.return
}}
func.func private @g()
"""


@pytest.mark.parametrize(
    ("between", "chained"),
    [
        ("%c = arith.constant 1 : i32", True),
        ("%m = memref.alloc() : memref<4xi8>", True),
        ('"test.op"() {accfg.effects = #accfg.effects<none>} : () -> ()', True),
        ('"test.op"() {accfg.effects = #accfg.effects<full>} : () -> ()', False),
        ("func.call @g() : () -> ()", False),
        ('"test.op"() : () -> ()', False),
    ],
)
def test_an_op_that_may_program_the_engine_ends_the_chain(between: str, chained: bool) -> None:
    _, setups, _ = _lowered(TWO_JOBS.format(between=between))
    assert len(setups) == 2
    assert (setups[1].in_state is setups[0].out_state) == chained


@pytest.mark.parametrize(
    ("a", "fragment"),
    [
        ("memref<5x30xi8, strided<[60, 1]>>", "is not statically contiguous"),
        ("memref<5x30xi8, strided<[?, 1]>>", "is not statically contiguous"),
        ("memref<5x30xi8, affine_map<(i, j) -> (j, i)>>", "layout not supported"),
    ],
)
def test_buffers_the_registers_cannot_describe_are_errors(a: str, fragment: str) -> None:
    module = parse_ir(MATMUL.format(a=a))
    with pytest.raises(DeeployError, match=fragment) as error:
        ConvertNpuToAccfg().apply(Context(), module)
    assert "npu.matmul" in str(error.value) and "infeat_ptr" in str(error.value)


def test_another_register_map_for_the_engine_is_an_error() -> None:
    module = parse_ir(MATMUL.format(a="memref<5x30xi8>"))
    other = accelerator_op()
    other.properties["barrier"] = IntegerAttr(8, i32)
    first = module.body.block.first_op
    assert first is not None
    module.body.block.insert_op_before(other, first)
    with pytest.raises(DeeployError, match="another register map"):
        ConvertNpuToAccfg().apply(Context(), module)


def test_decode_rejects_words_the_pass_never_writes() -> None:
    module = parse_ir(JOBS)
    op = next(op for op in module.walk() if isinstance(op, npu.Conv2dOp))
    words = JobRegisters.of(op).words()
    assert JobRegisters.decode(words) == JobRegisters.of(op)
    assert JobRegisters.decode({**words, "conf0": words["conf0"] | CONF0_STRIDE2}).stride == 2
    for conf0 in (words["conf0"] | 1 << 30, words["conf0"] | 3 << 5, words["conf0"] & ~7):
        with pytest.raises(ValueError, match="conf0"):
            JobRegisters.decode({**words, "conf0": conf0})
    with pytest.raises(ValueError, match="padding"):
        JobRegisters.decode({**words, "padding": 5})


def test_a_pass_option_is_a_one_line_error(tmp_path: Path) -> None:
    source = tmp_path / "in.mlir"
    source.write_text(MATMUL.format(a="memref<5x30xi8>"))
    result = subprocess.run(
        [str(BIN / "deeploy-opt"), str(source), "-p", "convert-npu-to-accfg{base=1}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "base" in lines[0], lines
