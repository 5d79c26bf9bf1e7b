"""Fixtures for tests on the real FerretDB, Redis and Kafka started by scripts/infra."""

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from switchboard.ai.adapters.mongo import Database, create_client, ensure_indexes
from switchboard.ai.app import Overrides, Runtime, open_runtime
from switchboard.ai.settings import (
    AiSettings,
    BreakerSettings,
    ConsumerSettings,
    KnowledgeSettings,
)
from switchboard.common.auth import LocalSigner
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.kafka import RetryPolicy
from switchboard.common.settings import MongoSettings
from switchboard.common.testing import unique

from ..fakes import (
    FakeClock,
    FakeEmbedder,
    FakeModel,
    FakePublisher,
    FakeSender,
    InMemoryConfig,
    fixed_now,
)

SIGNER = LocalSigner.from_seed("ai-tests")


@pytest.fixture
def ai_settings(build, common_settings) -> AiSettings:
    """Settings on a database, topics and group of this test's own."""
    return AiSettings(
        kafka=common_settings.kafka,
        redis=common_settings.redis,
        mongo=MongoSettings(url=common_settings.mongo.url, database=unique("ai_test")),
        crypto=KeyRingSettings(
            keys={"k1": SecretStr(build.key_1), "k2": SecretStr(build.key_2)}, current_key_id="k1"
        ),
        auth=SIGNER.settings(),
        breaker=BreakerSettings(failure_threshold=2, reset_timeout_s=30),
        knowledge=KnowledgeSettings(
            chunk_chars=100, chunk_overlap=20, top_k=2, poll_interval_s=0.2
        ),
        consumer=ConsumerSettings(
            topic=unique("ai_inbound"),
            outbound_topic=unique("ai_outbound"),
            group_id=unique("ai"),
            retry=RetryPolicy(attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1),
        ),
    )


@pytest.fixture
async def db(ai_settings: AiSettings) -> AsyncIterator[Database]:
    client = create_client(ai_settings.mongo)
    database = client[ai_settings.mongo.database]
    await ensure_indexes(database)
    yield database
    await client.drop_database(ai_settings.mongo.database)
    await client.close()
    redis = Redis.from_url(ai_settings.redis.url.get_secret_value())
    keys = [k async for k in redis.scan_iter(f"{ai_settings.redis_namespace}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


OWNED_BY_ACME = (
    "whatsapp/1065550001",
    "whatsapp/2000001",
    "whatsapp/2000002",
    "phone/+15005550006",
    "phone/+15005550007",
    "vapi-assistant/asst-bistro",
    "phone/+33100000000",
)
"""The channels tenant ``acme`` owns in the tests' control plane."""


def acme_config() -> InMemoryConfig:
    config = InMemoryConfig()
    for channel in OWNED_BY_ACME:
        config.bind(channel, "acme")
    config.offer("gpt-test", "1", "2")  # the tests' model, at the prices they expect
    config.offer("gpt-4o-mini", "0.00015", "0.0006")  # the default model
    config.plan("acme", ("gpt-test", "gpt-4o-mini"))
    return config


@pytest.fixture
def control(fakes: "Fakes") -> InMemoryConfig:
    """The control plane's configuration the worker and the admin API of a test read."""
    return fakes.config


class Fakes:
    def __init__(self) -> None:
        self.config = acme_config()
        self.model = FakeModel()
        self.embedder = FakeEmbedder()
        self.sender = FakeSender()
        self.publisher = FakePublisher()
        self.clock = FakeClock()

    def overrides(self, *, publisher: bool = True) -> Overrides:
        return Overrides(
            model=self.model,
            embedder=self.embedder,
            sender=self.sender,
            publisher=self.publisher if publisher else None,
            config=self.config,
            clock=self.clock,
            now=fixed_now,
        )


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def runtime(ai_settings: AiSettings, db: Database, fakes: Fakes) -> AsyncIterator[Runtime]:
    async with open_runtime(ai_settings, overrides=fakes.overrides()) as rt:
        yield rt
