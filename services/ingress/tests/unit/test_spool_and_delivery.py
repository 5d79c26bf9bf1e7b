"""The spool (real SQLite files) and publish-or-spool delivery with a fake Kafka side."""

from datetime import UTC, datetime

import pytest

from switchboard.common.events import CallStatus, CallStatusChanged, Event, KafkaRecord
from switchboard.ingress.delivery import Delivery
from switchboard.ingress.mappers import Outgoing
from switchboard.ingress.record_limit import RecordLimit
from switchboard.ingress.spool import Spool, SpoolUnavailable


def rec(n: int) -> tuple[str, KafkaRecord]:
    return "call.events", KafkaRecord(
        key=f"CA{n}".encode(),
        value=f"v{n}".encode(),
        headers={"ce_id": f"id{n}".encode(), "bin": b"\xff\x00"},
    )


def outgoing(n: int) -> Outgoing:
    data = CallStatusChanged(
        provider="twilio",
        call_id=f"CA{n}",
        status=CallStatus.RINGING,
        occurred_at=datetime.now(UTC),
    )
    return Outgoing("call.events", f"CA{n}", Event(id=f"id{n}", source="/t", data=data))


async def test_spool_keeps_order_and_bytes_and_survives_reopen(tmp_path) -> None:
    spool = Spool(tmp_path, max_events=100)
    await spool.open()
    await spool.append([rec(1), rec(2)])
    await spool.append([rec(3)])
    assert spool.depth == 3
    await spool.close()

    again = Spool(tmp_path, max_events=100)
    await again.open()
    assert again.depth == 3
    batch = await again.peek(10)
    assert [s.record for s in batch] == [rec(1)[1], rec(2)[1], rec(3)[1]]
    await again.delete([batch[0].seq, batch[1].seq])
    assert [s.record.key for s in await again.peek(10)] == [b"CA3"]
    assert again.depth == 1
    await again.close()


async def test_each_process_claims_its_own_spool_file(tmp_path) -> None:
    first, second = Spool(tmp_path, 10), Spool(tmp_path, 10)
    await first.open()
    await second.open()
    assert first.path != second.path
    await first.close()
    await second.close()


async def test_full_spool_refuses_the_whole_batch(tmp_path) -> None:
    spool = Spool(tmp_path, max_events=2)
    await spool.open()
    await spool.append([rec(1)])
    with pytest.raises(SpoolUnavailable):
        await spool.append([rec(2), rec(3)])
    assert spool.depth == 1
    await spool.close()


async def test_delivery_spools_while_kafka_fails_and_drains_in_order(tmp_path, kafka) -> None:
    spool = Spool(tmp_path, max_events=100)
    await spool.open()
    delivery = Delivery(
        kafka, spool, RecordLimit(1_000_000), deadline_s=0.1, drain_batch=2, drain_retry_s=0.01
    )
    assert await delivery.deliver([outgoing(1)]) == "published"
    kafka.failing = True  # gone, or slower than the deadline under load
    assert await delivery.deliver([outgoing(2), outgoing(3)]) == "spooled"
    kafka.failing = False
    # Until the drainer gets a batch through, new events go to the spool without trying Kafka.
    assert await delivery.deliver([outgoing(4)]) == "spooled"
    assert delivery.degraded
    assert await delivery.drain_once() == 2
    # Kafka took a batch: new events go to it again (no spool-only service for as long as a
    # load lasts) while the backlog drains behind them.
    assert await delivery.deliver([outgoing(5)]) == "published"
    assert delivery.degraded
    while await delivery.drain_once():
        pass
    assert [r.key for _, r in kafka.published] == [b"CA1", b"CA2", b"CA3", b"CA5", b"CA4"]
    assert spool.depth == 0 and not delivery.degraded
    assert await delivery.deliver([outgoing(6)]) == "published"
    await spool.close()
