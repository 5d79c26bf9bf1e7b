"""What every service process does the same way: set up logging and tracing, and serve an
app factory under uvicorn."""

import sys
from collections.abc import Callable

import uvicorn

from switchboard.common.auth.keys import refuse_example_keys
from switchboard.common.logging import configure_logging
from switchboard.common.settings import CommonSettings
from switchboard.common.telemetry import configure_tracing


def configure_process(settings: CommonSettings, role: str = "") -> None:
    """Logging (named ``<service>-<role>``) and tracing for this process; every app factory
    calls it, so each service's spans continue the trace carried in Kafka headers. Outside
    ``local``, a setting holding one of the repository's example keys stops the process here
    (AuthNotConfiguredError naming the setting)."""
    refuse_example_keys(settings, environment=settings.environment)
    name = f"{settings.service_name}-{role}" if role else settings.service_name
    configure_logging(settings.log, name)
    configure_tracing(settings.telemetry, settings.service_name)


def run_app(factory: str, *, host: str, port: int, workers: int = 1) -> None:
    """Run ``module:factory`` (an app factory) under uvicorn with uvloop/httptools when
    installed; logging is the service's own (structlog), so uvicorn's is left unconfigured."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def migrate_command(settings: CommonSettings, apply: Callable[[], int]) -> None:
    """A PostgreSQL service's ``migrate`` command: its logs go to standard error, so standard
    output carries only the count."""
    configure_logging(settings.log, f"{settings.service_name}-migrate", stream=sys.stderr)
    sys.stdout.write(f"applied {apply()} migration(s)\n")
    sys.stdout.flush()
