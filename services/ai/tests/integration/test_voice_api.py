"""The internal voice API on the real FerretDB, Redis and Kafka: ownership followed live from
a ``control.config`` topic of the test's own, knowledge searched from an embedded document,
the tenant's HTTP tool called, the internal secret required."""

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from pydantic import SecretStr

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_knowledge import MongoKnowledge
from switchboard.ai.adapters.mongo_replies import MongoUsage
from switchboard.ai.admin import AdminService
from switchboard.ai.app import create_cipher
from switchboard.ai.knowledge import EmbeddingJob
from switchboard.ai.schemas import BusinessCreate
from switchboard.ai.settings import AiSettings, VoiceSettings
from switchboard.ai.voice_app import VoiceOverrides, create_voice_api
from switchboard.common.config import Channel, ConfigSettings, Tenant
from switchboard.common.config.writer import ConfigWriter
from switchboard.common.testing import eventually, unique
from switchboard.common.voice import ASSISTANT_PATH, DEADLINE_HEADER, TOOLS_PATH, TRANSFER_PATH

from ..fakes import FakeEmbedder
from .conftest import acme_config

pytestmark = pytest.mark.integration
SECRET = "internal-voice-secret-0123456789"
AUTH = {"authorization": f"Bearer {SECRET}"}
ASSISTANT = "vapi-assistant/asst-bistro"
TOOL_SECRET = "whsec_" + base64.b64encode(b"t" * 32).decode()
DOC = (
    "# Opening hours\n\nDemo Bistro is open Tuesday to Sunday from 12:00 to 22:00 and closed on "
    "Mondays.\n\n# Parking\n\nThere is free parking behind the restaurant."
)


@pytest.fixture
def settings(ai_settings: AiSettings) -> AiSettings:
    return ai_settings.model_copy(
        update={
            "voice": VoiceSettings(internal_secrets=[SecretStr("old-secret"), SecretStr(SECRET)]),
            "config": ConfigSettings(topic=unique("config"), poll_timeout_ms=200),
        }
    )


@pytest.fixture
async def writer(settings: AiSettings) -> AsyncIterator[ConfigWriter]:
    async with ConfigWriter(settings.kafka, settings.config) as w:
        yield w


@pytest.fixture
async def bistro(settings: AiSettings, db: Any) -> str:
    admin = AdminService(
        MongoBusinesses(db),
        MongoKnowledge(db),
        MongoUsage(db),
        create_cipher(settings),
        "gpt-test",
        allow_private_tools=True,
        config=acme_config(),  # the admin API's view: acme owns the bistro's channels
    )
    business = await admin.create(
        "acme",
        BusinessCreate.model_validate(
            {
                "name": "Demo Bistro",
                "voice": {
                    "channels": [ASSISTANT, "phone/+33100000000"],
                    "time_zone": "Europe/Paris",
                    "hours": {"sun": ["12:00-22:00"]},
                    "vapi_assistant_id": "asst-bistro",
                    "transfer_number": "+33100000009",
                    "tools": [
                        {"name": "search_knowledge", "kind": "search_knowledge"},
                        {"name": "opening_hours", "kind": "opening_hours"},
                    ],
                },
            }
        ),
    )
    await admin.put_document("acme", business.id, "hours", "Opening hours", DOC)
    job = EmbeddingJob(MongoKnowledge(db), FakeEmbedder(), settings.knowledge, "fake")
    await job.run_once()
    return business.id


@pytest.fixture
async def client(settings: AiSettings, bistro: str) -> AsyncIterator[AsyncTestClient]:
    app = create_voice_api(settings, VoiceOverrides(embedder=FakeEmbedder()))
    async with AsyncTestClient(app=app, timeout=30) as c:
        await eventually(lambda: _ready(c), timeout_s=60)
        yield c


async def _ready(c: AsyncTestClient) -> bool:
    return (await c.get("/ready")).status_code == 200


def query(**kw: Any) -> dict[str, Any]:
    return {
        "provider": "vapi",
        "request": "assistant-request",
        "tenant": "acme",
        "call_id": "call-1",
        "channels": ["vapi-phone/pn-1", ASSISTANT],
        "caller": "+14155550199",
        **kw,
    }


async def test_ownership_follows_the_control_plane(client, writer, bistro) -> None:
    assert (await client.post(ASSISTANT_PATH, json=query(), headers=AUTH)).status_code == 404
    await writer.put(
        Tenant(id="acme", name="Acme"),
        Channel(kind="vapi-assistant", id="asst-bistro", tenant="acme", account_id="org-1"),
    )

    async def answered() -> bool:
        return (await client.post(ASSISTANT_PATH, json=query(), headers=AUTH)).status_code == 200

    await eventually(answered, timeout_s=30)
    body = (await client.post(ASSISTANT_PATH, json=query(), headers=AUTH)).json()
    assert (body["business_id"], body["assistant_id"]) == (bistro, "asst-bistro")
    assert body["variables"]["business_name"] == "Demo Bistro"
    assert body["variables"]["caller_number"] == "+14155550199"

    # A request verified for another tenant does not reach acme's business.
    other = await client.post(ASSISTANT_PATH, json=query(tenant="globex"), headers=AUTH)
    assert other.status_code == 404 and other.json()["reason"] == "unowned"

    # Unbound: unowned again, at once.
    await writer.delete("channel/vapi-assistant/asst-bistro")

    async def unowned() -> bool:
        return (await client.post(ASSISTANT_PATH, json=query(), headers=AUTH)).status_code == 404

    await eventually(unowned, timeout_s=30)


async def test_tools_and_transfer_from_the_business(client, writer, bistro) -> None:
    await writer.put(
        Channel(kind="vapi-assistant", id="asst-bistro", tenant="acme", account_id="org-1")
    )
    calls = [
        {"id": "t1", "name": "search_knowledge", "arguments": {"query": "open on sunday?"}},
        {"id": "t2", "name": "opening_hours", "arguments": {"day": "monday"}},
    ]
    q = query(request="tool-calls", calls=calls)

    async def answered() -> bool:
        return (await client.post(TOOLS_PATH, json=q, headers=AUTH)).status_code == 200

    await eventually(answered, timeout_s=30)
    answer = await client.post(TOOLS_PATH, json=q, headers={**AUTH, DEADLINE_HEADER: "2000"})
    results = {r["id"]: r for r in answer.json()["results"]}
    assert "Tuesday to Sunday from 12:00 to 22:00" in results["t1"]["result"]
    assert results["t2"]["result"].startswith("Closed on Monday.")
    transfer = await client.post(
        TRANSFER_PATH, json=query(request="transfer-destination-request"), headers=AUTH
    )
    assert transfer.json() == {"business_id": bistro, "number": "+33100000009", "message": None}


async def test_the_internal_secret_is_required(client) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": SECRET}):
        answer = await client.post(ASSISTANT_PATH, json=query(), headers=headers)
        assert answer.status_code == 401
    rotated = await client.post(
        ASSISTANT_PATH, json=query(), headers={"authorization": "Bearer old-secret"}
    )
    assert rotated.status_code == 404  # accepted (and nobody owns the channel)


async def test_bad_queries_are_4xx(client) -> None:
    for body in (
        {**query(), "channels": ["phone/123"]},
        {**query(), "provider": "twilio"},
        {"provider": "vapi"},
    ):
        answer = await client.post(ASSISTANT_PATH, json=body, headers=AUTH)
        assert answer.status_code == 400, answer.text


async def test_refuses_to_start_without_a_secret(ai_settings) -> None:
    with pytest.raises(ValueError, match="INTERNAL_SECRETS"):
        create_voice_api(ai_settings)
    await asyncio.sleep(0)
