"""Dead-letter and retry counts exist at 0 before the first dead letter or retry.

``SwitchboardDeadLetters`` is ``increase(switchboard_dlq_messages_total[15m]) > 0``, and
Prometheus's ``increase()`` finds nothing in a series whose first sample is already 1: without
these zero series a process's first dead letter fired no alert (seen on the real Prometheus by
tests/monitoring/test_alerts_live.py).
"""

from typing import Any, cast

from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from switchboard.common.kafka import DeadLetters


def count(topic: str, group: str, reason: str) -> float | None:
    labels = {"topic": topic, "group": group, "reason": reason}
    return REGISTRY.get_sample_value("switchboard_dlq_messages_total", labels)


def test_each_consumed_topic_has_its_dead_letter_counts_at_zero() -> None:
    broker = cast(KafkaBroker, cast(Any, object()))  # never used: nothing is sent
    assert count("zero.topic", "zero-group", "permanent") is None
    DeadLetters(broker, "zero-group", topics=["zero.topic", "other.topic"])
    for topic in ("zero.topic", "other.topic"):
        assert count(topic, "zero-group", "permanent") == 0
        assert count(topic, "zero-group", "error") == 0
        retries = {"topic": topic, "group": "zero-group"}
        assert REGISTRY.get_sample_value("switchboard_consumer_retries_total", retries) == 0
