"""The chat adapter sends each model family the parameters it accepts (over MockTransport)."""

import json

import httpx
import pytest
from openai import AsyncOpenAI

from switchboard.ai.adapters.openai_client import OpenAIModel
from switchboard.ai.errors import ModelRejected
from switchboard.ai.model_families import family_of
from switchboard.ai.models import ChatMessage

PROMPT = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")]


def model_over(seen: list[dict]) -> OpenAIModel:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": seen[-1]["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hello"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
        )

    client = AsyncOpenAI(
        base_url="https://openai.test/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    return OpenAIModel(client)


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-nano"])
async def test_reasoning_models_get_max_completion_tokens_and_no_temperature(model) -> None:
    seen: list[dict] = []
    await model_over(seen).complete(model, PROMPT, 0.3, 300)
    [body] = seen
    assert "max_tokens" not in body
    assert "temperature" not in body
    assert body["max_completion_tokens"] >= 300


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "llama3.1:8b"])
async def test_chat_models_keep_max_tokens_and_temperature(model) -> None:
    seen: list[dict] = []
    await model_over(seen).complete(model, PROMPT, 0.3, 300)
    [body] = seen
    assert body["max_tokens"] == 300
    assert body["temperature"] == 0.3
    assert "max_completion_tokens" not in body


async def test_reasoning_budget_gets_the_headroom_and_the_effort_the_family_takes() -> None:
    seen: list[dict] = []
    model = model_over(seen)
    await model.complete("o4-mini", PROMPT, 0.3, 300, "minimal")  # o-series: no "minimal"
    await model.complete("gpt-5-mini", PROMPT, 0.3, 300, "minimal")
    assert seen[0]["max_completion_tokens"] == 300 + 4000
    assert "reasoning_effort" not in seen[0]
    assert seen[1]["reasoning_effort"] == "minimal"


async def test_gpt_5_1_takes_temperature_only_without_reasoning() -> None:
    seen: list[dict] = []
    model = model_over(seen)
    await model.complete("gpt-5.1", PROMPT, 0.3, 300)  # reasoning_effort defaults to none
    await model.complete("gpt-5.1-mini", PROMPT, 0.3, 300, "low")
    assert (seen[0]["temperature"], seen[0]["max_completion_tokens"]) == (0.3, 300)
    assert "temperature" not in seen[1] and seen[1]["max_completion_tokens"] == 4300
    assert all("max_tokens" not in body for body in seen)


async def test_configured_family_for_a_deployment_name() -> None:
    seen: list[dict] = []
    model = model_over(seen)
    model._families = {"prod-reasoner": "o-series"}
    await model.complete("prod-reasoner-eu", PROMPT, 0.3, 300)
    assert "temperature" not in seen[0] and "max_completion_tokens" in seen[0]


async def test_a_refused_request_is_model_rejected_not_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "error": {
                    "message": "Unsupported parameter: 'max_tokens' is not supported with this "
                    "model. Use 'max_completion_tokens' instead.",
                    "type": "invalid_request_error",
                    "param": "max_tokens",
                    "code": "unsupported_parameter",
                }
            },
        )

    client = AsyncOpenAI(
        base_url="https://openai.test/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(ModelRejected, match="max_completion_tokens"):
        await OpenAIModel(client).complete("some-model", PROMPT, 0.3, 300)


def test_family_names() -> None:
    assert family_of("o1-preview").name == "o-series"
    assert family_of("ft:o4-mini-2025-04-16:acme::abc").name == "o-series"
    assert family_of("gpt-5-nano").name == "gpt-5"
    assert family_of("gpt-5.2").name == "gpt-5.1"
    assert family_of("gpt-5-chat-latest").name == "chat"
    assert family_of("gpt-4o").name == "chat"
    assert family_of("omni-moderation-latest").name == "chat"  # "o" + a letter: not o-series
