"""One log configuration for every process: structlog renders everything as JSON lines (or a
coloured console with ``SWITCHBOARD_LOG__JSON_OUTPUT=false``).

Records from the standard library (uvicorn, Litestar, FastStream, aiokafka, asyncpg, httpx)
go through the same renderer as structlog's own, with their ``extra`` fields (FastStream's
topic, group and message id) as keys. Request, trace, tenant and event ids are bound as
contextvars where they become known and land on every line logged meanwhile.

Two things are needed besides this: Litestar apps are built with ``logging_config=None`` (its
default config replaces the root handler with its own text format), and FastStream brokers get
a standard logger (``create_broker`` does it) instead of their own coloured handler.
"""

import logging
import sys
from typing import Final, TextIO

import structlog

from switchboard.common.settings import LogSettings

# Start-up noise that is expected and harmless, and what it means, keyed by logger name and a
# text the message contains. Logged at INFO with the explanation instead of as an ERROR.
KNOWN_HARMLESS: Final = {
    ("aiokafka.consumer.group_coordinator", "CoordinatorNotAvailable"): (
        "the broker is still electing the group coordinator (its __consumer_offsets topic is "
        "being created or moved); the consumer retries and joins when it is ready"
    ),
}


class HarmlessStartupErrors(logging.Filter):
    """Turns the known-harmless errors above into INFO lines that say why they are harmless."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            message = record.getMessage()
            for (name, text), why in KNOWN_HARMLESS.items():
                if record.name == name and text in message:
                    record.levelno, record.levelname = logging.INFO, "INFO"
                    record.msg, record.args = f"{message} (expected: {why})", None
        return True


def configure_logging(settings: LogSettings, service: str, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library through one JSON (or console) renderer,
    written to ``stream`` (standard output by default)."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder(
            {structlog.processors.CallsiteParameter.MODULE}
        ),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.json_output
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # ExtraAdder: a foreign record's ``extra`` fields (FastStream's topic, group_id,
            # message_id) become keys instead of being lost.
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if settings.json_output else []),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Libraries that bring handlers of their own would print a second, differently formatted
    # line: every record goes to the root handler above instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "litestar"):
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
        # uvicorn sets its loggers' levels (and a dictConfig may disable them) before the app
        # factory runs: SWITCHBOARD_LOG__LEVEL on the root decides instead.
        library.setLevel(logging.NOTSET)
        library.disabled = False
    structlog.contextvars.bind_contextvars(service=service)
    # aiokafka logs every reconnect attempt at ERROR while a broker restarts; keep it readable.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    if not any(isinstance(f, HarmlessStartupErrors) for f in coordinator.filters):
        coordinator.addFilter(HarmlessStartupErrors())
