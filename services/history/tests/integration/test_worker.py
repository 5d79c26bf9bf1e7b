"""The worker over the real Kafka and PostgreSQL: consume, store, reconcile, dead-letter."""

import base64
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr
from typer.testing import CliRunner

from switchboard.common.config import InMemoryConfig, TwilioAccount
from switchboard.common.events import encode
from switchboard.common.kafka import (
    DeadLetters,
    RetryPolicy,
    create_broker,
    ensure_topics,
    publish_record,
    replay_dead_letters,
)
from switchboard.common.testing import (
    ConfigPublisher,
    config_settings,
    end_offsets,
    eventually,
    fresh_group,
    read_records,
    unique,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, dlq
from switchboard.history.__main__ import cli
from switchboard.history.app import create_worker
from switchboard.history.consumers import TOPICS, batch_processor, routes
from switchboard.history.models import to_fact
from switchboard.history.settings import (
    ConsumerSettings,
    HistorySettings,
    ReconcileSettings,
    RetentionSettings,
)

from ..conftest import ACCOUNT

pytestmark = pytest.mark.integration
TOKEN = "twilio-auth-token-0123"
FAST = RetryPolicy(attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def account(token: str = TOKEN) -> TwilioAccount:
    return TwilioAccount(id=ACCOUNT, tenants=("acme",), auth_tokens=(SecretStr(token),))


def twilio(
    call_id: str, token: str = TOKEN, answers: list[int] | None = None
) -> httpx.MockTransport:
    """Twilio's Calls fetch with ``token``: ``call_id`` has completed; every other call is
    unknown; other credentials are refused (401). ``answers`` collects the statuses."""

    def handle(request: httpx.Request) -> httpx.Response:
        response = answer(request)
        if answers is not None:
            answers.append(response.status_code)
        return response

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_id}.json":
            if request.headers["authorization"] != basic(ACCOUNT, token):
                return httpx.Response(401)
            return httpx.Response(200, json={"status": "completed", "duration": "33"})
        return httpx.Response(404)

    return httpx.MockTransport(handle)


async def fetch(pg_settings, database, sql, *args):
    conn = await asyncpg.connect(pg_settings.dsn(database))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_worker_stores_events_and_reconciles_a_silent_call(
    pg_settings, kafka_settings, database, ev
) -> None:
    """The credentials come from a real config topic, as the control plane publishes them:
    the reconciler first holds a token Twilio no longer takes (401: the call stays open),
    then the rotation reaches the running worker and the call is settled, no restart."""
    config = config_settings()
    async with ConfigPublisher(kafka_settings, config) as control:
        await control.put(account("an-old-revoked-token"))
    call_id, message_id = "CA" + uuid.uuid4().hex, "wamid." + uuid.uuid4().hex
    now = datetime.now(UTC)
    # the group starts at the topics' ends: other runs leave plenty on the shared topics
    group = await fresh_group(kafka_settings, "history-it", TOPICS)
    settings = HistorySettings(
        postgres=pg_settings,
        kafka=kafka_settings,
        database=database,
        consumer=ConsumerSettings(group_id=group, batch_timeout_ms=50),
        retention=RetentionSettings(interval_s=3600),
        reconcile=ReconcileSettings(
            grace_s=0,
            interval_s=0.5,
            lookback_days=30,
            twilio_base_url="http://twilio.test",
        ),
        config=config,
    )
    answers: list[int] = []
    app = create_worker(settings, provider_transport=twilio(call_id, answers=answers))
    broker = create_broker(kafka_settings)
    await broker.connect()
    try:
        async with AsyncTestClient(app) as client:
            ringing = ev.call("ringing", 1, call_id=call_id, at=now - timedelta(minutes=5))
            inbound = ev.inbound(message_id, at=now)
            for topic, event in ((CALL_EVENTS, ringing), (MESSAGE_INBOUND, inbound)):
                record = encode(event, event.subject or "conv")
                await publish_record(broker, topic, record, timeout_s=10)

            async def status():
                rows = await fetch(
                    pg_settings, database, "SELECT status FROM calls WHERE call_id=$1", call_id
                )
                return rows[0]["status"] if rows else None

            # ringing is stored; the reconciler asks "Twilio" with the old token: refused
            await eventually(lambda: _is(status(), "ringing"), timeout_s=90)

            async def refused() -> bool:
                return 401 in answers

            await eventually(refused, timeout_s=90)
            assert await status() == "ringing"
            # the token is rotated on the control plane: the next round uses it
            async with ConfigPublisher(kafka_settings, config) as control:
                await control.put(account())
            await eventually(lambda: _is(status(), "completed"), timeout_s=90)
            rows = await fetch(
                pg_settings,
                database,
                "SELECT status, data->'raw' AS raw FROM call_events WHERE call_id=$1 "
                "ORDER BY occurred_at",
                call_id,
            )
            assert [r["status"] for r in rows] == ["ringing", "completed"]
            assert '"reconciled"' in rows[1]["raw"]
            messages = await fetch(
                pg_settings, database, "SELECT text FROM messages WHERE message_id=$1", message_id
            )
            assert [m["text"] for m in messages] == ["hello"]
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {
                "postgres": True,
                "kafka": True,
                "config": True,
                "loop:config": True,
                "loop:partitions": True,
                "loop:reconcile": True,
            }
    finally:
        await broker.stop()


async def test_a_background_loop_that_breaks_is_restarted_and_shown_down_by_ready(
    pg_settings, kafka_settings, database, ev
) -> None:
    """A reconciler round that fails with something unexpected (here: the HTTP transport
    raising a RuntimeError, i.e. a bug) ends the loop: ``/ready`` says which loop is down
    (503), the restart is counted, and once the cause is gone the loop is back and works."""
    call_id = "CA" + uuid.uuid4().hex
    broken = True
    completed = twilio(call_id)

    async def handle(request: httpx.Request) -> httpx.Response:
        if broken:
            raise RuntimeError("a bug in a round")
        return await completed.handle_async_request(request)

    group = await fresh_group(kafka_settings, "history-loops", TOPICS)
    settings = HistorySettings(
        postgres=pg_settings,
        kafka=kafka_settings,
        database=database,
        consumer=ConsumerSettings(group_id=group, batch_timeout_ms=50),
        reconcile=ReconcileSettings(
            grace_s=0,
            interval_s=0.2,
            lookback_days=30,
            twilio_base_url="http://twilio.test",
        ),
    )
    config = InMemoryConfig([account()])
    app = create_worker(settings, provider_transport=httpx.MockTransport(handle), config=config)
    broker = create_broker(kafka_settings)
    await broker.connect()
    try:
        async with AsyncTestClient(app) as client:
            at = datetime.now(UTC) - timedelta(minutes=5)
            record = encode(ev.call("ringing", 1, call_id=call_id, at=at), call_id)
            await publish_record(broker, CALL_EVENTS, record, timeout_s=10)

            async def reported_down() -> bool:
                ready = await client.get("/ready")
                checks = ready.json()["checks"]
                return ready.status_code == 503 and checks.get("loop:reconcile") is False

            await eventually(reported_down, timeout_s=90, interval_s=0.05)
            assert (await client.get("/ready")).json()["checks"]["loop:partitions"] is True
            assert restarts("reconcile") >= 1
            broken = False

            async def status():
                rows = await fetch(
                    pg_settings, database, "SELECT status FROM calls WHERE call_id=$1", call_id
                )
                return rows[0]["status"] if rows else None

            await eventually(lambda: _is(status(), "completed"), timeout_s=120)
            await eventually(lambda: _ready(client), timeout_s=60)
    finally:
        await broker.stop()


def restarts(loop: str) -> float:
    value = REGISTRY.get_sample_value(
        "switchboard_loop_restarts_total", {"service": "history", "loop": loop}
    )
    return value or 0.0


async def _ready(client: AsyncTestClient) -> bool:
    return (await client.get("/ready")).status_code == 200


async def _is(value, expected) -> bool:
    return (await value) == expected


async def test_a_bad_record_goes_to_the_dlq_alone_and_is_replayed(
    pg_store, pool, kafka_settings, ev, make_record
) -> None:
    topic = unique("history.it.inbound")
    await ensure_topics(kafka_settings, [topic, dlq(topic)], partitions=1)
    broker = create_broker(kafka_settings)
    await broker.connect()
    group = unique("history-dlq")
    settings = HistorySettings(consumer=ConsumerSettings(group_id=group), retry=FAST)
    try:
        poison = ev.inbound("wamid.poison", text="nul \x00 inside")  # PostgreSQL refuses NUL
        records = [
            make_record(ev.inbound("wamid.a"), topic=topic, offset=0),
            make_record(poison, topic=topic, offset=1),
            make_record(ev.inbound("wamid.b"), topic=topic, offset=2),
        ]
        processor = batch_processor(settings, DeadLetters(broker, group))
        [_, (_, messages)] = routes(pg_store, settings)
        await processor.process_routes(records, [({topic}, messages)])  # the test's own topic
    finally:
        await broker.stop()
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT message_id FROM messages ORDER BY 1")
    assert [r["message_id"] for r in stored] == ["wamid.a", "wamid.b"]
    [letter] = await read_records(kafka_settings, dlq(topic), {}, until=lambda r: len(r) >= 1)
    headers = dict(letter.headers)
    assert headers["x-dlq-error-type"] == b"StoreRejectedError"
    assert headers["x-dlq-original-offset"] == b"1"
    assert headers["ce_id"] == poison.id.encode()

    start = await end_offsets(kafka_settings, topic)
    assert await replay_dead_letters(kafka_settings, topic, group=group) == 1
    [replayed] = await read_records(kafka_settings, topic, start, until=lambda r: len(r) >= 1)
    assert replayed.value == letter.value
    assert not any(k.startswith("x-dlq") for k, _ in replayed.headers)


async def test_a_record_that_is_not_json_is_dead_lettered_and_the_next_one_stored(
    pg_settings, kafka_settings, database, ev
) -> None:
    """A record with the envelope's headers (content-type: application/json) whose body is not
    JSON: FastStream decoded every body itself before the handler ran, so the batch failed and
    was read again forever (found by the chaos harness's poison fault). It must be dead-lettered
    and the record behind it stored."""
    call_id = "CA" + uuid.uuid4().hex
    group = await fresh_group(kafka_settings, "history-undecodable", TOPICS)
    await ensure_topics(kafka_settings, [dlq(CALL_EVENTS)])
    dlq_start = await end_offsets(kafka_settings, dlq(CALL_EVENTS))
    settings = HistorySettings(
        postgres=pg_settings,
        kafka=kafka_settings,
        database=database,
        consumer=ConsumerSettings(group_id=group, batch_timeout_ms=50),
        retention=RetentionSettings(interval_s=3600),
        reconcile=ReconcileSettings(interval_s=3600),
        retry=FAST,
    )
    app = create_worker(settings, config=InMemoryConfig())
    broker = create_broker(kafka_settings)
    await broker.connect()
    try:
        async with AsyncTestClient(app):
            good = encode(ev.call("ringing", 1, call_id=call_id), call_id)
            garbage = b"\xff\xfe\x00 not JSON {"
            await broker.publish(
                garbage, CALL_EVENTS, key=call_id.encode(), headers=good.str_headers()
            )
            await publish_record(broker, CALL_EVENTS, good, timeout_s=10)

            async def stored() -> bool:
                rows = await fetch(
                    pg_settings, database, "SELECT 1 FROM calls WHERE call_id=$1", call_id
                )
                return bool(rows)

            await eventually(stored, timeout_s=90)
    finally:
        await broker.stop()
    letters = await read_records(
        kafka_settings,
        dlq(CALL_EVENTS),
        dlq_start,
        until=lambda rs: any(r.value == garbage for r in rs),
        timeout_s=60,
    )
    [letter] = [r for r in letters if r.value == garbage]
    assert dict(letter.headers)["x-dlq-error-type"] == b"InvalidEventError"


def test_replay_cli_accepts_only_the_topics_history_consumes() -> None:
    result = CliRunner().invoke(cli, ["replay-dlq", "--topic", "dial.commands"])
    assert result.exit_code != 0
    assert "history consumes" in result.output


async def test_open_calls_are_found_after_the_grace_period(pg_store, clock, ev) -> None:
    events = [ev.call("ringing", 1, call_id="CA-open"), ev.call("completed", 2, call_id="CA-done")]
    await pg_store.record_call_facts([to_fact(e, "dflt") for e in events])
    t0 = ev.call("ringing", 1).data.occurred_at
    found = await pg_store.open_calls(t0 + timedelta(minutes=1), t0 - timedelta(days=1), 10)
    assert [c.call_id for c in found] == ["CA-open"]
    after = (found[0].last_event_at, found[0].call_id)
    assert (
        await pg_store.open_calls(t0 + timedelta(minutes=1), t0 - timedelta(days=1), 10, after)
        == []
    )
    assert await pg_store.open_calls(t0, t0 - timedelta(days=1), 10) == []  # not silent long
