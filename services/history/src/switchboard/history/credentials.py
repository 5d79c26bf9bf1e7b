"""The credentials the history service looks calls up with, read live from the control plane's
view (``control.config``): a rotated token or a new account is used by the next lookup, with
no restart.

    account/twilio/<AccountSid>      the Calls fetch and the recording deletion of that account
    account/vapi/<id>                ``api_keys`` of the call's tenant: the Vapi call fetch
    account/elevenlabs/<id>          ``api_keys``: the workspace swept for lost reports
    channel/elevenlabs-agent/<id>    whose a reconciled conversation is (its agent's tenant)
"""

from dataclasses import dataclass
from typing import Final

from switchboard.common.config import (
    Channel,
    ConfigView,
    ElevenLabsAccount,
    TwilioAccount,
    VapiAccount,
)

PREFIXES: Final = (
    "account/twilio/",
    "account/vapi/",
    "account/elevenlabs/",
    "channel/elevenlabs-agent/",
)
"""The slice of ``control.config`` the history service follows."""


@dataclass(frozen=True, slots=True)
class Workspace:
    """An ElevenLabs workspace the reconciler sweeps."""

    account_id: str
    api_key: str
    tenants: tuple[str, ...]


class ProviderCredentials:
    """Lookups over the configuration view (every call reads the current view)."""

    def __init__(self, config: ConfigView) -> None:
        self.config = config

    def twilio(self, account_id: str | None) -> tuple[str, str] | None:
        """(username, password) of REST calls on the account; None when it is unknown."""
        entity = self.config.get(f"account/twilio/{account_id}") if account_id else None
        return entity.rest_auth() if isinstance(entity, TwilioAccount) else None

    def vapi(self, account_id: str | None, tenant: str | None) -> str | None:
        """The API key of the call's Vapi account, else of the one Vapi account with a key
        that the call's tenant holds (None: no key, or several to choose from)."""
        named = self.config.get(f"account/vapi/{account_id}") if account_id else None
        if isinstance(named, VapiAccount) and named.api_keys:
            return named.api_keys[0].get_secret_value()
        held = [
            a
            for a in self.config.items("account/vapi/").values()
            if isinstance(a, VapiAccount) and a.api_keys and tenant in a.tenants
        ]
        return held[0].api_keys[0].get_secret_value() if len(held) == 1 else None

    def elevenlabs_workspaces(self) -> list[Workspace]:
        """Every ElevenLabs account with an API key, by id."""
        return sorted(
            (
                Workspace(a.id, a.api_keys[0].get_secret_value(), a.tenants)
                for a in self.config.items("account/elevenlabs/").values()
                if isinstance(a, ElevenLabsAccount) and a.api_keys
            ),
            key=lambda w: w.account_id,
        )

    def conversation_tenant(self, workspace: Workspace, agent_id: str | None) -> str | None:
        """Whose a conversation of ``workspace`` is: its agent's tenant (the channel), else
        the workspace's only tenant; None when neither says (never a guess)."""
        channel = self.config.get(f"channel/elevenlabs-agent/{agent_id}") if agent_id else None
        if isinstance(channel, Channel):
            return channel.tenant if channel.tenant in workspace.tenants else None
        return workspace.tenants[0] if len(workspace.tenants) == 1 else None
