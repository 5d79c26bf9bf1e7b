"""API request filters and response models (never the event models: the API may evolve alone)."""

from datetime import date, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from switchboard.common.events import CallStatus


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CallFilters(_Model):
    """Filters of ``/v1/calls``, its CSV export and ``/v1/stats``.

    ``since``/``until`` bound the time the call was first seen (``seen_at``, its partition key).
    """

    since: datetime | None = None
    until: datetime | None = None
    status: CallStatus | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    campaign_id: str | None = None


class CallSummary(_Model):
    """One call in a list."""

    call_id: str
    provider: str
    status: str
    direction: str | None
    from_number: str | None
    to_number: str | None
    seen_at: datetime
    """When the call was first seen (list order and time filters use it)."""
    started_at: datetime
    """Time of the call's earliest event."""
    ended_at: datetime | None
    duration_s: int | None
    answered_by: str | None
    campaign_id: str | None
    cost: float | None
    ended_reason: str | None


class CallEventOut(_Model):
    """One entry of a call's timeline."""

    event_id: str
    event_type: str
    status: str | None
    sequence_number: int | None
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any]


class RecordingOut(_Model):
    """A call's recording; ``url`` is the provider's media URL (fetch it with the account's
    credentials), absent once ``deleted_at`` is set."""

    recording_id: str
    call_id: str
    provider: str
    account_id: str | None
    status: str
    url: str | None
    duration_s: int | None
    started_at: datetime
    deleted_at: datetime | None


class CallDetail(CallSummary):
    """A call with everything known about it and its event timeline (oldest first)."""

    account_id: str | None
    sequence_number: int | None
    contact_id: str | None
    attempt_id: str | None
    attempt_number: int | None
    agent_id: str | None
    agent_call_id: str | None
    summary: str | None
    transcript: str | None
    recording_url: str | None
    error_code: str | None
    error_message: str | None
    last_event_at: datetime
    event_count: int
    events: list[CallEventOut]
    recordings: list[RecordingOut] = Field(default_factory=list)


class CallPage(_Model):
    items: list[CallSummary]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``null`` on the last page."""


class Conversation(_Model):
    conversation_id: str
    channel: str
    business_channel_id: str
    contact: str
    contact_name: str | None
    seen_at: datetime
    first_message_at: datetime
    last_message_at: datetime


class ConversationPage(_Model):
    items: list[Conversation]
    next_cursor: str | None


class MessageOut(_Model):
    message_id: str
    direction: str | None
    message_type: str | None
    text: str | None
    sent_at: datetime | None
    status: str | None
    status_at: datetime | None
    error_code: str | None
    error_message: str | None
    model: str | None
    cost_usd: float | None
    seen_at: datetime


class MessagePage(_Model):
    items: list[MessageOut]
    next_cursor: str | None


class DayStats(_Model):
    day: date
    calls: int
    completed: int
    answer_rate: float | None
    cost: float


class Stats(_Model):
    """Aggregates over the filtered calls.

    Answered means ``completed``; the answer rate is answered / ended calls.
    """

    calls: int
    by_status: dict[str, int]
    answer_rate: float | None
    duration_mean_s: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    cost: float
    per_day: list[DayStats]


# The export's columns, named as the JSON list names them.
CSV_COLUMNS: Final = (
    "call_id",
    "provider",
    "status",
    "direction",
    "from_number",
    "to_number",
    "seen_at",
    "started_at",
    "ended_at",
    "duration_s",
    "answered_by",
    "campaign_id",
    "cost",
    "ended_reason",
)
# Where a column is stored under another name (the first event's time is the call's start).
CSV_STORED_AS: Final = {"started_at": "first_event_at"}
