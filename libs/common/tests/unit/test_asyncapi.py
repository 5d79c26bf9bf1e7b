"""AsyncAPI documents read from a FastStream broker, messages from the event models."""

import yaml
from faststream.kafka import KafkaBroker

from switchboard.common.asyncapi import declare_publications, document, interface, to_yaml
from switchboard.common.events import CallStatusChanged, MessageSent


def broker() -> KafkaBroker:
    b = KafkaBroker("localhost:1")

    @b.subscriber("call.events", group_id="history", batch=True)
    async def on_calls(_: object) -> None:
        return None

    declare_publications(b, ["message.outbound", "call.events.dlq"])
    return b


def test_the_interface_is_what_the_broker_declares() -> None:
    receives, sends = interface(broker())
    assert receives == {"call.events": {"history"}}
    assert sends == {"message.outbound", "call.events.dlq"}


def test_operations_and_messages_come_from_the_broker_and_the_models() -> None:
    doc = document(broker(), service="history", description="test")
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == {"call_events", "call_events_dlq", "message_outbound"}
    receive = doc["operations"]["receive_call_events"]
    assert receive["action"] == "receive"
    assert receive["bindings"]["kafka"]["groupId"]["const"] == "history"
    assert doc["operations"]["send_message_outbound"]["action"] == "send"
    status = doc["components"]["messages"]["switchboard_call_status_v1"]
    assert status["name"] == CallStatusChanged.event_type
    assert doc["components"]["schemas"]["CallStatusChanged"]["properties"].keys() >= {
        "call_id",
        "status",
    }
    sent = doc["components"]["messages"]["switchboard_message_outbound_v1"]
    assert sent["payload"] == {"$ref": f"#/components/schemas/{MessageSent.__name__}"}
    dead = doc["components"]["messages"]["switchboard_call_status_v1_dlq"]
    assert dead["headers"]["allOf"][0] == {"$ref": "#/components/schemas/DeadLetterHeaders"}


def test_every_reference_resolves() -> None:
    doc = document(broker(), service="history", description="test")

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        target: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]


def test_yaml_round_trips() -> None:
    doc = document(broker(), service="history", description="test")
    assert yaml.safe_load(to_yaml(doc)) == doc
