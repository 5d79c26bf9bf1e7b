"""Chat completions and embeddings through the ``openai`` SDK (any OpenAI-compatible server).

The SDK's own timeout and bounded retries (429, 5xx, connection errors) apply to each call;
whatever still fails becomes ModelUnavailable, which the breaker counts.
"""

from collections.abc import Sequence

import openai
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from switchboard.ai.errors import ModelUnavailable
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
    return ChatCompletionUserMessageParam(role="user", content=m.content)


class OpenAIModel:
    """:class:`~switchboard.ai.repository.ModelClient` over ``chat.completions``."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    async def complete(
        self, model: str, messages: Sequence[ChatMessage], temperature: float, max_tokens: int
    ) -> Completion:
        try:
            response = await self._client.chat.completions.create(
                model=model,
                messages=[_param(m) for m in messages],
                temperature=temperature,
                max_tokens=max_tokens,
            )
        except openai.OpenAIError as exc:
            raise ModelUnavailable(f"chat completion failed: {exc!r}") from exc
        if not response.choices or not response.choices[0].message.content:
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
