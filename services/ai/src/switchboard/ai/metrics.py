"""Prometheus metrics of the AI service."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "switchboard_ai_messages_total",
    "Inbound messages by outcome (replied, fallback, duplicate, skipped_<reason>, ...).",
    ["outcome"],
)
LIMITED = Counter(
    "switchboard_ai_limited_total",
    "Messages over a business limit, by limit (rate, spend) and action (fallback, silent).",
    ["limit", "action"],
)
MODEL_FAILURES = Counter(
    "switchboard_ai_model_failures_total", "Model calls that failed or were refused.", ["reason"]
)
BREAKER_STATE = Gauge(
    "switchboard_ai_breaker_open", "1 while the model circuit breaker is open or half-open."
)
MODEL_SECONDS = Histogram("switchboard_ai_model_seconds", "Chat completion latency.")
HANDLE_SECONDS = Histogram(
    "switchboard_ai_handle_seconds", "Whole handling of one inbound message, model included."
)
TOKENS = Counter("switchboard_ai_tokens_total", "Model tokens by direction.", ["direction"])
EMBEDDED = Counter("switchboard_ai_chunks_embedded_total", "Knowledge chunks sent to be embedded.")
COST = Counter(
    "switchboard_ai_cost_usd_total", "Model spend in USD at the configured prices (all businesses)."
)
SPEND_RATIO = Gauge(
    "switchboard_ai_spend_limit_ratio",
    "Month's spend / monthly limit per business with a limit, as of its last message.",
    ["business"],
)
