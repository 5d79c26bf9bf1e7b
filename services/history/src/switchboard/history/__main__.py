"""``switchboard-history worker|api|migrate|replay-dlq``."""

import asyncio

import typer

from switchboard.common.cli import migrate_command, run_app
from switchboard.common.kafka import replay_dead_letters
from switchboard.common.logging import configure_logging
from switchboard.common.topics import CALL_EVENTS
from switchboard.history.consumers import TOPICS
from switchboard.history.migrate import migrate as apply_migrations
from switchboard.history.settings import get_settings

cli = typer.Typer(help="Switchboard call history.", no_args_is_help=True)


@cli.command()
def worker() -> None:
    """Consume call and message events into PostgreSQL (health on SWITCHBOARD_HTTP__PORT)."""
    http = get_settings().http
    run_app("switchboard.history.app:worker_from_env", host=http.host, port=http.port)


@cli.command()
def api() -> None:
    """Serve the query API (SWITCHBOARD_API__HOST / SWITCHBOARD_API__PORT, default 8004)."""
    settings = get_settings().api
    run_app("switchboard.history.app:api_from_env", host=settings.host, port=settings.port)


@cli.command()
def migrate() -> None:
    """Create the database if needed and apply pending migrations."""
    settings = get_settings()
    migrate_command(settings, lambda: apply_migrations(settings.postgres, settings.database))


@cli.command("replay-dlq")
def replay_dlq(
    topic: str = typer.Option(CALL_EVENTS, help=f"One of: {', '.join(TOPICS)}."),
    limit: int | None = typer.Option(None, help="Replay at most this many dead letters."),
) -> None:
    """Re-publish what ``<topic>.dlq`` holds now to ``<topic>`` (each letter once)."""
    if topic not in TOPICS:
        raise typer.BadParameter(f"history consumes {', '.join(TOPICS)}", param_hint="--topic")
    settings = get_settings()
    configure_logging(settings.log, f"{settings.service_name}-replay")
    count = asyncio.run(
        replay_dead_letters(settings.kafka, topic, group=settings.consumer.group_id, limit=limit)
    )
    typer.echo(f"replayed {count} dead letter(s) to {topic}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
