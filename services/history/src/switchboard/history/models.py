"""Call records and the convergence rule. No I/O.

Status callbacks arrive late, twice and out of order, from several sources (Twilio status and
AMD callbacks, voice-agent reports, the dialer). A call's row is a pure function of the *set*
of its events (:func:`fold_call`): duplicates collapse by event id, and the events are applied
in an order computed from their content, never from their arrival. So any permutation, with
any duplicates, of the same events gives the same row. The status is the one of the event of
highest precedence ``(rank, sequence number, status, time, id)``; every terminal status
outranks every live one, so a terminal state never reverts.
"""

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchboard.common.events import (
    CallMachineDetected,
    CallPlaced,
    CallPlaceFailed,
    CallRecordingStatus,
    CallReport,
    CallStatus,
    CallStatusChanged,
    Event,
    EventData,
)

_RANK: dict[CallStatus, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
}
TERMINAL_RANK = 4
CALL_DATA = (
    CallStatusChanged,
    CallMachineDetected,
    CallReport,
    CallPlaced,
    CallPlaceFailed,
    CallRecordingStatus,
)
# Later kinds overwrite the shared fields of earlier ones: the telephony leg's own status
# callback knows numbers and duration best; AMD knows who answered.
_KIND_ORDER: dict[type[EventData], int] = {
    CallPlaced: 0,
    CallPlaceFailed: 0,
    CallReport: 1,
    CallStatusChanged: 2,
    CallMachineDetected: 3,
}


_ALL_RANKS: dict[str, int] = {
    s.value: TERMINAL_RANK if s.is_terminal else _RANK[s] for s in CallStatus
}


def status_rank(status: CallStatus) -> int:
    """Live statuses rank by progress; every terminal status outranks them all."""
    return _ALL_RANKS[status]  # a StrEnum member hashes as its value


@dataclass(frozen=True, slots=True)
class CallFact:
    """One event about one call, as stored in ``call_events``."""

    event_id: str
    tenant_id: str
    call_id: str
    data: EventData
    # Derived once from ``data`` (the fold compares them many times).
    status: CallStatus | None = field(init=False, compare=False)
    sequence_number: int | None = field(init=False, compare=False)
    occurred_at: datetime = field(init=False, compare=False)
    _precedence: tuple[int, int, str, datetime, str] = field(init=False, compare=False)
    _apply_order: tuple[int, tuple[int, int, str, datetime, str]] = field(init=False, compare=False)
    _known: dict[str, Any] = field(init=False, compare=False)
    """The call columns this event knows (its non-``None`` fields)."""

    def __post_init__(self) -> None:
        d = self.data
        status: CallStatus | None = None
        if isinstance(d, CallStatusChanged | CallReport):
            status = d.status
        elif isinstance(d, CallPlaced):
            status = CallStatus.QUEUED
        elif isinstance(d, CallPlaceFailed):
            status = CallStatus.FAILED
        seq = d.sequence_number if isinstance(d, CallStatusChanged) else None
        at: datetime = d.occurred_at  # type: ignore[attr-defined]
        rank = status_rank(status) if status is not None else -1
        precedence = (rank, seq if seq is not None else -1, status or "", at, self.event_id)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "sequence_number", seq)
        object.__setattr__(self, "occurred_at", at)
        object.__setattr__(self, "_precedence", precedence)
        object.__setattr__(self, "_apply_order", (_KIND_ORDER.get(type(d), 9), precedence))
        known = {k: v for k, v in _fields_of(d).items() if v is not None}
        object.__setattr__(self, "_known", known)

    @property
    def event_type(self) -> str:
        return self.data.event_type

    def precedence(self) -> tuple[int, int, str, datetime, str]:
        """Order of status facts: the greatest one decides the call's status."""
        return self._precedence


def call_key(data: EventData) -> str | None:
    """The call row an event belongs to; ``None`` for data that is not about a call."""
    if isinstance(data, CallReport):
        # A voice-agent report describes the telephony call when the platform names it.
        return data.telephony_call_id or data.call_id
    if isinstance(data, CallStatusChanged | CallMachineDetected | CallPlaced | CallRecordingStatus):
        return data.call_id  # a recording's event joins its call's timeline
    if isinstance(data, CallPlaceFailed):
        return f"attempt:{data.attempt_id}"  # no provider call exists; the attempt is the call
    return None


def to_fact(event: Event, default_tenant: str) -> CallFact | None:
    """The fact for a call event; ``None`` for event types history does not store as calls."""
    key = call_key(event.data)
    if key is None:
        return None
    return CallFact(
        event_id=event.id, tenant_id=event.tenant or default_tenant, call_id=key, data=event.data
    )


@dataclass(frozen=True, slots=True)
class CallRow:
    """The converged state of one call (the ``calls`` row without its partition key)."""

    call_id: str
    tenant_id: str
    provider: str
    status: str
    status_rank: int
    first_event_at: datetime
    last_event_at: datetime
    event_count: int
    sequence_number: int | None = None
    account_id: str | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    duration_s: int | None = None
    answered_by: str | None = None
    campaign_id: str | None = None
    contact_id: str | None = None
    attempt_id: str | None = None
    attempt_number: int | None = None
    agent_id: str | None = None
    agent_call_id: str | None = None
    cost: float | None = None
    ended_reason: str | None = None
    summary: str | None = None
    transcript: str | None = None
    recording_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    ended_at: datetime | None = None


def _fields_of(data: EventData) -> dict[str, Any]:
    """The call columns an event knows (``None`` = does not know)."""
    d = data
    if isinstance(d, CallStatusChanged):
        return {
            "provider": d.provider,
            "account_id": d.account_id,
            "direction": d.direction,
            "from_number": d.from_number,
            "to_number": d.to_number,
            "duration_s": d.duration_s,
            "answered_by": d.answered_by,
        }
    if isinstance(d, CallMachineDetected):
        return {"provider": d.provider, "account_id": d.account_id, "answered_by": d.answered_by}
    if isinstance(d, CallRecordingStatus):
        # The recording itself lives in call_recordings (deletable, several per call).
        return {"provider": d.provider, "account_id": d.account_id}
    if isinstance(d, CallReport):
        return {
            "provider": d.provider,
            "agent_id": d.agent_id,
            "agent_call_id": d.call_id,
            "duration_s": d.duration_s,
            "cost": d.cost,
            "ended_reason": d.ended_reason,
            "summary": d.summary,
            "transcript": d.transcript,
            "recording_url": d.recording_url,
            "to_number": d.customer_number,
        }
    if isinstance(d, CallPlaced | CallPlaceFailed):
        fields: dict[str, Any] = {
            "provider": d.provider,
            "campaign_id": d.campaign_id,
            "contact_id": d.contact_id,
            "attempt_id": d.attempt_id,
            "attempt_number": d.attempt_number,
            "from_number": d.from_number,
            "to_number": d.to_number,
        }
        if isinstance(d, CallPlaced):
            fields["account_id"] = d.account_id
        else:
            fields["error_code"] = d.error_code
            fields["error_message"] = d.error_message
        return fields
    return {}


_APPLY_ORDER = operator.attrgetter("_apply_order")


def fold_columns(facts: Iterable[CallFact]) -> dict[str, Any]:
    """:func:`fold_call`'s row as a dict of :class:`CallRow`'s fields (the store writes these
    without building the object)."""
    unique = {f.event_id: f for f in facts}
    if not unique:
        raise ValueError("a call needs at least one event")
    ordered = sorted(unique.values(), key=_APPLY_ORDER)
    columns: dict[str, Any] = {"provider": "unknown", "status": "unknown", "status_rank": -1}
    first = winner = ordered[0]
    last_at = first.occurred_at
    for fact in ordered:
        columns.update(fact._known)
        at = fact.occurred_at
        if (at, fact.event_id) < (first.occurred_at, first.event_id):
            first = fact
        if at > last_at:
            last_at = at
        if fact.status is not None and (
            winner.status is None or fact._precedence > winner._precedence
        ):
            winner = fact
    status = winner.status
    if status is not None:
        rank = _ALL_RANKS[status]
        columns["status"] = str(status)  # its value (a StrEnum), without the slow ``.value``
        columns["status_rank"] = rank
        columns["sequence_number"] = winner.sequence_number
        columns["ended_at"] = winner.occurred_at if rank == TERMINAL_RANK else None
    columns["call_id"] = first.call_id
    columns["tenant_id"] = first.tenant_id
    columns["first_event_at"] = first.occurred_at
    columns["last_event_at"] = last_at
    columns["event_count"] = len(unique)
    return columns


def fold_call(facts: Iterable[CallFact]) -> CallRow:
    """The row for a call from all its facts (at least one). Independent of their order."""
    return CallRow(**fold_columns(facts))


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call without a terminal status."""

    call_id: str
    tenant_id: str
    provider: str
    account_id: str | None
    status: str
    last_event_at: datetime


class ProviderCallState(dict[str, Any]):
    """What a provider says about a call, in ``CallStatusChanged`` field names."""


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One row of ElevenLabs' conversation list."""

    conversation_id: str
    ended: bool
    start_time: datetime | None
    duration_s: int | None
