"""The local durable spool: SQLite in WAL mode with ``synchronous=FULL`` (fsync on commit).

Holds encoded Kafka records while the broker is unreachable; they leave only after the
broker acknowledged them. One file per ingress process, claimed with an exclusive file lock,
so several workers on one host never share (or lose) a spool: a restarted process claims a
free file again and drains what an earlier process left in it.
"""

import asyncio
import fcntl
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, TypeVar

from switchboard.common.errors import RetryableError
from switchboard.common.events import KafkaRecord

T = TypeVar("T")
MAX_FILES: Final = 64

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    key        BLOB,
    value      BLOB    NOT NULL,
    headers    TEXT    NOT NULL,
    created_at REAL    NOT NULL
)
"""


class SpoolUnavailable(RetryableError):
    """The spool cannot take more events (full, or the disk failed)."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """A record waiting in the spool, with its order number."""

    seq: int
    topic: str
    record: KafkaRecord


class Spool:
    """Append, read in order, delete after ack. Every call runs on one private thread."""

    def __init__(self, directory: Path, max_events: int) -> None:
        self._directory = directory
        self._max_events = max_events
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self.path: Path | None = None
        self._depth = 0
        self._oldest: float | None = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise SpoolUnavailable("spool is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        """Claim a spool file (one private thread does all SQLite work from here on)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        await self._run(self._open)

    def _open(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_FILES):
            lock = (self._directory / f"spool-{n}.lock").open("ab")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            self._lock_file = lock
            self.path = self._directory / f"spool-{n}.db"
            break
        else:
            raise SpoolUnavailable(f"all {MAX_FILES} spool files in {self._directory} are taken")
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
        self._db = db
        self._refresh_stats()

    def _refresh_stats(self) -> None:
        assert self._db is not None
        count, oldest = self._db.execute("SELECT count(*), min(created_at) FROM spool").fetchone()
        self._depth, self._oldest = int(count), oldest

    @property
    def depth(self) -> int:
        """Events waiting (kept current by every append and delete)."""
        return self._depth

    def oldest_age_s(self) -> float:
        """Age of the oldest waiting event; 0 when empty."""
        return 0.0 if self._oldest is None else max(0.0, time.time() - self._oldest)

    async def append(self, items: Sequence[tuple[str, KafkaRecord]]) -> None:
        """Store every item durably in one transaction, or none (raises SpoolUnavailable)."""
        await self._run(lambda: self._append(items))

    def _append(self, items: Sequence[tuple[str, KafkaRecord]]) -> None:
        if self._db is None:
            raise SpoolUnavailable("spool is not open")
        if self._depth + len(items) > self._max_events:
            raise SpoolUnavailable(f"spool full ({self._depth} events)")
        now = time.time()
        rows = [
            (
                topic,
                r.key,
                r.value,
                json.dumps({k: v.decode("latin-1") for k, v in r.headers.items()}),
                now,
            )
            for topic, r in items
        ]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO spool (topic, key, value, headers, created_at) VALUES (?,?,?,?,?)",
                rows,
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise SpoolUnavailable(f"spool write failed: {exc}") from exc
        self._depth += len(rows)
        if self._oldest is None:
            self._oldest = now

    async def peek(self, limit: int) -> list[Spooled]:
        """The oldest ``limit`` waiting records, in order."""
        return await self._run(lambda: self._peek(limit))

    def _peek(self, limit: int) -> list[Spooled]:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT seq, topic, key, value, headers FROM spool ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [
            Spooled(
                seq,
                topic,
                KafkaRecord(
                    key=key,
                    value=value,
                    headers={k: v.encode("latin-1") for k, v in json.loads(headers).items()},
                ),
            )
            for seq, topic, key, value, headers in rows
        ]

    async def delete_through(self, seq: int) -> None:
        """Forget every record up to and including ``seq`` (the broker acked them)."""
        await self._run(lambda: self._delete_through(seq))

    def _delete_through(self, seq: int) -> None:
        assert self._db is not None
        self._db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self._refresh_stats()

    async def close(self) -> None:
        await self._run(self._close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
