"""Follow ``control.config``: materialize the current configuration at start, then stay live.

A service keeps the slice it needs (key prefixes) in memory:

    follower = ConfigFollower(settings.kafka, settings.config, prefixes=("tenant/", "channel/"))
    supervisor.add("config", follower.run)             # restarted with backoff if Kafka fails
    await follower.wait_ready(60)                      # everything up to the start's end offsets
    follower.channels("phone")["channel/phone/+1415…"].tenant
    follower.listen(rebuild_index, prefix="account/")  # called for every change

Start: every partition is read from the beginning up to the end offsets seen when the
follower started; then it is *ready*, and keeps reading new records as they come. The topic
holds the state, so this works while the control plane is down. If Kafka fails, ``run``
raises; restarted (by the Supervisor) it resumes where it was and keeps serving the view it
has (still ready): a Kafka outage freezes the configuration, it does not empty it.

A record that cannot be read (undecodable JSON, a secret sealed with a key not in the ring)
removes the entity it names — a stale secret is worse than none — and is counted, logged and
listed in :attr:`ConfigFollower.undecodable` until a readable value for that key arrives.
"""

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import Counter, Gauge

from switchboard.common.auth.tokens import TokenKeyError, load_public_key
from switchboard.common.config.codec import UndecodableConfig, decode
from switchboard.common.config.entities import (
    AccountBase,
    Channel,
    ChannelKind,
    Entity,
    Provider,
    SigningKey,
    Tenant,
)
from switchboard.common.config.settings import TOPIC_CONFIGS, ConfigSettings
from switchboard.common.crypto import Cipher
from switchboard.common.errors import RetryableError
from switchboard.common.kafka.admin import ensure_topics
from switchboard.common.settings import KafkaSettings

log = structlog.get_logger(__name__)

RECORDS = Counter(
    "switchboard_config_records_total",
    "control.config records read, by outcome (applied, deleted, undecodable, skipped).",
    ["outcome"],
)
ENTITIES = Gauge("switchboard_config_entities", "Entities in this process's configuration view.")
CAUGHT_UP = Gauge(
    "switchboard_config_ready", "1 once the configuration has been read up to the start's end."
)

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One applied record: ``new`` is None for a deletion, ``old`` None for a new key."""

    key: str
    old: Entity | None
    new: Entity | None


Listener = Callable[[ConfigChange], None]


class ConfigUnavailable(RetryableError):
    """Kafka could not be read (the follower is restarted and resumes)."""


class ConfigFollower:
    """The live view of ``control.config`` (or of the key prefixes a service asks for)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: ConfigSettings,
        *,
        prefixes: Sequence[str] = ("",),
        cipher: Cipher | None = None,
        client_id: str | None = None,
    ) -> None:
        """``cipher`` defaults to the distribution ring of ``settings`` (None: no secrets)."""
        self._kafka = kafka
        self._settings = settings
        self._prefixes = tuple(prefixes)
        self._cipher = cipher if cipher is not None else settings.opening_cipher()
        self._client_id = client_id or f"{kafka.client_id}-config"
        self._view: dict[str, Entity] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._targets: dict[TopicPartition, int] | None = None
        self._ready = asyncio.Event()
        self._listeners: list[tuple[str, Listener]] = []
        self.undecodable: dict[str, str] = {}
        """Keys whose last record could not be read → why."""
        self.version = 0
        """Increases with every applied change (cheap invalidation of derived indexes)."""

    # --- the view ------------------------------------------------------------------------------

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The key prefixes this follower keeps (``""``: everything)."""
        return self._prefixes

    @property
    def ready(self) -> bool:
        """True once everything present at start has been read (stays true)."""
        return self._ready.is_set()

    async def wait_ready(self, timeout_s: float) -> None:
        """Until ready; TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._ready.wait()

    async def check(self) -> bool:
        """A readiness check for ``health_routes``."""
        return self.ready

    def get(self, key: str) -> Entity | None:
        return self._view.get(key)

    def items(self, prefix: str = "") -> dict[str, Entity]:
        """A snapshot of the entities whose key starts with ``prefix``."""
        return {k: v for k, v in self._view.items() if k.startswith(prefix)}

    def tenants(self) -> dict[str, Tenant]:
        return _typed(self.items("tenant/"), Tenant)

    def accounts(self, provider: Provider | None = None) -> dict[str, AccountBase]:
        prefix = f"account/{provider}/" if provider else "account/"
        return _typed(self.items(prefix), AccountBase)

    def channels(self, kind: ChannelKind | None = None) -> dict[str, Channel]:
        return _typed(self.items(f"channel/{kind}/" if kind else "channel/"), Channel)

    def signing_keys(self) -> dict[str, SigningKey]:
        return _typed(self.items("signing-key/"), SigningKey)

    def listen(self, listener: Listener, *, prefix: str = "") -> Callable[[], None]:
        """Call ``listener`` for every change of a key starting with ``prefix`` (synchronously,
        in the follower's task: keep it cheap). Returns a function that stops the calls."""
        entry = (prefix, listener)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry)

    # --- following -----------------------------------------------------------------------------

    def _wanted(self, key: str) -> bool:
        return key.startswith(self._prefixes)

    def apply(self, key: str, value: bytes | None) -> None:
        """Apply one record (public for tests and tools that read the topic themselves)."""
        if not self._wanted(key):
            RECORDS.labels("skipped").inc()
            return
        new = self._read(key, value)
        old = self._view.get(key)
        if new is None:
            self._view.pop(key, None)
        else:
            self._view[key] = new
        ENTITIES.set(len(self._view))
        if old is not None or new is not None:
            self.version += 1
            self._notify(ConfigChange(key, old, new))

    def _read(self, key: str, value: bytes | None) -> Entity | None:
        """The entity of a record; None for a tombstone or an unreadable value."""
        if value is None:
            self.undecodable.pop(key, None)
            RECORDS.labels("deleted").inc()
            return None
        try:
            entity = decode(key, value, self._cipher)
        except UndecodableConfig as exc:
            RECORDS.labels("undecodable").inc()
            log.error("unreadable configuration record: entity removed", key=key, error=str(exc))
            self.undecodable[key] = str(exc)
            return None
        self.undecodable.pop(key, None)
        RECORDS.labels("applied").inc()
        return entity

    def _notify(self, change: ConfigChange) -> None:
        for prefix, listener in list(self._listeners):
            if change.key.startswith(prefix):
                try:
                    listener(change)
                except Exception:  # a listener's bug must not stop the configuration
                    log.exception("configuration listener failed", key=change.key)

    async def run(self) -> None:
        """Read until cancelled; raises ConfigUnavailable when Kafka fails (run it under a
        Supervisor: it resumes at its positions)."""
        try:
            await ensure_topics(
                self._kafka,
                [self._settings.topic],
                partitions=self._settings.partitions,
                configs=TOPIC_CONFIGS,
            )
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._kafka.bootstrap_servers,
                client_id=self._client_id,
                request_timeout_ms=self._kafka.request_timeout_ms,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            await consumer.start()
        except (KafkaError, OSError) as exc:
            raise ConfigUnavailable(f"control.config: {exc!r}") from exc
        try:
            await self._follow(consumer)
        except (KafkaError, OSError) as exc:
            raise ConfigUnavailable(f"control.config: {exc!r}") from exc
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._partitions()
        consumer.assign(partitions)
        for tp in partitions:
            if tp in self._positions:
                consumer.seek(tp, self._positions[tp])
            else:
                await consumer.seek_to_beginning(tp)
        if self._targets is None:
            self._targets = dict(await consumer.end_offsets(partitions))
            log.info("materializing configuration", topic=self._settings.topic)
        while True:
            batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
            batches = await consumer.getmany(timeout_ms=self._settings.poll_timeout_ms)
            for tp, records in batches.items():
                for record in records:
                    if record.key is not None:
                        self.apply(record.key.decode(errors="replace"), record.value)
                self._positions[tp] = records[-1].offset + 1
            if not self.ready:
                await self._check_caught_up(consumer, partitions)

    async def _partitions(self) -> list[TopicPartition]:
        topic = self._settings.topic
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._kafka.bootstrap_servers,
            request_timeout_ms=self._kafka.request_timeout_ms,
        )
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
        finally:
            await admin.close()
        found = sorted(p["partition"] for p in described.get("partitions", []))
        if not found:
            raise ConfigUnavailable(f"topic {topic} has no partitions")
        return [TopicPartition(topic, p) for p in found]

    async def _check_caught_up(
        self, consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
    ) -> None:
        assert self._targets is not None
        for tp in partitions:
            # position, not the last record's offset + 1: compaction leaves gaps.
            position = await consumer.position(tp)
            self._positions[tp] = position
            if position < self._targets.get(tp, 0):
                return
        self._ready.set()
        CAUGHT_UP.set(1)
        log.info("configuration materialized", entities=len(self._view))

    # --- token keys ----------------------------------------------------------------------------

    def public_keys(self) -> "FollowedPublicKeys":
        """The ``signing-key/*`` entities as a :class:`~switchboard.common.auth.PublicKeys`."""
        return FollowedPublicKeys(self)


class EntityLookup(Protocol):
    """What :class:`FollowedPublicKeys` reads: a follower, or any configuration view."""

    def get(self, key: str) -> Entity | None: ...


class FollowedPublicKeys:
    """Token verification keys from the follower: an unknown, withdrawn (tombstoned) or
    expired retired key verifies nothing."""

    def __init__(
        self, follower: EntityLookup, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._follower = follower
        self._now = now
        self._parsed: dict[str, tuple[str, Ed25519PublicKey]] = {}

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        entity = self._follower.get(f"signing-key/{kid}")
        if not isinstance(entity, SigningKey):
            return None
        if entity.not_after is not None and entity.not_after < self._now():
            return None
        cached = self._parsed.get(kid)
        if cached is not None and cached[0] == entity.public_key:
            return cached[1]
        try:
            key = load_public_key(entity.public_key)
        except TokenKeyError:
            log.error("unreadable signing key", kid=kid)
            return None
        self._parsed[kid] = (entity.public_key, key)
        return key


def _typed(items: Mapping[str, object], cls: type[E]) -> dict[str, E]:
    return {k: v for k, v in items.items() if isinstance(v, cls)}
