"""History test fixtures: an in-memory CallStore and event builders."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.common.events import CallStatus, CallStatusChanged, Event, event_id
from switchboard.history.models import CallEventRecord, status_rank


class InMemoryCallStore:
    """The same convergence rule as the PostgreSQL adapter, over dicts."""

    def __init__(self) -> None:
        self.events: dict[str, CallEventRecord] = {}
        self.calls: dict[str, CallEventRecord] = {}

    async def record_call_events(self, records: Sequence[CallEventRecord]) -> int:
        new = 0
        for r in records:
            if r.event_id in self.events:
                continue
            self.events[r.event_id] = r
            new += 1
            current = self.calls.get(r.call.call_id)
            if current is None or precedence(r) > precedence(current):
                self.calls[r.call.call_id] = r
        return new

    async def is_ready(self) -> bool:
        return True


def precedence(r: CallEventRecord) -> tuple[int, int, str]:
    seq = r.call.sequence_number if r.call.sequence_number is not None else -1
    return (status_rank(r.call.status), seq, r.call.status.value)


T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def call_event(
    status: str,
    seq: int | None,
    call_id: str = "CA1",
    tenant: str | None = "acme",
    duration: int | None = None,
) -> Event:
    data = CallStatusChanged(
        provider="twilio",
        call_id=call_id,
        status=CallStatus(status),
        sequence_number=seq,
        duration_s=duration,
        occurred_at=T0 + timedelta(seconds=seq or 0),
        from_number="+1500",
    )
    return Event(
        id=event_id("twilio", call_id, status, seq if seq is not None else ""),
        source="/test",
        data=data,
        subject=call_id,
        tenant=tenant,
    )


LIFECYCLE = (("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3))


@pytest.fixture
def store() -> InMemoryCallStore:
    return InMemoryCallStore()


@pytest.fixture
def make_event():
    return call_event


@pytest.fixture
def lifecycle():
    return LIFECYCLE
