"""AES-256-GCM sealing with a key ring (shared by the AI service and the control plane)."""

import base64

import pytest

from switchboard.common.crypto import Cipher, CryptoError, KeyRingError, Sealed, new_key

KEY_1 = base64.b64encode(b"1" * 32).decode()
KEY_2 = base64.b64encode(b"2" * 32).decode()


def cipher(current: str = "k1") -> Cipher:
    return Cipher({"k1": KEY_1, "k2": KEY_2}, current)


def test_seal_open_round_trip_and_no_plaintext() -> None:
    sealed = cipher().seal("secret-token", "business:b1:whatsapp")
    assert sealed.kid == "k1"
    assert b"secret-token" not in sealed.ciphertext
    assert cipher().open(sealed, "business:b1:whatsapp") == "secret-token"
    assert cipher().seal("secret-token", "ctx").nonce != cipher().seal("secret-token", "ctx").nonce


def test_ciphertext_is_bound_to_its_record() -> None:
    sealed = cipher().seal("secret-token", "business:b1:whatsapp")
    with pytest.raises(CryptoError):
        cipher().open(sealed, "business:b2:whatsapp")


def test_old_key_still_decrypts_and_rotation_moves_to_current() -> None:
    old = cipher("k1").seal("tok", "ctx")
    ring = cipher("k2")
    assert ring.open(old, "ctx") == "tok"
    assert ring.needs_rotation(old)
    rotated = ring.rotate(old, "ctx")
    assert rotated.kid == "k2" and not ring.needs_rotation(rotated)
    assert Cipher({"k2": KEY_2}, "k2").open(rotated, "ctx") == "tok"
    with pytest.raises(CryptoError, match="unknown key id"):
        Cipher({"k2": KEY_2}, "k2").open(old, "ctx")


def test_json_form_round_trips_and_rejects_garbage() -> None:
    sealed = cipher().seal("tok", "ctx")
    doc = sealed.to_json()
    assert Sealed.looks_sealed(doc) and not Sealed.looks_sealed("tok")
    assert Sealed.from_json(doc) == sealed
    with pytest.raises(CryptoError):
        Sealed.from_json({"kid": "k1", "nonce": "not base64!", "ct": ""})


def test_bad_key_rings_are_refused_naming_the_setting() -> None:
    with pytest.raises(KeyRingError, match="SWITCHBOARD_CRYPTO__CURRENT_KEY_ID"):
        Cipher({}, "k1")
    with pytest.raises(KeyRingError, match="32 bytes"):
        Cipher({"k1": base64.b64encode(b"short").decode()}, "k1")
    with pytest.raises(KeyRingError, match="SWITCHBOARD_CONFIG__KEYS"):
        Cipher({"k1": "not base64!"}, "k1", setting="SWITCHBOARD_CONFIG")
    assert len(base64.b64decode(new_key())) == 32
