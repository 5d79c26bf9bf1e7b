"""The real OpenAI SDK, WhatsApp (httpx) and Twilio (SDK) adapters against the provider simulator.

The simulator runs as its own process (``python -m switchboard.providersim serve``) on a
free port.
"""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from switchboard.ai.admin import AdminService
from switchboard.ai.app import Overrides, open_runtime
from switchboard.ai.breaker import BreakerState
from switchboard.ai.errors import SendRejected
from switchboard.ai.settings import OpenAISettings, ProviderSettings
from switchboard.ai.testing import FakeClock, FakePublisher, fixed_now
from switchboard.common.testing import ServiceProcess, free_port

pytestmark = pytest.mark.integration
ACCOUNT = "AC" + "0" * 32


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    sim = ServiceProcess(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {"SWITCHBOARD_SIM__PORT": str(port), "SWITCHBOARD_LOG__LEVEL": "WARNING"},
        port,
        tmp_path_factory.mktemp("sim"),
    )
    try:
        sim.wait_ready("/health")
        yield sim.url
    finally:
        sim.stop()


@pytest.fixture
async def sim(sim_url: str, build) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim_url) as client:
        config = {
            "whatsapp": {"phone_numbers": {build.wa_id: "wa-secret-token"}},
            "twilio_accounts": {ACCOUNT: {"auth_token": "tw-secret-token"}},
            "openai": {"latency_ms": 0, "error_rate": 0},
        }
        assert (await client.post("/_sim/reset", json=config)).status_code == 200
        yield client


@pytest.fixture
async def live(ai_settings, db, sim_url, sim):
    """A runtime whose model, embedder and senders are the real adapters, aimed at the simulator."""
    settings = ai_settings.model_copy(
        update={
            "openai": OpenAISettings(
                base_url=f"{sim_url}/v1", api_key="sk-sim", timeout_s=5, max_retries=0
            ),
            "providers": ProviderSettings(
                whatsapp_graph_base=sim_url, twilio_base_url=sim_url, timeout_s=5
            ),
        }
    )
    clock = FakeClock()
    publisher = FakePublisher()
    overrides = Overrides(publisher=publisher, clock=clock, now=fixed_now)
    async with open_runtime(settings, overrides=overrides) as rt:
        yield Live(rt, clock, publisher.published)


class Live:
    """The runtime plus the clock and the published events."""

    def __init__(self, rt, clock, published) -> None:
        self.rt = rt
        self.clock = clock
        self.published = published

    def __getattr__(self, name: str):
        return getattr(self.rt, name)


async def sim_messages(sim: httpx.AsyncClient) -> dict:
    return (await sim.get("/_sim/messages")).json()


async def openai_requests(sim: httpx.AsyncClient, endpoint: str) -> list[dict]:
    rows = (await sim.get("/_sim/openai/requests")).json()
    return [r for r in rows if r["endpoint"] == endpoint]


async def test_whatsapp_conversation_with_memory(live, sim, build, cipher) -> None:
    await live.businesses.create(build.business(cipher))
    assert await live.handle(build.inbound("m1", text="My name is Ada", seq=0)) == "replied"
    assert await live.handle(build.inbound("m2", text="What is my name?", seq=1)) == "replied"
    assert await live.handle(build.inbound("m2", text="What is my name?", seq=1)) == "duplicate"
    replies = (await sim_messages(sim))["whatsapp_replies"]
    assert [r["to"] for r in replies] == ["15551230001", "15551230001"]
    assert replies[0]["phone_number_id"] == build.wa_id
    [_, second] = await openai_requests(sim, "chat.completions")
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][1]["content"] == "My name is Ada"
    assert second["messages"][2]["content"] == replies[0]["text"]["body"]
    [_, (event, _)] = live.published
    assert event.data.message_id == replies[1]["id"]
    assert event.data.prompt_tokens > 0 and event.data.completion_tokens > 0
    assert event.data.cost_usd > 0


async def test_sms_reply_through_the_twilio_sdk(live, sim, build, cipher) -> None:
    await live.businesses.create(build.business(cipher, twilio_account_sid=ACCOUNT))
    event = build.inbound("SM1", channel_id=build.sms_number, contact="+15551230002")
    assert await live.handle(event) == "replied"
    [sms] = (await sim_messages(sim))["twilio_sms"]
    assert (sms["to"], sms["from"]) == ("+15551230002", build.sms_number)
    [(out, _)] = live.published
    assert out.data.message_id == sms["sid"]


async def test_wrong_whatsapp_token_is_rejected_not_retried(live, sim, build, cipher) -> None:
    await sim.patch("/_sim/config", json={"whatsapp": {"phone_numbers": {build.wa_id: "other"}}})
    await live.businesses.create(build.business(cipher))
    with pytest.raises(SendRejected):
        await live.handle(build.inbound())
    assert (await sim_messages(sim))["whatsapp_replies"] == []


async def test_model_errors_fallback_and_breaker(live, sim, build, cipher) -> None:
    await live.businesses.create(build.business(cipher))
    await sim.patch("/_sim/config", json={"openai": {"error_rate": 1.0}})
    outcomes = [await live.handle(build.inbound(f"e{i}")) for i in range(3)]
    assert outcomes == ["fallback"] * 3
    assert live.pipeline.breaker.state is BreakerState.OPEN
    assert len(await openai_requests(sim, "chat.completions")) == 2  # third refused by breaker
    bodies = [r["text"]["body"] for r in (await sim_messages(sim))["whatsapp_replies"]]
    assert bodies == ["We will get back to you soon."] * 3
    await sim.patch("/_sim/config", json={"openai": {"error_rate": 0.0}})
    live.clock.advance(31)
    assert await live.handle(build.inbound("e9")) == "replied"
    assert live.pipeline.breaker.state is BreakerState.CLOSED


async def test_knowledge_embedded_by_the_simulator_lands_in_the_prompt(
    live, sim, build, cipher
) -> None:
    from switchboard.ai.adapters.mongo_replies import MongoUsage

    business = build.business(cipher)
    await live.businesses.create(business)
    admin = AdminService(live.businesses, live.knowledge, MongoUsage(live.db), cipher, "gpt-test")
    hours = "We open at seven in the morning.\n\nOn Sundays the bakery is closed all day."
    cakes = "Birthday cakes need three days notice.\n\nWedding cakes are made to order."
    await admin.put_document("acme", business.id, "hours", "Opening hours", hours)
    await admin.put_document("acme", business.id, "cakes", "Cakes", cakes)
    embedded = await live.job.run_once()
    assert embedded == len(await live.knowledge.chunks(business.id)) >= 2
    assert await live.handle(build.inbound(text="Is the bakery closed on Sundays?")) == "replied"
    [chat] = await openai_requests(sim, "chat.completions")
    system = chat["messages"][0]["content"]
    first_cited = system.split("\n\n[", 1)[1]
    assert first_cited.startswith("Opening hours]"), system
    assert "On Sundays the bakery is closed all day." in system


async def test_reasoning_model_business_is_answered_not_fallback(live, sim, build, cipher) -> None:
    """The simulator refuses ``max_tokens``/``temperature`` for o4-mini as OpenAI does; the
    business must get the model's answer, not its fallback."""
    await live.businesses.create(build.business(cipher, model="o4-mini"))
    assert await live.handle(build.inbound()) == "replied"
    [chat] = await openai_requests(sim, "chat.completions")
    assert "max_tokens" not in chat and "temperature" not in chat
    assert chat["max_completion_tokens"] > 300
    [reply] = (await sim_messages(sim))["whatsapp_replies"]
    assert reply["text"]["body"] != "We will get back to you soon."
