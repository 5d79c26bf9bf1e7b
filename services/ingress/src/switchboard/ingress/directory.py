"""Who signed a webhook, and which tenant owns the channel it arrived on: the ingress's
indexes over the control plane's ``account/*`` and ``channel/*`` entities.

Kept up to date one change at a time from the configuration's ``listen`` callback (so a
rotation is in force as soon as its record is read, and 1,000 tenants cost the hot path
nothing but dict lookups); read by the webhook routes only:

- Twilio: AccountSid → account (its auth tokens);
- WhatsApp: WABA id → the apps (accounts) that list it, so a batch is verified with the app
  secrets of its own WABA's app only; hashes of the verify tokens for Meta's GET check;
- Vapi: account id → account; a hash of each ``secret_header``/``bearer`` secret → accounts;
- ElevenLabs: account id → account; a hash of each tool secret (the bearer of the
  conversation-initiation webhook and server tools) → accounts;
- channels by kind and id: the tenant of every event.

A channel names its tenant only for events of its own account (a tenant holding another
account cannot sign events onto a channel that is not its) and only while that tenant holds
the account; otherwise the event is *unowned* (see :class:`~switchboard.ingress.mappers.Owner`).
"""

import hashlib
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

from switchboard.common.config import (
    AccountBase,
    Channel,
    ChannelKind,
    ConfigChange,
    ConfigView,
    ElevenLabsAccount,
    Entity,
    Provider,
    TwilioAccount,
    VapiAccount,
    WhatsAppAccount,
)
from switchboard.ingress.errors import ConfigNotLoaded
from switchboard.ingress.mappers import Owner

PREFIXES: Final = ("account/", "channel/")
"""What the ingress follows of ``control.config``."""
NOT_BOUND: Final = "unbound"
OTHER_ACCOUNT: Final = "other_account"
NOT_HOLDER: Final = "tenant_not_holder"
NO_CHANNEL: Final = "no_channel"
K = TypeVar("K")
A = TypeVar("A")


def digest(secret: bytes) -> bytes:
    """The index key of a secret (an index never holds a secret itself)."""
    return hashlib.sha256(secret).digest()


class Directory:
    """The indexes, updated from ``config``'s changes."""

    def __init__(self, config: ConfigView, *, ready: Callable[[], bool] | None = None) -> None:
        """``ready`` says when the configuration may be used (default: ``config.ready``)."""
        self._ready_check = ready or (lambda: config.ready)
        self._ready = False
        self.accounts: dict[Provider, dict[str, AccountBase]] = {
            "twilio": {},
            "whatsapp": {},
            "vapi": {},
            "elevenlabs": {},
        }
        self.channels: dict[ChannelKind, dict[str, Channel]] = {
            "phone": {},
            "whatsapp": {},
            "vapi-phone": {},
            "vapi-assistant": {},
            "elevenlabs-agent": {},
        }
        self._by_waba: dict[str, dict[str, WhatsAppAccount]] = {}
        self._verify_tokens: dict[bytes, int] = {}
        self._vapi_by_secret: dict[tuple[str, bytes], dict[str, VapiAccount]] = {}
        self._elevenlabs_by_tool_secret: dict[bytes, dict[str, ElevenLabsAccount]] = {}
        for prefix in PREFIXES:
            config.listen(self.apply, prefix=prefix)
            for key, entity in config.items(prefix).items():
                self.apply(ConfigChange(key, None, entity))

    # --- readiness -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        if not self._ready:
            self._ready = self._ready_check()  # stays true once true
        return self._ready

    def require_ready(self) -> None:
        """503 (retry later) until the configuration is loaded: an unknown account then is
        not known to be unknown, and a 403 would lose the webhook."""
        if not self.ready:
            raise ConfigNotLoaded(
                detail="the control plane's configuration is not loaded yet; retry later",
                headers={"Retry-After": "5"},
            )

    async def check(self) -> bool:
        return self.ready

    # --- upkeep --------------------------------------------------------------------------------

    def apply(self, change: ConfigChange) -> None:
        """One change of an ``account/*`` or ``channel/*`` entity."""
        if change.old is not None:
            self._remove(change.old)
        if change.new is not None:
            self._add(change.new)

    def _add(self, entity: Entity) -> None:
        if isinstance(entity, Channel):
            self.channels[entity.kind][entity.id] = entity
            return
        if not isinstance(entity, AccountBase):
            return
        self.accounts[entity.provider][entity.id] = entity
        if isinstance(entity, WhatsAppAccount):
            for waba in entity.waba_ids:
                self._by_waba.setdefault(waba, {})[entity.id] = entity
            for token in entity.verify_tokens:
                key = digest(token.get_secret_value().encode())
                self._verify_tokens[key] = self._verify_tokens.get(key, 0) + 1
        elif isinstance(entity, VapiAccount) and entity.auth_mode != "hmac":
            for secret in entity.webhook_secrets:
                index = (entity.auth_mode, digest(secret.get_secret_value().encode()))
                self._vapi_by_secret.setdefault(index, {})[entity.id] = entity
        elif isinstance(entity, ElevenLabsAccount):
            for secret in entity.tool_secrets:
                key = digest(secret.get_secret_value().encode())
                self._elevenlabs_by_tool_secret.setdefault(key, {})[entity.id] = entity

    def _remove(self, entity: Entity) -> None:
        if isinstance(entity, Channel):
            self.channels[entity.kind].pop(entity.id, None)
            return
        if not isinstance(entity, AccountBase):
            return
        self.accounts[entity.provider].pop(entity.id, None)
        if isinstance(entity, WhatsAppAccount):
            self._remove_whatsapp(entity)
        elif isinstance(entity, VapiAccount) and entity.auth_mode != "hmac":
            for secret in entity.webhook_secrets:
                index = (entity.auth_mode, digest(secret.get_secret_value().encode()))
                _discard(self._vapi_by_secret, index, entity.id)
        elif isinstance(entity, ElevenLabsAccount):
            for secret in entity.tool_secrets:
                key = digest(secret.get_secret_value().encode())
                _discard(self._elevenlabs_by_tool_secret, key, entity.id)

    def _remove_whatsapp(self, entity: WhatsAppAccount) -> None:
        for waba in entity.waba_ids:
            _discard(self._by_waba, waba, entity.id)
        for token in entity.verify_tokens:
            key = digest(token.get_secret_value().encode())
            left = self._verify_tokens.get(key, 0) - 1
            if left > 0:
                self._verify_tokens[key] = left
            else:
                self._verify_tokens.pop(key, None)

    # --- lookups (the hot path) ----------------------------------------------------------------

    def twilio(self, account_sid: str) -> TwilioAccount | None:
        account = self.accounts["twilio"].get(account_sid)
        return account if isinstance(account, TwilioAccount) else None

    def account(self, provider: Provider, account_id: str) -> AccountBase | None:
        return self.accounts[provider].get(account_id)

    def sole_account(self, provider: Provider) -> AccountBase | None:
        """The account of ``provider`` when exactly one is configured."""
        accounts = self.accounts[provider]
        return next(iter(accounts.values())) if len(accounts) == 1 else None

    def channel(self, kind: ChannelKind, channel_id: str | None) -> Channel | None:
        return self.channels[kind].get(channel_id) if channel_id else None

    def whatsapp_apps(self, waba_ids: Iterable[str]) -> list[WhatsAppAccount]:
        """The apps listing any of ``waba_ids`` (a batch is signed by the app its WABAs are
        subscribed to: usually one candidate, whatever the number of apps configured)."""
        found: dict[str, WhatsAppAccount] = {}
        for waba in waba_ids:
            found.update(self._by_waba.get(waba, {}))
        return list(found.values())

    def whatsapp_verify_token_ok(self, token: bytes | None) -> bool:
        """Meta's ``hub.verify_token`` is one some app lists."""
        return bool(token) and digest(token or b"") in self._verify_tokens

    def vapi_by_secret(self, mode: str, secret: bytes | None) -> list[VapiAccount]:
        """The ``mode`` (``secret_header``/``bearer``) accounts one of whose secrets is
        ``secret``."""
        if not secret:
            return []
        return list(self._vapi_by_secret.get((mode, digest(secret)), {}).values())

    def elevenlabs_by_tool_secret(self, secret: bytes | None) -> list[ElevenLabsAccount]:
        """The ElevenLabs accounts one of whose ``tool_secrets`` is ``secret``."""
        if not secret:
            return []
        return list(self._elevenlabs_by_tool_secret.get(digest(secret), {}).values())

    def owner(self, account: AccountBase, kind: ChannelKind, channel_id: str | None) -> Owner:
        """The tenant of an event of ``account`` on channel ``kind``/``channel_id``."""
        if not channel_id:
            return Owner(None, NO_CHANNEL, f"{kind}/?")
        channel = self.channels[kind].get(channel_id)
        return owner_of(account, channel, kind, channel_id)


def owner_of(
    account: AccountBase, channel: Channel | None, kind: ChannelKind, channel_id: str
) -> Owner:
    """The tenant ``channel`` gives an event of ``account`` (see the module docstring)."""
    if channel is None:
        return Owner(None, NOT_BOUND, f"{kind}/{channel_id}")
    if channel.account_id != account.id:
        return Owner(None, OTHER_ACCOUNT, f"{kind}/{channel_id}")
    if channel.tenant not in account.tenants:
        return Owner(None, NOT_HOLDER, f"{kind}/{channel_id}")
    return Owner(channel.tenant)


def _discard(index: dict[K, dict[str, A]], key: K, account_id: str) -> None:
    accounts = index.get(key)
    if accounts is not None:
        accounts.pop(account_id, None)
        if not accounts:
            del index[key]
