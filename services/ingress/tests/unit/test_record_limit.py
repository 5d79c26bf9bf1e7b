"""Records are fitted under the broker's limit in a fixed order, with markers, or refused."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.common.events import (
    CallReport,
    CallStatus,
    CallStatusChanged,
    Event,
    decode,
    encode,
)
from switchboard.ingress.errors import EventTooLarge
from switchboard.ingress.record_limit import RecordLimit

LIMIT = 20_000
TRACE = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def report(**fields: object) -> Event:
    data = CallReport(
        provider="vapi",
        call_id=str(fields.pop("call_id", "call-1")),
        status=CallStatus.COMPLETED,
        occurred_at=datetime(2026, 11, 23, 13, 0, tzinfo=UTC),
        **fields,  # type: ignore[arg-type]
    )
    return Event(id="e1", source="/t", subject=data.call_id, tenant="acme", data=data)


def fit(event: Event, limit: int = LIMIT) -> CallReport:
    assert isinstance(event.data, CallReport)
    key = event.data.call_id
    fitted = RecordLimit(limit).fit(event, key, encode(event, key, TRACE), TRACE)
    assert RecordLimit(limit).fits(fitted)
    data = decode(fitted.headers, fitted.value).data
    assert isinstance(data, CallReport)
    return data


def test_a_record_that_fits_is_left_alone_and_carries_no_markers() -> None:
    event = report(transcript="short", raw={"a": 1})
    record = encode(event, "call-1", TRACE)
    assert RecordLimit(LIMIT).fit(event, "call-1", record, TRACE) is record
    assert b"truncated" not in record.value and b"original_sizes" not in record.value


def test_raw_goes_first_and_alone_when_that_is_enough() -> None:
    raw = {"message": {"artifact": {"messages": ["x" * 100] * 300}}}
    data = fit(report(transcript="t" * 5_000, summary="s" * 100, raw=raw))
    assert data.raw == {} and data.truncated
    assert set(data.original_sizes) == {"raw"}
    assert data.transcript == "t" * 5_000 and data.summary == "s" * 100


def test_then_the_transcript_is_cut_from_the_end_then_the_summary() -> None:
    data = fit(report(transcript="t" * 30_000, summary="s" * 100, raw={"r": "x" * 5_000}))
    assert data.original_sizes == {"raw": len('{"r":""}') + 5_000, "transcript": 30_000}
    assert data.transcript and set(data.transcript) == {"t"} and data.summary == "s" * 100
    data = fit(report(transcript="t" * 30_000, summary="s" * 30_000))
    assert data.transcript == "" and data.summary and len(data.summary) < 30_000
    assert data.original_sizes == {"transcript": 30_000, "summary": 30_000}


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(
        st.sampled_from(["a", "\n", '"', "\\", "\x01", "é", "€", "😀", "\u2028"]),
        min_size=5_000,
        max_size=12_000,
    )
)
def test_escapes_and_multibyte_text_are_cut_on_a_character_boundary_and_fit(text) -> None:
    data = fit(report(transcript=text * 3), limit=16_384)
    assert data.transcript is not None and (text * 3).startswith(data.transcript)
    assert data.original_sizes["transcript"] == len((text * 3).encode())


def test_trimming_is_deterministic() -> None:
    event = report(transcript="€" * 20_000, raw={"r": list(range(3_000))})
    first = RecordLimit(LIMIT).fit(event, "call-1", encode(event, "call-1", TRACE), TRACE)
    again = RecordLimit(LIMIT).fit(event, "call-1", encode(event, "call-1", TRACE), TRACE)
    assert first == again


def test_nothing_left_to_cut_or_not_a_report_is_refused() -> None:
    huge_id = report(call_id="c" * 30_000, transcript="t" * 100)
    with pytest.raises(EventTooLarge) as refused:
        fit(huge_id)
    assert refused.value.status_code == 413
    assert "SWITCHBOARD_KAFKA__MAX_RECORD_BYTES" in str(refused.value.detail)
    status = CallStatusChanged(
        provider="twilio",
        call_id="CA1",
        status=CallStatus.RINGING,
        occurred_at=datetime.now(UTC),
        raw={"Pad": "x" * 30_000},
    )
    event = Event(id="e2", source="/t", data=status)
    with pytest.raises(EventTooLarge):
        RecordLimit(LIMIT).fit(event, "CA1", encode(event, "CA1"), {})


def test_a_record_spooled_over_the_limit_is_refitted_or_given_up() -> None:
    event = report(transcript="t" * 30_000, raw={"r": "x" * 30_000})
    refitted = RecordLimit(LIMIT).refit(encode(event, "call-1", TRACE))
    assert refitted is not None and RecordLimit(LIMIT).fits(refitted)
    assert refitted.key == b"call-1"
    assert refitted.headers["traceparent"] == TRACE["traceparent"].encode()
    assert decode(refitted.headers, refitted.value).id == "e1"
    garbage = encode(event, "call-1")
    assert RecordLimit(LIMIT).refit(type(garbage)(b"k", b"\xff" * 30_000, {})) is None
