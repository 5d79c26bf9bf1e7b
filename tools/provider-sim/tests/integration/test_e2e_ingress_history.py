"""Simulator → real ingress → real Kafka → real history worker → PostgreSQL.

With duplicate and out-of-order delivery switched on, history ends with exactly the
simulator's calls, each in the final state the simulator gave it.
"""

import asyncio

import asyncpg
import httpx
import pytest
from twilio.rest import Client

from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CALLS = 40
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


async def rows(
    pg: PostgresSettings, database: str, query: str, *args: object
) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_history_converges_to_the_simulators_calls_despite_duplicates_and_reordering(
    stack, pg_settings: PostgresSettings
) -> None:
    control = httpx.AsyncClient(base_url=stack.sim.url, timeout=30)
    reset = await control.post(
        "/_sim/reset", json={"faults": {"duplicate_rate": 0.5, "out_of_order_rate": 0.5}}
    )
    assert reset.status_code == 200

    client = Client(stack.account, stack.token)
    client.api.base_url = stack.sim.url
    callback = stack.ingress.url + stack.ingress_path

    def place_calls() -> list[str]:
        return [
            client.calls.create(
                to=f"+1415555{i:04d}",
                from_="+15005550006",
                url="http://example.invalid/twiml",
                status_callback=callback,
                status_callback_event=ALL_EVENTS,
            ).sid
            for i in range(CALLS)
        ]

    sids = await asyncio.to_thread(place_calls)

    async def sim_idle() -> bool:
        return (await control.get("/_sim/stats")).json()["pending_tasks"] == 0

    await eventually(sim_idle, timeout_s=120)
    sim_calls = {c["sid"]: c for c in (await control.get("/_sim/calls")).json()}
    assert set(sim_calls) == set(sids)
    stats = (await control.get("/_sim/stats")).json()
    counters = stats["counters"]
    assert counters["webhook.duplicated"] > 0 and counters["webhook.reordered"] > 0
    assert counters.get("webhook.failed", 0) == 0  # the ingress acknowledged every callback
    expected = {sid: c["status"] for sid, c in sim_calls.items()}
    distinct_callbacks = sum(c["callbacks_sent"] for c in sim_calls.values())

    async def history_matches() -> bool:
        stored = await rows(
            pg_settings,
            stack.database,
            "SELECT call_id, status FROM calls WHERE call_id = ANY($1::text[])",
            sids,
        )
        return {r["call_id"]: r["status"] for r in stored} == expected

    await eventually(history_matches, timeout_s=120)
    [events] = await rows(
        pg_settings,
        stack.database,
        "SELECT count(*) AS n FROM call_events WHERE call_id = ANY($1::text[])",
        sids,
    )
    assert events["n"] == distinct_callbacks  # every duplicate was dropped
    [tenants] = await rows(
        pg_settings,
        stack.database,
        "SELECT array_agg(DISTINCT tenant_id) AS t, array_agg(DISTINCT account_id) AS a"
        " FROM calls WHERE call_id = ANY($1::text[])",
        sids,
    )
    assert tenants["t"] == ["sim-e2e"] and tenants["a"] == [stack.account]
    await control.aclose()
