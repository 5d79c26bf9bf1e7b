"""History's routes through common.kafka.BatchProcessor, with fakes: whole batches, bad records
isolated, outages retried."""

import pytest

from switchboard.common.errors import RetryableError
from switchboard.common.kafka import RetryPolicy
from switchboard.history.consumers import batch_processor, routes
from switchboard.history.settings import ConsumerSettings, HistorySettings

FAST = RetryPolicy(attempts=2, initial_backoff_s=0.001, max_backoff_s=0.002)
SETTINGS = HistorySettings(retry=FAST, consumer=ConsumerSettings(retry_pause_s=0))


class Processor:
    """The worker's batch path for one store: ``process(records)`` as the subscriber does."""

    def __init__(self, store, dead) -> None:
        self._processor = batch_processor(SETTINGS, dead)
        self._routes = routes(store, SETTINGS)

    async def process(self, records) -> None:
        await self._processor.process_routes(records, self._routes)


def processor(store, dead) -> Processor:
    return Processor(store, dead)


async def test_a_batch_is_stored_in_one_write(store, dead_letters, ev, make_record) -> None:
    records = [make_record(ev.call(s, q), offset=q) for s, q in (("ringing", 1), ("completed", 2))]
    await processor(store, dead_letters).process(records)
    assert store.batches == 1
    assert store.calls["CA1"].status == "completed"
    assert dead_letters.sent == []


async def test_only_the_bad_record_is_dead_lettered(store_factory, dead_letters, ev, make_record):
    bad = ev.call("ringing", 1, call_id="CA-bad")
    store = store_factory(fail_on={bad.id})
    records = [
        make_record(ev.call("ringing", 1, call_id="CA-ok1"), offset=1),
        make_record(bad, offset=2),
        make_record(ev.call("ringing", 1, call_id="CA-ok2"), offset=3),
    ]
    await processor(store, dead_letters).process(records)
    assert set(store.calls) == {"CA-ok1", "CA-ok2"}
    assert [(r.offset, type(e).__name__, n) for r, e, n in dead_letters.sent] == [
        (2, "StoreRejectedError", 1)
    ]


async def test_an_outage_fails_the_batch_without_dead_letters(ev, make_record, dead_letters):
    class Down:
        calls = 0

        async def record_call_facts(self, facts):
            self.calls += 1
            raise RetryableError("database down")

    store = Down()
    with pytest.raises(RetryableError):
        await processor(store, dead_letters).process([make_record(ev.call("ringing", 1))])
    assert store.calls == FAST.attempts
    assert dead_letters.sent == []


async def test_unknown_types_are_skipped_and_invalid_data_dead_lettered(
    store, dead_letters, ev, make_record
) -> None:
    good = make_record(ev.inbound(), topic="message.inbound", offset=1)
    headers = [(k, v) for k, v in good.headers if k != "ce_type"]
    unknown = make_record(
        None,
        topic="message.inbound",
        offset=2,
        headers=[*headers, ("ce_type", b"x.unknown.v1")],
        value=b"{}",
    )
    invalid = make_record(
        None, topic="message.inbound", offset=3, headers=good.headers, value=b'{"nope": 1}'
    )
    await processor(store, dead_letters).process([good, unknown, invalid])
    assert list(store.messages) == ["wamid.1"]
    assert [(r.offset, type(e).__name__) for r, e, _ in dead_letters.sent] == [
        (3, "InvalidEventError")
    ]
