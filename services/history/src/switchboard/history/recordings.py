"""Call recordings: the row a recording status event gives, and the order of its statuses.
No I/O.

Twilio sends one callback per recording status (``in-progress``, then ``completed``,
``absent`` or ``failed``), late, twice and out of order like every callback: a final status
outranks ``in-progress``, so the row converges whatever the order, and a deletion made through
the API is kept whatever arrives after it."""

from dataclasses import dataclass
from datetime import datetime

from switchboard.common.events import CallRecordingStatus, Event

_RANK = {"in-progress": 0, "processing": 0}
FINAL_RANK = 1


def recording_rank(status: str) -> int:
    """``in-progress`` ranks below every final status (``completed``, ``absent``, ``failed``)."""
    return _RANK.get(status, FINAL_RANK)


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """One recording's state as an event tells it (a ``call_recordings`` row)."""

    recording_id: str
    call_id: str
    tenant_id: str
    provider: str
    account_id: str | None
    status: str
    url: str | None
    duration_s: int | None
    started_at: datetime

    @property
    def status_rank(self) -> int:
        return recording_rank(self.status)


def to_recording(event: Event, default_tenant: str) -> RecordingRow | None:
    """The recording row of a recording status event; ``None`` for any other event."""
    d = event.data
    if not isinstance(d, CallRecordingStatus):
        return None
    return RecordingRow(
        recording_id=d.recording_id,
        call_id=d.call_id,
        tenant_id=event.tenant or default_tenant,
        provider=d.provider,
        account_id=d.account_id,
        status=d.status,
        url=d.url,
        duration_s=d.duration_s,
        started_at=d.occurred_at,
    )
