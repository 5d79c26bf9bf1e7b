"""Call events, published to ``call.events`` keyed by the provider's call id."""

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

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


__all__ = ["CallStatus", "CallStatusChanged", "Provider", "datetime"]
