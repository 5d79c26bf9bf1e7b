"""The admin API over real FerretDB: CRUD, write-only sealed tokens, tenant isolation, usage."""

from collections.abc import AsyncIterator
from datetime import date

import pytest
from litestar.testing import AsyncTestClient

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_replies import MongoUsage
from switchboard.ai.app import create_api
from switchboard.ai.models import Reply
from switchboard.common.auth import Audience, LocalSigner, Scope, unguarded_routes

pytestmark = pytest.mark.integration
SIGNER = LocalSigner.from_seed("ai-tests")


def auth(tenant: str) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(tenant, Audience.AI)}"}


@pytest.fixture
async def client(ai_settings, db, control) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_api(ai_settings, control)) as c:
        yield c


NEW = {
    "name": "Acme Bakery",
    "whatsapp_phone_number_ids": ["1065550001"],
    "twilio_numbers": ["+15005550006"],
    "twilio_account_sid": "AC" + "0" * 32,
    "system_prompt": "You are helpful.",
    "temperature": 0.2,
    "max_tokens": 200,
    "memory_messages": 6,
    "rate_limit_per_minute": 30,
    "monthly_spend_limit_usd": 50,
    "fallback_text": "Back soon.",
    "whatsapp_access_token": "wa-secret-token",
    "twilio_auth_token": "tw-secret-token",
}


async def test_crud_never_returns_tokens_and_stores_them_sealed(client, db) -> None:
    created = await client.post("/v1/businesses", json=NEW, headers=auth("acme"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["has_whatsapp_token"] and body["has_twilio_token"]
    assert "secret" not in created.text
    bid = body["id"]
    raw = await MongoBusinesses(db).raw(bid)
    assert "wa-secret-token" not in repr(raw) and raw["whatsapp_token"]["kid"] == "k1"

    got = await client.get(f"/v1/businesses/{bid}", headers=auth("acme"))
    assert got.status_code == 200 and got.json()["memory_messages"] == 6
    assert "secret" not in got.text
    listed = await client.get("/v1/businesses", headers=auth("acme"))
    assert [b["id"] for b in listed.json()] == [bid]

    patched = await client.patch(
        f"/v1/businesses/{bid}",
        json={"active": False, "twilio_numbers": ["+15005550007"], "fallback_text": None},
        headers=auth("acme"),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False
    assert patched.json()["fallback_text"] is None
    assert patched.json()["has_twilio_token"]  # untouched token kept
    store = MongoBusinesses(db)
    assert (await store.by_channel("acme", "+15005550007")).id == bid
    assert await store.by_channel("acme", "+15005550006") is None  # released

    assert (await client.delete(f"/v1/businesses/{bid}", headers=auth("acme"))).status_code == 204
    assert (await client.get(f"/v1/businesses/{bid}", headers=auth("acme"))).status_code == 404
    assert await store.by_channel("acme", "1065550001") is None


async def test_another_tenant_gets_404_everywhere(client) -> None:
    bid = (await client.post("/v1/businesses", json=NEW, headers=auth("acme"))).json()["id"]
    other = auth("globex")
    assert (await client.get(f"/v1/businesses/{bid}", headers=other)).status_code == 404
    assert (
        await client.patch(f"/v1/businesses/{bid}", json={"name": "x"}, headers=other)
    ).status_code == 404
    assert (await client.delete(f"/v1/businesses/{bid}", headers=other)).status_code == 404
    doc = {"title": "Hours", "content": "We open at 7."}
    assert (
        await client.put(f"/v1/businesses/{bid}/documents/hours", json=doc, headers=other)
    ).status_code == 404
    assert (await client.get(f"/v1/businesses/{bid}/documents", headers=other)).status_code == 404
    assert (await client.get("/v1/businesses", headers=other)).json() == []
    assert (await client.get(f"/v1/businesses/{bid}", headers=auth("acme"))).status_code == 200


async def test_auth_and_validation(client) -> None:
    assert (await client.get("/v1/businesses")).status_code == 401
    bad = {**NEW, "temperature": 5}
    assert (await client.post("/v1/businesses", json=bad, headers=auth("acme"))).status_code == 400
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/ready")).status_code == 200


async def test_reading_is_not_administering_and_other_audiences_are_refused(client) -> None:
    reader = SIGNER.bearer("acme", Audience.AI, scopes=[Scope.BUSINESSES_READ])
    refused = await client.post("/v1/businesses", json=NEW, headers=reader)
    assert refused.status_code == 403 and "businesses:admin" in refused.text
    assert (await client.get("/v1/businesses", headers=reader)).status_code == 200
    assert (await client.get("/v1/usage", headers=reader)).status_code == 200
    dialer = SIGNER.bearer("acme", Audience.DIALER)
    assert (await client.get("/v1/businesses", headers=dialer)).status_code == 401
    assert unguarded_routes(client.app) == []


async def test_a_channel_taken_by_another_business_of_the_tenant_is_409(client) -> None:
    assert (await client.post("/v1/businesses", json=NEW, headers=auth("acme"))).status_code == 201
    again = await client.post("/v1/businesses", json=NEW, headers=auth("acme"))
    assert again.status_code == 409
    assert "1065550001" in again.text or "+15005550006" in again.text


async def test_a_tenant_uses_only_channels_it_owns_and_a_refusal_reveals_no_one(
    client, control
) -> None:
    """globex cannot put a business on acme's WhatsApp number (bound to acme in the control
    plane), and the refusal reads exactly like the one for a number nobody owns: it does not
    tell globex that acme, or any customer, is on that number. No first-come claim either:
    acme's own business is created after globex tried."""
    control.bind("whatsapp/3000003", "globex")
    taken = {**NEW, "whatsapp_phone_number_ids": ["1065550001"], "twilio_numbers": []}
    free = {**NEW, "whatsapp_phone_number_ids": ["1065550099"], "twilio_numbers": []}
    refused = await client.post("/v1/businesses", json=taken, headers=auth("globex"))
    unbound = await client.post("/v1/businesses", json=free, headers=auth("globex"))
    assert refused.status_code == unbound.status_code == 422
    assert refused.json()["detail"].replace("1065550001", "N") == (
        unbound.json()["detail"].replace("1065550099", "N")
    )
    assert "acme" not in refused.text
    mine = {**NEW, "whatsapp_phone_number_ids": ["3000003"], "twilio_numbers": []}
    created = await client.post("/v1/businesses", json=mine, headers=auth("globex"))
    assert created.status_code == 201, created.text
    moved = await client.patch(
        f"/v1/businesses/{created.json()['id']}",
        json={"twilio_numbers": ["+15005550006"]},  # acme's number, added by an update
        headers=auth("globex"),
    )
    assert moved.status_code == 422
    assert (await client.post("/v1/businesses", json=NEW, headers=auth("acme"))).status_code == 201


async def test_only_offered_models_of_the_plan_are_accepted(client, control) -> None:
    """The operator's allow-list (model/* on control.config) and the tenant's plan decide:
    an unknown model, or one outside the plan, is refused with a reason, never stored."""
    control.offer("gpt-4o", "0.0025", "0.01")  # offered, but not in acme's plan
    unknown = await client.post(
        "/v1/businesses", json={**NEW, "model": "gpt-9-ultra"}, headers=auth("acme")
    )
    assert unknown.status_code == 422 and "not offered by the platform" in unknown.text
    outside = await client.post(
        "/v1/businesses", json={**NEW, "model": "gpt-4o"}, headers=auth("acme")
    )
    assert outside.status_code == 422 and "not in your plan" in outside.text
    listed = await client.get("/v1/businesses", headers=auth("acme"))
    assert listed.json() == []
    created = await client.post(
        "/v1/businesses", json={**NEW, "model": "gpt-test"}, headers=auth("acme")
    )
    assert created.status_code == 201, created.text
    bid = created.json()["id"]
    changed = await client.patch(
        f"/v1/businesses/{bid}", json={"model": "gpt-4o"}, headers=auth("acme")
    )
    assert changed.status_code == 422
    control.plan("acme", ("gpt-test", "gpt-4o"))  # the operator widens the plan: live
    changed = await client.patch(
        f"/v1/businesses/{bid}", json={"model": "gpt-4o"}, headers=auth("acme")
    )
    assert changed.status_code == 200 and changed.json()["model"] == "gpt-4o"


async def test_documents_are_stored_pending(client) -> None:
    bid = (await client.post("/v1/businesses", json=NEW, headers=auth("acme"))).json()["id"]
    doc = {"title": "Opening hours", "content": "We open at 7.\n\nWe close at 6."}
    put = await client.put(f"/v1/businesses/{bid}/documents/hours", json=doc, headers=auth("acme"))
    assert put.status_code == 202, put.text
    assert put.json()["status"] == "pending"
    listed = await client.get(f"/v1/businesses/{bid}/documents", headers=auth("acme"))
    assert [d["doc_id"] for d in listed.json()] == ["hours"]
    gone = await client.delete(f"/v1/businesses/{bid}/documents/hours", headers=auth("acme"))
    assert gone.status_code == 204
    huge = {"title": "Huge", "content": "x" * 200_001}
    too_big = await client.put(
        f"/v1/businesses/{bid}/documents/huge", json=huge, headers=auth("acme")
    )
    assert too_big.status_code == 413


async def test_usage_per_business_per_day_for_the_tenant_only(client, db, build, cipher) -> None:
    bid = (await client.post("/v1/businesses", json=NEW, headers=auth("acme"))).json()["id"]
    usage = MongoUsage(db)
    business = build.business(cipher, id=bid)
    reply = Reply(text="x", model="m", prompt_tokens=100, completion_tokens=20, cost_usd=0.5)
    for key, day in (("m1", 1), ("m2", 1), ("m3", 2)):
        await usage.add(business, date(2026, 11, day), reply, counted_key=key)
    fallback = Reply(text="fb", fallback=True)
    await usage.add(business, date(2026, 11, 2), fallback, counted_key="m4")
    rows = (
        await client.get("/v1/usage?from=2026-11-01&to=2026-11-30", headers=auth("acme"))
    ).json()
    assert rows == [
        {
            "business_id": bid,
            "day": "2026-11-01",
            "prompt_tokens": 200,
            "completion_tokens": 40,
            "replies": 2,
            "fallbacks": 0,
            "cost_usd": 1.0,
        },
        {
            "business_id": bid,
            "day": "2026-11-02",
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "replies": 2,
            "fallbacks": 1,
            "cost_usd": 0.5,
        },
    ]
    only_day_2 = await client.get("/v1/usage?from=2026-11-02", headers=auth("acme"))
    assert [r["day"] for r in only_day_2.json()] == ["2026-11-02"]
    assert (await client.get("/v1/usage", headers=auth("globex"))).json() == []


async def test_whatsapp_and_model_options_are_set_shown_and_cleared(client, control) -> None:
    control.offer("o4-mini")
    control.plan("acme", ("gpt-4o-mini", "o4-mini"))
    options = {
        "model": "o4-mini",
        "reasoning_effort": "low",
        "message_types": {"reaction": "answer", "sticker": "fallback"},
        "whatsapp_template": {
            "name": "order_followup",
            "language": "en_US",
            "parameters": ["{contact_name}"],
        },
        "read_receipts": True,
        "fetch_media": True,
    }
    created = await client.post("/v1/businesses", json={**NEW, **options}, headers=auth("acme"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in options} == options
    bid = body["id"]
    cleared = await client.patch(
        f"/v1/businesses/{bid}",
        json={"whatsapp_template": None, "reasoning_effort": None, "message_types": {}},
        headers=auth("acme"),
    )
    assert cleared.status_code == 200, cleared.text
    after = cleared.json()
    assert (after["whatsapp_template"], after["reasoning_effort"], after["message_types"]) == (
        None,
        None,
        {},
    )
    assert after["read_receipts"] is True  # untouched


@pytest.mark.parametrize(
    "bad",
    [
        {"message_types": {"image": "shout"}},
        {"whatsapp_template": {"name": "Has Spaces", "language": "en_US"}},
        {"whatsapp_template": {"name": "ok", "language": "english"}},
        {"reasoning_effort": "extreme"},
    ],
)
async def test_bad_options_are_a_400(client, bad) -> None:
    answer = await client.post("/v1/businesses", json={**NEW, **bad}, headers=auth("acme"))
    assert answer.status_code == 400, answer.text
