"""The report: a table on the console, ``bench/results/chaos.json`` (the figures in the shape
every bench writes, plus the per-fault and poison detail) and the chaos section of
``docs/benchmarks.md`` (rebuilt by ``switchboard.bench.report`` from every results
file)."""

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from switchboard.bench.report import Result, machine, rebuild_table, result
from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.verify import Latency, Report


def events_per_s(r: Report) -> float:
    """Distinct events per second of traffic."""
    return r.events / r.traffic_s if r.traffic_s else 0.0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def latency_line(lat: Latency) -> str:
    return f"{_ms(lat.p50_ms)} / {_ms(lat.p95_ms)} / {_ms(lat.p99_ms)} ms (n={lat.count})"


def summary_rows(r: Report, options: ChaosOptions, elapsed_s: float) -> list[tuple[str, str]]:
    return [
        (
            "schedule / rate asked / traffic",
            f"{options.schedule} / {options.rate:g}/s / {r.traffic_s:.0f} s",
        ),
        ("provider events sent (distinct)", f"{r.events} ({events_per_s(r):.0f}/s)"),
        ("acknowledged / never acknowledged", f"{r.acknowledged} / {r.unacknowledged}"),
        ("answers not 2xx / attempts unanswered", f"{r.refused} / {r.unanswered}"),
        (
            "acknowledged but not stored",
            str(r.acknowledged_not_stored)
            + (
                f" ({r.lost_on_kafka} of {len(r.lost)} on Kafka)"
                if r.lost_on_kafka is not None
                else ""
            ),
        ),
        ("duplicate rows", str(sum(r.duplicate_rows.values()))),
        ("dials / numbers dialled twice", f"{r.dials} / {r.numbers_dialled_twice}"),
        (
            "messages in / customers answered twice",
            f"{r.messages_in} / {r.customers_answered_twice}",
        ),
        ("acknowledged messages never answered", str(r.acknowledged_never_answered)),
        ("calls / still live at the simulator", f"{r.calls} / {r.calls_still_live}"),
        ("calls without a final state (open + missing)", f"{r.calls_open} + {r.calls_missing}"),
        ("calls in another final state", str(r.calls_wrong_final)),
        (
            "final callbacks lost / calls closed by the reconciler",
            f"{r.finals_dropped} / {r.calls_reconciled}",
        ),
        ("webhook → row p50/p95/p99 outside faults", latency_line(r.latency_outside)),
        ("webhook → row p50/p95/p99 inside faults", latency_line(r.latency_inside)),
        (
            "poison markers in their store within 5 s",
            f"{sum(p.ok for p in r.poison)} / {len(r.poison)}",
        ),
        ("after the traffic", r.settled),
        ("elapsed (s)", f"{elapsed_s:.0f}"),
    ]


def print_report(
    console: Console,
    r: Report,
    options: ChaosOptions,
    elapsed_s: float,
    cpu_s: dict[str, float] | None = None,
) -> None:
    table = Table(title="chaos")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in summary_rows(r, options, elapsed_s):
        table.add_row(name, value)
    console.print(table)
    console.print(faults_table(r))
    if r.poison:
        console.print(poison_table(r))
    samples = {
        "acknowledged but not stored": r.not_stored_samples,
        "numbers dialled twice": r.double_dial_samples,
        "customers answered twice": r.answered_twice_samples,
        "never answered": r.never_answered_samples,
        "calls left open": r.open_samples,
        "duplicate rows": [f"{k}: {v}" for k, v in r.duplicate_rows.items() if v],
    }
    for name, lines in samples.items():
        if lines:
            console.print(f"[yellow]{name}[/]: " + ", ".join(lines))
    if cpu_s:
        console.print("CPU seconds per service (per 1,000 events): " + cpu_line(cpu_s, r.events))
    failures = r.failures()
    console.print(
        "[green]every zero holds[/]" if not failures else "[red]FAILED: " + "; ".join(failures)
    )


def faults_table(r: Report) -> Table:
    table = Table(title="faults: time to recover (s, from the fault's end)")
    for column in (
        "at",
        "fault",
        "ready",
        "events caught up",
        "lost",
        "not 2xx",
        "AI caught up",
        "next dial",
        "error",
    ):
        table.add_column(column)
    for f in r.faults:
        table.add_row(
            f"{f.at_s:.0f}",
            f"{f.name} ({f.duration_s:g} s)",
            _s(f.ready_s),
            _s(f.caught_up_s),
            str(f.not_stored),
            str(f.refused),
            _s(f.replies_caught_up_s),
            _s(f.next_dial_s),
            f.error[:80],
        )
    return table


def poison_table(r: Report) -> Table:
    table = Table(title="poison: marker after each (s)")
    for column in ("topic", "poison", "stored", "consumed by every group", "note"):
        table.add_column(column)
    for p in r.poison:
        table.add_row(p.topic, p.poison, _s(p.stored_s), _s(p.consumed_s), p.note[:90])
    return table


def results(r: Report, options: ChaosOptions, command: str) -> list[Result]:
    def zero(metric: str, value: float, unit: str) -> Result:
        return result(metric, value, unit, baseline=None, command=command, target="0")

    out = [
        result(
            "provider events sent (distinct), per second of traffic",
            events_per_s(r),
            "events/s",
            baseline=options.rate,
            command=command,
            target="≥ 1,000",
        ),
        zero("acknowledged but not stored", r.acknowledged_not_stored, "events"),
        zero("duplicate rows", sum(r.duplicate_rows.values()), "rows"),
        zero("numbers dialled twice", r.numbers_dialled_twice, "numbers"),
        zero("customers answered twice", r.customers_answered_twice, "customers"),
        zero("acknowledged messages never answered", r.acknowledged_never_answered, "messages"),
        zero(
            "calls without a final state after the reconciler's grace",
            r.calls_open + r.calls_missing,
            "calls",
        ),
        zero("poison markers not stored within 5 s", sum(not p.ok for p in r.poison), "markers"),
    ]
    for where, lat in (("outside", r.latency_outside), ("inside", r.latency_inside)):
        for q, value in (("p50", lat.p50_ms), ("p95", lat.p95_ms), ("p99", lat.p99_ms)):
            if value is not None:
                target = "< 500 ms" if (where, q) == ("outside", "p95") else ""
                out.append(
                    result(
                        f"webhook → stored row {q}, {where} fault windows",
                        value,
                        "ms",
                        baseline=None,
                        command=command,
                        target=target,
                    )
                )
    return out


def cpu_line(cpu_s: dict[str, float], events: int) -> str:
    """CPU seconds per service, and per 1,000 events: where the box's cores went."""
    per = 1000 / events if events else 0.0
    return ", ".join(f"{n} {s:.0f} s ({s * per:.2f})" for n, s in sorted(cpu_s.items()))


def context(
    r: Report, options: ChaosOptions, cpu_s: dict[str, float] | None = None
) -> dict[str, Any]:
    """The lines of the docs section: the run's shape, then each fault's recovery."""
    ctx: dict[str, Any] = {
        "schedule": f"{options.schedule}: {len(r.faults)} faults over {r.traffic_s:.0f} s "
        f"of traffic at {options.rate:g} events/s asked",
        "stack": "its own Kafka, PostgreSQL, Redis, FerretDB (scripts/infra, fsync off) and "
        "every service as a real process on this box; the provider simulator is the referee",
        "judged by": "the simulator's delivery records and the stores, never the services' "
        "counters (tools/chaos/README.md)",
        "failures": "; ".join(r.failures()) or "none",
    }
    if cpu_s:
        ctx["CPU seconds per service (per 1,000 events)"] = cpu_line(cpu_s, r.events)
    for f in r.faults:
        ctx[f"fault at {f.at_s:.0f} s: {f.name} ({f.duration_s:g} s)"] = (
            f"ready {_s(f.ready_s)} s, events caught up {_s(f.caught_up_s)} s, "
            f"lost {f.not_stored}, not 2xx {f.refused}, "
            f"AI caught up {_s(f.replies_caught_up_s)} s, "
            f"next dial {_s(f.next_dial_s)} s" + (f"; error: {f.error[:120]}" if f.error else "")
        )
    late = [f"{p.topic}/{p.poison}" for p in r.poison if not p.ok]
    if r.poison:
        ctx["poison"] = (
            "every marker in its store within 5 s"
            if not late
            else ("late or lost after: " + ", ".join(late))
        )
    return ctx


def write(
    r: Report, options: ChaosOptions, command: str, cpu_s: dict[str, float] | None = None
) -> Path:
    """``bench/results/chaos.json`` and the rebuilt ``docs/benchmarks.md``."""
    path = options.root / "bench" / "results" / "chaos.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "chaos",
        "machine": machine(),
        "context": context(r, options, cpu_s),
        "results": [asdict(x) for x in results(r, options, command)],
        "faults": [asdict(f) for f in r.faults],
        "poison": [asdict(p) for p in r.poison],
        # the full lists of lost events and unanswered messages are in the stack's
        # chaos-details.json, not in a file kept in git
        "report": {
            k: v
            for k, v in asdict(r).items()
            if k not in ("faults", "poison", "lost", "unanswered_messages")
        },
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    rebuild_table(options.root)
    return path
