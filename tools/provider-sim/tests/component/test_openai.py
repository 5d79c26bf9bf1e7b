"""The real ``openai`` SDK against the simulator: chat, embeddings, models, injected errors."""

import base64
import math
import struct

import openai
import pytest
from openai import AsyncOpenAI


def as_floats(embedding: list[float] | str) -> list[float]:
    """The SDK hands back a base64 string as is when the caller asked for base64."""
    if isinstance(embedding, str):
        raw = base64.b64decode(embedding)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return embedding


def client_for(sim, key: str = "sk-sim") -> AsyncOpenAI:
    return AsyncOpenAI(base_url=sim.url + "/v1", api_key=key, max_retries=0)


async def test_chat_completion_is_deterministic_with_usage(sim):
    client = client_for(sim)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What are your opening hours?"},
    ]
    first = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    second = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = first.choices[0].message.content
    assert text == second.choices[0].message.content
    assert "What are your opening hours?" in text
    assert first.choices[0].finish_reason == "stop"
    usage = first.usage
    assert usage.prompt_tokens > 10 and usage.completion_tokens > 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    other = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Something else"}]
    )
    assert other.choices[0].message.content != text

    recorded = sim.http.get("/_sim/openai/requests").json()
    assert [r["messages"] for r in recorded] == [
        messages,
        messages,
        [{"role": "user", "content": "Something else"}],
    ]
    await client.close()


async def test_embeddings_put_texts_sharing_words_closer(sim):
    client = client_for(sim)
    texts = ["refund my order please", "please refund the order", "weather in Lisbon tomorrow"]
    for fmt in ("float", "base64"):
        result = await client.embeddings.create(
            model="text-embedding-3-small", input=texts, encoding_format=fmt
        )
        vectors = [as_floats(d.embedding) for d in result.data]
        assert all(len(v) == 256 for v in vectors)
        assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)

        def cos(a, b):
            return sum(x * y for x, y in zip(a, b, strict=True))

        assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2]) + 0.3
        assert result.usage.prompt_tokens == 12
    again = await client.embeddings.create(model="m", input="refund my order please")
    assert again.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)
    await client.close()


async def test_models_and_auth(start_sim):
    sim = start_sim(openai={"api_key": "sk-right"})
    models = await client_for(sim, "sk-right").models.list()
    assert {m.id for m in models.data} == {"gpt-4o-mini", "text-embedding-3-small"}
    with pytest.raises(openai.AuthenticationError) as err:
        await client_for(sim, "sk-wrong").models.list()
    assert err.value.code == "invalid_api_key"


async def test_injected_errors_use_openai_error_shapes(start_sim):
    sim = start_sim(openai={"error_rate": 1.0})
    client = client_for(sim)
    seen = set()
    for _ in range(12):
        try:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        except openai.RateLimitError as exc:
            assert exc.status_code == 429 and exc.code == "rate_limit_exceeded"
            seen.add(429)
        except openai.InternalServerError as exc:
            assert exc.status_code == 500 and exc.type == "server_error"
            seen.add(500)
    assert seen == {429, 500}
    assert sim.stats()["counters"]["openai.error"] == 12
    await client.close()


@pytest.mark.parametrize(
    ("model", "params", "param", "code"),
    [
        ("o4-mini", {"max_tokens": 300}, "max_tokens", "unsupported_parameter"),
        (
            "gpt-5",
            {"max_completion_tokens": 300, "temperature": 0.3},
            "temperature",
            "unsupported_value",
        ),
        ("o3", {"reasoning_effort": "minimal"}, "reasoning_effort", "unsupported_value"),
        (
            "gpt-5.1",
            {"reasoning_effort": "low", "temperature": 0.2},
            "temperature",
            "unsupported_value",
        ),
        ("gpt-4o-mini", {"reasoning_effort": "low"}, "reasoning_effort", "unsupported_parameter"),
    ],
)
async def test_wrong_parameters_are_refused_as_openai_does(sim, model, params, param, code):
    client = client_for(sim)
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}], **params
        )
    assert refused.value.status_code == 400
    error = refused.value.body
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    await client.close()


async def test_what_each_family_accepts(sim):
    client = client_for(sim)
    hi = [{"role": "user", "content": "Hi"}]
    ok = [
        ("gpt-4o-mini", {"max_tokens": 50, "temperature": 0.3}),
        ("o4-mini", {"max_completion_tokens": 500, "reasoning_effort": "low"}),
        ("gpt-5", {"max_completion_tokens": 500, "temperature": 1, "reasoning_effort": "minimal"}),
        ("gpt-5.1", {"max_completion_tokens": 500, "temperature": 0.3}),
    ]
    for model, params in ok:
        answer = await client.chat.completions.create(model=model, messages=hi, **params)
        assert answer.choices[0].message.content
    await client.close()


async def test_reasoning_spends_hidden_tokens_of_the_budget(sim):
    client = client_for(sim)
    hi = [{"role": "user", "content": "What are your opening hours?"}]
    roomy = await client.chat.completions.create(
        model="o4-mini", messages=hi, max_completion_tokens=1000
    )
    assert roomy.usage.completion_tokens_details.reasoning_tokens == 64
    assert roomy.choices[0].finish_reason == "stop"
    tight = await client.chat.completions.create(
        model="o4-mini", messages=hi, max_completion_tokens=64
    )
    assert tight.choices[0].message.content == ""
    assert tight.choices[0].finish_reason == "length"
    await client.close()
