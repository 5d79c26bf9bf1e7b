"""The worker through real datastore outages: this test stops and starts the PostgreSQL and
Redis of the current environment (``scripts/infra/infra.sh stop|start postgres|redis``), so
run it only against servers of your own (``source /work/helpers/env.sh <slot>``).

While a datastore is down the consumer and the background loops pause and retry: nothing is
dead-lettered, no loop ends (none is restarted), ``/ready`` names the datastore; what arrived
meanwhile is applied once it is back."""

import asyncio
import subprocess
import uuid
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from switchboard.common.events import (
    CallStatus,
    CallStatusChanged,
    Event,
    MessageReceived,
    encode,
)
from switchboard.common.kafka import create_broker, publish_record
from switchboard.common.kafka.dlq import DEAD_LETTERS
from switchboard.common.supervise import LOOP_RESTARTS
from switchboard.common.testing import eventually, unique
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND
from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.app import create_worker
from switchboard.dialer.metrics import OUTAGE_RETRIES
from switchboard.dialer.models import CallingWindow, CampaignConfig
from switchboard.dialer.repository import Campaign
from switchboard.dialer.settings import WindowSettings

pytestmark = pytest.mark.integration

ACCOUNT = "AC00000000000000000000000000000001"
INFRA = Path(__file__).resolve().parents[4] / "scripts" / "infra" / "infra.sh"
LOOPS = ("dial", "recovery", "outbox-relay")
PG_RESTARTS = 3
"""PostgreSQL answers "starting up" / "shutting down" for a moment around each restart: the
loops poll every 50 ms, so a few restarts make sure they meet those answers too."""


async def infra(verb: str, component: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash", str(INFRA), verb, component, stdout=subprocess.DEVNULL
    )
    assert await process.wait() == 0, f"infra.sh {verb} {component} failed"


def restarts() -> float:
    return sum(LOOP_RESTARTS.labels("dialer", name)._value.get() for name in LOOPS)


def dead_letters(group: str) -> float:
    return sum(
        DEAD_LETTERS.labels(topic, group, reason)._value.get()
        for topic in (CALL_EVENTS, MESSAGE_INBOUND)
        for reason in ("permanent", "exhausted")
    )


async def _checks(client) -> tuple[int, dict[str, bool]]:
    response = await client.get("/ready")
    return response.status_code, response.json()["checks"]


async def _ready(client) -> bool:
    status, checks = await _checks(client)
    return status == 200 and all(checks.values())


async def _down(client, name: str) -> bool:
    status, checks = await _checks(client)
    return status == 503 and checks[name] is False


@pytest.fixture
async def broker(kafka_settings):
    b = create_broker(kafka_settings)
    await b.connect()
    yield b
    await b.stop()


async def publish(broker, topic: str, data, key: str) -> None:
    event = Event(id=str(uuid.uuid4()), source="/test", data=data, tenant="acme")
    await publish_record(broker, topic, encode(event, key), timeout_s=30)


def stop_message(contact: str) -> MessageReceived:
    return MessageReceived(
        channel="sms",
        provider="twilio",
        message_id=unique("SM"),
        business_channel_id="+12125550100",
        contact=contact,
        text="STOP",
        received_at=datetime.now(UTC),
    )


async def test_datastore_outages_pause_the_worker_and_lose_nothing(
    settings, placer, pool, broker, config
) -> None:
    group = unique("dialer_outage")
    settings.consumer.group_id = group
    settings.consumer.auto_offset_reset = "latest"
    settings.consumer.retry_pause_s = 0.05
    settings.worker.idle_poll_s = 0.05
    settings.worker.recovery_interval_s = 0.05
    settings.window = WindowSettings(start=time(0), end=time(23, 59, 59))
    app = create_worker(settings, placer=placer, config=config)
    store = PostgresCampaignStore(pool)
    async with AsyncTestClient(app=app) as client:
        await eventually(lambda: _ready(client), timeout_s=60)
        # The consumer is placed once an event published now is handled.
        warm_up = "+14155550100"

        async def listed(phone: str) -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM dnc WHERE phone = $1", phone))

        async def consumer_placed() -> bool:
            await publish(broker, MESSAGE_INBOUND, stop_message(warm_up), "k")
            return await listed(warm_up)

        await eventually(consumer_placed, timeout_s=60, interval_s=1.0)
        cfg = CampaignConfig(
            caller_ids=["+12125550100"],
            twiml="<Response/>",
            window=CallingWindow(start=time(0), end=time(23, 59, 59)),
        )
        campaign = await store.create_campaign(
            Campaign(uuid.uuid4(), "acme", "outage", "draft", ACCOUNT, 10.0, 10, cfg)
        )
        async with store.contact_loader(campaign, 10) as loader:
            await loader.add([(2, "+12125550001", "America/New_York", None)])
            await loader.finish()
        await store.apply_command(
            "acme",
            campaign.id,
            "start",
            outbox.command(campaign.id, "acme", "start", None, datetime.now(UTC)),
        )
        await eventually(lambda: len(placer.calls) == 1, timeout_s=30)
        [sid] = placer.calls
        before_restarts, before_dead = restarts(), dead_letters(group)
        recovery_retries = OUTAGE_RETRIES.labels("recovery")
        before_retries = recovery_retries._value.get()

        # PostgreSQL: stopped and started while the loops poll and a STOP arrives.
        opted_out = "+14155550101"
        try:
            for i in range(PG_RESTARTS):
                await infra("stop", "postgres")
                if i == 0:
                    await eventually(lambda: _down(client, "postgres"), timeout_s=30)
                    await publish(broker, MESSAGE_INBOUND, stop_message(opted_out), "k")
                    await asyncio.sleep(1.0)  # the consumer meets the outage
                await infra("start", "postgres")
        finally:
            await infra("start", "postgres")
        await eventually(lambda: listed(opted_out), timeout_s=60, interval_s=0.5)
        await eventually(lambda: _ready(client), timeout_s=60)

        # Redis: stopped while the call's final status arrives (its slot is freed in Redis).
        try:
            await infra("stop", "redis")
            await eventually(lambda: _down(client, "redis"), timeout_s=30)
            ended = CallStatusChanged(
                provider="twilio",
                call_id=sid,
                status=CallStatus.COMPLETED,
                occurred_at=datetime.now(UTC),
            )
            await publish(broker, CALL_EVENTS, ended, sid)
            await asyncio.sleep(1.0)
        finally:
            await infra("start", "redis")

        async def contact_done() -> bool:
            row = await pool.fetchrow("SELECT state, outcome FROM contacts")
            return tuple(row) == ("done", "completed")

        await eventually(contact_done, timeout_s=60, interval_s=0.5)
        await eventually(lambda: _ready(client), timeout_s=60)
        assert dead_letters(group) == before_dead
        assert restarts() == before_restarts  # paused through the outages, never ended
        assert recovery_retries._value.get() > before_retries  # and counted while paused
