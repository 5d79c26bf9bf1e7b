"""OpenAI-compatible ``/v1/chat/completions``, ``/v1/embeddings`` and ``/v1/models``.

Deterministic answers (see ``language.py``), realistic ``usage``, configurable latency and
error rate (429 / 500 with OpenAI's error JSON); every request is recorded. A parameter the
model's family does not take is refused as OpenAI refuses it (``openai_models.py``), and a
reasoning model spends ``openai.reasoning_tokens`` hidden tokens of ``max_completion_tokens``
before its answer (none left: an empty answer with ``finish_reason: length``).
"""

import asyncio
import hmac
import json
import time
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State

from switchboard.providersim import language, openai_models
from switchboard.providersim.deps import SimDep
from switchboard.providersim.state import SimState

AnyRequest = Request[Any, Any, State]


def openai_error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> Response[Any]:
    return Response(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status_code=status,
    )


async def gate(sim: SimState, request: AnyRequest) -> Response[Any] | None:
    """Auth, latency and injected errors; ``None`` when the request may proceed."""
    cfg = sim.config.openai
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if cfg.api_key is not None and not hmac.compare_digest(token.encode(), cfg.api_key.encode()):
        sim.record("openai.rejected", reason="auth")
        return openai_error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    if cfg.latency_ms:
        await asyncio.sleep(cfg.latency_ms / 1000)
    if cfg.error_rate and sim.rng.random() < cfg.error_rate:
        if sim.rng.random() < 0.5:
            sim.record("openai.error", status=429)
            return openai_error(
                429,
                "Rate limit reached for requests (simulated).",
                "requests",
                "rate_limit_exceeded",
            )
        sim.record("openai.error", status=500)
        return openai_error(
            500, "The server had an error while processing your request.", "server_error", None
        )
    return None


async def read_json(request: AnyRequest) -> dict[str, Any] | Response[Any]:
    """The body as a JSON object, or the 400 to answer."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return openai_error(400, "Invalid JSON body.", "invalid_request_error", None)
    if not isinstance(body, dict):
        return openai_error(400, "Body must be an object.", "invalid_request_error", None)
    return body


def invalid(message: str) -> Response[Any]:
    return openai_error(400, message, "invalid_request_error", None)


def chat_completion(sim: SimState, body: dict[str, Any], model: str) -> dict[str, Any]:
    """The completion object for a validated chat request."""
    messages = body["messages"]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    reasoning = sim.config.openai.reasoning_tokens if openai_models.reasons(model, body) else 0
    if limit:
        reasoning = min(reasoning, int(limit))
    left = int(limit) - reasoning if limit else None
    text = language.reply_for(messages, left) if left is None or left > 0 else ""
    cut = left is not None and language.count_tokens(language.reply_for(messages)) > left
    prompt = language.prompt_tokens(messages)
    completion = language.count_tokens(text) + reasoning
    sim.record("openai.chat.completed", model=model, prompt_tokens=prompt)
    return {
        "id": sim.new_id("chatcmpl-", 24),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
        "system_fingerprint": "fp_provider_sim",
    }


def embedding_list(
    sim: SimState, body: dict[str, Any], texts: list[str], model: str
) -> dict[str, Any]:
    """The embeddings object for validated input texts."""
    dim = int(body.get("dimensions") or sim.config.openai.embedding_dim)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        vector = language.embed(text, dim)
        encoded: str | list[float] = (
            language.encode_base64(vector) if as_base64 else [float(x) for x in vector]
        )
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(language.count_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class OpenAIApi(Controller):
    """``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``."""

    path = "/v1"
    include_in_schema = False

    @post("/chat/completions", status_code=200)
    async def chat(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return invalid("'messages' must be a non-empty array.")
        if body.get("stream"):
            return invalid("stream is not supported by the simulator.")
        model = str(body.get("model") or sim.config.openai.chat_model)
        sim.openai_requests.append({"endpoint": "chat.completions", "model": model, **body})
        sim.counters["openai.chat.requests"] += 1
        if (refused := await gate(sim, request)) is not None:
            return refused
        if (wrong := openai_models.refusal(model, body)) is not None:
            sim.record("openai.rejected", reason=wrong.code, param=wrong.param, model=model)
            return openai_error(
                400, wrong.message, "invalid_request_error", wrong.code, param=wrong.param
            )
        return Response(chat_completion(sim, body, model))

    @post("/embeddings", status_code=200)
    async def embeddings(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return invalid("'input' must be a string or an array of strings.")
        model = str(body.get("model") or sim.config.openai.embedding_model)
        sim.openai_requests.append({"endpoint": "embeddings", "model": model, **body})
        sim.counters["openai.embeddings.requests"] += 1
        if (refused := await gate(sim, request)) is not None:
            return refused
        return Response(embedding_list(sim, body, texts, model))

    @get("/models")
    async def models(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        if (refused := await gate(sim, request)) is not None:
            return refused
        cfg = sim.config.openai
        names = (cfg.chat_model, cfg.embedding_model)
        return Response(
            {
                "object": "list",
                "data": [
                    {"id": n, "object": "model", "created": 0, "owned_by": "provider-sim"}
                    for n in names
                ],
            }
        )
