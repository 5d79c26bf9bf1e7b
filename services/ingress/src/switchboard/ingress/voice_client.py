"""The AI service's internal voice API, asked within a deadline (pooled ``httpx``).

The deadline bounds the whole exchange (connect, send, wait, read) with ``asyncio.timeout``:
httpx's own timeouts are per phase, and a platform counts the total. The AI service is told
the deadline (``x-switchboard-deadline-ms``) so it can bound its own calls to answer in time.
"""

import asyncio
from typing import Any, Final

import httpx
from pydantic import BaseModel

from switchboard.common.voice import DEADLINE_HEADER, UNOWNED
from switchboard.ingress.settings import VoiceSettings

_ANSWER_LIMIT: Final = 1_000_000
"""An answer larger than this is a failure (an assistant definition is a few kB)."""


class VoiceAnswerTimeout(Exception):
    """The AI service did not answer within the deadline."""


class VoiceAnswerFailed(Exception):
    """The AI service could not be reached, refused the query, or answered nonsense."""


class VoiceClient:
    """``ask(path, query, deadline_s)`` → the AI service's answer, or None when no business
    owns the call (404 ``unowned``)."""

    def __init__(
        self, settings: VoiceSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._configured = bool(settings.internal_secret.get_secret_value())
        self._client = httpx.AsyncClient(
            base_url=str(settings.ai_url).rstrip("/"),
            headers={"authorization": f"Bearer {settings.internal_secret.get_secret_value()}"},
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
            # The deadline of each ask bounds the request as a whole; this only backs it up.
            timeout=httpx.Timeout(30.0),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def ask(self, path: str, query: BaseModel, deadline_s: float) -> dict[str, Any] | None:
        if not self._configured:
            raise VoiceAnswerFailed("no internal secret configured for the AI service")
        body = query.model_dump_json().encode()
        headers = {
            "content-type": "application/json",
            DEADLINE_HEADER: str(int(deadline_s * 1000)),
        }
        try:
            async with asyncio.timeout(deadline_s):
                response = await self._client.post(path, content=body, headers=headers)
        except TimeoutError as exc:
            raise VoiceAnswerTimeout(f"no answer within {deadline_s:.2f} s") from exc
        except httpx.HTTPError as exc:
            raise VoiceAnswerFailed(f"the AI service is unreachable: {exc!r}") from exc
        if response.status_code == 404 and _reason(response) == UNOWNED:
            return None
        if response.status_code != 200 or len(response.content) > _ANSWER_LIMIT:
            raise VoiceAnswerFailed(
                f"the AI service answered {response.status_code}: {response.text[:300]}"
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise VoiceAnswerFailed("the AI service's answer is not JSON") from exc
        if not isinstance(answer, dict):
            raise VoiceAnswerFailed("the AI service's answer is not an object")
        return answer


def _reason(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("reason") if isinstance(body, dict) else None
