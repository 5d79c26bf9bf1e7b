"""What the ingress publishes, as an AsyncAPI document (served at /asyncapi.yaml).

The ingress produces with its own aiokafka producer (acks=all, spool behind it), not through a
FastStream broker; an unconnected broker is used only to declare the topics for the document."""

from typing import Any

from faststream.kafka import KafkaBroker

from switchboard.common.asyncapi import declare_publications, document
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, UNOWNED_EVENTS

PUBLISHES = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, UNOWNED_EVENTS)
DESCRIPTION = (
    "The webhook ingress: verifies Twilio, WhatsApp, Vapi and ElevenLabs webhooks and publishes "
    "each as a typed event, acknowledged only once Kafka holds it (acks=all) or its local spool "
    "does while Kafka is away."
)


def kafka_document() -> dict[str, Any]:
    broker = KafkaBroker()  # never connected
    declare_publications(broker, PUBLISHES)
    return document(broker, service="ingress", description=DESCRIPTION)
