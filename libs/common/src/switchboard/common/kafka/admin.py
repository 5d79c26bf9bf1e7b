"""Topic creation with the configured partitions and replication (run by every service at start).

aiokafka speaks CreateTopics up to v3, which has no "broker default" (-1) replication factor,
so ``replication_factor=-1`` is resolved here by asking a broker for its
``default.replication.factor``.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from switchboard.common.errors import PermanentError, RetryableError
from switchboard.common.settings import KafkaSettings

log = structlog.get_logger(__name__)
DEFAULT_REPLICATION_FACTOR = "default.replication.factor"
MIN_INSYNC_REPLICAS = "min.insync.replicas"


async def ensure_topics(
    settings: KafkaSettings,
    topics: Iterable[str],
    *,
    partitions: int | None = None,
    configs: Mapping[str, str] | None = None,
) -> None:
    """Create ``topics`` if missing (idempotent; safe to run from every service at start).

    New topics get ``settings.partitions`` (or ``partitions``), ``settings.replication_factor``
    replicas, ``settings.min_insync_replicas`` when set, and the topic ``configs`` given (e.g.
    ``{"cleanup.policy": "compact"}``; they win over the settings). An existing topic is left
    as it is, but one with fewer replicas than asked for is logged: it loses data with its broker.
    A topic the brokers refuse raises RetryableError or PermanentError (as Kafka classes it)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=settings.request_timeout_ms,
    )
    await admin.start()
    try:
        wanted = list(dict.fromkeys(topics))
        existing = set(await admin.list_topics())
        replication = settings.replication_factor
        if replication == -1:
            replication = int(await _broker_config(admin, DEFAULT_REPLICATION_FACTOR))
        topic_configs = (
            {MIN_INSYNC_REPLICAS: str(settings.min_insync_replicas)}
            if settings.min_insync_replicas > 0
            else {}
        ) | dict(configs or {})
        missing = [
            NewTopic(
                name=t,
                num_partitions=partitions or settings.partitions,
                replication_factor=replication,
                topic_configs=topic_configs,
            )
            for t in wanted
            if t not in existing
        ]
        if missing:
            _raise_topic_errors(await admin.create_topics(missing))
        await _warn_under_replicated(admin, [t for t in wanted if t in existing], replication)
    finally:
        await admin.close()


def _raise_topic_errors(response: Any) -> None:
    """CreateTopics answers per topic and aiokafka raises none of them: a topic that was not
    created (replication factor above the live brokers, a bad name) must stop the service."""
    for topic, code, *message in response.topic_errors:
        error = for_code(code)
        if code == 0 or error is TopicAlreadyExistsError:  # another service was first
            continue
        text = f"topic {topic} not created: {error.__name__} {message[0] if message else ''}"
        raise (RetryableError if error.retriable else PermanentError)(text.strip())


async def _broker_config(admin: AIOKafkaAdminClient, name: str) -> str:
    """One static setting of a broker (the cluster's brokers share their topic defaults)."""
    cluster = await admin.describe_cluster()
    node = str(cluster["brokers"][0]["node_id"])
    [response] = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.BROKER, node, {name: None})]
    )
    for _error, _message, _type, _name, entries in response.resources:
        for entry in entries:
            if entry[0] == name:
                return str(entry[1])
    raise KafkaError(f"broker {node} did not report {name}")


async def _warn_under_replicated(
    admin: AIOKafkaAdminClient, topics: list[str], replication: int
) -> None:
    if not topics:
        return
    for described in await admin.describe_topics(topics):
        replicas = min((len(p["replicas"]) for p in described["partitions"]), default=0)
        if 0 < replicas < replication:
            log.warning(
                "topic has fewer replicas than configured; it was created before: reassign it",
                topic=described["topic"],
                replicas=replicas,
                replication_factor=replication,
            )
