"""Knowledge documents and their embedded chunks in MongoDB."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from switchboard.ai.adapters.mongo import (
    CHUNKS,
    DOCUMENTS,
    KNOWLEDGE_VERSIONS,
    MONGO_ERRORS,
    Database,
    Doc,
)
from switchboard.ai.models import KnowledgeChunk
from switchboard.common.errors import translated


@dataclass(frozen=True, slots=True)
class KnowledgeDocument:
    business_id: str
    tenant: str
    doc_id: str
    title: str
    content: str
    content_hash: str
    status: str
    updated_at: datetime
    chunks: int = 0


def _document(d: Doc) -> KnowledgeDocument:
    return KnowledgeDocument(
        business_id=d["business_id"],
        tenant=d["tenant"],
        doc_id=d["doc_id"],
        title=d["title"],
        content=d["content"],
        content_hash=d["content_hash"],
        status=d["status"],
        updated_at=d["updated_at"],
        chunks=int(d.get("chunks", 0)),
    )


def _chunk(d: Doc) -> KnowledgeChunk:
    return KnowledgeChunk(
        doc_id=d["doc_id"],
        title=d["title"],
        position=d["position"],
        text=d["text"],
        hash=d["hash"],
        vector=tuple(d.get("vector") or ()),
    )


class MongoKnowledge:
    """Documents (``pending`` until the job embedded them, then ``ready``) and chunks."""

    def __init__(self, db: Database) -> None:
        self._docs = db[DOCUMENTS]
        self._chunks = db[CHUNKS]
        self._versions = db[KNOWLEDGE_VERSIONS]

    async def put_document(
        self,
        tenant: str,
        business_id: str,
        doc_id: str,
        title: str,
        content: str,
        content_hash: str,
        now: datetime,
    ) -> KnowledgeDocument:
        """Create or replace; an unchanged content keeps its state (nothing to re-embed)."""
        key = f"{business_id}:{doc_id}"
        with translated("storing a document", MONGO_ERRORS):
            current = await self._docs.find_one({"_id": key})
            if current and current["content_hash"] == content_hash and current["title"] == title:
                return _document(current)
            after = await self._docs.find_one_and_update(
                {"_id": key},
                {
                    "$set": {
                        "tenant": tenant,
                        "business_id": business_id,
                        "doc_id": doc_id,
                        "title": title,
                        "content": content,
                        "content_hash": content_hash,
                        "status": "pending",
                        "updated_at": now,
                    }
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        assert after is not None
        return _document(after)

    async def documents(self, tenant: str, business_id: str) -> list[KnowledgeDocument]:
        with translated("listing documents", MONGO_ERRORS):
            docs = (
                await self._docs.find({"tenant": tenant, "business_id": business_id})
                .sort("doc_id")
                .to_list(None)
            )
        return [_document(d) for d in docs]

    async def delete_document(self, tenant: str, business_id: str, doc_id: str) -> bool:
        with translated("deleting a document", MONGO_ERRORS):
            result = await self._docs.delete_one(
                {"_id": f"{business_id}:{doc_id}", "tenant": tenant}
            )
            if result.deleted_count:
                await self._chunks.delete_many({"business_id": business_id, "doc_id": doc_id})
                await self._bump(business_id)
        return bool(result.deleted_count)

    async def delete_business(self, business_id: str) -> None:
        with translated("deleting knowledge", MONGO_ERRORS):
            await self._docs.delete_many({"business_id": business_id})
            await self._chunks.delete_many({"business_id": business_id})

    async def pending(self, limit: int = 50) -> list[KnowledgeDocument]:
        with translated("finding pending documents", MONGO_ERRORS):
            docs = await self._docs.find({"status": "pending"}).limit(limit).to_list(None)
        return [_document(d) for d in docs]

    async def vectors_by_hash(
        self, business_id: str, hashes: Iterable[str]
    ) -> dict[str, list[float]]:
        """Vectors already embedded for any of ``hashes`` in this business."""
        with translated("reading vectors", MONGO_ERRORS):
            docs = await self._chunks.find(
                {"business_id": business_id, "hash": {"$in": list(hashes)}},
                {"hash": 1, "vector": 1},
            ).to_list(None)
        return {d["hash"]: d["vector"] for d in docs}

    async def doc_chunk_hashes(self, business_id: str, doc_id: str) -> set[str]:
        with translated("reading chunks", MONGO_ERRORS):
            docs = await self._chunks.find(
                {"business_id": business_id, "doc_id": doc_id}, {"hash": 1}
            ).to_list(None)
        return {d["hash"] for d in docs}

    async def replace_chunks(
        self, doc: KnowledgeDocument, add: Sequence[KnowledgeChunk], remove: Iterable[str]
    ) -> None:
        """Insert ``add`` and delete this document's chunks with a hash in ``remove``."""
        rows: list[dict[str, Any]] = [
            {
                "business_id": doc.business_id,
                "doc_id": doc.doc_id,
                "title": c.title,
                "position": c.position,
                "text": c.text,
                "hash": c.hash,
                "vector": list(c.vector),
            }
            for c in add
        ]
        with translated("writing chunks", MONGO_ERRORS):
            if rows:
                try:
                    await self._chunks.insert_many(rows, ordered=False)
                except BulkWriteError as exc:
                    if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                        raise
            gone = list(remove)
            if gone:
                await self._chunks.delete_many(
                    {"business_id": doc.business_id, "doc_id": doc.doc_id, "hash": {"$in": gone}}
                )

    async def mark_ready(self, doc: KnowledgeDocument, chunks: int) -> bool:
        """Ready unless the content changed meanwhile (then the job sees it pending again)."""
        with translated("marking a document ready", MONGO_ERRORS):
            result = await self._docs.update_one(
                {"_id": f"{doc.business_id}:{doc.doc_id}", "content_hash": doc.content_hash},
                {"$set": {"status": "ready", "chunks": chunks}},
            )
            await self._bump(doc.business_id)
        return result.modified_count == 1

    async def _bump(self, business_id: str) -> None:
        await self._versions.update_one({"_id": business_id}, {"$inc": {"version": 1}}, upsert=True)

    async def version(self, business_id: str) -> str:
        with translated("reading the knowledge version", MONGO_ERRORS):
            doc = await self._versions.find_one({"_id": business_id})
        return str(doc["version"]) if doc else ""

    async def chunks(self, business_id: str) -> list[KnowledgeChunk]:
        with translated("reading chunks", MONGO_ERRORS):
            docs = await self._chunks.find({"business_id": business_id}).to_list(None)
        return [_chunk(d) for d in docs]
