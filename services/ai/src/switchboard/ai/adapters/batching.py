"""Group commit for inserts: concurrent inserts into one collection share one ``insert_many``.

Every step of the reply path is an insert keyed by ``_id`` (the one write both FerretDB v1 and
MongoDB make atomic), and messages of different conversations run concurrently, so at any time
several small inserts wait for the same collection. Sending them as one unordered
``insert_many`` keeps each document's outcome separate (a duplicate ``_id`` fails only that
document, exactly as ``insert_one`` would: of two inserts of one ``_id`` exactly one wins)
while the server commits once: on FerretDB v1 (SQLite, one writer at a time) that is one
transaction instead of one per document, on MongoDB fewer round trips. A lone insert goes out
at once, so an idle service pays no extra latency.
"""

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from switchboard.ai.adapters.mongo import Doc
from switchboard.ai.errors import StoreUnavailable

DUPLICATE_KEY: Final = 11000


class InsertBatcher:
    """``insert(docs)`` → per document True (inserted) or False (its ``_id`` existed).

    One ``insert_many`` per collection in flight at a time; whatever arrives meanwhile goes
    into the next one (at most ``max_docs`` documents each).
    """

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        *,
        max_docs: int = 500,
    ) -> None:
        self._c = collection
        self._max_docs = max_docs
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
        while self._queue:
            batch: list[tuple[list[Doc], asyncio.Future[list[bool]]]] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0][0]) <= self._max_docs):
                entry = self._queue.pop(0)
                batch.append(entry)
                size += len(entry[0])
            await self._write(batch)

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
