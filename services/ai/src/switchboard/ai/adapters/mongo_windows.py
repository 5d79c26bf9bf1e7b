"""WhatsApp's customer-service window per conversation in MongoDB (FerretDB v1 and MongoDB 7).

``service_windows``: one document per conversation, ``_id`` = the conversation key,
``last_inbound_at`` = the latest customer message time known. Read by ``_id`` only, and only
for a message handled more than ~24 h after it was written (a backlog, a dead-letter replay):
a fresh message opens the window itself, so the hot path never reads this collection.

Written with ``$max`` (upsert), the one write on the reply path that is not an insert: the
value only moves forward, so the two things FerretDB v1 gets wrong are harmless here — a
conditional update that is not atomic under concurrency (one conversation is handled by one
consumer; during a rebalance the lost write is an *earlier* time, so the window looks shorter
and a template goes out where free text was allowed, never the reverse), and an upsert race
(the loser's duplicate key is retried as a plain update). No transactions, no TTL.

A process writes a conversation at most once per ``every_s`` (it remembers what it wrote, in
a bounded LRU): the stored time lags by less than that, which again only shortens the window.
"""

from datetime import datetime, timedelta
from typing import Final

from cachetools import LRUCache
from pymongo.errors import DuplicateKeyError

from switchboard.ai.adapters.mongo import MONGO_ERRORS, Database
from switchboard.common.errors import translated

SERVICE_WINDOWS: Final = "service_windows"


class MongoWindows:
    """:class:`~switchboard.ai.repository.ServiceWindows` over ``service_windows``."""

    def __init__(self, db: Database, *, every_s: float = 60.0, max_entries: int = 10_000) -> None:
        self._c = db[SERVICE_WINDOWS]
        self._every = timedelta(seconds=every_s)
        self._written: LRUCache[str, datetime] = LRUCache(max_entries)

    async def last_inbound(self, conversation: str) -> datetime | None:
        with translated("reading a service window", MONGO_ERRORS):
            doc = await self._c.find_one({"_id": conversation})
        at = doc.get("last_inbound_at") if doc else None
        return at if isinstance(at, datetime) else None

    async def record(self, conversation: str, at: datetime) -> None:
        written = self._written.get(conversation)
        if written is not None and at <= written + self._every:
            return
        update = {"$max": {"last_inbound_at": at}}
        with translated("recording a service window", MONGO_ERRORS):
            try:
                await self._c.update_one({"_id": conversation}, update, upsert=True)
            except DuplicateKeyError:  # another writer inserted it first: now it exists
                await self._c.update_one({"_id": conversation}, update)
        self._written[conversation] = max(at, written) if written is not None else at
