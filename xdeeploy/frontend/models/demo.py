"""The built-in demo model: one pre-norm transformer block, seeded weights.

Small enough to import and interpret in a second, rich enough to exercise the parts a
Llama-style model needs: RMSNorm, q/k/v projections, multi-head attention with
Reshape/Transpose, Softmax, a GELU MLP and residual additions.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEQ, DIM, HEADS, FFN = 8, 32, 4, 64


def demo_block(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    head = DIM // HEADS

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        scale = 1.0 / np.sqrt(shape[0])
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name
        )

    def ints(name: str, values: list[int]) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(values, dtype=np.int64), name)

    inits = [
        numpy_helper.from_array(np.ones(DIM, np.float32), "norm1.weight"),
        numpy_helper.from_array(np.ones(DIM, np.float32), "norm2.weight"),
        weight("wq", DIM, DIM), weight("wk", DIM, DIM), weight("wv", DIM, DIM),
        weight("wo", DIM, DIM), weight("w1", DIM, FFN), weight("w2", FFN, DIM),
        ints("heads_shape", [1, SEQ, HEADS, head]), ints("model_shape", [1, SEQ, DIM]),
        numpy_helper.from_array(np.array(1.0 / np.sqrt(head), np.float32), "scale"),
    ]  # fmt: skip
    node = helper.make_node
    nodes = [
        node("RMSNorm", ["x", "norm1.weight"], ["h"], name="attn_norm", eps=1e-6),
        *[node("MatMul", ["h", f"w{p}"], [p], name=f"proj_{p}") for p in "qkv"],
        *[node("Reshape", [p, "heads_shape"], [f"{p}4"], name=f"split_heads_{p}") for p in "qkv"],
        node("Transpose", ["q4"], ["qh"], name="q_heads", perm=[0, 2, 1, 3]),
        node("Transpose", ["k4"], ["kt"], name="k_heads_t", perm=[0, 2, 3, 1]),
        node("Transpose", ["v4"], ["vh"], name="v_heads", perm=[0, 2, 1, 3]),
        node("MatMul", ["qh", "kt"], ["scores"], name="scores"),
        node("Mul", ["scores", "scale"], ["scaled"], name="scale"),
        node("Softmax", ["scaled"], ["probs"], name="softmax", axis=-1),
        node("MatMul", ["probs", "vh"], ["ctx"], name="context"),
        node("Transpose", ["ctx"], ["ctx_t"], name="merge_heads", perm=[0, 2, 1, 3]),
        node("Reshape", ["ctx_t", "model_shape"], ["attn"], name="merge_reshape"),
        node("MatMul", ["attn", "wo"], ["attn_out"], name="proj_o"),
        node("Add", ["x", "attn_out"], ["r1"], name="residual1"),
        node("RMSNorm", ["r1", "norm2.weight"], ["h2"], name="ffn_norm", eps=1e-6),
        node("MatMul", ["h2", "w1"], ["up"], name="ffn_up"),
        node("Gelu", ["up"], ["act"], name="gelu", domain="com.microsoft"),
        node("MatMul", ["act", "w2"], ["down"], name="ffn_down"),
        node("Add", ["r1", "down"], ["y"], name="residual2"),
    ]
    graph = helper.make_graph(
        nodes,
        "demo_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SEQ, DIM])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SEQ, DIM])],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def demo_inputs(seed: int = 1) -> list[np.ndarray]:
    return [np.random.default_rng(seed).standard_normal((1, SEQ, DIM)).astype(np.float32)]


def numpy_reference(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The block computed directly in numpy (float64), independent of our compiler:
    onnxruntime lacks Deeploy's RMSNorm, so this is the demo's outside reference."""
    w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    head = DIM // HEADS

    def rms(v: np.ndarray, g: np.ndarray) -> np.ndarray:
        return v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + 1e-6) * g

    def split(v: np.ndarray) -> np.ndarray:
        return v.reshape(1, SEQ, HEADS, head).transpose(0, 2, 1, 3)

    from math import erf

    x64 = x.astype(np.float64)
    h = rms(x64, w["norm1.weight"])
    q, k, v = (split(h @ w[f"w{p}"]) for p in "qkv")
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    attn = (probs @ v).transpose(0, 2, 1, 3).reshape(1, SEQ, DIM)
    r1 = x64 + attn @ w["wo"]
    up = rms(r1, w["norm2.weight"]) @ w["w1"]
    act = 0.5 * up * (1 + np.vectorize(erf)(up / np.sqrt(2)))
    return r1 + act @ w["w2"]
