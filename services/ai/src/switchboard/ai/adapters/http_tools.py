"""``http`` tools: a tool call forwarded to the tenant's own endpoint, signed with Standard
Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``, the ``standardwebhooks`` library's signing), within a timeout,
to public addresses only (``tool_targets.py``), never following a redirect.

Body sent::

    {"type": "voice.tool.called", "timestamp": "<ISO 8601>",
     "data": {"tool": "...", "tool_call_id": "...", "arguments": {...}, "call_id": "...",
              "provider": "vapi", "caller": "+1...", "business_id": "..."}}

Answer expected: 2xx with ``{"result": "<text>"}`` (or any JSON or text, passed on as text,
cut at ``max_response_bytes``).
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpcore
from standardwebhooks import Webhook

from switchboard.ai.adapters.tool_targets import GuardedBackend, TargetRefused, url_problem
from switchboard.ai.errors import ToolFailed
from switchboard.ai.voice_models import ToolSpec
from switchboard.common.crypto import Cipher, CryptoError
from switchboard.common.events import event_id

EVENT_TYPE: Final = "voice.tool.called"
RESULT_CHARS: Final = 2000


def tool_secret_context(business_id: str, tool: str) -> str:
    """Associated data binding a sealed signing secret to its business and tool."""
    return f"business:{business_id}:tool:{tool}"


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who calls the tool, sent with the arguments."""

    business_id: str
    provider: str
    call_id: str
    caller: str | None


def signed_request(
    secret: str, msg_id: str, now: datetime, payload: dict[str, Any]
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body and headers of one signed delivery."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    signature = Webhook(secret).sign(msg_id, now, body)
    headers = [
        (b"content-type", b"application/json"),
        (b"webhook-id", msg_id.encode()),
        (b"webhook-timestamp", str(int(now.timestamp())).encode()),
        (b"webhook-signature", signature.encode()),
        (b"user-agent", b"switchboard-voice-tools/1"),
    ]
    return body, headers


def result_text(content: bytes, content_type: str) -> str:
    """What the endpoint answered, as the text the assistant reads."""
    text = content.decode("utf-8", errors="replace").strip()
    if "json" in content_type or text[:1] in ("{", "[", '"'):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text[:RESULT_CHARS]
        if isinstance(parsed, dict) and isinstance(parsed.get("result"), str):
            return str(parsed["result"])[:RESULT_CHARS]
        if isinstance(parsed, str):
            return parsed[:RESULT_CHARS]
        return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)[:RESULT_CHARS]
    return text[:RESULT_CHARS]


class HttpTools:
    """Signed, bounded calls to tenants' tool endpoints over one guarded connection pool."""

    def __init__(
        self,
        cipher: Cipher,
        *,
        allow_private: bool,
        max_response_bytes: int = 16_384,
        max_connections: int = 100,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._cipher = cipher
        self._allow_private = allow_private
        self._max_bytes = max_response_bytes
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allow_private=allow_private, inner=backend),
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def call(
        self,
        spec: ToolSpec,
        tool_call_id: str,
        arguments: dict[str, Any],
        context: ToolContext,
        *,
        timeout_s: float,
        now: datetime | None = None,
    ) -> str:
        """The endpoint's answer as text; ToolFailed when it cannot be had in time."""
        if spec.url is None or spec.signing_secret is None:
            raise ToolFailed("the tool has no endpoint or signing secret")
        problem = url_problem(spec.url, allow_private=self._allow_private)
        if problem:
            raise ToolFailed(problem)
        try:
            secret = self._cipher.open(
                spec.signing_secret, tool_secret_context(context.business_id, spec.name)
            )
        except CryptoError as exc:
            raise ToolFailed("the tool's signing secret cannot be read") from exc
        at = now or datetime.now(UTC)
        msg_id = "msg_" + event_id("voice-tool", context.provider, context.call_id, tool_call_id)
        payload = {
            "type": EVENT_TYPE,
            "timestamp": at.isoformat(),
            "data": {
                "tool": spec.name,
                "tool_call_id": tool_call_id,
                "arguments": arguments,
                "call_id": context.call_id,
                "provider": context.provider,
                "caller": context.caller,
                "business_id": context.business_id,
            },
        }
        body, headers = signed_request(secret, msg_id, at, payload)
        timeout = max(0.05, min(spec.timeout_s, timeout_s))
        extensions = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}
        try:
            async with self._pool.stream(
                "POST", spec.url, headers=headers, content=body, extensions=extensions
            ) as response:
                content = await self._read(response)
                content_type = _header(response, b"content-type")
        except TargetRefused as exc:
            raise ToolFailed(f"refused: {exc}") from exc
        except httpcore.TimeoutException as exc:
            raise ToolFailed(f"no answer within {timeout:.1f} s") from exc
        except httpcore.NetworkError as exc:
            raise ToolFailed(f"could not reach the endpoint: {exc}") from exc
        except httpcore.ProtocolError as exc:
            raise ToolFailed(f"unreadable answer: {exc}") from exc
        if not 200 <= response.status < 300:
            raise ToolFailed(f"the endpoint answered {response.status}")
        return result_text(content, content_type)

    async def _read(self, response: httpcore.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_stream():
            size += len(chunk)
            if size > self._max_bytes:
                raise ToolFailed(f"answer over {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _header(response: httpcore.Response, name: bytes) -> str:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1").lower()
    return ""
