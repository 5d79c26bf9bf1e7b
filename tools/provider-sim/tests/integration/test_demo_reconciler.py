"""``make up``'s reconciler: with scripts/local/history.env the history worker asks the simulator
for the end of every call whose final callback was lost, and the demo reports how many it
closed."""

import io
import re

import asyncpg
import pytest
from rich.console import Console

from switchboard.common.settings import PostgresSettings
from switchboard.providersim.demo import RECONCILED_SQL, DemoOptions, run_demo
from switchboard.providersim.settings import LOCAL_ACCOUNT, LOCAL_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_the_reconciler_closes_every_call_whose_final_callback_was_lost(
    stack, pg_settings: PostgresSettings
) -> None:
    out = io.StringIO()
    options = DemoOptions(
        calls=40,
        ingress_url=stack.ingress.url,
        sim_url=stack.sim.url,
        account_sid=LOCAL_ACCOUNT,
        auth_token=LOCAL_TOKEN,
        caller_id=stack.local_caller_id,
        database=stack.database,
        drop_final_rate=0.25,
        timeout_s=150,
        whatsapp_messages=0,
    )
    ok = await run_demo(options, pg_settings, Console(file=out, width=140))
    report = out.getvalue()
    assert ok, report
    found = re.search(r"closed by the reconciler\D+(\d+) / (\d+)", report)
    assert found, report
    lost, closed = map(int, found.groups())
    assert lost > 0 and closed == lost, report

    conn = await asyncpg.connect(pg_settings.dsn(stack.database))
    try:
        open_calls = await conn.fetch("SELECT call_id, status FROM calls WHERE status_rank < 4")
        every = [r["call_id"] for r in await conn.fetch("SELECT call_id FROM calls")]
        reconciled = await conn.fetchval(RECONCILED_SQL, every)
    finally:
        await conn.close()
    assert len(every) == options.calls  # this module's database holds only the demo's calls
    assert open_calls == []
    assert reconciled == lost
