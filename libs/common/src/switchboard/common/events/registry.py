"""CloudEvents type string ↔ data model."""

from typing import Final

from switchboard.common.events.base import EventData
from switchboard.common.events.calls import CallStatusChanged

EVENT_TYPES: Final[dict[str, type[EventData]]] = {
    model.event_type: model for model in (CallStatusChanged,)
}

__all__ = ["EVENT_TYPES", "EventData"]
