"""Prometheus metrics of the ingress (request latency by route and status is
``switchboard_http_request_seconds``, from ``common.middleware``)."""

from typing import Final, get_args

from prometheus_client import Counter, Gauge, Histogram

from switchboard.common.events.voice import VoiceOutcome
from switchboard.common.metrics import start_at_zero

WEBHOOKS = Counter(
    "switchboard_ingress_webhooks_total",
    "Webhooks by route and outcome (published, spooled, ignored, or rejected_<reason>).",
    ["route", "outcome"],
)
DELIVERIES = Counter(
    "switchboard_ingress_events_total",
    "Events made durable: published to Kafka directly, spooled, or drained from the spool.",
    ["outcome"],
)
SPOOL_DEPTH = Gauge("switchboard_ingress_spool_depth", "Events waiting in the local spool.")
SPOOL_AGE = Gauge(
    "switchboard_ingress_spool_oldest_age_seconds", "Age of the oldest event in the spool."
)
OVERSIZE = Counter(
    "switchboard_ingress_oversize_events_total",
    "Events over the Kafka record limit: trimmed to fit (from a webhook or the spool), or "
    "rejected (the webhook answered 413).",
    ["outcome"],
)
SPOOL_DEAD_LETTERS = Gauge(
    "switchboard_ingress_spool_dead_letters",
    "Spooled records set aside because they can never be published (this process's spool "
    "file); see `switchboard-ingress spool list`.",
)
DEAD_LETTERED = Counter(
    "switchboard_ingress_spool_dead_lettered_total",
    "Spooled records moved to the dead-letter table, by reason (too_large, refused, attempts).",
    ["reason"],
)
WHATSAPP_SKIPPED = Counter(
    "switchboard_ingress_whatsapp_skipped_total",
    "Parts of signed WhatsApp batches that could not become events (logged with the payload); "
    "the rest of the batch was accepted.",
    ["part"],
)
UNOWNED = Counter(
    "switchboard_ingress_unowned_events_total",
    "Verified events on a channel no tenant owns, kept on unowned.events for the operator, by "
    "route and reason (unbound, other_account, tenant_not_holder, no_channel).",
    ["route", "reason"],
)
VOICE_ANSWERS = Counter(
    "switchboard_ingress_voice_answers_total",
    "Synchronous voice requests (Vapi assistant-request, tool-calls, function-call, "
    "transfer-destination-request; ElevenLabs initiation, server tools) by outcome: answered "
    "by the AI service, fallback_timeout (past the deadline), fallback_error (the AI service "
    "failed), unowned (no tenant's business owns the call: the configured default).",
    ["provider", "request", "outcome"],
)
VOICE_ANSWER_SECONDS = Histogram(
    "switchboard_ingress_voice_answer_seconds",
    "From a synchronous voice request's arrival to its answer (before the event's publish).",
    ["provider", "request"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 3.5, 5.0, 7.5, 10.0, 20.0),
)
VOICE_EVENTS_LOST = Counter(
    "switchboard_ingress_voice_events_lost_total",
    "Synchronous voice exchanges answered although their event could not be made durable "
    "(the caller was on the line), by reason (broker: spool full, event_too_large).",
    ["provider", "reason"],
)

VOICE_REQUESTS: Final = (
    ("vapi", "assistant-request"),
    ("vapi", "tool-calls"),
    ("vapi", "function-call"),
    ("vapi", "transfer-destination-request"),
    ("elevenlabs", "conversation-initiation"),
    ("elevenlabs", "server-tool"),
)
"""The synchronous requests each platform makes (the answers' label sets)."""
start_at_zero(
    VOICE_ANSWERS,
    [(p, r, outcome) for p, r in VOICE_REQUESTS for outcome in get_args(VoiceOutcome)],
)
start_at_zero(
    VOICE_EVENTS_LOST,
    [(p, reason) for p in ("vapi", "elevenlabs") for reason in ("broker", "event_too_large")],
)
