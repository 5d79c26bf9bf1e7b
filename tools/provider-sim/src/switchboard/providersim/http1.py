"""A minimal HTTP/1.1 client for webhooks: keep-alive connections per origin, one request at
a time on each, the answer's status read and its body skipped.

Why: the simulator is the load generator of ``make chaos`` and of the demo; on the 2-core box
an ``httpx.AsyncClient`` request cost ~2 ms of CPU (anyio, httpcore's pool bookkeeping), this
one ~0.03 ms (measured side by side against one receiver, 4,000 requests, 16 at a time). The
simulator only needs the status of a POST or GET it built itself, so nothing else of a client
is here: no redirects, cookies, proxies, compression or HTTP/2. ``tests/component/
test_http1.py`` pins it against httpx: same requests on the wire, same statuses, the same
failure classes.

Errors: :class:`ConnectFailed` (nothing was sent: connection refused or connect timeout) and
:class:`ResponseFailed` (sent, but no complete answer: read timeout, reset, bad answer). A
keep-alive connection the server closed while idle is replaced once, transparently, when it
fails before a single byte of the answer came back (as httpcore does).
"""

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

MAX_HEAD: Final = 64 * 1024
NO_BODY: Final = frozenset({204, 304})


class ClientError(Exception):
    """A request that got no complete answer."""


class ConnectFailed(ClientError):
    """No connection: the request was not sent."""


class ResponseFailed(ClientError):
    """The request was (at least partly) sent, but no complete answer came back."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    total: float
    connect: float
    read: float


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _StaleConnection(Exception):
    """A reused connection failed before any answer: try a fresh one."""


class Http1Client:
    """Requests over pooled keep-alive connections (per scheme, host and port)."""

    def __init__(self, max_idle_per_origin: int = 64) -> None:
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._max_idle = max_idle_per_origin
        self._ssl: ssl.SSLContext | None = None

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str], timeouts: Timeouts
    ) -> int:
        """Send one request; the answer's HTTP status."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectFailed(f"unsupported URL {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body or method not in ("GET", "HEAD"):
            head.append(f"Content-Length: {len(body)}")
        wire = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(timeouts.total):
                idle = self._idle.get(origin)
                while idle:  # reuse; a connection closed while idle is replaced
                    conn = idle.pop()
                    try:
                        return await self._exchange(conn, origin, wire, method, timeouts, True)
                    except _StaleConnection:
                        continue
                conn = await self._connect(origin, timeouts.connect)
                return await self._exchange(conn, origin, wire, method, timeouts, False)
        except TimeoutError as exc:
            raise ResponseFailed(f"no answer within {timeouts.total} s") from exc

    async def _connect(self, origin: tuple[str, str, int], timeout_s: float) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._ssl = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, limit=MAX_HEAD
                )
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {host}:{port}: {exc!r}") from exc
        return _Connection(reader, writer)

    async def _exchange(
        self,
        conn: _Connection,
        origin: tuple[str, str, int],
        wire: bytes,
        method: str,
        timeouts: Timeouts,
        reused: bool,
    ) -> int:
        answered = False
        try:
            conn.writer.write(wire)
            await conn.writer.drain()
            async with asyncio.timeout(timeouts.read):
                head = await conn.reader.readuntil(b"\r\n\r\n")
                answered = True
                status, length, chunked, close = _parse_head(head)
                if method == "HEAD" or status in NO_BODY or 100 <= status < 200:
                    pass
                elif chunked:
                    await _skip_chunked(conn.reader)
                elif length is not None:
                    await conn.reader.readexactly(length)
                else:  # delimited by the end of the connection
                    await conn.reader.read()
                    close = True
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            conn.close()
            if reused and not answered:
                raise _StaleConnection from exc
            raise ResponseFailed(f"no complete answer: {exc!r}") from exc
        except (TimeoutError, ValueError) as exc:
            conn.close()
            raise ResponseFailed(f"no complete answer: {exc!r}") from exc
        except BaseException:  # cancelled mid-exchange: the connection's state is unknown
            conn.close()
            raise
        idle = self._idle.setdefault(origin, deque())
        if close or len(idle) >= self._max_idle:
            conn.close()
        else:
            idle.append(conn)
        return status

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()


def _parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """(status, Content-Length, chunked, close) of a response head; ValueError if malformed."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1 answer: {lines[0]!r}")
    status = int(rest[:3])
    length: int | None = None
    chunked = False
    close = version == "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection" and "close" in value:
            close = True
        elif name == "connection" and "keep-alive" in value:
            close = False
    return status, length, chunked, close


async def _skip_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return
        await reader.readexactly(size + 2)
