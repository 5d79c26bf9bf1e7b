"""Which parameters each model family accepts on ``/v1/chat/completions``. No I/O.

OpenAI's reasoning models refuse what chat models take, with a 400 ``invalid_request_error``
naming the parameter (checked against OpenAI's API reference and the answers it gives):

- ``max_tokens``: "Unsupported parameter: 'max_tokens' is not supported with this model. Use
  'max_completion_tokens' instead." (code ``unsupported_parameter``) — o1/o3/o4 and the gpt-5
  family. ``max_completion_tokens`` counts the hidden reasoning tokens as well as the answer,
  so a reasoning model gets ``openai.reasoning_headroom_tokens`` on top of the business's
  answer budget (too small a cap ends in an empty answer, ``finish_reason: length``).
- ``temperature``: only the default (1) — "Unsupported value: 'temperature' does not support
  0.3 with this model. Only the default (1) value is supported." (``unsupported_value``; o3-mini
  says ``unsupported_parameter``). gpt-5.1 and later reason only when asked
  (``reasoning_effort`` defaults to ``none``) and take a temperature while they do not.
- ``reasoning_effort``: o-series low/medium/high; gpt-5 adds ``minimal``; gpt-5.1+ ``none``,
  low/medium/high. Chat models refuse it. A value the family does not take is left out (the
  model's default applies) rather than turning every message into a fallback.

Chat models (gpt-4o, gpt-4.1, gpt-5-chat-latest, and by default any name we do not know —
other OpenAI-compatible servers) keep ``max_tokens`` and ``temperature``, which those servers
understand. ``openai.model_families`` maps other names (e.g. Azure deployment names) to a family.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal


@dataclass(frozen=True, slots=True)
class Family:
    """What one family of models accepts."""

    name: str
    length_param: Literal["max_tokens", "max_completion_tokens"]
    temperature: Literal["any", "default_only", "without_reasoning"]
    efforts: frozenset[str] = frozenset()
    reasons_by_default: bool = False


CHAT: Final = Family("chat", "max_tokens", "any")
O_SERIES: Final = Family(
    "o-series", "max_completion_tokens", "default_only", frozenset({"low", "medium", "high"}), True
)
GPT_5: Final = Family(
    "gpt-5",
    "max_completion_tokens",
    "default_only",
    frozenset({"minimal", "low", "medium", "high"}),
    True,
)
GPT_5_1: Final = Family(
    "gpt-5.1",
    "max_completion_tokens",
    "without_reasoning",
    frozenset({"none", "low", "medium", "high"}),
    False,
)
FAMILIES: Final = {f.name: f for f in (CHAT, O_SERIES, GPT_5, GPT_5_1)}
"""By name, as ``openai.model_families`` refers to them."""

_O_SERIES = re.compile(r"o\d")
_GPT_5_POINT = re.compile(r"gpt-5\.\d")


def family_of(model: str, overrides: Mapping[str, str] | None = None) -> Family:
    """The family of ``model``: a configured name prefix first (longest wins), then OpenAI's."""
    name = model.lower().removeprefix("ft:")  # fine-tunes: ft:o4-mini-2025-04-16:org::id
    for prefix in sorted(overrides or {}, key=len, reverse=True):
        if name.startswith(prefix.lower()):
            return FAMILIES[(overrides or {})[prefix]]
    if name.startswith("gpt-5-chat"):
        return CHAT
    if _GPT_5_POINT.match(name):
        return GPT_5_1
    if name.startswith("gpt-5"):
        return GPT_5
    if _O_SERIES.match(name):
        return O_SERIES
    return CHAT


def chat_parameters(
    family: Family,
    temperature: float,
    max_tokens: int,
    reasoning_effort: str | None,
    *,
    headroom: int,
) -> dict[str, Any]:
    """The sampling and length parameters to send a model of ``family``."""
    effort = reasoning_effort if reasoning_effort in family.efforts else None
    reasons = family.reasons_by_default if effort is None else effort != "none"
    params: dict[str, Any] = {}
    if family.length_param == "max_tokens":
        params["max_tokens"] = max_tokens
    else:
        params["max_completion_tokens"] = max_tokens + (headroom if reasons else 0)
    if family.temperature == "any" or (family.temperature == "without_reasoning" and not reasons):
        params["temperature"] = temperature
    if effort is not None:
        params["reasoning_effort"] = effort
    return params
