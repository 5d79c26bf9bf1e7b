"""``switchboard-ingress serve``: run the ingress under uvicorn;
``switchboard-ingress spool list|show|requeue|export``: the spool's dead letters."""

import typer

from switchboard.common.cli import run_app
from switchboard.ingress.settings import get_settings
from switchboard.ingress.spool_cli import spool

cli = typer.Typer(
    help="Switchboard ingress: verified provider webhooks → Kafka.", no_args_is_help=True
)

cli.add_typer(spool, name="spool")


@cli.command()
def serve() -> None:
    """Serve the webhooks (host, port and workers from SWITCHBOARD_HTTP__*)."""
    http = get_settings().http
    run_app(
        "switchboard.ingress.app:app_from_env", host=http.host, port=http.port, workers=http.workers
    )


@cli.command()
def version() -> None:
    """Print the version."""
    typer.echo("switchboard-ingress 0.1.0")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
