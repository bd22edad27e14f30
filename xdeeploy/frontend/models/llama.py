"""A Llama-style decoder as an ONNX graph: presets, seeded weights, KV cache as graph I/O.

The graph computes what llama2.c's `forward` computes, for T tokens at once:

    inputs   tokens int64 [T], pos int64 [1] (position of tokens[0]),
             past_k_{l}, past_v_{l} float32 [context, n_kv_heads, head_dim] per layer
    outputs  logits float32 [T, vocab], present_k_{l}, present_v_{l} (same shape as past)

`decode` mode has T = 1, `prompt` mode T = N. The cache has a fixed size so that every
shape is static (the compiler plans memory statically): new keys/values are written
with ScatterND at rows pos..pos+T-1 and attention reads all `context` rows, with an
additive causal mask hiding row j from query t unless j <= pos + t. Row 0 is visible to
every query, so no softmax row is ever fully masked.

Only plain ONNX ops are used (RMSNorm spelled out, SiLU as x * sigmoid(x)) so that
onnxruntime is the reference and our frontend imports the graph unchanged.

Weights are kept in llama2.c's layout (`LlamaWeights`: matrices (out, in), stacked
over layers) and transposed once when the graph is built, because ONNX MatMul wants
x @ W with W of shape (in, out).

`--quant int8` (`quantize_llama`) passes the graph through onnxruntime's quantize_static
(QDQ format, seeded calibration): the MatMuls with weights become int8 × int8 with a
float result, everything else stays float; `dnn-lower-qdq` turns them into integer ops.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from xdeeploy.errors import DeeployError

DOC = "A Llama-style decoder (llama2.c semantics) with its KV cache as graph inputs/outputs"
OPSET = 17
IR_VERSION = 8
MODES = ("decode", "prompt")
DEFAULT_PROMPT_LEN = 8

# metadata_props keys: `deeploy generate` reads the hyper-parameters and tokenizer back.
META_LLAMA = "xdeeploy.llama"
META_TOKENIZER = "xdeeploy.tokenizer"
META_QUANT = "xdeeploy.quantization"  # what `--quant` quantized and what stayed float

QUANT_SCHEMES = ("int8",)
# Calibration: a few seeded token sequences run through the graph being quantized, each
# call at the next positions with the caches the earlier calls wrote.
CALIBRATION_SEQUENCES = 3
CALIBRATION_CALLS = 16

# Added to the scores of hidden cache rows: exp(-1e9 - max) is exactly 0 in float32, so
# masked rows contribute nothing, as in llama2.c's loop over t <= pos only.
MASK_VALUE = -1e9


@dataclass(frozen=True)
class LlamaConfig:
    """Hyper-parameters, named as in llama2.c's `Config`."""

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int  # the context: KV cache rows and RoPE table length
    shared_classifier: bool = True  # the LM head is the token embedding (llama2.c default)
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def n_rep(self) -> int:
        """How many query heads share one key/value head (grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    def check(self, where: str) -> None:
        """Raises a one-line DeeployError naming `where` if the shape cannot work."""
        fields = {
            "dim": self.dim, "hidden_dim": self.hidden_dim, "n_layers": self.n_layers,
            "n_heads": self.n_heads, "n_kv_heads": self.n_kv_heads,
            "vocab_size": self.vocab_size, "seq_len": self.seq_len,
        }  # fmt: skip
        for name, value in fields.items():
            if value <= 0:
                raise DeeployError(f"{where}: {name} = {value}, expected a positive number")
        if self.dim % self.n_heads:
            raise DeeployError(
                f"{where}: dim {self.dim} is not a multiple of n_heads {self.n_heads}"
            )
        if self.n_heads % self.n_kv_heads:
            raise DeeployError(
                f"{where}: n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}"
            )
        if self.head_dim % 2:
            raise DeeployError(
                f"{where}: head size {self.head_dim} is odd; rotary embedding needs pairs"
            )


PRESETS: dict[str, LlamaConfig] = {
    # Byte-level (token id = byte value): small enough for the interpreter and QEMU.
    "tiny": LlamaConfig(dim=64, hidden_dim=176, n_layers=2, n_heads=4, n_kv_heads=4,
                        vocab_size=256, seq_len=64),
    "microllama": LlamaConfig(dim=64, hidden_dim=256, n_layers=8, n_heads=16, n_kv_heads=16,
                              vocab_size=512, seq_len=256),
    # The shapes of llama2.c's TinyStories checkpoints (stories260K.bin, stories15M.bin).
    "stories260k": LlamaConfig(dim=64, hidden_dim=172, n_layers=5, n_heads=8, n_kv_heads=4,
                               vocab_size=512, seq_len=512),
    "stories15m": LlamaConfig(dim=288, hidden_dim=768, n_layers=6, n_heads=6, n_kv_heads=6,
                              vocab_size=32000, seq_len=256),
}  # fmt: skip


@dataclass
class LlamaWeights:
    """float32 weights in llama2.c's layout: matrices (out_features, in_features)."""

    token_embedding: np.ndarray  # [vocab, dim]
    rms_att: np.ndarray  # [L, dim]
    wq: np.ndarray  # [L, dim, dim]
    wk: np.ndarray  # [L, kv_dim, dim]
    wv: np.ndarray  # [L, kv_dim, dim]
    wo: np.ndarray  # [L, dim, dim]
    rms_ffn: np.ndarray  # [L, dim]
    w1: np.ndarray  # [L, hidden, dim]
    w2: np.ndarray  # [L, dim, hidden]
    w3: np.ndarray  # [L, hidden, dim]
    rms_final: np.ndarray  # [dim]
    wcls: np.ndarray | None = None  # [vocab, dim]; None when shared with token_embedding

    def expected_shapes(self, c: LlamaConfig) -> dict[str, tuple[int, ...]]:
        L, D, KV, F, V = c.n_layers, c.dim, c.kv_dim, c.hidden_dim, c.vocab_size
        shapes = {
            "token_embedding": (V, D), "rms_att": (L, D), "wq": (L, D, D), "wk": (L, KV, D),
            "wv": (L, KV, D), "wo": (L, D, D), "rms_ffn": (L, D), "w1": (L, F, D),
            "w2": (L, D, F), "w3": (L, F, D), "rms_final": (D,),
        }  # fmt: skip
        if not c.shared_classifier:
            shapes["wcls"] = (V, D)
        return shapes

    def check(self, c: LlamaConfig) -> None:
        """Programming errors (a builder handing inconsistent arrays) fail loudly."""
        for name, shape in self.expected_shapes(c).items():
            arr = getattr(self, name)
            if arr is None or tuple(arr.shape) != shape:
                got = None if arr is None else tuple(arr.shape)
                raise ValueError(f"weight {name}: shape {got}, expected {shape}")
        if c.shared_classifier != (self.wcls is None):
            raise ValueError("wcls must be given exactly when the classifier is not shared")

    def n_params(self) -> int:
        arrays = [getattr(self, f) for f in self.__dataclass_fields__]
        return sum(int(a.size) for a in arrays if a is not None)


def random_weights(config: LlamaConfig, seed: int = 0) -> LlamaWeights:
    """Seeded weights scaled so activations stay O(1): each matrix is N(0, 1/fan_in)."""
    c = config
    rng = np.random.default_rng(seed)

    def matrix(*shape: int) -> np.ndarray:
        # (…, out, in): dividing by sqrt(in) keeps each output's variance ~ its input's.
        scale = np.float32(1.0 / np.sqrt(shape[-1]))
        return rng.standard_normal(shape, dtype=np.float32) * scale

    def norm(*shape: int) -> np.ndarray:
        # Ones plus a little noise, so a mix-up of norm weights shows in the outputs.
        return np.float32(1.0) + np.float32(0.1) * rng.standard_normal(shape, dtype=np.float32)

    L, D, KV, F, V = c.n_layers, c.dim, c.kv_dim, c.hidden_dim, c.vocab_size
    return LlamaWeights(
        # Rows of norm ~1: the shared LM head then gives logits of O(1) as well.
        token_embedding=matrix(V, D),
        rms_att=norm(L, D),
        wq=matrix(L, D, D),
        wk=matrix(L, KV, D),
        wv=matrix(L, KV, D),
        wo=matrix(L, D, D),
        rms_ffn=norm(L, D),
        w1=matrix(L, F, D),
        w2=matrix(L, D, F),
        w3=matrix(L, F, D),
        rms_final=norm(D),
        wcls=None if c.shared_classifier else matrix(V, D),
    )


def rope_tables(config: LlamaConfig) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin [seq_len, head_dim/2] of pos * 1/10000^(2i/head_dim), as llama2.c.

    The frequency and angle are rounded to float32 like run.c's `powf` and `pos * freq`,
    so the tables match what llama2.c computes, not just the formula.
    """
    hs = config.head_dim
    pair = np.arange(0, hs, 2, dtype=np.float32)
    freq = np.float32(1.0) / np.power(np.float32(10000.0), pair / np.float32(hs))
    angle = np.arange(config.seq_len, dtype=np.float32)[:, None] * freq[None, :]
    return np.cos(angle.astype(np.float64)).astype(np.float32), np.sin(
        angle.astype(np.float64)
    ).astype(np.float32)


# ----------------------------------------------------------------------------- graph


class _GraphBuilder:
    """Appends nodes in order; every node's single output is named after the node."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._init_names: set[str] = set()
        self._ints: dict[tuple[int, ...], str] = {}

    def weight(self, name: str, array: np.ndarray) -> str:
        assert name not in self._init_names, name
        self._init_names.add(name)
        # from_array copies the buffer once: no Python lists, so 60 MB take milliseconds.
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def ints(self, values: Sequence[int], kind: str = "shape") -> str:
        """An int64 constant (shapes, index ranges), shared by every node that needs it."""
        key = tuple(int(v) for v in values)
        if key not in self._ints:
            name = f"const.{kind}." + "x".join(map(str, key))
            self._ints[key] = self.weight(name, np.array(key, dtype=np.int64))
        return self._ints[key]

    def op(self, op_type: str, inputs: Sequence[str], name: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=name, **attrs))
        return name

    def op_n(
        self, op_type: str, inputs: Sequence[str], name: str, n: int, **attrs: Any
    ) -> list[str]:
        outputs = [f"{name}.{k}" for k in range(n)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=name, **attrs))
        return outputs

    def rmsnorm(self, x: str, weight: str, name: str, eps: str) -> str:
        # llama2.c: w * (x / sqrt(mean(x^2) + eps)), with the reciprocal taken once per row.
        sq = self.op("Mul", [x, x], f"{name}.square")
        ms = self.op("ReduceMean", [sq], f"{name}.mean", axes=[-1], keepdims=1)
        var = self.op("Add", [ms, eps], f"{name}.add_eps")
        root = self.op("Sqrt", [var], f"{name}.sqrt")
        inv = self.op("Reciprocal", [root], f"{name}.inv")
        normed = self.op("Mul", [x, inv], f"{name}.scale")
        return self.op("Mul", [normed, weight], name)


def _rotate(
    g: _GraphBuilder, x: str, n_heads: int, c: LlamaConfig, T: int, cos: str, sin: str, name: str
) -> str:
    """RoPE on x [T, n_heads * head_dim]: pairs (2i, 2i+1) rotated as complex numbers.

    llama2.c: x0' = x0 cos - x1 sin, x1' = x0 sin + x1 cos. The pairs are exposed by a
    Reshape to [..., head_dim/2, 2] and split along the last axis; the result is [T,
    n_heads, head_dim], the layout the cache and attention use.
    """
    half = c.head_dim // 2
    pairs = g.op("Reshape", [x, g.ints([T, n_heads, half, 2])], f"{name}.pairs")
    x0, x1 = g.op_n("Split", [pairs], f"{name}.split", 2, axis=3)
    a = g.op("Mul", [x0, cos], f"{name}.x0_cos")
    b = g.op("Mul", [x1, sin], f"{name}.x1_sin")
    d = g.op("Mul", [x0, sin], f"{name}.x0_sin")
    e = g.op("Mul", [x1, cos], f"{name}.x1_cos")
    re = g.op("Sub", [a, b], f"{name}.re")
    im = g.op("Add", [d, e], f"{name}.im")
    joined = g.op("Concat", [re, im], f"{name}.join", axis=3)
    return g.op("Reshape", [joined, g.ints([T, n_heads, c.head_dim])], name)


def _repeat_kv(g: _GraphBuilder, cache: str, c: LlamaConfig, name: str) -> str:
    """[C, KV, hd] -> [C, H, hd], head h reading kv head h // n_rep as llama2.c does."""
    if c.n_rep == 1:
        return cache
    C, KV, hd = c.seq_len, c.n_kv_heads, c.head_dim
    x = g.op("Reshape", [cache, g.ints([C, KV, 1, hd])], f"{name}.unsqueeze")
    x = g.op("Expand", [x, g.ints([C, KV, c.n_rep, hd])], f"{name}.expand")
    return g.op("Reshape", [x, g.ints([C, c.n_heads, hd])], name)


def build_llama(
    config: LlamaConfig,
    weights: LlamaWeights,
    n_tokens: int = 1,
    metadata: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """The decoder for `n_tokens` tokens per call (1 = decode mode) as an ONNX model."""
    c = config
    c.check("llama config")
    weights.check(c)
    T, C, D, H, KV, hd = n_tokens, c.seq_len, c.dim, c.n_heads, c.n_kv_heads, c.head_dim
    if not 1 <= T <= C:
        raise DeeployError(f"{T} tokens per call do not fit the context of {C}")
    g = _GraphBuilder()

    # --- constants shared by all layers
    eps = g.weight("const.eps", np.array(c.eps, dtype=np.float32))
    cos_table, sin_table = rope_tables(c)
    g.weight("rope.cos", cos_table)
    g.weight("rope.sin", sin_table)
    g.weight("const.cache_rows", np.arange(C, dtype=np.int64))
    g.weight("const.mask_value", np.array(MASK_VALUE, dtype=np.float32))
    g.weight("const.zero", np.array(0.0, dtype=np.float32))
    g.weight("const.sqrt_head_dim", np.array(np.sqrt(hd), dtype=np.float32))

    # --- positions, rotary tables, cache write indices and the causal mask
    if T == 1:
        positions = "pos"  # decode: no position arithmetic for the compiler to carry
    else:
        g.weight("const.token_offsets", np.arange(T, dtype=np.int64))
        positions = g.op("Add", ["pos", "const.token_offsets"], "positions")  # [T]
    rows = g.op("Reshape", [positions, g.ints([T, 1])], "cache_write_rows")  # [T, 1]
    cos = g.op("Gather", ["rope.cos", positions], "rope.cos_at_pos", axis=0)  # [T, hd/2]
    sin = g.op("Gather", ["rope.sin", positions], "rope.sin_at_pos", axis=0)
    # [T, 1, hd/2, 1] broadcasts over heads and against the even/odd halves of each pair.
    cos = g.op("Reshape", [cos, g.ints([T, 1, hd // 2, 1])], "rope.cos_b")
    sin = g.op("Reshape", [sin, g.ints([T, 1, hd // 2, 1])], "rope.sin_b")
    # Row j is hidden from query t iff pos + t < j.
    hidden = g.op("Less", [rows, "const.cache_rows"], "mask.hidden")  # [T, C] bool
    mask = g.op("Where", [hidden, "const.mask_value", "const.zero"], "mask.bias")  # [T, C]

    # --- token embedding
    g.weight("tok_embeddings", weights.token_embedding)
    x = g.op("Gather", ["tok_embeddings", "tokens"], "embed", axis=0)  # [T, D]

    for layer in range(c.n_layers):
        p = f"layers.{layer}"
        att_norm = g.weight(f"{p}.attn_norm", weights.rms_att[layer])
        wq = g.weight(f"{p}.attn.wq", weights.wq[layer].T)
        wk = g.weight(f"{p}.attn.wk", weights.wk[layer].T)
        wv = g.weight(f"{p}.attn.wv", weights.wv[layer].T)
        wo = g.weight(f"{p}.attn.wo", weights.wo[layer].T)
        ffn_norm = g.weight(f"{p}.ffn_norm", weights.rms_ffn[layer])
        w1 = g.weight(f"{p}.ffn.w1", weights.w1[layer].T)
        w2 = g.weight(f"{p}.ffn.w2", weights.w2[layer].T)
        w3 = g.weight(f"{p}.ffn.w3", weights.w3[layer].T)

        # attention
        h = g.rmsnorm(x, att_norm, f"{p}.attn_norm.out", eps)
        q = g.op("MatMul", [h, wq], f"{p}.attn.q")  # [T, D]
        k = g.op("MatMul", [h, wk], f"{p}.attn.k")  # [T, KV*hd]
        v = g.op("MatMul", [h, wv], f"{p}.attn.v")
        q = _rotate(g, q, H, c, T, cos, sin, f"{p}.attn.q_rope")  # [T, H, hd]
        k = _rotate(g, k, KV, c, T, cos, sin, f"{p}.attn.k_rope")  # [T, KV, hd]
        v = g.op("Reshape", [v, g.ints([T, KV, hd])], f"{p}.attn.v_heads")
        k_cache = g.op("ScatterND", [f"past_k_{layer}", rows, k], f"present_k_{layer}")
        v_cache = g.op("ScatterND", [f"past_v_{layer}", rows, v], f"present_v_{layer}")
        keys = _repeat_kv(g, k_cache, c, f"{p}.attn.k_rep")  # [C, H, hd]
        values = _repeat_kv(g, v_cache, c, f"{p}.attn.v_rep")
        qh = g.op("Transpose", [q], f"{p}.attn.q_t", perm=[1, 0, 2])  # [H, T, hd]
        kt = g.op("Transpose", [keys], f"{p}.attn.k_t", perm=[1, 2, 0])  # [H, hd, C]
        vh = g.op("Transpose", [values], f"{p}.attn.v_t", perm=[1, 0, 2])  # [H, C, hd]
        scores = g.op("MatMul", [qh, kt], f"{p}.attn.scores")  # [H, T, C]
        # Div, not Mul by 1/sqrt: llama2.c divides, and this keeps the rounding the same.
        scores = g.op("Div", [scores, "const.sqrt_head_dim"], f"{p}.attn.scaled")
        scores = g.op("Add", [scores, mask], f"{p}.attn.masked")
        probs = g.op("Softmax", [scores], f"{p}.attn.probs", axis=-1)
        ctx = g.op("MatMul", [probs, vh], f"{p}.attn.context")  # [H, T, hd]
        ctx = g.op("Transpose", [ctx], f"{p}.attn.context_t", perm=[1, 0, 2])  # [T, H, hd]
        ctx = g.op("Reshape", [ctx, g.ints([T, D])], f"{p}.attn.merge")
        out = g.op("MatMul", [ctx, wo], f"{p}.attn.out")
        x = g.op("Add", [x, out], f"{p}.attn.residual")

        # feed-forward: w2(silu(w1 x) * w3 x)
        h = g.rmsnorm(x, ffn_norm, f"{p}.ffn_norm.out", eps)
        gate = g.op("MatMul", [h, w1], f"{p}.ffn.gate")
        up = g.op("MatMul", [h, w3], f"{p}.ffn.up")
        sig = g.op("Sigmoid", [gate], f"{p}.ffn.sigmoid")
        act = g.op("Mul", [gate, sig], f"{p}.ffn.silu")
        act = g.op("Mul", [act, up], f"{p}.ffn.gated")
        down = g.op("MatMul", [act, w2], f"{p}.ffn.down")
        x = g.op("Add", [x, down], f"{p}.ffn.residual")

    norm = g.weight("norm", weights.rms_final)
    h = g.rmsnorm(x, norm, "final_norm.out", eps)
    if weights.wcls is None:
        # Shared classifier: a Transpose of the embedding instead of a second copy keeps
        # the file small (37 MB of stories15m); runtimes fold it once at load time.
        head = g.op("Transpose", ["tok_embeddings"], "lm_head.from_embedding", perm=[1, 0])
    else:
        head = g.weight("lm_head", weights.wcls.T)
    g.op("MatMul", [h, head], "logits")

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    cache_shape = [C, KV, hd]
    inputs = [
        helper.make_tensor_value_info("tokens", i64, [T]),
        helper.make_tensor_value_info("pos", i64, [1]),
    ]
    outputs = [helper.make_tensor_value_info("logits", f32, [T, c.vocab_size])]
    for layer in range(c.n_layers):
        for kind in "kv":
            inputs.append(helper.make_tensor_value_info(f"past_{kind}_{layer}", f32, cache_shape))
            outputs.append(
                helper.make_tensor_value_info(f"present_{kind}_{layer}", f32, cache_shape)
            )
    graph = helper.make_graph(g.nodes, "llama", inputs, outputs, g.initializers, doc_string=DOC)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="xdeeploy",
    )
    if metadata:
        helper.set_model_props(model, metadata)
    return model


# ----------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class LlamaModelInfo:
    """What `deeploy model llama` records in the model's metadata_props."""

    config: LlamaConfig
    mode: str  # decode | prompt
    n_tokens: int  # tokens per call (T)
    source: str  # "preset tiny, seed 0" or "llama2.c stories15M.bin"
    tokenizer: str | None  # "bytes" (id = byte value), "llama2c" (stored), or None
    quant: str | None = None  # "int8" for a QDQ model from `--quant int8`, None for float


def make_metadata(
    info: LlamaModelInfo,
    tokenizer_bytes: bytes | None = None,
    quantization: dict[str, Any] | None = None,
) -> dict[str, str]:
    record = {
        **asdict(info.config),
        "head_dim": info.config.head_dim,
        "mode": info.mode,
        "n_tokens": info.n_tokens,
        "source": info.source,
        "tokenizer": info.tokenizer,
    }
    if info.quant is not None:
        record["quant"] = info.quant
    meta = {META_LLAMA: json.dumps(record, sort_keys=True)}
    if tokenizer_bytes is not None:
        # The whole tokenizer.bin travels with the model, so decoding needs no side file.
        meta[META_TOKENIZER] = base64.b64encode(tokenizer_bytes).decode("ascii")
    if quantization is not None:
        meta[META_QUANT] = json.dumps(quantization, sort_keys=True)
    return meta


def _metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def read_llama_info(model: onnx.ModelProto, where: str = "model") -> LlamaModelInfo:
    """The record `make_metadata` stored; a DeeployError if the model has none."""
    raw = _metadata(model).get(META_LLAMA)
    if raw is None:
        raise DeeployError(
            f"{where}: no '{META_LLAMA}' metadata; write the model with `deeploy model llama`"
        )
    try:
        record = json.loads(raw)
        fields = LlamaConfig.__dataclass_fields__
        config = LlamaConfig(**{k: record[k] for k in fields if k in record})
        return LlamaModelInfo(
            config=config,
            mode=str(record["mode"]),
            n_tokens=int(record["n_tokens"]),
            source=str(record.get("source", "")),
            tokenizer=record.get("tokenizer"),
            quant=record.get("quant"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DeeployError(f"{where}: malformed '{META_LLAMA}' metadata: {exc}") from None


class Tokenizer(Protocol):
    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]: ...
    def decode_piece(self, prev: int, token: int) -> bytes: ...
    def decode(self, tokens: Sequence[int]) -> str: ...


class ByteTokenizer:
    """The `tiny` preset's vocabulary: token id = byte value, no BOS/EOS."""

    vocab_size = 256

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        return list(text.encode("utf-8"))

    def decode_piece(self, prev: int, token: int) -> bytes:
        if not 0 <= token < 256:
            raise DeeployError(f"token {token} is not a byte (the vocabulary is 0..255)")
        return bytes([token])

    def decode(self, tokens: Sequence[int]) -> str:
        return b"".join(self.decode_piece(-1, t) for t in tokens).decode("utf-8", "replace")


def load_tokenizer(model: onnx.ModelProto, where: str = "model") -> Tokenizer | None:
    """The model's tokenizer, or None when it has none (ids are then all there is)."""
    info = read_llama_info(model, where)
    if info.tokenizer == "bytes":
        return ByteTokenizer()
    if info.tokenizer != "llama2c":
        return None
    from xdeeploy.frontend.models.llama2c import parse_tokenizer

    raw = _metadata(model).get(META_TOKENIZER)
    if raw is None:
        raise DeeployError(f"{where}: the '{META_TOKENIZER}' metadata is missing")
    return parse_tokenizer(base64.b64decode(raw), where, info.config.vocab_size)


# ----------------------------------------------------------------------------- int8

# What `--quant int8` leaves in float, for the metadata (the quantizer only sees MatMuls).
FLOAT_PARTS = (
    "Gather (token embedding) and the RoPE table lookups",
    "RMSNorm (square, mean, rsqrt, weight)",
    "RoPE rotation",
    "attention: scores and context MatMuls (activation x activation, float KV cache), "
    "scaling, causal mask, softmax",
    "SiLU gate and its product with the up projection",
    "residual adds",
    "KV cache writes (ScatterND)",
)


def _untie_head(model: onnx.ModelProto) -> onnx.ModelProto:
    """A tied LM head reads Transpose(embedding); the copy returned holds that transpose
    as an initializer instead, so that the quantizer sees a weight and stores it int8
    per output column rather than calibrating it like an activation (one scale for the
    whole table). The float embedding stays for the Gather."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    node = next((n for n in graph.node if n.name == "lm_head.from_embedding"), None)
    if node is None:
        return out
    table = next(t for t in graph.initializer if t.name == node.input[0])
    head = numpy_helper.to_array(table).T
    graph.node.remove(node)
    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(head), node.output[0]))
    return out


def calibration_feeds(
    model: onnx.ModelProto, config: LlamaConfig, n_tokens: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """Inputs of `CALIBRATION_SEQUENCES` seeded random token sequences, `n_tokens` per
    call at positions 0, n_tokens, ...: each call sees the caches the float model wrote
    in the calls before it, as in generation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    outputs = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(seed)
    cache_shape = (config.seq_len, config.n_kv_heads, config.head_dim)
    feeds: list[dict[str, np.ndarray]] = []
    for _ in range(CALIBRATION_SEQUENCES):
        caches = {
            f"past_{kind}_{layer}": np.zeros(cache_shape, np.float32)
            for layer in range(config.n_layers)
            for kind in "kv"
        }
        for call in range(CALIBRATION_CALLS):
            pos = call * n_tokens
            if pos + n_tokens > config.seq_len:
                break
            feed = {
                "tokens": rng.integers(0, config.vocab_size, n_tokens, dtype=np.int64),
                "pos": np.array([pos], np.int64),
                **caches,
            }
            feeds.append(feed)
            results = session.run(None, feed)
            caches = {
                name.replace("present_", "past_"): value
                for name, value in zip(outputs, results, strict=True)
                if name.startswith("present_")
            }
    return feeds


def quantize_llama(
    model: onnx.ModelProto, config: LlamaConfig, n_tokens: int, seed: int
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """The int8 QDQ model (onnxruntime's quantize_static) and its description.

    Quantized: every MatMul with a constant weight (the q, k, v, output, gate, up and
    down projections and the LM head): int8 weights, symmetric per output column;
    int8 activations, asymmetric per tensor, MinMax-calibrated. Their outputs stay float
    (the i32 accumulator times s_a * s_w, onnxruntime's MatMulIntegerToFloat): every
    consumer in this graph is a float op, so quantizing them would only add a rounding.
    Everything else stays float (`FLOAT_PARTS`).
    """
    import logging
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    float_model = _untie_head(model)
    feeds = calibration_feeds(float_model, config, n_tokens, seed)
    weights = {t.name for t in float_model.graph.initializer}
    # The MatMuls with a constant weight; the attention ones read the float KV cache.
    with_weight = [
        n.name for n in float_model.graph.node if n.op_type == "MatMul" and n.input[1] in weights
    ]

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(feeds)

        # The base class annotates `dict`, but the protocol ends the data with None.
        def get_next(self) -> dict[str, np.ndarray] | None:  # pyright: ignore[reportIncompatibleMethodOverride]
            return next(self.batches, None)

    previous = logging.root.manager.disable
    # quantize_static logs a pre-processing hint on every call; the model is already
    # shape-inferred and has nothing to fuse.
    logging.disable(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out_path = Path(tmp) / "int8.onnx"
            quantize_static(
                float_model,
                out_path,
                Feeds(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["MatMul"],
                nodes_to_quantize=with_weight,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]},
            )
            quantized = onnx.load(out_path)
    finally:
        logging.disable(previous)
    produced_by = {o: n for n in quantized.graph.node for o in n.output}
    matmuls = [
        n.name
        for n in quantized.graph.node
        if n.op_type == "MatMul"
        and all(getattr(produced_by.get(i), "op_type", "") == "DequantizeLinear" for i in n.input)
    ]
    description = {
        "scheme": "int8",
        "format": "QDQ (onnxruntime.quantization.quantize_static); lower with dnn-lower-qdq",
        "quantized": {"MatMul": matmuls},
        "weights": "int8, symmetric, per output column",
        "activations": "int8, asymmetric, per tensor, at the MatMul inputs (MinMax)",
        "outputs": "float: int32 accumulator * s_a * s_w (MatMulIntegerToFloat)",
        "float": list(FLOAT_PARTS),
        "calibration": {
            "sequences": CALIBRATION_SEQUENCES,
            "calls": len(feeds),
            "tokens_per_call": n_tokens,
            "seed": seed,
        },
    }
    return quantized, description


# ----------------------------------------------------------------------------- CLI


def seeded_inputs(
    model: onnx.ModelProto, config: LlamaConfig, seed: int = 0
) -> list[tuple[str, np.ndarray]]:
    """Random tokens, pos 0 and empty caches, keyed and ordered like the graph inputs."""
    rng = np.random.default_rng(seed)
    arrays: list[tuple[str, np.ndarray]] = []
    for value in model.graph.input:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if value.name == "tokens":
            arrays.append((value.name, rng.integers(0, config.vocab_size, shape, dtype=np.int64)))
        elif value.name == "pos":
            arrays.append((value.name, np.zeros(shape, dtype=np.int64)))
        else:
            arrays.append((value.name, np.zeros(shape, dtype=np.float32)))
    return arrays


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_llama(
    output: Path,
    *,
    preset: str | None = None,
    mode: str = "decode",
    prompt_len: int | None = None,
    seed: int = 0,
    checkpoint: Path | None = None,
    tokenizer: Path | None = None,
    inputs: Path | None = None,
    quant: str | None = None,
) -> str:
    """`deeploy model llama`: builds and writes the model (and inputs); returns a summary."""
    from xdeeploy.frontend.models.llama2c import read_checkpoint, read_tokenizer_file

    if mode not in MODES:
        raise DeeployError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "decode" and prompt_len is not None:
        raise DeeployError("--prompt-len goes with --mode prompt (decode mode takes 1 token)")
    if tokenizer is not None and checkpoint is None:
        raise DeeployError("--tokenizer goes with --from-llama2c CKPT.bin")
    if preset is not None and preset not in PRESETS:
        raise DeeployError(f"--preset {preset!r}: expected one of {', '.join(PRESETS)}")
    if quant is not None and quant not in QUANT_SCHEMES:
        raise DeeployError(f"--quant {quant!r}: expected one of {', '.join(QUANT_SCHEMES)}")

    tok_bytes: bytes | None = None
    tok_kind: str | None = None
    if checkpoint is not None:
        config, weights = read_checkpoint(checkpoint)
        if preset is not None:
            _check_matches_preset(config, preset, checkpoint)
        source = f"llama2.c {checkpoint.name}"
        if tokenizer is not None:
            tok_bytes, _ = read_tokenizer_file(tokenizer, config.vocab_size)
            tok_kind = "llama2c"
    elif preset is None:
        raise DeeployError("give --preset NAME or --from-llama2c CKPT.bin")
    else:
        config = PRESETS[preset]
        weights = random_weights(config, seed)
        source = f"preset {preset}, seed {seed}"
        tok_kind = "bytes" if preset == "tiny" else None

    n_tokens = 1 if mode == "decode" else (prompt_len or DEFAULT_PROMPT_LEN)
    if not 1 <= n_tokens <= config.seq_len:
        raise DeeployError(
            f"--prompt-len {n_tokens}: expected 1..{config.seq_len} (the model's context)"
        )
    info = LlamaModelInfo(config, mode, n_tokens, source, tok_kind, quant)
    model = build_llama(config, weights, n_tokens, make_metadata(info, tok_bytes))
    kind = "llama"
    if quant is not None:
        model, description = quantize_llama(model, config, n_tokens, seed)
        helper.set_model_props(model, make_metadata(info, tok_bytes, description))
        kind = f"llama {quant} ({len(description['quantized']['MatMul'])} MatMuls quantized)"
    data = model.SerializeToString()
    _write_atomic(output, data)
    summary = (
        f"wrote {output}: {kind} ({source}) {mode} T={n_tokens}, dim {config.dim}, "
        f"{config.n_layers} layers, {config.n_heads}/{config.n_kv_heads} heads, "
        f"vocab {config.vocab_size}, context {config.seq_len}; "
        f"{weights.n_params() / 1e6:.2f}M params, {len(data) / 1e6:.1f} MB"
    )
    if inputs is not None:
        from xdeeploy.tools.cases import write_npz_atomic

        arrays = seeded_inputs(model, config, seed)
        write_npz_atomic(inputs, arrays)
        summary += f"; {inputs}: {len(arrays)} arrays"
    return summary


def _check_matches_preset(config: LlamaConfig, preset: str, checkpoint: Path) -> None:
    want = PRESETS[preset]
    for name in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size",
                 "seq_len"):  # fmt: skip
        have, expected = getattr(config, name), getattr(want, name)
        if have != expected:
            raise DeeployError(
                f"{checkpoint}: {name} = {have} but preset {preset} has {expected}; "
                "drop --preset to take the checkpoint's shape"
            )


__all__ = [
    "PRESETS",
    "ByteTokenizer",
    "LlamaConfig",
    "LlamaModelInfo",
    "LlamaWeights",
    "Tokenizer",
    "build_llama",
    "calibration_feeds",
    "load_tokenizer",
    "quantize_llama",
    "random_weights",
    "read_llama_info",
    "rope_tables",
    "seeded_inputs",
    "write_llama",
]
