"""The reply ledger's last step, ``published``, as a Redis key instead of a MongoDB insert.

``published`` only spares a redelivered, finished message the after-send steps: memory and
usage are keyed (repeating them adds nothing) and the outbound event has a deterministic id
(consumers take it twice without harm). So it need not be durable, and keeping it in Redis
takes one write off the end of every reply. Losing the key (Redis restarted, or older than
``ttl_s``) costs, for a message delivered again after that, one repeated ``message.outbound``
with the same event id — never a second reply, never a second count. Steps stored in MongoDB
by earlier versions are still honoured.
"""

import dataclasses
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from switchboard.ai.adapters.mongo_replies import MongoLedger
from switchboard.ai.errors import StoreUnavailable
from switchboard.ai.models import Reply, ReplyRecord, ReplyState


class RedisPublishedLedger:
    """:class:`~switchboard.ai.repository.ReplyLedger`: MongoDB's steps, ``published`` in Redis."""

    def __init__(self, ledger: MongoLedger, redis: "Redis", *, ttl_s: int, prefix: str) -> None:
        self._ledger = ledger
        self._redis = redis
        self._ttl_s = ttl_s
        self._prefix = prefix

    def _key(self, message_id: str) -> str:
        return f"{self._prefix}:{message_id}"

    async def _with_published(self, record: ReplyRecord | None) -> ReplyRecord | None:
        """Only a sent record needs the flag (read on redeliveries only)."""
        if record is None or record.state is not ReplyState.SENT or record.published:
            return record
        try:
            flagged = bool(await self._redis.exists(self._key(record.message_id)))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"reading the published flag failed: {exc!r}") from exc
        return dataclasses.replace(record, published=True) if flagged else record

    async def get(self, message_id: str) -> ReplyRecord | None:
        return await self._with_published(await self._ledger.get(message_id))

    async def claim(self, message_id: str, conversation: str, now: datetime) -> ReplyRecord | None:
        return await self._with_published(await self._ledger.claim(message_id, conversation, now))

    async def skip(self, message_id: str, reason: str, business_id: str | None) -> None:
        await self._ledger.skip(message_id, reason, business_id)

    async def store_reply(self, message_id: str, business_id: str, reply: Reply) -> ReplyRecord:
        return await self._ledger.store_reply(message_id, business_id, reply)

    async def begin_send(self, message_id: str) -> bool:
        return await self._ledger.begin_send(message_id)

    async def abort_send(self, message_id: str) -> None:
        await self._ledger.abort_send(message_id)

    async def mark_sent(self, message_id: str, provider_message_id: str, at: datetime) -> bool:
        return await self._ledger.mark_sent(message_id, provider_message_id, at)

    async def mark_published(self, message_id: str) -> None:
        try:
            await self._redis.set(self._key(message_id), b"1", ex=self._ttl_s)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"flagging a reply published failed: {exc!r}") from exc
