"""``switchboard-control migrate|api|bootstrap|rotate-keys|republish|rotate-signing-key|new-key|
create-operator-key|create-api-key``."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from switchboard.common.cli import migrate_command, run_app
from switchboard.common.crypto import new_key as make_key
from switchboard.common.logging import configure_logging
from switchboard.control import bootstrap as bootstrap_file
from switchboard.control.app import Runtime, open_plane
from switchboard.control.migrate import migrate as apply_migrations
from switchboard.control.settings import get_settings

cli = typer.Typer(help="Switchboard control plane.", no_args_is_help=True)
T = TypeVar("T")


def _run(command: str, work: Callable[[Runtime], Awaitable[T]]) -> T:
    settings = get_settings()
    # Logs to stderr: stdout carries only the command's result (KEY=$(... create-api-key)).
    configure_logging(settings.log, f"{settings.service_name}-{command}", stream=sys.stderr)

    async def run() -> T:
        async with open_plane(settings) as runtime:
            return await work(runtime)

    return asyncio.run(run())


@cli.command()
def api() -> None:
    """Serve the control API, the outbox relay and housekeeping (SWITCHBOARD_HTTP__PORT, 8007)."""
    http = get_settings().http
    run_app("switchboard.control.app:api_from_env", host=http.host, port=http.port)


@cli.command()
def migrate() -> None:
    """Create the database if needed and apply pending migrations."""
    settings = get_settings()
    migrate_command(settings, lambda: apply_migrations(settings.postgres, settings.database))


@cli.command()
def bootstrap(
    file: Annotated[Path, typer.Argument(help="YAML or JSON bootstrap document")],
) -> None:
    """Apply a bootstrap file (tenants, accounts, channels) idempotently; ${VARS} expanded."""
    try:
        document = bootstrap_file.load(file)
    except bootstrap_file.BootstrapError as exc:
        typer.echo(f"bootstrap: {exc}", err=True)
        raise typer.Exit(2) from exc
    applied = _run("bootstrap", lambda rt: bootstrap_file.apply(rt.plane, document))
    typer.echo(f"bootstrap {file}: {applied.summary()}")


@cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every secret at rest under SWITCHBOARD_CRYPTO__CURRENT_KEY_ID (then the old
    key can leave SWITCHBOARD_CRYPTO__KEYS)."""
    count = _run("rotate-keys", lambda rt: rt.outbox.reencrypt())
    typer.echo(f"re-encrypted {count} row(s)")


@cli.command()
def republish() -> None:
    """Queue every entity for publishing again: after SWITCHBOARD_CONFIG__CURRENT_KEY_ID moved
    to a new distribution key, the running API's relay seals everything under it."""
    count = _run("republish", lambda rt: rt.outbox.republish())
    typer.echo(f"queued {count} entit(ies) for control.config")


@cli.command("rotate-signing-key")
def rotate_signing_key() -> None:
    """Make a new token signing key active; the old one verifies until its tokens expired."""
    kid = _run("rotate-signing-key", lambda rt: rt.plane.rotate_signing_key())
    typer.echo(f"active signing key: {kid}")


@cli.command("new-key")
def new_key() -> None:
    """Print a fresh base64 AES-256 key for SWITCHBOARD_CRYPTO__KEYS or SWITCHBOARD_CONFIG__KEYS."""
    typer.echo(make_key())


@cli.command("create-operator-key")
def create_operator_key(
    name: Annotated[str, typer.Option(help="What the key is for")] = "operator",
) -> None:
    """Print a new operator API key (tenants:admin), once: the first key of a fresh install."""
    issued = _run(
        "create-operator-key",
        lambda rt: rt.plane.create_api_key(None, name, ["tenants:admin"]),
    )
    typer.echo(issued.plaintext)


@cli.command("create-api-key")
def create_api_key(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for")],
    scope: Annotated[list[str], typer.Option(help="A scope, e.g. history:read (repeatable)")],
    name: Annotated[str, typer.Option(help="What the key is for")] = "cli",
) -> None:
    """Print a new API key of a tenant, once."""
    issued = _run("create-api-key", lambda rt: rt.plane.create_api_key(tenant, name, scope))
    typer.echo(issued.plaintext)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
