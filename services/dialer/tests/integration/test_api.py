"""The campaigns API on the real PostgreSQL: tenancy, commands, CSV upload, DNC, progress."""

import random
import time

import pytest
from litestar.testing import AsyncTestClient

from switchboard.common.auth import Audience, Scope, unguarded_routes
from switchboard.common.config import InMemoryConfig, Tenant
from switchboard.dialer.app import create_api

from ..fakes import ACCOUNT, fake_entities

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(settings, clock, config):
    async with AsyncTestClient(app=create_api(settings, config=config, clock=clock)) as c:
        yield c


async def create(client, token, body, tenant="acme") -> dict:
    r = await client.post("/v1/campaigns", json=body, headers=token(tenant))
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_tenant_sees_only_its_own_campaigns(client, token, new_campaign) -> None:
    mine = await create(client, token, new_campaign())
    assert mine["status"] == "draft"
    assert (
        await client.get(f"/v1/campaigns/{mine['id']}", headers=token("acme"))
    ).status_code == 200
    other = await client.get(f"/v1/campaigns/{mine['id']}", headers=token("globex"))
    assert other.status_code == 404
    # A sentence, the same for "not yours" and "no such campaign" (was the bare id).
    assert other.json()["detail"] == f"no campaign {mine['id']} for this tenant"
    r = await client.post(f"/v1/campaigns/{mine['id']}/start", headers=token("globex"))
    assert r.status_code == 404
    listed = await client.get("/v1/campaigns", headers=token("globex"))
    assert listed.json() == []
    assert (await client.get("/v1/campaigns")).status_code == 401


async def test_reading_is_not_writing_and_other_audiences_are_refused(
    client, signer, new_campaign
) -> None:
    reader = signer.bearer("acme", Audience.DIALER, scopes=[Scope.CAMPAIGNS_READ])
    refused = await client.post("/v1/campaigns", json=new_campaign(), headers=reader)
    assert refused.status_code == 403 and "campaigns:write" in refused.text
    assert (await client.get("/v1/campaigns", headers=reader)).status_code == 200
    dnc = await client.post("/v1/dnc", json={"phone": "+12125550199"}, headers=reader)
    assert dnc.status_code == 403
    history = signer.bearer("acme", Audience.HISTORY)
    assert (await client.get("/v1/campaigns", headers=history)).status_code == 401
    assert unguarded_routes(client.app) == []


async def test_create_validates_and_caps_by_the_account(client, token, new_campaign) -> None:
    body = new_campaign(cps=5000, max_concurrent=10_000, window={"start": "06:00", "end": "23:00"})
    c = await create(client, token, body)
    assert c["cps"] == 1000 and c["max_concurrent"] == 5000
    assert c["config"]["window"]["start"] == "08:00:00"
    assert c["config"]["window"]["end"] == "21:00:00"
    bad = await client.post(
        "/v1/campaigns", json=new_campaign(caller_ids=["+1999"]), headers=token("acme")
    )
    assert bad.status_code == 400
    both = await client.post(
        "/v1/campaigns", json=new_campaign(url="https://x.test/twiml"), headers=token("acme")
    )
    assert both.status_code == 400


async def test_commands_follow_the_state_machine_and_go_to_the_outbox(
    client, token, new_campaign, pool
) -> None:
    c = await create(client, token, new_campaign())
    url = f"/v1/campaigns/{c['id']}"
    h = token("acme")
    assert (await client.post(f"{url}/resume", headers=h)).status_code == 409
    for action, status in (("start", "running"), ("pause", "paused"), ("resume", "running")):
        r = await client.post(f"{url}/{action}", headers=h)
        assert r.status_code == 200 and r.json()["status"] == status
    assert (await client.post(f"{url}/cancel", headers=h)).json()["status"] == "cancelled"
    assert (await client.post(f"{url}/start", headers=h)).status_code == 409
    assert (await client.post(f"{url}/explode", headers=h)).status_code == 404
    rows = await pool.fetch("SELECT topic, key FROM outbox ORDER BY id")
    assert [(r["topic"], r["key"]) for r in rows] == [("dial.commands", c["id"])] * 4


async def test_csv_upload_counts_and_explains_rejections(client, token, new_campaign) -> None:
    c = await create(client, token, new_campaign())
    h = token("acme")
    assert (
        await client.post("/v1/dnc", json={"phone": "+1 212 555 0199"}, headers=h)
    ).status_code == 201
    csv_text = (
        "name,phone,time_zone\n"
        "Ann,+12125550101,\n"
        "Bob,(212) 555-0102,America/Chicago\n"
        "Dup,+12125550101,\n"
        "Bad,12345,\n"
        "Dnc,+12125550199,\n"
        "Zone,+12125550103,Mars/Base\n"
        "Empty,,\n"
    )
    r = await client.post(
        f"/v1/campaigns/{c['id']}/contacts?default_region=US",
        content=csv_text.encode(),
        headers={**h, "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert body["rejected_by_reason"] == {
        "duplicate": 1,
        "invalid_number": 1,
        "do_not_call": 1,
        "invalid_time_zone": 1,
        "missing_phone": 1,
    }
    assert [(x["line"], x["reason"]) for x in body["rejections"]] == [
        (4, "duplicate"),
        (5, "invalid_number"),
        (6, "do_not_call"),
        (7, "invalid_time_zone"),
        (8, "missing_phone"),
    ]
    again = await client.post(
        f"/v1/campaigns/{c['id']}/contacts",
        content=b"phone\n+12125550101\n+12125550104\n",
        headers={**h, "content-type": "text/csv"},
    )
    assert again.json()["accepted"] == 1
    assert again.json()["rejected_by_reason"] == {"duplicate": 1}
    progress = (await client.get(f"/v1/campaigns/{c['id']}", headers=h)).json()
    assert progress["pending"] == 3 and progress["due"] == 3 and progress["total"] == 3
    no_phone = await client.post(
        f"/v1/campaigns/{c['id']}/contacts", content=b"name\nx\n", headers=h
    )
    assert no_phone.status_code == 400


async def test_dnc_crud_is_per_tenant(client, token) -> None:
    a, b = token("acme"), token("globex")
    assert (
        await client.post("/v1/dnc", json={"phone": "+12125550123", "reason": "asked"}, headers=a)
    ).status_code == 201
    assert [d["phone"] for d in (await client.get("/v1/dnc", headers=a)).json()] == ["+12125550123"]
    assert (await client.get("/v1/dnc", headers=b)).json() == []
    assert (await client.delete("/v1/dnc/+12125550123", headers=b)).status_code == 404
    assert (await client.delete("/v1/dnc/+12125550123", headers=a)).status_code == 204
    assert (await client.get("/v1/dnc", headers=a)).json() == []


def contacts_csv(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    areas = ["212", "415", "646", "305", "713", "312", "206", "617"]
    lines = ["phone,name"]
    for i in range(n):
        lines.append(f"+1{rng.choice(areas)}{rng.randint(200, 999)}{i % 10000:04d},c{i}")
    return ("\n".join(lines) + "\n").encode()


async def test_300k_rows_load_in_under_10_seconds(
    database, make_settings, token, new_campaign, clock, pool, config
) -> None:
    settings = make_settings(database, upload_processes=2)
    body = contacts_csv(300_000)

    async with AsyncTestClient(
        app=create_api(settings, config=config, clock=clock), timeout=60
    ) as client:
        c = await create(client, token, new_campaign())
        started = time.perf_counter()
        r = await client.post(
            f"/v1/campaigns/{c['id']}/contacts",
            content=body,
            headers={**token("acme"), "content-type": "text/csv"},
        )
        elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["accepted"] + result["rejected"] == 300_000
    assert set(result["rejected_by_reason"]) <= {"duplicate"}
    stored = await pool.fetchval("SELECT count(*) FROM contacts WHERE campaign_id = $1", c["id"])
    assert stored == result["accepted"] > 290_000
    # The 10 s target is measured by bench/dialer_bench.py (no timing asserts in tests).
    print(f"300k-row upload: {elapsed:.1f} s")  # noqa: T201


async def test_recording_and_voicemail_are_campaign_settings(client, token, new_campaign) -> None:
    body = new_campaign(record=True, amd={"voicemail_message": "Please call us back."})
    created = await create(client, token, body)
    assert created["config"]["record"] is True
    assert created["config"]["amd"]["voicemail_message"] == "Please call us back."
    listed = (await client.get("/v1/campaigns", headers=token("acme"))).json()
    [stored] = [c for c in listed if c["id"] == created["id"]]
    assert stored["config"]["amd"]["voicemail_message"] == "Please call us back."
    empty = new_campaign(amd={"voicemail_message": ""})
    r = await client.post("/v1/campaigns", json=empty, headers=token("acme"))
    assert r.status_code == 400 and "voicemail_message" in r.text


async def test_a_campaign_calls_only_from_numbers_its_tenant_owns(
    client, token, new_campaign
) -> None:
    # acme and globex share the account; each owns numbers of its own on it.
    theirs = await client.post(
        "/v1/campaigns",
        json=new_campaign(caller_ids=["+12125550100", "+16175550100"]),
        headers=token("acme"),
    )
    assert theirs.status_code == 422
    assert theirs.json()["detail"] == (
        f"caller IDs not owned by this tenant on account {ACCOUNT}: +16175550100"
    )
    nobodys = await client.post(
        "/v1/campaigns", json=new_campaign(caller_ids=["+19175550123"]), headers=token("globex")
    )
    assert nobodys.status_code == 422 and "+19175550123" in nobodys.json()["detail"]
    mine = await create(client, token, new_campaign(caller_ids=["+16175550100"]), "globex")
    assert mine["account_sid"] == ACCOUNT
    # an account the tenant does not hold reads like one that does not exist
    other = await client.post(
        "/v1/campaigns",
        json=new_campaign(account_sid="AC" + "9" * 32),
        headers=token("initech"),
    )
    assert other.status_code == 422
    assert other.json()["detail"] == f"no Twilio account {'AC' + '9' * 32} for this tenant"


async def test_limits_come_from_the_plan_and_follow_its_changes(
    client, token, new_campaign, config
) -> None:
    [acme] = [e for e in fake_entities() if isinstance(e, Tenant) and e.id == "acme"]
    plan = acme.limits.model_copy(update={"calls_per_second": 7, "concurrent_calls": 4})
    config.put(acme.model_copy(update={"limits": plan}))
    c = await create(client, token, new_campaign(cps=50, max_concurrent=20))
    assert c["cps"] == 7 and c["max_concurrent"] == 4
    config.put(acme.model_copy(update={"status": "suspended"}))
    r = await client.post("/v1/campaigns", json=new_campaign(), headers=token("acme"))
    assert r.status_code == 422 and r.json()["detail"] == "this tenant is unknown or suspended"


async def test_no_campaign_is_judged_before_the_configuration_is_read(
    settings, clock, token, new_campaign
) -> None:
    loading = InMemoryConfig(fake_entities(), ready=False)  # type: ignore[arg-type]
    async with AsyncTestClient(app=create_api(settings, config=loading, clock=clock)) as client:
        r = await client.post("/v1/campaigns", json=new_campaign(), headers=token("acme"))
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["config"] is False
