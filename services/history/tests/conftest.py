"""History test fixtures: the in-memory fakes of ``fakes.py`` and event builders."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.common.events import (
    CallMachineDetected,
    CallPlaced,
    CallPlaceFailed,
    CallReport,
    CallStatus,
    CallStatusChanged,
    Event,
    MessageDeliveryStatus,
    MessageReceived,
    MessageSent,
    MessageStatusChanged,
    event_id,
)
from switchboard.common.testing import consumer_record

from .fakes import FakeDeadLetters, InMemoryStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LIFECYCLE = (("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3))

ACCOUNT = "AC" + "1" * 32
"""The Twilio account of the test events."""


def _event(data: Any, eid: str, tenant: str | None, subject: str | None = None) -> Event:
    return Event(id=eid, source="/test", data=data, subject=subject, tenant=tenant)


def call_event(
    status: str,
    seq: int | None,
    call_id: str = "CA1",
    tenant: str | None = "acme",
    duration: int | None = None,
    at: datetime | None = None,
    **extra: Any,
) -> Event:
    data = CallStatusChanged(
        provider="twilio",
        call_id=call_id,
        account_id=ACCOUNT,
        status=CallStatus(status),
        sequence_number=seq,
        duration_s=duration,
        occurred_at=at or T0 + timedelta(seconds=seq or 0),
        from_number="+1500",
        **extra,
    )
    eid = event_id("twilio", call_id, status, seq if seq is not None else "")
    return _event(data, eid, tenant, call_id)


def amd_event(call_id: str = "CA1", answered_by: str = "human", tenant: str = "acme") -> Event:
    data = CallMachineDetected(
        provider="twilio",
        call_id=call_id,
        answered_by=answered_by,
        occurred_at=T0 + timedelta(seconds=5),
    )
    return _event(data, event_id("amd", call_id, answered_by), tenant, call_id)


def report_event(
    call_id: str = "vapi-1", telephony: str | None = "CA1", tenant: str = "acme"
) -> Event:
    data = CallReport(
        provider="vapi",
        call_id=call_id,
        telephony_call_id=telephony,
        status=CallStatus.COMPLETED,
        ended_reason="customer-ended-call",
        duration_s=31,
        cost=0.25,
        summary="booked a table",
        transcript="hi",
        occurred_at=T0 + timedelta(seconds=40),
    )
    return _event(data, event_id("vapi", call_id, "report"), tenant, call_id)


def placed_event(call_id: str = "CA1", tenant: str = "acme", campaign: str = "camp-1") -> Event:
    data = CallPlaced(
        call_id=call_id,
        account_id=ACCOUNT,
        campaign_id=campaign,
        contact_id="contact-1",
        attempt_id=f"att-{call_id}",
        attempt_number=1,
        from_number="+1500",
        to_number="+1600",
        occurred_at=T0 - timedelta(seconds=1),
    )
    return _event(data, event_id("placed", call_id), tenant, call_id)


def place_failed_event(attempt: str = "att-9", tenant: str = "acme") -> Event:
    data = CallPlaceFailed(
        campaign_id="camp-1",
        contact_id="contact-9",
        attempt_id=attempt,
        attempt_number=2,
        to_number="+1700",
        error_code="21215",
        error_message="geo permissions",
        retryable=False,
        occurred_at=T0,
    )
    return _event(data, event_id("place_failed", attempt), tenant)


def inbound_event(
    message_id: str = "wamid.1", contact: str = "+1555", tenant: str | None = "acme", **kw: Any
) -> Event:
    data = MessageReceived(
        channel="whatsapp",
        provider="meta",
        message_id=message_id,
        business_channel_id="PN1",
        contact=contact,
        contact_name=kw.pop("contact_name", "Ann"),
        text=kw.pop("text", "hello"),
        received_at=kw.pop("at", T0),
        **kw,
    )
    return _event(data, event_id("in", message_id), tenant)


def sent_event(
    message_id: str = "wamid.out1", contact: str = "+1555", tenant: str = "acme"
) -> Event:
    data = MessageSent(
        channel="whatsapp",
        provider="meta",
        message_id=message_id,
        in_reply_to="wamid.1",
        business_id="biz-1",
        business_channel_id="PN1",
        contact=contact,
        text="hi there",
        model="gpt-test",
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.001,
        sent_at=T0 + timedelta(seconds=2),
    )
    return _event(data, event_id("out", message_id), tenant)


def status_event(
    status: str, message_id: str = "wamid.out1", contact: str = "+1555", tenant: str = "acme"
) -> Event:
    s = MessageDeliveryStatus(status)
    offset = {"queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}.get(status, 6)
    data = MessageStatusChanged(
        channel="whatsapp",
        provider="meta",
        message_id=message_id,
        business_channel_id="PN1",
        contact=contact,
        status=s,
        error_code="131026" if s is MessageDeliveryStatus.FAILED else None,
        occurred_at=T0 + timedelta(seconds=10 + offset),
    )
    return _event(data, event_id("st", message_id, status), tenant)


class Builders:
    call = staticmethod(call_event)
    amd = staticmethod(amd_event)
    report = staticmethod(report_event)
    placed = staticmethod(placed_event)
    place_failed = staticmethod(place_failed_event)
    inbound = staticmethod(inbound_event)
    sent = staticmethod(sent_event)
    status = staticmethod(status_event)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def ev() -> type[Builders]:
    return Builders


@pytest.fixture
def make_event():
    return call_event


@pytest.fixture
def lifecycle():
    return LIFECYCLE


@pytest.fixture
def store_factory():
    return InMemoryStore


@pytest.fixture
def dead_letters() -> FakeDeadLetters:
    return FakeDeadLetters()


@pytest.fixture
def make_record():
    return consumer_record
