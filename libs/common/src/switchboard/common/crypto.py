"""Secrets under AES-256-GCM (``cryptography``'s AESGCM) with a key ring of key ids.

Each ciphertext records the id of its key, so keys rotate without downtime: add the new key,
make it current (new writes use it, old ciphertexts still open), re-encrypt (each owner has a
``rotate-keys`` command), then drop the old key. The associated data (``context``) binds a
ciphertext to its record and field, so a ciphertext copied into another record does not open.

Used for provider tokens at rest (AI businesses, control-plane accounts) and for the secrets
the control plane distributes on ``control.config`` (a separate key ring: see
:mod:`switchboard.common.config`).
"""

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, Field, SecretStr

from switchboard.common.errors import PermanentError

NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32


class KeyRingError(ValueError):
    """The configured key ring is unusable (the process must not start)."""


class CryptoError(PermanentError):
    """A ciphertext cannot be opened: unknown key id, tampered, or bound to another record."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A secret encrypted with AES-256-GCM under key ``kid``."""

    kid: str
    nonce: bytes
    ciphertext: bytes

    def to_json(self) -> dict[str, str]:
        """``{"kid", "nonce", "ct"}`` with base64 bytes (for JSON documents and topics)."""
        return {
            "kid": self.kid,
            "nonce": base64.b64encode(self.nonce).decode(),
            "ct": base64.b64encode(self.ciphertext).decode(),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Sealed":
        try:
            return cls(
                kid=str(doc["kid"]),
                nonce=base64.b64decode(doc["nonce"], validate=True),
                ciphertext=base64.b64decode(doc["ct"], validate=True),
            )
        except (KeyError, TypeError, binascii.Error, ValueError) as exc:
            raise CryptoError(f"not a sealed secret: {exc!r}") from exc

    @staticmethod
    def looks_sealed(value: object) -> bool:
        """True for the JSON form written by :meth:`to_json`."""
        return isinstance(value, Mapping) and {"kid", "nonce", "ct"} <= value.keys()


class KeyRingSettings(BaseModel):
    """An AES-256-GCM key ring: several keys by id, one of them current."""

    keys: dict[str, SecretStr] = Field(default_factory=dict)
    """Key ring ``{key_id: base64 of 32 random bytes}``; keep old keys until ``rotate-keys`` ran."""
    current_key_id: str = ""
    """The key new ciphertexts are written with; must be in ``keys``."""


def new_key() -> str:
    """A fresh base64 key for a key ring."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class Cipher:
    """Seals and opens secrets with a key ring."""

    def __init__(
        self,
        keys: Mapping[str, SecretStr | str],
        current_key_id: str,
        *,
        setting: str = "SWITCHBOARD_CRYPTO",
    ) -> None:
        """``setting`` names the env prefix of the ring in error messages."""
        ring: dict[str, AESGCM] = {}
        for kid, value in keys.items():
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            try:
                key = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise KeyRingError(f"{setting}__KEYS: key {kid!r} is not base64") from exc
            if len(key) != KEY_BYTES:
                raise KeyRingError(
                    f"{setting}__KEYS: key {kid!r} must be {KEY_BYTES} bytes (AES-256)"
                )
            ring[kid] = AESGCM(key)
        if current_key_id not in ring:
            raise KeyRingError(f"set {setting}__CURRENT_KEY_ID to a key id of {setting}__KEYS")
        self._ring = ring
        self.current_key_id = current_key_id

    @classmethod
    def from_settings(
        cls, settings: KeyRingSettings, *, setting: str = "SWITCHBOARD_CRYPTO"
    ) -> "Cipher":
        return cls(settings.keys, settings.current_key_id, setting=setting)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ring)

    def seal(self, plaintext: str, context: str) -> Sealed:
        """Encrypt under the current key; ``context`` (record + field) is authenticated."""
        nonce = os.urandom(NONCE_BYTES)
        ct = self._ring[self.current_key_id].encrypt(nonce, plaintext.encode(), context.encode())
        return Sealed(kid=self.current_key_id, nonce=nonce, ciphertext=ct)

    def open(self, sealed: Sealed, context: str) -> str:
        """Decrypt with the key the ciphertext names."""
        aead = self._ring.get(sealed.kid)
        if aead is None:
            raise CryptoError(f"unknown key id {sealed.kid!r}: is it still in the key ring?")
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, context.encode()).decode()
        except InvalidTag as exc:
            raise CryptoError(
                "secret does not decrypt: tampered, or bound to another record"
            ) from exc

    def needs_rotation(self, sealed: Sealed) -> bool:
        return sealed.kid != self.current_key_id

    def rotate(self, sealed: Sealed, context: str) -> Sealed:
        """The same plaintext sealed under the current key."""
        return self.seal(self.open(sealed, context), context)
