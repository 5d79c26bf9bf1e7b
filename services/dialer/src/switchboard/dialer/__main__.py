"""``switchboard-dialer api|worker|migrate``."""

import typer

from switchboard.common.cli import migrate_command, run_app
from switchboard.dialer.migrate import migrate as apply_migrations
from switchboard.dialer.settings import get_settings

cli = typer.Typer(help="Switchboard dialer: outbound call campaigns.", no_args_is_help=True)


@cli.command()
def api() -> None:
    """Serve the campaigns API (SWITCHBOARD_API__HOST / __PORT, default 8002)."""
    http = get_settings().api
    run_app("switchboard.dialer.app:api_from_env", host=http.host, port=http.port)


@cli.command()
def worker() -> None:
    """Dial: claim, pace, place, record; health on SWITCHBOARD_HTTP__PORT (default 8005)."""
    http = get_settings().http
    run_app("switchboard.dialer.app:worker_from_env", host=http.host, port=http.port)


@cli.command()
def migrate() -> None:
    """Create the database if needed and apply pending migrations."""
    settings = get_settings()
    migrate_command(settings, lambda: apply_migrations(settings.postgres, settings.database))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
