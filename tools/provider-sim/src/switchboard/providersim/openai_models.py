"""What OpenAI's chat models refuse, by family, with the answers OpenAI gives.

Reasoning models (o1/o3/o4, the gpt-5 family) refuse ``max_tokens`` (``max_completion_tokens``
instead) and any ``temperature`` but the default 1; gpt-5.1 and later take a temperature only
while they do not reason (``reasoning_effort`` ``none``, their default); chat models refuse
``reasoning_effort``. Each refusal is HTTP 400 ``invalid_request_error`` naming the parameter,
code ``unsupported_parameter`` or ``unsupported_value``. The simulator plays OpenAI, so this
is its own copy of the rules, not the AI service's.
"""

import re
from dataclasses import dataclass
from typing import Any, Final

_O_SERIES = re.compile(r"o\d")
_GPT_5_POINT = re.compile(r"gpt-5\.\d")


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    param: str
    code: str


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    reasons: bool
    """Whether it reasons when ``reasoning_effort`` is not given."""
    efforts: frozenset[str] = frozenset()
    temperature_without_reasoning: bool = False


CHAT: Final = Family("chat", False)
O_SERIES: Final = Family("o-series", True, frozenset({"low", "medium", "high"}))
GPT_5: Final = Family("gpt-5", True, frozenset({"minimal", "low", "medium", "high"}))
GPT_5_1: Final = Family(
    "gpt-5.1", False, frozenset({"none", "low", "medium", "high", "xhigh"}), True
)


def family_of(model: str) -> Family:
    name = model.lower().removeprefix("ft:")
    if name.startswith("gpt-5-chat"):
        return CHAT
    if _GPT_5_POINT.match(name):
        return GPT_5_1
    if name.startswith("gpt-5"):
        return GPT_5
    if _O_SERIES.match(name):
        return O_SERIES
    return CHAT


def _quoted(values: frozenset[str]) -> str:
    ordered = [
        f"'{v}'" for v in ("none", "minimal", "low", "medium", "high", "xhigh") if v in values
    ]
    return ", ".join(ordered[:-1]) + f", and {ordered[-1]}"


def refusal(model: str, body: dict[str, Any]) -> Refusal | None:
    """Why OpenAI would refuse ``body`` for ``model`` (None: it would take it)."""
    family = family_of(model)
    effort = body.get("reasoning_effort")
    if family is CHAT:
        if effort is not None:
            return Refusal(
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
                "unsupported_parameter",
            )
        return None
    if body.get("max_tokens") is not None:
        return Refusal(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    if effort is not None and effort not in family.efforts:
        return Refusal(
            f"Unsupported value: 'reasoning_effort' does not support '{effort}' with this "
            f"model. Supported values are: {_quoted(family.efforts)}.",
            "reasoning_effort",
            "unsupported_value",
        )
    temperature = body.get("temperature")
    reasoning = family.reasons if effort is None else effort != "none"
    allowed = family.temperature_without_reasoning and not reasoning
    if temperature is not None and temperature != 1 and not allowed:
        return Refusal(
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        )
    return None


def reasons(model: str, body: dict[str, Any]) -> bool:
    """Whether this request makes the model reason (hidden tokens before the answer)."""
    family = family_of(model)
    effort = body.get("reasoning_effort")
    return family.reasons if effort is None else effort != "none"
