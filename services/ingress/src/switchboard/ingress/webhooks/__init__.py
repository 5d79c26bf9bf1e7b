"""Webhook routes, one module per provider: read raw body → verify → events → deliver."""

from litestar.types import ControllerRouterHandler

from switchboard.ingress.webhooks import elevenlabs_sync, twilio, twilio_recordings, voice_agents
from switchboard.ingress.webhooks.whatsapp import WhatsAppWebhooks

ALL: list[ControllerRouterHandler] = [
    *twilio.ROUTES,
    *twilio_recordings.ROUTES,
    *voice_agents.ROUTES,
    *elevenlabs_sync.ROUTES,
    WhatsAppWebhooks,
]

__all__ = ["ALL", "WhatsAppWebhooks"]
