"""AsyncAPI 3.0 documents of the services' Kafka interfaces, generated from their FastStream
brokers: what a service subscribes to (its subscribers, with their consumer groups) and what it
publishes (its declared publishers), with every message described by the same pydantic models
that encode and decode it and the CloudEvents binary-mode headers it travels with.

FastStream's own generator names channels after handler functions and, because our subscribers
take raw batches, describes every payload as empty; so the channels and operations are read
from the broker here, one channel per topic, and the messages come from the event registry.
``docs/asyncapi/<service>.yaml`` is written by ``make docs``; each worker serves its document at
``/asyncapi.yaml`` and ``/asyncapi.json``.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import yaml
from faststream.kafka import KafkaBroker
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from pydantic.json_schema import models_json_schema

from switchboard.common.events.base import EventData
from switchboard.common.events.registry import TOPIC_EVENT_TYPES
from switchboard.common.kafka.dlq import (
    H_ATTEMPTS,
    H_ERROR,
    H_ERROR_TYPE,
    H_FAILED_AT,
    H_GROUP,
    H_OFFSET,
    H_PARTITION,
    H_TOPIC,
)

ASYNCAPI_VERSION: Final = "3.0.0"
SERVER: Final = {
    "host": "kafka:9092",
    "protocol": "kafka",
    "description": "The Kafka cluster (SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS).",
}
CE_HEADERS: Final[dict[str, Any]] = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary mode: the attributes travel as headers, "
    "the event's data as the JSON value.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {
            "type": "string",
            "description": "Deterministic from the provider's identifiers (a retried webhook "
            "has the same id): consumers drop duplicates by it.",
        },
        "ce_source": {"type": "string", "examples": ["/switchboard/ingress/twilio"]},
        "ce_type": {"type": "string", "description": "The event type, versioned."},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The entity: call id, conversation."},
        "ce_tenant": {"type": "string", "description": "The tenant the event belongs to."},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context."},
        "tracestate": {"type": "string"},
    },
}
DLQ_HEADERS: Final[dict[str, Any]] = {
    "type": "object",
    "description": "The original record's headers, plus why and where it failed.",
    "properties": {
        H_ERROR: {"type": "string"},
        H_ERROR_TYPE: {"type": "string"},
        H_ATTEMPTS: {"type": "string", "description": "An integer, as text."},
        H_TOPIC: {"type": "string"},
        H_PARTITION: {"type": "string"},
        H_OFFSET: {"type": "string"},
        H_GROUP: {"type": "string"},
        H_FAILED_AT: {"type": "string", "format": "date-time"},
    },
}
KEYS: Final = {
    "call.events": "the call id (per-call order)",
    "message.inbound": "the conversation (business + contact)",
    "message.status": "the conversation (business + contact)",
    "message.outbound": "the conversation (business + contact)",
    "dial.commands": "the campaign id",
    "unowned.events": "as on the topic it was for (header x-switchboard-topic names that topic); "
    "verified events on a channel no tenant owns, kept for the operator",
}


def _name(topic: str) -> str:
    """A component-safe name for a topic (``call.events`` → ``call_events``)."""
    return topic.replace(".", "_")


def _base(topic: str) -> str:
    return topic.removesuffix(".dlq")


def _models_of(topic: str) -> tuple[type[EventData], ...]:
    return TOPIC_EVENT_TYPES.get(_base(topic), ())


def _summary(model: type[EventData]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def _messages(topics: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(components.messages, components.schemas) for every event on ``topics``."""
    models = sorted({m for t in topics for m in _models_of(t)}, key=lambda m: m.event_type)
    defs, top = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = {**top.get("$defs", {})}
    messages: dict[str, Any] = {}
    for model in models:
        payload = defs[(model, "serialization")]  # {"$ref": "#/components/schemas/<name>"}
        schemas[payload["$ref"].rsplit("/", 1)[1]]["description"] = (model.__doc__ or "").strip()
        for suffix, headers in (("", "CloudEventHeaders"), ("_dlq", "DeadLetterHeaders")):
            headers_schema: dict[str, Any] = {"$ref": f"#/components/schemas/{headers}"}
            messages[_name(model.event_type) + suffix] = {
                "name": model.event_type,
                "title": model.__name__ + (" (dead letter)" if suffix else ""),
                "summary": _summary(model),
                "contentType": "application/json",
                "headers": {
                    "allOf": [
                        headers_schema,
                        {"properties": {"ce_type": {"const": model.event_type}}},
                    ]
                },
                "payload": payload,
            }
    schemas["CloudEventHeaders"] = CE_HEADERS
    schemas["DeadLetterHeaders"] = {"allOf": [{"$ref": "#/components/schemas/CloudEventHeaders"},
                                              DLQ_HEADERS]}  # fmt: skip
    return messages, schemas


def interface(
    broker: KafkaBroker, group_names: Mapping[str, str] | None = None
) -> tuple[dict[str, set[str]], set[str]]:
    """(topic → consumer groups subscribed, topics published) as the broker declares them;
    ``group_names`` renames groups that differ per replica (the dialer's command groups)."""
    names = group_names or {}
    receives: dict[str, set[str]] = {}
    for subscriber in broker.subscribers:
        for topic in getattr(subscriber, "topic_names", ()):
            group = str(getattr(subscriber, "group_id", "") or "")
            receives.setdefault(topic, set()).add(names.get(group, group))
    sends = {str(getattr(p, "topic", "")) for p in broker.publishers}
    return receives, sends


def declare_publications(broker: KafkaBroker, topics: Iterable[str]) -> None:
    """Declare what a service publishes (with ``publish_record`` or its outbox relay), so its
    document lists it; the declared publishers are never used to send."""
    for topic in topics:
        broker.publisher(topic, include_in_schema=True)


def document(
    broker: KafkaBroker,
    *,
    service: str,
    description: str,
    group_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``service``'s Kafka interface."""
    receives, sends = interface(broker, group_names)
    topics = sorted(set(receives) | sends)
    unknown = [t for t in topics if not _models_of(t)]
    if unknown:
        raise ValueError(f"no event types registered for topics {unknown}")
    messages, schemas = _messages(topics)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics:
        name, base = _name(topic), _base(topic)
        suffix = "_dlq" if topic != base else ""
        keys = [_name(m.event_type) + suffix for m in _models_of(topic)]
        key_text = f"Key: {KEYS.get(base, 'as the source topic')}."
        channels[name] = {
            "address": topic,
            "title": topic,
            "description": f"Dead letters of {base} (records that can never be handled). {key_text}"
            if suffix
            else key_text,
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in keys},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": "0.5.0"}},
        }
        refs = [{"$ref": f"#/channels/{name}/messages/{k}"} for k in keys]
        groups = sorted(receives.get(topic, ()))
        for group in groups:
            key = f"receive_{name}" if len(groups) == 1 else f"receive_{name}_{_name(group)}"
            operations[key] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{name}"},
                "messages": refs,
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "const": group},
                        "bindingVersion": "0.5.0",
                    }
                },
            }
        if topic in sends:
            operations[f"send_{name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{name}"},
                "messages": refs,
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"Switchboard {service}", "version": "0.1.0", "description": description},
        "defaultContentType": "application/json",
        "servers": {"kafka": SERVER},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def to_yaml(doc: Mapping[str, Any]) -> str:
    return str(yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=100))


def asyncapi_routes(doc: Callable[[], Mapping[str, Any]]) -> list[HTTPRouteHandler]:
    """``/asyncapi.yaml`` and ``/asyncapi.json`` serving ``doc()``: called per request, so a
    worker describes the subscribers its lifespan registered, as they run."""

    @get("/asyncapi.yaml", include_in_schema=False, sync_to_thread=False)
    def as_yaml() -> Response[str]:
        return Response(to_yaml(doc()), media_type="application/yaml")

    @get("/asyncapi.json", include_in_schema=False, sync_to_thread=False)
    def as_json() -> dict[str, Any]:
        return dict(doc())

    return [as_yaml, as_json]
