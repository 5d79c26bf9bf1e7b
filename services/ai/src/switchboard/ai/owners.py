"""Who owns a channel: the control plane's bindings (``channel/<kind>/<id>`` on
``control.config``, followed live), read by the worker, the voice API and the admin API alike.

A channel is written ``kind/id`` here, as in the control plane's keys:
``whatsapp/<phone_number_id>`` and ``phone/<E.164>`` for messaging, ``vapi-assistant/<id>``
etc. for voice. A channel is owned by the tenant it is bound to while that tenant is active; a
suspended tenant owns nothing (its channels are answered by no one).
"""

from dataclasses import dataclass
from typing import Literal, Protocol

from switchboard.common.config import Channel, Entity, Tenant
from switchboard.common.events import MessageReceived

Unowned = Literal["unbound", "tenant_suspended"]


class ConfigView(Protocol):
    """The part of the control plane's configuration read here (a ConfigFollower)."""

    def get(self, key: str) -> Entity | None: ...


class FollowedConfig(ConfigView, Protocol):
    """A view that knows whether it has read everything present at start (a ConfigFollower)."""

    @property
    def ready(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Owner:
    """The tenant that owns a channel, or (``tenant`` None) why none does."""

    tenant: str | None
    reason: Unowned | None = None


def owner(config: ConfigView, channel: str) -> Owner:
    """The tenant the control plane binds ``channel`` (``kind/id``) to, if it is active."""
    bound = config.get(f"channel/{channel}")
    if not isinstance(bound, Channel):
        return Owner(None, "unbound")
    tenant = config.get(f"tenant/{bound.tenant}")
    if isinstance(tenant, Tenant) and tenant.status != "active":
        return Owner(None, "tenant_suspended")
    return Owner(bound.tenant)


def whatsapp_channel(phone_number_id: str) -> str:
    return f"whatsapp/{phone_number_id}"


def phone_channel(number: str) -> str:
    return f"phone/{number}"


def inbound_channel(msg: MessageReceived) -> str:
    """The channel an inbound message arrived on (``kind/id``)."""
    if msg.channel == "whatsapp":
        return whatsapp_channel(msg.business_channel_id)
    return phone_channel(msg.business_channel_id)
