"""Outages pause, they don't discard: with FerretDB or Redis down (killed) for longer than the
consumer's retry budget while a message is consumed, nothing is dead-lettered and nothing is
answered; the message's conversation waits out growing pauses (the worker's KeyedSubscription:
each conversation on its own, several at once) and, once the datastore is back, every message is
answered exactly once, each conversation in its order.

Each test runs a FerretDB and a Redis of its own (same binaries as scripts/infra: FerretDB as
built into ``$SWITCHBOARD_LOCAL_DIR/bin`` by ``infra.sh start``, Debian's ``redis-server``; own
port and data directory), so killing one disturbs no other test. Stopping is SIGKILL, a crash:
the worst case for the clients.
"""

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from redis.asyncio import Redis as AsyncRedis

from switchboard.ai.adapters.memory import ConversationMemory
from switchboard.ai.adapters.mongo import create_client, ensure_indexes, ping
from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_knowledge import MongoKnowledge
from switchboard.ai.adapters.mongo_replies import MongoConversations, MongoLedger, MongoUsage
from switchboard.ai.adapters.mongo_windows import MongoWindows
from switchboard.ai.adapters.redis_limits import RedisRateLimiter
from switchboard.ai.adapters.redis_published import RedisPublishedLedger
from switchboard.ai.adapters.redis_spend import RedisSpend
from switchboard.ai.app import create_worker
from switchboard.ai.models import Reply, StoredMessage
from switchboard.ai.settings import AiSettings
from switchboard.common.errors import RetryableError
from switchboard.common.events import decode, encode
from switchboard.common.kafka import RetryPolicy
from switchboard.common.settings import MongoSettings, RedisSettings
from switchboard.common.testing import end_offsets, eventually, free_port, read_records
from switchboard.common.topics import dlq

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]


class OwnServer:
    """One server process; ``start()``/``stop()`` as often as the test needs."""

    name = "server"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    def start(self, timeout_s: float = 60.0) -> None:
        assert self._process is None, f"{self.name} is running already"
        log_path = self.directory / f"{self.name}.log"
        # The child keeps its own copy of the descriptor: ours is closed at once.
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            assert self._process.poll() is None, f"{self.name} exited; see {log_path}"
            assert time.monotonic() < deadline, f"{self.name} not ready in {timeout_s} s"
            time.sleep(0.2)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=30)
        self._process = None


class OwnFerretDB(OwnServer):
    name = "ferretdb"

    def command(self) -> list[str]:
        local = Path(os.environ.get("SWITCHBOARD_LOCAL_DIR", ROOT / ".local"))
        binary = local / "bin" / "ferretdb"
        assert binary.exists(), f"{binary} missing: run `bash scripts/infra/infra.sh start`"
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        return [
            str(binary),
            "--listen-addr",
            f"127.0.0.1:{self.port}",
            "--handler",
            "sqlite",
            "--sqlite-url",
            f"file:{data}/",
            "--log-level",
            "warn",
        ]

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def ready(self) -> bool:
        client: MongoClient[dict[str, object]] = MongoClient(self.url, serverSelectionTimeoutMS=500)
        try:
            return bool(client.admin.command("ping").get("ok"))
        except PyMongoError:
            return False
        finally:
            client.close()


class OwnRedis(OwnServer):
    name = "redis"

    def command(self) -> list[str]:
        return [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ready(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, OwnServer]]:
    own: dict[str, OwnServer] = {
        "ferretdb": OwnFerretDB(tmp_path / "ferretdb"),
        "redis": OwnRedis(tmp_path / "redis"),
    }
    try:
        for server in own.values():
            server.start()
        yield own
    finally:
        for server in own.values():
            server.stop()


@pytest.fixture
def settings(ai_settings: AiSettings, servers: dict[str, OwnServer]) -> AiSettings:
    consumer = ai_settings.consumer.model_copy(
        update={
            # a small budget (two tries, ~0.1 s apart): the outage outlasts it many times over
            "retry": RetryPolicy(attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1),
            "retry_pause_s": 0.2,
            "max_retry_pause_s": 1.0,
        }
    )
    return ai_settings.model_copy(
        update={
            "mongo": MongoSettings(url=servers["ferretdb"].url, database="ai_outage"),
            "redis": RedisSettings(url=SecretStr(servers["redis"].url)),
            "consumer": consumer,
        }
    )


def stalls(group: str) -> float:
    return REGISTRY.get_sample_value("switchboard_consumer_stalls_total", {"group": group}) or 0


async def dead_letters(settings: AiSettings) -> int:
    return sum((await end_offsets(settings.kafka, dlq(settings.consumer.topic))).values())


@pytest.mark.parametrize("down", ["ferretdb", "redis"])
async def test_an_outage_stalls_the_consumer_and_the_message_is_answered_once(
    down: str, settings: AiSettings, servers: dict[str, OwnServer], fakes, build, cipher
) -> None:
    client = create_client(settings.mongo)
    db = client[settings.mongo.database]
    await ensure_indexes(db)
    await MongoBusinesses(db).create(build.business(cipher))
    await client.close()
    consumer = settings.consumer
    app = create_worker(settings, fakes.overrides(publisher=False))
    async with AsyncTestClient(app=app) as http:
        await eventually(lambda: _ready(http), timeout_s=60)
        start = await end_offsets(settings.kafka, consumer.outbound_topic)
        servers[down].stop()
        await _send(settings, build.inbound("w-outage"))
        # Each reading of the batch fails after the retries; wait for several, or for the
        # dead letter the consumer must not write.
        await eventually(
            lambda: _stalled_or_dead_lettered(settings, times=3), timeout_s=180, interval_s=0.5
        )
        assert await dead_letters(settings) == 0, "an outage must not dead-letter the message"
        assert fakes.sender.sent == []
        servers[down].start()
        replies = await read_records(
            settings.kafka,
            consumer.outbound_topic,
            start,
            until=lambda rs: len(rs) >= 1,
            timeout_s=120,
        )
        await eventually(lambda: _not_stalled(consumer.group_id), timeout_s=60)
        # a second reply would come right after the first: give it the chance to show
        replies = await read_records(
            settings.kafka,
            consumer.outbound_topic,
            start,
            until=lambda rs: len(rs) >= 2,
            timeout_s=3,
        )
    assert [decode(r.headers, r.value).data.in_reply_to for r in replies] == ["w-outage"]
    assert [s.text for s in fakes.sender.sent] == ["reply to: Do you sell bread?"]
    assert await dead_letters(settings) == 0


@pytest.mark.parametrize("down", ["ferretdb", "redis"])
async def test_an_outage_under_keyed_consumption_loses_nothing_and_keeps_each_order(
    down: str, settings: AiSettings, servers: dict[str, OwnServer], fakes, build, cipher
) -> None:
    """Many conversations read at once (KeyedSubscription): during the outage every one of
    them waits out its pauses (several keys stalled together, nothing sent, nothing
    dead-lettered); once the datastore is back each message is answered exactly once and each
    conversation's replies go out in the order its messages came."""
    client = create_client(settings.mongo)
    db = client[settings.mongo.database]
    await ensure_indexes(db)
    await MongoBusinesses(db).create(build.business(cipher))
    await client.close()
    consumer = settings.consumer
    contacts = [f"1555700{c:04d}" for c in range(4)]
    events = [
        build.inbound(f"w-{c}-{n}", f"question {n} from {c}", contact=contact, seq=n)
        for n in range(3)
        for c, contact in enumerate(contacts)
    ]
    app = create_worker(settings, fakes.overrides(publisher=False))
    async with AsyncTestClient(app=app) as http:
        await eventually(lambda: _ready(http), timeout_s=60)
        start = await end_offsets(settings.kafka, consumer.outbound_topic)
        servers[down].stop()
        await _send(settings, *events)
        # every conversation waits on its own (the keys stall together), or a dead letter
        await eventually(
            lambda: _stalled_keys_or_dead_lettered(settings, keys=len(contacts)),
            timeout_s=180,
            interval_s=0.5,
        )
        assert await dead_letters(settings) == 0, "an outage must not dead-letter a message"
        assert fakes.sender.sent == []
        servers[down].start()
        replies = await read_records(
            settings.kafka,
            consumer.outbound_topic,
            start,
            until=lambda rs: len(rs) >= len(events),
            timeout_s=180,
        )
        await eventually(lambda: _not_stalled(consumer.group_id), timeout_s=60)
        # a second reply to any message would follow its first: give it the chance to show
        replies = await read_records(
            settings.kafka,
            consumer.outbound_topic,
            start,
            until=lambda rs: len(rs) > len(events),
            timeout_s=3,
        )
    answered = [decode(r.headers, r.value).data.in_reply_to for r in replies]
    assert sorted(answered) == sorted(e.data.message_id for e in events)
    for c, contact in enumerate(contacts):
        assert [s.text for s in fakes.sender.sent if s.to == contact] == [
            f"reply to: question {n} from {c}" for n in range(3)
        ]
    assert await dead_letters(settings) == 0


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TURN = StoredMessage("m1", "conv", "biz1", "user", "hi", NOW)


async def test_every_store_call_of_the_reply_path_is_retryable_when_the_server_is_gone(
    servers: dict[str, OwnServer], build, cipher
) -> None:
    """Each MongoDB and Redis operation the worker uses, with its server killed, raises a
    RetryableError (StoreUnavailable) — never something that would be dead-lettered."""
    # the worker's client, with a shorter server selection wait than its 5 s
    mongo = create_client(
        MongoSettings(url=servers["ferretdb"].url, server_selection_timeout_s=0.3)
    )
    db = mongo["ai_translate"]
    await ensure_indexes(db)
    redis_client = AsyncRedis.from_url(servers["redis"].url)
    business = build.business(cipher)
    ledger = MongoLedger(db)
    usage = MongoUsage(db)
    memory = ConversationMemory(db, redis_client, keep=10, ttl_s=60)
    spend = RedisSpend(usage, redis_client)
    published = RedisPublishedLedger(ledger, redis_client, ttl_s=60, prefix="p")
    await MongoBusinesses(db).create(business)
    await ledger.claim("sent-1", "conv", NOW)  # a sent reply: its published flag is in Redis
    await ledger.store_reply("sent-1", business.id, Reply(text="hi"))
    await ledger.begin_send("sent-1")
    await ledger.mark_sent("sent-1", "wamid.out", NOW)
    reply = Reply(text="hi", cost_usd=0.5)
    mongo_calls = {
        "ping": lambda: ping(db),
        "business by channel": lambda: MongoBusinesses(db).by_channel("acme", build.wa_id),
        "claim": lambda: ledger.claim("m1", "conv", NOW),
        "ledger read": lambda: ledger.get("m1"),
        "abort send": lambda: ledger.abort_send("m1"),
        "conversation known": lambda: MongoConversations(db).known("conv"),
        "conversation turns": lambda: MongoConversations(db).recent("conv", 5),
        "append turns": lambda: MongoConversations(db).insert_new([TURN]),
        "count usage": lambda: usage.add(business, NOW.date(), reply, counted_key="m1"),
        "month cost": lambda: usage.month_cost(business.id, "2026-11"),
        "knowledge version": lambda: MongoKnowledge(db).version(business.id),
        "knowledge chunks": lambda: MongoKnowledge(db).chunks(business.id),
        "pending documents": lambda: MongoKnowledge(db).pending(),
        "service window read": lambda: MongoWindows(db).last_inbound("conv"),
        "service window write": lambda: MongoWindows(db).record("conv", NOW),
    }
    redis_calls = {
        "rate limit": lambda: RedisRateLimiter(redis_client).allow(business.id, 10, 0.0),
        "spend read": lambda: spend.month_cost(business.id, "2026-11"),
        "spend count": lambda: spend.add(business, NOW.date(), reply, counted_key="m2"),
        "memory read": lambda: memory.recent("conv-new", 5),
        "memory append": lambda: memory.append([TURN]),
        "published flag read": lambda: published.get("sent-1"),
        "published flag write": lambda: published.mark_published("sent-1"),
    }
    not_retryable: dict[str, str] = {}
    try:
        for down, calls in (("redis", redis_calls), ("ferretdb", mongo_calls)):
            servers[down].stop()
            # all at once: each waits out the client's server selection timeout (5 s)
            outcomes = await asyncio.gather(
                *(call() for call in calls.values()), return_exceptions=True
            )
            for name, outcome in zip(calls, outcomes, strict=True):
                if not isinstance(outcome, RetryableError):
                    not_retryable[name] = repr(outcome)
            servers[down].start()
    finally:
        await redis_client.aclose()
        await mongo.close()
    assert not_retryable == {}


async def _stalled_or_dead_lettered(settings: AiSettings, *, times: int) -> bool:
    return stalls(settings.consumer.group_id) >= times or await dead_letters(settings) > 0


async def _stalled_keys_or_dead_lettered(settings: AiSettings, *, keys: int) -> bool:
    waiting = REGISTRY.get_sample_value(
        "switchboard_consumer_stalled_keys", {"group": settings.consumer.group_id}
    )
    return (waiting or 0) >= keys or await dead_letters(settings) > 0


def _not_stalled(group: str) -> bool:
    return REGISTRY.get_sample_value("switchboard_consumer_stalled", {"group": group}) == 0


async def _send(settings: AiSettings, *events) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in events:
            wire = encode(event, event.data.conversation)
            await producer.send_and_wait(
                settings.consumer.topic,
                wire.value,
                key=wire.key,
                headers=list(wire.headers.items()),
            )
    finally:
        await producer.stop()


async def _ready(client: AsyncTestClient) -> bool:
    return (await client.get("/ready")).status_code == 200


@pytest.fixture(autouse=True)
async def delete_topics(ai_settings: AiSettings) -> AsyncIterator[None]:
    yield
    consumer = ai_settings.consumer
    admin = AIOKafkaAdminClient(bootstrap_servers=ai_settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([consumer.topic, consumer.outbound_topic, dlq(consumer.topic)])
    finally:
        await admin.close()
