"""What every service's CLI does the same way: serve an app factory under uvicorn."""

import uvicorn


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
