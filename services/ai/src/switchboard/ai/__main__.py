"""``switchboard-ai api|worker|voice|rotate-keys|embed|new-key``."""

import asyncio

import typer
import uvicorn

from switchboard.ai.adapters.mongo import create_client
from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.admin import rotate_keys as rotate
from switchboard.ai.app import create_cipher
from switchboard.ai.settings import get_settings
from switchboard.common.crypto import new_key as make_key
from switchboard.common.logging import configure_logging

cli = typer.Typer(help="Switchboard AI replies.", no_args_is_help=True)


@cli.command()
def api() -> None:
    """Serve the admin API (SWITCHBOARD_HTTP__HOST / SWITCHBOARD_HTTP__API_PORT, default 8006)."""
    http = get_settings().http
    uvicorn.run(
        "switchboard.ai.app:api_from_env",
        factory=True,
        host=http.host,
        port=http.api_port,
        log_config=None,
        access_log=False,
    )


@cli.command()
def worker() -> None:
    """Consume message.inbound and reply (health on SWITCHBOARD_HTTP__WORKER_PORT, default 8003)."""
    http = get_settings().http
    uvicorn.run(
        "switchboard.ai.app:worker_from_env",
        factory=True,
        host=http.host,
        port=http.worker_port,
        log_config=None,
        access_log=False,
    )


@cli.command()
def voice() -> None:
    """Serve the internal voice API for the ingress (SWITCHBOARD_HTTP__VOICE_PORT, default 8008)."""
    http = get_settings().http
    uvicorn.run(
        "switchboard.ai.voice_app:voice_from_env",
        factory=True,
        host=http.host,
        port=http.voice_port,
        log_config=None,
        access_log=False,
    )


@cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored provider token under SWITCHBOARD_CRYPTO__CURRENT_KEY_ID."""
    settings = get_settings()
    configure_logging(settings.log, f"{settings.service_name}-rotate-keys")

    async def run() -> int:
        client = create_client(settings.mongo)
        try:
            db = client[settings.mongo.database]
            return await rotate(MongoBusinesses(db), create_cipher(settings))
        finally:
            await client.close()

    typer.echo(f"re-encrypted the tokens of {asyncio.run(run())} business(es)")


@cli.command("new-key")
def new_key() -> None:
    """Print a fresh base64 AES-256 key for SWITCHBOARD_CRYPTO__KEYS."""
    typer.echo(make_key())


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
