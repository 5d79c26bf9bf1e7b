"""The reply ledger, conversation memory and usage in MongoDB: insert-only, unique ``_id``s.

Ledger: each step of a message is a document ``{message_id}|{step}`` in ``replies``; a step is
taken by inserting it, so of two concurrent attempts exactly one gets it (a duplicate key tells
the other). The message's state is the furthest step present:

    claimed → reply (model_done) → send (sending) → sent; or skipped
"""

import asyncio
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

from pymongo import DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from switchboard.ai.adapters.mongo import (
    MESSAGES,
    REPLIES,
    USAGE,
    USAGE_MONTHS,
    Database,
    Doc,
    translated,
)
from switchboard.ai.models import Business, Reply, ReplyRecord, ReplyState, StoredMessage

STEPS: Final = ("claimed", "reply", "send", "sent", "published", "skipped")
_DUPLICATE: Final = 11000


def _reply_to_doc(r: Reply) -> Doc:
    return {
        "text": r.text,
        "model": r.model,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cost_usd": r.cost_usd,
        "fallback": r.fallback,
    }


def _record(message_id: str, steps: dict[str, Doc]) -> ReplyRecord | None:
    if not steps:
        return None
    if "sent" in steps:
        state = ReplyState.SENT
    elif "send" in steps:
        state = ReplyState.SENDING
    elif "skipped" in steps:
        state = ReplyState.SKIPPED
    elif "reply" in steps:
        state = ReplyState.MODEL_DONE
    else:
        state = ReplyState.CLAIMED
    reply = steps.get("reply")
    sent = steps.get("sent", {})
    return ReplyRecord(
        message_id=message_id,
        state=state,
        reply=Reply(**reply["reply"]) if reply else None,
        business_id=(reply or steps.get("skipped") or {}).get("business_id"),
        provider_message_id=sent.get("provider_message_id"),
        sent_at=sent.get("sent_at"),
        published="published" in steps,
        reason=steps.get("skipped", {}).get("reason"),
    )


class MongoLedger:
    """``replies``: the steps of each inbound message, taken by unique inserts."""

    def __init__(self, db: Database) -> None:
        self._c = db[REPLIES]

    async def _take(self, message_id: str, step: str, **fields: Any) -> bool:
        """Insert the step; False when it already existed (someone else took it)."""
        with translated(f"ledger step {step}"):
            try:
                await self._c.insert_one({"_id": f"{message_id}|{step}", **fields})
            except DuplicateKeyError:
                return False
        return True

    async def get(self, message_id: str) -> ReplyRecord | None:
        # One find_one by _id per step, concurrently: FerretDB v1 answers ``_id`` equality
        # from its primary key but scans the whole collection for ``$in``.
        with translated("reading the ledger"):
            docs = await asyncio.gather(
                *(self._c.find_one({"_id": f"{message_id}|{s}"}) for s in STEPS)
            )
        return _record(message_id, {s: d for s, d in zip(STEPS, docs, strict=True) if d})

    async def claim(self, message_id: str, conversation: str, now: datetime) -> ReplyRecord | None:
        if await self._take(message_id, "claimed", conversation=conversation, at=now):
            return None
        return await self.get(message_id)

    async def skip(self, message_id: str, reason: str, business_id: str | None) -> None:
        await self._take(message_id, "skipped", reason=reason, business_id=business_id)

    async def store_reply(self, message_id: str, business_id: str, reply: Reply) -> ReplyRecord:
        await self._take(message_id, "reply", business_id=business_id, reply=_reply_to_doc(reply))
        record = await self.get(message_id)  # the first stored reply wins
        assert record is not None
        return record

    async def begin_send(self, message_id: str) -> bool:
        return await self._take(message_id, "send")

    async def abort_send(self, message_id: str) -> None:
        with translated("releasing the send step"):
            await self._c.delete_one({"_id": f"{message_id}|send"})

    async def mark_sent(self, message_id: str, provider_message_id: str, at: datetime) -> bool:
        return await self._take(
            message_id, "sent", provider_message_id=provider_message_id, sent_at=at
        )

    async def mark_published(self, message_id: str) -> None:
        await self._take(message_id, "published")


class MongoConversations:
    """``conversation_messages``: one document per turn, ``_id`` = message id."""

    def __init__(self, db: Database) -> None:
        self._c = db[MESSAGES]

    async def recent(self, conversation: str, limit: int) -> list[StoredMessage]:
        if limit <= 0:
            return []
        with translated("reading a conversation"):
            docs = (
                await self._c.find({"conversation": conversation})
                .sort([("at", DESCENDING), ("seq", DESCENDING)])
                .limit(limit)
                .to_list(None)
            )
        return [
            StoredMessage(
                d["_id"], d["conversation"], d["business_id"], d["role"], d["content"], d["at"]
            )
            for d in reversed(docs)
        ]

    async def append(self, messages: Sequence[StoredMessage]) -> None:
        await self.insert_new(messages)

    async def insert_new(self, messages: Sequence[StoredMessage]) -> list[StoredMessage]:
        """Insert the turns; returns those not stored before (a redelivery adds nothing)."""
        docs = [
            {
                "_id": m.id,
                "conversation": m.conversation,
                "business_id": m.business_id,
                "role": m.role,
                "content": m.content,
                "at": m.at,
                "seq": i,  # a question and its answer may share a timestamp
            }
            for i, m in enumerate(messages)
        ]
        duplicates: set[int] = set()
        with translated("appending to a conversation"):
            try:
                await self._c.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != _DUPLICATE for e in errors):
                    raise
                duplicates = {int(e["index"]) for e in errors}
        return [m for i, m in enumerate(messages) if i not in duplicates]


USAGE_FIELDS: Final = ("prompt_tokens", "completion_tokens", "replies", "fallbacks", "cost_usd")


class MongoUsage:
    """``usage_events``: a row per counted reply (``_id`` = inbound message id), summed on read."""

    def __init__(self, db: Database) -> None:
        self._c = db[USAGE]
        self._months = db[USAGE_MONTHS]

    async def add(self, business: Business, day: date, reply: Reply, *, counted_key: str) -> bool:
        """Count ``reply`` once per ``counted_key``; False when it was counted before."""
        with translated("counting usage"):
            try:
                await self._c.insert_one(
                    {
                        "_id": counted_key,
                        "tenant": business.tenant,
                        "business_id": business.id,
                        "day": day.isoformat(),
                        "month": day.isoformat()[:7],
                        "model": reply.model,
                        "prompt_tokens": reply.prompt_tokens,
                        "completion_tokens": reply.completion_tokens,
                        "replies": 1,
                        "fallbacks": 1 if reply.fallback else 0,
                        "cost_usd": reply.cost_usd,
                    }
                )
            except DuplicateKeyError:
                return False  # a redelivery: already counted
            # The month's spend as one document read by _id (no scan on any server). $inc is
            # atomic on MongoDB; FerretDB v1 may lose concurrent increments (local only), the
            # rows above stay exact either way.
            await self._months.update_one(
                {"_id": f"{business.id}:{day.isoformat()[:7]}"},
                {"$inc": {"cost_usd": reply.cost_usd, "replies": 1}},
                upsert=True,
            )
        return True

    async def _sum(self, match: Doc, group: Any, field: str) -> dict[Any, float]:
        # One accumulator per $group: FerretDB v1 computes only the first one.
        pipeline = [{"$match": match}, {"$group": {"_id": group, "v": {"$sum": f"${field}"}}}]
        with translated("summing usage"):
            cursor = await self._c.aggregate(pipeline)
            rows = await cursor.to_list(None)
        return {_key(r["_id"]): r["v"] for r in rows}

    async def month_cost(self, business_id: str, month: str) -> float:
        with translated("reading spend"):
            doc = await self._months.find_one({"_id": f"{business_id}:{month}"})
        return float(doc["cost_usd"]) if doc else 0.0

    async def daily(
        self, tenant: str, business_id: str | None, start: str | None, end: str | None
    ) -> list[Doc]:
        """One row per business and day with the summed counters, ordered by day."""
        match: dict[str, Any] = {"tenant": tenant}
        if business_id:
            match["business_id"] = business_id
        if start or end:
            match["day"] = {k: v for k, v in (("$gte", start), ("$lte", end)) if v}
        group = {"business_id": "$business_id", "day": "$day"}
        rows: dict[tuple[str, str], Doc] = {}
        for field in USAGE_FIELDS:
            for key, value in (await self._sum(match, group, field)).items():
                rows.setdefault(key, {"business_id": key[0], "day": key[1]})[field] = value
        return [rows[k] for k in sorted(rows, key=lambda k: (k[1], k[0]))]


def _key(group_id: Any) -> Any:
    if isinstance(group_id, dict):
        return (group_id["business_id"], group_id["day"])
    return group_id
