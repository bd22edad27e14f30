"""The host C backend end to end: generated C, built with gcc, against references."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import BIN, FLOAT_PEERS, peer_case
from onnx import TensorProto, helper, numpy_helper

from xdeeploy.errors import DeeployError
from xdeeploy.frontend.models.llama import PRESETS, build_llama, random_weights, seeded_inputs
from xdeeploy.frontend.onnx import load_model
from xdeeploy.tools.build import build_shared_library, compile_model
from xdeeploy.tools.host import build_and_load


def _arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[k] for k in data.files if data[k].size]


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    g, w = got.astype(np.float64).reshape(-1), want.astype(np.float64).reshape(-1)
    err = np.abs(g - w)
    assert np.all(err <= 1e-4 * np.maximum(1.0, np.abs(w))), f"{what}: max abs diff {err.max():.3g}"


@pytest.mark.parametrize("case", FLOAT_PEERS)
def test_float_peer_case_on_host(case: str, tmp_path: Path) -> None:
    folder = peer_case(case)
    model = load_model(folder / "network.onnx")
    library = build_and_load(model, tmp_path / "build")
    inputs = _arrays(folder / "inputs.npz")[: len(library.build.inputs)]
    for k, (got, want) in enumerate(
        zip(library.run(inputs), _arrays(folder / "outputs.npz"), strict=False)
    ):
        assert_close(got, want, f"output {k}")


def _onnxruntime(model: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return [np.asarray(r) for r in session.run(None, dict(zip(names, inputs, strict=True)))]


@pytest.mark.parametrize("mode", ["decode", "prompt"])
def test_tiny_llama_on_host_matches_onnxruntime(mode: str, tmp_path: Path) -> None:
    config = PRESETS["tiny"]
    model = build_llama(
        config, random_weights(config, seed=3), n_tokens=1 if mode == "decode" else 6
    )
    inputs = [a for _, a in seeded_inputs(model, config, seed=4)]
    # A non-empty cache and a position in the middle exercise the mask and RoPE.
    rng = np.random.default_rng(5)
    inputs[1] = np.array([17], dtype=np.int64)
    inputs[2:] = [rng.standard_normal(a.shape).astype(np.float32) for a in inputs[2:]]
    want = _onnxruntime(model, inputs)
    got = build_and_load(model, tmp_path / "build").run(inputs)
    names = [o.name for o in model.graph.output]
    for name, g, w in zip(names, got, want, strict=True):
        assert_close(g, w, name)


def test_kv_cache_is_updated_in_place(tmp_path: Path) -> None:
    """Passing the past cache as the present cache writes one row and leaves the rest."""
    config = PRESETS["tiny"]
    model = build_llama(config, random_weights(config, seed=0))
    library = build_and_load(model, tmp_path / "build")
    assert all(p.may_alias == p.name.replace("present", "past") for p in library.build.outputs[1:])
    inputs = [a for _, a in seeded_inputs(model, config, seed=1)]
    inputs[1] = np.array([5], dtype=np.int64)
    caches = [
        np.random.default_rng(2).standard_normal(a.shape).astype(np.float32) for a in inputs[2:]
    ]
    before = [c.copy() for c in caches]
    separate = library.run([*inputs[:2], *[c.copy() for c in caches]])
    logits = np.zeros(library.build.outputs[0].shape, np.float32)
    library.run([*inputs[:2], *caches], [logits, *caches])
    np.testing.assert_array_equal(logits, separate[0])
    for old, new, fresh in zip(before, caches, separate[1:], strict=True):
        np.testing.assert_array_equal(new, fresh)
        changed = np.any(old != new, axis=tuple(range(1, old.ndim)))
        assert list(np.flatnonzero(changed)) == [5]


def test_compile_is_deterministic(tmp_path: Path) -> None:
    config = PRESETS["tiny"]
    model = build_llama(config, random_weights(config, seed=0))
    first = compile_model(model, tmp_path / "a").folder
    second = compile_model(model, tmp_path / "b").folder
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert Path("network.c") in files and Path("weights.bin") in files
    for f in files:
        assert (first / f).read_bytes() == (second / f).read_bytes(), f


HARNESS = textwrap.dedent(
    """\
    #include <stdio.h>
    #include <stdlib.h>
    #include "network.h"
    /* Zero inputs, then one call: enough for the sanitizers to see every access. */
    int main(void) {
    %s
        xd_main(%s);
    %s
        puts("ok");
        return 0;
    }
    """
)


def test_tiny_llama_runs_clean_under_sanitizers(tmp_path: Path) -> None:
    config = PRESETS["tiny"]
    model = build_llama(config, random_weights(config, seed=0))
    build = compile_model(model, tmp_path / "build")
    decls, args = [], []
    for k, port in enumerate([*build.inputs, *build.outputs]):
        ctype = {"float32": "float", "int64": "int64_t"}[port.dtype.name]
        decls.append(f"    {ctype} *p{k} = calloc({int(np.prod(port.shape))}, sizeof({ctype}));")
        args.append(f"p{k}")
    frees = "\n".join(f"    free({a});" for a in args)
    (build.folder / "main.c").write_text(HARNESS % ("\n".join(decls), ", ".join(args), frees))
    sources = [
        "main.c",
        "network.c",
        *sorted(
            str(p.relative_to(build.folder)) for p in (build.folder / "runtime/src").glob("*.c")
        ),
    ]
    flags = [
        "-std=c99",
        "-O1",
        "-g",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
    ]
    compiled = subprocess.run(
        ["gcc", *flags, "-Iruntime/include", *sources, "weights.S", "-o", "net", "-lm"],
        cwd=build.folder, capture_output=True, text=True,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    ran = subprocess.run(["./net"], cwd=build.folder, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.strip() == "ok", ran.stderr[-2000:]


def test_failing_c_compile_is_one_line(tmp_path: Path) -> None:
    model = _relu_model()
    build = compile_model(model, tmp_path / "build")
    network = build.folder / "network.c"
    network.write_text(network.read_text() + "\nthis is not C;\n")
    with pytest.raises(DeeployError, match=r"C compilation failed in .*network\.c:\d+:\d+: error"):
        build_shared_library(build)


def _relu_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="act")],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_op_reaching_the_backend_names_the_node(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="f64_matmul")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2, 3])],
        [numpy_helper.from_array(np.ones((3, 3), np.float64), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model_path = tmp_path / "m.onnx"
    onnx.save(model, model_path)
    out = tmp_path / "build"
    result = subprocess.run(
        [str(BIN / "deeploy"), "compile", str(model_path), "-o", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: node 'f64_matmul' (dnn.matmul):"), result.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".build")]


def test_deeploy_compile_writes_a_buildable_folder(tmp_path: Path) -> None:
    model_path = tmp_path / "relu.onnx"
    onnx.save(_relu_model(), model_path)
    out = tmp_path / "build"
    result = subprocess.run(
        [str(BIN / "deeploy"), "compile", str(model_path), "-o", str(out), "--report"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "arena:" in result.stdout
    assert {"network.c", "network.h", "weights.S", "weights.bin", "Makefile", "report.json"} <= {
        p.name for p in out.iterdir()
    }
    made = subprocess.run(["make", "-s"], cwd=out, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert (out / "libnetwork.so").exists()


def test_the_header_documents_the_parameters_by_their_c_names(tmp_path: Path) -> None:
    """A model's names that are not C identifiers (or that xDSL's name hints shorten)
    are documented under the prototype's spelling, with the model's name beside."""
    nodes = [helper.make_node("Relu", ["in.0"], ["y_0"])]
    graph = helper.make_graph(
        nodes, "names", [helper.make_tensor_value_info("in.0", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y_0", TensorProto.FLOAT, [2])],
    )  # fmt: skip
    build = compile_model(helper.make_model(graph), tmp_path / "build")
    header = (build.folder / "network.h").read_text()
    prototype = next(line for line in header.splitlines() if line.startswith("void xd_main("))
    params = [p.split("*")[1] for p in prototype.removesuffix(");").split("(")[1].split(", ")]
    documented = [line.split(":")[0].split("(")[0].strip(" *")
                  for line in header.splitlines() if line.startswith(" *   ")]  # fmt: skip
    assert documented == params
    assert "(model: in.0)" in header


def test_generate_with_check_on_host(tmp_path: Path) -> None:
    model_path = tmp_path / "t.onnx"
    made = subprocess.run(
        [str(BIN / "deeploy"), "model", "llama", "--preset", "tiny", "-o", str(model_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = subprocess.run(
        [str(BIN / "deeploy"), "generate", str(model_path), "--platform", "generic",
         "--steps", "12", "--prompt", "Hi", "--check"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "check against onnxruntime: 13 steps" in result.stdout
    assert "tokens/s" in result.stdout


def test_generate_check_catches_a_wrong_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--check fails when the platform's logits drift from the reference's."""
    from xdeeploy.tools import generate

    config = PRESETS["tiny"]
    model = build_llama(config, random_weights(config, seed=0))
    model.metadata_props.extend(
        [onnx.StringStringEntryProto(key=k, value=v) for k, v in _metadata(config).items()]
    )

    class Drifting(generate.InterpSession):
        def step(self, token: int, pos: int) -> np.ndarray:
            return super().step(token, pos) + (1e-2 if pos == 2 else 0.0)

    monkeypatch.setitem(generate.SESSIONS, "interp", Drifting)
    with pytest.raises(DeeployError, match="step 2 .*logits differ from onnxruntime"):
        generate.generate(model, "interp", 4, None, True, out=open("/dev/null", "w"))  # noqa: SIM115


def _metadata(config: object) -> dict[str, str]:
    from xdeeploy.frontend.models.llama import LlamaModelInfo, make_metadata

    info = LlamaModelInfo(
        config=config, mode="decode", n_tokens=1, source="test", tokenizer="bytes"
    )  # type: ignore[arg-type]
    return make_metadata(info)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=["i8", "u8"])
@pytest.mark.parametrize("per_axis", [False, True], ids=["per-tensor", "per-axis"])
def test_quantize_dequantize_on_host_match_onnxruntime(
    dtype: type, per_axis: bool, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    # Halves and ties of x / scale exercise the half-to-even rounding.
    scale = np.array([0.5, 0.25, 0.125] if per_axis else 0.5, np.float32)
    zero = np.array([3, 1, 0] if per_axis else 2, dtype)
    x = (rng.integers(-600, 600, (2, 3, 5)) / 4).astype(np.float32)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1),
    ]
    elem = TensorProto.INT8 if dtype == np.int8 else TensorProto.UINT8
    graph = helper.make_graph(
        nodes, "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5])],
        [helper.make_tensor_value_info("q", elem, [2, 3, 5]), helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5])],
        [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zero, "z")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    want = _onnxruntime(model, [x])
    got = build_and_load(model, tmp_path / "build").run([x])
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_int8_llama_generate_check_on_host(tmp_path: Path) -> None:
    model_path = tmp_path / "q.onnx"
    made = subprocess.run(
        [str(BIN / "deeploy"), "model", "llama", "--preset", "tiny", "--quant", "int8", "-o", str(model_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = subprocess.run(
        [str(BIN / "deeploy"), "generate", str(model_path), "--platform", "generic", "--steps", "8", "--check"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check against interp: 8 steps, max logit difference 0 (tolerance 0, bit-exact)" in (
        result.stdout
    )
