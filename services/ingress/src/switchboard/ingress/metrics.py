"""Prometheus metrics of the ingress (request latency by route and status is
``switchboard_http_request_seconds``, from ``common.middleware``)."""

from prometheus_client import Counter, Gauge

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
