"""`deeploy model llama`: the Llama-style decoder graph, llama2.c files, the CLI.

The graph is checked against a NumPy decoder written here, independently of the graph
builder, in the style of llama2.c's `forward` (one position at a time, its own KV
cache, float64), and against our own frontend + interpreter.
"""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from xdeeploy.errors import DeeployError
from xdeeploy.frontend.models.llama import (
    PRESETS,
    LlamaConfig,
    LlamaWeights,
    build_llama,
    load_tokenizer,
    random_weights,
    read_llama_info,
    write_llama,
)
from xdeeploy.frontend.models.llama2c import (
    parse_tokenizer,
    read_checkpoint,
    read_tokenizer_file,
)
from xdeeploy.tools import deeploy

REPO = Path(__file__).resolve().parents[1]
# Small but with grouped-query attention (2 query heads per kv head).
SMALL = LlamaConfig(
    dim=32, hidden_dim=48, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=40, seq_len=16
)
TOKENS = [3, 17, 0, 39, 22, 5, 11]

Weights = dict[str, np.ndarray]


# ----------------------------------------------------------------------------- helpers


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Deeploy's float tolerance: |a - b| <= 1e-4 * max(1, |b|)."""
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got64.shape == want64.shape, what
    excess = np.abs(got64 - want64) - 1e-4 * np.maximum(1.0, np.abs(want64))
    assert np.all(excess <= 0), f"{what}: worst excess over tolerance {excess.max():.3g}"


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def empty_caches(c: LlamaConfig) -> list[np.ndarray]:
    return [np.zeros((c.seq_len, c.n_kv_heads, c.head_dim), np.float32)] * (2 * c.n_layers)


def run_steps(
    sess: ort.InferenceSession, c: LlamaConfig, chunks: Sequence[Sequence[int]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Feeds token chunks in order, carrying present -> past; stacked logits, final caches."""
    names = [i.name for i in sess.get_inputs()]
    caches, pos, logits = empty_caches(c), 0, []
    for chunk in chunks:
        feeds = [np.array(chunk, np.int64), np.array([pos], np.int64), *caches]
        out = sess.run(None, dict(zip(names, feeds, strict=True)))
        logits.append(out[0])
        caches = out[1:]
        pos += len(chunk)
    return np.concatenate(logits), caches


def own_weights(c: LlamaConfig, seed: int, shared: bool) -> Weights:
    """Random weights in llama2.c's layout (out, in), made here rather than by the builder."""
    rng = np.random.default_rng(seed)
    L, D, KV, F, V = c.n_layers, c.dim, c.kv_dim, c.hidden_dim, c.vocab_size

    def m(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    w = {
        "token_embedding": m(V, D), "rms_att": 1 + m(L, D), "wq": m(L, D, D),
        "wk": m(L, KV, D), "wv": m(L, KV, D), "wo": m(L, D, D), "rms_ffn": 1 + m(L, D),
        "w1": m(L, F, D), "w2": m(L, D, F), "w3": m(L, F, D), "rms_final": 1 + m(D),
    }  # fmt: skip
    if not shared:
        w["wcls"] = m(V, D)
    return w


def as_dict(w: LlamaWeights) -> Weights:
    return {
        f.name: getattr(w, f.name) for f in dataclasses.fields(w) if getattr(w, f.name) is not None
    }


def reference_decoder(
    c: LlamaConfig, w: Weights, tokens: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """llama2.c's forward, position by position, in float64: logits [n, vocab] and the
    key/value caches [L, seq_len, kv_dim] after the last token."""
    L, D, H, KV = c.n_layers, c.dim, c.n_heads, c.n_kv_heads
    hs, kv_dim = D // H, (D // H) * KV
    kv_mul = H // KV
    f = {k: v.astype(np.float64) for k, v in w.items()}
    key_cache = np.zeros((L, c.seq_len, kv_dim))
    value_cache = np.zeros((L, c.seq_len, kv_dim))

    def rmsnorm(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return weight * (x / np.sqrt(np.mean(x * x) + 1e-5))

    all_logits = []
    for pos, token in enumerate(tokens):
        x = f["token_embedding"][token].copy()
        for layer in range(L):
            xb = rmsnorm(x, f["rms_att"][layer])
            q = f["wq"][layer] @ xb
            k = f["wk"][layer] @ xb
            v = f["wv"][layer] @ xb
            for i in range(0, D, 2):
                val = pos * (1.0 / 10000.0 ** ((i % hs) / hs))
                fcr, fci = np.cos(val), np.sin(val)
                for vec in (q, k) if i < kv_dim else (q,):
                    v0, v1 = vec[i], vec[i + 1]
                    vec[i], vec[i + 1] = v0 * fcr - v1 * fci, v0 * fci + v1 * fcr
            key_cache[layer, pos] = k
            value_cache[layer, pos] = v
            att_out = np.zeros(D)
            for h in range(H):
                qh = q[h * hs : (h + 1) * hs]
                kv = slice((h // kv_mul) * hs, (h // kv_mul + 1) * hs)
                att = np.array([qh @ key_cache[layer, t, kv] for t in range(pos + 1)])
                att = np.exp(att / np.sqrt(hs) - np.max(att / np.sqrt(hs)))
                att /= att.sum()
                for t in range(pos + 1):
                    att_out[h * hs : (h + 1) * hs] += att[t] * value_cache[layer, t, kv]
            x = x + f["wo"][layer] @ att_out
            xb = rmsnorm(x, f["rms_ffn"][layer])
            gate, up = f["w1"][layer] @ xb, f["w3"][layer] @ xb
            x = x + f["w2"][layer] @ (gate / (1.0 + np.exp(-gate)) * up)
        x = rmsnorm(x, f["rms_final"])
        all_logits.append(f.get("wcls", f["token_embedding"]) @ x)
    return np.array(all_logits), key_cache, value_cache


def check_against_reference(
    c: LlamaConfig, w: Weights, model: onnx.ModelProto, tokens: Sequence[int]
) -> None:
    logits, caches = run_steps(session(model), c, [[t] for t in tokens])
    want, want_k, want_v = reference_decoder(c, w, tokens)
    assert_close(logits, want, "decode logits")
    for layer in range(c.n_layers):
        got_k = caches[2 * layer].reshape(c.seq_len, c.kv_dim)
        got_v = caches[2 * layer + 1].reshape(c.seq_len, c.kv_dim)
        assert_close(got_k, want_k[layer], f"key cache of layer {layer}")
        assert_close(got_v, want_v[layer], f"value cache of layer {layer}")


# llama2.c files, written here from the format's description.


def write_checkpoint(path: Path, c: LlamaConfig, w: Weights) -> None:
    shared = "wcls" not in w
    vocab = c.vocab_size if shared else -c.vocab_size
    header = struct.pack(
        "<7i", c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, vocab, c.seq_len
    )
    # The legacy format stores RoPE tables that readers skip: any values do.
    freq = np.full((c.seq_len, c.head_dim // 2), 0.5, np.float32)
    order = ["token_embedding", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3",
             "rms_final"]  # fmt: skip
    arrays = [w[k] for k in order] + [freq, freq] + ([] if shared else [w["wcls"]])
    path.write_bytes(header + b"".join(a.astype("<f4").tobytes() for a in arrays))


MERGES = {b"ll": 5.0, b"he": 4.0, b"llo": 3.0, b"hello": 2.0, b" hello": 1.0, b" w": 0.5,
          b"or": 0.4}  # fmt: skip
LETTERS = [b" ", b"h", b"e", b"l", b"o", b"w", b"r", b"d"]


def tokenizer_pieces() -> tuple[list[bytes], list[float]]:
    pieces = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{b:02X}>".encode() for b in range(256)]
    scores = [0.0] * len(pieces)
    for k, letter in enumerate(LETTERS):
        pieces.append(letter)
        scores.append(-1.0 - k)
    for piece, score in MERGES.items():
        pieces.append(piece)
        scores.append(score)
    return pieces, scores


def write_tokenizer(path: Path) -> int:
    pieces, scores = tokenizer_pieces()
    body = b"".join(struct.pack("<fi", s, len(p)) + p for p, s in zip(pieces, scores, strict=True))
    path.write_bytes(struct.pack("<i", max(map(len, pieces))) + body)
    return len(pieces)


def tok_config(shared: bool = True) -> LlamaConfig:
    pieces, _ = tokenizer_pieces()
    return dataclasses.replace(SMALL, vocab_size=len(pieces), shared_classifier=shared)


# ----------------------------------------------------------------------------- presets


@pytest.mark.parametrize("preset", ["tiny", "stories260k"])
@pytest.mark.parametrize("n_tokens", [1, 8], ids=["decode", "prompt"])
def test_preset_graph_runs_and_writes_only_its_rows(preset: str, n_tokens: int) -> None:
    c = PRESETS[preset]
    model = build_llama(c, random_weights(c, seed=0), n_tokens)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input][:2] == ["tokens", "pos"]
    assert [o.name for o in model.graph.output][:3] == ["logits", "present_k_0", "present_v_0"]

    rng = np.random.default_rng(1)
    pos = 5
    past = [rng.standard_normal((c.seq_len, c.n_kv_heads, c.head_dim)).astype(np.float32)
            for _ in range(2 * c.n_layers)]  # fmt: skip
    tokens = rng.integers(0, c.vocab_size, n_tokens)
    sess = session(model)
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, dict(zip(names, [tokens, np.array([pos]), *past], strict=True)))
    logits, present = out[0], out[1:]
    assert logits.shape == (n_tokens, c.vocab_size)
    assert np.all(np.isfinite(logits))
    assert 0.05 < float(np.std(logits)) < 20, "activations should stay O(1)"
    written = slice(pos, pos + n_tokens)
    for old, new in zip(past, present, strict=True):
        kept = np.ones(c.seq_len, bool)
        kept[written] = False
        np.testing.assert_array_equal(new[kept], old[kept])
        assert not np.any(new[written] == old[written])


def test_random_weights_are_seeded() -> None:
    c = PRESETS["tiny"]
    a, b, other = random_weights(c, 0), random_weights(c, 0), random_weights(c, 1)
    np.testing.assert_array_equal(a.wq, b.wq)
    assert not np.array_equal(a.wq, other.wq)
    assert a.wq.dtype == np.float32 and a.wcls is None


# ----------------------------------------------------------------------------- semantics


def test_decode_matches_numpy_reference() -> None:
    weights = random_weights(SMALL, seed=7)
    model = build_llama(SMALL, weights, 1)
    check_against_reference(SMALL, as_dict(weights), model, TOKENS)


def test_prompt_mode_matches_decode_steps() -> None:
    weights = random_weights(SMALL, seed=7)
    decode = session(build_llama(SMALL, weights, 1))
    want, want_caches = run_steps(decode, SMALL, [[t] for t in TOKENS[:6]])
    # Two chunks of 3: the second starts at pos 3 and must see the first chunk's rows.
    prompt = session(build_llama(SMALL, weights, 3))
    got, got_caches = run_steps(prompt, SMALL, [TOKENS[:3], TOKENS[3:6]])
    assert_close(got, want, "prompt logits")
    for k, (g, w) in enumerate(zip(got_caches, want_caches, strict=True)):
        assert_close(g, w, f"cache {k}")


@pytest.mark.parametrize(("preset", "n_tokens"), [("tiny", 1), ("stories260k", 4)])
def test_our_interpreter_agrees_with_onnxruntime(preset: str, n_tokens: int) -> None:
    from xdeeploy.frontend.onnx import import_model
    from xdeeploy.interp.run import run_module

    c = PRESETS[preset]
    model = build_llama(c, random_weights(c), n_tokens)
    rng = np.random.default_rng(2)
    inputs = [
        rng.integers(0, c.vocab_size, n_tokens).astype(np.int64),
        np.array([5], np.int64),
        *[rng.standard_normal((c.seq_len, c.n_kv_heads, c.head_dim)).astype(np.float32)
          for _ in range(2 * c.n_layers)],
    ]  # fmt: skip
    sess = session(model)
    want = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], inputs, strict=True)))
    got = run_module(import_model(model), inputs)
    assert len(got) == len(want)
    for name, g, w in zip([o.name for o in model.graph.output], got, want, strict=True):
        assert_close(g, w, name)


# ----------------------------------------------------------------------------- llama2.c


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "separate-wcls"])
def test_llama2c_checkpoint_matches_reference(tmp_path: Path, shared: bool) -> None:
    c = tok_config(shared)
    w = own_weights(c, seed=3, shared=shared)
    ckpt = tmp_path / "model.bin"
    write_checkpoint(ckpt, c, w)
    config, weights = read_checkpoint(ckpt)
    assert config == c
    for name, array in w.items():
        np.testing.assert_array_equal(getattr(weights, name), array)
    assert (weights.wcls is None) == shared
    check_against_reference(c, w, build_llama(config, weights, 1), [1, 260, 273, 7, 270])


@pytest.mark.parametrize("cut", [0, 10, 28, 1000, -4], ids=lambda n: f"cut{n}")
def test_truncated_checkpoint_is_one_line_error(tmp_path: Path, cut: int) -> None:
    c = tok_config()
    ckpt = tmp_path / "model.bin"
    write_checkpoint(ckpt, c, own_weights(c, 0, shared=True))
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:cut])
    with pytest.raises(DeeployError) as info:
        read_checkpoint(ckpt)
    message = str(info.value)
    assert "\n" not in message and str(ckpt) in message
    if cut > 28 or cut < 0:
        assert "expected" in message and "found" in message


def test_trailing_bytes_and_bad_header_are_errors(tmp_path: Path) -> None:
    c = tok_config()
    ckpt = tmp_path / "model.bin"
    write_checkpoint(ckpt, c, own_weights(c, 0, shared=True))
    ckpt.write_bytes(ckpt.read_bytes() + b"\0" * 8)
    with pytest.raises(DeeployError, match="trailing bytes"):
        read_checkpoint(ckpt)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(struct.pack("<7i", 30, 48, 2, 4, 2, 40, 16) + b"\0" * 64)
    with pytest.raises(DeeployError, match="not a multiple of n_heads"):
        read_checkpoint(bad)
    versioned = tmp_path / "v1.bin"
    versioned.write_bytes(struct.pack("<Ii", 0x616B3432, 1) + b"\0" * 256)
    with pytest.raises(DeeployError, match="version 1"):
        read_checkpoint(versioned)


def test_tokenizer_encode_decode(tmp_path: Path) -> None:
    path = tmp_path / "tok.bin"
    n = write_tokenizer(path)
    _, tok = read_tokenizer_file(path, n)
    pieces, _ = tokenizer_pieces()
    ids = {p: i for i, p in enumerate(pieces)}
    assert tok.encode("hello world") == [1, ids[b" hello"], ids[b" w"], ids[b"or"], ids[b"l"],
                                         ids[b"d"]]  # fmt: skip
    assert tok.encode("hello world", bos=False, eos=True)[-1] == 2
    assert tok.encode("") == [1]
    # "é" and "!" are not in the vocabulary: byte fallback (byte + 3).
    assert tok.encode("é!", bos=False)[1:] == [0xC3 + 3, 0xA9 + 3, ord("!") + 3]
    for text in ["hello world", "héllo, wörld!", "dd ee\nx"]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.decode_piece(1, ids[b" hello"]) == b"hello"
    assert tok.decode_piece(5, ids[b" hello"]) == b" hello"
    assert tok.decode_piece(5, 0x0A + 3) == b"\n"


def test_truncated_tokenizer_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "tok.bin"
    n = write_tokenizer(path)
    data = path.read_bytes()
    for cut in [2, 100, len(data) - 3]:
        with pytest.raises(DeeployError) as info:
            parse_tokenizer(data[:cut], str(path), n)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(DeeployError, match="follow the"):
        parse_tokenizer(data, str(path), n - 1)  # a tokenizer for another vocabulary


# ----------------------------------------------------------------------------- CLI


def test_cli_writes_model_and_inputs_that_deeploy_run_accepts(tmp_path: Path) -> None:
    model, inputs = tmp_path / "t.onnx", tmp_path / "in.npz"
    cmd = [sys.executable, "-m", "xdeeploy.tools.deeploy"]
    made = subprocess.run(
        [*cmd, "model", "llama", "--preset", "tiny", "-o", str(model), "--inputs", str(inputs)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("\n") == 1 and "params" in made.stdout
    ran = subprocess.run(
        [*cmd, "run", str(model), "--inputs", str(inputs), "--platform", "onnxruntime"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with np.load(inputs) as npz:
        assert npz.files == [i.name for i in onnx.load(model).graph.input]
    info = read_llama_info(onnx.load(model))
    assert info.config == PRESETS["tiny"] and info.mode == "decode" and info.n_tokens == 1
    tok = load_tokenizer(onnx.load(model))
    assert tok is not None and tok.decode(tok.encode("hi ✓")) == "hi ✓"


def test_cli_llama2c_stores_tokenizer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = tok_config()
    ckpt, tok_path, out = tmp_path / "m.bin", tmp_path / "tok.bin", tmp_path / "m.onnx"
    write_checkpoint(ckpt, c, own_weights(c, 0, shared=True))
    write_tokenizer(tok_path)
    argv = ["model", "llama", "--from-llama2c", str(ckpt), "--tokenizer", str(tok_path),
            "--mode", "prompt", "--prompt-len", "4", "-o", str(out)]  # fmt: skip
    assert deeploy.main(argv) == 0
    assert "m.bin" in capsys.readouterr().out
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    info = read_llama_info(model)
    assert info.config == c and info.mode == "prompt" and info.n_tokens == 4
    assert info.tokenizer == "llama2c"
    tok = load_tokenizer(model)
    assert tok is not None and tok.decode(tok.encode("hello world")) == "hello world"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--preset", "tiny", "--tokenizer", "x.bin"], "--tokenizer goes with"),
        (["--preset", "tiny", "--prompt-len", "4"], "--prompt-len goes with"),
        (["--preset", "tiny", "--mode", "prompt", "--prompt-len", "65"], "expected 1..64"),
        ([], "give --preset"),
        (["--from-llama2c", "missing.bin"], "cannot read checkpoint"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    out = tmp_path / "m.onnx"
    assert deeploy.main(["model", "llama", *argv, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert not out.exists()


def test_cli_truncated_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = tok_config()
    ckpt, out = tmp_path / "m.bin", tmp_path / "m.onnx"
    write_checkpoint(ckpt, c, own_weights(c, 0, shared=True))
    ckpt.write_bytes(ckpt.read_bytes()[:-100])
    assert deeploy.main(["model", "llama", "--from-llama2c", str(ckpt), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected" in err and "m.bin" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [ckpt]


def test_stories15m_is_written_quickly(tmp_path: Path) -> None:
    out = tmp_path / "s15.onnx"
    summary = write_llama(out, preset="stories15m")
    assert "15.19M params" in summary
    assert 55e6 < out.stat().st_size < 70e6  # the shared classifier is not stored twice
