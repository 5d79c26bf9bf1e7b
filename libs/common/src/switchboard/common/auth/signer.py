"""Tokens shaped like the control plane's, signed with a key of one's own: for tests,
benchmarks and isolated stacks that run no control plane. A service trusts them only when it
is given the signer's public key (``SWITCHBOARD_AUTH__PUBLIC_KEYS``: :meth:`LocalSigner.env`);
a production service follows the control plane's keys instead.

    signer = LocalSigner()
    app = create_api(Settings(auth=signer.settings()))
    client.get("/v1/calls", headers=signer.bearer("acme", Audience.HISTORY))
"""

import hashlib
import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switchboard.common.auth.scopes import TENANT_SCOPES, Audience, scopes_for
from switchboard.common.auth.settings import AuthSettings
from switchboard.common.auth.tokens import mint_token, public_key_pem


class LocalSigner:
    """An Ed25519 signing key (made fresh unless given) and its key id."""

    def __init__(self, kid: str = "local-signer", key: Ed25519PrivateKey | None = None) -> None:
        self.kid = kid
        self._key = key or Ed25519PrivateKey.generate()

    @classmethod
    def from_seed(cls, seed: str, kid: str = "local-signer") -> "LocalSigner":
        """The same key every time for the same ``seed`` (test modules that do not share
        objects, tools and the processes they start). Never for anything real."""
        raw = hashlib.sha256(seed.encode()).digest()
        return cls(kid, Ed25519PrivateKey.from_private_bytes(raw))

    @property
    def public_keys(self) -> dict[str, str]:
        """``{kid: PEM}``, the value of ``SWITCHBOARD_AUTH__PUBLIC_KEYS``."""
        return {self.kid: public_key_pem(self._key)}

    def settings(self, **overrides: Any) -> AuthSettings:
        """AuthSettings trusting this signer (``overrides``: other fields)."""
        return AuthSettings(public_keys=self.public_keys, **overrides)

    def env(self) -> dict[str, str]:
        """The environment of a service process that trusts this signer."""
        return {"SWITCHBOARD_AUTH__PUBLIC_KEYS": json.dumps(self.public_keys)}

    def token(
        self,
        tenant: str | None,
        audience: Audience | str,
        *,
        scopes: Iterable[str] | None = None,
        ttl: timedelta = timedelta(hours=1),
        subject: str = "local-signer",
    ) -> str:
        """A token for ``audience``; ``scopes`` default to every tenant scope of it."""
        held = scopes_for(Audience(audience), TENANT_SCOPES) if scopes is None else scopes
        return mint_token(
            self._key,
            self.kid,
            audience=str(audience),
            subject=subject,
            tenant=tenant,
            scopes=held,
            ttl=ttl,
        )

    def bearer(self, tenant: str | None, audience: Audience | str, **kw: Any) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": f"Bearer {self.token(tenant, audience, **kw)}"}
