"""Provider tokens at rest: AES-256-GCM (``cryptography``'s AESGCM) under a key ring.

Each ciphertext records the id of its key, so keys rotate without downtime: add the new key,
make it current (new writes use it, old records still decrypt), run ``rotate-keys`` to
re-encrypt, then drop the old key. The associated data binds a ciphertext to its business and
field, so a ciphertext copied into another record does not decrypt.
"""

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from switchboard.ai.errors import CryptoError
from switchboard.ai.models import SealedToken

NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32


class KeyRingError(ValueError):
    """The configured key ring is unusable (the service must not start)."""


def new_key() -> str:
    """A fresh base64 key for the key ring."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class TokenCipher:
    """Seals and opens provider tokens with the key ring."""

    def __init__(self, keys: Mapping[str, SecretStr | str], current_key_id: str) -> None:
        ring: dict[str, AESGCM] = {}
        for kid, value in keys.items():
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            try:
                key = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise KeyRingError(f"key {kid!r} is not base64") from exc
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {kid!r} must be {KEY_BYTES} bytes (AES-256)")
            ring[kid] = AESGCM(key)
        if current_key_id not in ring:
            raise KeyRingError(
                "set SWITCHBOARD_CRYPTO__CURRENT_KEY_ID to a key id of SWITCHBOARD_CRYPTO__KEYS"
            )
        self._ring = ring
        self.current_key_id = current_key_id

    def seal(self, plaintext: str, context: str) -> SealedToken:
        """Encrypt under the current key; ``context`` (business id + field) is authenticated."""
        nonce = os.urandom(NONCE_BYTES)
        ct = self._ring[self.current_key_id].encrypt(nonce, plaintext.encode(), context.encode())
        return SealedToken(kid=self.current_key_id, nonce=nonce, ciphertext=ct)

    def open(self, sealed: SealedToken, context: str) -> str:
        """Decrypt with the key the token names."""
        aead = self._ring.get(sealed.kid)
        if aead is None:
            raise CryptoError(f"unknown key id {sealed.kid!r}: is it still in the key ring?")
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, context.encode()).decode()
        except InvalidTag as exc:
            raise CryptoError(
                "token does not decrypt: tampered, or bound to another record"
            ) from exc

    def needs_rotation(self, sealed: SealedToken) -> bool:
        return sealed.kid != self.current_key_id

    def rotate(self, sealed: SealedToken, context: str) -> SealedToken:
        """The same plaintext sealed under the current key."""
        return self.seal(self.open(sealed, context), context)
