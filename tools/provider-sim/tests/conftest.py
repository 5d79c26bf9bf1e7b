"""Simulator test fixtures: the sim and a webhook receiver, each a real HTTP server in a thread.

Servers run in their own threads (own event loops), so the sync ``twilio`` SDK, plain
``httpx`` and async tests can all talk to them over real sockets.
"""

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, Response, route
from litestar.params import FromPath

from switchboard.providersim.app import create_app
from switchboard.providersim.server import ThreadServer
from switchboard.providersim.settings import SimSection, SimSettings, TwilioAccountConfig
from switchboard.providersim.state import SimState

ACCOUNT = "AC" + "5" * 32
TOKEN = "sim-test-token"


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Receiver:
    """Records every request; answers from a per-path script of statuses, then ``default``."""

    server: ThreadServer | None = None
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    default: int = 204
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.strip("/") == path.strip("/")]


def make_receiver() -> Receiver:
    receiver = Receiver()

    @route("/{path:path}", http_method=["GET", "POST"])
    async def catch_all(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[None]:
        body = await request.body()
        with receiver.lock:
            receiver.requests.append(
                Received(
                    request.method,
                    path,
                    request.scope.get("query_string", b"").decode(),
                    dict(request.headers),
                    body,
                )
            )
            script = receiver.scripts.get(path.strip("/"))
            status = script.pop(0) if script else receiver.default
        return Response(None, status_code=status)

    receiver.server = ThreadServer(Litestar(route_handlers=[catch_all])).start()
    return receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = make_receiver()
    try:
        yield r
    finally:
        assert r.server is not None
        r.server.stop()


class Sim:
    """A running simulator and a small client for its control API."""

    account = ACCOUNT
    token = TOKEN

    def __init__(self, server: ThreadServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> SimState:
        """The app's state, for tests that arrange what no API can (touch it only while idle)."""
        state: SimState = self.server.server.config.app.state.sim
        return state

    def configure(self, **patch: Any) -> dict[str, Any]:
        response = self.http.patch("/_sim/config", json=patch)
        response.raise_for_status()
        return dict(response.json())

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_sim/stats").json())

    def calls(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_sim/calls").json())

    def log(self, kind: str) -> list[dict[str, Any]]:
        return list(self.http.get("/_sim/log", params={"kind": kind}).json())

    def create_call(self, **form: Any) -> httpx.Response:
        data = {"To": "+14155550100", "From": "+15005550006", "Url": "http://x.invalid/twiml"}
        data.update(form)
        return self.http.post(
            f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json", data=data, auth=(ACCOUNT, TOKEN)
        )

    def idle(self) -> bool:
        return self.stats()["pending_tasks"] == 0


def sim_settings(**sim: Any) -> SimSettings:
    accounts = sim.pop(
        "twilio_accounts",
        {ACCOUNT: TwilioAccountConfig(auth_token=TOKEN, cps=1000, queue_size=1000)},
    )
    return SimSettings(sim=SimSection(twilio_accounts=accounts, **{"time_scale": 0.001, **sim}))


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Sim]]:
    """``start_sim(**SimSection fields)`` → a running :class:`Sim` (stopped after the test)."""
    started: list[Sim] = []

    def start(**sim: Any) -> Sim:
        running = Sim(ThreadServer(create_app(sim_settings(**sim))).start())
        started.append(running)
        return running

    yield start
    for running in started:
        running.http.close()
        running.server.stop()


@pytest.fixture
def sim(start_sim: Callable[..., Sim]) -> Sim:
    return start_sim()


def _wait(check: Callable[[], object], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(0.02)


@pytest.fixture
def wait() -> Callable[..., None]:
    """``wait(check, timeout_s=30)``: poll a sync condition until it holds."""
    return _wait
