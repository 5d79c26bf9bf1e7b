"""Composition root: ``create_app(settings)`` builds one simulator (state, engines, routes)."""

import contextlib
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar

from switchboard.common.cli import configure_process
from switchboard.common.http import health_routes
from switchboard.providersim.control import CONTROLLERS
from switchboard.providersim.deps import dependencies
from switchboard.providersim.http1 import Http1Client
from switchboard.providersim.metrics import sim_registry
from switchboard.providersim.openai_api import OpenAIApi
from switchboard.providersim.settings import SimSettings, get_settings
from switchboard.providersim.state import SimState
from switchboard.providersim.twilio_api import TwilioApi
from switchboard.providersim.twilio_calls import CallEngine
from switchboard.providersim.twilio_messages import MessageEngine
from switchboard.providersim.twilio_recordings_api import TwilioRecordingsApi
from switchboard.providersim.voice_agents import VoiceAgents
from switchboard.providersim.voice_agents_api import VoiceAgentApi
from switchboard.providersim.voice_live import LiveVoice, LiveVoiceControl, provide
from switchboard.providersim.webhooks import WebhookSender
from switchboard.providersim.whatsapp import WhatsAppCloud
from switchboard.providersim.whatsapp_api import WhatsAppApi


async def _always_ready() -> bool:
    return True


def create_app(settings: SimSettings) -> Litestar:
    """The simulator's ASGI app."""
    state = SimState(settings.sim)
    client = Http1Client()
    sender = WebhookSender(state, client, max_in_flight=settings.sim.max_connections)
    calls = CallEngine(state, sender)
    whatsapp = WhatsAppCloud(state, sender)
    voice = VoiceAgents(state, sender)
    # Live calls' synchronous requests are few and each has the platform's own timeout:
    # httpx's per-request timeout fits them; webhooks keep the cheaper HTTP/1.1 client.
    live_client = httpx.AsyncClient(follow_redirects=False)
    live = LiveVoice(state, live_client)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.cancel_tasks()
            await client.aclose()
            await live_client.aclose()

    app = Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            TwilioApi,
            TwilioRecordingsApi,
            OpenAIApi,
            WhatsAppApi,
            VoiceAgentApi,
            *CONTROLLERS,
            LiveVoiceControl,
            *health_routes({"sim": _always_ready}, registry=sim_registry(state)),
        ],
        dependencies={
            **dependencies(
                sim=state,
                calls=calls,
                messages=MessageEngine(state, sender),
                whatsapp=whatsapp,
                voice=voice,
            ),
            **provide(live),
        },
        lifespan=[lifespan],
    )
    app.state.sim = state
    return app


def app_from_env() -> Litestar:
    """Factory for uvicorn: settings from the environment, logging and tracing configured."""
    settings = get_settings()
    configure_process(settings)
    return create_app(settings)
