"""``switchboard-chaos run``: faults on purpose under load (``make chaos``)."""

import asyncio
import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from switchboard.chaos.options import ChaosOptions, Mix
from switchboard.chaos.report import print_report, write
from switchboard.chaos.run import run as run_chaos
from switchboard.chaos.schedule import SCHEDULES, layout, schedule_for
from switchboard.chaos.system import write_results as write_system
from switchboard.common.logging import configure_logging
from switchboard.common.settings import LogSettings

cli = typer.Typer(help="Faults on purpose under load, judged from the providers' records.")
ROOT = Path(__file__).resolve().parents[5]


@cli.command()
def run(
    schedule: str = typer.Option("full", help=f"One of {', '.join(SCHEDULES)}."),
    rate: float = typer.Option(150.0, help="Provider events per second (webhooks, distinct)."),
    duration: float = typer.Option(900.0, help="Seconds of traffic; faults spread over them."),
    whatsapp_share: float = typer.Option(0.02, help="Share of events from AI-answered messages."),
    campaign_share: float = typer.Option(0.02, help="Share of events from the dialer campaign."),
    local_dir: Annotated[
        Path | None, typer.Option(help="The stack's directory (default .local/chaos).")
    ] = None,
    root: Annotated[Path, typer.Option(help="The repository (scripts/, bench/, docs/).")] = ROOT,
    brokers: int = typer.Option(
        1, help="Kafka brokers: 1, or 3 (a cluster; the schedule also kills one broker)."
    ),
    write_results: bool = typer.Option(
        True, help="Write bench/results/chaos.json and docs/benchmarks.md."
    ),
) -> None:
    """Start an isolated stack, drive traffic through it while the schedule breaks its parts,
    and report what the providers were told against what the stores hold. Exit 1 unless every
    zero holds."""
    if schedule not in SCHEDULES:
        raise typer.BadParameter(f"unknown schedule {schedule!r}")
    options = ChaosOptions(
        root=root.resolve(),
        schedule=schedule,
        rate=rate,
        duration_s=duration,
        local_dir=local_dir.resolve() if local_dir else None,
        mix=Mix(whatsapp_share=whatsapp_share, campaign_share=campaign_share),
        brokers=brokers,
        write_results=write_results,
    )
    if brokers not in (1, 3):
        raise typer.BadParameter("--brokers is 1 or 3")
    try:
        layout(schedule_for(schedule, brokers), duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    configure_logging(LogSettings(level="INFO", json_output=False), "chaos")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    outcome = asyncio.run(run_chaos(options))
    console = Console()
    print_report(console, outcome.report, options, outcome.elapsed_s, outcome.cpu_s)
    if options.write_results:
        command = " ".join(["switchboard-chaos run", shlex.join(sys.argv[2:])]).strip()
        console.print(f"results: {write(outcome.report, options, command, outcome.cpu_s)}")
    console.print(
        f"stack data and logs: {outcome.stack_dir} (every lost event: chaos-details.json)"
    )
    raise typer.Exit(1 if outcome.report.failures() else 0)


@cli.command()
def system(
    rate: float = typer.Option(2000.0, help="Provider events per second (webhooks, distinct)."),
    duration: float = typer.Option(300.0, help="Seconds of traffic."),
    whatsapp_share: float = typer.Option(0.02, help="Share of events from AI-answered messages."),
    campaign_share: float = typer.Option(0.02, help="Share of events from the dialer campaign."),
    local_dir: Annotated[
        Path | None, typer.Option(help="The stack's directory (default .local/chaos).")
    ] = None,
    root: Annotated[Path, typer.Option(help="The repository (scripts/, bench/, docs/).")] = ROOT,
) -> None:
    """``make bench-system``: the chaos stack and traffic with no fault, reported as a
    benchmark (bench/results/system.json): sustained webhooks/s, webhook → stored row
    percentiles, nothing lost, the CPU split per process. Exit 1 if anything was lost."""
    options = ChaosOptions(
        root=root.resolve(),
        schedule="calm",
        rate=rate,
        duration_s=duration,
        local_dir=local_dir.resolve() if local_dir else None,
        mix=Mix(whatsapp_share=whatsapp_share, campaign_share=campaign_share),
        write_results=False,
    )
    configure_logging(LogSettings(level="INFO", json_output=False), "chaos")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    outcome = asyncio.run(run_chaos(options))
    console = Console()
    print_report(console, outcome.report, options, outcome.elapsed_s, outcome.traffic_cpu_s)
    command = " ".join(["switchboard-chaos system", shlex.join(sys.argv[2:])]).strip()
    path = write_system(outcome.report, options, command, outcome.traffic_cpu_s)
    console.print(f"results: {path}")
    raise typer.Exit(1 if outcome.report.failures() else 0)


@cli.command()
def plan(
    schedule: str = typer.Option("full", help=f"One of {', '.join(SCHEDULES)}."),
    duration: float = typer.Option(900.0, help="Seconds of traffic."),
    brokers: int = typer.Option(1, help="Kafka brokers (3 adds the broker kill)."),
) -> None:
    """Print when each fault of a schedule would hit."""
    for fault in layout(schedule_for(schedule, brokers), duration):
        typer.echo(f"{fault.at_s:7.1f} s  {fault.name} for {fault.duration_s:g} s")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
