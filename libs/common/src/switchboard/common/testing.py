"""Helpers for tests of every service (and for the provider simulator's signing).

Nothing here runs in production paths.
"""

import asyncio
import contextlib
import inspect
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from switchboard.common.config import (
    TOPIC_CONFIGS,
    ConfigEntity,
    ConfigFollower,
    ConfigSettings,
    encode_tombstone,
)
from switchboard.common.config import encode as encode_entity
from switchboard.common.crypto import new_key
from switchboard.common.events import Event, encode
from switchboard.common.kafka.admin import ensure_topics
from switchboard.common.settings import KafkaSettings


def twilio_signature(url: str, params: Mapping[str, str | Sequence[str]], token: str) -> str:
    """X-Twilio-Signature for a form POST to ``url``, as Twilio computes it."""
    multi = {k: [v] if isinstance(v, str) else list(v) for k, v in params.items()}

    class _Params(dict[str, list[str]]):
        def getall(self, name: str) -> list[str]:
            return self[name]

    return str(RequestValidator(token).compute_signature(url, _Params(multi)))


def exception_classes(*modules: ModuleType) -> list[type[Exception]]:
    """Every exception class defined in ``modules`` (warnings aside: never raised), by name:
    what an adapter's error table must classify, so none reaches a consumer unclassified."""
    found = {
        cls
        for module in modules
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, Exception)
        and not issubclass(cls, Warning)
        and cls.__module__.startswith(module.__name__.split(".")[0])
    }
    return sorted(found, key=lambda c: (c.__name__, c.__module__))


def unique(prefix: str) -> str:
    """A name no earlier run used (topics, groups, databases)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def partitions(settings: KafkaSettings, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (none when it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for p in described.get("partitions", [])]


async def topic_configs(settings: KafkaSettings, topic: str) -> dict[str, str]:
    """The configuration of ``topic`` as the broker reports it (``cleanup.policy``, ...)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    # resources: [(error code, error message, type, name, [(name, value, ...), ...])]
    return {entry[0]: entry[1] for entry in response.resources[0][4]}


async def end_offsets(settings: KafkaSettings, topic: str) -> dict[int, int]:
    """The current end offset of each partition of ``topic``."""
    tps = await partitions(settings, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps) if tps else {}
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def read_records(
    settings: KafkaSettings,
    topic: str,
    start: Mapping[int, int],
    *,
    until: Callable[[list["ConsumerRecord[bytes, bytes]"]], bool],
    timeout_s: float = 30.0,
) -> list["ConsumerRecord[bytes, bytes]"]:
    """Records of ``topic`` after ``start`` offsets, read until ``until(records)`` or timeout."""
    tps = await partitions(settings, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp.partition, 0))
        deadline = time.monotonic() + timeout_s
        while not until(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
        return records
    finally:
        await consumer.stop()


async def eventually(
    check: Callable[[], object], *, timeout_s: float = 30.0, interval_s: float = 0.2
) -> None:
    """Await ``check()`` (sync or async) until it is truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


FREE_PORTS = range(20000, 27000)
"""Where :func:`free_port` looks: below the kernel's ephemeral range (32768+ on Linux), which
outgoing connections draw from, and clear of the ports scripts/infra and the helper slots use
(Kafka 19092+, FerretDB 27018+)."""


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback). Not an ephemeral port: a process
    that connects out (Kafka, PostgreSQL) before it binds its listener could otherwise be given
    that very port for a connection and then fail to listen on it."""
    for port in random.sample(FREE_PORTS, 50):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # a crowded range: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """A service started as a real process (``python -m <args>``) with its log in a file."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        port: int,
        logdir: Path,
        *,
        ready_timeout_s: float = 120.0,
    ) -> None:
        self.name, self.port = name, port
        self.ready_timeout_s = ready_timeout_s
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, path: str = "/ready") -> None:
        """Until ``path`` answers 200; AssertionError with the log tail otherwise."""
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{self.name} not ready:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: none of the service's shutdown code runs."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            self._log.close()
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


async def start_group_at_end(settings: KafkaSettings, group: str, topics: Sequence[str]) -> None:
    """Commit ``group``'s offsets at the topics' current ends, so a consumer started later in
    that group reads only what comes next (not everything earlier tests and benches wrote)."""
    assignments = [tp for topic in topics for tp in await partitions(settings, topic)]
    if not assignments:
        return  # no such topics yet: a new group starts at their (empty) beginning anyway
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(assignments)
        ends = await consumer.end_offsets(assignments)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


async def fresh_group(settings: KafkaSettings, prefix: str, topics: Sequence[str]) -> str:
    """A new consumer group id whose offsets already stand at the ends of ``topics``."""
    group = unique(prefix)
    await ensure_topics(settings, topics)
    await start_group_at_end(settings, group, topics)
    return group


def consumer_record(
    event: Event | None,
    topic: str = "call.events",
    offset: int = 0,
    *,
    headers: list[tuple[str, bytes]] | None = None,
    value: bytes | None = None,
    key: bytes | None = None,
) -> "ConsumerRecord[bytes, bytes]":
    """A ConsumerRecord as aiokafka hands it over (``headers``/``value``/``key`` override the
    event's)."""
    if event is not None:
        encoded = encode(event, event.subject)
        own_headers, own_value, own_key = list(encoded.headers.items()), encoded.value, encoded.key
    else:
        own_headers, own_value, own_key = [], b"", None
    value = own_value if value is None else value
    key = own_key if key is None else key
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=own_headers if headers is None else headers,
    )


def config_settings(topic: str | None = None) -> ConfigSettings:
    """A ``control.config`` of a test's own: a fresh topic and distribution key."""
    return ConfigSettings(
        topic=topic or unique("control.config.test"),
        keys={"test-1": SecretStr(new_key())},
        current_key_id="test-1",
        poll_timeout_ms=200,
    )


def config_env(settings: ConfigSettings) -> dict[str, str]:
    """The ``SWITCHBOARD_CONFIG__*`` variables that make a service process follow ``settings``."""
    keys = {kid: key.get_secret_value() for kid, key in settings.keys.items()}
    return {
        "SWITCHBOARD_CONFIG__TOPIC": settings.topic,
        "SWITCHBOARD_CONFIG__KEYS": json.dumps(keys),
        "SWITCHBOARD_CONFIG__CURRENT_KEY_ID": settings.current_key_id,
        "SWITCHBOARD_CONFIG__POLL_TIMEOUT_MS": str(settings.poll_timeout_ms),
    }


class ConfigPublisher:
    """Plays the control plane's relay: entities and tombstones onto a test's config topic.

    ``async with ConfigPublisher(kafka, settings) as config: await config.put(account, ...)``"""

    def __init__(self, kafka: KafkaSettings, settings: ConfigSettings) -> None:
        self._kafka = kafka
        self.settings = settings
        self._cipher = settings.sealing_cipher()
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")

    async def __aenter__(self) -> "ConfigPublisher":
        await ensure_topics(self._kafka, [self.settings.topic], partitions=1, configs=TOPIC_CONFIGS)
        await self._producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._producer.stop()

    async def put(self, *entities: ConfigEntity) -> None:
        for entity in entities:
            key, value, headers = encode_entity(entity, self._cipher)
            await self._producer.send_and_wait(
                self.settings.topic, value, key=key, headers=list(headers.items())
            )

    async def delete(self, *keys: str) -> None:
        for key in keys:
            k, _, headers = encode_tombstone(key)
            await self._producer.send_and_wait(
                self.settings.topic, None, key=k, headers=list(headers.items())
            )


def seeded_config_env(kafka: KafkaSettings, entities: Sequence[ConfigEntity]) -> dict[str, str]:
    """A fresh config topic holding ``entities`` (as the control plane would publish them), and
    the variables that make a service process follow it. Not from a running event loop."""
    settings = config_settings()

    async def publish() -> None:
        async with ConfigPublisher(kafka, settings) as publisher:
            await publisher.put(*entities)

    asyncio.run(publish())
    return config_env(settings)


@contextlib.contextmanager
def config_followers() -> Iterator[list[ConfigFollower]]:
    """Every :class:`ConfigFollower` made inside the block. Each reads ``control.config``
    from the beginning at start: a process should make one."""
    made: list[ConfigFollower] = []
    original = ConfigFollower.__init__

    def counted(self: ConfigFollower, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    setattr(ConfigFollower, "__init__", counted)  # noqa: B010 (mypy refuses a method assignment)
    try:
        yield made
    finally:
        setattr(ConfigFollower, "__init__", original)  # noqa: B010
