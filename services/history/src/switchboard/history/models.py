"""Records and the convergence rule for call status. No I/O.

Status callbacks arrive late, twice and out of order. A call converges by keeping the
event with the highest *precedence* ``(rank, sequence number, status)``: any order of the
same events ends in the same row, and a terminal status never reverts to a live one.
"""

from dataclasses import dataclass
from datetime import datetime

from switchboard.common.events import CallStatus, CallStatusChanged, Event

_RANK: dict[CallStatus, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
}
TERMINAL_RANK = 4


def status_rank(status: CallStatus) -> int:
    """Live statuses rank by progress; every terminal status outranks them all."""
    return TERMINAL_RANK if status.is_terminal else _RANK[status]


@dataclass(frozen=True, slots=True)
class CallEventRecord:
    """One call event as stored: the timeline row and the input to the calls upsert."""

    event_id: str
    tenant_id: str
    event_type: str
    call: CallStatusChanged

    @property
    def rank(self) -> int:
        return status_rank(self.call.status)

    @property
    def occurred_at(self) -> datetime:
        return self.call.occurred_at


def to_record(event: Event, default_tenant: str) -> CallEventRecord | None:
    """The record for a call event; ``None`` for event types history does not store."""
    if not isinstance(event.data, CallStatusChanged):
        return None
    return CallEventRecord(
        event_id=event.id,
        tenant_id=event.tenant or default_tenant,
        event_type=event.type,
        call=event.data,
    )
