"""``switchboard-lag-exporter serve``."""

import typer

from switchboard.common.cli import run_app
from switchboard.lagexporter.settings import get_settings

cli = typer.Typer(help="Kafka consumer lag of Switchboard's groups.", no_args_is_help=True)


@cli.command()
def serve() -> None:
    """Serve /metrics, /health and /ready (SWITCHBOARD_HTTP__HOST / __PORT, default 8011)."""
    http = get_settings().http
    run_app("switchboard.lagexporter.app:app_from_env", host=http.host, port=http.port)


@cli.callback()
def _root() -> None:
    """One command (typer would otherwise run it without its name)."""


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
