"""A business's voice profile through the admin API on real FerretDB: stored and answered,
tool signing secrets write-only and sealed (kept when an update leaves them out), voice
channels claimed per tenant, tool endpoints checked."""

import base64
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.app import create_api
from switchboard.common.auth import Audience, LocalSigner

pytestmark = pytest.mark.integration
SIGNER = LocalSigner.from_seed("ai-tests")
SECRET = "whsec_" + base64.b64encode(b"t" * 32).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"u" * 32).decode()


def auth(tenant: str) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(tenant, Audience.AI)}"}


@pytest.fixture
async def client(ai_settings, db, control) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_api(ai_settings, control)) as c:
        yield c


def voice(**extra: object) -> dict[str, object]:
    return {
        "channels": ["vapi-assistant/asst-bistro", "phone/+33100000000"],
        "time_zone": "Europe/Paris",
        "hours": {"sun": ["12:00-22:00"], "tue": ["18:00-22:00", "12:00-14:00"]},
        "vapi_assistant_id": "asst-bistro",
        "variables": {"greeting": "Bonjour"},
        "transfer_rules": [
            {"days": ["sat", "sun"], "window": "10:00-20:00", "number": "+33100000002"}
        ],
        "transfer_number": "+33100000009",
        "elevenlabs_allowed_overrides": ["agent.first_message"],
        "elevenlabs_overrides": {"agent.first_message": "Hi!"},
        "tools": [
            {"name": "search_knowledge", "kind": "search_knowledge"},
            {"name": "opening_hours", "kind": "opening_hours"},
            {
                "name": "book",
                "kind": "http",
                "url": "https://book.example.com/hook",
                "signing_secret": SECRET,
                "timeout_s": 2,
            },
        ],
        **extra,
    }


async def test_voice_profile_round_trip_with_write_only_secrets(client, db) -> None:
    created = await client.post(
        "/v1/businesses", json={"name": "Demo Bistro", "voice": voice()}, headers=auth("acme")
    )
    assert created.status_code == 201, created.text
    out = created.json()["voice"]
    assert SECRET not in created.text
    assert out["hours"] == {"tue": ["12:00-14:00", "18:00-22:00"], "sun": ["12:00-22:00"]}
    assert out["tools"][2] == {
        "name": "book",
        "kind": "http",
        "description": "",
        "url": "https://book.example.com/hook",
        "timeout_s": 2.0,
        "has_signing_secret": True,
    }
    bid = created.json()["id"]
    raw = await MongoBusinesses(db).raw(bid)
    assert SECRET not in repr(raw) and raw["voice"]["tools"][2]["signing_secret"]["kid"] == "k1"

    # An update without the secret keeps it; with another one replaces it.
    first = raw["voice"]["tools"][2]["signing_secret"]["ct"]
    tools = voice()["tools"]
    del tools[2]["signing_secret"]  # type: ignore[index]
    patched = await client.patch(
        f"/v1/businesses/{bid}", json={"voice": voice(tools=tools)}, headers=auth("acme")
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["voice"]["tools"][2]["has_signing_secret"]
    raw = await MongoBusinesses(db).raw(bid)
    assert raw["voice"]["tools"][2]["signing_secret"]["ct"] == first
    tools[2]["signing_secret"] = OTHER_SECRET  # type: ignore[index]
    await client.patch(
        f"/v1/businesses/{bid}", json={"voice": voice(tools=tools)}, headers=auth("acme")
    )
    raw = await MongoBusinesses(db).raw(bid)
    assert raw["voice"]["tools"][2]["signing_secret"]["ct"] != first


async def test_voice_channels_are_claimed_per_tenant(client, db) -> None:
    body = {"name": "Bistro", "voice": voice()}
    assert (await client.post("/v1/businesses", json=body, headers=auth("acme"))).status_code == 201
    taken = await client.post("/v1/businesses", json=body, headers=auth("acme"))
    assert taken.status_code == 409 and "vapi-assistant/asst-bistro" in taken.text
    # Another tenant may not list them: the control plane binds them to acme.
    other = await client.post("/v1/businesses", json=body, headers=auth("globex"))
    assert other.status_code == 422 and "not bound to your tenant" in other.text
    acme = await MongoBusinesses(db).by_voice_channel("acme", "vapi-assistant/asst-bistro")
    assert acme is not None
    # Dropping a channel frees it for another business of the tenant.
    await client.patch(
        f"/v1/businesses/{acme.id}", json={"voice": voice(channels=[])}, headers=auth("acme")
    )
    again = await client.post("/v1/businesses", json=body, headers=auth("acme"))
    assert again.status_code == 201, again.text


async def test_tool_endpoints_and_secrets_are_checked(client, ai_settings) -> None:
    bad = voice(
        tools=[{"name": "book", "kind": "http", "url": "https://book.example.com/x"}]  # no secret
    )
    answer = await client.post(
        "/v1/businesses", json={"name": "B", "voice": bad}, headers=auth("a")
    )
    assert answer.status_code == 400 and "signing_secret" in answer.text
    wrong = voice(tools=[{"name": "b", "kind": "http", "url": "ftp://x", "signing_secret": SECRET}])
    answer = await client.post(
        "/v1/businesses", json={"name": "B", "voice": wrong}, headers=auth("a")
    )
    assert answer.status_code == 400


async def test_private_tool_endpoints_are_refused_outside_local(ai_settings, db, control) -> None:
    settings = ai_settings.model_copy(update={"environment": "production"})
    async with AsyncTestClient(app=create_api(settings, control)) as client:
        for url in ("https://10.0.0.7/hook", "http://book.example.com/hook", "https://localhost/x"):
            tools = [{"name": "b", "kind": "http", "url": url, "signing_secret": SECRET}]
            answer = await client.post(
                "/v1/businesses",
                json={"name": "B", "voice": voice(tools=tools)},
                headers=auth("acme"),
            )
            assert answer.status_code == 400, (url, answer.text)
