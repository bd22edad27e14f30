"""llama2.c's files: the legacy (version 0) checkpoint and tokenizer.bin, and its BPE.

Checkpoint (little-endian), as llama2.c's `export.py --version 0` writes it:

    int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
        (vocab_size < 0: the classifier is not shared, a separate wcls follows)
    float32 token_embedding [vocab, dim], rms_att [L, dim],
            wq [L, dim, dim], wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim],
            rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim],
            rms_final [dim], freq_cis_real [seq_len, head/2], freq_cis_imag [seq_len, head/2],
            wcls [vocab, dim] (only when not shared)

Matrices are (out_features, in_features) row-major (run.c computes W @ x), which is
`LlamaWeights`' layout. The stored RoPE tables are skipped: run.c recomputes them.

Tokenizer: int32 max_token_length, then per token float32 score, int32 len, len bytes.
The file does not say how many tokens it holds; the checkpoint's vocab_size does.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xdeeploy.errors import DeeployError
from xdeeploy.frontend.models.llama import LlamaConfig, LlamaWeights

HEADER = struct.Struct("<7i")
# export.py's version >= 1 files start with this magic ("ak42" read as uint32).
VERSIONED_MAGIC = 0x616B3432

BOS, EOS = 1, 2
BYTE_OFFSET = 3  # <unk>, <s>, </s> come first; byte b is token b + 3
_BYTE_PIECE = re.compile(rb"<0x([0-9A-Fa-f]{2})>")


# ----------------------------------------------------------------------------- checkpoint


def read_checkpoint(path: Path) -> tuple[LlamaConfig, LlamaWeights]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DeeployError(f"cannot read checkpoint '{path}': {exc.strerror}") from None
    return parse_checkpoint(data, str(path))


def parse_checkpoint(data: bytes, where: str) -> tuple[LlamaConfig, LlamaWeights]:
    """Config and weights of a legacy llama2.c checkpoint; `where` names it in errors."""
    if len(data) < HEADER.size:
        raise DeeployError(
            f"{where}: {len(data)} bytes, too short for the {HEADER.size}-byte llama2.c header"
        )
    if struct.unpack_from("<I", data)[0] == VERSIONED_MAGIC:
        version = struct.unpack_from("<i", data, 4)[0] if len(data) >= 8 else "?"
        raise DeeployError(
            f"{where}: llama2.c version {version} checkpoint; only the legacy format is "
            "read (export it with export.py --version 0)"
        )
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = HEADER.unpack_from(data)
    config = LlamaConfig(
        dim=dim,
        hidden_dim=hidden,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        vocab_size=abs(vocab),
        seq_len=seq_len,
        shared_classifier=vocab > 0,
    )
    config.check(f"{where} (llama2.c header)")

    c = config
    L, D, KV, F, V = c.n_layers, c.dim, c.kv_dim, c.hidden_dim, c.vocab_size
    half = c.head_dim // 2
    layout: list[tuple[str, tuple[int, ...]]] = [
        ("token_embedding", (V, D)), ("rms_att", (L, D)), ("wq", (L, D, D)),
        ("wk", (L, KV, D)), ("wv", (L, KV, D)), ("wo", (L, D, D)), ("rms_ffn", (L, D)),
        ("w1", (L, F, D)), ("w2", (L, D, F)), ("w3", (L, F, D)), ("rms_final", (D,)),
        ("freq_cis_real", (c.seq_len, half)), ("freq_cis_imag", (c.seq_len, half)),
    ]  # fmt: skip
    if not c.shared_classifier:
        layout.append(("wcls", (V, D)))
    n_floats = sum(int(np.prod(shape)) for _, shape in layout)
    expected, found = n_floats * 4, len(data) - HEADER.size
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise DeeployError(
            f"{where}: expected {expected} bytes of weights after the header for dim {D}, "
            f"{L} layers, vocab {V}, context {c.seq_len} "
            f"({'separate' if not c.shared_classifier else 'shared'} classifier), "
            f"found {found} ({what})"
        )
    flat = np.frombuffer(data, dtype="<f4", count=n_floats, offset=HEADER.size)
    arrays: dict[str, np.ndarray] = {}
    at = 0
    for name, shape in layout:
        size = int(np.prod(shape))
        arrays[name] = flat[at : at + size].reshape(shape).astype(np.float32)
        at += size
    bad = [name for name, arr in arrays.items() if not np.all(np.isfinite(arr))]
    if bad:
        raise DeeployError(f"{where}: weights '{bad[0]}' hold NaN or infinity")
    del arrays["freq_cis_real"], arrays["freq_cis_imag"]
    return config, LlamaWeights(**arrays)


# ----------------------------------------------------------------------------- tokenizer


@dataclass
class Llama2cTokenizer:
    """llama2.c's tokenizer: a vocabulary of byte strings with merge scores."""

    vocab: list[bytes]
    scores: list[float]
    max_token_length: int
    _ids: dict[bytes, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # llama2.c looks pieces up by exact string; the first id wins for duplicates.
        self._ids = {}
        for i, piece in enumerate(self.vocab):
            self._ids.setdefault(piece, i)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def lookup(self, piece: bytes) -> int:
        return self._ids.get(piece, -1)

    def _byte_token(self, byte: int) -> int:
        token = byte + BYTE_OFFSET
        if token >= self.vocab_size:
            raise DeeployError(
                f"cannot encode byte 0x{byte:02X}: the vocabulary of {self.vocab_size} tokens "
                "has no byte-fallback tokens"
            )
        return token

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        """run.c's `encode`: dummy-prefix space, code points or byte fallback, then
        repeatedly merge the adjacent pair whose merged piece has the best score."""
        tokens: list[int] = [BOS] if bos else []
        data = text.encode("utf-8")
        if data:
            # sentencepiece's add_dummy_prefix: the text is encoded as if it began with " ".
            space = self.lookup(b" ")
            tokens.append(space if space != -1 else self._byte_token(0x20))
        buf = b""
        for i, byte in enumerate(data):
            if byte & 0xC0 != 0x80:
                buf = b""  # an ASCII or leading byte starts a new code point
            buf += bytes([byte])
            nxt = data[i + 1] if i + 1 < len(data) else 0
            if nxt & 0xC0 == 0x80 and len(buf) < 4:
                continue  # the code point goes on
            token = self.lookup(buf)
            if token != -1:
                tokens.append(token)
            else:
                tokens.extend(self._byte_token(b) for b in buf)
            buf = b""
        while True:
            best_score, best_id, best_at = -1e10, -1, -1
            for i in range(len(tokens) - 1):
                merged = self.lookup(self.vocab[tokens[i]] + self.vocab[tokens[i + 1]])
                if merged != -1 and self.scores[merged] > best_score:
                    best_score, best_id, best_at = self.scores[merged], merged, i
            if best_at == -1:
                break
            tokens[best_at : best_at + 2] = [best_id]
        if eos:
            tokens.append(EOS)
        return tokens

    def decode_piece(self, prev: int, token: int) -> bytes:
        """The bytes token `token` stands for after `prev` (run.c's `decode`)."""
        if not 0 <= token < self.vocab_size:
            raise DeeployError(f"token {token} is outside the vocabulary of {self.vocab_size}")
        piece = self.vocab[token]
        if prev == BOS and piece.startswith(b" "):
            piece = piece[1:]  # sentencepiece strips the dummy prefix after BOS
        match = _BYTE_PIECE.fullmatch(piece)
        if match:
            return bytes([int(match.group(1), 16)])
        return piece

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of a token sequence; BOS/EOS are markers, not text."""
        out: list[bytes] = []
        prev = -1
        for token in tokens:
            if token not in (BOS, EOS):
                out.append(self.decode_piece(prev, token))
            prev = token
        return b"".join(out).decode("utf-8", errors="replace")


def read_tokenizer_file(path: Path, vocab_size: int | None) -> tuple[bytes, Llama2cTokenizer]:
    """The raw bytes (to store with the model) and the parsed tokenizer."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DeeployError(f"cannot read tokenizer '{path}': {exc.strerror}") from None
    return data, parse_tokenizer(data, str(path), vocab_size)


def parse_tokenizer(data: bytes, where: str, vocab_size: int | None) -> Llama2cTokenizer:
    """Reads `vocab_size` tokens (None: as many as the file holds) from tokenizer.bin."""
    if len(data) < 4:
        raise DeeployError(f"{where}: {len(data)} bytes, too short for a llama2.c tokenizer")
    (max_len,) = struct.unpack_from("<i", data)
    if max_len <= 0:
        raise DeeployError(f"{where}: max_token_length is {max_len}; not a llama2.c tokenizer")
    vocab: list[bytes] = []
    scores: list[float] = []
    at = 4
    while (vocab_size is None and at < len(data)) or (
        vocab_size is not None and len(vocab) < vocab_size
    ):
        n = len(vocab)
        if at + 8 > len(data):
            need = f"{vocab_size} tokens" if vocab_size is not None else "a whole token"
            raise DeeployError(
                f"{where}: truncated at token {n}: the file ends at byte {len(data)}, "
                f"expected {need}"
            )
        score, length = struct.unpack_from("<fi", data, at)
        at += 8
        if length < 0 or at + length > len(data):
            raise DeeployError(
                f"{where}: token {n} claims {length} bytes but {len(data) - at} remain; "
                "is the file truncated?"
            )
        if not np.isfinite(score):
            raise DeeployError(f"{where}: token {n} has score {score}")
        vocab.append(data[at : at + length])
        scores.append(float(score))
        at += length
    if at != len(data):
        raise DeeployError(
            f"{where}: {len(data) - at} bytes follow the {len(vocab)} tokens the model's "
            "vocabulary needs; is it the tokenizer of this checkpoint?"
        )
    return Llama2cTokenizer(vocab, scores, max_len)
