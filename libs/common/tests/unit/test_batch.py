"""BatchProcessor with fakes: routes in order, bad records isolated, outages re-read."""

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from switchboard.common.errors import PermanentError, RetryableError
from switchboard.common.events import CallStatus, CallStatusChanged, Event, MessageReceived
from switchboard.common.kafka import BatchProcessor, RetryPolicy
from switchboard.common.testing import consumer_record

FAST = RetryPolicy(attempts=2, initial_backoff_s=0.001, max_backoff_s=0.002)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


class Dead:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, int]] = []

    async def send(self, record, error: BaseException, attempts: int) -> None:
        self.sent.append((record.offset, type(error).__name__, attempts))


def call(sid: str) -> Event:
    data = CallStatusChanged(
        provider="twilio", call_id=sid, status=CallStatus.RINGING, occurred_at=NOW
    )
    return Event(id=sid, source="/t", data=data)


def message(mid: str) -> Event:
    data = MessageReceived(
        channel="whatsapp",
        provider="meta",
        message_id=mid,
        business_channel_id="b1",
        contact="15550001",
        text="hi",
        received_at=NOW,
    )
    return Event(id=mid, source="/t", data=data)


async def test_routes_get_their_topics_records_in_one_call_in_order() -> None:
    seen: list[tuple[str, list[str]]] = []

    def handler(name: str):
        async def handle(events: Sequence[Event]) -> None:
            seen.append((name, [e.id for e in events]))

        return handle

    records = [
        consumer_record(message("m1"), "message.inbound", 1),
        consumer_record(call("c1"), "call.events", 2),
        consumer_record(call("c2"), "call.events", 3),
    ]
    processor = BatchProcessor(Dead(), FAST, group="g", retry_pause_s=0)
    await processor.process_routes(
        records, [({"call.events"}, handler("calls")), ({"message.inbound"}, handler("msgs"))]
    )
    assert seen == [("calls", ["c1", "c2"]), ("msgs", ["m1"])]


async def test_a_permanent_failure_dead_letters_only_the_bad_record() -> None:
    handled: list[str] = []

    async def handle(events: Sequence[Event]) -> None:
        if any(e.id == "bad" for e in events):
            raise PermanentError("cannot store bad")
        handled.extend(e.id for e in events)

    dead = Dead()
    records = [consumer_record(call(s), offset=i) for i, s in enumerate(("a", "bad", "b"))]
    await BatchProcessor(dead, FAST, group="g").process(records, handle)
    assert handled == ["a", "b"]
    assert dead.sent == [(1, "PermanentError", 1)]


async def test_an_outage_fails_the_batch_without_dead_letters() -> None:
    tries: list[int] = []

    async def down(events: Sequence[Event]) -> None:
        tries.append(1)
        raise RetryableError("database down")

    dead = Dead()
    processor = BatchProcessor(dead, FAST, group="g", retry_pause_s=0)
    with pytest.raises(RetryableError):
        await processor.process_routes([consumer_record(call("a"))], [({"call.events"}, down)])
    assert len(tries) == FAST.attempts
    assert dead.sent == []


async def test_unknown_types_are_skipped_and_invalid_data_dead_lettered() -> None:
    handled: list[str] = []

    async def handle(events: Sequence[Event]) -> None:
        handled.extend(e.id for e in events)

    good = consumer_record(call("a"), offset=1)
    others = [(k, v) for k, v in good.headers if k != "ce_type"]
    unknown = consumer_record(
        None, offset=2, headers=[*others, ("ce_type", b"x.unknown.v1")], value=b"{}"
    )
    invalid = consumer_record(None, offset=3, headers=good.headers, value=b'{"nope": 1}')
    dead = Dead()
    await BatchProcessor(dead, FAST, group="g").process([good, unknown, invalid], handle)
    assert handled == ["a"]
    assert dead.sent == [(3, "InvalidEventError", 1)]
