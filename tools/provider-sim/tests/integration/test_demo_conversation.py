"""The demo's WhatsApp conversation end to end: the real AI admin API and worker (FerretDB,
Redis), the real ingress and Kafka; the simulator plays the customer, WhatsApp and OpenAI."""

import asyncio
import base64
import io
import json
import os
import secrets
from collections.abc import Iterator

import httpx
import pytest
from pymongo import MongoClient
from rich.console import Console

from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.settings import CommonSettings
from switchboard.common.testing import (
    ServiceProcess,
    config_env,
    free_port,
    fresh_group,
    unique,
)
from switchboard.common.topics import MESSAGE_INBOUND
from switchboard.providersim.demo_conversation import (
    TURNS,
    ConversationDemo,
    conversation_table,
    run_conversation,
)
from switchboard.providersim.tokens import SignerTokens

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SIGNER = LocalSigner()


@pytest.fixture(scope="module")
def ai_api(stack, tmp_path_factory) -> Iterator[ServiceProcess]:
    logdir = tmp_path_factory.mktemp("ai-demo-logs")
    database = unique("ai_demo")
    worker_port, api_port = free_port(), free_port()
    env = {
        "SWITCHBOARD_MONGO__DATABASE": database,
        **SIGNER.env(),
        "SWITCHBOARD_CRYPTO__KEYS": json.dumps({"k1": base64.b64encode(os.urandom(32)).decode()}),
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "k1",
        "SWITCHBOARD_OPENAI__BASE_URL": f"{stack.sim.url}/v1",
        "SWITCHBOARD_OPENAI__API_KEY": "sk-sim",
        "SWITCHBOARD_PROVIDERS__WHATSAPP_GRAPH_BASE": stack.sim.url,
        "SWITCHBOARD_PROVIDERS__TWILIO_BASE_URL": stack.sim.url,
        "SWITCHBOARD_KNOWLEDGE__POLL_INTERVAL_S": "0.5",
        # The stack's control plane: who owns the numbers, the models offered.
        **config_env(stack.config),
        "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
            fresh_group(CommonSettings().kafka, "ai-demo", (MESSAGE_INBOUND,))
        ),
    }
    services = [
        ServiceProcess(
            "ai",
            ["switchboard.ai", "worker"],
            {**env, "SWITCHBOARD_HTTP__WORKER_PORT": str(worker_port)},
            worker_port,
            logdir,
        ),
        ServiceProcess(
            "ai-api",
            ["switchboard.ai", "api"],
            {**env, "SWITCHBOARD_HTTP__API_PORT": str(api_port)},
            api_port,
            logdir,
        ),
    ]
    try:
        for service in services:
            service.wait_ready()
        yield services[1]
    finally:
        for service in services:
            service.stop()
        with MongoClient(CommonSettings().mongo.url.get_secret_value()) as client:
            client.drop_database(database)


async def test_the_demo_conversation_is_answered_with_memory_and_knowledge(stack, ai_api) -> None:
    demo = ConversationDemo(
        ai_api.url, SignerTokens(SIGNER, stack.tenant), bind_number=stack.bind_whatsapp
    )
    out = io.StringIO()
    console = Console(file=out, width=120)
    async with httpx.AsyncClient(base_url=stack.sim.url, timeout=30) as sim:
        webhook = {"whatsapp": {"webhook_url": f"{stack.ingress.url}/webhooks/whatsapp"}}
        (await sim.patch("/_sim/config", json=webhook)).raise_for_status()
        result = await run_conversation(demo, sim, console)
    console.print(conversation_table(result))
    report = out.getvalue()
    assert [q for q, _ in result.turns] == list(TURNS), report
    assert all(reply for _, reply in result.turns), report
    assert [m["role"] for m in result.last_prompt] == ["system", "user", "assistant", "user"]
    assert result.remembered and result.cited, report
    assert result.ok


async def _wait_for(check, timeout_s: float = 90.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "waited too long"
        await asyncio.sleep(0.3)


async def test_non_text_messages_through_the_whole_stack(stack, ai_api) -> None:
    """Simulator (signed webhook) → ingress → Kafka → AI worker → simulator: a location and a
    chosen button are described to the model and answered, with read receipts; a reaction is
    not answered."""
    number, token = f"10{secrets.randbelow(10**13):013d}", secrets.token_urlsafe(16)
    customer = "15557770001"
    headers = SIGNER.bearer(stack.tenant, Audience.AI)
    async with (
        httpx.AsyncClient(base_url=stack.sim.url, timeout=30) as sim,
        httpx.AsyncClient(base_url=ai_api.url, headers=headers, timeout=30) as api,
    ):
        config = {
            "whatsapp": {
                "webhook_url": f"{stack.ingress.url}/webhooks/whatsapp",
                "phone_numbers": {number: token},
            }
        }
        (await sim.patch("/_sim/config", json=config)).raise_for_status()
        await stack.bind_whatsapp(number)  # else the ingress gives its messages to no tenant
        body = {
            "name": "Types Bistro",
            "whatsapp_phone_number_ids": [number],
            "whatsapp_access_token": token,
            "read_receipts": True,
        }

        async def create() -> httpx.Response | None:
            # 422 "not bound" until the binding reached the AI service's follower too.
            answer = await api.post("/v1/businesses", json=body)
            return None if answer.status_code == 422 and "not bound" in answer.text else answer

        created = await _wait_for(create)
        created.raise_for_status()
        sent = await sim.post(
            "/_sim/whatsapp/inbound",
            json={
                "wa_id": customer,
                "phone_number_id": number,
                "messages": [
                    {
                        "type": "location",
                        "location": {
                            "latitude": 52.52,
                            "longitude": 13.405,
                            "name": "Alexanderplatz",
                        },
                    },
                    {
                        "type": "interactive",
                        "interactive": {
                            "type": "button_reply",
                            "button_reply": {"id": "book", "title": "Book a table"},
                        },
                    },
                    {"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "👍"}},
                ],
            },
        )
        sent.raise_for_status()
        location_id, button_id, _ = sent.json()["ids"]

        async def two_replies():
            replies = (await sim.get("/_sim/messages")).json()["whatsapp_replies"]
            mine = [r for r in replies if r["phone_number_id"] == number and r["to"] == customer]
            return mine if len(mine) >= 2 else None

        await _wait_for(two_replies)
        requests = (await sim.get("/_sim/openai/requests")).json()
        questions = [
            r["messages"][-1]["content"]
            for r in requests
            if r["endpoint"] == "chat.completions"
            and any(
                "Alexanderplatz" in str(m) or "Book a table" in str(m) for m in r["messages"][-1:]
            )
        ]
        assert "[location: Alexanderplatz (52.52, 13.405)]" in questions
        assert '[chose: "Book a table"]' in questions
        reads = (await sim.get("/_sim/messages")).json()["whatsapp_reads"]
        assert {location_id, button_id} <= {r["message_id"] for r in reads}
        await asyncio.sleep(2)  # the reaction, handled in order after the others, stays unanswered
        assert len(await two_replies()) == 2
