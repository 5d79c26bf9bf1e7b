"""Dependency injection: the names route handlers ask for, and one ``Provide`` per name.

Handlers declare e.g. ``sim: SimDep``; ``create_app`` registers the one instance per app.
"""

from typing import Any

from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from switchboard.providersim.state import SimState
from switchboard.providersim.twilio_calls import CallEngine
from switchboard.providersim.twilio_messages import MessageEngine
from switchboard.providersim.voice_agents import VoiceAgents
from switchboard.providersim.whatsapp import WhatsAppCloud

SimDep = SkipValidation[NamedDependency[SimState]]
CallsDep = SkipValidation[NamedDependency[CallEngine]]
MessagesDep = SkipValidation[NamedDependency[MessageEngine]]
WhatsAppDep = SkipValidation[NamedDependency[WhatsAppCloud]]
VoiceDep = SkipValidation[NamedDependency[VoiceAgents]]


def _constant(value: Any) -> Provide:
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def dependencies(
    sim: SimState,
    calls: CallEngine,
    messages: MessageEngine,
    whatsapp: WhatsAppCloud,
    voice: VoiceAgents,
) -> dict[str, Provide]:
    """The app-level dependency map (names match the handler parameters)."""
    return {
        "sim": _constant(sim),
        "calls": _constant(calls),
        "messages": _constant(messages),
        "whatsapp": _constant(whatsapp),
        "voice": _constant(voice),
    }
