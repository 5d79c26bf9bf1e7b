"""The worker process wiring on real Kafka + FerretDB + Redis: inbound → one reply → outbound."""

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from litestar.testing import AsyncTestClient

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.app import create_worker
from switchboard.common.events import MessageSent, decode, encode
from switchboard.common.testing import end_offsets, eventually, read_records
from switchboard.common.topics import dlq

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
