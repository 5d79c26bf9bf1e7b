"""``switchboard-history worker|migrate``."""

import typer
import uvicorn

from switchboard.common.logging import configure_logging
from switchboard.history.migrate import migrate as apply_migrations
from switchboard.history.settings import get_settings

cli = typer.Typer(help="Switchboard call history.", no_args_is_help=True)


@cli.command()
def worker() -> None:
    """Consume call and message events into PostgreSQL (health on SWITCHBOARD_HTTP__PORT)."""
    http = get_settings().http
    uvicorn.run(
        "switchboard.history.app:worker_from_env",
        factory=True,
        host=http.host,
        port=http.port,
        log_config=None,
        access_log=False,
    )


@cli.command()
def migrate() -> None:
    """Create the database if needed and apply pending migrations."""
    settings = get_settings()
    configure_logging(settings.log, f"{settings.service_name}-migrate")
    count = apply_migrations(settings.postgres, settings.database)
    typer.echo(f"applied {count} migration(s)")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
