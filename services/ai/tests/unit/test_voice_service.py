"""Live-call answers over fakes: ownership through the control plane's bindings, variables,
tools (knowledge, hours, transfer, the tenant's HTTP tools), transfer destinations."""

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.ai.models import Business, KnowledgeChunk, StoredMessage
from switchboard.ai.retrieval import Retriever
from switchboard.ai.voice import QueryEmbeddings, VoiceService
from switchboard.ai.voice_lookup import VoiceBusinesses
from switchboard.ai.voice_models import Interval, ToolSpec, TransferRule, VoiceProfile
from switchboard.common.events import conversation_key
from switchboard.common.voice import (
    STANDARD_VARIABLES,
    AssistantQuery,
    ToolCall,
    ToolsQuery,
    TransferQuery,
)

from ..fakes import (
    FakeClock,
    FakeEmbedder,
    FakeToolCaller,
    InMemoryConfig,
    InMemoryConversations,
    InMemoryKnowledge,
    InMemoryVoiceLookup,
    bag_of_words,
)

NOW = datetime(2026, 12, 6, 11, 30, tzinfo=UTC)  # a Sunday, 12:30 in Paris
ASSISTANT = "vapi-assistant/asst-bistro"
NUMBER = "phone/+33100000000"
HOURS_DOC = (
    "# Opening hours\n\nDemo Bistro is open Tuesday to Sunday from 12:00 to 22:00 and closed on "
    "Mondays."
)


def bistro(**voice: Any) -> Business:
    profile = VoiceProfile(
        channels=(ASSISTANT, NUMBER),
        time_zone="Europe/Paris",
        hours={"sun": (Interval(720, 1320),)},
        vapi_assistant_id="asst-bistro",
        variables={"greeting": "Bonjour", "business_name": "not this"},
        transfer_rules=(TransferRule(("sun",), Interval(600, 1200), "+33100000002"),),
        transfer_message="Connecting you.",
        elevenlabs_allowed_overrides=("agent.first_message",),
        elevenlabs_overrides={"agent.first_message": "Hi!", "agent.language": "fr"},
        tools=(
            ToolSpec("search_knowledge", "search_knowledge"),
            ToolSpec("opening_hours", "opening_hours"),
            ToolSpec("transfer", "transfer"),
            ToolSpec("book", "http", url="https://book.example.com/hook", timeout_s=2.0),
        ),
    )
    if voice:
        profile = dataclasses.replace(profile, **voice)
    return Business(
        id="biz-bistro",
        tenant="acme",
        name="Demo Bistro",
        whatsapp_phone_number_ids=("100200300",),
        twilio_numbers=("+33100000000",),
        voice=profile,
    )


class World:
    def __init__(self) -> None:
        self.config = InMemoryConfig()
        self.lookup = InMemoryVoiceLookup()
        self.knowledge = InMemoryKnowledge()
        self.embedder = FakeEmbedder()
        self.memory = InMemoryConversations()
        self.tools = FakeToolCaller()
        self.service = VoiceService(
            VoiceBusinesses(self.config, self.lookup, ttl_s=30, max_entries=10, clock=FakeClock()),
            Retriever(
                self.knowledge,
                QueryEmbeddings(self.embedder),
                k=2,
                min_score=0.0,
                ttl_s=30,
                max_entries=10,
                clock=FakeClock(),
            ),
            self.memory,
            self.tools,
            knowledge_chars=200,
            now=lambda: NOW,
        )


@pytest.fixture
def world() -> World:
    w = World()
    w.lookup.add(bistro())
    w.config.bind(ASSISTANT, "acme")
    w.config.bind(NUMBER, "acme")
    w.knowledge.set(
        "biz-bistro",
        [
            KnowledgeChunk(
                "hours", "Opening hours", 0, HOURS_DOC, "h1", tuple(bag_of_words(HOURS_DOC))
            )
        ],
    )
    return w


def query(cls: Any = AssistantQuery, **kw: Any) -> Any:
    values: dict[str, Any] = {
        "provider": "vapi",
        "request": "assistant-request",
        "tenant": "acme",
        "call_id": "call-1",
        "channels": ["vapi-phone/pn-1", NUMBER, ASSISTANT],
        "caller": "+14155550199",
    }
    values.update(kw)
    return cls(**values)


async def test_assistant_of_the_owner_with_computed_variables(world: World) -> None:
    answer = await world.service.assistant(query())
    assert answer is not None
    assert (answer.business_id, answer.assistant_id) == ("biz-bistro", "asst-bistro")
    v = answer.variables
    assert v["business_name"] == "Demo Bistro"  # computed names win over the business's own
    assert v["greeting"] == "Bonjour"
    assert (v["today"], v["local_time"], v["hours_today"], v["open_now"]) == (
        "Sunday",
        "12:30",
        "12:00 to 22:00",
        "yes",
    )
    assert (v["caller_number"], v["caller_known"], v["caller_last_message"]) == (
        "+14155550199",
        "no",
        "",
    )
    # The ingress's fallback sends exactly these names (empty), so an agent defining them starts.
    assert set(STANDARD_VARIABLES) == set(v) - {"greeting"}
    assert answer.overrides is None  # Vapi gets no ElevenLabs overrides


async def test_what_the_business_knows_of_the_caller(world: World) -> None:
    at = NOW - timedelta(days=3)
    key = conversation_key("100200300", "14155550199")  # WhatsApp: digits, no +
    await world.memory.append(
        [
            StoredMessage("m1", key, "biz-bistro", "user", "Do you have a vegan menu?", at),
            StoredMessage("m2", key, "biz-bistro", "assistant", "Yes, every day.", at),
        ]
    )
    answer = await world.service.assistant(query())
    assert answer is not None
    assert answer.variables["caller_known"] == "yes"
    assert answer.variables["caller_last_message"] == "Do you have a vegan menu?"
    assert answer.variables["caller_last_contact"] == at.date().isoformat()


async def test_elevenlabs_gets_only_the_allowed_overrides(world: World) -> None:
    world.config.bind("elevenlabs-agent/agent_1", "acme")
    world.lookup.businesses[0] = bistro(channels=("elevenlabs-agent/agent_1",))
    answer = await world.service.assistant(
        query(
            provider="elevenlabs",
            request="conversation-initiation",
            channels=["elevenlabs-agent/agent_1"],
        )
    )
    assert answer is not None
    assert answer.overrides == {"agent": {"first_message": "Hi!"}}
    assert answer.assistant_id is None


async def test_ownership_comes_from_the_control_plane(world: World) -> None:
    # Not bound in the control plane: nobody owns it, whatever business lists it.
    other = InMemoryConfig()
    world.service._businesses = VoiceBusinesses(other, world.lookup, ttl_s=30, max_entries=10)
    assert await world.service.assistant(query()) is None
    # Bound to another tenant than the one the request was verified for: not answered.
    other.bind(ASSISTANT, "globex")
    assert await world.service.assistant(query()) is None
    # A request verified for globex does not reach acme's business either.
    assert await world.service.assistant(query(tenant="globex")) is None
    # Bound to acme, but acme is suspended.
    other.bind(ASSISTANT, "acme")
    other.suspend("acme")
    assert await world.service.assistant(query()) is None


async def test_a_business_of_the_bound_tenant_answers_even_if_another_tenant_lists_it(
    world: World,
) -> None:
    intruder = Business(
        id="biz-intruder",
        tenant="globex",
        name="Intruder",
        voice=VoiceProfile(channels=(ASSISTANT,)),
    )
    world.lookup.businesses.insert(0, intruder)
    answer = await world.service.assistant(query(tenant=None))
    assert answer is not None and answer.business_id == "biz-bistro"


async def test_inactive_business_is_unowned(world: World) -> None:
    world.lookup.businesses[0] = dataclasses.replace(bistro(), active=False)
    assert await world.service.assistant(query()) is None


async def test_tool_calls_answer_each_call(world: World) -> None:
    calls = [
        ToolCall(id="t1", name="search_knowledge", arguments={"query": "are you open on sunday"}),
        ToolCall(id="t2", name="opening_hours", arguments={"day": "monday"}),
        ToolCall(id="t3", name="transfer", arguments={}),
        ToolCall(id="t4", name="book", arguments={"people": 2}),
        ToolCall(id="t5", name="launch_rockets", arguments={}),
        ToolCall(id="t6", name="search_knowledge", arguments={}),
    ]
    answer = await world.service.tools(query(ToolsQuery, request="tool-calls", calls=calls), 5.0)
    assert answer is not None
    by_id = {r.id: r for r in answer.results}
    assert [r.id for r in answer.results] == ["t1", "t2", "t3", "t4", "t5", "t6"]
    assert "Tuesday to Sunday from 12:00 to 22:00" in (by_id["t1"].result or "")
    assert by_id["t2"].result == "Closed on Monday."
    assert by_id["t3"].result == "Transfer the caller to +33100000002. Connecting you."
    assert by_id["t4"].result == "done"
    assert by_id["t5"].error == "no tool named launch_rockets"
    assert by_id["t6"].error == "search_knowledge needs a query"
    [http] = world.tools.calls
    assert http["arguments"] == {"people": 2}
    assert 4.0 < http["timeout_s"] < 5.0  # the deadline less the way back


async def test_a_failing_http_tool_fails_its_own_call_only(world: World) -> None:
    world.tools.fail = "the endpoint answered 500"
    calls = [
        ToolCall(id="t1", name="book", arguments={}),
        ToolCall(id="t2", name="opening_hours", arguments={}),
    ]
    answer = await world.service.tools(query(ToolsQuery, request="tool-calls", calls=calls), 5.0)
    assert answer is not None
    assert answer.results[0].error == "the endpoint answered 500"
    assert answer.results[1].result and answer.results[1].result.startswith("Open on Sunday")


async def test_repeated_questions_are_embedded_once(world: World) -> None:
    call = ToolCall(id="t1", name="search_knowledge", arguments={"query": "Open on  Sunday?"})
    for n in range(3):
        q = query(ToolsQuery, request="tool-calls", calls=[call], call_id=f"call-{n}")
        await world.service.tools(q, 5.0)
    assert world.embedder.embedded == ["Open on  Sunday?"]


async def test_transfer_destination_for_the_time_of_day(world: World) -> None:
    answer = await world.service.transfer(
        query(TransferQuery, request="transfer-destination-request")
    )
    assert answer is not None
    assert (answer.number, answer.message) == ("+33100000002", "Connecting you.")
    for key in world.config.items("channel/"):
        world.config.delete(key)
    assert (
        await world.service.transfer(query(TransferQuery, request="transfer-destination-request"))
        is None
    )
