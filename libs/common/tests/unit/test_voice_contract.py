"""The internal voice API contract and the voice exchange events."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from switchboard.common.events import (
    EVENT_TYPES,
    CallToolsCalled,
    Event,
    VoiceToolCall,
    decode,
    encode,
)
from switchboard.common.events.registry import TOPIC_EVENT_TYPES
from switchboard.common.topics import CALL_EVENTS
from switchboard.common.voice import AssistantQuery, ToolsQuery, check_channel_refs


def test_channel_refs_name_a_kind_and_a_valid_id() -> None:
    assert check_channel_refs(["phone/+14155550100", "vapi-assistant/asst_1"])
    for bad in ("phone/4155550100", "fax/123", "vapi-phone", "whatsapp/abc", "vapi-phone/ bad"):
        with pytest.raises(ValueError, match=bad.split("/")[0]):
            check_channel_refs([bad])


def test_queries_are_strict() -> None:
    q = AssistantQuery(
        provider="vapi", request="assistant-request", call_id="c1", channels=["vapi-phone/pn-1"]
    )
    assert q.tenant is None
    with pytest.raises(ValidationError):
        AssistantQuery.model_validate({**q.model_dump(), "surprise": 1})
    with pytest.raises(ValidationError):
        ToolsQuery.model_validate({**q.model_dump(), "request": "tool-calls", "calls": []})


def test_voice_events_are_call_events_and_round_trip() -> None:
    for name in (
        "switchboard.call.assistant_requested.v1",
        "switchboard.call.tools_called.v1",
        "switchboard.call.transfer_requested.v1",
    ):
        assert EVENT_TYPES[name] in TOPIC_EVENT_TYPES[CALL_EVENTS]
    data = CallToolsCalled(
        provider="vapi",
        request="tool-calls",
        call_id="call-1",
        outcome="fallback_timeout",
        answered_in_ms=4012.5,
        answer={"results": [{"toolCallId": "t1", "result": "Someone will call you back."}]},
        calls=[VoiceToolCall(id="t1", name="search_knowledge", arguments={"query": "sunday"})],
        occurred_at=datetime(2026, 12, 6, 12, tzinfo=UTC),
    )
    record = encode(Event(id="e1", source="/test", data=data, subject="call-1"), "call-1")
    assert decode(record.headers, record.value).data == data
