"""Chat completions and embeddings through the ``openai`` SDK (any OpenAI-compatible server).

The SDK's own timeout and bounded retries (429, 5xx, connection errors) apply to each call;
whatever still fails becomes ModelUnavailable, which the breaker counts — except a request the
server refused as wrong (400, 404, 422: a bad parameter, an unknown model), which is
ModelRejected: one business's configuration, not a model that is down for everyone.
Each model family gets the parameters it accepts (``model_families.py``).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from switchboard.ai.errors import ModelRejected, ModelUnavailable
from switchboard.ai.model_families import chat_parameters, family_of
from switchboard.ai.models import ChatMessage, Completion
from switchboard.ai.settings import OpenAISettings


def create_openai(settings: OpenAISettings) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=settings.base_url,
        api_key=settings.api_key.get_secret_value() or "unset",
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
    )


def _param(m: ChatMessage) -> ChatCompletionMessageParam:
    if m.role == "system":
        return ChatCompletionSystemMessageParam(role="system", content=m.content)
    if m.role == "assistant":
        return ChatCompletionAssistantMessageParam(role="assistant", content=m.content)
    if m.images:  # fetched WhatsApp images, as data URLs beside the words describing them
        parts: list[ChatCompletionContentPartParam] = [{"type": "text", "text": m.content}]
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in m.images]
        return ChatCompletionUserMessageParam(role="user", content=parts)
    return ChatCompletionUserMessageParam(role="user", content=m.content)


_REJECTED = (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError)


class OpenAIModel:
    """:class:`~switchboard.ai.repository.ModelClient` over ``chat.completions``."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        families: Mapping[str, str] | None = None,
        reasoning_headroom: int = 4000,
    ) -> None:
        self._client = client
        self._families = dict(families or {})
        self._headroom = reasoning_headroom

    async def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        temperature: float,
        max_tokens: int,
        reasoning_effort: str | None = None,
    ) -> Completion:
        params: dict[str, Any] = chat_parameters(
            family_of(model, self._families),
            temperature,
            max_tokens,
            reasoning_effort,
            headroom=self._headroom,
        )
        body = {"model": model, "messages": [_param(m) for m in messages], **params}
        try:
            # The client's own POST (the SDK's documented way to send a body as it is), not
            # ``chat.completions.create``: that walks every message through the SDK's type
            # transform first, a sixth of the worker's CPU per reply, for dicts of strings
            # that it leaves as they are. Auth, timeout, retries and errors are the same.
            response = await self._client.post(
                "/chat/completions", cast_to=ChatCompletion, body=body
            )
        except _REJECTED as exc:
            raise ModelRejected(f"{model} refused the request: {exc.message}") from exc
        except openai.OpenAIError as exc:
            raise ModelUnavailable(f"chat completion failed: {exc!r}") from exc
        if not response.choices or not response.choices[0].message.content:
            if response.choices and response.choices[0].finish_reason == "length":
                # A reasoning model spent the whole budget thinking: a setting, not an outage.
                raise ModelRejected(
                    f"{model} used its whole token budget before answering; raise the "
                    "business's max_tokens or openai.reasoning_headroom_tokens"
                )
            raise ModelUnavailable("chat completion had no text")
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content.strip(),
            model=response.model or model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


class OpenAIEmbedder:
    """:class:`~switchboard.ai.repository.Embedder` over ``embeddings``."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            response = await self._client.embeddings.create(model=self._model, input=list(texts))
        except openai.OpenAIError as exc:
            raise ModelUnavailable(f"embedding failed: {exc!r}") from exc
        ordered = sorted(response.data, key=lambda d: d.index)
        return [list(d.embedding) for d in ordered]
