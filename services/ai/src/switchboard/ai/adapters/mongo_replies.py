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

from switchboard.ai.adapters.batching import Inserts
from switchboard.ai.adapters.mongo import (
    MESSAGES,
    MONGO_ERRORS,
    REPLIES,
    USAGE,
    Database,
    Doc,
)
from switchboard.ai.models import (
    Business,
    Reply,
    ReplyRecord,
    ReplyState,
    StoredMessage,
    Template,
)
from switchboard.common.errors import translated

STEPS: Final = ("claimed", "reply", "send", "sent", "published", "skipped")


def _reply_to_doc(r: Reply) -> Doc:
    return {
        "text": r.text,
        "model": r.model,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cost_usd": r.cost_usd,
        "fallback": r.fallback,
        "template": template_to_doc(r.template),
    }


def template_to_doc(t: Template | None) -> Doc | None:
    if t is None:
        return None
    return {"name": t.name, "language": t.language, "parameters": list(t.parameters)}


def template_from_doc(doc: Doc | None) -> Template | None:
    if not doc:
        return None
    return Template(doc["name"], doc["language"], tuple(doc.get("parameters") or ()))


def _reply_from_doc(doc: Doc) -> Reply:
    values = dict(doc)
    values["template"] = template_from_doc(values.get("template"))
    return Reply(**values)


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
        reply=_reply_from_doc(reply["reply"]) if reply else None,
        business_id=(reply or steps.get("skipped") or {}).get("business_id"),
        provider_message_id=sent.get("provider_message_id"),
        sent_at=sent.get("sent_at"),
        published="published" in steps,
        reason=steps.get("skipped", {}).get("reason"),
    )


class MongoLedger:
    """``replies``: the steps of each inbound message, taken by unique inserts."""

    def __init__(self, db: Database, *, inserts: Inserts | None = None) -> None:
        self._c = db[REPLIES]
        self._inserts = (inserts or Inserts(db)).into(REPLIES)

    async def _take(self, message_id: str, step: str, **fields: Any) -> bool:
        """Insert the step; False when it already existed (someone else took it)."""
        [taken] = await self._inserts.insert(
            [{"_id": f"{message_id}|{step}", **fields}], f"ledger step {step}"
        )
        return taken

    async def get(self, message_id: str) -> ReplyRecord | None:
        # One find_one by _id per step, concurrently: FerretDB v1 hands ``_id`` equality to
        # SQLite (a scan, but in C) and decodes every document in Go for ``$in``.
        with translated("reading the ledger", MONGO_ERRORS):
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
        if await self._take(
            message_id, "reply", business_id=business_id, reply=_reply_to_doc(reply)
        ):
            # This insert took the step: no other reply exists, and no send can have begun
            # (a send needs a stored reply), so nothing needs reading back.
            return ReplyRecord(
                message_id, ReplyState.MODEL_DONE, reply=reply, business_id=business_id
            )
        record = await self.get(message_id)  # another attempt stored first: its reply wins
        assert record is not None
        return record

    async def begin_send(self, message_id: str) -> bool:
        return await self._take(message_id, "send")

    async def abort_send(self, message_id: str) -> None:
        with translated("releasing the send step", MONGO_ERRORS):
            await self._c.delete_one({"_id": f"{message_id}|send"})

    async def mark_sent(self, message_id: str, provider_message_id: str, at: datetime) -> bool:
        return await self._take(
            message_id, "sent", provider_message_id=provider_message_id, sent_at=at
        )

    async def mark_published(self, message_id: str) -> None:
        await self._take(message_id, "published")


def conversation_marker(conversation: str) -> str:
    """``_id`` of the document saying a conversation has turns stored (no ``conversation`` field,
    so turn queries never see it)."""
    return f"conversation:{conversation}"


class MongoConversations:
    """``conversation_messages``: one document per turn, ``_id`` = message id, plus one marker
    per conversation written in the same ``insert_many`` as its first turns."""

    def __init__(self, db: Database, *, inserts: Inserts | None = None) -> None:
        self._c = db[MESSAGES]
        self._inserts = (inserts or Inserts(db)).into(MESSAGES)

    async def known(self, conversation: str) -> bool:
        """Whether turns of ``conversation`` were stored (an ``_id`` lookup of its marker)."""
        with translated("looking up a conversation", MONGO_ERRORS):
            found = await self._c.find_one({"_id": conversation_marker(conversation)}, {"_id": 1})
        return found is not None

    async def recent(self, conversation: str, limit: int) -> list[StoredMessage]:
        if limit <= 0:
            return []
        with translated("reading a conversation", MONGO_ERRORS):
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

    async def insert_new(
        self, messages: Sequence[StoredMessage], *, mark: bool = True
    ) -> list[StoredMessage]:
        """Insert the turns (and, with ``mark``, the conversation's marker) in one round trip;
        returns the turns not stored before (a redelivery adds nothing)."""
        if not messages:
            return []
        docs: list[Doc] = [
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
        if mark:  # first: no turn is stored without its conversation's marker
            first = messages[0]
            marker = {
                "_id": conversation_marker(first.conversation),
                "business_id": first.business_id,
                "marker": True,
            }
            docs.insert(0, marker)
        inserted = await self._inserts.insert(docs, "appending to a conversation")
        if mark:
            inserted = inserted[1:]
        return [m for m, new in zip(messages, inserted, strict=True) if new]


USAGE_FIELDS: Final = ("prompt_tokens", "completion_tokens", "replies", "fallbacks", "cost_usd")


def month_marker(business_id: str, month: str) -> str:
    """``_id`` of the document saying a business has usage rows in ``month`` (``YYYY-MM``)."""
    return f"month:{business_id}:{month}"


class MongoUsage:
    """``usage_events``: a row per counted reply (``_id`` = inbound message id), summed on read.

    Beside the rows, a marker per business and month (no ``tenant``/``business_id`` fields, so
    no sum sees it), inserted in the same ``insert_many`` as the month's first row. The month's
    running spend lives in Redis (:class:`~switchboard.ai.adapters.redis_spend.RedisSpend`);
    rebuilding it costs an ``_id`` lookup for a month without usage (the common case: the
    business's first reply of the month) and a sum of the rows only when the marker exists.
    """

    def __init__(self, db: Database, *, inserts: Inserts | None = None) -> None:
        self._c = db[USAGE]
        self._inserts = (inserts or Inserts(db)).into(USAGE)

    async def add(
        self, business: Business, day: date, reply: Reply, *, counted_key: str, mark: bool = True
    ) -> bool:
        """Count ``reply`` once per ``counted_key``; False when it was counted before.

        With ``mark``, the month's marker goes first in the same round trip (a duplicate marker
        is expected and ignored), so no row of a month is ever stored without its marker.
        """
        month = day.isoformat()[:7]
        row = {
            "_id": counted_key,
            "tenant": business.tenant,
            "business_id": business.id,
            "day": day.isoformat(),
            "month": month,
            "model": reply.model,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "replies": 1,
            "fallbacks": 1 if reply.fallback else 0,
            "cost_usd": reply.cost_usd,
        }
        docs: list[Doc] = (
            [{"_id": month_marker(business.id, month), "marker": True}] if mark else []
        )
        docs.append(row)
        *_, counted = await self._inserts.insert(docs, "counting usage")
        return counted  # False: a redelivery, already counted

    async def month_known(self, business_id: str, month: str) -> bool:
        """Whether ``month`` has usage rows for the business (an ``_id`` lookup)."""
        with translated("reading spend", MONGO_ERRORS):
            found = await self._c.find_one({"_id": month_marker(business_id, month)}, {"_id": 1})
        return found is not None

    async def _sum(self, match: Doc, group: Any, field: str) -> dict[Any, float]:
        # One accumulator per $group: FerretDB v1 computes only the first one.
        pipeline = [{"$match": match}, {"$group": {"_id": group, "v": {"$sum": f"${field}"}}}]
        with translated("summing usage", MONGO_ERRORS):
            cursor = await self._c.aggregate(pipeline)
            rows = await cursor.to_list(None)
        return {_key(r["_id"]): r["v"] for r in rows}

    async def month_cost(self, business_id: str, month: str) -> float:
        """The month's spend summed from the rows: exact on both servers (no ``$inc`` to lose
        increments). Indexed on MongoDB, a scan on FerretDB: skipped for a month without a
        marker, and cached by RedisSpend."""
        if not await self.month_known(business_id, month):
            return 0.0
        sums = await self._sum({"business_id": business_id, "month": month}, None, "cost_usd")
        return float(sums.get(None, 0.0))

    async def tenant_day_cost(self, tenant: str, day: str) -> float:
        """The day's spend of all the tenant's businesses, summed from the rows (cached by
        RedisSpend: summed once per tenant and day, and again only after losing Redis)."""
        sums = await self._sum({"tenant": tenant, "day": day}, None, "cost_usd")
        return float(sums.get(None, 0.0))

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
