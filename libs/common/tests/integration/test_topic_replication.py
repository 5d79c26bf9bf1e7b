"""ensure_topics against the real broker: replication from the settings (or the brokers'
default), min.insync.replicas on new topics, and refused topics raise instead of passing."""

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from switchboard.common.errors import PermanentError
from switchboard.common.kafka import ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import eventually, unique

pytestmark = pytest.mark.integration


async def describe(settings: KafkaSettings, topic: str) -> tuple[set[int], dict[str, str]]:
    """(replica counts of the partitions, the topic's own config overrides)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    found: list[dict[str, Any]] = []

    async def described() -> bool:  # a new topic's partitions reach the metadata a bit later
        found[:] = await admin.describe_topics([topic])
        return bool(found[0]["partitions"])

    try:
        await eventually(described, timeout_s=30)
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = response.resources
    dynamic_topic_config = 1  # config_source: set on the topic, not inherited
    overrides = {e[0]: e[1] for e in entries if e[3] == dynamic_topic_config}
    return {len(p["replicas"]) for p in found[0]["partitions"]}, overrides


async def brokers(settings: KafkaSettings) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        return len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()


async def test_by_default_topics_get_the_brokers_replication(kafka_settings: KafkaSettings) -> None:
    topic = unique("t.replication")
    await ensure_topics(kafka_settings, [topic], partitions=2)
    replicas, overrides = await describe(kafka_settings, topic)
    # scripts/infra: default.replication.factor 1 on one broker, 3 on a cluster.
    assert replicas == {min(3, await brokers(kafka_settings))}
    assert "min.insync.replicas" not in overrides  # the brokers' own setting applies


async def test_min_insync_replicas_is_set_on_new_topics(kafka_settings: KafkaSettings) -> None:
    topic = unique("t.min-isr")
    settings = kafka_settings.model_copy(update={"replication_factor": 1, "min_insync_replicas": 1})
    await ensure_topics(settings, [topic], partitions=1)
    replicas, overrides = await describe(kafka_settings, topic)
    assert replicas == {1}
    assert overrides["min.insync.replicas"] == "1"


async def test_a_topic_the_brokers_refuse_raises(kafka_settings: KafkaSettings) -> None:
    """aiokafka answers CreateTopics errors without raising: the service used to start without
    its topics (and, with auto-create off, fail on the first publish)."""
    with pytest.raises(PermanentError, match="InvalidTopic"):
        await ensure_topics(kafka_settings, ["no spaces allowed " + unique("t")])
    too_many = kafka_settings.model_copy(update={"replication_factor": 9})
    with pytest.raises(PermanentError, match="InvalidReplicationFactor"):
        await ensure_topics(too_many, [unique("t.rf")])
