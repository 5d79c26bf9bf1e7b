"""The worker process wiring on real Kafka + FerretDB + Redis: inbound → one reply → outbound."""

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_knowledge import MongoKnowledge
from switchboard.ai.app import create_worker
from switchboard.ai.models import content_hash
from switchboard.common.events import MessageSent, decode, encode
from switchboard.common.testing import end_offsets, eventually, read_records
from switchboard.common.topics import dlq

from ..fakes import FakeEmbedder, fixed_now

pytestmark = pytest.mark.integration


async def test_duplicates_get_one_reply_and_poison_goes_to_the_dlq(
    ai_settings, db, fakes, build, cipher
) -> None:
    await MongoBusinesses(db).create(build.business(cipher))
    topic = ai_settings.consumer.topic
    out_topic = ai_settings.consumer.outbound_topic
    app = create_worker(ai_settings, fakes.overrides(publisher=False))
    async with AsyncTestClient(app=app) as client:
        await eventually(lambda: _ready(client), timeout_s=30)
        start = await end_offsets(ai_settings.kafka, out_topic)
        producer = AIOKafkaProducer(bootstrap_servers=ai_settings.kafka.bootstrap_servers)
        await producer.start()
        try:
            events = [
                build.inbound("w1", seq=0),
                build.inbound("w1", seq=0),
                build.inbound("w2", seq=1),
            ]
            for event in events:
                wire = encode(event, event.data.conversation)
                await producer.send_and_wait(
                    topic, wire.value, key=wire.key, headers=list(wire.headers.items())
                )
            await producer.send_and_wait(topic, b"poison", key=b"x", headers=[])
        finally:
            await producer.stop()
        records = await read_records(
            ai_settings.kafka, out_topic, start, until=lambda rs: len(rs) >= 2, timeout_s=60
        )
        dead = await read_records(
            ai_settings.kafka, dlq(topic), {}, until=lambda rs: len(rs) >= 1, timeout_s=60
        )
    replies = [decode(r.headers, r.value) for r in records]
    assert [e.data.in_reply_to for e in replies] == ["w1", "w2"]  # in order, w1 once
    assert all(isinstance(e.data, MessageSent) for e in replies)
    assert records[0].key == f"{build.wa_id}:15551230001".encode()
    assert [s.text for s in fakes.sender.sent] == ["reply to: Do you sell bread?"] * 2
    [letter] = dead
    assert letter.value == b"poison"
    assert dict(letter.headers)["x-dlq-error-type"] == b"InvalidEventError"


class BrokenEmbedder(FakeEmbedder):
    """Fails with something unexpected (a bug, not ModelUnavailable) while ``broken``."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def embed(self, texts):
        if self.broken:
            raise RuntimeError("a bug in the embedding job")
        return await super().embed(texts)


async def test_the_embedding_loop_is_restarted_after_a_bug_and_ready_shows_it_down(
    ai_settings, db, fakes, build, cipher
) -> None:
    business = build.business(cipher)
    await MongoBusinesses(db).create(business)
    knowledge = MongoKnowledge(db)
    text = "Opening hours: we open at 7 and close at 6."
    await knowledge.put_document(
        business.tenant, business.id, "hours", "Hours", text, content_hash(text, "m"), fixed_now()
    )
    fakes.embedder = BrokenEmbedder()
    app = create_worker(ai_settings, fakes.overrides())
    async with AsyncTestClient(app=app) as client:

        async def reported_down() -> bool:
            ready = await client.get("/ready")
            checks = ready.json()["checks"]
            return ready.status_code == 503 and checks.get("loop:embeddings") is False

        await eventually(reported_down, timeout_s=60, interval_s=0.05)
        restarts = REGISTRY.get_sample_value(
            "switchboard_loop_restarts_total", {"service": "ai", "loop": "embeddings"}
        )
        assert restarts and restarts >= 1
        fakes.embedder.broken = False

        async def embedded() -> bool:
            [doc] = await knowledge.documents(business.tenant, business.id)
            return doc.status == "ready"

        await eventually(embedded, timeout_s=90)
        await eventually(lambda: _ready(client), timeout_s=60)
        assert (await client.get("/ready")).json()["checks"]["loop:embeddings"] is True


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


async def _ready(client: AsyncTestClient) -> bool:
    return (await client.get("/ready")).status_code == 200
