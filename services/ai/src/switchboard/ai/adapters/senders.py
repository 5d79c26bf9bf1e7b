"""Sending replies: WhatsApp Cloud API over a pooled ``httpx.AsyncClient``, Twilio SMS via its SDK.

Failures are sorted by what they say about delivery: the provider certainly did not take the
reply (connect error, 429, 5xx → SendFailed, safe to retry), never will (other 4xx →
SendRejected), or no answer came (timeout → SendUnknown: it may have gone out; never resent).
"""

import asyncio
from typing import Final

import aiohttp
import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client as TwilioClient

from switchboard.ai.errors import SendFailed, SendRejected, SendUnknown
from switchboard.ai.models import Business, ProviderTokens, channel_of
from switchboard.ai.settings import ProviderSettings

_RETRYABLE_STATUS: Final = frozenset({408, 409, 425, 429})


def _classify(status: int, what: str) -> Exception:
    if status in _RETRYABLE_STATUS or status >= 500:
        return SendFailed(f"{what}: HTTP {status}")
    return SendRejected(f"{what}: HTTP {status}")


class WhatsAppSender:
    """``POST {graph}/{version}/{phone_number_id}/messages`` with the business's Bearer token."""

    def __init__(self, client: httpx.AsyncClient, settings: ProviderSettings) -> None:
        self._client = client
        self._base = f"{settings.whatsapp_graph_base.rstrip('/')}/{settings.whatsapp_version}"

    async def send(
        self, business: Business, tokens: ProviderTokens, channel_id: str, to: str, text: str
    ) -> str:
        if not tokens.whatsapp_access_token:
            raise SendRejected(f"business {business.id} has no WhatsApp access token")
        try:
            response = await self._client.post(
                f"{self._base}/{channel_id}/messages",
                headers={"Authorization": f"Bearer {tokens.whatsapp_access_token}"},
                json={
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "text",
                    "text": {"preview_url": False, "body": text},
                },
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SendFailed(f"WhatsApp unreachable: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise SendUnknown(f"WhatsApp did not answer: {exc!r}") from exc
        if response.status_code >= 300:
            raise _classify(response.status_code, f"WhatsApp send {response.text[:200]}")
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SendUnknown(f"WhatsApp answered without a message id: {exc!r}") from exc


class TwilioSender:
    """``Messages.create`` through the Twilio SDK (async client, configurable base URL)."""

    def __init__(self, http: AsyncTwilioHttpClient, settings: ProviderSettings) -> None:
        self._http = http
        self._base_url = settings.twilio_base_url.rstrip("/")
        self._timeout_s = settings.timeout_s

    def _client(self, account_sid: str, token: str) -> TwilioClient:
        client = TwilioClient(account_sid, token, http_client=self._http)
        client.api.base_url = self._base_url
        return client

    async def send(
        self, business: Business, tokens: ProviderTokens, channel_id: str, to: str, text: str
    ) -> str:
        if not business.twilio_account_sid or not tokens.twilio_auth_token:
            raise SendRejected(f"business {business.id} has no Twilio account or auth token")
        client = self._client(business.twilio_account_sid, tokens.twilio_auth_token)
        try:
            async with asyncio.timeout(self._timeout_s):
                message = await client.messages.create_async(to=to, from_=channel_id, body=text)
        except TwilioRestException as exc:
            raise _classify(exc.status, f"Twilio send {exc.msg}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise SendFailed(f"Twilio unreachable: {exc!r}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendUnknown(f"Twilio did not answer: {exc!r}") from exc
        return str(message.sid)


class ChannelSender:
    """Picks the provider by the channel the message came in on."""

    def __init__(self, whatsapp: WhatsAppSender, sms: TwilioSender) -> None:
        self._whatsapp = whatsapp
        self._sms = sms

    async def send(
        self, business: Business, tokens: ProviderTokens, channel_id: str, to: str, text: str
    ) -> str:
        if channel_of(business, channel_id) == "whatsapp":
            return await self._whatsapp.send(business, tokens, channel_id, to, text)
        return await self._sms.send(business, tokens, channel_id, to, text)
