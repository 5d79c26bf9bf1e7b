"""Prometheus metrics of the ingress."""

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "switchboard_ingress_webhooks_total",
    "Webhooks by route and outcome (published, or rejected with a reason).",
    ["route", "outcome"],
)
PUBLISH_SECONDS = Histogram(
    "switchboard_ingress_publish_seconds",
    "Time from verified webhook to broker ack.",
    ["topic"],
)
