"""Prometheus metrics of the AI service."""

from prometheus_client import Counter, Gauge, Histogram

from switchboard.common.metrics import start_at_zero

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
SEND_SKIPPED = Counter(
    "switchboard_ai_send_skipped_total",
    "Replies the provider will never take for this recipient, recorded and not retried, by "
    "reason (window_closed, recipient_unavailable, invalid_parameter).",
    ["reason"],
)
SEND_NOT_AUTHORIZED = Counter(
    "switchboard_ai_send_not_authorized_total",
    "Sends refused for the business's token or permissions (Meta 190, 10, 200-299 ...), by "
    "provider error code; each message is dead-lettered for a replay once fixed.",
    ["code"],
)
WINDOW_CLOSED = Counter(
    "switchboard_ai_window_closed_total",
    "WhatsApp messages answered outside the 24-hour window, by action (template, skipped).",
    ["action"],
)
READ_RECEIPTS = Counter(
    "switchboard_ai_read_receipts_total", "WhatsApp read receipts by outcome.", ["outcome"]
)
MEDIA_FETCHES = Counter(
    "switchboard_ai_media_fetches_total",
    "WhatsApp media fetched for the model, by outcome.",
    ["outcome"],
)

# Known label values exist at 0 from the start (see common.metrics).
start_at_zero(
    LIMITED, [(limit, action) for limit in ("rate", "spend") for action in ("fallback", "silent")]
)
start_at_zero(MODEL_FAILURES, [("error",), ("breaker_open",), ("rejected",)])
