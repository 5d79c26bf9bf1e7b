"""Nothing published exceeds the broker's record limit (``SWITCHBOARD_KAFKA__MAX_RECORD_BYTES``).

An event whose record would be larger is shrunk, in this order, each step taken only while the
record is still too large:

1. ``raw`` (the provider's payload as received) is dropped;
2. ``transcript`` is cut, keeping its start;
3. ``summary`` is cut, keeping its start.

Each step is recorded in the event: ``truncated: true`` and ``original_sizes[field]`` (the
field's size before, in bytes: UTF-8 for text, the JSON for ``raw``). Only call reports (Vapi
end-of-call reports, ElevenLabs post-call transcriptions) carry text worth keeping at this
size; any other event over the limit, or a report still over it with nothing left to cut (an
id of a megabyte), is refused with :class:`EventTooLarge` (the webhook gets 413: nothing was
accepted, so nothing is lost, and nothing gets stuck in the spool). Both outcomes are counted
in ``switchboard_ingress_oversize_events_total``.

The exact size costs ~1 µs per record, 1 % of a webhook's CPU, so the hot path compares only
the value's length with a quarter of the limit: below it the record fits, because an ingress
event's key and ``ce_subject`` are identifiers its data also carries (each shorter than the
value), and its other headers are bounded (fixed names and values, W3C trace context of at
most 32 tracestate members, the configured tenant).
"""

import dataclasses
from collections.abc import Mapping
from typing import Final

import structlog
from pydantic_core import to_json

from switchboard.common.errors import InvalidEventError
from switchboard.common.events import CallReport, Event, KafkaRecord, decode, encode
from switchboard.common.kafka import record_size
from switchboard.common.metrics import labelled
from switchboard.ingress.errors import EventTooLarge
from switchboard.ingress.metrics import OVERSIZE

log = structlog.get_logger(__name__)

STEPS: Final = ("raw", "transcript", "summary")
"""Dropped (raw) or cut (text, keeping its start) in this order, while still too large."""
MARGIN: Final = 512
"""Bytes cut beyond the excess: room for the markers and a longer length prefix."""


class RecordLimit:
    """Fits records under ``max_bytes`` (see the module docstring for how)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.exact_above = max_bytes // 4
        """Values longer than this get their exact record size computed."""

    def fits(self, record: KafkaRecord) -> bool:
        return self.size(record) <= self.max_bytes

    @staticmethod
    def size(record: KafkaRecord) -> int:
        return record_size(record.key, record.value, record.headers)

    def fit(
        self,
        event: Event,
        key: str | None,
        record: KafkaRecord,
        trace_headers: Mapping[str, str],
    ) -> KafkaRecord:
        """``record`` (the encoding of ``event``) if it fits, else the encoding of a shrunk
        copy; EventTooLarge when nothing makes it fit."""
        size = self.size(record)
        if size <= self.max_bytes:
            return record
        data = event.data
        if isinstance(data, CallReport):
            for field in STEPS:
                shrunk = _shrunk(data, field, excess=size - self.max_bytes)
                if shrunk is None:
                    continue
                data = shrunk
                record = encode(dataclasses.replace(event, data=data), key, trace_headers)
                size = self.size(record)
                if size <= self.max_bytes:
                    labelled(OVERSIZE, "trimmed").inc()
                    log.warning(
                        "event trimmed to fit the record limit",
                        event_id=event.id,
                        type=event.type,
                        original_sizes=data.original_sizes,
                        size=size,
                        limit=self.max_bytes,
                    )
                    return record
        labelled(OVERSIZE, "rejected").inc()
        raise EventTooLarge(
            detail=f"a {event.type} event is {size} bytes even after trimming; the Kafka "
            f"record limit is {self.max_bytes} (SWITCHBOARD_KAFKA__MAX_RECORD_BYTES)"
        )

    def refit(self, record: KafkaRecord) -> KafkaRecord | None:
        """A record over the limit (spooled by an older version) shrunk the same way, or
        None when it cannot be (not an event we know, or nothing left to cut)."""
        try:
            event = decode(record.headers, record.value)
            key = record.key.decode() if record.key is not None else None
        except (InvalidEventError, UnicodeDecodeError):
            return None
        try:
            fitted = self.fit(event, key, record, event.trace_headers)
        except EventTooLarge:
            return None
        # Headers of the ingress's own (an unowned event's) are not part of the event.
        fitted.headers.update(
            {k: v for k, v in record.headers.items() if k.startswith("x-switchboard-")}
        )
        return fitted


def _shrunk(data: CallReport, field: str, *, excess: int) -> CallReport | None:
    """``data`` with ``field`` dropped (raw) or cut by at least ``excess`` bytes of JSON, and
    marked; None when the field is empty already."""
    sizes = dict(data.original_sizes)
    if field == "raw":
        if not data.raw:
            return None
        sizes["raw"] = len(to_json(data.raw))
        return data.model_copy(update={"raw": {}, "truncated": True, "original_sizes": sizes})
    text: str | None = getattr(data, field)
    if not text:
        return None
    encoded = text.encode()
    # A character's JSON is never shorter than its UTF-8 (escapes only add), so cutting the
    # excess in UTF-8 bytes cuts at least as much of the record.
    cut = encoded[: max(0, len(encoded) - excess - MARGIN)].decode("utf-8", "ignore")
    sizes.setdefault(field, len(encoded))
    return data.model_copy(update={field: cut, "truncated": True, "original_sizes": sizes})
