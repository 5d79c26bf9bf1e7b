"""Kafka wiring: the broker factory, topic creation and acknowledged publishing."""

from switchboard.common.kafka.broker import create_broker, ensure_topics, publish_record

__all__ = ["create_broker", "ensure_topics", "publish_record"]
