"""Event contracts: CloudEvents envelope plus one pydantic model per event type."""

from switchboard.common.events.calls import CallStatus, CallStatusChanged
from switchboard.common.events.envelope import Event, KafkaRecord, decode, encode, event_id
from switchboard.common.events.registry import EVENT_TYPES, EventData

__all__ = [
    "EVENT_TYPES",
    "CallStatus",
    "CallStatusChanged",
    "Event",
    "EventData",
    "KafkaRecord",
    "decode",
    "encode",
    "event_id",
]
