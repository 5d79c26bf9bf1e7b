"""The local durable spool: SQLite in WAL mode with ``synchronous=FULL`` (fsync on commit).

Holds encoded Kafka records while the broker is unreachable; they leave only after the
broker acknowledged them. One file per ingress process, claimed with an exclusive file lock,
so several workers on one host never share (or lose) a spool: a restarted process claims a
free file again and drains what an earlier process left in it.
"""

import asyncio
import contextlib
import fcntl
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, TypeVar

from switchboard.common.errors import RetryableError
from switchboard.common.events import KafkaRecord

T = TypeVar("T")
MAX_FILES: Final = 64
_MAX_SEQ: Final = 2**63 - 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    key        BLOB,
    value      BLOB    NOT NULL,
    headers    TEXT    NOT NULL,
    created_at REAL    NOT NULL
);
-- Records that can never be published, set aside so the rest keep moving
-- (``switchboard-ingress spool list|show|requeue|export``). ``seq`` is the one it had in spool.
CREATE TABLE IF NOT EXISTS dead_letters (
    seq        INTEGER PRIMARY KEY,
    topic      TEXT    NOT NULL,
    key        BLOB,
    value      BLOB    NOT NULL,
    headers    TEXT    NOT NULL,
    created_at REAL    NOT NULL,
    reason     TEXT    NOT NULL,
    error      TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    dead_at    REAL    NOT NULL
);
"""


class SpoolUnavailable(RetryableError):
    """The spool cannot take more events (full, or the disk failed)."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """A record waiting in the spool, with its order number."""

    seq: int
    topic: str
    record: KafkaRecord

    @classmethod
    def from_row(cls, row: tuple[int, str, bytes | None, bytes, str]) -> "Spooled":
        seq, topic, key, value, headers = row
        decoded = {k: v.encode("latin-1") for k, v in json.loads(headers).items()}
        return cls(seq, topic, KafkaRecord(key=key, value=value, headers=decoded))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a spooled record is set aside: the last error and how often it was tried."""

    seq: int
    reason: str
    """``too_large`` (over the record limit, cannot be trimmed), ``refused`` (by the broker,
    for what it is) or ``attempts`` (failed ``max_attempts`` times while others went through)."""
    error: str
    attempts: int


def encode_headers(headers: dict[str, bytes]) -> str:
    """Headers as the spool stores them (JSON; bytes through latin-1, so any byte survives)."""
    return json.dumps({k: v.decode("latin-1") for k, v in headers.items()})


def create_schema(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (the connection is in
    autocommit mode, so a failed statement would otherwise leave the transaction open)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


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
        self._dead = 0

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
        create_schema(db)
        self._db = db
        self._refresh_stats()

    def _refresh_stats(self) -> None:
        assert self._db is not None
        count, oldest = self._db.execute("SELECT count(*), min(created_at) FROM spool").fetchone()
        self._depth, self._oldest = int(count), oldest
        self._dead = int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    @property
    def depth(self) -> int:
        """Events waiting (kept current by every append and delete)."""
        return self._depth

    @property
    def dead_letters(self) -> int:
        """Records set aside in this file's dead-letter table."""
        return self._dead

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
                encode_headers(r.headers),
                now,
            )
            for topic, r in items
        ]
        try:
            with transaction(self._db) as db:
                db.executemany(
                    "INSERT INTO spool (topic, key, value, headers, created_at) VALUES (?,?,?,?,?)",
                    rows,
                )
        except sqlite3.Error as exc:
            raise SpoolUnavailable(f"spool write failed: {exc}") from exc
        self._depth += len(rows)
        if self._oldest is None:
            self._oldest = now

    async def peek(
        self, limit: int, *, after: int = 0, through: int | None = None
    ) -> list[Spooled]:
        """The oldest ``limit`` waiting records with ``after < seq <= through``, in order."""
        return await self._run(lambda: self._peek(limit, after, through))

    def _peek(self, limit: int, after: int, through: int | None) -> list[Spooled]:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT seq, topic, key, value, headers FROM spool"
            " WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (after, _MAX_SEQ if through is None else through, limit),
        ).fetchall()
        return [Spooled.from_row(row) for row in rows]

    async def delete(self, seqs: Sequence[int]) -> None:
        """Forget these records (the broker acked them)."""
        await self._run(lambda: self._delete(seqs))

    def _delete(self, seqs: Sequence[int]) -> None:
        assert self._db is not None
        with transaction(self._db) as db:
            db.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])
        self._refresh_stats()

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        """Move these records to the dead-letter table, with why, in one transaction."""
        await self._run(lambda: self._dead_letter(letters))

    def _dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        assert self._db is not None
        now = time.time()
        with transaction(self._db) as db:
            db.executemany(
                "INSERT INTO dead_letters (seq, topic, key, value, headers, created_at, reason,"
                " error, attempts, dead_at) SELECT seq, topic, key, value, headers, created_at,"
                " ?, ?, ?, ? FROM spool WHERE seq = ?",
                [(d.reason, d.error, d.attempts, now, d.seq) for d in letters],
            )
            db.executemany("DELETE FROM spool WHERE seq = ?", [(d.seq,) for d in letters])
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
