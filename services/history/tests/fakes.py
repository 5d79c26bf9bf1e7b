"""In-memory implementations of the history service's Protocols (``repository.py``), with
the same rules as the PostgreSQL adapter, for tests that need no server."""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from switchboard.history.messages import MessageRow, merge_message
from switchboard.history.models import CallFact, CallRow, fold_call
from switchboard.history.recordings import RecordingRow


class InMemoryStore:
    """The same rules as the PostgreSQL adapter, over dicts."""

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.events: dict[str, CallFact] = {}
        self.by_call: dict[str, list[CallFact]] = defaultdict(list)
        self.calls: dict[str, CallRow] = {}
        self.messages: dict[str, MessageRow] = {}
        self.recordings: dict[str, RecordingRow] = {}
        self.fail_on = fail_on or set()
        self.batches = 0

    def _check(self, ids: Sequence[str]) -> None:
        from switchboard.history.errors import StoreRejectedError

        bad = self.fail_on & set(ids)
        if bad:
            raise StoreRejectedError(f"refused {sorted(bad)}")

    async def record_call_facts(self, facts: Sequence[CallFact]) -> int:
        self._check([f.event_id for f in facts])
        self.batches += 1
        new = 0
        for f in facts:
            if f.event_id in self.events:
                continue
            self.events[f.event_id] = f
            self.by_call[f.call_id].append(f)
            new += 1
            self.calls[f.call_id] = fold_call(self.by_call[f.call_id])
        return new

    async def record_recordings(self, rows: Sequence[RecordingRow]) -> None:
        for r in rows:
            known = self.recordings.get(r.recording_id)
            if known is None or r.status_rank >= known.status_rank:
                self.recordings[r.recording_id] = r

    async def record_messages(self, rows: Sequence[MessageRow]) -> int:
        self._check([r.message_id for r in rows])
        self.batches += 1
        for r in rows:
            known = self.messages.get(r.message_id)
            self.messages[r.message_id] = r if known is None else merge_message(known, r)
        return len({r.message_id for r in rows})

    async def is_ready(self) -> bool:
        return True


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, BaseException, int]] = []

    async def send(self, record: Any, error: BaseException, attempts: int) -> None:
        self.sent.append((record, error, attempts))
