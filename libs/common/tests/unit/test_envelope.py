import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.common.errors import InvalidEventError
from switchboard.common.events import CallStatus, CallStatusChanged, Event, decode, encode, event_id


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
