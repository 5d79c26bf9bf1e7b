"""http1.Http1Client, pinned against httpx (the client it replaced for webhooks): the same
requests reach the server, the same statuses come back, failures fall in the same classes,
and keep-alive connections are reused, replaced when the server closed them, never shared."""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from switchboard.providersim.http1 import ConnectFailed, Http1Client, ResponseFailed, Timeouts

T = Timeouts(total=5.0, connect=2.0, read=2.0)
FORM = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "c2ln"}


class RawServer:
    """An asyncio server whose answer to each request is ``answer(request bytes)`` (None:
    stay silent); it counts connections and keeps every request."""

    def __init__(self, answer: Callable[[bytes], bytes | None], close_after: bool = False):
        self.answer, self.close_after = answer, close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = self.answer(request)
                if reply is None:
                    await asyncio.sleep(30)
                    return
                writer.write(reply)
                await writer.drain()
                if self.close_after or reply.startswith(b"HTTP/1.0"):  # 1.0: body ends at EOF
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., "asyncio.Future[RawServer]"]]:
    servers: list[RawServer] = []

    async def start(answer: Callable[[bytes], bytes | None], **kw: bool) -> RawServer:
        raw = RawServer(answer, **kw)
        raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
        servers.append(raw)
        return raw

    yield start  # type: ignore[misc]
    for raw in servers:
        assert raw.server is not None
        raw.server.close()


def fixed(reply: bytes) -> Callable[[bytes], bytes]:
    return lambda _: reply


ANSWERS = [
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 11\r\n\r\n<Response/>",
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n',
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nRetry-After: 1\r\n\r\nno",
    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
]


@pytest.mark.parametrize("answer", ANSWERS)
async def test_statuses_and_requests_match_httpx(serve, answer):
    ours, reference = await serve(fixed(answer)), await serve(fixed(answer))
    client = Http1Client()
    body = b"CallSid=CA1&CallStatus=ringing&To=%2B14155550100"
    url = "/webhooks/twilio/voice/status?tenant=a"
    statuses = [await client.request("POST", ours.url + url, body, FORM, T) for _ in range(2)]
    async with httpx.AsyncClient() as hx:
        expected = [(await hx.post(reference.url + url, content=body, headers=FORM)).status_code]
        expected.append(
            (await hx.post(reference.url + url, content=body, headers=FORM)).status_code
        )
    await client.aclose()
    assert statuses == expected
    ours_lines = ours.requests[0].split(b"\r\n")
    theirs_lines = reference.requests[0].split(b"\r\n")
    assert ours_lines[0] == theirs_lines[0] == b"POST " + url.encode() + b" HTTP/1.1"
    assert ours.requests[0].endswith(b"\r\n\r\n" + body)
    wanted = {b"host", b"content-type", b"x-twilio-signature", b"content-length"}
    ours_headers = {h.split(b":")[0].lower(): h for h in ours_lines[1:] if b":" in h}
    theirs_headers = {h.split(b":")[0].lower(): h for h in theirs_lines[1:] if b":" in h}
    assert wanted <= set(ours_headers)
    for name in wanted - {b"host"}:
        assert ours_headers[name].split(b":", 1)[1].strip() == (
            theirs_headers[name].split(b":", 1)[1].strip()
        )
    assert ours_headers[b"host"] == b"Host: " + ours.url.removeprefix("http://").encode()


async def test_keep_alive_reuses_one_connection_and_close_opens_a_new_one(serve):
    keep = await serve(fixed(ANSWERS[1]))
    client = Http1Client()
    for _ in range(5):
        assert await client.request("POST", keep.url + "/a", b"x", FORM, T) == 200
    assert keep.connections == 1
    closing = await serve(fixed(ANSWERS[4]))
    for _ in range(3):
        assert await client.request("POST", closing.url + "/a", b"x", FORM, T) == 403
    assert closing.connections == 3
    await client.aclose()


async def test_a_connection_the_server_closed_while_idle_is_replaced_once(serve):
    server = await serve(fixed(ANSWERS[0]), close_after=True)
    client = Http1Client()
    for _ in range(3):
        assert await client.request("POST", server.url + "/a", b"x", FORM, T) == 204
        await asyncio.sleep(0.05)  # the server's close reaches the idle connection
    assert len(server.requests) == 3  # each request reached it once
    await client.aclose()


async def test_get_sends_no_body_and_keeps_the_query(serve):
    server = await serve(fixed(ANSWERS[0]))
    client = Http1Client()
    status = await client.request("GET", server.url + "/s?CallSid=CA1&X=%2B1", b"", {}, T)
    await client.aclose()
    assert status == 204
    [request] = server.requests
    assert request.startswith(b"GET /s?CallSid=CA1&X=%2B1 HTTP/1.1\r\n")
    assert b"content-length" not in request.lower()


async def test_failures_fall_in_the_classes_httpx_gives(serve):
    client = Http1Client()
    silent = await serve(lambda _: None)
    with pytest.raises(ResponseFailed):
        await client.request("POST", silent.url + "/", b"x", FORM, Timeouts(5, 1, 0.3))
    async with httpx.AsyncClient() as hx:
        with pytest.raises(httpx.ReadTimeout):
            await hx.post(silent.url + "/", content=b"x", timeout=httpx.Timeout(5, read=0.3))
    garbage = await serve(fixed(b"SMTP ready\r\n\r\n"))
    with pytest.raises(ResponseFailed):
        await client.request("POST", garbage.url + "/", b"x", FORM, T)
    with pytest.raises(ConnectFailed):  # nothing listens on the discard port
        await client.request("POST", "http://127.0.0.1:9/", b"x", FORM, T)
    async with httpx.AsyncClient() as hx:
        with pytest.raises(httpx.ConnectError):
            await hx.post("http://127.0.0.1:9/", content=b"x")
    await client.aclose()
