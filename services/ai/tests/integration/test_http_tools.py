"""``http`` tools against a real HTTP server on this machine: Standard Webhooks signatures
(checked with the library and by hand), the timeout, no redirects, error answers, size cap,
and private targets refused outside ``local`` before any byte is sent."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from switchboard.ai.adapters.http_tools import HttpTools, ToolContext, tool_secret_context
from switchboard.ai.errors import ToolFailed
from switchboard.ai.voice_models import ToolSpec
from switchboard.common.crypto import Cipher

pytestmark = pytest.mark.integration
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
CIPHER = Cipher({"k1": base64.b64encode(b"1" * 32).decode()}, "k1")
CONTEXT = ToolContext("biz-1", "vapi", "call-1", "+14155550199")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ToolServer:
    """A one-route HTTP/1.1 server; ``answer(received)`` gives (status, headers, body, delay)."""

    answer: Callable[[Received], tuple[int, dict[str, str], bytes, float]]
    received: list[Received] = field(default_factory=list)
    port: int = 0
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            received = Received(path, headers, body)
            self.received.append(received)
            status, extra, content, delay = self.answer(received)
            await asyncio.sleep(delay)
            out = [f"HTTP/1.1 {status} X", f"content-length: {len(content)}"]
            out += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[ToolServer]:
    tool = ToolServer(lambda r: (200, {"content-type": "application/json"}, b'{"result":"ok"}', 0))
    listener = await asyncio.start_server(tool.handle, "127.0.0.1", 0)
    tool.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield tool


def spec(port: int, path: str = "/hook", timeout_s: float = 2.0) -> ToolSpec:
    sealed = CIPHER.seal(SECRET, tool_secret_context("biz-1", "book"))
    return ToolSpec("book", "http", "", f"http://127.0.0.1:{port}{path}", sealed, timeout_s)


@pytest.fixture
async def tools() -> AsyncIterator[HttpTools]:
    client = HttpTools(CIPHER, allow_private=True)
    yield client
    await client.aclose()


async def test_signed_with_standard_webhooks(server: ToolServer, tools: HttpTools) -> None:
    now = datetime.now(UTC)
    answer = await tools.call(
        spec(server.port), "tc-1", {"people": 2}, CONTEXT, timeout_s=3, now=now
    )
    assert answer == "ok"
    [got] = server.received
    payload = Webhook(SECRET).verify(got.body, got.headers)  # the tenant's side, as documented
    assert payload["type"] == "voice.tool.called"
    assert payload["data"]["arguments"] == {"people": 2}
    assert payload["data"]["tool_call_id"] == "tc-1"
    # ... and by hand, from the spec: base64 HMAC-SHA256 of "{id}.{timestamp}.{body}".
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == f"v1,{expected}"
    assert got.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert "." not in got.headers["webhook-id"]


async def test_answers_are_read_as_text(server: ToolServer, tools: HttpTools) -> None:
    bodies = [
        (b'{"result": "Table for 2 at 19:00"}', "Table for 2 at 19:00"),
        (b'"plain json string"', "plain json string"),
        (b'{"slots": ["19:00", "20:00"]}', '{"slots":["19:00","20:00"]}'),
        (b"just text", "just text"),
    ]
    for content, expected in bodies:
        server.answer = lambda r, c=content: (200, {"content-type": "application/json"}, c, 0)
        assert await tools.call(spec(server.port), "t", {}, CONTEXT, timeout_s=3) == expected


async def test_a_slow_endpoint_fails_within_the_timeout(
    server: ToolServer, tools: HttpTools
) -> None:
    server.answer = lambda r: (200, {}, b'{"result":"late"}', 5.0)
    started = time.monotonic()
    with pytest.raises(ToolFailed, match=r"no answer within 0\.3 s"):
        await tools.call(spec(server.port, timeout_s=2.0), "t", {}, CONTEXT, timeout_s=0.3)
    assert time.monotonic() - started < 2.0


async def test_redirects_are_not_followed(server: ToolServer, tools: HttpTools) -> None:
    server.answer = lambda r: (
        (302, {"location": f"http://127.0.0.1:{server.port}/inside"}, b"", 0)
        if r.path == "/hook"
        else (200, {}, b'{"result":"followed"}', 0)
    )
    with pytest.raises(ToolFailed, match="answered 302"):
        await tools.call(spec(server.port), "t", {}, CONTEXT, timeout_s=3)
    assert [r.path for r in server.received] == ["/hook"]


async def test_error_answers_and_oversized_answers_fail(
    server: ToolServer, tools: HttpTools
) -> None:
    server.answer = lambda r: (500, {}, b"boom", 0)
    with pytest.raises(ToolFailed, match="answered 500"):
        await tools.call(spec(server.port), "t", {}, CONTEXT, timeout_s=3)
    server.answer = lambda r: (200, {}, json.dumps({"result": "x" * 20_000}).encode(), 0)
    with pytest.raises(ToolFailed, match="over 16384 bytes"):
        await tools.call(spec(server.port), "t", {}, CONTEXT, timeout_s=3)


async def test_private_targets_are_refused_outside_local(server: ToolServer) -> None:
    guarded = HttpTools(CIPHER, allow_private=False)
    try:
        for url in (
            f"https://127.0.0.1:{server.port}/hook",
            f"https://localhost:{server.port}/hook",
            f"https://LOCALHOST:{server.port}/hook",
            # Not IP literals, but the resolver makes them 127.0.0.1: refused at the connect.
            f"https://127.1:{server.port}/hook",
            f"https://0x7f000001:{server.port}/hook",
            f"http://127.0.0.1:{server.port}/hook",
            "https://169.254.169.254/latest/meta-data/",
        ):
            target = ToolSpec("book", "http", "", url, spec(server.port).signing_secret, 2.0)
            with pytest.raises(ToolFailed):
                await guarded.call(target, "t", {}, CONTEXT, timeout_s=3)
    finally:
        await guarded.aclose()
    assert server.connections == 0  # not even a TCP connection reached the local server
