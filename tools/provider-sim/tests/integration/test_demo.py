"""The ``demo`` scenario end to end (small): every distinct event sent is stored once."""

import io
import re

import pytest
from rich.console import Console

from switchboard.common.settings import PostgresSettings
from switchboard.providersim.demo import DemoOptions, run_demo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_demo_ends_with_events_sent_equal_to_events_stored(
    stack, pg_settings: PostgresSettings
) -> None:
    out = io.StringIO()
    options = DemoOptions(
        calls=60,
        ingress_url=stack.ingress.url,
        account_sid=stack.account,
        auth_token=stack.token,
        database=stack.database,
        duplicate_rate=0.3,
        out_of_order_rate=0.3,
        drop_final_rate=0.0,  # this account is not the reconciler's: test_demo_reconciler
        timeout_s=120,
        whatsapp_messages=40,
    )
    ok = await run_demo(options, pg_settings, Console(file=out, width=120))
    report = out.getvalue()
    assert ok, report
    assert "events sent == events stored" in report
    assert "p50 / p99" in report
    assert "whatsapp messages sent / stored" in report
    assert "40 / 40" in report
    # Measured per event from the delivery records: nothing acknowledged is missing, and the
    # duplicates the ingress accepted were all dropped by history.
    for provider in ("twilio call status", "whatsapp inbound"):
        missing = re.search(
            rf"{provider}: stored / acknowledged but missing\D+(\d+) / (\d+)", report
        )
        assert missing and missing.group(2) == "0", report
        dups = re.search(
            rf"{provider}: duplicates sent / accepted / dropped by history\D+(\d+) / (\d+) / (\d+)",
            report,
        )
        assert dups, report
        _, accepted, dropped = map(int, dups.groups())
        assert accepted == dropped
    twilio = re.search(
        r"twilio call status: duplicates sent / accepted / dropped by history\D+(\d+) / (\d+)",
        report,
    )
    assert twilio and int(twilio.group(2)) > 0, report  # duplicate_rate 0.3
