"""Commands on ``dial.commands`` (imperative, keyed by campaign)."""

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from switchboard.common.events.base import EventData

DialAction = Literal["start", "pause", "resume", "cancel"]


class DialCommand(EventData):
    """Start, pause, resume or cancel a campaign (``switchboard.dial.command.v1``)."""

    event_type: ClassVar[str] = "switchboard.dial.command.v1"

    campaign_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    action: DialAction
    requested_at: AwareDatetime
    requested_by: str | None = None
