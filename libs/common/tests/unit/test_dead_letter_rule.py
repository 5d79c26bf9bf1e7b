"""The dead-letter rule, with fakes: only a record that can never succeed is dead-lettered.

An outage (a ``RetryableError`` that outlasts the bounded retries) is not the record's fault:
it propagates, so the batch fails, nothing is committed, and the consumer reads it again after
a pause that grows while the outage lasts.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import structlog

from switchboard.common.errors import PermanentError, RetryableError
from switchboard.common.events import CallStatus, CallStatusChanged, Event
from switchboard.common.kafka import (
    BatchProcessor,
    RetryPolicy,
    handle_or_dead_letter,
    process_record,
)
from switchboard.common.testing import consumer_record

FAST = RetryPolicy(attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)
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


async def test_an_outage_that_outlasts_the_retries_propagates_and_is_not_dead_lettered() -> None:
    tries: list[int] = []

    async def down() -> None:
        tries.append(1)
        raise RetryableError("mongo down")

    dead = Dead()
    with pytest.raises(RetryableError, match="mongo down"):
        await handle_or_dead_letter(consumer_record(call("a"), offset=4), down, FAST, dead)
    assert len(tries) == FAST.attempts  # the bounded retries ran first
    assert dead.sent == []


async def test_process_record_lets_an_outage_through_and_dead_letters_only_bad_records() -> None:
    async def down(_: Event) -> None:
        raise RetryableError("redis down")

    dead = Dead()
    with pytest.raises(RetryableError):
        await process_record(consumer_record(call("a"), offset=1), down, FAST, dead)
    assert dead.sent == []

    handled: list[str] = []

    async def ok(event: Event) -> None:
        handled.append(event.id)

    undecodable = consumer_record(None, offset=2, headers=[], value=b"not an event")
    assert not await process_record(undecodable, ok, FAST, dead)
    assert await process_record(consumer_record(call("b"), offset=3), ok, FAST, dead)
    assert handled == ["b"]
    assert dead.sent == [(2, "InvalidEventError", 1)]


async def test_permanent_and_unexpected_errors_are_dead_lettered_at_once() -> None:
    tries: list[str] = []

    async def permanent() -> None:
        tries.append("permanent")
        raise PermanentError("cannot ever store this")

    async def bug() -> None:
        tries.append("bug")
        raise KeyError("a bug")

    dead = Dead()
    assert not await handle_or_dead_letter(
        consumer_record(call("a"), offset=1), permanent, FAST, dead
    )
    assert not await handle_or_dead_letter(consumer_record(call("b"), offset=2), bug, FAST, dead)
    assert tries == ["permanent", "bug"]  # no retries: retrying cannot help
    assert dead.sent == [(1, "PermanentError", 1), (2, "KeyError", 1)]


async def test_a_transient_error_that_passes_within_the_retries_is_handled() -> None:
    tries: list[int] = []

    async def flaky() -> None:
        tries.append(1)
        if len(tries) < FAST.attempts:
            raise RetryableError("blip")

    dead = Dead()
    assert await handle_or_dead_letter(consumer_record(call("a")), flaky, FAST, dead)
    assert dead.sent == []


async def test_an_outage_while_isolating_a_bad_record_fails_the_batch_undead_lettered() -> None:
    """The batch fails permanently (a bad record), so it is handled record by record; the
    datastore goes down meanwhile: the records are not dead-lettered, the batch fails whole."""
    down = False
    handled: list[str] = []

    async def handle(events: Sequence[Event]) -> None:
        nonlocal down
        if len(events) > 1:
            down = True  # the outage starts as the batch is split
            raise PermanentError("one of them is bad")
        if down:
            raise RetryableError("postgres down")
        handled.extend(e.id for e in events)

    dead = Dead()
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    processor = BatchProcessor(dead, FAST, group="g", retry_pause_s=0.5, sleep=sleep)
    records = [consumer_record(call(s), offset=i) for i, s in enumerate(("a", "b"))]
    with pytest.raises(RetryableError):
        await processor.process_routes(records, [({"call.events"}, handle)])
    assert dead.sent == []
    assert handled == []
    assert pauses == [0.5]  # read again after a pause, not at once


async def test_lines_logged_while_a_record_is_handled_name_its_event_and_tenant() -> None:
    event = Event(
        id="ev-1",
        source="/t",
        tenant="acme",
        data=CallStatusChanged(
            provider="twilio", call_id="CA1", status=CallStatus.RINGING, occurred_at=NOW
        ),
    )
    seen: list[dict[str, object]] = []

    async def handle() -> None:
        seen.append(dict(structlog.contextvars.get_contextvars()))

    assert await handle_or_dead_letter(consumer_record(event), handle, FAST, Dead())
    assert seen[0]["event_id"] == "ev-1"
    assert seen[0]["tenant"] == "acme"
    assert seen[0]["event_type"] == CallStatusChanged.event_type
    assert "event_id" not in structlog.contextvars.get_contextvars()  # unbound after
