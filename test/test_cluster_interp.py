"""The `cluster` interpreter: each core computes its slice, cores run in a shuffled order
phase by phase (barriers split the phases), overlapping writes between cores and nested
barriers are reported, and a missing barrier shows in the results."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pytest
from conftest import parse_ir
from xdsl.utils.exceptions import InterpretationError

from xdeeploy.interp.cluster import core_order
from xdeeploy.interp.run_buffers import run_buffers

Array = np.ndarray[Any, Any]

V16 = "memref<16xf32>"
S4 = "memref<4xf32, strided<[1], offset: ?>>"
S1 = "memref<1xf32, strided<[1], offset: ?>>"
ROW = "memref<1x4xf32, strided<[4, 1], offset: ?>>"


def main(args: str, body: str) -> str:
    return f"func.func @main({args}) {{\n{body}\n  func.return\n}}"


def fork(cores: int, body: str) -> str:
    return f"""
  cluster.fork cores({cores}) {{
  ^bb0(%core: index):
{body}
    cluster.join
  }}"""


IO16 = f'%x: {V16} {{dnn.name = "x"}}, %y: {V16} {{dnn.name = "y", dnn.output}}'


def neg_slice(size: int, offset: str = "%off") -> str:
    """y[offset : offset + size] = -x[core * size : …], as core `%core` computes it."""
    ty = f"memref<{size}xf32, strided<[1], offset: ?>>"
    return f"""
    %size = arith.constant {size} : index
    %start = arith.muli %core, %size : index
    %xs = memref.subview %x[%start] [{size}] [1] : {V16} to {ty}
    %ys = memref.subview %y[{offset}] [{size}] [1] : {V16} to {ty}
    kernel.call @xd_unary_f32(XD_NEG, %xs, %ys, {size} : i32, 0.0 : f32, 0.0 : f32) {{dnn.node = "Neg_1"}} : {ty}, {ty}"""


def x16() -> Array:
    return np.arange(1, 17, dtype=np.float32) * np.float32(1.5)


# ------------------------------------------------------------------------- (a) slices


def test_each_core_computes_its_slice() -> None:
    body = "    %off = arith.muli %core, %c4 : index\n" + neg_slice(4)
    text = main(IO16, "  %c4 = arith.constant 4 : index\n" + fork(4, body))
    x = x16()
    (y,) = run_buffers(parse_ir(text), [x])
    np.testing.assert_array_equal(y, -x)


def test_values_of_one_core_stay_with_it_across_a_barrier() -> None:
    """The slice is computed in phase 1 and used in phase 2: each core must find its own
    subviews (not those of the core that ran last)."""
    body = f"""
    %c4 = arith.constant 4 : index
    %off = arith.muli %core, %c4 : index
    %xs = memref.subview %x[%off] [4] [1] : {V16} to {S4}
    %ys = memref.subview %y[%off] [4] [1] : {V16} to {S4}
    cluster.barrier
    kernel.call @xd_unary_f32(XD_ABS, %xs, %ys, 4 : i32, 0.0 : f32, 0.0 : f32) : {S4}, {S4}"""
    x = x16() * np.where(np.arange(16) % 3 == 0, -1, 1).astype(np.float32)
    (y,) = run_buffers(parse_ir(main(IO16, fork(4, body))), [x])
    np.testing.assert_array_equal(y, np.abs(x))


# ---------------------------------------------------------------------- (d) num_cores


@pytest.mark.parametrize("cores", [1, 2, 4, 8])
def test_num_cores_splits_the_work(cores: int) -> None:
    """Each core takes 16 / num_cores elements: a wrong count leaves poison (too many
    cores assumed) or runs out of bounds / overlaps (too few)."""
    body = f"""
    %c16 = arith.constant 16 : index
    %n = cluster.num_cores
    %chunk = arith.divui %c16, %n : index
    %c1 = arith.constant 1 : index
    %c0 = arith.constant 0 : index
    scf.for %i = %c0 to %chunk step %c1 {{
      %base = arith.muli %core, %chunk : index
      %k = arith.addi %base, %i : index
      %xs = memref.subview %x[%k] [1] [1] : {V16} to {S1}
      %ys = memref.subview %y[%k] [1] [1] : {V16} to {S1}
      kernel.call @xd_unary_f32(XD_NEG, %xs, %ys, 1 : i32, 0.0 : f32, 0.0 : f32) : {S1}, {S1}
    }}"""
    x = x16()
    (y,) = run_buffers(parse_ir(main(IO16, fork(cores, body))), [x])
    np.testing.assert_array_equal(y, -x)


# -------------------------------------------------------------- (b) overlapping writes


def test_two_cores_writing_the_same_slice_are_reported() -> None:
    """Both cores write y[0:4] (the output offset forgot the core id), with different
    values (each its own x slice), so the second writer changes the first one's bytes."""
    body = "    %off = arith.constant 0 : index\n" + neg_slice(4)
    text = main(IO16, fork(2, body))
    with pytest.raises(InterpretationError) as info:
        run_buffers(parse_ir(text), [x16()])
    message = str(info.value)
    assert message == (
        "cluster.fork: cores 0 and 1 both write bytes [0, 16) of the same buffer "
        "(node 'Neg_1' @xd_unary_f32): split the work or add a cluster.barrier"
    )


def test_partial_overlap_names_the_shared_bytes() -> None:
    """Core c writes y[3c : 3c + 4]: neighbours share one element, bytes [12, 16) for
    cores 0 and 1 (or [24, 28) for 1 and 2, …), whichever pair clashes first."""
    body = "    %c3 = arith.constant 3 : index\n    %off = arith.muli %core, %c3 : index\n"
    text = main(IO16, fork(4, body + neg_slice(4)))
    with pytest.raises(InterpretationError) as info:
        run_buffers(parse_ir(text), [x16()])
    message = str(info.value)
    clashes = [
        f"cores {c} and {c + 1} both write bytes [{12 * (c + 1)}, {12 * (c + 1) + 4})"
        for c in range(3)
    ]
    assert any(message.startswith(f"cluster.fork: {c} of the same buffer") for c in clashes), (
        message
    )


def test_same_bytes_in_different_phases_are_fine() -> None:
    """Both cores write y[0:4], each with its own x slice, but core 0 in phase 1 and
    core 1 in phase 2: the barrier between them orders the writes."""
    cores = 2
    per_core = "".join(
        f"""
    %is{c} = arith.cmpi eq, %core, %k{c} : index
    scf.if %is{c} {{
      kernel.call @xd_unary_f32(XD_NEG, %x0, %y0, 4 : i32, 0.0 : f32, 0.0 : f32) : {S4}, {S4}
    }}
    cluster.barrier"""
        for c in range(cores)
    )
    body = f"""
    %c0 = arith.constant 0 : index
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %off = arith.muli %core, %c4 : index
    %x0 = memref.subview %x[%off] [4] [1] : {V16} to {S4}
    %y0 = memref.subview %y[%c0] [4] [1] : {V16} to {S4}{per_core}"""
    x = x16()
    (y,) = run_buffers(parse_ir(main(IO16, fork(cores, body))), [x])
    # The last phase is core 1's: y[0:4] = -x[4:8]; the rest was never written.
    np.testing.assert_array_equal(y[:4], -x[4:8])
    assert np.isnan(y[4:]).all()


def test_dma_into_the_same_buffer_is_reported() -> None:
    """Every core fetches its x slice into one shared L1 tile."""
    l1 = 'memref<4xf32, "L1">'
    body = f"""
    %c4 = arith.constant 4 : index
    %off = arith.muli %core, %c4 : index
    %xs = memref.subview %x[%off] [4] [1] : {V16} to {S4}
    %t = dma.start %xs, %tile {{dnn.node = "Load_x"}} : {S4}, {l1} -> !dma.token
    dma.wait %t : !dma.token"""
    text = main(IO16, f"  %tile = memref.alloc() : {l1}" + fork(2, body))
    with pytest.raises(InterpretationError) as info:
        run_buffers(parse_ir(text), [x16()])
    # The first core's copy lands at its wait; the second core's start poisons it.
    want = (
        r"cluster\.fork: cores 0 and 1 both write bytes \[0, 16\) of the same buffer "
        r"\(dma\.wait of dma\.start #1 \(Load_x\) on core [01], dma\.start #2 \(Load_x\) "
        r"on core [01]\): split the work or add a cluster\.barrier"
    )
    assert re.fullmatch(want, str(info.value)), str(info.value)


# ----------------------------------------------------------------- (c) missing barrier

T_Y_ARGS = (
    '%a: memref<4xf32> {dnn.name = "a"}, %b: memref<4x4xf32> {dnn.name = "b"}, '
    '%y: memref<4x4xf32> {dnn.name = "y", dnn.output}'
)


def t_then_y(barrier: bool) -> str:
    """Core c writes T[c] = -a[c], then (after the barrier) Y[c, :] = T[:] * b[c, :]:
    every row of Y needs every core's element of T."""
    body = f"""
    %as = memref.subview %a[%core] [1] [1] : memref<4xf32> to {S1}
    %ts = memref.subview %t[%core] [1] [1] : memref<4xf32> to {S1}
    kernel.call @xd_unary_f32(XD_NEG, %as, %ts, 1 : i32, 0.0 : f32, 0.0 : f32) : {S1}, {S1}
    {"cluster.barrier" if barrier else ""}
    %bs = memref.subview %b[%core, 0] [1, 4] [1, 1] : memref<4x4xf32> to {ROW}
    %ys = memref.subview %y[%core, 0] [1, 4] [1, 1] : memref<4x4xf32> to {ROW}
    kernel.call @xd_binary_f32(XD_MUL, %t, %bs, %ys, 1 : i32, array<i32: 4>, array<i32: 1>, array<i32: 1>) : memref<4xf32>, {ROW}, {ROW}"""
    return main(T_Y_ARGS, "  %t = memref.alloc() : memref<4xf32>" + fork(4, body))


def t_y_inputs() -> tuple[Array, Array, Array]:
    a = np.array([1.0, -2.0, 3.0, 0.5], np.float32)
    b = np.arange(16, dtype=np.float32).reshape(4, 4) - 5
    return a, b, (-a)[None, :] * b


def test_with_the_barrier_every_row_sees_all_of_t() -> None:
    a, b, want = t_y_inputs()
    (y,) = run_buffers(parse_ir(t_then_y(barrier=True)), [a, b])
    np.testing.assert_array_equal(y, want)


def test_without_the_barrier_the_result_is_wrong() -> None:
    a, b, want = t_y_inputs()
    (y,) = run_buffers(parse_ir(t_then_y(barrier=False)), [a, b])
    assert not np.array_equal(y, want)
    assert np.isnan(y).any()  # rows computed from T elements no core had written yet


# ------------------------------------------------------------------ (e) nested barrier


def test_nested_barrier_is_an_error() -> None:
    body = """
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    scf.for %i = %c0 to %c2 step %c1 {
      cluster.barrier
    }"""
    with pytest.raises(InterpretationError) as info:
        run_buffers(parse_ir(main(IO16, fork(2, body))), [x16()])
    assert str(info.value) == (
        "cluster.barrier inside scf.for: the interpreter only supports barriers at the "
        "top level of a cluster.fork region"
    )


def test_nested_barrier_is_an_error_even_where_not_reached() -> None:
    body = """
    %false = arith.constant false
    scf.if %false {
      cluster.barrier
    }"""
    with pytest.raises(InterpretationError, match=r"^cluster.barrier inside scf.if: "):
        run_buffers(parse_ir(main(IO16, fork(2, body))), [x16()])


# ---------------------------------------------------------------------- (f) the order


def adjacent_reads(forks: int) -> str:
    """`forks` forks over 8 cores, fork f writing its own output row: core c copies x[c]
    to T[c], then, with no barrier, T[c + 1 mod 8] to row[c]. row[c] holds x[c + 1]
    iff core c + 1 ran before core c, NaN otherwise: the output shows the order."""
    args = '%x: memref<8xf32> {dnn.name = "x"}, ' + ", ".join(
        f'%y{f}: memref<8xf32> {{dnn.name = "y{f}", dnn.output}}' for f in range(forks)
    )
    body = []
    for f in range(forks):
        core = f"""
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %xs = memref.subview %x[%core] [1] [1] : memref<8xf32> to {S1}
    %ts = memref.subview %t{f}[%core] [1] [1] : memref<8xf32> to {S1}
    kernel.call @xd_copy(%xs, %ts, 4 : i32, 1 : i32) : {S1}, {S1}
    %next = arith.addi %core, %c1 : index
    %n = arith.remui %next, %c8 : index
    %tn = memref.subview %t{f}[%n] [1] [1] : memref<8xf32> to {S1}
    %ys = memref.subview %y{f}[%core] [1] [1] : memref<8xf32> to {S1}
    kernel.call @xd_copy(%tn, %ys, 4 : i32, 1 : i32) : {S1}, {S1}"""
        body.append(f"  %t{f} = memref.alloc() : memref<8xf32>" + fork(8, core))
    return main(args, "\n".join(body))


def test_cores_run_in_shuffled_orders() -> None:
    forks = 4
    x = np.arange(10, 18, dtype=np.float32)
    outputs = run_buffers(parse_ir(adjacent_reads(forks)), [x])
    # ran_before[f][c]: core c + 1 ran before core c in fork f.
    ran_before = [~np.isnan(y) for y in outputs]
    for y, before in zip(outputs, ran_before, strict=True):
        np.testing.assert_array_equal(y[before], np.roll(x, -1)[before])
    ascending = [False] * 7 + [True]  # only core 0 precedes core 7
    assert not any(list(b) == ascending for b in ran_before), "a fork ran cores 0, 1, …, 7"
    # Core 0 is not always first: in some fork core 1 ran before it.
    assert any(b[0] for b in ran_before)
    # The forks do not all share one order.
    assert len({b.tobytes() for b in ran_before}) > 1
    # Reproducible: a second run sees the same orders.
    again = run_buffers(parse_ir(adjacent_reads(forks)), [x])
    for y, z in zip(outputs, again, strict=True):
        assert y.tobytes() == z.tobytes()


def test_core_order_is_a_shuffled_permutation() -> None:
    rng = random.Random(7)
    orders = [core_order(rng, 8) for _ in range(50)]
    assert all(sorted(o) == list(range(8)) for o in orders)
    assert all(o != list(range(8)) for o in orders)
    assert len({tuple(o) for o in orders}) > 40
    assert {o[0] for o in orders} == set(range(8))  # every core gets to go first
    # Even for two cores, where a shuffle is ascending half the time.
    assert all(core_order(rng, 2) == [1, 0] for _ in range(20))
    assert core_order(rng, 1) == [0]
