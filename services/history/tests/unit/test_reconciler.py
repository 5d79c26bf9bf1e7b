"""Reconciler with the providers faked at the HTTP level (httpx.MockTransport)."""

import base64
import json
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from switchboard.common.config import (
    Channel,
    ElevenLabsAccount,
    InMemoryConfig,
    TwilioAccount,
    VapiAccount,
)
from switchboard.common.events import CallStatusChanged, event_id
from switchboard.history.adapters.providers import ProviderClient
from switchboard.history.credentials import ProviderCredentials
from switchboard.history.models import OpenCall
from switchboard.history.reconciler import Reconciler
from switchboard.history.settings import ReconcileSettings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SETTINGS = ReconcileSettings(
    twilio_base_url="http://twilio.test", vapi_base_url="http://vapi.test/"
)
AC1 = "AC" + "1" * 32
TOKEN = "twilio-auth-token-1234"
VKEY = "vapi-private-key-1234"
XI = "xi-api-key-0123456789"
SECRET = SecretStr("webhook-secret-0123456789")


def entities(token: str = TOKEN, *, elevenlabs: bool = False) -> list:
    """The control plane's view: acme holds a Twilio account, a Vapi org with an API key and
    (``elevenlabs``) an ElevenLabs workspace with one."""
    found = [
        TwilioAccount(id=AC1, tenants=("acme",), auth_tokens=(SecretStr(token),)),
        VapiAccount(
            id="org-acme", tenants=("acme",), webhook_secrets=(SECRET,), api_keys=(SecretStr(VKEY),)
        ),
    ]
    if elevenlabs:
        found.append(
            ElevenLabsAccount(
                id="ws-acme",
                tenants=("acme",),
                webhook_secrets=(SECRET,),
                api_keys=(SecretStr(XI),),
            )
        )
    return found


def credentials(config: InMemoryConfig | None = None) -> ProviderCredentials:
    return ProviderCredentials(config if config is not None else InMemoryConfig(entities()))


class FakeOpenCalls:
    def __init__(self, calls):
        self.calls = calls
        self.asked = None

    async def open_calls(self, silent_since, seen_after, limit, after=None):
        self.asked = (silent_since, seen_after, limit, after)
        return self.calls


def provider(requests):
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path = request.url.path
        if path == f"/2010-04-01/Accounts/{AC1}/Calls/CA-done.json":
            return httpx.Response(
                200,
                json={
                    "sid": "CA-done",
                    "status": "completed",
                    "duration": "42",
                    "direction": "outbound-api",
                    "from": "+1500",
                    "to": "+1600",
                    "answered_by": None,
                    "end_time": "Mon, 23 Nov 2026 11:00:00 +0000",
                },
            )
        if path == f"/2010-04-01/Accounts/{AC1}/Calls/CA-live.json":
            return httpx.Response(200, json={"status": "in-progress"})
        if path == f"/2010-04-01/Accounts/{AC1}/Calls/CA-flaky.json":
            return httpx.Response(503)
        if path == "/call/v-1":
            return httpx.Response(
                200,
                json={
                    "id": "v-1",
                    "status": "ended",
                    "endedReason": "customer-did-not-answer",
                    "startedAt": "2026-11-23T10:00:00Z",
                    "endedAt": "2026-11-23T10:00:30Z",
                },
            )
        return httpx.Response(404)

    return httpx.MockTransport(handle)


async def run(calls, creds=None):
    requests, published = [], []

    async def publish(event, key):
        published.append((event, key))

    finder = FakeOpenCalls(calls)
    async with httpx.AsyncClient(transport=provider(requests)) as http:
        creds = creds or credentials()
        provider_client = ProviderClient(SETTINGS, http, creds)
        rec = Reconciler(finder, provider_client, publish, SETTINGS, lambda: NOW, creds)
        count = await rec.run_once()
    return count, published, requests, finder


def open_call(call_id, provider="twilio", account=AC1):
    return OpenCall(call_id, "acme", provider, account, "in-progress", NOW)


async def test_a_finished_twilio_call_gets_its_final_status_event() -> None:
    count, published, requests, finder = await run([open_call("CA-done")])
    assert count == 1
    [(event, key)] = published
    assert key == "CA-done" and event.tenant == "acme"
    data = event.data
    assert isinstance(data, CallStatusChanged)
    assert (data.status.value, data.duration_s, data.to_number) == ("completed", 42, "+1600")
    assert data.occurred_at == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    auth = requests[0].headers["authorization"]
    assert auth == "Basic " + base64.b64encode(f"{AC1}:{TOKEN}".encode()).decode()
    assert finder.asked[2] == SETTINGS.batch_limit


async def test_the_event_id_is_deterministic() -> None:
    _, first, _, _ = await run([open_call("CA-done")])
    _, again, _, _ = await run([open_call("CA-done")])
    assert first[0][0].id == again[0][0].id


async def test_live_unknown_failing_or_unauthorised_calls_emit_nothing() -> None:
    calls = [
        open_call("CA-live"),
        open_call("CA-gone"),
        open_call("CA-flaky"),
        open_call("CA-other", account="AC-unknown"),
        open_call("el-1", provider="elevenlabs"),
    ]
    count, published, requests, _ = await run(calls)
    assert (count, published) == (0, [])
    assert len(requests) == 3  # no request without credentials or a lookup API


async def test_a_vapi_call_maps_its_ended_reason() -> None:
    count, published, requests, _ = await run([open_call("v-1", provider="vapi", account=None)])
    assert count == 1
    data = published[0][0].data
    assert (data.provider, data.status.value, data.duration_s) == ("vapi", "no-answer", 30)
    assert requests[0].headers["authorization"] == f"Bearer {VKEY}"
    assert str(requests[0].url) == "http://vapi.test/call/v-1"
    assert json.loads(published[0][0].data.model_dump_json())["raw"] == {"reconciled": "true"}


async def test_rounds_move_past_calls_the_provider_cannot_resolve() -> None:
    settings = SETTINGS.model_copy(update={"batch_limit": 2})
    calls = [open_call("CA-gone"), open_call("CA-other", account="AC-unknown")]
    finder = FakeOpenCalls(calls)

    async def publish(event, key):
        raise AssertionError("nothing to publish")

    async with httpx.AsyncClient(transport=provider([])) as http:
        creds = credentials()
        rec = Reconciler(
            finder, ProviderClient(settings, http, creds), publish, settings, lambda: NOW, creds
        )
        await rec.run_once()
        assert finder.asked[3] is None
        await rec.run_once()  # a full page: the next round starts after its last call
        assert finder.asked[3] == (NOW, "CA-other")
        finder.calls = calls[:1]
        await rec.run_once()
        await rec.run_once()  # a short page: back to the start
        assert finder.asked[3] is None


class FakeCalls(FakeOpenCalls):
    def __init__(self, reported=()):
        super().__init__([])
        self.reported = set(reported)
        self.asked_reported = []

    async def reported_conversations(self, ids, seen_after):
        self.asked_reported.append(list(ids))
        return self.reported & set(ids)


def conversation_row(cid, status="done", start=None, duration=60):
    start = NOW.timestamp() - 600 if start is None else start
    return {
        "conversation_id": cid,
        "status": status,
        "start_time_unix_secs": int(start),
        "call_duration_secs": duration,
    }


def elevenlabs(pages, requests, broken=()):
    """The conversations API: ``pages`` of list rows, cursor = page index; fetch by id."""

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.headers.get("xi-api-key") != XI:
            return httpx.Response(401)
        path = request.url.path
        if path == "/v1/convai/conversations":
            i = int(request.url.params.get("cursor", 0))
            more = i + 1 < len(pages)
            return httpx.Response(
                200,
                json={
                    "conversations": pages[i],
                    "has_more": more,
                    "next_cursor": str(i + 1) if more else None,
                },
            )
        cid = path.rsplit("/", 1)[-1]
        if cid in broken:
            return httpx.Response(500)
        row = next((r for page in pages for r in page if r["conversation_id"] == cid), None)
        if row is None:
            return httpx.Response(404)
        return httpx.Response(
            200,
            json={
                "conversation_id": cid,
                "agent_id": "agent-1",
                "status": row["status"],
                "failure_reason": "busy line" if row["status"] == "failed" else None,
                "transcript": [{"role": "agent", "message": "hi"}, {"role": "user"}],
                "metadata": {
                    "start_time_unix_secs": row["start_time_unix_secs"],
                    "call_duration_secs": row["call_duration_secs"],
                    "phone_call": {"call_sid": "CA-" + cid, "external_number": "+1700"},
                },
                "analysis": {"call_successful": "failure", "transcript_summary": "s"},
            },
        )

    return httpx.MockTransport(handle)


async def sweep(pages, reported=(), broken=(), config=None, **settings):
    el = SETTINGS.model_copy(
        update={"elevenlabs_base_url": "http://el.test", "grace_s": 300, **settings}
    )
    creds = credentials(config or InMemoryConfig(entities(elevenlabs=True)))
    requests, published = [], []

    async def publish(event, key):
        published.append(event)

    calls = FakeCalls(reported)
    async with httpx.AsyncClient(transport=elevenlabs(pages, requests, broken)) as http:
        rec = Reconciler(calls, ProviderClient(el, http, creds), publish, el, lambda: NOW, creds)
        count = await rec.run_once()
    assert count == len(published)
    return published, requests, calls


async def test_elevenlabs_conversations_without_a_report_are_fetched_across_pages() -> None:
    pages = [
        [conversation_row("c-1"), conversation_row("c-live", status="in-progress")],
        [conversation_row("c-2", status="failed"), conversation_row("c-known")],
        [conversation_row("c-recent", start=NOW.timestamp() - 200)],  # ended < grace ago
    ]
    published, requests, calls = await sweep(pages, reported={"c-known"})
    assert [e.subject for e in published] == ["c-1", "c-2"]
    assert calls.asked_reported == [["c-1"], ["c-2", "c-known"]]
    done, failed = (e.data for e in published)
    assert (done.provider, done.status.value, done.telephony_call_id) == (
        "elevenlabs",
        "completed",
        "CA-c-1",
    )
    assert (done.duration_s, done.transcript, done.successful, done.agent_id) == (
        60,
        "agent: hi",
        False,
        "agent-1",
    )
    assert done.occurred_at == datetime.fromtimestamp(NOW.timestamp() - 540, UTC)
    assert (failed.status.value, failed.ended_reason) == ("failed", "busy line")
    assert all(e.tenant == "acme" and e.data.raw["reconciled"] == "true" for e in published)
    first = requests[0].url.params
    assert int(first["call_start_after_unix"]) == int(NOW.timestamp()) - 3 * 86400
    assert first["page_size"] == "100"
    assert [r.url.params.get("cursor") for r in requests if r.url.path.endswith("ations")] == [
        None,
        "1",
        "2",
    ]


async def test_elevenlabs_sweep_is_bounded_and_survives_provider_errors() -> None:
    pages = [[conversation_row(f"c-{i}") for i in range(5)]]
    published, requests, _ = await sweep(pages, broken={"c-0"}, batch_limit=3)
    assert [e.subject for e in published] == ["c-1", "c-2"]  # c-0 failed: next round
    assert len(requests) == 1 + 3  # the list, then 3 fetches (c-0's failure counts)
    published, _, _ = await sweep(pages, batch_limit=3)
    assert [e.subject for e in published] == ["c-0", "c-1", "c-2"]
    published, requests, _ = await sweep(pages * 3, elevenlabs_page_limit=2)
    assert len([r for r in requests if r.url.path.endswith("ations")]) == 2


async def test_elevenlabs_event_ids_match_the_ingress_webhook_ids() -> None:
    published, _, _ = await sweep([[conversation_row("c-1")]])
    assert published[0].id == event_id("elevenlabs", "c-1", "post_call_transcription")


async def test_the_backlog_and_the_filled_in_endings_are_exported_as_metrics() -> None:
    from prometheus_client import REGISTRY

    def reconciled() -> float:
        labels = {"provider": "twilio"}
        return REGISTRY.get_sample_value("switchboard_history_reconciled_total", labels) or 0.0

    before = reconciled()
    count, _, _, _ = await run([open_call("CA-done"), open_call("CA-live")])
    assert count == 1
    assert REGISTRY.get_sample_value("switchboard_history_reconcile_backlog") == 2
    assert reconciled() == before + 1


async def test_a_rotated_twilio_token_is_used_by_the_next_lookup() -> None:
    config = InMemoryConfig(entities())
    _, _, requests, _ = await run([open_call("CA-done")], credentials(config))
    assert (
        requests[0]
        .headers["authorization"]
        .endswith(base64.b64encode(f"{AC1}:{TOKEN}".encode()).decode())
    )
    rotated = "rotated-auth-token-5678"
    config.put(TwilioAccount(id=AC1, tenants=("acme",), auth_tokens=(SecretStr(rotated),)))
    _, _, requests, _ = await run([open_call("CA-done")], credentials(config))
    assert (
        requests[0].headers["authorization"]
        == "Basic " + base64.b64encode(f"{AC1}:{rotated}".encode()).decode()
    )
    config.delete(f"account/twilio/{AC1}")
    count, _, requests, _ = await run([open_call("CA-done")], credentials(config))
    assert (count, requests) == (0, [])  # withdrawn: no credentials, no request


async def test_a_vapi_call_of_a_tenant_without_a_key_is_not_looked_up() -> None:
    other = OpenCall("v-1", "globex", "vapi", None, "in-progress", NOW)
    count, _, requests, _ = await run([other])
    assert (count, requests) == (0, [])


async def test_a_shared_workspace_files_each_conversation_under_its_agents_tenant() -> None:
    shared = ElevenLabsAccount(
        id="ws-shared",
        tenants=("acme", "globex"),
        webhook_secrets=(SECRET,),
        api_keys=(SecretStr(XI),),
    )
    config = InMemoryConfig([shared])
    # agent-1 is nobody's yet: on a workspace of two tenants, that is no one's to claim
    published, _, _ = await sweep([[conversation_row("c-1")]], config=config)
    assert published == []
    config.put(
        Channel(kind="elevenlabs-agent", id="agent-1", tenant="globex", account_id="ws-shared")
    )
    published, _, _ = await sweep([[conversation_row("c-1")]], config=config)
    assert [(e.subject, e.tenant) for e in published] == [("c-1", "globex")]
