"""ConfigFollower on the real Kafka: materialize, follow live, tombstones, late starters."""

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from switchboard.common.config import (
    Channel,
    ConfigFollower,
    ConfigSettings,
    Entity,
    Tenant,
    TwilioAccount,
    encode,
    encode_tombstone,
)
from switchboard.common.crypto import Cipher
from switchboard.common.settings import KafkaSettings
from switchboard.common.supervise import Supervisor
from switchboard.common.testing import eventually, topic_configs, unique

pytestmark = pytest.mark.integration

KEY = base64.b64encode(b"k" * 32).decode()
SID = "AC" + "3" * 32


def settings(topic: str) -> ConfigSettings:
    return ConfigSettings(topic=topic, keys={"d1": KEY}, current_key_id="d1", poll_timeout_ms=200)


class Writer:
    """Plays the control plane's relay: entity records and tombstones, in order."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self.cipher = Cipher({"d1": KEY}, "d1")
        self.producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")

    async def put(self, entity: Entity) -> None:
        key, value, headers = encode(entity, self.cipher)
        await self.producer.send_and_wait(self.topic, value, key=key, headers=list(headers.items()))

    async def delete(self, key: str) -> None:
        k, _, headers = encode_tombstone(key)
        await self.producer.send_and_wait(self.topic, None, key=k, headers=list(headers.items()))


@contextlib.asynccontextmanager
async def following(kafka: KafkaSettings, topic: str) -> AsyncIterator[ConfigFollower]:
    follower = ConfigFollower(kafka, settings(topic))
    supervisor = Supervisor(unique("config-test"))
    supervisor.add("config", follower.run)
    async with supervisor.running():
        await follower.wait_ready(60)
        yield follower


@pytest.fixture
async def writer(kafka_settings: KafkaSettings) -> AsyncIterator[Writer]:
    w = Writer(kafka_settings, unique("control.config.test"))
    await w.producer.start()
    yield w
    await w.producer.stop()


async def test_an_absent_topic_is_created_compacted_and_an_empty_view_is_ready(
    kafka_settings: KafkaSettings,
) -> None:
    topic = unique("control.config.test")
    async with following(kafka_settings, topic) as follower:
        assert follower.ready and follower.items() == {}
    assert (await topic_configs(kafka_settings, topic))["cleanup.policy"] == "compact"


async def test_materializes_follows_live_and_applies_tombstones(
    kafka_settings: KafkaSettings, writer: Writer
) -> None:
    async with following(kafka_settings, writer.topic):
        pass  # creates the topic the way services do
    account = TwilioAccount(id=SID, tenants=["acme"], auth_tokens=["first-auth-token-0001"])
    phone = Channel(kind="phone", id="+14155550100", tenant="acme", account_id=SID)
    await writer.put(Tenant(id="acme", name="Acme"))
    await writer.put(account)
    await writer.put(phone)
    async with following(kafka_settings, writer.topic) as follower:
        # everything written before the start is there once ready
        assert set(follower.items()) == {"tenant/acme", account.key, phone.key}
        got = follower.accounts("twilio")[account.key]
        assert isinstance(got, TwilioAccount)
        assert got.auth_tokens[0].get_secret_value() == "first-auth-token-0001"

        rotated = TwilioAccount.model_validate(
            {
                "id": SID,
                "tenants": ["acme"],
                "auth_tokens": ["second-auth-token-002", "first-auth-token-0001"],
            }
        )
        await writer.put(rotated)

        def rotated_in_view() -> bool:
            acc = follower.get(account.key)
            return isinstance(acc, TwilioAccount) and len(acc.auth_tokens) == 2

        await eventually(rotated_in_view, timeout_s=30)
        await writer.delete(phone.key)
        await eventually(lambda: follower.get(phone.key) is None, timeout_s=30)

    # a follower started later sees the same state: the rotation, and no deleted channel
    async with following(kafka_settings, writer.topic) as late:
        assert set(late.items()) == {"tenant/acme", account.key}
        acc = late.get(account.key)
        assert isinstance(acc, TwilioAccount)
        assert [t.get_secret_value() for t in acc.auth_tokens] == [
            "second-auth-token-002",
            "first-auth-token-0001",
        ]


async def test_not_ready_until_the_backlog_is_read(
    kafka_settings: KafkaSettings, writer: Writer
) -> None:
    async with following(kafka_settings, writer.topic):
        pass
    for n in range(200):
        await writer.put(Tenant(id=f"t{n}", name=f"Tenant {n}"))
    follower = ConfigFollower(kafka_settings, settings(writer.topic))
    task = asyncio.create_task(follower.run())
    try:
        await follower.wait_ready(60)
        assert len(follower.tenants()) == 200  # ready means all of it, not some of it
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
