"""Serve an ASGI app with uvicorn in a background thread (its own event loop).

Used by ``demo`` (so the simulator does not share a loop with the progress display) and by
tests (so the sync ``twilio`` SDK and async tests can both call it over real sockets).
"""

import socket
import threading
import time
from typing import Any

import uvicorn

START_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """uvicorn serving ``app`` on ``127.0.0.1:port`` (a free port by default) in a daemon thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadServer":
        """Start and wait until it accepts connections; RuntimeError if it does not."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to shut down (lifespan shutdown runs) and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=30)
