"""Token signing keys: new Ed25519 keys sealed at rest, the active key for minting, and the
public keys this process verifies its own API's tokens with.

Rotation: a new key becomes active; the previous one is retired with ``not_after`` = now +
the longest token lifetime + a minute, stays published on ``control.config`` until then (so
every token it signed still verifies), and is withdrawn (tombstoned) afterwards.
"""

import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from switchboard.common.auth.tokens import (
    LEEWAY_S,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
)
from switchboard.common.crypto import Cipher
from switchboard.control.models import StoredSigningKey, signing_context


def new_signing_key(cipher: Cipher, now: datetime) -> StoredSigningKey:
    """A fresh Ed25519 key, its private half sealed under the at-rest ring."""
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    private = generate_private_key()
    sealed = cipher.seal(private_key_pem(private), signing_context(kid))
    return StoredSigningKey(kid, sealed, public_key_pem(private), "active", now)


def retire_until(now: datetime, max_ttl_s: int) -> datetime:
    """When a key retired ``now`` has outlived every token it signed."""
    return now + timedelta(seconds=max_ttl_s + LEEWAY_S + 30)


class Signer:
    """Opens the active private key once per key id (the store says which is active)."""

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher
        self._cached: tuple[str, Ed25519PrivateKey] | None = None

    def private_key(self, stored: StoredSigningKey) -> Ed25519PrivateKey:
        if self._cached is None or self._cached[0] != stored.kid:
            pem = self._cipher.open(stored.private_key, signing_context(stored.kid))
            self._cached = (stored.kid, load_private_key(pem))
        return self._cached[1]


class KnownPublicKeys:
    """The public keys the control API accepts its own tokens with (``PublicKeys``),
    refreshed from the store by the housekeeping loop and on every rotation here."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._keys: dict[str, tuple[datetime | None, Ed25519PublicKey]] = {}
        self.now = now
        """The clock ``not_after`` is compared with (the control plane's)."""

    def refresh(self, stored: Iterable[StoredSigningKey]) -> None:
        self._keys = {k.kid: (k.not_after, load_public_key(k.public_key)) for k in stored}

    def add(self, stored: StoredSigningKey) -> None:
        self._keys[stored.kid] = (stored.not_after, load_public_key(stored.public_key))

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        found = self._keys.get(kid)
        if found is None:
            return None
        not_after, key = found
        if not_after is not None and not_after < self.now():
            return None
        return key
