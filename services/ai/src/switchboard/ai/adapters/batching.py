"""Group commit for inserts: concurrent inserts into one collection share one ``insert_many``.

Every step of the reply path is an insert keyed by ``_id`` (the one write both FerretDB v1 and
MongoDB make atomic), and messages of different conversations run concurrently, so at any time
several small inserts wait for the same collection. Sending them as one unordered
``insert_many`` keeps each document's outcome separate (a duplicate ``_id`` fails only that
document, exactly as ``insert_one`` would: of two inserts of one ``_id`` exactly one wins)
while the server commits once: on FerretDB v1 (SQLite, one writer at a time) that is one
transaction instead of one per document, on MongoDB fewer round trips. A lone insert goes out
at once, so an idle service pays no extra latency.

The batchers of one database share a ``gate`` (:class:`Inserts` hands them out, one per
collection): one ``insert_many`` is in flight per database, not per collection. SQLite locks
the whole database file for a write, and a second writer does not queue: it sleeps in SQLite's
busy handler (1, 2, 5, 10 … ms) and tries again. Waiting on the gate instead costs nothing, and
whatever arrives meanwhile joins the next batch (bigger group commits). On MongoDB it only
orders the round trips of one process; each carries whatever queued meanwhile.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from switchboard.ai.adapters.mongo import Database, Doc
from switchboard.ai.errors import StoreUnavailable

DUPLICATE_KEY: Final = 11000


class WriteGate(asyncio.Lock):
    """Shared by the batchers of one database: one ``insert_many`` in flight among them."""


class InsertBatcher:
    """``insert(docs)`` → per document True (inserted) or False (its ``_id`` existed).

    One ``insert_many`` per collection (per ``gate``, when given) in flight at a time;
    whatever arrives meanwhile goes into the next one (at most ``max_docs`` documents each).
    """

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        *,
        max_docs: int = 500,
        gate: WriteGate | None = None,
    ) -> None:
        self._c = collection
        self._max_docs = max_docs
        self._gate = gate
        self._queue: list[tuple[list[Doc], asyncio.Future[list[bool]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, docs: Sequence[Doc], action: str) -> list[bool]:
        """Insert ``docs`` (in order); raises StoreUnavailable if any failed otherwise."""
        if not docs:
            return []
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._queue.append((list(docs), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        try:
            return await future
        except StoreUnavailable as exc:
            raise StoreUnavailable(f"{action} failed: {exc}") from exc

    async def _flush(self) -> None:
        try:
            # One turn of the event loop first: inserts started together with this one (the
            # steps of one message gathered, other messages' tasks) join its round trip.
            await asyncio.sleep(0)
            while self._queue:
                async with self._gate or contextlib.nullcontext():
                    # Taken only now: what arrived while waiting for the gate goes along.
                    await self._write(self._take())
        except BaseException as exc:  # cancelled while waiting: no caller may wait forever
            waiting, self._queue = self._queue, []
            self._settle(waiting, StoreUnavailable(repr(exc)))
            raise

    def _take(self) -> list[tuple[list[Doc], asyncio.Future[list[bool]]]]:
        batch: list[tuple[list[Doc], asyncio.Future[list[bool]]]] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0][0]) <= self._max_docs):
            entry = self._queue.pop(0)
            batch.append(entry)
            size += len(entry[0])
        return batch

    async def _write(self, batch: list[tuple[list[Doc], asyncio.Future[list[bool]]]]) -> None:
        docs = [d for entry_docs, _ in batch for d in entry_docs]
        errors: dict[int, Any] = {}
        failure: BaseException | None = None
        try:
            await self._c.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = {int(e["index"]): e for e in exc.details.get("writeErrors", [])}
        except PyMongoError as exc:
            failure = StoreUnavailable(repr(exc))
        except BaseException as exc:  # cancelled or a bug: no caller may wait forever
            failure = StoreUnavailable(repr(exc))
            self._settle(batch, failure)
            raise
        self._settle(batch, failure, errors)

    @staticmethod
    def _settle(
        batch: list[tuple[list[Doc], asyncio.Future[list[bool]]]],
        failure: BaseException | None,
        errors: dict[int, Any] | None = None,
    ) -> None:
        errors = errors or {}
        start = 0
        for entry_docs, future in batch:
            indexes = range(start, start + len(entry_docs))
            start += len(entry_docs)
            if future.done():
                continue
            if failure is not None:
                future.set_exception(failure)
                continue
            mine = [errors.get(i) for i in indexes]
            other = [e for e in mine if e is not None and e.get("code") != DUPLICATE_KEY]
            if other:
                future.set_exception(StoreUnavailable(f"insert failed: {other[0]!r}"))
            else:
                future.set_result([e is None for e in mine])


class Inserts:
    """The insert batchers of one database: one per collection, all sharing one gate.

    Stores writing into the same collection get the same batcher, so their documents can
    travel in one ``insert_many``.
    """

    def __init__(self, db: Database, *, max_docs: int = 500) -> None:
        self._db = db
        self._max_docs = max_docs
        self._gate = WriteGate()
        self._batchers: dict[str, InsertBatcher] = {}

    def into(self, collection: str) -> InsertBatcher:
        if collection not in self._batchers:
            self._batchers[collection] = InsertBatcher(
                self._db[collection], max_docs=self._max_docs, gate=self._gate
            )
        return self._batchers[collection]
