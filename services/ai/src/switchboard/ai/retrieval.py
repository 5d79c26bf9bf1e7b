"""Top-k knowledge chunks by cosine similarity, computed here with NumPy over cached vectors."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cachetools import TTLCache

from switchboard.ai.models import KnowledgeChunk, RetrievedChunk
from switchboard.ai.repository import Embedder, KnowledgeIndex


@dataclass(frozen=True, slots=True)
class KnowledgeMatrix:
    """A business's embedded chunks at one version, rows normalised for cosine scores."""

    version: str
    chunks: tuple[KnowledgeChunk, ...]
    unit: npt.NDArray[np.float32]  # rows normalised to length 1


def top_k(unit: npt.NDArray[np.float32], query: Sequence[float], k: int) -> list[tuple[int, float]]:
    """Indices and cosine scores of the ``k`` rows of ``unit`` closest to ``query``, best first."""
    if unit.shape[0] == 0 or k <= 0:
        return []
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if norm == 0.0:
        return []
    scores = unit @ (q / norm)
    k = min(k, scores.shape[0])
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]


def normalise(vectors: Sequence[Sequence[float]]) -> npt.NDArray[np.float32]:
    m = np.asarray(vectors, dtype=np.float32)
    if m.size == 0:
        return np.zeros((0, 0), dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: npt.NDArray[np.float32] = (m / norms).astype(np.float32)
    return unit


class Retriever:
    """Keeps each business's vectors in memory (TTL + LRU, refreshed when its version moves)."""

    def __init__(
        self,
        index: KnowledgeIndex,
        embedder: Embedder,
        *,
        k: int,
        min_score: float,
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._index = index
        self._embedder = embedder
        self._k = k
        self._min_score = min_score
        self._cache: TTLCache[str, KnowledgeMatrix] = TTLCache(max_entries, ttl_s, timer=clock)

    async def load(self, business_id: str) -> KnowledgeMatrix:
        """The business's vectors (no embedding call): cached while its version is unchanged."""
        version = await self._index.version(business_id)
        cached = self._cache.get(business_id)
        if cached is not None and cached.version == version:
            return cached
        # No version: no document was ever made ready, so no chunk query (a scan on FerretDB).
        found = await self._index.chunks(business_id) if version else []
        chunks = tuple(c for c in found if c.vector)
        matrix = KnowledgeMatrix(version, chunks, normalise([c.vector for c in chunks]))
        self._cache[business_id] = matrix
        return matrix

    async def retrieve(self, business_id: str, text: str) -> list[RetrievedChunk]:
        """The best chunks for ``text``; none (and no embedding call) without knowledge."""
        return await self.search(await self.load(business_id), text)

    async def search(self, matrix: KnowledgeMatrix, text: str) -> list[RetrievedChunk]:
        """The best chunks of a loaded ``matrix`` for ``text`` (embeds ``text`` if it has any)."""
        if not matrix.chunks or not text.strip():
            return []
        [query] = await self._embedder.embed([text])
        return [
            RetrievedChunk(matrix.chunks[i], score)
            for i, score in top_k(matrix.unit, query, self._k)
            if score >= self._min_score
        ]
