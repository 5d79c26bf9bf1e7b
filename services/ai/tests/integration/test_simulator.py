"""The real OpenAI SDK, WhatsApp (httpx) and Twilio (SDK) adapters against the provider simulator.

The simulator runs as its own process (``python -m switchboard.providersim serve``) on a
free port.
"""

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest

from switchboard.ai.admin import AdminService
from switchboard.ai.app import Overrides, open_runtime
from switchboard.ai.breaker import BreakerState
from switchboard.ai.errors import SendFailed, SendNotAuthorized, SendRejected
from switchboard.ai.models import Template
from switchboard.ai.settings import OpenAISettings, ProviderSettings
from switchboard.common.events import MessageContent, MessageLocation, MessageMedia
from switchboard.common.testing import ServiceProcess, free_port

from ..fakes import FakeClock, FakePublisher, fixed_now
from .conftest import acme_config

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
        await customer_writes(client, build.wa_id, "15551230001")  # opens the 24-hour window
        yield client


async def customer_writes(sim: httpx.AsyncClient, phone_number_id: str, wa_id: str) -> None:
    answer = await sim.post(
        "/_sim/whatsapp/inbound",
        json={
            "wa_id": wa_id,
            "phone_number_id": phone_number_id,
            "messages": [{"type": "text", "text": {"body": "hi"}}],
        },
    )
    assert answer.status_code == 202, answer.text


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
    overrides = Overrides(publisher=publisher, config=acme_config(), clock=clock, now=fixed_now)
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
    admin = AdminService(
        live.businesses, live.knowledge, MongoUsage(live.db), cipher, "gpt-test", config=live.config
    )
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
    live.config.offer("o4-mini")
    live.config.plan("acme", ("gpt-test", "o4-mini"))
    await live.businesses.create(build.business(cipher, model="o4-mini"))
    assert await live.handle(build.inbound()) == "replied"
    [chat] = await openai_requests(sim, "chat.completions")
    assert "max_tokens" not in chat and "temperature" not in chat
    assert chat["max_completion_tokens"] > 300
    [reply] = (await sim_messages(sim))["whatsapp_replies"]
    assert reply["text"]["body"] != "We will get back to you soon."


async def test_a_location_reaches_the_model_in_words(live, sim, build, cipher) -> None:
    await live.businesses.create(build.business(cipher))
    place = MessageLocation(latitude=52.52, longitude=13.405, name="Alexanderplatz")
    event = build.inbound(
        text=None, message_type="location", content=MessageContent(location=place)
    )
    assert await live.handle(event) == "replied"
    [chat] = await openai_requests(sim, "chat.completions")
    assert chat["messages"][-1] == {
        "role": "user",
        "content": "[location: Alexanderplatz (52.52, 13.405)]",
    }


async def test_outside_the_window_the_simulator_gets_the_template(live, sim, build, cipher) -> None:
    template = Template("order_followup", "en_US", ("{contact_name}",))
    await live.businesses.create(build.business(cipher, whatsapp_template=template))
    late = build.inbound(received_at=fixed_now() - timedelta(hours=25), contact_name="Ada")
    assert await live.handle(late) == "template"
    assert await openai_requests(sim, "chat.completions") == []
    [sent] = (await sim_messages(sim))["whatsapp_replies"]
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "order_followup"
    assert sent["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Ada"}]


async def test_meta_refusing_free_text_with_131047_gets_the_template(
    live, sim, build, cipher
) -> None:
    """Our clock says the window is open, the simulator (Meta) says the customer never wrote."""
    template = Template("order_followup", "en_US")
    await live.businesses.create(build.business(cipher, whatsapp_template=template))
    assert await live.handle(build.inbound(contact="15559990000")) == "template"
    messages = await sim_messages(sim)
    assert [r["code"] for r in messages["whatsapp_rejected"]] == [131047]
    [sent] = messages["whatsapp_replies"]
    assert sent["type"] == "template"
    [(event, _)] = live.published
    assert event.data.template == "order_followup"


async def test_without_a_template_131047_is_skipped(live, sim, build, cipher) -> None:
    await live.businesses.create(build.business(cipher))
    assert await live.handle(build.inbound(contact="15559990000")) == "skipped_window_closed"
    assert await live.handle(build.inbound(contact="15559990000")) == "duplicate"
    assert (await sim_messages(sim))["whatsapp_replies"] == []


async def test_read_receipt_reaches_the_simulator(live, sim, build, cipher) -> None:
    await live.businesses.create(build.business(cipher, read_receipts=True))
    assert await live.handle(build.inbound("wamid.read-me")) == "replied"
    reads = (await sim_messages(sim))["whatsapp_reads"]
    assert [(r["message_id"], r["status"]) for r in reads] == [("wamid.read-me", "read")]


async def test_media_is_fetched_from_the_graph_api_for_the_model(live, sim, build, cipher) -> None:
    png = b"\x89PNG\r\n simulated"
    created = await sim.post(
        "/_sim/whatsapp/media",
        json={"mime_type": "image/png", "data_base64": base64.b64encode(png).decode()},
    )
    media_id = created.json()["id"]
    await live.businesses.create(build.business(cipher, fetch_media=True))
    event = build.inbound(
        text="is this yours?",
        message_type="image",
        content=MessageContent(caption="is this yours?"),
        media=[MessageMedia(media_id=media_id, content_type="image/png")],
    )
    assert await live.handle(event) == "replied"
    [chat] = await openai_requests(sim, "chat.completions")
    text, image = chat["messages"][-1]["content"]
    assert text == {"type": "text", "text": '[image: caption "is this yours?"]'}
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(131026, "skipped_recipient_unavailable"), (131009, "skipped_invalid_parameter")],
)
async def test_graph_errors_that_skip(live, sim, build, cipher, code, outcome) -> None:
    await live.businesses.create(build.business(cipher))
    await sim.post("/_sim/whatsapp/errors", json={"codes": [code]})
    assert await live.handle(build.inbound()) == outcome
    assert await live.handle(build.inbound()) == "duplicate"


@pytest.mark.parametrize(("code", "error"), [(130429, SendFailed), (190, SendNotAuthorized)])
async def test_graph_errors_that_retry_or_alert(live, sim, build, cipher, code, error) -> None:
    await live.businesses.create(build.business(cipher))
    await sim.post("/_sim/whatsapp/errors", json={"codes": [code]})
    with pytest.raises(error):
        await live.handle(build.inbound())
    assert await live.handle(build.inbound()) == "replied"  # the retry / the replay after a fix
