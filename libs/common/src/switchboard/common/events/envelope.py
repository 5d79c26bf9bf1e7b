"""CloudEvents 1.0 binary mode over Kafka: attributes in ``ce_*`` headers, JSON data as value.

Built on the CNCF ``cloudevents`` SDK's Kafka binding; this module adds our typed ``data``,
the ``tenant`` extension and deterministic ids.
"""

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from switchboard.common.errors import InvalidEventError
from switchboard.common.events.base import EventData
from switchboard.common.events.registry import EVENT_TYPES

# Fixed namespace: ids derived from provider identifiers stay stable across releases.
EVENT_ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:switchboard:events")
_NAMESPACE_BYTES: Final = EVENT_ID_NAMESPACE.bytes
_JSON: Final = JSONFormat()
_CONTENT_TYPE: Final = "application/json"
# Headers that travel beside the CloudEvent attributes (W3C trace context).
_PASSTHROUGH_HEADERS: Final = ("traceparent", "tracestate")


def event_id(*parts: object) -> str:
    """A UUIDv5 from the provider's own identifiers: a retried webhook gets the same id.

    Equal to ``str(uuid.uuid5(EVENT_ID_NAMESPACE, name))`` (a test checks it), computed without
    building ``uuid.UUID`` objects: this runs for every webhook.
    """
    name = "\x1f".join(p if isinstance(p, str) else str(p) for p in parts)
    digest = bytearray(
        hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class Event:
    """A typed Switchboard event: CloudEvents attributes plus validated data."""

    id: str
    source: str
    data: EventData
    subject: str | None = None
    tenant: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    trace_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        """The versioned CloudEvents type, taken from the data model."""
        return self.data.event_type


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What goes on the wire: headers, key and value."""

    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def str_headers(self) -> dict[str, str]:
        """Headers as text (FastStream's publish takes ``dict[str, str]``)."""
        return {k: v.decode() for k, v in self.headers.items()}


def encode(event: Event, key: str | None) -> KafkaRecord:
    """Encode ``event`` in binary mode; ``key`` keeps per-entity order (e.g. the call id)."""
    attributes: dict[str, object] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": "1.0",
        "time": event.time,
        "datacontenttype": _CONTENT_TYPE,
    }
    if event.subject:
        attributes["subject"] = event.subject
    if event.tenant:
        attributes["tenant"] = event.tenant
    ce = CloudEvent(attributes=attributes, data=event.data.model_dump_json().encode())
    message = ce_kafka.to_binary(ce, _JSON, key_mapper=lambda _: key)
    headers = dict(message.headers)
    for name in _PASSTHROUGH_HEADERS:
        if name in event.trace_headers:
            headers[name] = event.trace_headers[name].encode()
    return KafkaRecord(
        key=key.encode() if key is not None else None, value=message.value, headers=headers
    )


def decode(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]], value: bytes) -> Event:
    """Decode a binary-mode record; unknown types or invalid data raise InvalidEventError."""
    header_map = dict(headers.items() if isinstance(headers, Mapping) else headers)
    try:
        ce = ce_kafka.from_binary(
            ce_kafka.KafkaMessage(headers=header_map, key=None, value=value), _JSON
        )
    except (BaseCloudEventException, ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"not a CloudEvent: {exc}") from exc
    model = EVENT_TYPES.get(ce.get_type())
    if model is None:
        raise InvalidEventError(f"unknown event type {ce.get_type()!r}")
    try:
        data = model.model_validate(ce.get_data())
    except ValidationError as exc:
        raise InvalidEventError(f"invalid {ce.get_type()} data: {exc}") from exc
    tenant = ce.get_extension("tenant")
    return Event(
        id=ce.get_id(),
        source=ce.get_source(),
        data=data,
        subject=ce.get_subject(),
        tenant=str(tenant) if tenant is not None else None,
        time=ce.get_time() or datetime.now(UTC),
        trace_headers={k: header_map[k].decode() for k in _PASSTHROUGH_HEADERS if k in header_map},
    )
