"""Write entities to ``control.config`` directly, as the control plane's relay does: for tests
and for offline tools (the demo, benchmarks) on a stack without a control plane. Never for a
real install: there the control plane owns the topic (its outbox would not know the records)."""

from types import TracebackType

from aiokafka import AIOKafkaProducer

from switchboard.common.config.codec import encode, encode_tombstone
from switchboard.common.config.entities import ConfigEntity
from switchboard.common.config.settings import TOPIC_CONFIGS, ConfigSettings
from switchboard.common.crypto import Cipher
from switchboard.common.kafka.admin import ensure_topics
from switchboard.common.settings import KafkaSettings


class ConfigWriter:
    """``async with ConfigWriter(kafka, config) as w: await w.put(channel)``."""

    def __init__(self, kafka: KafkaSettings, settings: ConfigSettings) -> None:
        self._kafka = kafka
        self._settings = settings
        # Entities without secrets (tenants, channels) need no key; a throwaway one serves.
        self._cipher = (
            settings.sealing_cipher()
            if settings.keys
            else Cipher({"unused": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "unused")
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")

    async def __aenter__(self) -> "ConfigWriter":
        await ensure_topics(
            self._kafka,
            [self._settings.topic],
            partitions=self._settings.partitions,
            configs=TOPIC_CONFIGS,
        )
        await self._producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._producer.stop()

    async def put(self, *entities: ConfigEntity) -> None:
        for entity in entities:
            key, value, headers = encode(entity, self._cipher)
            await self._producer.send_and_wait(
                self._settings.topic, value, key=key, headers=list(headers.items())
            )

    async def delete(self, *keys: str) -> None:
        for key in keys:
            k, _, headers = encode_tombstone(key)
            await self._producer.send_and_wait(
                self._settings.topic, None, key=k, headers=list(headers.items())
            )
