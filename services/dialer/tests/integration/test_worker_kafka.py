"""The worker app on the real Kafka, PostgreSQL and Redis (provider faked): the outbox relay
publishes placed calls, terminal call events finish contacts, STOP opts a number out."""

import uuid
from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient

from switchboard.common.events import (
    CallPlaced,
    CallStatus,
    CallStatusChanged,
    Event,
    MessageReceived,
    decode,
    encode,
)
from switchboard.common.kafka import create_broker, publish_record
from switchboard.common.testing import end_offsets, eventually, read_records, unique
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND
from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.app import create_worker
from switchboard.dialer.models import CampaignConfig
from switchboard.dialer.repository import Campaign

pytestmark = pytest.mark.integration
ACCOUNT = "AC00000000000000000000000000000001"


@pytest.fixture
async def worker(settings, placer, clock, kafka_settings, config):
    settings.consumer.group_id = unique("dialer_test")
    settings.consumer.auto_offset_reset = "latest"
    settings.worker.idle_poll_s = 0.1
    app = create_worker(settings, placer=placer, config=config, clock=clock)
    async with AsyncTestClient(app=app) as client:
        await eventually(lambda: _ready(client), timeout_s=30)
        yield client


async def _ready(client) -> bool:
    return (await client.get("/ready")).status_code == 200


@pytest.fixture
async def broker(kafka_settings):
    b = create_broker(kafka_settings)
    await b.connect()
    yield b
    await b.stop()


async def publish(broker, topic, data, key, tenant="acme") -> None:
    event = Event(id=str(uuid.uuid4()), source="/test", data=data, tenant=tenant)
    await publish_record(broker, topic, encode(event, key), timeout_s=10)


async def test_placed_calls_reach_kafka_and_outcomes_come_back(
    worker, broker, pool, placer, kafka_settings, clock
) -> None:
    start = await end_offsets(kafka_settings, CALL_EVENTS)
    store = PostgresCampaignStore(pool)
    cfg = CampaignConfig(caller_ids=["+12125550100"], twiml="<Response/>")
    c = await store.create_campaign(
        Campaign(uuid.uuid4(), "acme", "k", "draft", ACCOUNT, 10.0, 10, cfg)
    )
    async with store.contact_loader(c, 10) as loader:
        await loader.add([(2, "+12125550001", "America/New_York", None)])
        await loader.finish()
    await store.apply_command(
        "acme", c.id, "start", outbox.command(c.id, "acme", "start", None, clock())
    )
    await eventually(lambda: len(placer.calls) == 1, timeout_s=20)
    [sid] = list(placer.calls)

    def placed(records) -> bool:
        return any(
            isinstance(d := decode(r.headers, r.value).data, CallPlaced) and d.call_id == sid
            for r in records
            if dict(r.headers).get("ce_type") == b"switchboard.call.placed.v1"
        )

    records = await read_records(kafka_settings, CALL_EVENTS, start, until=placed)
    assert placed(records)
    [mine] = [r for r in records if r.key == sid.encode()]
    assert decode(mine.headers, mine.value).tenant == "acme"

    status = CallStatusChanged(
        provider="twilio",
        call_id=sid,
        status=CallStatus.COMPLETED,
        occurred_at=datetime.now(UTC),
    )

    async def finished() -> bool:
        await publish(broker, CALL_EVENTS, status, sid)  # again until the consumer is placed
        row = await pool.fetchrow("SELECT state, outcome FROM contacts")
        return tuple(row) == ("done", "completed")

    await eventually(finished, timeout_s=40, interval_s=1.0)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_stop_message_opts_the_number_out(worker, broker, pool) -> None:
    contact = "+14155550" + str(uuid.uuid4().int % 1000).zfill(3)
    message = MessageReceived(
        channel="sms",
        provider="twilio",
        message_id=unique("SM"),
        business_channel_id="+12125550100",
        contact=contact,
        text=" Stop ",
        received_at=datetime.now(UTC),
    )
    other = MessageReceived(
        channel="sms",
        provider="twilio",
        message_id=unique("SM"),
        business_channel_id="+12125550100",
        contact="+14155550999",
        text="please call me tomorrow",
        received_at=datetime.now(UTC),
    )

    async def listed() -> bool:
        await publish(broker, MESSAGE_INBOUND, other, "k")
        await publish(broker, MESSAGE_INBOUND, message, "k")
        return bool(await pool.fetchval("SELECT count(*) FROM dnc WHERE phone = $1", contact))

    await eventually(listed, timeout_s=40, interval_s=1.0)
    rows = await pool.fetch("SELECT tenant_id, phone FROM dnc")
    assert [tuple(r) for r in rows] == [("acme", contact)]
