"""The query API over the real PostgreSQL: tenancy, pages, filters, CSV, stats."""

import csv
import io
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient

from switchboard.common.auth import Audience, LocalSigner
from switchboard.history.app import create_api
from switchboard.history.messages import to_message
from switchboard.history.models import to_fact
from switchboard.history.settings import HistorySettings

pytestmark = pytest.mark.integration
SIGNER = LocalSigner()


def facts(events):
    return [to_fact(e, "dflt") for e in events]


def minutes(ev, n):
    from datetime import UTC, datetime

    return datetime(2026, 11, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=n)


async def seed(pg_store, ev) -> None:
    """acme: 5 calls (3 completed 10/20/60 s, 1 busy, 1 ringing); globex: 2 calls."""
    events = []
    for i, (status, duration) in enumerate(
        [("completed", 10), ("completed", 20), ("completed", 60), ("busy", None)]
    ):
        cid = f"CA-acme-{i}"
        at = minutes(ev, i)
        events.append(ev.call("ringing", 1, call_id=cid, at=at))
        events.append(
            ev.call(status, 2, call_id=cid, duration=duration, at=at + timedelta(seconds=1))
        )
    events.append(ev.placed(call_id="CA-acme-0", campaign="camp-x"))
    events.append(ev.call("ringing", 1, call_id="CA-acme-9", at=minutes(ev, 30)))
    for i in range(2):
        cid = f"CA-globex-{i}"
        events.append(ev.call("completed", 2, call_id=cid, tenant="globex", duration=5))
    await pg_store.record_call_facts(facts(events))
    await pg_store.record_call_facts(facts([ev.report(call_id="v-1", telephony="CA-acme-1")]))
    await pg_store.record_messages(
        [
            to_message(e, "dflt")
            for e in (
                ev.inbound(),
                ev.sent(),
                ev.status("delivered"),
                ev.inbound("wamid.g1", contact="+1777", tenant="globex"),
            )
        ]
    )


@pytest.fixture
async def client(pg_settings, database, pg_store, ev):
    await seed(pg_store, ev)
    settings = HistorySettings(postgres=pg_settings, database=database, auth=SIGNER.settings())
    # The real factory: it opens its own pool in the test client's event loop.
    async with AsyncTestClient(create_api(settings)) as c:
        yield c


def auth(tenant: str) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(tenant, Audience.HISTORY)}"}


ACME, GLOBEX = auth("acme"), auth("globex")


async def test_without_a_valid_token_nothing_is_served(client) -> None:
    assert (await client.get("/v1/calls")).status_code == 401
    forged = {"authorization": f"Bearer {LocalSigner(SIGNER.kid).token('acme', Audience.HISTORY)}"}
    assert (await client.get("/v1/calls", headers=forged)).status_code == 401
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/ready")).json()["checks"] == {"postgres": True, "config": True}
    assert "/v1/calls" in (await client.get("/schema/openapi.json")).json()["paths"]


async def test_a_tenant_sees_none_of_another_tenants_rows_via_any_endpoint(client) -> None:
    calls = (await client.get("/v1/calls", headers=GLOBEX)).json()["items"]
    assert sorted(c["call_id"] for c in calls) == ["CA-globex-0", "CA-globex-1"]
    for guessed in ("CA-acme-0", "CA-acme-1", "v-1"):
        assert (await client.get(f"/v1/calls/{guessed}", headers=GLOBEX)).status_code == 404
    assert (await client.get("/v1/calls/CA-globex-0", headers=ACME)).status_code == 404
    exported = (await client.get("/v1/calls/export.csv", headers=GLOBEX)).text
    assert "CA-acme" not in exported and exported.count("CA-globex") == 2
    assert (await client.get("/v1/stats", headers=GLOBEX)).json()["calls"] == 2
    conversations = (await client.get("/v1/conversations", headers=GLOBEX)).json()["items"]
    assert [c["conversation_id"] for c in conversations] == ["PN1:+1777"]
    url = "/v1/conversations/PN1:+1555/messages"
    assert (await client.get(url, headers=GLOBEX)).status_code == 404
    assert (await client.get(url, headers=ACME)).status_code == 200
    acme_calls = (await client.get("/v1/calls", headers=ACME)).json()["items"]
    assert not any(c["call_id"].startswith("CA-globex") for c in acme_calls)


async def test_call_detail_has_its_timeline_and_linked_report(client) -> None:
    body = (await client.get("/v1/calls/CA-acme-1", headers=ACME)).json()
    assert (body["status"], body["cost"], body["agent_call_id"]) == ("completed", 0.25, "v-1")
    assert [(e["event_type"], e["status"]) for e in body["events"]] == [  # oldest first
        ("switchboard.call.report.v1", "completed"),
        ("switchboard.call.status.v1", "ringing"),
        ("switchboard.call.status.v1", "completed"),
    ]
    by_agent_id = (await client.get("/v1/calls/v-1", headers=ACME)).json()
    assert by_agent_id["call_id"] == "CA-acme-1"


async def test_pages_are_stable_while_calls_arrive(client, pg_store, ev) -> None:
    seen, cursor = [], None
    for page_no in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/v1/calls", headers=ACME, params=params)).json()
        seen += [c["call_id"] for c in body["items"]]
        # a newer call arrives between pages: it must not shift or repeat what follows
        await pg_store.record_call_facts(
            facts([ev.call("ringing", 1, call_id=f"CA-late-{page_no}", at=minutes(ev, 60))])
        )
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["CA-acme-9", "CA-acme-3", "CA-acme-2", "CA-acme-1", "CA-acme-0"]


async def test_filters(client) -> None:
    async def ids(**params):
        body = (await client.get("/v1/calls", headers=ACME, params=params)).json()
        return sorted(c["call_id"] for c in body["items"])

    assert await ids(status="busy") == ["CA-acme-3"]
    assert await ids(campaign="camp-x") == ["CA-acme-0"]
    assert await ids(to="+1600") == ["CA-acme-0"]
    assert await ids(since="2026-11-01T12:01:00Z", until="2026-11-01T12:03:00Z") == [
        "CA-acme-1",
        "CA-acme-2",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "exploded"},
        {"since": "yesterday"},
        {"since": "2026-11-01T12:00:00"},  # no zone
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        {"cursor": "not-a-cursor"},
        {"limit": 0},
        {"limit": 501},
    ],
)
async def test_bad_filters_get_a_clear_400(client, params) -> None:
    response = await client.get("/v1/calls", headers=ACME, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


async def test_csv_export_streams_every_matching_call(client) -> None:
    response = await client.get(
        "/v1/calls/export.csv", headers=ACME, params={"status": "completed"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["call_id"] for r in rows) == ["CA-acme-0", "CA-acme-1", "CA-acme-2"]
    assert {r["duration_s"] for r in rows} == {"10", "20", "60"}


async def test_stats(client) -> None:
    body = (await client.get("/v1/stats", headers=ACME)).json()
    assert body["calls"] == 5
    assert body["by_status"] == {"completed": 3, "busy": 1, "ringing": 1}
    assert body["answer_rate"] == pytest.approx(3 / 4)
    assert body["duration_p50_s"] == pytest.approx(20)
    assert body["duration_mean_s"] == pytest.approx(30)
    assert body["duration_p95_s"] == pytest.approx(56)
    assert body["cost"] == pytest.approx(0.25)
    assert [(d["day"], d["calls"]) for d in body["per_day"]] == [("2026-11-01", 5)]


async def test_conversation_messages(client) -> None:
    conv = (await client.get("/v1/conversations", headers=ACME)).json()["items"]
    assert [(c["conversation_id"], c["contact_name"]) for c in conv] == [("PN1:+1555", "Ann")]
    body = (await client.get("/v1/conversations/PN1:+1555/messages", headers=ACME)).json()
    assert [(m["message_id"], m["direction"], m["status"]) for m in body["items"]] == [
        ("wamid.1", "inbound", None),
        ("wamid.out1", "outbound", "delivered"),
    ]
    page = (
        await client.get("/v1/conversations/PN1:+1555/messages", headers=ACME, params={"limit": 1})
    ).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
