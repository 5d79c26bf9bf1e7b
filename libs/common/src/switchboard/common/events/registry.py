"""CloudEvents type string ↔ data model."""

from typing import Final

from switchboard.common.events.base import EventData
from switchboard.common.events.calls import (
    CallMachineDetected,
    CallPlaced,
    CallPlaceFailed,
    CallReport,
    CallStatusChanged,
)
from switchboard.common.events.commands import DialCommand
from switchboard.common.events.messages import MessageReceived, MessageSent, MessageStatusChanged

EVENT_TYPES: Final[dict[str, type[EventData]]] = {
    model.event_type: model
    for model in (
        CallStatusChanged,
        CallMachineDetected,
        CallReport,
        CallPlaced,
        CallPlaceFailed,
        MessageReceived,
        MessageStatusChanged,
        MessageSent,
        DialCommand,
    )
}

__all__ = ["EVENT_TYPES", "EventData"]
