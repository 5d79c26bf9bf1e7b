"""CloudEvents type string ↔ data model."""

from typing import Final

from switchboard.common.events.base import EventData
from switchboard.common.events.calls import (
    CallMachineDetected,
    CallPlaced,
    CallPlaceFailed,
    CallRecordingStatus,
    CallReport,
    CallStatusChanged,
)
from switchboard.common.events.commands import DialCommand
from switchboard.common.events.messages import (
    MessageReceived,
    MessageSent,
    MessageStatusChanged,
    MessageStatusOther,
)
from switchboard.common.events.voice import (
    CallAssistantRequested,
    CallToolsCalled,
    CallTransferRequested,
)
from switchboard.common.topics import (
    CALL_EVENTS,
    DIAL_COMMANDS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
    UNOWNED_EVENTS,
)

EVENT_TYPES: Final[dict[str, type[EventData]]] = {
    model.event_type: model
    for model in (
        CallStatusChanged,
        CallMachineDetected,
        CallReport,
        CallPlaced,
        CallPlaceFailed,
        CallRecordingStatus,
        CallAssistantRequested,
        CallToolsCalled,
        CallTransferRequested,
        MessageReceived,
        MessageStatusChanged,
        MessageStatusOther,
        MessageSent,
        DialCommand,
    )
}

TOPIC_EVENT_TYPES: Final[dict[str, tuple[type[EventData], ...]]] = {
    CALL_EVENTS: (
        CallStatusChanged,
        CallMachineDetected,
        CallReport,
        CallPlaced,
        CallPlaceFailed,
        CallRecordingStatus,
        CallAssistantRequested,
        CallToolsCalled,
        CallTransferRequested,
    ),
    MESSAGE_INBOUND: (MessageReceived,),
    MESSAGE_STATUS: (MessageStatusChanged, MessageStatusOther),
    MESSAGE_OUTBOUND: (MessageSent,),
    DIAL_COMMANDS: (DialCommand,),
}
# Verified events on a channel no tenant owns, kept for the operator (header
# x-switchboard-topic names the topic they were for).
TOPIC_EVENT_TYPES[UNOWNED_EVENTS] = (
    *TOPIC_EVENT_TYPES[CALL_EVENTS],
    *TOPIC_EVENT_TYPES[MESSAGE_INBOUND],
    *TOPIC_EVENT_TYPES[MESSAGE_STATUS],
)
"""Which event types each topic carries (the contract the AsyncAPI documents describe)."""

__all__ = ["EVENT_TYPES", "TOPIC_EVENT_TYPES", "EventData"]
