import pytest

from switchboard.common.events import CallStatus, CallStatusChanged
from switchboard.ingress.errors import PayloadInvalid
from switchboard.ingress.mappers.twilio import voice_status
from switchboard.ingress.verify import FormParams


def form(**fields: str) -> FormParams:
    base = {
        "AccountSid": "AC1",
        "CallSid": "CA1",
        "CallStatus": "ringing",
        "SequenceNumber": "1",
        "Timestamp": "Mon, 23 Nov 2026 13:00:00 +0000",
    }
    base.update(fields)
    return FormParams.from_pairs(base.items())


def test_maps_status_callback_keyed_by_call_sid() -> None:
    out = voice_status(form(CallDuration="7", CallStatus="completed"), tenant="acme")
    assert (out.topic, out.key, out.event.tenant) == ("call.events", "CA1", "acme")
    assert isinstance(out.event.data, CallStatusChanged)
    assert out.event.data.status is CallStatus.COMPLETED
    assert out.event.data.duration_s == 7
    assert out.event.data.occurred_at.isoformat() == "2026-11-23T13:00:00+00:00"


def test_same_callback_same_id_other_status_or_sequence_other_id() -> None:
    a = voice_status(form(), tenant="acme").event.id
    assert a == voice_status(form(), tenant="acme").event.id
    assert a != voice_status(form(CallStatus="in-progress"), tenant="acme").event.id
    assert a != voice_status(form(SequenceNumber="2"), tenant="acme").event.id


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"CallStatus": ""}, "CallStatus"),
        ({"CallStatus": "exploded"}, "status"),
        ({"SequenceNumber": "-x"}, "sequence_number"),
        ({"CallDuration": "abc"}, "duration_s"),
        ({"CallSid": ""}, "CallSid"),
    ],
)
def test_invalid_payload_names_the_reason(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(PayloadInvalid) as info:
        voice_status(form(**fields), tenant="acme")
    assert reason in str(info.value.detail)


def test_repeated_fields_are_kept_in_raw() -> None:
    params = FormParams.from_pairs(
        [("CallSid", "CA1"), ("CallStatus", "ringing"), ("X", "1"), ("X", "2")]
    )
    assert voice_status(params, tenant="acme").event.data.raw["X"] == ["1", "2"]  # type: ignore[attr-defined]
