"""Outbound webhook delivery: pooled HTTP/1.1 (``http1.py``), per-delivery faults, retries, and
the record of it all.

Per-delivery faults live here (extra delay, duplicates, retries after a non-2xx answer);
per-call faults (drop the final callback, reorder a call's callbacks) live in the call engine.
Twilio's connection overrides in the URL fragment (``#rc=3&rp=all&ct=..&rt=..&tt=..``) are
honoured and the fragment is stripped before the URL is signed and called.
"""

import asyncio
import random
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urldefrag, urlencode

from switchboard.providersim.http1 import ClientError, ConnectFailed, Http1Client, Timeouts
from switchboard.providersim.signing import twilio_signature
from switchboard.providersim.state import SimState

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
RETRY_BACKOFF_S = 0.05
RETRY_BACKOFF_MAX_S = 1.0


@dataclass(frozen=True, slots=True)
class ConnectionOverrides:
    """Twilio's URL-fragment overrides; the defaults are Twilio's own behaviour."""

    retry_count: int = 1
    retry_policy: frozenset[str] = frozenset({"ct"})
    connect_s: float | None = None
    read_s: float | None = None
    total_s: float | None = None


def split_fragment(url: str) -> tuple[str, ConnectionOverrides]:
    """The URL to call (fragment removed) and the overrides the fragment carried."""
    bare, fragment = urldefrag(url)
    if not fragment:
        return bare, ConnectionOverrides()
    opts = dict(parse_qsl(fragment))

    def seconds(name: str) -> float | None:
        value = opts.get(name, "")
        return int(value) / 1000 if value.isdigit() else None

    rc = opts.get("rc", "")
    policy = opts.get("rp")
    return bare, ConnectionOverrides(
        retry_count=min(5, int(rc)) if rc.isdigit() else 1,
        retry_policy=frozenset(policy.split(",")) if policy else frozenset({"ct"}),
        connect_s=seconds("ct"),
        read_s=seconds("rt"),
        total_s=seconds("tt"),
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook to send: signed body and headers, and the policy for retrying it."""

    kind: str
    """e.g. ``twilio.call.status``, ``whatsapp.messages``, ``vapi.end-of-call-report``."""
    url: str
    body: bytes
    headers: dict[str, str]
    method: str = "POST"
    overrides: ConnectionOverrides = field(default_factory=lambda: ConnectionOverrides(0))
    key: str = ""
    """What it is about (CallSid, wamid…), for the log."""


def twilio_form(
    kind: str, url: str, params: dict[str, str], token: str, method: str = "POST", key: str = ""
) -> Delivery:
    """A Twilio-signed form callback to ``url`` (its fragment read as overrides, then dropped)."""
    bare, overrides = split_fragment(url)
    if method.upper() == "GET":
        full = f"{bare}{'&' if '?' in bare else '?'}{urlencode(params)}"
        headers = {"X-Twilio-Signature": twilio_signature(full, {}, token)}
        return Delivery(kind, full, b"", headers, "GET", overrides, key)
    headers = {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio_signature(bare, params, token),
    }
    return Delivery(kind, bare, urlencode(params).encode(), headers, "POST", overrides, key)


def _failure_class(status: int | None, error: BaseException | None) -> str:
    if isinstance(error, ConnectFailed):
        return "ct"
    if error is not None:
        return "rt"
    assert status is not None
    return "4xx" if status < 500 else "5xx"


class WebhookSender:
    """Sends deliveries over one :class:`Http1Client` (keep-alive connections per origin).

    At most ``max_in_flight`` requests are out at once; the rest wait their turn here (a
    provider's outbound concurrency is bounded too).
    """

    def __init__(self, state: SimState, client: Http1Client, max_in_flight: int = 32) -> None:
        self._state = state
        self._client = client
        self._slots = asyncio.Semaphore(max_in_flight)

    async def send(self, delivery: Delivery, rng: random.Random | None = None) -> int | None:
        """Deliver with faults and retries: the last HTTP status (``None``: never answered)."""
        rng = rng or self._state.rng
        faults = self._state.config.faults
        status = await self._send_with_retries(delivery)
        if faults.duplicate_rate and rng.random() < faults.duplicate_rate:
            self._state.record("webhook.duplicated", url=delivery.url, key=delivery.key)
            await self._send_with_retries(delivery)
        return status

    async def _send_with_retries(self, delivery: Delivery) -> int | None:
        faults = self._state.config.faults
        if faults.delay_ms:
            await asyncio.sleep(faults.delay_ms / 1000)
        attempt = 0
        while True:
            status, error = await self._attempt(delivery)
            record = self._state.delivery(delivery.kind, delivery.key)
            record.attempts += 1
            record.status = status
            if status is None:
                record.unanswered += 1
            elif not 200 <= status < 300:
                record.refused += 1
            elif record.acked is None:
                record.acked = time.time()
            if status is not None and 200 <= status < 300:
                self._state.counters[f"{delivery.kind}.acknowledged"] += 1
                self._state.counters["webhook.acknowledged"] += 1
                if delivery.key and delivery.key not in self._state.acknowledged_keys:
                    self._state.acknowledged_keys.add(delivery.key)
                    self._state.counters[f"{delivery.kind}.acknowledged.distinct"] += 1
                return status
            why = _failure_class(status, error)
            policy = delivery.overrides.retry_policy
            by_override = attempt < delivery.overrides.retry_count and (
                why in policy or "all" in policy
            )
            if not (by_override or attempt < faults.retries):
                self._state.record(
                    "webhook.failed", url=delivery.url, key=delivery.key, status=status, why=why
                )
                return status
            attempt += 1
            self._state.record("webhook.retried", url=delivery.url, key=delivery.key, why=why)
            await asyncio.sleep(min(RETRY_BACKOFF_MAX_S, RETRY_BACKOFF_S * 2 ** (attempt - 1)))

    async def _attempt(self, delivery: Delivery) -> tuple[int | None, BaseException | None]:
        o = delivery.overrides
        total = o.total_s or self._state.config.webhook_timeout_s
        timeouts = Timeouts(total, connect=o.connect_s or total, read=o.read_s or total)
        async with self._slots:
            # The record's first_sent is the first attempt's, not the wait for a slot.
            self._state.delivery(delivery.kind, delivery.key)
            self._state.counters["webhook.sent"] += 1
            self._state.counters[f"{delivery.kind}.sent"] += 1
            started = time.perf_counter()
            try:
                status = await self._client.request(
                    delivery.method, delivery.url, delivery.body, delivery.headers, timeouts
                )
            except ClientError as exc:
                self._state.record(
                    "webhook.error", url=delivery.url, key=delivery.key, error=repr(exc)
                )
                return None, exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._state.webhook_latencies_ms.append(elapsed_ms)
        if not self._state.config.log_webhooks:
            return status, None
        self._state.log.append(
            {
                "kind": "webhook.delivered",
                "webhook": delivery.kind,
                "url": delivery.url,
                "key": delivery.key,
                "status": status,
                "ms": round(elapsed_ms, 2),
                "body": delivery.body.decode(errors="replace"),
            }
        )
        return status, None
