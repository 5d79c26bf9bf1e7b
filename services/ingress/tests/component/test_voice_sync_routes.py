"""Synchronous voice requests through the routes, with the AI service's voice API faked at
the network (``httpx.MockTransport``): verification, the answer in each platform's shape, the
fallback when the AI service is late, failing or unconfigured, and the published exchange."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr

from switchboard.common.config import Channel, ElevenLabsAccount, InMemoryConfig, VapiAccount
from switchboard.common.events import (
    CallAssistantRequested,
    CallToolsCalled,
    CallTransferRequested,
)
from switchboard.common.topics import CALL_EVENTS, UNOWNED_EVENTS
from switchboard.common.voice import ASSISTANT_PATH, DEADLINE_HEADER, TOOLS_PATH, TRANSFER_PATH
from switchboard.ingress.app import create_app
from switchboard.ingress.settings import IngressSettings, VoiceSettings

VAPI = "/webhooks/vapi"
EL_INIT = "/webhooks/elevenlabs/initiation"
EL_TOOL = "/webhooks/elevenlabs/tools/search_knowledge"
INTERNAL = "internal-secret"
EL_TOOL_SECRET = "el-tool-secret-0001"
EL_POST_CALL_SECRET = "wsec_elevenlabs_0001"
EL_WORKSPACE = "el-workspace-1"  # the conftest's ElevenLabs account
VAPI_ORG = "vapi-org-1"  # the conftest's Vapi account
VAPI_SECRET = "vapi-secret-0001-x"  # ... and its secret
AGENT = "agent_01"
FALLBACK_NUMBER = "+14155550199"
CALL = "vapi-call-1"
PHONE_ID = "3f1c2b0a-0000-4000-8000-000000000001"
NUMBER = "+14155550100"
CALLER = "+14155550123"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakeAI:
    """The AI service's voice API: records what it is asked; ``handler`` answers."""

    def __init__(self) -> None:
        self.asked: list[httpx.Request] = []
        self.handler: Handler = self.answer

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        return await self.handler(request)

    async def answer(self, request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)
        if request.url.path == ASSISTANT_PATH:
            return httpx.Response(
                200,
                json={
                    "business_id": "b-1",
                    "business_name": "Trattoria",
                    "assistant_id": "asst-1",
                    "variables": {"business_name": "Trattoria", "hours_today": "12:00-22:00"},
                    "overrides": {"agent": {"first_message": "Ciao!"}},
                },
            )
        if request.url.path == TOOLS_PATH:
            results = [
                {"id": c["id"], "name": c["name"], "result": f"{c['name']} says yes"}
                for c in query["calls"]
            ]
            return httpx.Response(200, json={"business_id": "b-1", "results": results})
        if request.url.path == TRANSFER_PATH:
            return httpx.Response(
                200, json={"business_id": "b-1", "number": "+14155550111", "message": "One moment"}
            )
        return httpx.Response(404, json={"reason": "not_found"})

    def query(self, n: int = -1) -> Any:
        return json.loads(self.asked[n].content)


def voice_settings(base: IngressSettings, **voice: Any) -> IngressSettings:
    options: dict[str, Any] = {
        "internal_secret": SecretStr(INTERNAL),
        "assistant_deadline_s": 1.0,
        "server_message_deadline_s": 1.0,
        "elevenlabs_tool_deadline_s": 1.0,
        **voice,
    }
    return base.model_copy(update={"voice": VoiceSettings(**options)})


@pytest.fixture
def voice_config(config: InMemoryConfig) -> InMemoryConfig:
    """The conftest's accounts with the ElevenLabs tool secret, the Vapi number bound to
    acme-vapi and the ElevenLabs agent to acme-el."""
    config.put(
        ElevenLabsAccount(
            id=EL_WORKSPACE,
            tenants=("acme-el",),
            webhook_secrets=(SecretStr(EL_POST_CALL_SECRET),),
            tool_secrets=(SecretStr(EL_TOOL_SECRET),),
        )
    )
    config.put(Channel(kind="vapi-phone", id=PHONE_ID, tenant="acme-vapi", account_id=VAPI_ORG))
    config.put(
        Channel(kind="elevenlabs-agent", id=AGENT, tenant="acme-el", account_id=EL_WORKSPACE)
    )
    return config


@pytest.fixture
def ai() -> FakeAI:
    return FakeAI()


@pytest.fixture
def voice_client(
    settings: IngressSettings, kafka: Any, ai: FakeAI, voice_config: InMemoryConfig
) -> Callable[..., TestClient]:  # type: ignore[type-arg]
    """``voice_client(**voice_settings)``: an ingress whose voice API is ``ai``."""
    opened: list[TestClient] = []  # type: ignore[type-arg]

    def build(**voice: Any) -> TestClient:  # type: ignore[type-arg]
        app = create_app(
            voice_settings(settings, **voice),
            publisher=kafka,
            config=voice_config,
            voice_transport=httpx.MockTransport(ai),
        )
        client = TestClient(app=app)
        client.__enter__()
        opened.append(client)
        return client

    yield build  # type: ignore[misc]
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(voice_client: Callable[..., TestClient]) -> Iterator[TestClient]:  # type: ignore[type-arg]
    yield voice_client()


def vapi_message(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "message": {
            "type": kind,
            "timestamp": 1765000000000,
            "call": {"id": CALL, "phoneNumberId": PHONE_ID, "customer": {"number": CALLER}},
            "phoneNumber": {"id": PHONE_ID, "number": NUMBER},
            "customer": {"number": CALLER},
            **extra,
        }
    }


def counted(request: str, outcome: str, provider: str = "vapi") -> float:
    value = REGISTRY.get_sample_value(
        "switchboard_ingress_voice_answers_total",
        {"provider": provider, "request": request, "outcome": outcome},
    )
    return value or 0.0


def test_assistant_request_answers_the_owners_assistant_and_publishes_it(
    client, kafka, sign, ai
) -> None:
    body, headers = sign.vapi(vapi_message("assistant-request"))
    before = counted("assistant-request", "answered")
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "assistantId": "asst-1",
        "assistantOverrides": {
            "variableValues": {"business_name": "Trattoria", "hours_today": "12:00-22:00"}
        },
    }
    [asked] = ai.asked
    assert asked.url.path == ASSISTANT_PATH
    assert asked.headers["authorization"] == f"Bearer {INTERNAL}"
    assert 0 < int(asked.headers[DEADLINE_HEADER]) <= 1000
    query = ai.query()
    assert query["tenant"] == "acme-vapi"
    assert kafka.events()[0][0] == CALL_EVENTS
    assert query["channels"] == [f"vapi-phone/{PHONE_ID}", f"phone/{NUMBER}"]
    assert query["caller"] == CALLER
    [(topic, key, event)] = kafka.events()
    assert (topic, key) == ("call.events", CALL.encode())
    assert event.tenant == "acme-vapi"
    assert isinstance(event.data, CallAssistantRequested)
    assert event.data.outcome == "answered"
    assert event.data.business_id == "b-1"
    assert event.data.assistant_id == "asst-1"
    assert event.data.answer == response.json()
    assert counted("assistant-request", "answered") == before + 1


def test_tool_calls_answer_one_result_per_tool_call_id(client, kafka, sign, ai) -> None:
    calls = [
        {"id": "tc-1", "type": "function", "function": {"name": "opening_hours", "arguments": {}}},
        {
            "id": "tc-2",
            "type": "function",
            "function": {"name": "search_knowledge", "arguments": '{"query": "sunday"}'},
        },
    ]
    body, headers = sign.vapi(vapi_message("tool-calls", toolCallList=calls))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "results": [
            {"name": "opening_hours", "toolCallId": "tc-1", "result": "opening_hours says yes"},
            {
                "name": "search_knowledge",
                "toolCallId": "tc-2",
                "result": "search_knowledge says yes",
            },
        ]
    }
    assert ai.query()["calls"][1]["arguments"] == {"query": "sunday"}
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallToolsCalled)
    assert [(c.id, c.result) for c in event.data.calls] == [
        ("tc-1", "opening_hours says yes"),
        ("tc-2", "search_knowledge says yes"),
    ]


def test_function_call_answers_a_single_result(client, kafka, sign) -> None:
    body, headers = sign.vapi(
        vapi_message("function-call", functionCall={"name": "opening_hours", "parameters": {}})
    )
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "opening_hours says yes"}
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallToolsCalled)
    assert event.data.request == "function-call"


def test_transfer_destination_request_answers_the_destination(client, kafka, sign) -> None:
    body, headers = sign.vapi(vapi_message("transfer-destination-request"))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "destination": {"type": "number", "number": "+14155550111", "message": "One moment"}
    }
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallTransferRequested)
    assert event.data.destination == "+14155550111"


def test_forged_or_unsigned_sync_messages_are_403_and_never_reach_the_ai(
    client, kafka, sign, ai
) -> None:
    for kind in ("assistant-request", "tool-calls", "transfer-destination-request"):
        extra = {"toolCallList": [{"id": "t", "name": "x"}]} if kind == "tool-calls" else {}
        body, headers = sign.vapi(vapi_message(kind, **extra), secret="guess")
        response = client.post(VAPI, content=body, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["reason"] == "signature"
        del headers["x-vapi-secret"]
        assert client.post(VAPI, content=body, headers=headers).status_code == 403
    assert ai.asked == []
    assert kafka.published == []


def test_a_slow_ai_service_gets_the_fallback_transfer_within_the_deadline(
    voice_client, kafka, sign, ai
) -> None:
    client = voice_client(assistant_deadline_s=0.5, fallback_transfer_number=FALLBACK_NUMBER)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return await ai.answer(request)

    ai.handler = slow
    before = counted("assistant-request", "fallback_timeout")
    body, headers = sign.vapi(vapi_message("assistant-request"))
    started = time.monotonic()
    response = client.post(VAPI, content=body, headers=headers)
    # Loose bound (shared machine): far below the 30 s the AI service would take, and below
    # Vapi's 7.5 s.
    assert time.monotonic() - started < 7.5
    assert response.status_code == 200, response.text
    assert response.json() == {
        "destination": {
            "type": "number",
            "number": FALLBACK_NUMBER,
            "message": VoiceSettings().fallback_message,
        }
    }
    assert counted("assistant-request", "fallback_timeout") == before + 1
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallAssistantRequested)
    assert event.data.outcome == "fallback_timeout"
    assert event.data.answer == response.json()


def test_a_slow_tool_gets_the_message_as_every_calls_result(voice_client, kafka, sign, ai) -> None:
    client = voice_client(server_message_deadline_s=0.3, fallback_message="We will call back.")

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return await ai.answer(request)

    ai.handler = slow
    calls = [{"id": "tc-1", "name": "search_knowledge", "parameters": {"query": "menu"}}]
    body, headers = sign.vapi(vapi_message("tool-calls", toolCallList=calls))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "results": [
            {"name": "search_knowledge", "toolCallId": "tc-1", "result": "We will call back."}
        ]
    }
    [(_, _, event)] = kafka.events()
    assert event.data.outcome == "fallback_timeout"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"business_id": "b-1"}),  # not the contract
        httpx.Response(200, json={"business_id": "b-1", "business_name": "No assistant"}),
        "unreachable",
    ],
)
def test_a_failing_ai_service_gets_the_fallback_never_a_500(
    voice_client, kafka, sign, ai, failure: httpx.Response | str
) -> None:
    client = voice_client()

    async def failing(request: httpx.Request) -> httpx.Response:
        if isinstance(failure, str):
            raise httpx.ConnectError("connection refused", request=request)
        return failure

    ai.handler = failing
    body, headers = sign.vapi(vapi_message("assistant-request"))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    # No transfer number configured: Vapi speaks the error message and ends the call.
    assert response.json() == {"error": VoiceSettings().fallback_message}
    [(_, _, event)] = kafka.events()
    assert event.data.outcome == "fallback_error"


def test_without_an_internal_secret_every_request_gets_the_fallback(
    voice_client, kafka, sign, ai
) -> None:
    client = voice_client(internal_secret=SecretStr(""))
    body, headers = sign.vapi(vapi_message("transfer-destination-request"))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"error": VoiceSettings().fallback_message}
    assert ai.asked == []
    assert kafka.events()[0][2].data.outcome == "fallback_error"


def test_a_call_nobody_owns_gets_the_configured_default(voice_client, kafka, sign, ai) -> None:
    client = voice_client(unowned_assistant_id="asst-default")

    async def unowned(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"reason": "unowned", "detail": "nobody"})

    ai.handler = unowned
    body, headers = sign.vapi(vapi_message("assistant-request"))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"assistantId": "asst-default"}
    [(_, _, event)] = kafka.events()
    assert event.data.outcome == "unowned"


def test_a_call_without_any_channel_is_unowned_without_asking(client, kafka, sign, ai) -> None:
    payload = {"message": {"type": "assistant-request", "call": {"id": CALL}}}
    body, headers = sign.vapi(payload)
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"error": VoiceSettings().fallback_message}
    assert ai.asked == []
    [(topic, _, event)] = kafka.events()
    assert (topic, event.tenant, event.data.outcome) == (UNOWNED_EVENTS, None, "unowned")


def test_a_call_on_a_number_no_tenant_owns_is_unowned_without_asking(
    voice_client, voice_config, kafka, sign, ai
) -> None:
    """Verified by the account's secret, but its number is bound to nobody: the AI service
    is not asked for any tenant's business; the exchange is kept on unowned.events."""
    voice_config.delete(f"channel/vapi-phone/{PHONE_ID}")
    client = voice_client(unowned_assistant_id="asst-default")
    before = counted("assistant-request", "unowned")
    body, headers = sign.vapi(vapi_message("assistant-request"))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"assistantId": "asst-default"}
    assert ai.asked == []
    [(topic, key, event)] = kafka.events()
    assert (topic, key, event.tenant) == (UNOWNED_EVENTS, CALL.encode(), None)
    assert event.data.outcome == "unowned"
    assert counted("assistant-request", "unowned") == before + 1


def test_an_elevenlabs_agent_of_another_account_is_unowned(voice_config, client, kafka, ai) -> None:
    """The tool secret verifies workspace 2; the agent is bound to the conftest's workspace:
    the agent's tenant is not given to workspace 2's request."""
    voice_config.put(
        ElevenLabsAccount(
            id="el-workspace-2",
            tenants=("other",),
            webhook_secrets=(SecretStr("wsec_other_secret_0001"),),
            tool_secrets=(SecretStr("el-tool-secret-other"),),
        )
    )
    response = client.post(
        EL_INIT, content=json.dumps(INITIATION), headers=el_headers("el-tool-secret-other")
    )
    assert response.status_code == 200, response.text
    assert ai.asked == []
    [(topic, _, event)] = kafka.events()
    assert (topic, event.tenant, event.data.outcome) == (UNOWNED_EVENTS, None, "unowned")


def test_unreadable_sync_messages_are_422(client, kafka, sign, ai) -> None:
    for payload in (
        {"message": {"type": "assistant-request"}},  # no call id
        {"message": {"type": "tool-calls", "call": {"id": CALL}, "toolCallList": []}},
        {"message": {"type": "function-call", "call": {"id": CALL}, "functionCall": {}}},
    ):
        body, headers = sign.vapi(payload)
        response = client.post(VAPI, content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["reason"] == "payload"
    assert ai.asked == []
    assert kafka.published == []


def test_the_answer_goes_out_even_when_the_event_cannot_be_made_durable(
    tmp_path: Path, settings, kafka, sign, ai, voice_config
) -> None:
    """Kafka down and the spool full: a live caller still gets the answer (Vapi does not
    retry); the loss is counted."""
    full = settings.model_copy(
        update={"spool": settings.spool.model_copy(update={"max_events": 0})}
    )
    kafka.down = True
    app = create_app(
        voice_settings(full),
        publisher=kafka,
        config=voice_config,
        voice_transport=httpx.MockTransport(ai),
    )
    lost = REGISTRY.get_sample_value(
        "switchboard_ingress_voice_events_lost_total", {"provider": "vapi", "reason": "broker"}
    )
    with TestClient(app=app) as client:
        body, headers = sign.vapi(vapi_message("assistant-request"))
        response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["assistantId"] == "asst-1"
    assert kafka.published == []
    after = REGISTRY.get_sample_value(
        "switchboard_ingress_voice_events_lost_total", {"provider": "vapi", "reason": "broker"}
    )
    assert (after or 0) == (lost or 0) + 1


def test_with_kafka_down_the_exchange_is_spooled_and_answered(client, kafka, sign, ai) -> None:
    kafka.down = True
    body, headers = sign.vapi(vapi_message("assistant-request"))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["assistantId"] == "asst-1"
    kafka.down = False
    deadline = time.monotonic() + 30
    while not kafka.published and time.monotonic() < deadline:
        time.sleep(0.05)
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallAssistantRequested)


def el_headers(secret: str = EL_TOOL_SECRET) -> dict[str, str]:
    return {"content-type": "application/json", "authorization": f"Bearer {secret}"}


INITIATION = {
    "caller_id": CALLER,
    "agent_id": AGENT,
    "called_number": NUMBER,
    "call_sid": "CA0123456789abcdef0123456789abcdef",
}


def test_elevenlabs_initiation_answers_variables_and_allowed_overrides(client, kafka, ai) -> None:
    response = client.post(EL_INIT, content=json.dumps(INITIATION), headers=el_headers())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "type": "conversation_initiation_client_data",
        "dynamic_variables": {"business_name": "Trattoria", "hours_today": "12:00-22:00"},
        "conversation_config_override": {"agent": {"first_message": "Ciao!"}},
    }
    query = ai.query()
    assert query["tenant"] == "acme-el"
    assert query["channels"] == ["elevenlabs-agent/agent_01", f"phone/{NUMBER}"]
    [(_, key, event)] = kafka.events()
    assert key == b"CA0123456789abcdef0123456789abcdef"
    assert isinstance(event.data, CallAssistantRequested)
    assert event.data.provider == "elevenlabs"
    assert event.data.request == "conversation-initiation"


def test_elevenlabs_initiation_fallback_still_starts_the_agent(voice_client, kafka, ai) -> None:
    client = voice_client(assistant_deadline_s=0.3, fallback_variables={"menu": ""})

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return await ai.answer(request)

    ai.handler = slow
    response = client.post(EL_INIT, content=json.dumps(INITIATION), headers=el_headers())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "conversation_initiation_client_data"
    assert answer["dynamic_variables"]["caller_number"] == CALLER
    assert answer["dynamic_variables"]["business_name"] == ""
    assert answer["dynamic_variables"]["menu"] == ""
    assert kafka.events()[0][2].data.outcome == "fallback_timeout"


def test_elevenlabs_server_tool_answers_the_result(client, kafka, ai) -> None:
    body = {"query": "open on sunday?", "conversation_id": "conv-1", "agent_id": "agent_01"}
    response = client.post(EL_TOOL, content=json.dumps(body), headers=el_headers())
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "search_knowledge says yes"}
    [call] = ai.query()["calls"]
    assert (call["name"], call["arguments"]) == ("search_knowledge", {"query": "open on sunday?"})
    [(_, key, event)] = kafka.events()
    assert key == b"conv-1"
    assert isinstance(event.data, CallToolsCalled)
    assert event.data.request == "server-tool"


def test_elevenlabs_sync_routes_refuse_wrong_or_missing_bearer(client, kafka, ai) -> None:
    body = {"query": "x", "conversation_id": "conv-1", "agent_id": "agent_01"}
    for path, payload in ((EL_INIT, INITIATION), (EL_TOOL, body)):
        for headers in (
            el_headers("guess"),
            {"content-type": "application/json"},
            {"content-type": "application/json", "authorization": EL_TOOL_SECRET},
        ):
            response = client.post(path, content=json.dumps(payload), headers=headers)
            assert response.status_code == 403, (path, headers, response.text)
    # The post-call HMAC secret is not a tool secret.
    response = client.post(
        EL_TOOL, content=json.dumps(body), headers=el_headers(EL_POST_CALL_SECRET)
    )
    assert response.status_code == 403
    assert ai.asked == []
    assert kafka.published == []


def test_elevenlabs_bad_tool_names_and_bodies_are_4xx(client, kafka, ai) -> None:
    bad_name = "/webhooks/elevenlabs/tools/" + "x" * 65
    body = json.dumps({"conversation_id": "conv-1"})
    assert client.post(bad_name, content=body, headers=el_headers()).status_code == 422
    no_conversation = json.dumps({"query": "x"})
    assert client.post(EL_TOOL, content=no_conversation, headers=el_headers()).status_code == 422
    no_sid = json.dumps({"agent_id": "agent_01"})
    assert client.post(EL_INIT, content=no_sid, headers=el_headers()).status_code == 422
    assert client.post(EL_TOOL, content=b"{", headers=el_headers()).status_code == 400
    assert ai.asked == []
    assert kafka.published == []


def test_a_rotated_tool_secret_is_in_force_on_the_next_request(
    voice_config, client, kafka, ai
) -> None:
    """The control plane replaces the workspace's tool secrets: the old one is refused, the
    new one verifies, without a restart."""
    voice_config.put(
        ElevenLabsAccount(
            id=EL_WORKSPACE,
            tenants=("acme-el",),
            webhook_secrets=(SecretStr(EL_POST_CALL_SECRET),),
            tool_secrets=(SecretStr("el-tool-secret-rotated"),),
        )
    )
    body = json.dumps({"query": "x", "conversation_id": "conv-1", "agent_id": AGENT})
    assert client.post(EL_TOOL, content=body, headers=el_headers()).status_code == 403
    response = client.post(EL_TOOL, content=body, headers=el_headers("el-tool-secret-rotated"))
    assert response.status_code == 200, response.text
    assert ai.query()["tenant"] == "acme-el"


def vapi_credential(mode: str, body: bytes, secret: str, at: float | None = None) -> dict[str, str]:
    """Vapi's credential as its server URL's authentication says (the simulator's
    ``signing.vapi_headers`` computes the same)."""
    if mode == "bearer":
        return {"authorization": f"Bearer {secret}"}
    if mode == "hmac":
        t = str(int(time.time() if at is None else at))
        mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {"x-timestamp": t, "x-signature": mac}
    return {"x-vapi-secret": secret}


SYNC_MESSAGES = {
    "assistant-request": ({}, lambda a: a["assistantId"] == "asst-1"),
    "tool-calls": (
        {"toolCallList": [{"id": "t1", "name": "search_knowledge", "parameters": {}}]},
        lambda a: a["results"][0]["toolCallId"] == "t1",
    ),
    "transfer-destination-request": ({}, lambda a: a["destination"]["number"] == "+14155550111"),
}


@pytest.mark.parametrize("mode", ["bearer", "hmac"])
def test_vapi_bearer_and_hmac_accounts_verify_every_sync_message_through_the_route(
    voice_config, client, kafka, ai, mode
) -> None:
    """The account's ``auth_mode`` decides the credential: its own verifies every synchronous
    message; a wrong secret, the other modes' credentials, or (HMAC) a stale timestamp are
    403 and never reach the AI service."""
    voice_config.put(
        VapiAccount(
            id=VAPI_ORG,
            tenants=("acme-vapi",),
            auth_mode=mode,
            webhook_secrets=(SecretStr(VAPI_SECRET),),
        )
    )
    for kind, (extra, answered) in SYNC_MESSAGES.items():
        body = json.dumps(vapi_message(kind, **extra)).encode()
        headers = {"content-type": "application/json"}
        good = client.post(
            VAPI, content=body, headers={**headers, **vapi_credential(mode, body, VAPI_SECRET)}
        )
        assert good.status_code == 200, (kind, good.text)
        assert answered(good.json()), (kind, good.json())
        asked = len(ai.asked)
        refused = [
            vapi_credential(mode, body, "not-the-secret"),
            *(
                vapi_credential(m, body, VAPI_SECRET)
                for m in ("secret_header", "bearer", "hmac")
                if m != mode
            ),
        ]
        if mode == "hmac":
            refused.append(vapi_credential(mode, body, VAPI_SECRET, at=time.time() - 3600))
            # Signed for this body, sent with one more byte: the signature covers the raw body.
            signed = vapi_credential(mode, body, VAPI_SECRET)
            tampered = client.post(VAPI, content=body + b" ", headers={**headers, **signed})
            assert tampered.status_code == 403, kind
        for credential in refused:
            answer = client.post(VAPI, content=body, headers={**headers, **credential})
            assert answer.status_code == 403, (kind, credential)
            assert answer.json()["reason"] == "signature"
        assert len(ai.asked) == asked, kind
    assert [e.data.outcome for _, _, e in kafka.events()] == ["answered"] * 3
