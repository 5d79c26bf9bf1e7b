"""``make bench-system``: the whole stack at a sustained rate with no fault (the calm schedule),
judged as a chaos run is (the simulator's records against the stores), reported as a benchmark:
``bench/results/system.json`` and its rows in ``docs/benchmarks.md``, with the CPU split per
process (servers included) over the traffic window."""

import os
from pathlib import Path

from switchboard.bench.report import Result, result, write
from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.report import events_per_s, latency_line
from switchboard.chaos.verify import Report

NAME = "system"


def cpu_results(traffic_cpu_s: dict[str, float], traffic_s: float, command: str) -> list[Result]:
    """Cores each process used while the traffic flowed, busiest first; the total against the
    box's cores."""
    if traffic_s <= 0:
        return []
    rows = [
        result(f"CPU: {name}", seconds / traffic_s, "cores", baseline=None, command=command)
        for name, seconds in sorted(traffic_cpu_s.items(), key=lambda kv: -kv[1])
    ]
    total = sum(traffic_cpu_s.values()) / traffic_s
    cores = float(os.cpu_count() or 1)
    rows.append(
        result("CPU: every process of the stack", total, "cores", baseline=cores, command=command)
    )
    return rows


def results(
    r: Report, options: ChaosOptions, command: str, traffic_cpu_s: dict[str, float]
) -> list[Result]:
    out = [
        result(
            "webhooks/s sustained (distinct provider events, every service running)",
            events_per_s(r),
            "events/s",
            baseline=options.rate,
            command=command,
            target="≥ 2,000 (baseline: the rate asked)",
        ),
        result(
            "acknowledged but not stored",
            r.acknowledged_not_stored,
            "events",
            baseline=None,
            command=command,
            target="0",
        ),
        result("answers not 2xx", r.refused, "answers", baseline=None, command=command, target="0"),
    ]
    lat = r.latency_outside
    for q, value in (("p50", lat.p50_ms), ("p95", lat.p95_ms), ("p99", lat.p99_ms)):
        if value is not None:
            target = "< 500 ms" if q == "p95" else ""
            out.append(
                result(
                    f"webhook → stored row {q}",
                    value,
                    "ms",
                    baseline=None,
                    command=command,
                    target=target,
                )
            )
    return out + cpu_results(traffic_cpu_s, r.traffic_s, command)


def context(r: Report, options: ChaosOptions) -> dict[str, str]:
    return {
        "run": f"{r.traffic_s:.0f} s of traffic at {options.rate:g} events/s asked "
        f"({options.mix.whatsapp_share:.0%} AI-answered WhatsApp, "
        f"{options.mix.campaign_share:.0%} dialer campaign, the rest inbound call callbacks "
        "with duplicates and reordering); no fault",
        "stack": "its own Kafka, PostgreSQL, Redis, FerretDB (scripts/infra) and every service "
        "as a real process on this box, the provider simulator (the load generator and "
        "referee) included: they share the box's cores",
        "latency": "webhook first sent by the simulator → its row stored (history's stored_at): "
        + latency_line(r.latency_outside),
        "failures": "; ".join(r.failures()) or "none",
    }


def write_results(
    r: Report, options: ChaosOptions, command: str, traffic_cpu_s: dict[str, float]
) -> Path:
    return write(
        options.root, NAME, results(r, options, command, traffic_cpu_s), context(r, options)
    )
