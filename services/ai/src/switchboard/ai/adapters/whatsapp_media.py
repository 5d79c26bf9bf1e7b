"""WhatsApp media by id: ``GET {graph}/{version}/{media-id}`` with the business token gives a
short-lived URL (Meta: valid for 5 minutes; webhook media ids expire after 7 days), which is
downloaded with the same token. Used only for businesses that enable ``fetch_media``.

Anything that goes wrong (expired id, a file over ``providers.media_max_bytes``, a provider
error, a timeout) is MediaUnavailable: the message is then described, not shown.
"""

import httpx

from switchboard.ai.errors import MediaUnavailable
from switchboard.ai.models import Business, FetchedMedia, ProviderTokens
from switchboard.ai.settings import ProviderSettings


class WhatsAppMedia:
    """:class:`~switchboard.ai.repository.MediaFetcher` over the Graph API."""

    def __init__(self, client: httpx.AsyncClient, settings: ProviderSettings) -> None:
        self._client = client
        self._base = f"{settings.whatsapp_graph_base.rstrip('/')}/{settings.whatsapp_version}"
        self._max_bytes = settings.media_max_bytes

    async def fetch(
        self, business: Business, tokens: ProviderTokens, media_id: str
    ) -> FetchedMedia:
        if not tokens.whatsapp_access_token:
            raise MediaUnavailable(f"business {business.id} has no WhatsApp access token")
        auth = {"Authorization": f"Bearer {tokens.whatsapp_access_token}"}
        try:
            meta = await self._client.get(f"{self._base}/{media_id}", headers=auth)
            if meta.status_code != 200:
                raise MediaUnavailable(
                    f"media {media_id}: HTTP {meta.status_code} {meta.text[:200]}"
                )
            info = meta.json()
            url, declared = str(info["url"]), int(info.get("file_size") or 0)
            if declared > self._max_bytes:
                raise MediaUnavailable(f"media {media_id}: {declared} bytes, over the limit")
            async with self._client.stream("GET", url, headers=auth) as download:
                if download.status_code != 200:
                    raise MediaUnavailable(
                        f"media {media_id}: download HTTP {download.status_code}"
                    )
                data = bytearray()
                async for chunk in download.aiter_bytes():
                    data += chunk
                    if len(data) > self._max_bytes:
                        raise MediaUnavailable(f"media {media_id}: over {self._max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"media {media_id}: {exc!r}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise MediaUnavailable(f"media {media_id}: unreadable answer {exc!r}") from exc
        content_type = str(info.get("mime_type") or download.headers.get("content-type") or "")
        return FetchedMedia(content_type=content_type.split(";")[0].strip(), data=bytes(data))
