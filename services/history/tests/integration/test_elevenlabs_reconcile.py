"""ElevenLabs reconcile against the provider simulator: a lost post-call webhook is filled in
from the conversations API; a delivered one is not fetched or stored twice."""

import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from switchboard.common.config import ElevenLabsAccount, InMemoryConfig
from switchboard.common.events import Event
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.postgres import PostgresStore
from switchboard.history.adapters.providers import ProviderClient
from switchboard.history.credentials import ProviderCredentials
from switchboard.history.models import to_fact
from switchboard.history.reconciler import Reconciler
from switchboard.history.settings import ReconcileSettings, RetentionSettings
from switchboard.ingress.mappers import elevenlabs as ingress_elevenlabs

pytestmark = pytest.mark.integration
TENANT = "el-tenant"


def workspace(api_key: str) -> ElevenLabsAccount:
    """The tenant's workspace on the control plane, with ``api_key``."""
    secret = SecretStr("webhook-secret-0123456789")
    return ElevenLabsAccount(
        id="el-workspace",
        tenants=(TENANT,),
        webhook_secrets=(secret,),
        api_keys=(SecretStr(api_key),),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """The reconciler publishing straight into the store (what the worker's consumer does)."""

    def __init__(self, store: PostgresStore, sim_url: str, api_key: str) -> None:
        self.store = store
        self.published: list[Event] = []
        self.settings = ReconcileSettings(grace_s=0, lookback_days=1, elevenlabs_base_url=sim_url)
        self.config = InMemoryConfig([workspace(api_key)])

    async def publish(self, event: Event, key: str) -> None:
        assert key == event.subject
        self.published.append(event)
        await self.deliver(event)

    async def deliver(self, event: Event) -> int:
        fact = to_fact(event, "default")
        assert fact is not None
        return await self.store.record_call_facts([fact])

    async def round(self) -> int:
        async with httpx.AsyncClient() as http:
            credentials = ProviderCredentials(self.config)
            provider = ProviderClient(self.settings, http, credentials)
            return await Reconciler(
                self.store, provider, self.publish, self.settings, utcnow, credentials
            ).run_once()


@pytest.fixture
def live_store(pool) -> PostgresStore:
    """The store on the real clock: the simulator's conversations happen now."""
    return PostgresStore(pool, PartitionManager(pool, RetentionSettings(), utcnow))


async def calls_of(pool, conversation_ids):
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT c.call_id, c.tenant_id, c.provider, c.status, c.agent_call_id, c.summary, "
            "c.transcript, (SELECT count(*) FROM call_events e WHERE e.call_id = c.call_id) AS n "
            "FROM calls c WHERE agent_call_id = ANY($1::text[]) ORDER BY agent_call_id",
            conversation_ids,
        )


async def test_a_lost_post_call_webhook_is_filled_in_and_a_delivered_one_is_not_duplicated(
    sim, receiver, live_store, pool
) -> None:
    pipeline = Pipeline(live_store, sim.url, sim.api_key)
    [delivered] = sim.run_elevenlabs(1, receiver.url + "/webhooks/elevenlabs")
    [lost] = sim.run_elevenlabs(1, None)
    # the delivered webhook goes the ingress's way: parsed by it, then stored
    [body] = receiver.bodies
    outgoing = ingress_elevenlabs.webhook(json.loads(body), TENANT)
    assert outgoing is not None
    assert await pipeline.deliver(outgoing.event) == 1

    assert await pipeline.round() == 1
    [event] = pipeline.published
    assert event.subject == lost["conversation_id"] and event.tenant == TENANT
    rows = await calls_of(pool, [delivered["conversation_id"], lost["conversation_id"]])
    assert [r["agent_call_id"] for r in rows] == sorted(
        [delivered["conversation_id"], lost["conversation_id"]]
    )
    by_conversation = {r["agent_call_id"]: r for r in rows}
    filled = by_conversation[lost["conversation_id"]]
    assert filled["call_id"] == lost["metadata"]["phone_call"]["call_sid"]  # the telephony leg
    assert (filled["tenant_id"], filled["status"], filled["n"]) == (TENANT, "completed", 1)
    assert filled["summary"] == lost["analysis"]["transcript_summary"]
    assert filled["transcript"].startswith("agent: Hello")
    assert by_conversation[delivered["conversation_id"]]["n"] == 1

    # the next round finds both reported: nothing fetched, nothing published
    assert await pipeline.round() == 0
    assert len(pipeline.published) == 1

    # the lost webhook turning up late is the same event: dropped by id
    late = {"type": "post_call_transcription", "event_timestamp": 0, "data": lost}
    late_event = ingress_elevenlabs.webhook(late, TENANT)
    assert late_event is not None and late_event.event.id == event.id
    assert await pipeline.deliver(late_event.event) == 0
    assert [r["n"] for r in await calls_of(pool, [lost["conversation_id"]])] == [1]


async def test_conversations_ended_within_the_grace_or_behind_a_refused_key_are_left(
    sim, live_store, pool
) -> None:
    pipeline = Pipeline(live_store, sim.url, sim.api_key)
    [lost] = sim.run_elevenlabs(1, None)
    pipeline.settings = pipeline.settings.model_copy(update={"grace_s": 3600})
    assert await pipeline.round() == 0  # ended, but within the grace period: the webhook may come
    pipeline.settings = pipeline.settings.model_copy(update={"grace_s": 0})
    pipeline.config.put(workspace("a-wrong-xi-api-key-0123"))
    assert await pipeline.round() == 0  # refused credentials: logged, nothing published
    assert await calls_of(pool, [lost["conversation_id"]]) == []
