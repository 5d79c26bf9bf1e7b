"""WhatsApp Cloud API sender over httpx.MockTransport: request shape and failure classes."""

import json

import httpx
import pytest

from switchboard.ai.adapters.senders import ChannelSender, TwilioSender, WhatsAppSender
from switchboard.ai.adapters.whatsapp_media import WhatsAppMedia
from switchboard.ai.errors import (
    MediaUnavailable,
    ReengagementRequired,
    SendFailed,
    SendNotAuthorized,
    SendRejected,
    SendSkipped,
    SendUnknown,
)
from switchboard.ai.models import ProviderTokens, Template
from switchboard.ai.settings import ProviderSettings

SETTINGS = ProviderSettings(whatsapp_graph_base="https://graph.test", whatsapp_version="v99.0")
TOKENS = ProviderTokens(whatsapp_access_token="wa-token", twilio_auth_token="tw")


def sender(handler) -> WhatsAppSender:
    return WhatsAppSender(httpx.AsyncClient(transport=httpx.MockTransport(handler)), SETTINGS)


async def test_posts_text_with_bearer_and_returns_the_wamid(build, cipher) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messages": [{"id": "wamid.OUT"}]})

    business = build.business(cipher)
    assert await sender(handler).send(business, TOKENS, build.wa_id, "155512", "hi") == "wamid.OUT"
    [request] = seen
    assert str(request.url) == f"https://graph.test/v99.0/{build.wa_id}/messages"
    assert request.headers["authorization"] == "Bearer wa-token"
    body = json.loads(request.content)
    assert body["to"] == "155512"
    assert body["text"]["body"] == "hi"
    assert body["messaging_product"] == "whatsapp"


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, SendFailed), (503, SendFailed), (400, SendRejected), (401, SendRejected)],
)
async def test_http_errors_are_classified(build, cipher, status, error) -> None:
    s = sender(lambda r: httpx.Response(status, json={"error": {"message": "x"}}))
    with pytest.raises(error):
        await s.send(build.business(cipher), TOKENS, build.wa_id, "1", "hi")


async def test_connect_error_is_retryable_read_timeout_is_unknown(build, cipher) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    business = build.business(cipher)
    with pytest.raises(SendFailed):
        await sender(refuse).send(business, TOKENS, build.wa_id, "1", "hi")
    with pytest.raises(SendUnknown):
        await sender(hang).send(business, TOKENS, build.wa_id, "1", "hi")


async def test_channel_sender_routes_by_channel(build, cipher) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls = 0

        async def send(self, *args, **kwargs) -> str:
            self.calls += 1
            return "id"

    wa, sms = Recorder(), Recorder()
    router = ChannelSender(wa, sms)  # type: ignore[arg-type]
    business = build.business(cipher)
    await router.send(business, TOKENS, build.wa_id, "1", "hi")
    await router.send(business, TOKENS, build.sms_number, "+1", "hi")
    assert (wa.calls, sms.calls) == (1, 1)


async def test_missing_tokens_are_rejected(build, cipher) -> None:
    business = build.business(cipher)
    with pytest.raises(SendRejected):
        await sender(lambda r: httpx.Response(200)).send(
            business, ProviderTokens(), build.wa_id, "1", "hi"
        )
    with pytest.raises(SendRejected):
        await TwilioSender(None, SETTINGS).send(  # type: ignore[arg-type]
            business, ProviderTokens(), build.sms_number, "+1", "hi"
        )


def graph_error(status: int, code: int, message: str = "x") -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": {
                "message": f"(#{code}) {message}",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": message},
                "fbtrace_id": "Atrace",
            }
        },
    )


@pytest.mark.parametrize(
    ("status", "code", "error", "reason"),
    [
        (400, 130429, SendFailed, None),  # throughput per number
        (400, 131056, SendFailed, None),  # business-user pair rate limit
        (400, 80007, SendFailed, None),  # WABA rate limit
        (400, 4, SendFailed, None),  # app rate limit
        (500, 131000, SendFailed, None),
        (503, 2, SendFailed, None),
        (400, 131047, ReengagementRequired, "window_closed"),
        (400, 131026, SendSkipped, "recipient_unavailable"),
        (400, 131030, SendSkipped, "recipient_unavailable"),
        (400, 100, SendSkipped, "invalid_parameter"),
        (400, 131009, SendSkipped, "invalid_parameter"),
        (400, 132001, SendSkipped, "invalid_parameter"),  # template does not exist
        (401, 190, SendNotAuthorized, None),  # expired token
        (403, 10, SendNotAuthorized, None),
        (403, 200, SendNotAuthorized, None),
        (400, 131031, SendNotAuthorized, None),  # account locked
        (400, 999999, SendRejected, None),
    ],
)
async def test_graph_errors_map_to_retry_skip_or_alert(build, cipher, status, code, error, reason):
    s = sender(lambda r: graph_error(status, code))
    with pytest.raises(error) as raised:
        await s.send(build.business(cipher), TOKENS, build.wa_id, "1", "hi")
    if reason is not None:
        assert raised.value.reason == reason
    if error is SendNotAuthorized:
        assert raised.value.code == str(code)
    assert f"code {code}" in str(raised.value)


async def test_template_send_and_read_receipt_shapes(build, cipher) -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if seen[-1].get("status") == "read":
            return httpx.Response(200, json={"success": True})
        return httpx.Response(200, json={"messages": [{"id": "wamid.T"}]})

    s = sender(handler)
    business = build.business(cipher)
    template = Template("order_followup", "en_US", ("Ada",))
    assert await s.send(business, TOKENS, build.wa_id, "155512", "x", template=template) == (
        "wamid.T"
    )
    await s.mark_read(business, TOKENS, build.wa_id, "wamid.IN")
    sent, read = seen
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "order_followup",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}],
    }
    assert "text" not in sent
    assert read == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}


async def test_media_fetch_follows_the_url_with_the_token(build, cipher) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v99.0/m-1":
            return httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "url": "https://lookaside.test/whatsapp_business/attachments/?mid=m-1",
                    "mime_type": "image/jpeg",
                    "sha256": "abc",
                    "file_size": "4",
                    "id": "m-1",
                },
            )
        if request.url.path == "/v99.0/big":
            return httpx.Response(200, json={"url": "https://x.test/b", "file_size": "99999999"})
        if request.url.path == "/v99.0/gone":
            return graph_error(400, 100, "media id expired")
        return httpx.Response(200, content=b"\xff\xd8ok")

    media = WhatsAppMedia(httpx.AsyncClient(transport=httpx.MockTransport(handler)), SETTINGS)
    business = build.business(cipher)
    got = await media.fetch(business, TOKENS, "m-1")
    assert (got.content_type, got.data) == ("image/jpeg", b"\xff\xd8ok")
    assert [r.headers["authorization"] for r in seen] == ["Bearer wa-token"] * 2
    assert seen[1].url.host == "lookaside.test"
    for media_id in ("big", "gone"):
        with pytest.raises(MediaUnavailable):
            await media.fetch(business, TOKENS, media_id)
