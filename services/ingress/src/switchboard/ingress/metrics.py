"""Prometheus metrics of the ingress."""

import functools

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter(
    "switchboard_ingress_webhooks_total",
    "Webhooks by route and outcome (published, spooled, ignored, or rejected_<reason>).",
    ["route", "outcome"],
)
LATENCY = Histogram(
    "switchboard_ingress_request_seconds",
    "Webhook handling time, verification to answer.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
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


@functools.cache
def webhooks(route: str, outcome: str) -> Counter:
    """The ``WEBHOOKS`` child of (route, outcome): ``labels()`` per request costs more than
    the increment, and routes and outcomes are few."""
    return WEBHOOKS.labels(route, outcome)


@functools.cache
def deliveries(outcome: str) -> Counter:
    return DELIVERIES.labels(outcome)
