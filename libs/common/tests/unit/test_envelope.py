import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from switchboard.common.errors import InvalidEventError
from switchboard.common.events import (
    CallStatus,
    CallStatusChanged,
    Event,
    KafkaRecord,
    decode,
    encode,
    event_id,
)


def make_event(**overrides: object) -> Event:
    data = CallStatusChanged(
        provider="twilio",
        call_id="CA1",
        status=CallStatus.RINGING,
        sequence_number=1,
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        raw={"CallSid": "CA1"},
    )
    fields: dict[str, object] = {
        "id": event_id("twilio", "CA1", "ringing", 1),
        "source": "/test",
        "data": data,
        "subject": "CA1",
        "tenant": "acme",
        "trace_headers": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    }
    fields.update(overrides)
    return Event(**fields)  # type: ignore[arg-type]


def test_binary_mode_puts_attributes_in_ce_headers_and_data_in_value() -> None:
    record = encode(make_event(), key="CA1")
    assert record.key == b"CA1"
    assert record.headers["ce_type"] == b"switchboard.call.status.v1"
    assert record.headers["ce_specversion"] == b"1.0"
    assert record.headers["ce_tenant"] == b"acme"
    assert record.headers["ce_subject"] == b"CA1"
    assert record.headers["content-type"] == b"application/json"
    assert record.headers["traceparent"].startswith(b"00-0af7")
    assert b'"call_id":"CA1"' in record.value


def test_decode_round_trips_every_field() -> None:
    original = make_event()
    decoded = decode(encode(original, key="CA1").headers, encode(original, key="CA1").value)
    assert decoded.id == original.id
    assert decoded.type == original.type
    assert decoded.tenant == "acme"
    assert decoded.subject == "CA1"
    assert decoded.data == original.data
    assert decoded.trace_headers == original.trace_headers
    assert decoded.time == original.time


def test_decode_accepts_kafka_header_list() -> None:
    record = encode(make_event(), key="CA1")
    assert decode(list(record.headers.items()), record.value).id == make_event().id


def test_event_ids_are_deterministic_and_distinct() -> None:
    assert event_id("twilio", "CA1", "ringing", 1) == event_id("twilio", "CA1", "ringing", 1)
    assert event_id("twilio", "CA1", "ringing", 1) != event_id("twilio", "CA1", "ringing", 2)
    # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert event_id("a", "bc") != event_id("ab", "c")


def test_unknown_type_is_invalid() -> None:
    record = encode(make_event(), key="CA1")
    headers = {**record.headers, "ce_type": b"switchboard.nope.v9"}
    with pytest.raises(InvalidEventError, match="unknown event type"):
        decode(headers, record.value)


def test_invalid_data_is_invalid() -> None:
    record = encode(make_event(), key="CA1")
    with pytest.raises(InvalidEventError, match=r"invalid switchboard\.call\.status\.v1"):
        decode(record.headers, b'{"provider": "twilio"}')


def test_missing_required_attribute_is_invalid() -> None:
    record = encode(make_event(), key="CA1")
    headers = {k: v for k, v in record.headers.items() if k != "ce_source"}
    with pytest.raises(InvalidEventError):
        decode(headers, record.value)


def test_terminal_statuses() -> None:
    assert CallStatus.COMPLETED.is_terminal
    assert CallStatus.NO_ANSWER.is_terminal
    assert not CallStatus.IN_PROGRESS.is_terminal


@given(parts=st.lists(st.one_of(st.text(max_size=20), st.integers()), max_size=5))
def test_event_id_is_the_uuid5_of_the_joined_parts(parts: list[object]) -> None:
    from switchboard.common.events.envelope import EVENT_ID_NAMESPACE

    name = "\x1f".join(str(p) for p in parts)
    assert event_id(*parts) == str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def _sdk_encode(event: Event, key: str | None) -> KafkaRecord:
    """The same event through the CloudEvents SDK's Kafka binding (the reference)."""
    attributes: dict[str, object] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": "1.0",
        "time": event.time,
        "datacontenttype": "application/json",
    }
    if event.subject:
        attributes["subject"] = event.subject
    if event.tenant:
        attributes["tenant"] = event.tenant
    message = ce_kafka.to_binary(
        CloudEvent(attributes=attributes, data=event.data.model_dump_json().encode()),
        JSONFormat(),
        key_mapper=lambda _: key,
    )
    headers = dict(message.headers)
    headers.update({k: v.encode() for k, v in event.trace_headers.items()})
    return KafkaRecord(
        key=None if key is None else key.encode(), value=message.value, headers=headers
    )


@given(
    subject=st.one_of(st.none(), st.text(min_size=1)),
    tenant=st.one_of(st.none(), st.text(min_size=1)),
    key=st.one_of(st.none(), st.text()),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
    micros=st.integers(min_value=0, max_value=999_999),
    traced=st.booleans(),
)
def test_encode_writes_exactly_what_the_cloudevents_sdk_writes(
    subject: str | None,
    tenant: str | None,
    key: str | None,
    offset_minutes: int,
    micros: int,
    traced: bool,
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    event = make_event(
        subject=subject,
        tenant=tenant,
        time=datetime(2026, 5, 6, 7, 8, 9, micros, tzinfo=zone),
        trace_headers=make_event().trace_headers if traced else {},
    )
    ours, reference = encode(event, key), _sdk_encode(event, key)
    assert ours == reference
    assert list(ours.headers) == list(reference.headers)


def test_encode_with_trace_headers_writes_what_the_event_carrying_them_would() -> None:
    traced = make_event()
    untraced = replace(traced, trace_headers={})
    assert traced.trace_headers
    assert encode(untraced, "k", traced.trace_headers) == encode(traced, "k")
    assert encode(traced, "k", {}) == encode(untraced, "k")


def test_encode_refuses_what_is_not_a_cloudevent() -> None:
    with pytest.raises(ValueError, match="id and source"):
        encode(make_event(id=""), key=None)
    with pytest.raises(ValueError, match="time zone"):
        encode(make_event(time=datetime(2026, 1, 1)), key=None)  # noqa: DTZ001
