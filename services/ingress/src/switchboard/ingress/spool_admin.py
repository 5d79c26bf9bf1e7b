"""Operator access to the spool's dead letters (``switchboard-ingress spool …``).

Works on a spool directory's files directly, each under the same exclusive file lock a
running ingress holds on the file it drains: a file no process holds is opened (and stays
locked while the command works on it, so an ingress starting meanwhile claims another file);
a file in use is reported and left alone. Stop the ingress that owns a file to work on it.
"""

import base64
import contextlib
import fcntl
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from switchboard.ingress.spool import MAX_FILES, create_schema, transaction


class SpoolFileBusy(Exception):
    """A running ingress holds this spool file."""


@dataclass(frozen=True, slots=True)
class DeadRow:
    """One dead letter, as stored."""

    file: str
    seq: int
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    created_at: float
    reason: str
    error: str
    attempts: int
    dead_at: float

    @property
    def event_type(self) -> str:
        return self.headers.get("ce_type", b"").decode("latin-1") or "?"

    @property
    def event_id(self) -> str:
        return self.headers.get("ce_id", b"").decode("latin-1") or "?"

    def as_json(self) -> dict[str, Any]:
        """A JSON line for ``export``: the exact bytes in base64, readable text beside them."""
        return {
            "file": self.file,
            "seq": self.seq,
            "topic": self.topic,
            "key": _text(self.key),
            "key_base64": None if self.key is None else base64.b64encode(self.key).decode(),
            "headers": {k: v.decode("latin-1") for k, v in self.headers.items()},
            "value_base64": base64.b64encode(self.value).decode(),
            "value_bytes": len(self.value),
            "reason": self.reason,
            "error": self.error,
            "attempts": self.attempts,
            "spooled_at": _iso(self.created_at),
            "dead_at": _iso(self.dead_at),
        }


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def spool_files(directory: Path) -> list[Path]:
    """The spool files of ``directory``, in the order processes claim them."""
    return [directory / f"spool-{n}.db" for n in range(MAX_FILES)]


@contextlib.contextmanager
def opened(path: Path) -> Iterator[sqlite3.Connection]:
    """The spool file, locked against any ingress for as long as the block runs."""
    lock_path = path.with_suffix(".lock")
    with lock_path.open("ab") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpoolFileBusy(
                f"{path.name} is in use by a running ingress (it holds {lock_path.name}); "
                "stop that ingress to work on this file"
            ) from None
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            create_schema(db)
            yield db
        finally:
            db.close()
            fcntl.flock(lock, fcntl.LOCK_UN)


def existing(directory: Path, file: str | None = None) -> list[Path]:
    """The spool files that exist (only ``file`` when given)."""
    if file is not None:
        path = directory / file
        if not path.exists():
            raise FileNotFoundError(f"no spool file {path}")
        return [path]
    return [p for p in spool_files(directory) if p.exists()]


def waiting(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])


def dead_rows(db: sqlite3.Connection, file: str, seqs: Sequence[int] = ()) -> list[DeadRow]:
    """Dead letters in order (only ``seqs`` when given)."""
    query = (
        "SELECT seq, topic, key, value, headers, created_at, reason, error, attempts, dead_at"
        " FROM dead_letters"
    )
    if seqs:
        rows = [
            row for seq in seqs for row in db.execute(query + " WHERE seq = ?", (seq,)).fetchall()
        ]
    else:
        rows = db.execute(query + " ORDER BY seq").fetchall()
    return [
        DeadRow(
            file,
            seq,
            topic,
            key,
            value,
            {k: v.encode("latin-1") for k, v in json.loads(headers).items()},
            created_at,
            reason,
            error,
            attempts,
            dead_at,
        )
        for seq, topic, key, value, headers, created_at, reason, error, attempts, dead_at in rows
    ]


def requeue(db: sqlite3.Connection, seqs: Sequence[int]) -> int:
    """Move these dead letters back to the end of the spool (new sequence numbers, their
    original spool time); how many moved."""
    with transaction(db):
        moved = 0
        for seq in seqs:
            cursor = db.execute(
                "INSERT INTO spool (topic, key, value, headers, created_at)"
                " SELECT topic, key, value, headers, created_at FROM dead_letters WHERE seq = ?",
                (seq,),
            )
            moved += cursor.rowcount
            db.execute("DELETE FROM dead_letters WHERE seq = ?", (seq,))
    return moved


def remove(db: sqlite3.Connection, seqs: Sequence[int]) -> None:
    """Delete these dead letters (after they were exported)."""
    with transaction(db):
        db.executemany("DELETE FROM dead_letters WHERE seq = ?", [(s,) for s in seqs])
