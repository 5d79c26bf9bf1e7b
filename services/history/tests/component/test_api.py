"""The API factory with a fake reader: auth, tenant binding, error mapping (no database)."""

from datetime import UTC, datetime, timedelta

from litestar.testing import AsyncTestClient

from switchboard.common.auth import Audience, LocalSigner, Scope, unguarded_routes
from switchboard.history.app import create_api
from switchboard.history.errors import StoreUnavailableError
from switchboard.history.schemas import CallPage, CallSummary
from switchboard.history.settings import ApiSettings, HistorySettings

SIGNER = LocalSigner()


class FakeTenantHistory:
    def __init__(self, tenant, log, down):
        self.tenant, self.log, self.down = tenant, log, down

    async def list_calls(self, filters, limit, cursor):
        if self.down:
            raise StoreUnavailableError("database down")
        self.log.append((self.tenant, filters, limit, cursor))
        return CallPage(items=[], next_cursor=None)

    async def get_call(self, call_id):
        return None

    async def export_calls(self, filters):
        yield ("CA1", "twilio", "completed", None, None, None, datetime(2026, 1, 1, tzinfo=UTC))

    async def list_conversations(self, since, until, limit, cursor): ...

    async def list_messages(self, conversation_id, limit, cursor):
        return None

    async def stats(self, filters): ...


class FakeReader:
    def __init__(self, down=False):
        self.log, self.down = [], down

    def for_tenant(self, tenant):
        return FakeTenantHistory(tenant, self.log, self.down)

    async def is_ready(self):
        return not self.down


def settings():
    return HistorySettings(auth=SIGNER.settings(), api=ApiSettings(default_limit=7, max_limit=9))


def bearer(token):
    return {"authorization": f"Bearer {token}"}


ACME = bearer(SIGNER.token("acme", Audience.HISTORY))


async def test_the_reader_is_bound_to_the_tokens_tenant_only() -> None:
    reader = FakeReader()
    async with AsyncTestClient(create_api(settings(), reader=reader)) as client:
        r = await client.get(
            "/v1/calls",
            headers=ACME,
            params={"tenant": "globex"},
        )
        assert r.status_code == 200
        assert r.json() == {"items": [], "next_cursor": None}
        r = await client.get(
            "/v1/calls",
            headers=ACME,
            params={"limit": 10},
        )
        assert r.status_code == 400 and "at most 9" in r.json()["detail"]
    [(tenant, _, limit, cursor)] = reader.log
    assert (tenant, limit, cursor) == ("acme", 7, None)


async def test_operator_other_audience_expired_or_unscoped_tokens_are_refused() -> None:
    operator = SIGNER.token(None, Audience.HISTORY)
    dialer = SIGNER.token("acme", Audience.DIALER)
    expired = SIGNER.token("acme", Audience.HISTORY, ttl=timedelta(minutes=-5))
    unscoped = SIGNER.token("acme", Audience.HISTORY, scopes=[])
    async with AsyncTestClient(create_api(settings(), reader=FakeReader())) as client:
        assert (await client.get("/v1/calls", headers=bearer(operator))).status_code == 403
        for token in (dialer, expired):
            assert (await client.get("/v1/calls", headers=bearer(token))).status_code == 401
        refused = await client.get("/v1/stats", headers=bearer(unscoped))
        assert refused.status_code == 403 and "history:read" in refused.text
        # reading is not deleting: a history:read token cannot delete a recording
        reader = SIGNER.token("acme", Audience.HISTORY, scopes=[Scope.HISTORY_READ])
        gone = await client.delete("/v1/calls/CA1/recordings/RE1", headers=bearer(reader))
        assert gone.status_code == 403 and "history:write" in gone.text


def test_every_route_asks_for_a_scope() -> None:
    assert unguarded_routes(create_api(settings(), reader=FakeReader())) == []


async def test_a_database_outage_is_a_503_and_not_ready() -> None:
    async with AsyncTestClient(create_api(settings(), reader=FakeReader(down=True))) as client:
        r = await client.get("/v1/calls", headers=ACME)
        assert (r.status_code, r.headers["retry-after"]) == (503, "5")
        assert (await client.get("/ready")).status_code == 503


async def test_csv_has_a_header_and_iso_times() -> None:
    async with AsyncTestClient(create_api(settings(), reader=FakeReader())) as client:
        r = await client.get("/v1/calls/export.csv", headers=ACME)
    lines = r.text.splitlines()
    assert lines[0].startswith("call_id,provider,status")
    assert lines[1] == "CA1,twilio,completed,,,,2026-01-01T00:00:00+00:00"


async def test_csv_names_its_columns_as_the_json_list_does_with_one_charset() -> None:
    async with AsyncTestClient(create_api(settings(), reader=FakeReader())) as client:
        r = await client.get("/v1/calls/export.csv", headers=ACME)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.text.splitlines()[0].split(",") == list(CallSummary.model_fields)
