"""The control plane's use cases over the store Protocols: the API, the CLI and the
bootstrap all go through :class:`ControlPlane`."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from switchboard.common.auth import Audience, Principal, mint_token
from switchboard.common.config import (
    AccountBase,
    Channel,
    ChannelKind,
    ModelPrice,
    PlanLimits,
    Provider,
    Tenant,
)
from switchboard.common.crypto import Cipher
from switchboard.control.errors import BadCredentials, Conflict, Forbidden, NotFound
from switchboard.control.models import (
    ApiKey,
    IssuedApiKey,
    StoredSigningKey,
    check_manage_secrets,
    checked_scopes,
    issue_api_key,
    key_matches,
    parse_api_key,
    token_scopes,
    token_ttl,
    with_secrets,
)
from switchboard.control.repository import CredentialStore, EntityStore
from switchboard.control.settings import TokenSettings
from switchboard.control.signing import KnownPublicKeys, Signer, new_signing_key, retire_until

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    audience: str
    scopes: frozenset[str]
    expires_in: int


@dataclass
class ControlPlane:
    """Tenants, accounts, channels, API keys and tokens."""

    entities: EntityStore
    credentials: CredentialStore
    cipher: Cipher
    """At-rest ring (private signing keys)."""
    tokens: TokenSettings
    clock: Callable[[], datetime] = utcnow
    public_keys: KnownPublicKeys = field(default_factory=KnownPublicKeys)
    _signer: Signer | None = None

    def __post_init__(self) -> None:
        self.public_keys.now = lambda: self.clock()

    # --- tenants (operator) --------------------------------------------------------------------

    async def put_tenant(self, tenant: Tenant) -> tuple[Tenant, bool]:
        return await self.entities.put_tenant(tenant)

    async def update_tenant(
        self,
        tenant_id: str,
        *,
        name: str | None = None,
        status: str | None = None,
        limits: PlanLimits | None = None,
    ) -> Tenant:
        current = await self.tenant(tenant_id)
        changes: dict[str, Any] = {"name": name, "status": status, "limits": limits}
        updated = Tenant.model_validate(
            {**current.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        )
        stored, _ = await self.entities.put_tenant(updated)
        return stored

    async def tenant(self, tenant_id: str) -> Tenant:
        tenant = await self.entities.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id}")
        return tenant

    async def delete_tenant(self, tenant_id: str) -> None:
        if not await self.entities.delete_tenant(tenant_id):
            raise NotFound(f"no tenant {tenant_id}")

    # --- accounts ------------------------------------------------------------------------------

    async def put_account(self, account: AccountBase) -> tuple[AccountBase, bool]:
        return await self.entities.put_account(account)

    async def account(self, provider: Provider, account_id: str) -> AccountBase:
        account = await self.entities.get_account(provider, account_id)
        if account is None:
            raise NotFound(f"no account account/{provider}/{account_id}")
        return account

    async def delete_account(self, provider: Provider, account_id: str) -> None:
        if not await self.entities.delete_account(provider, account_id):
            raise NotFound(f"no account account/{provider}/{account_id}")

    async def replace_secrets(
        self, tenant: str, provider: Provider, account_id: str, secrets: Mapping[str, Any]
    ) -> AccountBase:
        """A tenant rotates the secrets of an account only it holds."""

        def change(current: AccountBase | None) -> AccountBase:
            return with_secrets(check_manage_secrets(tenant, current), secrets)

        return await self.entities.change_account(provider, account_id, change)

    # --- channels ------------------------------------------------------------------------------

    async def bind(self, actor: str | None, channel: Channel) -> tuple[Channel, bool]:
        """``actor`` None: the operator (may move a channel)."""
        return await self.entities.bind_channel(actor, channel)

    async def unbind(self, actor: str | None, kind: ChannelKind, channel_id: str) -> None:
        await self.entities.unbind_channel(actor, kind, channel_id)

    # --- models (operator) ---------------------------------------------------------------------

    async def put_model(self, model: ModelPrice) -> tuple[ModelPrice, bool]:
        """Offer ``model`` at its prices (or change them); live in every service at once."""
        return await self.entities.put_model(model)

    async def delete_model(self, model_id: str) -> None:
        """Withdraw a model: businesses using it fall back until they pick another."""
        if not await self.entities.delete_model(model_id):
            raise NotFound(f"no model {model_id}")

    # --- API keys ------------------------------------------------------------------------------

    async def create_api_key(
        self,
        tenant: str | None,
        name: str,
        scopes: Iterable[str],
        *,
        creator: Principal | None = None,
    ) -> IssuedApiKey:
        """A new key for ``tenant`` (``None``: an operator key). A tenant's own key cannot
        grant more than the key it was created with; ``creator`` None is the operator/CLI."""
        within: frozenset[str] | None = None
        if creator is not None and creator.tenant is not None:
            parent = await self.credentials.get_api_key(creator.subject)
            if parent is None or parent.revoked_at is not None:
                raise Forbidden("the key this token came from is gone")
            within = parent.scopes
        if tenant is not None:
            await self.tenant(tenant)
        wanted = checked_scopes(tenant, scopes, within=within)
        issued = issue_api_key(tenant, name, wanted, self.clock())
        await self.credentials.add_api_key(issued.record)
        log.info("api key created", key_id=issued.record.id, tenant=tenant, scopes=sorted(wanted))
        return issued

    async def api_keys(self, tenant: str | None) -> list[ApiKey]:
        return await self.credentials.list_api_keys(tenant)

    async def revoke_api_key(self, key_id: str, tenant: str | None) -> None:
        """Revoke ``tenant``'s key (``None``: the operator revokes any key)."""
        if not await self.credentials.revoke_api_key(key_id, tenant, self.clock()):
            raise NotFound(f"no API key {key_id}")
        log.info("api key revoked", key_id=key_id)

    # --- tokens --------------------------------------------------------------------------------

    async def exchange(
        self,
        presented: str,
        audience: Audience,
        scopes: Iterable[str] | None = None,
        ttl_s: int | None = None,
    ) -> IssuedToken:
        """An access token for ``audience`` in exchange for an API key."""
        parsed = parse_api_key(presented)
        key = await self.credentials.get_api_key(parsed[0]) if parsed else None
        if parsed is None or key is None or not key_matches(key, parsed[1]):
            raise BadCredentials
        if key.tenant is not None and (await self.tenant(key.tenant)).status != "active":
            raise Forbidden(f"tenant {key.tenant} is suspended")
        granted = token_scopes(key, audience, scopes)
        ttl = token_ttl(ttl_s, self.tokens.default_ttl_s, self.tokens.max_ttl_s)
        stored = await self.credentials.active_signing_key()
        if stored is None:
            stored = await self._first_signing_key()
        if self._signer is None:
            self._signer = Signer(self.cipher)
        self.public_keys.add(stored)
        token = mint_token(
            self._signer.private_key(stored),
            stored.kid,
            audience=audience.value,
            subject=key.id,
            tenant=key.tenant,
            scopes=granted,
            ttl=ttl,
            issuer=self.tokens.issuer,
            now=self.clock(),
        )
        return IssuedToken(token, audience.value, granted, int(ttl.total_seconds()))

    # --- signing keys --------------------------------------------------------------------------

    async def _first_signing_key(self) -> StoredSigningKey:
        await self.ensure_signing_key()
        stored = await self.credentials.active_signing_key()
        if stored is None:
            raise Conflict("no active signing key")
        return stored

    async def ensure_signing_key(self) -> str:
        """The active key's id; creates the first key on a fresh install."""
        active = await self.credentials.active_signing_key()
        if active is None:
            try:
                return await self.rotate_signing_key()
            except Conflict:  # another replica created the first key at the same moment
                active = await self.credentials.active_signing_key()
                if active is None:
                    raise
        await self.refresh_public_keys()
        return active.kid

    async def rotate_signing_key(self) -> str:
        now = self.clock()
        new = new_signing_key(self.cipher, now)
        await self.credentials.rotate_signing_key(new, retire_until(now, self.tokens.max_ttl_s))
        await self.refresh_public_keys()
        log.info("signing key rotated", kid=new.kid)
        return new.kid

    async def refresh_public_keys(self) -> None:
        self.public_keys.refresh(await self.credentials.signing_keys())

    async def withdraw_expired_signing_keys(self) -> list[str]:
        kids = await self.credentials.withdraw_signing_keys(self.clock())
        if kids:
            log.info("retired signing keys withdrawn", kids=kids)
            await self.refresh_public_keys()
        return kids
