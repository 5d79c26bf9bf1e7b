"""AI test fixtures: fakes wired into a reply pipeline, a key ring, event builders."""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.ai.breaker import CircuitBreaker
from switchboard.ai.cache import BusinessCache, token_context
from switchboard.ai.handlers import ReplyPipeline
from switchboard.ai.models import Business
from switchboard.ai.retrieval import Retriever
from switchboard.common.crypto import Cipher
from switchboard.common.events import (
    Event,
    MessageContent,
    MessageMedia,
    MessageReceived,
    event_id,
)

from .fakes import (
    FakeClock,
    FakeEmbedder,
    FakeMedia,
    FakeModel,
    FakePublisher,
    FakeSender,
    InMemoryConfig,
    InMemoryConversations,
    InMemoryKnowledge,
    InMemoryLedger,
    InMemoryLimiter,
    InMemoryLookup,
    InMemoryUsage,
    InMemoryWindows,
    fixed_now,
)

KEY_1 = base64.b64encode(b"1" * 32).decode()
KEY_2 = base64.b64encode(b"2" * 32).decode()
WA_ID = "1065550001"
SMS_NUMBER = "+15005550006"


def make_cipher(current: str = "k1") -> Cipher:
    return Cipher({"k1": KEY_1, "k2": KEY_2}, current)


def make_business(cipher: Cipher, **overrides: object) -> Business:
    bid = str(overrides.pop("id", "biz1"))
    values: dict[str, object] = {
        "id": bid,
        "tenant": "acme",
        "name": "Acme Bakery",
        "whatsapp_phone_number_ids": (WA_ID,),
        "twilio_numbers": (SMS_NUMBER,),
        "twilio_account_sid": "AC" + "0" * 32,
        "system_prompt": "You are Acme Bakery's assistant.",
        "model": "gpt-test",
        "memory_messages": 4,
        "fallback_text": "We will get back to you soon.",
        "whatsapp_token": cipher.seal("wa-secret-token", token_context(bid, "whatsapp")),
        "twilio_token": cipher.seal("tw-secret-token", token_context(bid, "twilio")),
    }
    values.update(overrides)
    return Business(**values)  # type: ignore[arg-type]


_T0 = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


def inbound(
    message_id: str = "wamid.in1",
    text: str | None = "Do you sell bread?",
    channel_id: str = WA_ID,
    contact: str = "15551230001",
    seq: int = 0,
    *,
    message_type: str = "text",
    content: MessageContent | None = None,
    media: list[MessageMedia] | None = None,
    received_at: datetime | None = None,
    contact_name: str | None = None,
) -> Event:
    data = MessageReceived(
        channel="sms" if channel_id.startswith("+") else "whatsapp",
        provider="twilio" if channel_id.startswith("+") else "meta",
        message_id=message_id,
        business_channel_id=channel_id,
        contact=contact,
        contact_name=contact_name,
        message_type=message_type,
        text=text,
        content=content,
        media=media or [],
        received_at=received_at or _T0 + timedelta(seconds=seq),
    )
    return Event(id=event_id("test", message_id), source="/test", data=data, tenant="acme")


@dataclass
class World:
    """A reply pipeline over fakes, and the fakes to look at."""

    pipeline: ReplyPipeline
    clock: FakeClock
    model: FakeModel
    embedder: FakeEmbedder
    sender: FakeSender
    publisher: FakePublisher
    lookup: InMemoryLookup
    ledger: InMemoryLedger
    conversations: InMemoryConversations
    usage: InMemoryUsage
    knowledge: InMemoryKnowledge
    cache: BusinessCache
    breaker: CircuitBreaker
    cipher: Cipher
    windows: InMemoryWindows
    media: FakeMedia
    config: InMemoryConfig


@pytest.fixture
def cipher() -> Cipher:
    return make_cipher()


@pytest.fixture
def world(cipher: Cipher) -> World:
    clock = FakeClock()
    model, embedder, sender, publisher = FakeModel(), FakeEmbedder(), FakeSender(), FakePublisher()
    lookup, ledger = InMemoryLookup(), InMemoryLedger()
    conversations, usage, knowledge = InMemoryConversations(), InMemoryUsage(), InMemoryKnowledge()
    cache = BusinessCache(
        lookup, cipher, ttl_s=300, max_entries=1000, token_max_entries=1000, clock=clock
    )
    breaker = CircuitBreaker(3, 30.0, clock=clock)
    windows, media = InMemoryWindows(), FakeMedia()
    config = InMemoryConfig()
    config.bind(f"whatsapp/{WA_ID}", "acme")
    config.bind(f"phone/{SMS_NUMBER}", "acme")
    config.offer("gpt-test", "1", "2")
    config.plan("acme", ("gpt-test",))
    pipeline = ReplyPipeline(
        config=config,
        businesses=cache,
        ledger=ledger,
        conversations=conversations,
        usage=usage,
        limiter=InMemoryLimiter(),
        model=model,
        breaker=breaker,
        sender=sender,
        publisher=publisher,
        retriever=Retriever(
            knowledge, embedder, k=2, min_score=0.0, ttl_s=300, max_entries=10, clock=clock
        ),
        windows=windows,
        media=media,
        now=fixed_now,
        monotonic=clock,
    )
    lookup.add(make_business(cipher))
    return World(
        pipeline,
        clock,
        model,
        embedder,
        sender,
        publisher,
        lookup,
        ledger,
        conversations,
        usage,
        knowledge,
        cache,
        breaker,
        cipher,
        windows,
        media,
        config,
    )


class Builders:
    inbound = staticmethod(inbound)
    business = staticmethod(make_business)
    cipher = staticmethod(make_cipher)
    wa_id = WA_ID
    sms_number = SMS_NUMBER
    key_1 = KEY_1
    key_2 = KEY_2


@pytest.fixture
def build() -> type[Builders]:
    return Builders
