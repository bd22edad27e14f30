"""`deeploy generate`: prompt, then greedy decoding with the KV cache, on any platform.

A `Session` runs one decode step (`tokens` [1], `pos` [1]) and keeps the caches between
steps. With `--check`, a reference session is fed the same tokens and the logits are
compared at every step: our interpreter for quantized models, onnxruntime for float
models (DESIGN §6 tolerance). The interpreter computes the generated C's arithmetic bit
for bit, its float operations included (`xdeeploy.interp.reference`), so the C's
logits must equal its exactly.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx

from xdeeploy.dialects import dnn
from xdeeploy.errors import DeeployError
from xdeeploy.frontend.models.llama import load_tokenizer, read_llama_info
from xdeeploy.frontend.onnx import import_model


class Session(Protocol):
    name: str

    def step(self, token: int, pos: int) -> np.ndarray: ...


def _zero_caches(model: onnx.ModelProto) -> list[np.ndarray]:
    caches = []
    for value in model.graph.input[2:]:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        caches.append(np.zeros(shape, dtype=np.float32))
    return caches


def _feeds(token: int, pos: int) -> list[np.ndarray]:
    return [np.array([token], dtype=np.int64), np.array([pos], dtype=np.int64)]


class InterpSession:
    """Our interpreter on the tensor-level IR after the same tensor passes as the C
    (QDQ lowered to integers): the bit-exact reference of the generated C."""

    name = "interp"

    def __init__(self, model: onnx.ModelProto):
        from xdsl.context import Context

        from xdeeploy.interp.run import run_module
        from xdeeploy.lowering.generic_pipeline import INTEGER_PASSES

        self._run = run_module
        self._module = import_model(model)
        for p in INTEGER_PASSES:
            p.apply(Context(), self._module)
        self._caches = _zero_caches(model)

    def float_arithmetic(self) -> list[str]:
        """The float ops left after lowering QDQ (those that compute, not move data)."""
        from xdsl.dialects.builtin import Float32Type, TensorType

        movement = (dnn.ConstantOp, dnn.ReshapeOp, dnn.TransposeOp, dnn.ConcatOp, dnn.SliceOp,
                    dnn.SplitOp, dnn.GatherOp, dnn.ExpandOp, dnn.ScatterNDOp, dnn.CastOp,
                    dnn.QuantizeLinearOp, dnn.DequantizeLinearOp)  # fmt: skip
        return sorted(
            {
                op.name
                for op in self._module.walk()
                if isinstance(op, dnn.DnnOp)
                and not isinstance(op, movement)
                and any(
                    isinstance(r.type, TensorType) and isinstance(r.type.element_type, Float32Type)
                    for r in op.results
                )
            }
        )

    def step(self, token: int, pos: int) -> np.ndarray:
        logits, *self._caches = self._run(self._module, [*_feeds(token, pos), *self._caches])
        return logits


class OnnxruntimeSession:
    name = "onnxruntime"

    def __init__(self, model: onnx.ModelProto):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        self._names = [i.name for i in self._session.get_inputs()]
        self._caches = _zero_caches(model)

    def step(self, token: int, pos: int) -> np.ndarray:
        feeds = dict(zip(self._names, [*_feeds(token, pos), *self._caches], strict=True))
        logits, *caches = (np.asarray(r) for r in self._session.run(None, feeds))
        self._caches = caches
        return logits


class GenericSession:
    """Generated C called in-process; each present cache is the past cache's buffer, so
    a step writes one cache row in place and copies nothing else."""

    name = "generic"

    def __init__(self, model: onnx.ModelProto):
        from xdeeploy.tools.host import build_and_load

        self._tmp = tempfile.TemporaryDirectory(prefix="xdeeploy-generate-")
        self._lib = build_and_load(model, Path(self._tmp.name) / "build")
        self._caches = _zero_caches(model)
        self._logits = np.zeros(self._lib.build.outputs[0].shape, dtype=np.float32)

    def step(self, token: int, pos: int) -> np.ndarray:
        outputs = self._lib.build.outputs[1:]
        if all(p.may_alias for p in outputs):
            presents = self._caches  # written in place: one row per step, nothing copied
        else:
            presents = [np.zeros(p.shape, dtype=p.dtype) for p in outputs]
        self._lib.run([*_feeds(token, pos), *self._caches], [self._logits, *presents])
        self._caches = presents
        return self._logits.copy()


class Rv32Session:
    """The same C, tiled for the platform's L1, cross-compiled once for bare-metal RV32
    and run on QEMU for every step; counts the instructions of each step."""

    name = "rv32-virt"

    def __init__(self, model: onnx.ModelProto, cores: int | None = None, kernels: str = "c"):
        from xdeeploy.platforms import load_platform
        from xdeeploy.tools.build import compile_model
        from xdeeploy.tools.rv32 import Rv32Program

        platform = load_platform(self.name).with_overrides(cores=cores)
        self._tmp = tempfile.TemporaryDirectory(prefix="xdeeploy-generate-")
        folder = Path(self._tmp.name) / "build"
        build = compile_model(model, folder, l1=platform.l1, l2=platform.l2, cores=platform.cores,
                              kernels=kernels)  # fmt: skip
        self.kernels = build.kernel_names()
        self.cores = platform.cores
        self._program = Rv32Program(build, cores=self.cores, profile=True)
        self._caches = _zero_caches(model)
        self.instructions: list[int] = []
        """Per step: the busiest hart's instructions in the network (its time)."""
        self.all_harts: list[int] = []

    def step(self, token: int, pos: int) -> np.ndarray:
        run = self._program.run([*_feeds(token, pos), *self._caches])
        logits, *self._caches = run.outputs
        per_hart = run.network_per_hart
        self.instructions.append(max(per_hart))
        self.all_harts.append(sum(per_hart))
        return logits


class SiracusaSession(GenericSession):
    """Siracusa's program run functionally on the host, as `deeploy run --platform
    siracusa` does: tiled for its L1 and L2, split across its cores (threads), NPU jobs
    (option `engines`) in the engine's functional model. Its time per token is the
    platform's cost model (a model, not a measurement)."""

    name = "siracusa"

    def __init__(self, model: onnx.ModelProto, engines: str = "cluster"):
        from xdeeploy.platforms import load_platform
        from xdeeploy.platforms.cost_model import CostModel
        from xdeeploy.tools.build import build_shared_library, compile_model
        from xdeeploy.tools.host import HostLibrary

        platform = load_platform(self.name)
        self._tmp = tempfile.TemporaryDirectory(prefix="xdeeploy-generate-")
        build = compile_model(model, Path(self._tmp.name) / "build", l1=platform.l1,
                              l2=platform.l2, cores=platform.cores,
                              cost=CostModel.of(platform), engines=engines,
                              platform=self.name)  # fmt: skip
        self._lib = HostLibrary(build, build_shared_library(build))
        self.kernels = build.kernel_names()
        self.cost = build.cost
        self._caches = _zero_caches(model)
        self._logits = np.zeros(build.outputs[0].shape, dtype=np.float32)


SESSIONS = {
    "interp": InterpSession,
    "onnxruntime": OnnxruntimeSession,
    "generic": GenericSession,
    "rv32-virt": Rv32Session,
}


@dataclass
class Check:
    """Compares a platform's logits with the reference's at every step."""

    reference: Session
    exact: bool
    worst: float = 0.0

    def compare(self, step: int, got: np.ndarray, token: int, pos: int) -> None:
        want = self.reference.step(token, pos)
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        self.worst = max(self.worst, float(diff.max()))
        tol = 0.0 if self.exact else 1e-4 * np.maximum(1.0, np.abs(want))
        if not np.all(diff <= tol):  # NaN fails too
            raise DeeployError(
                f"step {step} (position {pos}): logits differ from {self.reference.name} by "
                f"{diff.max():.3g} (tolerance {self.tolerance})"
            )

    @property
    def tolerance(self) -> str:
        return "0, bit-exact" if self.exact else "1e-4 relative"


def generate(
    model: onnx.ModelProto,
    platform: str,
    steps: int,
    prompt: str | None,
    check: bool,
    out: object = None,
    cores: int | None = None,
    kernels: str = "c",
    engines: str = "cluster",
) -> int:
    # Looked up per call, not bound at import: callers (and pytest) may swap sys.stdout.
    out = out if out is not None else sys.stdout
    info = read_llama_info(model)
    if info.mode != "decode":
        raise DeeployError("generate needs a decode-mode model (deeploy model llama --mode decode)")
    tokenizer = load_tokenizer(model)
    if prompt is not None and tokenizer is None:
        raise DeeployError("this model has no tokenizer: generate without --prompt")
    if prompt:
        tokens = tokenizer.encode(prompt) if tokenizer else []
    else:
        tokens = [1] if info.tokenizer == "llama2c" else [0]
    context = info.config.seq_len
    if len(tokens) + steps > context:
        raise DeeployError(
            f"{len(tokens)} prompt tokens + {steps} steps exceed the context of {context}"
        )
    session: Session
    if platform == Rv32Session.name:
        session = Rv32Session(model, cores, kernels)
    elif platform == SiracusaSession.name:
        session = SiracusaSession(model, engines)
    else:
        session = SESSIONS[platform](model)
    checker = None
    if check:
        # Quantized models: our interpreter, bit-exact against the C (float arithmetic
        # included); float models: onnxruntime within the float tolerance (DESIGN §6).
        # onnxruntime agrees with the interpreter exactly only on integer arithmetic.
        integer = info.quant is not None
        reference = "interp" if integer else "onnxruntime"
        if reference == platform:
            reference = "onnxruntime" if integer else "interp"
        ref_session = SESSIONS[reference](model)
        floats = ref_session.float_arithmetic() if isinstance(ref_session, InterpSession) else []
        if integer and floats:
            print(f"generate: float arithmetic left in the quantized model: {', '.join(floats)}",
                  file=out)  # type: ignore[call-overload]  # fmt: skip
        # The C's float arithmetic is the interpreter's, bit for bit, on every platform.
        exact = isinstance(ref_session, InterpSession)
        checker = Check(ref_session, exact)

    def emit(prev: int, token: int) -> None:
        if tokenizer is None:
            print(token, end=" ", file=out, flush=True)  # type: ignore[call-overload]
        else:
            text = tokenizer.decode_piece(prev, token).decode("utf-8", "replace")
            print(text, end="", file=out, flush=True)  # type: ignore[call-overload]

    generated: list[int] = []
    elapsed = 0.0  # the platform's own time: the reference's steps are not counted

    def timed_step(token: int, pos: int) -> np.ndarray:
        nonlocal elapsed
        start = time.perf_counter()
        result = session.step(token, pos)
        elapsed += time.perf_counter() - start
        return result

    logits = np.zeros(0)
    for pos, token in enumerate(tokens):  # the prompt, one token per step
        logits = timed_step(token, pos)
        if checker:
            checker.compare(pos, logits, token, pos)
        emit(tokens[pos - 1] if pos else -1, token)
    prev = tokens[-1]
    for k in range(steps):
        token = int(np.argmax(logits.reshape(-1, logits.shape[-1])[-1]))
        generated.append(token)
        emit(prev, token)
        pos = len(tokens) + k
        if k + 1 < steps:
            logits = timed_step(token, pos)
            if checker:
                checker.compare(pos, logits, token, pos)
        prev = token
    calls = len(tokens) + max(steps - 1, 0)
    print(file=out)  # type: ignore[call-overload]
    rate = calls / elapsed if elapsed > 0 else float("inf")
    where = " on the host (its functional model)" if platform == SiracusaSession.name else ""
    print(f"generate: {platform}: {calls} steps, {rate:.1f} tokens/s{where}", file=out)  # type: ignore[call-overload]
    if isinstance(session, Rv32Session) and session.instructions:
        print(f"generate: {platform}: kernels {session.kernels}", file=out)  # type: ignore[call-overload]
        counts = session.instructions
        harts = (
            f"busiest of {session.cores} harts, all harts "
            f"{sum(session.all_harts) / len(counts):.0f}"
            if session.cores > 1
            else "1 hart"
        )
        print(
            f"generate: {platform}: {sum(counts) / len(counts):.0f} instructions/token "
            f"(min {min(counts)}, max {max(counts)}; {harts}; QEMU -icount shift=0)",
            file=out,  # type: ignore[call-overload]
        )
    if isinstance(session, SiracusaSession) and session.cost is not None:
        cost = session.cost
        print(f"generate: {platform}: kernels {session.kernels}", file=out)  # type: ignore[call-overload]
        print(
            f"generate: {platform}: cost MODEL (not a measurement): {cost.cycles:,.0f} "
            f"cycles/token = {cost.tokens_per_second:,.1f} tokens/s, "
            f"{cost.microjoules:,.1f} uJ/token (deeploy compile --report: per layer, with "
            "the parameters' sources)",
            file=out,  # type: ignore[call-overload]
        )
    if checker:
        print(
            f"generate: check against {checker.reference.name}: {calls} steps, "
            f"max logit difference {checker.worst:.3g} (tolerance {checker.tolerance})",
            file=out,  # type: ignore[call-overload]
        )
    return 0
