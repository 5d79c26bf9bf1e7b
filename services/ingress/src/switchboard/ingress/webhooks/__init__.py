"""Webhook controllers, one module per provider: read raw body → verify → events → deliver."""

from switchboard.ingress.webhooks.twilio import TwilioWebhooks
from switchboard.ingress.webhooks.voice_agents import ElevenLabsWebhooks, VapiWebhooks
from switchboard.ingress.webhooks.whatsapp import WhatsAppWebhooks

ALL = [TwilioWebhooks, WhatsAppWebhooks, VapiWebhooks, ElevenLabsWebhooks]

__all__ = ["ALL", "ElevenLabsWebhooks", "TwilioWebhooks", "VapiWebhooks", "WhatsAppWebhooks"]
