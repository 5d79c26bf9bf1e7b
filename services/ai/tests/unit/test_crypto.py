"""AES-256-GCM sealing with a key ring."""

import base64

import pytest

from switchboard.ai.crypto import KeyRingError, TokenCipher, new_key
from switchboard.ai.errors import CryptoError


def test_seal_open_round_trip_and_no_plaintext(build) -> None:
    cipher = build.cipher()
    sealed = cipher.seal("secret-token", "business:b1:whatsapp")
    assert sealed.kid == "k1"
    assert b"secret-token" not in sealed.ciphertext
    assert cipher.open(sealed, "business:b1:whatsapp") == "secret-token"
    assert cipher.seal("secret-token", "ctx").nonce != cipher.seal("secret-token", "ctx").nonce


def test_ciphertext_is_bound_to_its_record(build) -> None:
    cipher = build.cipher()
    sealed = cipher.seal("secret-token", "business:b1:whatsapp")
    with pytest.raises(CryptoError):
        cipher.open(sealed, "business:b2:whatsapp")


def test_old_key_still_decrypts_and_rotation_moves_to_current(build) -> None:
    old = build.cipher("k1").seal("tok", "ctx")
    cipher = build.cipher("k2")
    assert cipher.open(old, "ctx") == "tok"
    assert cipher.needs_rotation(old)
    rotated = cipher.rotate(old, "ctx")
    assert rotated.kid == "k2" and not cipher.needs_rotation(rotated)
    assert TokenCipher({"k2": build.key_2}, "k2").open(rotated, "ctx") == "tok"
    with pytest.raises(CryptoError, match="unknown key id"):
        TokenCipher({"k2": build.key_2}, "k2").open(old, "ctx")


def test_bad_key_rings_are_refused() -> None:
    with pytest.raises(KeyRingError):
        TokenCipher({}, "k1")
    with pytest.raises(KeyRingError):
        TokenCipher({"k1": base64.b64encode(b"short").decode()}, "k1")
    with pytest.raises(KeyRingError):
        TokenCipher({"k1": "not base64!"}, "k1")
    assert len(base64.b64decode(new_key())) == 32
