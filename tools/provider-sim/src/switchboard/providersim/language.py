"""Deterministic stand-ins for a language model: replies, token counts, embeddings. No I/O.

Embeddings are a signed, hashed bag of words in a fixed dimension, L2-normalised: texts that
share words have a positive cosine similarity, unrelated texts are near zero.
"""

import base64
import hashlib
import re

import numpy as np
import numpy.typing as npt

TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
WORD_RE = re.compile(r"\w+", re.UNICODE)
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3
MAX_ECHO_CHARS = 200


def count_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer gives for English: words and punctuation marks."""
    return len(TOKEN_RE.findall(text))


def prompt_tokens(messages: list[dict[str, object]]) -> int:
    """Tokens of a chat prompt, with the per-message overhead OpenAI bills."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + count_tokens(message_text(message))
    return total


def message_text(message: dict[str, object]) -> str:
    """The text of a chat message (string content or the text parts of a list)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def reply_for(messages: list[dict[str, object]], max_tokens: int | None = None) -> str:
    """A reply that depends only on the prompt: a digest tag and an echo of the last user turn."""
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    last = users[-1] if users else ""
    digest = hashlib.sha256(repr(messages).encode()).hexdigest()[:8]
    echo = " ".join(last.split())[:MAX_ECHO_CHARS]
    text = f"[sim {digest}] You said: {echo}" if echo else f"[sim {digest}] Hello!"
    if max_tokens is not None:
        text = " ".join(TOKEN_RE.findall(text)[: max(1, max_tokens)])
    return text


def embed(text: str, dim: int) -> npt.NDArray[np.float32]:
    """A unit vector: each lower-cased word adds ±1 at a hashed position."""
    vector = np.zeros(dim, dtype=np.float32)
    for word in WORD_RE.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vector[value % dim] += 1.0 if (value >> 63) & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return vector / np.float32(norm)


def encode_base64(vector: npt.NDArray[np.float32]) -> str:
    """OpenAI's ``encoding_format=base64``: little-endian float32 bytes."""
    return base64.b64encode(vector.astype("<f4").tobytes()).decode()
