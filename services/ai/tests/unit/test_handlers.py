"""The reply pipeline over in-memory fakes: once per message, limits, fallback, memory."""

import pytest

from switchboard.ai.breaker import BreakerState
from switchboard.ai.errors import ConfigNotReady, SendFailed, SendUnknown, StoreUnavailable
from switchboard.ai.handlers import handle_inbound
from switchboard.ai.models import KnowledgeChunk, ReplyState
from switchboard.common.events import MessageSent

from ..fakes import bag_of_words


async def test_reply_is_sent_published_and_counted(world, build) -> None:
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    [sent] = world.sender.sent
    assert sent.text == "reply to: Do you sell bread?"
    assert sent.tokens.whatsapp_access_token == "wa-secret-token"
    [(event, key)] = world.publisher.published
    assert key == f"{build.wa_id}:15551230001"
    assert isinstance(event.data, MessageSent)
    assert event.data.in_reply_to == "wamid.in1"
    assert event.data.message_id == "wamid.out1"
    assert event.data.model == "gpt-test"
    assert event.data.completion_tokens == 5
    # prompt tokens: words in the system prompt + the question; price 1.0 / 2.0 per 1k
    expected = event.data.prompt_tokens / 1000 * 1.0 + 5 / 1000 * 2.0
    assert event.data.cost_usd == pytest.approx(expected)
    assert event.tenant == "acme"
    assert world.ledger.records["wamid.in1"].state is ReplyState.SENT
    assert world.ledger.records["wamid.in1"].published
    assert world.usage.spent["biz1"] == pytest.approx(expected)


async def test_duplicate_inbound_gets_one_reply(world, build) -> None:
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    assert await handle_inbound(build.inbound(), world.pipeline) == "duplicate"
    assert len(world.sender.sent) == 1
    assert len(world.model.prompts) == 1
    assert len(world.publisher.published) == 1


async def test_crash_between_model_and_send_reuses_the_stored_reply(world, build) -> None:
    class Crash(Exception):
        """The process dies after the reply was stored, before the send began."""

    real_begin_send = world.ledger.begin_send

    async def crash_once(message_id: str) -> bool:
        world.ledger.begin_send = real_begin_send
        raise Crash

    world.ledger.begin_send = crash_once
    with pytest.raises(Crash):
        await handle_inbound(build.inbound(), world.pipeline)
    assert world.ledger.records["wamid.in1"].state is ReplyState.MODEL_DONE
    assert world.sender.sent == []
    world.model.fail = True  # were the model asked again, the reply would be the fallback
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    assert len(world.model.prompts) == 1
    [sent] = world.sender.sent
    assert sent.text == "reply to: Do you sell bread?"
    assert await handle_inbound(build.inbound(), world.pipeline) == "duplicate"
    assert len(world.sender.sent) == 1


async def test_unknown_send_outcome_is_never_resent(world, build) -> None:
    world.sender.fail_with = [SendUnknown("timeout after the request went out")]
    with pytest.raises(SendUnknown):
        await handle_inbound(build.inbound(), world.pipeline)
    assert await handle_inbound(build.inbound(), world.pipeline) == "duplicate_unknown"
    assert world.sender.sent == []
    assert len(world.model.prompts) == 1


async def test_definite_send_failure_is_retried_with_the_same_reply(world, build) -> None:
    world.sender.fail_with = [SendFailed("503")]
    with pytest.raises(SendFailed):
        await handle_inbound(build.inbound(), world.pipeline)
    assert world.ledger.records["wamid.in1"].state is ReplyState.MODEL_DONE
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    assert len(world.sender.sent) == 1
    assert len(world.model.prompts) == 1


async def test_crash_after_send_before_publish_publishes_on_redelivery(world, build) -> None:
    world.publisher.fail_with = [RuntimeError("broker gone")]
    with pytest.raises(RuntimeError):
        await handle_inbound(build.inbound(), world.pipeline)
    assert await handle_inbound(build.inbound(), world.pipeline) == "duplicate"
    assert len(world.sender.sent) == 1
    [(event, _)] = world.publisher.published
    assert event.data.in_reply_to == "wamid.in1"
    assert len(world.usage.counted) == 1


async def test_unknown_and_inactive_business_are_skipped_without_writing(world, build) -> None:
    world.config.bind("phone/+15550000999", "acme")  # acme's number, no business on it
    outcome = await handle_inbound(build.inbound(channel_id="+15550000999"), world.pipeline)
    assert outcome == "skipped_unknown_business"
    assert world.ledger.records == {}  # nothing will be sent: nothing to deduplicate
    world.config.bind("phone/+15550000777", "acme")
    world.lookup.add(
        build.business(
            world.cipher,
            id="biz2",
            whatsapp_phone_number_ids=(),
            twilio_numbers=("+15550000777",),
            active=False,
        )
    )
    outcome = await handle_inbound(
        build.inbound("wamid.in2", channel_id="+15550000777"), world.pipeline
    )
    assert outcome == "skipped_inactive_business"
    again = await handle_inbound(build.inbound(channel_id="+15550000999"), world.pipeline)
    assert again == "skipped_unknown_business"  # a redelivery: skipped again, still no write
    assert world.ledger.records == {}
    assert world.sender.sent == []
    assert world.windows.last == {}


async def test_a_channel_nobody_owns_is_skipped_without_a_lookup(world, build) -> None:
    calls = world.lookup.calls
    outcome = await handle_inbound(build.inbound(channel_id="+15550000999"), world.pipeline)
    assert outcome == "skipped_unowned_channel"
    assert world.lookup.calls == calls  # the control plane said so: no datastore read
    assert world.ledger.records == {} and world.sender.sent == []


async def test_only_a_business_of_the_channels_owner_answers(world, build) -> None:
    """Tenant globex registered a business on acme's WhatsApp number (possible before the
    control plane decided who owns a channel): acme's customer is never answered, stored or
    billed under globex, and when the event names another tenant than the binding nobody
    answers."""
    world.lookup.businesses.clear()
    world.lookup.add(build.business(world.cipher, id="intruder", tenant="globex"))
    outcome = await handle_inbound(build.inbound(), world.pipeline)
    assert outcome == "skipped_unknown_business"  # acme owns the number; acme has no business
    assert world.ledger.records == {} and world.sender.sent == []
    assert world.usage.counted == set() and world.publisher.published == []
    world.config.bind(f"whatsapp/{build.wa_id}", "globex")  # moved: the event still says acme
    outcome = await handle_inbound(build.inbound("wamid.in2"), world.pipeline)
    assert outcome == "skipped_other_tenant"
    assert world.ledger.records == {} and world.sender.sent == []


async def test_a_suspended_tenants_channels_are_not_answered(world, build) -> None:
    world.config.suspend("acme")
    assert await handle_inbound(build.inbound(), world.pipeline) == "skipped_tenant_suspended"
    assert world.sender.sent == []


async def test_a_message_waits_until_the_configuration_is_read(world, build) -> None:
    """Before control.config is materialized nobody is known to own anything: the message
    is retried (its conversation waits), not skipped as unowned and lost."""
    world.config.ready = False
    with pytest.raises(ConfigNotReady):
        await handle_inbound(build.inbound(), world.pipeline)
    world.config.ready = True
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"


async def test_model_down_sends_fallback_and_breaker_opens_then_closes(world, build) -> None:
    world.model.fail = True
    for i in range(3):
        assert await handle_inbound(build.inbound(f"m{i}"), world.pipeline) == "fallback"
    assert world.breaker.state is BreakerState.OPEN
    asked = len(world.model.prompts)
    assert await handle_inbound(build.inbound("m3"), world.pipeline) == "fallback"
    assert len(world.model.prompts) == asked  # open: not even tried
    assert {s.text for s in world.sender.sent} == {"We will get back to you soon."}
    assert all(e.data.fallback for e, _ in world.publisher.published)
    world.clock.advance(31)
    world.model.fail = False
    assert await handle_inbound(build.inbound("m4"), world.pipeline) == "replied"
    assert world.breaker.state is BreakerState.CLOSED


async def test_model_down_without_fallback_sends_nothing(world, build) -> None:
    world.lookup.add(build.business(world.cipher, fallback_text=None))
    world.model.fail = True
    assert await handle_inbound(build.inbound(), world.pipeline) == "limited_silent"
    assert world.sender.sent == []
    assert world.ledger.records["wamid.in1"].state is ReplyState.SKIPPED


async def test_rate_limit_sends_fallback_over_the_limit(world, build) -> None:
    world.lookup.add(build.business(world.cipher, rate_limit_per_minute=2))
    outcomes = [await handle_inbound(build.inbound(f"m{i}"), world.pipeline) for i in range(4)]
    assert outcomes == ["replied", "replied", "fallback", "fallback"]
    assert len(world.model.prompts) == 2


async def test_spend_limit_stops_model_calls(world, build) -> None:
    world.lookup.add(build.business(world.cipher, monthly_spend_limit_usd=0.01, fallback_text=""))
    assert await handle_inbound(build.inbound("m1"), world.pipeline) == "replied"
    assert world.usage.spent["biz1"] >= 0.01  # one reply costs more than the limit here
    assert await handle_inbound(build.inbound("m2"), world.pipeline) == "limited_silent"
    assert len(world.model.prompts) == 1
    assert len(world.sender.sent) == 1


async def test_the_plans_daily_cap_applies_whatever_the_business_says(world, build) -> None:
    """The platform pays at most the plan's spend per day for a tenant, over all its
    businesses: a business with no limit of its own (0) or a higher one does not raise it."""
    world.config.plan("acme", ("gpt-test",), spend_per_day_usd="0.01")
    world.lookup.add(
        build.business(world.cipher, monthly_spend_limit_usd=1000.0, fallback_text="Later.")
    )
    assert await handle_inbound(build.inbound("m1"), world.pipeline) == "replied"
    assert await handle_inbound(build.inbound("m2"), world.pipeline) == "fallback"
    assert len(world.model.prompts) == 1
    world.config.plan("acme", ("gpt-test",), spend_per_day_usd="1000")  # the operator raises it
    assert await handle_inbound(build.inbound("m3"), world.pipeline) == "replied"


async def test_replies_are_billed_at_the_operators_price(world, build) -> None:
    world.config.offer("gpt-test", "10", "20")
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    [(event, _)] = world.publisher.published
    reply = event.data
    expected = reply.prompt_tokens / 1000 * 10 + reply.completion_tokens / 1000 * 20
    assert reply.cost_usd == pytest.approx(expected) and reply.cost_usd > 0


async def test_a_model_withdrawn_by_the_operator_is_not_called(world, build) -> None:
    world.config.delete("model/gpt-test")
    assert await handle_inbound(build.inbound("m1"), world.pipeline) == "fallback"
    world.config.offer("gpt-test")
    world.config.plan("acme", ("gpt-4o-mini",))  # offered, but no longer in acme's plan
    assert await handle_inbound(build.inbound("m2"), world.pipeline) == "fallback"
    assert world.model.prompts == []


async def test_conversation_memory_goes_into_the_prompt(world, build) -> None:
    for i, text in enumerate(["My name is Ada", "I like rye", "What is my name?"]):
        await handle_inbound(build.inbound(f"m{i}", text=text, seq=i), world.pipeline)
    prompt = world.model.prompts[-1]
    assert [m.role for m in prompt] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert prompt[1].content == "My name is Ada"
    assert prompt[2].content == "reply to: My name is Ada"
    assert prompt[-1].content == "What is my name?"
    other = build.inbound("m9", text="hello", contact="15559999999")
    await handle_inbound(other, world.pipeline)
    assert [m.role for m in world.model.prompts[-1]] == ["system", "user"]


async def test_memory_is_bounded_by_the_business_setting(world, build) -> None:
    for i in range(6):
        await handle_inbound(build.inbound(f"m{i}", text=f"question {i}", seq=i), world.pipeline)
    prompt = world.model.prompts[-1]
    assert len(prompt) == 1 + 4 + 1  # system + memory_messages=4 + the question


async def test_retrieved_knowledge_is_cited_in_the_prompt(world, build) -> None:
    def chunk(doc: str, title: str, text: str) -> KnowledgeChunk:
        return KnowledgeChunk(doc, title, 0, text, doc, tuple(bag_of_words(text)))

    world.knowledge.set(
        "biz1",
        [
            chunk("hours", "Opening hours", "We open at 7 in the morning and close at 6 pm."),
            chunk("bread", "Bread", "Our sourdough rye bread is baked fresh each morning."),
            chunk("parking", "Parking", "Free parking is behind our shop."),
        ],
    )
    await handle_inbound(build.inbound(text="When do you open in the morning?"), world.pipeline)
    system = world.model.prompts[-1][0].content
    assert "[Opening hours]" in system
    assert system.index("[Opening hours]") < system.index("[Bread]")  # best first
    assert "[Parking]" not in system  # k=2, and parking shares no word


async def test_embedding_failure_answers_without_knowledge(world, build) -> None:
    world.knowledge.set("biz1", [KnowledgeChunk("d", "Doc", 0, "x", "h", (1.0, 0.0))])
    world.embedder.fail = True
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    assert "[Doc]" not in world.model.prompts[-1][0].content


async def test_sms_channel_replies_with_the_twilio_token(world, build) -> None:
    event = build.inbound("SM1", channel_id=build.sms_number, contact="+15551230002")
    assert await handle_inbound(event, world.pipeline) == "replied"
    [sent] = world.sender.sent
    assert sent.channel_id == build.sms_number
    assert sent.tokens.twilio_auth_token == "tw-secret-token"
    [(out, _)] = world.publisher.published
    assert out.data.channel == "sms"
    assert out.data.provider == "twilio"


async def test_duplicates_do_not_use_up_the_rate_limit(world, build) -> None:
    """The reads run beside the claim, but the rate limit counts only claimed messages."""
    world.lookup.add(build.business(world.cipher, rate_limit_per_minute=2))
    assert await handle_inbound(build.inbound("m1"), world.pipeline) == "replied"
    for _ in range(3):
        assert await handle_inbound(build.inbound("m1"), world.pipeline) == "duplicate"
    assert await handle_inbound(build.inbound("m2"), world.pipeline) == "replied"
    assert len(world.model.prompts) == 2


async def test_sent_not_recorded_after_the_send_is_never_resent(world, build) -> None:
    """``sent`` goes out beside memory, usage and the event: if only it fails, the reply and
    its event are out and counted once, and the redelivery leaves the message alone."""

    async def store_down(message_id: str, provider_message_id: str, at: object) -> bool:
        raise StoreUnavailable("ledger down")

    world.ledger.mark_sent = store_down  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await handle_inbound(build.inbound(), world.pipeline)
    assert await handle_inbound(build.inbound(), world.pipeline) == "duplicate_unknown"
    assert len(world.sender.sent) == 1
    assert len(world.publisher.published) == 1
    assert len(world.usage.counted) == 1
    assert world.ledger.records["wamid.in1"].state is ReplyState.SENDING


async def test_a_refused_request_gets_the_fallback_and_leaves_the_breaker_closed(
    world, build
) -> None:
    """One business's bad parameters are not an outage: other businesses keep their model."""
    world.model.reject = True
    outcomes = [await handle_inbound(build.inbound(f"r{i}"), world.pipeline) for i in range(5)]
    assert outcomes == ["fallback"] * 5
    assert world.breaker.state is BreakerState.CLOSED


async def test_reasoning_effort_reaches_the_model(world, build, cipher) -> None:
    world.config.offer("o4-mini")
    world.config.plan("acme", ("gpt-test", "o4-mini"))
    world.lookup.add(build.business(cipher, model="o4-mini", reasoning_effort="low"))
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    [call] = world.model.calls
    assert (call["model"], call["reasoning_effort"], call["max_tokens"]) == ("o4-mini", "low", 300)
