"""What ``ai_bench.py`` runs on: the provider simulator as a process, businesses with their
WhatsApp numbers, messages produced to a topic of the run's own, per-message timers for the
model and the provider's send, and the CPU each server process used."""

import base64
import contextvars
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from switchboard.ai.cache import token_context
from switchboard.ai.models import Business, ChatMessage, Completion, ProviderTokens, Template
from switchboard.bench.cpu import CpuMeter, read_pid
from switchboard.common.crypto import Cipher
from switchboard.common.events import Event, MessageReceived, encode, event_id
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[3]
WA_TOKEN = "bench-wa-token"


@dataclass(slots=True)
class Spent:
    """Time one message spent waiting for the model and for the provider's send (s)."""

    model: float = 0.0
    send: float = 0.0


SPENT: contextvars.ContextVar[Spent] = contextvars.ContextVar("spent")


def _charge(field: str, seconds: float) -> None:
    spent = SPENT.get(None)
    if spent is not None:
        setattr(spent, field, getattr(spent, field) + seconds)


class TimedModel:
    """A model client charging its time to the message that called it (each message runs in
    a task of its own; the context variable is copied into the tasks it gathers)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        temperature: float,
        max_tokens: int,
        reasoning_effort: str | None = None,
    ) -> Completion:
        started = time.perf_counter()
        try:
            completion: Completion = await self._inner.complete(
                model, messages, temperature, max_tokens, reasoning_effort
            )
            return completion
        finally:
            _charge("model", time.perf_counter() - started)
            prompts = getattr(self._inner, "prompts", None)
            if prompts is not None:
                prompts.clear()  # a fake model keeps prompts: keep memory flat


class TimedSender:
    """A sender charging its time to the message that called it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def send(
        self,
        business: Business,
        tokens: ProviderTokens,
        channel_id: str,
        to: str,
        text: str,
        *,
        template: Template | None = None,
    ) -> str:
        started = time.perf_counter()
        try:
            return str(
                await self._inner.send(business, tokens, channel_id, to, text, template=template)
            )
        finally:
            _charge("send", time.perf_counter() - started)
            sent = getattr(self._inner, "sent", None)
            if sent is not None:
                sent.clear()

    async def mark_read(
        self, business: Business, tokens: ProviderTokens, channel_id: str, message_id: str
    ) -> None:
        started = time.perf_counter()
        try:
            await self._inner.mark_read(business, tokens, channel_id, message_id)
        finally:
            _charge("send", time.perf_counter() - started)


class Simulator:
    """``switchboard-provider-sim serve`` as a process: OpenAI at 0 ms, the WhatsApp send
    endpoint knowing every bench number, the 24-hour window not enforced (the bench's
    customers did not write through the simulator)."""

    def __init__(self, numbers: Iterable[str]) -> None:
        self.port = free_port()
        self._numbers = list(numbers)
        self._dir = tempfile.TemporaryDirectory(prefix="ai-bench-sim-")
        self.proc = ServiceProcess(
            "provider-sim",
            ["switchboard.providersim", "serve"],
            {
                "SWITCHBOARD_SIM__PORT": str(self.port),
                "SWITCHBOARD_LOG__LEVEL": "WARNING",
            },
            self.port,
            Path(self._dir.name),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Simulator":
        self.proc.wait_ready("/health")
        config = {
            "whatsapp": {
                "phone_numbers": {n: WA_TOKEN for n in self._numbers},
                "enforce_window": False,
                "webhook_url": None,
            },
            "openai": {"latency_ms": 0, "error_rate": 0},
        }
        answer = httpx.post(f"{self.url}/_sim/reset", json=config, timeout=30)
        answer.raise_for_status()
        return self

    def counters(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/_sim/stats", timeout=30).json().get("counters", {}))

    def stop(self) -> None:
        self.proc.stop()
        self._dir.cleanup()


def businesses(n: int, cipher: Cipher, run: str) -> list[Business]:
    """``n`` businesses, each with one WhatsApp number, a rate and a spend limit (both read per
    message) and six remembered turns."""
    out = []
    for i in range(n):
        bid = f"bench-{run}-{i}"
        out.append(
            Business(
                id=bid,
                tenant="bench",
                name=f"Business {i}",
                whatsapp_phone_number_ids=(f"9{i:08d}",),
                system_prompt="You are the bench business's assistant. Answer briefly.",
                memory_messages=6,
                rate_limit_per_minute=1_000_000,
                monthly_spend_limit_usd=1_000_000.0,
                fallback_text="We will get back to you.",
                whatsapp_token=cipher.seal(WA_TOKEN, token_context(bid, "whatsapp")),
            )
        )
    return out


def inbound(n: int, run: str, channel: str, contact: str, at: datetime) -> Event:
    data = MessageReceived(
        channel="whatsapp",
        provider="meta",
        message_id=f"wamid.bench{run}{n}",
        business_channel_id=channel,
        contact=contact,
        text=f"Hello, question number {n}: when do you open on Sunday?",
        received_at=at,
    )
    return Event(id=event_id("bench", run, n), source="/bench", data=data, tenant="bench")


def conversation_traffic(
    run: str, channels: Sequence[str], conversations: int, messages: int
) -> list[Event]:
    """``messages`` events over ``conversations`` conversations spread across ``channels``,
    interleaved: round after round, every conversation sends its next message."""
    now = datetime.now(UTC)
    contacts = [(channels[c % len(channels)], f"1555{c:07d}") for c in range(conversations)]
    return [inbound(n, run, *contacts[n % conversations], now) for n in range(messages)]


def unowned_traffic(run: str, messages: int, contacts: int = 1000) -> list[Event]:
    """A burst to a number no business owns, from ``contacts`` customers."""
    now = datetime.now(UTC)
    channel = f"8{abs(hash(run)) % 10**8:08d}"
    return [inbound(n, run, channel, f"1666{n % contacts:07d}", now) for n in range(messages)]


async def produce(settings: KafkaSettings, topic: str, events: Sequence[Event]) -> None:
    """Every event, keyed by conversation, acknowledged by the broker before the run starts."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        for event in events:
            assert isinstance(event.data, MessageReceived)
            wire = encode(event, event.data.conversation)
            await producer.send(topic, wire.value, key=wire.key, headers=list(wire.headers.items()))
        await producer.flush()
    finally:
        await producer.stop()


# -- CPU of the processes on the box ---------------------------------------------------------


def cpu_meter(sim_pid: int | None, ferretdb_pid: int | None = None) -> CpuMeter:
    """This process (the AI worker) and the local servers (FerretDB, Kafka, Redis, PostgreSQL
    with its backends, the simulator)."""
    local = ROOT / ".local"
    pids = {
        "ai worker (this process)": os.getpid(),
        "ferretdb": ferretdb_pid or read_pid(local / "ferretdb" / "ferretdb.pid"),
        "kafka": read_pid(local / "kafka" / "kafka.pid"),
        "redis": read_pid(local / "redis" / "redis.pid"),
        "postgres": read_pid(local / "postgres" / "data" / "postmaster.pid"),
        "provider-sim": sim_pid,
    }
    return CpuMeter({name: [pid] for name, pid in pids.items() if pid})


def box_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min), {os.cpu_count()} cores"


def cipher_for_run() -> tuple[Cipher, str]:
    key = base64.b64encode(os.urandom(32)).decode()
    return Cipher({"k1": key}, "k1"), key
