"""Event contracts: CloudEvents envelope plus one pydantic model per event type."""

from switchboard.common.events.base import EventData
from switchboard.common.events.calls import (
    CallMachineDetected,
    CallPlaced,
    CallPlaceFailed,
    CallRecordingStatus,
    CallReport,
    CallStatus,
    CallStatusChanged,
)
from switchboard.common.events.commands import DialAction, DialCommand
from switchboard.common.events.envelope import Event, KafkaRecord, decode, encode, event_id
from switchboard.common.events.messages import (
    Channel,
    MessageChoice,
    MessageContent,
    MessageDeliveryStatus,
    MessageError,
    MessageLocation,
    MessageMedia,
    MessageOrder,
    MessageReaction,
    MessageReceived,
    MessageSent,
    MessageStatusChanged,
    MessageStatusOther,
    OrderItem,
    SharedContact,
    conversation_key,
)
from switchboard.common.events.registry import EVENT_TYPES

__all__ = [
    "EVENT_TYPES",
    "CallMachineDetected",
    "CallPlaceFailed",
    "CallPlaced",
    "CallRecordingStatus",
    "CallReport",
    "CallStatus",
    "CallStatusChanged",
    "Channel",
    "DialAction",
    "DialCommand",
    "Event",
    "EventData",
    "KafkaRecord",
    "MessageChoice",
    "MessageContent",
    "MessageDeliveryStatus",
    "MessageError",
    "MessageLocation",
    "MessageMedia",
    "MessageOrder",
    "MessageReaction",
    "MessageReceived",
    "MessageSent",
    "MessageStatusChanged",
    "MessageStatusOther",
    "OrderItem",
    "SharedContact",
    "conversation_key",
    "decode",
    "encode",
    "event_id",
]
