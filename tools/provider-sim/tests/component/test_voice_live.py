"""Live voice calls: the synchronous requests the simulator makes, signed as each platform does
(checked here independently of the simulator's signing), and what it records of the answers."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, post
from litestar.params import FromPath

from switchboard.providersim.server import ThreadServer


class Platform:
    """A server answering the simulator's synchronous requests like Switchboard would."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.slow_s = 0.0

    def app(self) -> Litestar:
        platform = self

        @post("/{path:path}", status_code=200)
        async def answer(request: Request[Any, Any, Any], path: FromPath[str]) -> dict[str, Any]:
            body = await request.body()
            platform.got.append((path, dict(request.headers), body))
            if platform.slow_s:
                await asyncio.sleep(platform.slow_s)
            payload = json.loads(body)
            kind = payload.get("message", {}).get("type")
            if kind == "assistant-request":
                return {"assistantId": "asst-1"}
            if kind == "tool-calls":
                calls = payload["message"]["toolCallList"]
                return {"results": [{"toolCallId": c["id"], "result": "open"} for c in calls]}
            if kind == "transfer-destination-request":
                return {"destination": {"type": "number", "number": "+14155550111"}}
            if path.endswith("initiation"):
                return {"type": "conversation_initiation_client_data", "dynamic_variables": {}}
            return {"result": f"answered {payload.get('query')}"}

        return Litestar(route_handlers=[answer])


@pytest.fixture
def platform() -> Iterator[tuple[Platform, str]]:
    p = Platform()
    server = ThreadServer(p.app()).start()
    try:
        yield p, server.url
    finally:
        server.stop()


def hmac_ok(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """Vapi's HMAC mode, written independently of the simulator's signing."""
    t = headers["x-timestamp"]
    if abs(time.time() - int(t)) > 300:
        return False
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, headers["x-signature"])


def test_a_live_vapi_call_asks_assistant_tools_and_transfer_signed_by_hmac(sim, platform) -> None:
    p, url = platform
    sim.configure(vapi={"webhook_url": url + "/vapi", "secret": "vs", "auth_mode": "hmac"})
    answer = sim.http.post(
        "/_sim/voice-live/vapi",
        json={
            "phone_number_id": "pn-1",
            "number": "+14155550100",
            "caller": "+14155550123",
            "questions": ["open on sunday?", "parking?"],
            "transfer": True,
        },
    )
    assert answer.status_code == 200, answer.text
    call = answer.json()
    kinds = [x["request"] for x in call["exchanges"]]
    assert kinds == [
        "vapi.assistant-request",
        "vapi.tool-calls",
        "vapi.tool-calls",
        "vapi.transfer-destination-request",
    ]
    assert all(x["status"] == 200 and x["in_time"] for x in call["exchanges"])
    assert call["exchanges"][0]["timeout_s"] == 7.5
    assert call["exchanges"][1]["timeout_s"] == 20.0
    assert call["exchanges"][1]["answer"]["results"][0]["result"] == "open"
    for _, headers, body in p.got:
        assert hmac_ok(body, headers, "vs")
        assert not hmac_ok(body, headers, "other")
        message = json.loads(body)["message"]
        assert message["call"]["id"] == call["call_id"]
        assert message["phoneNumber"] == {"id": "pn-1", "number": "+14155550100"}
        assert message["customer"] == {"number": "+14155550123"}
    tool_call = json.loads(p.got[1][2])["message"]["toolCallList"][0]
    assert tool_call["function"] == {
        "name": "search_knowledge",
        "arguments": {"query": "open on sunday?"},
    }
    assert json.loads(p.got[2][2])["message"]["call"]["assistantId"] == "asst-1"
    kept = sim.http.get("/_sim/voice-agents").json()["vapi"]
    assert [c["exchanges"] for c in kept if c["id"] == call["call_id"]] == [call["exchanges"]]


@pytest.mark.parametrize(
    ("mode", "header", "value"),
    [("bearer", "authorization", "Bearer vs"), ("secret_header", "x-vapi-secret", "vs")],
)
def test_vapi_auth_modes(sim, platform, mode: str, header: str, value: str) -> None:
    p, url = platform
    sim.configure(vapi={"webhook_url": url + "/vapi", "secret": "vs", "auth_mode": mode})
    assert sim.http.post("/_sim/voice-live/vapi", json={}).status_code == 200
    [(_, headers, _)] = p.got  # no questions: the assistant request only
    assert headers[header] == value


def test_a_late_answer_is_recorded_as_not_in_time(sim, platform) -> None:
    p, url = platform
    p.slow_s = 1.0
    sim.configure(vapi={"webhook_url": url + "/vapi", "assistant_timeout_s": 0.2})
    call = sim.http.post("/_sim/voice-live/vapi", json={"questions": ["x"]}).json()
    [late] = call["exchanges"]  # nothing answered: no tool call follows
    assert late["status"] is None and late["in_time"] is False
    assert "Timeout" in late["error"]


def test_a_live_elevenlabs_call_initiates_then_calls_tools_with_the_bearer(sim, platform) -> None:
    p, url = platform
    sim.configure(elevenlabs={"webhook_url": url + "/el", "tool_secret": "ts"})
    call = sim.http.post(
        "/_sim/voice-live/elevenlabs",
        json={"agent_id": "agent_1", "called_number": "+14155550100", "questions": ["menu?"]},
    ).json()
    assert [x["request"] for x in call["exchanges"]] == [
        "elevenlabs.initiation",
        "elevenlabs.server_tool",
    ]
    assert call["exchanges"][1]["answer"] == {"result": "answered menu?"}
    (init_path, init_headers, init_body), (tool_path, _, tool_body) = p.got
    assert (init_path.strip("/"), tool_path.strip("/")) == (
        "el/initiation",
        "el/tools/search_knowledge",
    )
    assert init_headers["authorization"] == "Bearer ts"
    initiation = json.loads(init_body)
    assert initiation["agent_id"] == "agent_1" and initiation["call_sid"] == call["call_sid"]
    tool = json.loads(tool_body)
    assert tool["conversation_id"] == call["conversation_id"] and tool["query"] == "menu?"


def test_without_a_webhook_url_nothing_is_sent(sim) -> None:
    assert "not configured" in sim.http.post("/_sim/voice-live/vapi", json={}).json()["error"]
