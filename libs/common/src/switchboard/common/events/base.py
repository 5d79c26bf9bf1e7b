"""The base every event ``data`` model derives from."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class EventData(BaseModel):
    """``data`` of a Switchboard CloudEvent; ``event_type`` is the versioned CloudEvents type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
