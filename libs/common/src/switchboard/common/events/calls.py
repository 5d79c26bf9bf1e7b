"""Call events, published to ``call.events`` keyed by the provider's call id."""

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field

from switchboard.common.events.base import EventData

Provider = Literal["twilio", "vapi", "elevenlabs"]


class CallStatus(StrEnum):
    """A call's status, in Twilio's vocabulary (other providers map onto it)."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    COMPLETED = "completed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        """No later status can follow a terminal one."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.COMPLETED,
        CallStatus.CANCELED,
    }
)


class CallStatusChanged(EventData):
    """A provider reported a call's status (``switchboard.call.status.v1``)."""

    event_type: ClassVar[str] = "switchboard.call.status.v1"

    provider: Provider
    call_id: str = Field(min_length=1, description="The provider's call id (Twilio CallSid).")
    account_id: str | None = Field(default=None, description="Provider account (AccountSid).")
    status: CallStatus
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    duration_s: int | None = Field(default=None, ge=0, description="Set on terminal statuses.")
    sequence_number: int | None = Field(
        default=None, ge=0, description="Provider's ordering signal, when it sends one."
    )
    answered_by: str | None = Field(default=None, description="Answering-machine detection.")
    occurred_at: AwareDatetime
    raw: dict[str, str | list[str]] = Field(
        default_factory=dict, description="The provider's payload as received, for audit/replay."
    )


class CallMachineDetected(EventData):
    """Answering-machine detection finished (``switchboard.call.amd.v1``)."""

    event_type: ClassVar[str] = "switchboard.call.amd.v1"

    provider: Provider
    call_id: str = Field(min_length=1)
    account_id: str | None = None
    answered_by: str = Field(
        min_length=1,
        description="human, machine_start, machine_end_beep, machine_end_silence, "
        "machine_end_other, fax or unknown.",
    )
    detection_ms: int | None = Field(default=None, ge=0)
    occurred_at: AwareDatetime
    raw: dict[str, str | list[str]] = Field(default_factory=dict)

    @property
    def is_machine(self) -> bool:
        return self.answered_by.startswith("machine") or self.answered_by == "fax"


class CallRecordingStatus(EventData):
    """A call's recording status from Twilio (``switchboard.call.recording.v1``).

    ``in-progress``, ``completed`` (then URL and duration are set), ``absent`` or ``failed``."""

    event_type: ClassVar[str] = "switchboard.call.recording.v1"

    provider: Provider = "twilio"
    call_id: str = Field(min_length=1, description="The provider's call id (CallSid).")
    account_id: str | None = None
    recording_id: str = Field(min_length=1, description="RecordingSid.")
    status: str = Field(min_length=1, description="RecordingStatus as the provider sent it.")
    url: str | None = Field(default=None, description="RecordingUrl (media without extension).")
    duration_s: int | None = Field(default=None, ge=0, description="RecordingDuration.")
    channels: int | None = Field(default=None, ge=1)
    source: str | None = Field(default=None, description="RecordingSource, e.g. OutboundAPI.")
    occurred_at: AwareDatetime
    raw: dict[str, str | list[str]] = Field(default_factory=dict)


class CallReport(EventData):
    """A voice-agent platform's end-of-call report (``switchboard.call.report.v1``).

    Vapi's end-of-call-report and ElevenLabs' post_call_transcription map here; the
    telephony leg (Twilio CallSid), when the platform tells it, is ``telephony_call_id``.
    """

    event_type: ClassVar[str] = "switchboard.call.report.v1"

    provider: Provider
    call_id: str = Field(min_length=1, description="The platform's call/conversation id.")
    telephony_call_id: str | None = None
    agent_id: str | None = None
    status: CallStatus
    ended_reason: str | None = None
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    duration_s: int | None = Field(default=None, ge=0)
    cost: float | None = Field(default=None, ge=0)
    customer_number: str | None = None
    summary: str | None = None
    transcript: str | None = None
    recording_url: str | None = None
    successful: bool | None = None
    occurred_at: AwareDatetime
    raw: dict[str, Any] = Field(default_factory=dict)
    # Written only when set, so an untrimmed report is the same bytes as before the fields
    # existed (consumers forbid unknown fields).
    truncated: bool = Field(
        default=False,
        exclude_if=lambda v: not v,
        description="Fields were cut or dropped to fit the broker's record limit; "
        "original_sizes names them. Absent when nothing was.",
    )
    original_sizes: dict[str, int] = Field(
        default_factory=dict,
        exclude_if=lambda v: not v,
        description="Each cut or dropped field → its size before, in bytes (UTF-8 text; "
        "raw: its JSON). Cut in this order: raw (dropped), transcript, summary (each kept "
        "from its start).",
    )


class CallPlaced(EventData):
    """The dialer placed a call and the provider accepted it (``switchboard.call.placed.v1``)."""

    event_type: ClassVar[str] = "switchboard.call.placed.v1"

    provider: Provider = "twilio"
    call_id: str = Field(min_length=1, description="The provider's call id (CallSid).")
    account_id: str | None = None
    campaign_id: str
    contact_id: str
    attempt_id: str
    attempt_number: int = Field(ge=1)
    from_number: str
    to_number: str
    occurred_at: AwareDatetime


class CallPlaceFailed(EventData):
    """The provider refused to place a call (``switchboard.call.place_failed.v1``)."""

    event_type: ClassVar[str] = "switchboard.call.place_failed.v1"

    provider: Provider = "twilio"
    campaign_id: str
    contact_id: str
    attempt_id: str
    attempt_number: int = Field(ge=1)
    from_number: str | None = None
    to_number: str
    error_code: str | None = None
    error_message: str
    retryable: bool
    occurred_at: AwareDatetime


__all__ = [
    "CallMachineDetected",
    "CallPlaceFailed",
    "CallPlaced",
    "CallRecordingStatus",
    "CallReport",
    "CallStatus",
    "CallStatusChanged",
    "Provider",
    "datetime",
]
