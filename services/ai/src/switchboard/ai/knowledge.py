"""The embedding job: split changed documents into chunks and embed only what is new."""

import asyncio
from dataclasses import dataclass

import structlog

from switchboard.ai.adapters.mongo_knowledge import KnowledgeDocument, MongoKnowledge
from switchboard.ai.metrics import EMBEDDED
from switchboard.ai.models import KnowledgeChunk, content_hash, split_chunks
from switchboard.ai.repository import Embedder
from switchboard.ai.settings import KnowledgeSettings
from switchboard.common.errors import SwitchboardError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EmbeddingJob:
    store: MongoKnowledge
    embedder: Embedder
    settings: KnowledgeSettings
    model: str
    batch: int = 64

    async def run_once(self) -> int:
        """Embed every pending document; returns how many chunks were sent to the embedder."""
        embedded = 0
        for doc in await self.store.pending():
            embedded += await self.embed_document(doc)
        return embedded

    async def embed_document(self, doc: KnowledgeDocument) -> int:
        texts = split_chunks(doc.content, self.settings.chunk_chars, self.settings.chunk_overlap)
        by_hash: dict[str, tuple[int, str]] = {}
        for position, text in enumerate(texts):
            by_hash.setdefault(content_hash(text, self.model), (position, text))
        have = await self.store.doc_chunk_hashes(doc.business_id, doc.doc_id)
        wanted = [h for h in by_hash if h not in have]
        known = await self.store.vectors_by_hash(doc.business_id, wanted)
        missing = [h for h in wanted if h not in known]
        for start in range(0, len(missing), self.batch):
            part = missing[start : start + self.batch]
            vectors = await self.embedder.embed([by_hash[h][1] for h in part])
            known.update(zip(part, vectors, strict=True))
        EMBEDDED.inc(len(missing))
        add = [
            KnowledgeChunk(doc.doc_id, doc.title, by_hash[h][0], by_hash[h][1], h, tuple(known[h]))
            for h in wanted
        ]
        await self.store.replace_chunks(doc, add, have - by_hash.keys())
        await self.store.mark_ready(doc, len(by_hash))
        log.info(
            "document embedded",
            business_id=doc.business_id,
            doc_id=doc.doc_id,
            chunks=len(by_hash),
            embedded=len(missing),
        )
        return len(missing)

    async def run_forever(self) -> None:
        """Poll for pending documents every ``poll_interval_s``. A round failing with one of
        our errors (MongoDB or the embedder away) is logged and retried at the next poll;
        anything else (a bug) ends the loop, for its supervisor to restart and report."""
        while True:
            try:
                await self.run_once()
            except SwitchboardError as exc:
                log.warning("embedding job failed; will retry", error=str(exc))
            await asyncio.sleep(self.settings.poll_interval_s)
