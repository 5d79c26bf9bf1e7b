"""A producer whose idempotence state the brokers refuse is replaced, not retried forever.

After every broker of a cluster was down, aiokafka's idempotent producer kept failing each send
with OutOfOrderSequenceNumber (found by make chaos --brokers 3: the spool grew for the rest of the
run). Fakes stand in for the producers."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber

from switchboard.common.errors import PublishError
from switchboard.common.events import KafkaRecord
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import eventually
from switchboard.ingress import publish
from switchboard.ingress.publish import KafkaPublisher

RECORDS = [("call.events", KafkaRecord(b"k", b"v", {}))]


class FakeProducer:
    def __init__(self, error: Exception | None) -> None:
        self.error, self.sent, self.stopped = error, 0, False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, value: bytes, **_: Any) -> "asyncio.Future[Any]":
        self.sent += 1
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.error is None:
            ack.set_result(None)
        else:
            ack.set_exception(self.error)
        return ack


async def until(check: Any) -> None:
    await eventually(check, timeout_s=5, interval_s=0.01)


@pytest.mark.parametrize("each", [False, True], ids=["publish_all", "publish_each"])
async def test_a_refused_producer_state_gets_a_new_producer(
    monkeypatch: pytest.MonkeyPatch, each: bool
) -> None:
    made = [FakeProducer(OutOfOrderSequenceNumber()), FakeProducer(None)]
    queue = iter(made)
    monkeypatch.setattr(publish, "create_producer", lambda _: next(queue))
    publisher = KafkaPublisher(KafkaSettings())
    async with publisher.running():
        await until(lambda: publisher.connected)
        if each:
            (outcome,) = await publisher.publish_each(RECORDS, timeout_s=1)
            assert isinstance(outcome, PublishError)
        else:
            with pytest.raises(PublishError):
                await publisher.publish_all(RECORDS, timeout_s=1)
        await until(lambda: publisher.connected)
        await publisher.publish_all(RECORDS, timeout_s=1)  # through the new producer
    assert made[0].stopped and made[1].sent == 1


async def test_an_unreachable_broker_keeps_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broker that is away is not the producer's fault: the same producer retries later."""
    made = [FakeProducer(KafkaConnectionError())]
    monkeypatch.setattr(publish, "create_producer", lambda _: made[0])
    publisher = KafkaPublisher(KafkaSettings())
    async with publisher.running():
        await until(lambda: publisher.connected)
        with pytest.raises(PublishError):
            await publisher.publish_all(RECORDS, timeout_s=1)
        assert publisher.connected and not made[0].stopped
