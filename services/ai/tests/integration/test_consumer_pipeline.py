"""The worker's keyed consumption on real Kafka, FerretDB and Redis: each conversation in order
while many are handled at once, one conversation failing past its retries does not hold the
others back, and nothing is answered twice across a crash and a redelivery."""

import asyncio
import dataclasses
import random
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from litestar.testing import AsyncTestClient

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.app import create_worker
from switchboard.ai.errors import SendFailed
from switchboard.ai.settings import AiSettings
from switchboard.common.events import Event, encode
from switchboard.common.testing import end_offsets, eventually, partitions
from switchboard.common.topics import dlq

from ..fakes import FakeSender

pytestmark = pytest.mark.integration


class ShuffledSender(FakeSender):
    """Takes a random short time per send (so conversations finish out of step) and counts
    how many sends are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.peak = 0
        self.rng = random.Random(7)

    async def send(self, business, tokens, channel_id, to, text, *, template=None) -> str:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.rng.uniform(0.0, 0.03))
            return await super().send(business, tokens, channel_id, to, text, template=template)
        finally:
            self.active -= 1


class NoisySender(FakeSender):
    """Refuses every send to ``noisy`` as Meta does past its per-recipient limit (131056),
    until ``quiet`` is set."""

    def __init__(self, noisy: str) -> None:
        super().__init__()
        self.noisy = noisy
        self.quiet = False
        self.refused = 0

    async def send(self, business, tokens, channel_id, to, text, *, template=None) -> str:
        if to == self.noisy and not self.quiet:
            self.refused += 1
            raise SendFailed("(#131056) pair rate limit hit")
        return await super().send(business, tokens, channel_id, to, text, template=template)


class BlockingSender(FakeSender):
    """The send to ``stuck`` never returns (the process dies while the provider has it)."""

    def __init__(self, stuck: str) -> None:
        super().__init__()
        self.stuck = stuck
        self.started = asyncio.Event()

    async def send(self, business, tokens, channel_id, to, text, *, template=None) -> str:
        if to == self.stuck:
            self.started.set()
            await asyncio.Event().wait()
        return await super().send(business, tokens, channel_id, to, text, template=template)


def with_consumer(settings: AiSettings, **changes: object) -> AiSettings:
    return settings.model_copy(
        update={"consumer": settings.consumer.model_copy(update=changes)}, deep=True
    )


async def produce(settings: AiSettings, events: Sequence[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in events:
            wire = encode(event, event.data.conversation)
            await producer.send(
                settings.consumer.topic,
                wire.value,
                key=wire.key,
                headers=list(wire.headers.items()),
            )
        await producer.flush()
    finally:
        await producer.stop()


async def ready(client: AsyncTestClient) -> bool:
    return (await client.get("/ready")).status_code == 200


async def test_each_conversation_in_order_while_many_are_answered_at_once(
    ai_settings, db, fakes, build, cipher
) -> None:
    await MongoBusinesses(db).create(build.business(cipher))
    fakes.sender = ShuffledSender()
    contacts = [f"155500000{n:02d}" for n in range(12)]
    events = [
        build.inbound(f"m-{c}-{i}", text=f"{c} question {i}", contact=c, seq=i)
        for i in range(5)
        for c in contacts
    ]
    settings = with_consumer(ai_settings, concurrency=8, max_records=7)
    async with AsyncTestClient(app=create_worker(settings, fakes.overrides())) as client:
        await eventually(lambda: ready(client), timeout_s=60)
        await produce(settings, events)
        await eventually(lambda: len(fakes.sender.sent) == len(events), timeout_s=120)
    for c in contacts:
        texts = [s.text for s in fakes.sender.sent if s.to == c]
        assert texts == [f"reply to: {c} question {i}" for i in range(5)], c
    assert fakes.sender.peak > 1  # conversations were answered side by side
    # Each conversation's memory grew in order: the last prompt holds the earlier turns.
    last_prompt = next(p for p in reversed(fakes.model.prompts) if contacts[0] in p[-1].content)
    assert f"{contacts[0]} question 3" in " ".join(m.content for m in last_prompt[:-1])


async def test_a_noisy_conversation_does_not_hold_the_others_back(
    ai_settings, db, fakes, build, cipher
) -> None:
    """Meta refuses one customer's replies for a while (131056): that conversation waits and
    tries again, never dead-lettered, while every other conversation is answered — also those
    read long after it (the old batch consumer re-read the same batch while it failed)."""
    await MongoBusinesses(db).create(build.business(cipher))
    fakes.sender = NoisySender("15550009999")
    settings = with_consumer(ai_settings, max_records=5, retry_pause_s=0.2, max_retry_pause_s=1.0)
    others = [
        build.inbound(f"o{n}", text=f"other {n}", contact=f"155500010{n:02d}", seq=n)
        for n in range(30)
    ]
    async with AsyncTestClient(app=create_worker(settings, fakes.overrides())) as client:
        await eventually(lambda: ready(client), timeout_s=60)
        # The noisy conversation's messages first: on one partition, they sit before the rest.
        await produce(
            settings,
            [
                build.inbound("n1", text="noisy 1", contact="15550009999", seq=0),
                build.inbound("n2", text="noisy 2", contact="15550009999", seq=1),
            ],
        )
        await eventually(lambda: fakes.sender.refused >= 2, timeout_s=60)
        await produce(settings, others)
        await eventually(lambda: len(fakes.sender.sent) == len(others), timeout_s=120)
        assert fakes.sender.refused >= 2 and not any(
            s.to == "15550009999" for s in fakes.sender.sent
        )
        fakes.sender.quiet = True  # the limit passed
        await eventually(lambda: len(fakes.sender.sent) == len(others) + 2, timeout_s=120)
    noisy = [s.text for s in fakes.sender.sent if s.to == "15550009999"]
    assert noisy == ["reply to: noisy 1", "reply to: noisy 2"]
    assert await _dead_letters(ai_settings) == 0


async def test_nothing_is_answered_twice_across_a_crash_and_a_redelivery(
    ai_settings, db, fakes, build, cipher
) -> None:
    """Worker A stops while one reply is with the provider (cancelled mid-send) and after
    answering the rest; then every offset of the group is reset (as if nothing had ever been
    committed) and worker B reads everything again: B sends nothing A sent, and the reply
    whose outcome is unknown is not sent again."""
    await MongoBusinesses(db).create(build.business(cipher))
    events = [
        build.inbound(f"c{n}", text=f"crash {n}", contact=f"155500020{n:02d}", seq=n)
        for n in range(12)
    ]
    stuck = events[5].data.contact
    sender_a = BlockingSender(stuck)
    settings = with_consumer(ai_settings, revoke_timeout_s=0.5)
    async with AsyncTestClient(
        app=create_worker(settings, dataclasses.replace(fakes.overrides(), sender=sender_a))
    ) as client:
        await eventually(lambda: ready(client), timeout_s=60)
        await produce(settings, events)
        await eventually(
            lambda: len(sender_a.sent) == len(events) - 1 and sender_a.started.is_set(),
            timeout_s=120,
        )
    sent_by_a = {s.text for s in sender_a.sent}
    assert "reply to: crash 5" not in sent_by_a
    await _rewind_group(settings)

    sender_b = FakeSender()
    async with AsyncTestClient(
        app=create_worker(settings, dataclasses.replace(fakes.overrides(), sender=sender_b))
    ) as client:
        await eventually(lambda: ready(client), timeout_s=60)
        await eventually(lambda: _group_caught_up(settings), timeout_s=120)
    assert sender_b.sent == []  # every reply went out once, from A; "crash 5" never twice


async def _rewind_group(settings: AiSettings) -> None:
    """Commit offset 0 on every partition for the (empty) group: everything is redelivered."""
    tps = await partitions(settings.kafka, settings.consumer.topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=settings.consumer.group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()


async def _group_caught_up(settings: AiSettings) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(settings.consumer.group_id)
        tps = [TopicPartition(settings.consumer.topic, p.partition) for p in committed]
        ends = await consumer.end_offsets(tps) if tps else {}
        return (
            bool(tps)
            and all(committed[tp].offset >= ends[tp] for tp in tps if ends[tp] > 0)
            and any(committed[tp].offset > 0 for tp in tps)
        )
    finally:
        await consumer.stop()
        await admin.close()


async def _dead_letters(settings: AiSettings) -> int:
    return sum((await end_offsets(settings.kafka, dlq(settings.consumer.topic))).values())


@pytest.fixture(autouse=True)
async def delete_topics(ai_settings):
    yield
    consumer = ai_settings.consumer
    admin = AIOKafkaAdminClient(bootstrap_servers=ai_settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([consumer.topic, consumer.outbound_topic, dlq(consumer.topic)])
    finally:
        await admin.close()
