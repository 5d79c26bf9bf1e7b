"""Live voice calls end to end on real processes: the simulator plays Vapi and ElevenLabs (and
OpenAI's embeddings); the real ingress verifies each synchronous request and asks the real AI
voice API (FerretDB, Redis), both following a control.config topic of the test's own (the
ingress: the Vapi and ElevenLabs accounts that verify the requests, and the channels' tenant;
the voice API: which tenant owns each channel), which answers from the business's embedded
knowledge document. A frozen voice API (SIGSTOP) gets the caller the configured fallback
within Vapi's deadline."""

import asyncio
import base64
import io
import json
import os
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pymongo import MongoClient
from rich.console import Console

from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.config import (
    Channel,
    ConfigEntity,
    ConfigSettings,
    ElevenLabsAccount,
    ModelPrice,
    Tenant,
    VapiAccount,
)
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import (
    ConfigPublisher,
    ServiceProcess,
    config_env,
    config_settings,
    eventually,
    free_port,
    fresh_group,
    unique,
)
from switchboard.common.topics import MESSAGE_INBOUND
from switchboard.providersim import demo_voice
from switchboard.providersim.tokens import SignerTokens

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SIGNER = LocalSigner()
INTERNAL = "voice-live-internal-secret-0123456789"
VAPI_SECRET = "voice-live-vapi-secret"
TOOL_SECRET = "voice-live-tool-secret"
EL_WEBHOOK_SECRET = "voice-live-elevenlabs-webhook-secret"
VAPI_ORG, EL_WORKSPACE = "org", "el"
FALLBACK = "+14155550199"
DOCUMENT = {
    "title": "Opening hours",
    "content": (
        "# Opening hours\n\nVoice Bistro is open Tuesday to Sunday from 12:00 to 22:00 and "
        "closed on Mondays.\n\n# Parking\n\nThere is free parking behind the restaurant."
    ),
}


@dataclass
class VoiceStack:
    sim: str
    ingress: str
    ai_api: str
    voice: ServiceProcess
    config: ConfigSettings
    tenant: str


@pytest.fixture(scope="module")
def voice_stack(stack, tmp_path_factory, common_settings) -> Iterator[VoiceStack]:
    kafka = common_settings.kafka
    logdir = tmp_path_factory.mktemp("voice-live-logs")
    database = unique("ai_voice_live")
    config = config_settings(unique("config_voice_live"))
    tenant = f"voice-live-{secrets.token_hex(3)}"
    worker_port, api_port, voice_port, ingress_port = (free_port() for _ in range(4))
    # The accounts the ingress verifies the platforms' requests with, on the topic before
    # the services follow it, as the control plane's are.
    asyncio.run(
        _publish(
            kafka,
            config,
            Tenant(id=tenant, name="Voice Bistro Ltd"),
            # The operator offers the platform's default model (the businesses' model).
            ModelPrice(
                id="gpt-4o-mini",
                input_per_1k_usd=Decimal("0.00015"),
                output_per_1k_usd=Decimal("0.0006"),
            ),
            VapiAccount(
                id=VAPI_ORG,
                tenants=(tenant,),
                auth_mode="hmac",
                webhook_secrets=(SecretStr(VAPI_SECRET),),
            ),
            ElevenLabsAccount(
                id=EL_WORKSPACE,
                tenants=(tenant,),
                webhook_secrets=(SecretStr(EL_WEBHOOK_SECRET),),
                tool_secrets=(SecretStr(TOOL_SECRET),),
            ),
        )
    )
    ai_env = {
        "SWITCHBOARD_MONGO__DATABASE": database,
        **SIGNER.env(),
        "SWITCHBOARD_CRYPTO__KEYS": json.dumps({"k1": base64.b64encode(os.urandom(32)).decode()}),
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "k1",
        "SWITCHBOARD_OPENAI__BASE_URL": f"{stack.sim.url}/v1",
        "SWITCHBOARD_OPENAI__API_KEY": "sk-sim",
        "SWITCHBOARD_KNOWLEDGE__POLL_INTERVAL_S": "0.5",
        **config_env(config),
        "SWITCHBOARD_VOICE__INTERNAL_SECRETS": json.dumps([INTERNAL]),
        "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
            fresh_group(kafka, "ai-voice-live", (MESSAGE_INBOUND,))
        ),
    }
    ingress_env = {
        "SWITCHBOARD_HTTP__PORT": str(ingress_port),
        "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
        "SWITCHBOARD_SPOOL__DIRECTORY": str(logdir / "spool"),
        **config_env(config),
        "SWITCHBOARD_VOICE__AI_URL": f"http://127.0.0.1:{voice_port}",
        "SWITCHBOARD_VOICE__INTERNAL_SECRET": INTERNAL,
        # Generous for a shared machine, and still far inside Vapi's 7.5 s.
        "SWITCHBOARD_VOICE__ASSISTANT_DEADLINE_S": "3.0",
        "SWITCHBOARD_VOICE__SERVER_MESSAGE_DEADLINE_S": "5.0",
        "SWITCHBOARD_VOICE__FALLBACK_TRANSFER_NUMBER": FALLBACK,
    }
    services = [
        ServiceProcess(
            "ai-worker",
            ["switchboard.ai", "worker"],
            {**ai_env, "SWITCHBOARD_HTTP__WORKER_PORT": str(worker_port)},
            worker_port,
            logdir,
        ),
        ServiceProcess(
            "ai-api",
            ["switchboard.ai", "api"],
            {**ai_env, "SWITCHBOARD_HTTP__API_PORT": str(api_port)},
            api_port,
            logdir,
        ),
        ServiceProcess(
            "ai-voice",
            ["switchboard.ai", "voice"],
            {**ai_env, "SWITCHBOARD_HTTP__VOICE_PORT": str(voice_port)},
            voice_port,
            logdir,
        ),
        ServiceProcess(
            "ingress-voice", ["switchboard.ingress", "serve"], ingress_env, ingress_port, logdir
        ),
    ]
    try:
        for service in services:
            service.wait_ready()
        yield VoiceStack(
            stack.sim.url, services[3].url, services[1].url, services[2], config, tenant
        )
    finally:
        for service in services:
            if service.proc.poll() is None:
                service.proc.send_signal(signal.SIGCONT)
            service.stop()
        with MongoClient(common_settings.mongo.url.get_secret_value()) as client:
            client.drop_database(database)


async def _publish(kafka: KafkaSettings, config: ConfigSettings, *entities: ConfigEntity) -> None:
    async with ConfigPublisher(kafka, config) as publisher:
        await publisher.put(*entities)


@dataclass
class Bistro:
    phone_id: str
    number: str
    agent: str


@pytest.fixture(scope="module")
async def bistro(voice_stack: VoiceStack, kafka_settings: KafkaSettings) -> AsyncIterator[Bistro]:
    """A business that owns a Vapi phone number and an ElevenLabs agent, with an embedded
    opening-hours document, and the control plane binding both channels to its tenant."""
    b = Bistro(
        phone_id=f"pn-{secrets.token_hex(6)}",
        number=f"+1555{secrets.randbelow(10**7):07d}",
        agent=f"agent_{secrets.token_hex(6)}",
    )
    # The control plane binds both channels to the tenant first: the admin API takes only
    # channels its tenant owns (422 until the binding reached it).
    await _publish(
        kafka_settings,
        voice_stack.config,
        Channel(kind="vapi-phone", id=b.phone_id, tenant=voice_stack.tenant, account_id=VAPI_ORG),
        Channel(
            kind="elevenlabs-agent", id=b.agent, tenant=voice_stack.tenant, account_id=EL_WORKSPACE
        ),
    )
    headers = SIGNER.bearer(voice_stack.tenant, Audience.AI)
    body = {
        "name": "Voice Bistro",
        "voice": {
            "channels": [f"vapi-phone/{b.phone_id}", f"elevenlabs-agent/{b.agent}"],
            "time_zone": "Europe/Paris",
            "hours": {"sun": ["12:00-22:00"]},
            "vapi_assistant_id": "asst-voice-bistro",
            "transfer_number": "+33100000009",
            "tools": [{"name": "search_knowledge", "kind": "search_knowledge"}],
        },
    }
    async with httpx.AsyncClient(base_url=voice_stack.ai_api, headers=headers, timeout=30) as api:
        answers: list[httpx.Response] = []

        async def accepted() -> bool:
            answers.append(await api.post("/v1/businesses", json=body))
            return answers[-1].status_code != 422 or "not bound" not in answers[-1].text

        await eventually(accepted, timeout_s=60)
        created = answers[-1]
        assert created.status_code == 201, created.text
        business = created.json()["id"]
        put = await api.put(f"/v1/businesses/{business}/documents/hours", json=DOCUMENT)
        assert put.status_code == 202, put.text

        async def embedded() -> bool:
            docs = (await api.get(f"/v1/businesses/{business}/documents")).json()
            return bool(docs) and all(d["status"] == "ready" for d in docs)

        await eventually(embedded, timeout_s=120)
    async with httpx.AsyncClient(base_url=voice_stack.sim, timeout=30) as sim:
        config_patch = {
            "vapi": {
                "webhook_url": f"{voice_stack.ingress}/webhooks/vapi",
                "secret": VAPI_SECRET,
                "auth_mode": "hmac",
            },
            "elevenlabs": {
                "webhook_url": f"{voice_stack.ingress}/webhooks/elevenlabs",
                "tool_secret": TOOL_SECRET,
            },
        }
        (await sim.patch("/_sim/config", json=config_patch)).raise_for_status()
    yield b


async def live_call(sim_url: str, provider: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim_url, timeout=60) as sim:
        answer = await sim.post(f"/_sim/voice-live/{provider}", json=body)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


def vapi_body(b: Bistro, **extra: Any) -> dict[str, Any]:
    return {"phone_number_id": b.phone_id, "number": b.number, "caller": "+15557770001", **extra}


async def test_a_vapi_caller_hears_the_restaurants_sunday_hours(voice_stack, bistro) -> None:
    async def owned() -> dict[str, Any] | None:
        call = await live_call(voice_stack.sim, "vapi", vapi_body(bistro))
        first = call["exchanges"][0]["answer"]
        return call if isinstance(first, dict) and "assistantId" in first else None

    await eventually(owned, timeout_s=60)  # the voice API follows the control plane
    call = await live_call(
        voice_stack.sim,
        "vapi",
        vapi_body(bistro, questions=["Are you open on Sunday?"], transfer=True),
    )
    assistant, tools, transfer = call["exchanges"]
    assert all(x["status"] == 200 and x["in_time"] for x in call["exchanges"]), call
    assert assistant["request"] == "vapi.assistant-request"
    assert assistant["answer"]["assistantId"] == "asst-voice-bistro"
    variables = assistant["answer"]["assistantOverrides"]["variableValues"]
    assert variables["business_name"] == "Voice Bistro"
    assert variables["caller_number"] == "+15557770001"
    [result] = tools["answer"]["results"]
    assert result["toolCallId"].startswith("call_")
    assert "Tuesday to Sunday from 12:00 to 22:00" in result["result"]
    assert transfer["answer"]["destination"]["number"] == "+33100000009"


async def test_an_elevenlabs_call_is_personalised_and_its_tool_answered(
    voice_stack, bistro
) -> None:
    body = {"agent_id": bistro.agent, "called_number": bistro.number, "caller": "+15557770002"}

    async def owned() -> bool:
        call = await live_call(voice_stack.sim, "elevenlabs", body)
        variables = call["exchanges"][0]["answer"].get("dynamic_variables", {})
        return variables.get("business_name") == "Voice Bistro"

    await eventually(owned, timeout_s=60)
    call = await live_call(
        voice_stack.sim, "elevenlabs", {**body, "questions": ["Is there parking?"]}
    )
    initiation, tool = call["exchanges"]
    assert all(x["status"] == 200 and x["in_time"] for x in call["exchanges"]), call
    assert initiation["answer"]["type"] == "conversation_initiation_client_data"
    assert initiation["answer"]["dynamic_variables"]["caller_number"] == "+15557770002"
    assert "free parking" in tool["answer"]["result"]


async def test_a_number_nobody_owns_gets_the_default(voice_stack, bistro) -> None:
    call = await live_call(
        voice_stack.sim, "vapi", {"phone_number_id": "pn-nobody", "number": "+15550001111"}
    )
    [assistant] = call["exchanges"]
    assert assistant["status"] == 200 and assistant["in_time"], call
    # No unowned assistant configured: the fallback transfer.
    assert assistant["answer"]["destination"]["number"] == FALLBACK


async def test_make_demos_voice_scene_hears_the_restaurants_sunday_hours(
    voice_stack, bistro, kafka_settings
) -> None:
    """`make demo`'s scene on this module's processes: its number and assistant bound by the
    control plane (here the test's topic, as the bootstrap file does), the restaurant and its
    document through the admin API, the call signed as the Vapi account says (HMAC here)."""
    await _publish(
        kafka_settings,
        voice_stack.config,
        *(
            Channel(kind=kind, id=id_, tenant=voice_stack.tenant, account_id=VAPI_ORG)
            for kind, id_ in (
                ("vapi-phone", demo_voice.PHONE_NUMBER_ID),
                ("vapi-assistant", demo_voice.ASSISTANT_ID),
            )
        ),
    )
    demo = demo_voice.VoiceDemo(
        voice_stack.ai_api,
        SignerTokens(SIGNER, voice_stack.tenant),
        voice_stack.ingress,
        vapi_secret=VAPI_SECRET,
        auth_mode="hmac",
    )
    out = io.StringIO()
    console = Console(file=out, width=120)
    async with httpx.AsyncClient(base_url=voice_stack.sim, timeout=30) as sim:
        result = await demo_voice.run_voice(demo, sim, console)
        again = await demo_voice.run_voice(demo, sim, console)  # a second run reuses it
    console.print(demo_voice.voice_table(result))
    assert result.ok and again.ok, out.getvalue()
    assert "open on Sunday from 12:00 to 16:00" in out.getvalue()


async def test_a_frozen_voice_api_gets_the_fallback_within_vapis_deadline(
    voice_stack, bistro
) -> None:
    # Last in the module: the voice API is frozen (its socket accepts, nothing answers).
    await eventually(
        lambda: _owned_once(voice_stack, bistro), timeout_s=60
    )  # warm: the answer comes from the business before the freeze
    voice_stack.voice.proc.send_signal(signal.SIGSTOP)
    try:
        call = await live_call(
            voice_stack.sim, "vapi", vapi_body(bistro, questions=["Open on Sunday?"])
        )
    finally:
        voice_stack.voice.proc.send_signal(signal.SIGCONT)
    [assistant] = call["exchanges"]  # no assistant answered: no tool calls follow
    assert assistant["status"] == 200, call
    assert assistant["in_time"], call  # within Vapi's 7.5 s
    assert assistant["elapsed_ms"] >= 2900  # it waited the ingress's deadline (3 s)
    assert assistant["answer"]["destination"]["number"] == FALLBACK


async def _owned_once(voice_stack: VoiceStack, bistro: Bistro) -> bool:
    call = await live_call(voice_stack.sim, "vapi", vapi_body(bistro))
    return "assistantId" in call["exchanges"][0]["answer"]
