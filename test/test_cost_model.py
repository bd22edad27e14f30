"""The cost model's arithmetic on hand-computed cases: kernel calls at their rates, a
fork on its busiest core, DMA overlapping compute, loops by their trip counts; and
`deeploy compile --platform siracusa --report` printing it labelled as a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import parse_ir, tiny_int8_llama

from xdeeploy.platforms.cost_model import PARAMETERS, CostModel, Parameter
from xdeeploy.tools import deeploy


def _model(**values: float) -> CostModel:
    base = dict.fromkeys(PARAMETERS, 1.0) | values
    return CostModel({k: Parameter(v, "test") for k, v in base.items()})


NETWORK = """
func.func @main(%a: memref<4x8xi8>, %b: memref<8x16xi8>, %y: memref<4x16xi32>, %t: memref<64xi8, "L1">, %s: memref<64xi8>, %f: memref<4x16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  kernel.call @xd_matmul_int(%a, XD_T_I8, %b, XD_T_I8, %y, XD_T_I32, 4 : i32, 8 : i32, 16 : i32, 0 : i32, array<i32>, array<i32>, array<i32>) {dnn.node = "mm"} : memref<4x8xi8>, memref<8x16xi8>, memref<4x16xi32>
  scf.for %i = %c0 to %c3 step %c1 {
    %tok = dma.start %s, %t : memref<64xi8>, memref<64xi8, "L1"> -> !dma.token
    dma.wait %tok : !dma.token
    cluster.fork cores(8) {
    ^bb0(%core: index):
      kernel.call @xd_copy(%s, %t, 64 : i32, 1 : i32) : memref<64xi8>, memref<64xi8, "L1">
      cluster.join
    }
  } {dnn.node = "loop"}
  kernel.call @xd_softmax_f32(%f, %f, 4 : i32, 16 : i32, 1 : i32, 0 : i32) {dnn.node = "soft"} : memref<4x16xf32>, memref<4x16xf32>
  func.return
}
"""


def test_layers_cost_what_the_formulas_say() -> None:
    model = _model(int8_macs_per_cycle=4, mac_efficiency=0.5, call_cycles=10, fork_cycles=100,
                   element_cycles=2, math_cycles=20, dma_setup_cycles=5,
                   dma_bytes_per_cycle=8, clock_hz=1000, power_w=2)  # fmt: skip
    report = model.estimate(parse_ir(NETWORK))
    layers = {lc.node: lc for lc in report.layers}
    # 4·8·16 = 512 MACs at 4 · 0.5 per cycle, plus the call
    assert layers["mm"].compute == 10 + 512 / 2 and layers["mm"].dma == 0
    # 3 trips of (fork 100 + call 10 + 64 elements · 2) on compute, (5 + 64 / 8) on DMA
    assert layers["loop"].compute == 3 * (100 + 10 + 128)
    assert layers["loop"].dma == 3 * (5 + 8)
    assert layers["loop"].cycles == layers["loop"].compute
    # softmax: 64 output elements at the math rate
    assert layers["soft"].compute == 10 + 64 * 20
    total = 266 + 714 + 1290
    assert report.cycles == total
    assert report.seconds == pytest.approx(total / 1000)
    assert report.tokens_per_second == pytest.approx(1000 / total)
    assert report.microjoules == pytest.approx(total / 1000 * 2 * 1e6)


def test_compile_report_prints_the_model_with_its_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_int8_llama(tmp_path)
    argv = ["compile", str(path), "--platform", "siracusa", "-o", str(tmp_path / "b"), "--report"]
    assert deeploy.main(argv) == 0
    out = capsys.readouterr().out
    assert "cost MODEL (not a measurement" in out
    total = next(line for line in out.splitlines() if line.startswith("  total: "))
    assert "tokens/s" in total and "uJ/token (modeled)" in total
    for name in PARAMETERS:
        line = next(x for x in out.splitlines() if x.startswith(f"  parameter {name} = "))
        assert any(w in line for w in ("(published", "(assumed", "(derived"))


CACHE = """
func.func @main(%past: memref<64x4xf32>, %idx: memref<1x1xi64>, %row: memref<1x4xf32>,
                %present: memref<64x4xf32> {dnn.output, dnn.may_alias = 0 : i64},
                %other: memref<64x4xf32> {dnn.output}) {
  kernel.call @xd_copy(%past, %present, 4 : i32, 256 : i32) {dnn.node = "kv"} : memref<64x4xf32>, memref<64x4xf32>
  kernel.call @xd_scatter_nd(%present, %idx, %row, 4 : i32, 1 : i32, 1 : i32, array<i32: 64>, 4 : i32) {dnn.node = "kv"} : memref<64x4xf32>, memref<1x1xi64>, memref<1x4xf32>
  kernel.call @xd_copy(%past, %other, 4 : i32, 256 : i32) {dnn.node = "copy"} : memref<64x4xf32>, memref<64x4xf32>
  func.return
}
"""


def test_a_cache_updated_in_place_costs_its_new_row() -> None:
    """Copying the past cache into the present one that may alias it costs only the
    call (a decode loop passes one buffer); the scatter writes one row of 4; a copy into
    another output costs its 256 elements."""
    model = _model(call_cycles=10, element_cycles=2)
    layers = {lc.node: lc for lc in model.estimate(parse_ir(CACHE)).layers}
    assert layers["kv"].compute == 10 + (10 + 4 * 2)
    assert layers["copy"].compute == 10 + 256 * 2


NPU = """
func.func @main(%a: memref<4x40xi8>, %w: memref<32x64xi8, "NPU">, %acc: memref<4x20xi32>,
                %x: memref<8x8x16xui8>, %dw: memref<28x9xi8, "NPU">, %y: memref<4x4x16xi32>,
                %k: memref<40x20xi8>) {
  kernel.call @xd_npu_load_weights(%k, %w, 40 : i32, 20 : i32, 64 : i32, 32 : i32) {dnn.node = "load"} : memref<40x20xi8>, memref<32x64xi8, "NPU">
  kernel.call @xd_npu_matmul(%a, XD_T_I8, %w, null, null, %acc, XD_T_I32, 4 : i32, 40 : i32, 20 : i32, 64 : i32, 0 : i32) {dnn.node = "mm"} : memref<4x40xi8>, memref<32x64xi8, "NPU">, memref<4x20xi32>
  kernel.call @xd_npu_conv2d(%x, XD_T_U8, %dw, null, null, %y, XD_T_I32, 1 : i32, 8 : i32, 8 : i32, 16 : i32, 16 : i32, 28 : i32, 2 : i32, 1 : i32, 1 : i32, 4 : i32, 4 : i32, 0 : i32) {dnn.node = "dw"} : memref<8x8x16xui8>, memref<28x9xi8, "NPU">, memref<4x4x16xi32>
  func.return
}
"""


def test_npu_jobs_cost_their_macs_at_the_engine_rate() -> None:
    model = _model(npu_macs_per_cycle=100, npu_job_cycles=7)
    layers = {lc.node: lc for lc in model.estimate(parse_ir(NPU)).layers}
    assert layers["mm"].compute == 7 + 4 * 40 * 20 / 100
    # depthwise 3x3: every output (4 x 4 x 16) takes 9 taps of its own channel
    assert layers["dw"].compute == 7 + 4 * 4 * 16 * 9 / 100


def test_npu_jobs_stage_their_activations_through_l1_by_dma() -> None:
    """The matmul's 4 x 40 int8 input and 4 x 20 int32 output; the conv's 8 x 8 x 16
    uint8 input and 4 x 4 x 16 int32 output: two transfers each, overlapping compute."""
    model = _model(dma_setup_cycles=40, dma_bytes_per_cycle=8)
    layers = {lc.node: lc for lc in model.estimate(parse_ir(NPU)).layers}
    assert layers["mm"].dma == 2 * 40 + (4 * 40 + 4 * 20 * 4) / 8
    assert layers["dw"].dma == 2 * 40 + (8 * 8 * 16 + 4 * 4 * 16 * 4) / 8


def test_npu_jobs_add_their_energy_per_mac() -> None:
    """At 1 cycle per second and 2 W, the energy is 2 J per modeled cycle plus 0.5 J per
    NPU multiply-accumulate: 4 · 40 · 20 for the matmul, 4 · 4 · 16 · 9 for the conv."""
    model = _model(clock_hz=1, power_w=2, npu_joules_per_mac=0.5)
    report = model.estimate(parse_ir(NPU))
    macs = 4 * 40 * 20 + 4 * 4 * 16 * 9
    assert report.microjoules == pytest.approx((report.cycles * 2 + macs * 0.5) * 1e6)
    assert sum(layer.npu_macs for layer in report.layers) == macs


def test_weights_loaded_at_run_time_cost_a_transfer_the_job_waits_for() -> None:
    """The packed 32 x 64 bytes at 8 bytes per cycle after a 40-cycle set-up; the job
    waits, so it is compute time (not the DMA engine's, which overlaps)."""
    model = _model(dma_setup_cycles=40, dma_bytes_per_cycle=8)
    layers = {lc.node: lc for lc in model.estimate(parse_ir(NPU)).layers}
    assert (layers["load"].compute, layers["load"].dma) == (40 + 32 * 64 / 8, 0)
