"""Conversation memory: every turn durable in MongoDB, the recent ones mirrored in Redis.

MongoDB keeps one document per turn (``_id`` = message id, so re-appending changes nothing)
and a marker per conversation, inserted in the same ``insert_many`` as the turns. Redis
keeps the last turns of each conversation as a list, so a reply reads its memory without a
query: FerretDB v1 scans a collection for every read, and a conversation's turns are a
filter on ``conversation`` (no pushdown: decoded and matched in Go). A
conversation missing from Redis but known to MongoDB (Redis restarted, key expired) is
rebuilt from MongoDB once.

What ``recent`` learnt about a conversation's marker (stored or not) is kept in a bounded LRU,
so the ``append`` that follows it knows whether to insert the marker without asking Redis.
"""

import json
from collections.abc import Sequence
from datetime import datetime

from cachetools import LRUCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from switchboard.ai.adapters.batching import Inserts
from switchboard.ai.adapters.mongo import Database
from switchboard.ai.adapters.mongo_replies import MongoConversations
from switchboard.ai.errors import StoreUnavailable
from switchboard.ai.models import StoredMessage


def _encode(m: StoredMessage) -> str:
    return json.dumps(
        {"id": m.id, "b": m.business_id, "r": m.role, "c": m.content, "at": m.at.isoformat()}
    )


def _decode(conversation: str, raw: bytes) -> StoredMessage:
    d = json.loads(raw)
    return StoredMessage(
        d["id"], conversation, d["b"], d["r"], d["c"], datetime.fromisoformat(d["at"])
    )


class ConversationMemory:
    """:class:`~switchboard.ai.repository.ConversationStore` over MongoDB + a Redis mirror."""

    def __init__(
        self,
        db: Database,
        redis: "Redis",
        *,
        keep: int,
        ttl_s: int,
        prefix: str = "switchboard:ai:memory",
        inserts: Inserts | None = None,
        marked_max_entries: int = 10_000,
    ) -> None:
        self._turns = MongoConversations(db, inserts=inserts)
        self._redis = redis
        self._keep = keep
        self._ttl_s = ttl_s
        self._prefix = prefix
        # Conversation → whether its MongoDB marker is stored (True is final; False may be
        # stale when another replica appended since: the marker insert then finds a duplicate).
        self._marked: LRUCache[str, bool] = LRUCache(marked_max_entries)

    def _key(self, conversation: str) -> str:
        return f"{self._prefix}:{conversation}"

    async def recent(self, conversation: str, limit: int) -> list[StoredMessage]:
        if limit <= 0:
            return []
        key = self._key(conversation)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.exists(key)
                pipe.lrange(key, -limit, -1)
                exists, raw = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"reading memory failed: {exc!r}") from exc
        if exists:
            self._marked[conversation] = True  # a Redis list implies the marker
            return [_decode(conversation, r) for r in raw]
        known = await self._turns.known(conversation)
        self._marked[conversation] = known
        if not known:
            return []  # a new conversation
        turns = await self._turns.recent(conversation, self._keep)
        await self._push(conversation, turns)
        return turns[-limit:]

    async def append(self, messages: Sequence[StoredMessage]) -> None:
        if not messages:
            return
        conversation = messages[0].conversation
        marked = self._marked.get(conversation)
        if marked is None:  # not read through this process lately
            try:
                # A Redis list means MongoDB has the marker already: the insert leaves it out.
                marked = bool(await self._redis.exists(self._key(conversation)))
            except (RedisError, OSError) as exc:
                raise StoreUnavailable(f"reading memory failed: {exc!r}") from exc
        new = await self._turns.insert_new(messages, mark=not marked)
        self._marked[conversation] = True
        await self._push(conversation, new)

    async def _push(self, conversation: str, turns: Sequence[StoredMessage]) -> None:
        if not turns:
            return
        key = self._key(conversation)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, *(_encode(t) for t in turns))
                pipe.ltrim(key, -self._keep, -1)
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"writing memory failed: {exc!r}") from exc
