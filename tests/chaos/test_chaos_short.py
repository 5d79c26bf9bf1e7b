"""The short chaos schedule on an isolated stack of its own (``make test``): kill -9 and restart
of the ingress and the history worker, Kafka down 30 s, PostgreSQL restarted, poison on every
topic, under steady traffic. Every zero of the report must hold; latency is reported, never
asserted (the box is shared)."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.report import print_report
from switchboard.chaos.run import run

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(2400)
async def test_the_short_schedule_loses_nothing_and_doubles_nothing() -> None:
    options = ChaosOptions(
        root=ROOT,
        schedule="short",
        rate=50,
        duration_s=200,
        local_dir=ROOT / ".local" / "chaos-test",
        write_results=False,
    )
    outcome = await run(options)
    out = io.StringIO()
    print_report(
        Console(file=out, width=160), outcome.report, options, outcome.elapsed_s, outcome.cpu_s
    )
    report = outcome.report
    assert report.events > 0.5 * options.rate * options.duration_s, out.getvalue()  # it flowed
    assert report.acknowledged > 0.9 * report.events, out.getvalue()
    assert [f.name for f in report.faults] == [
        "kill ingress",
        "kill history",
        "kafka-down",
        "restart postgres",
        "poison",
    ]
    assert len(report.poison) == 16, out.getvalue()  # 5 topics x 3 poisons, and the webhook
    assert report.finals_dropped > 0 and report.dials > 0 and report.messages_in > 0
    assert report.failures() == [], out.getvalue()
