"""The control.config contract: keys, secret rules, sealing on the wire, tombstones."""

import base64
import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from switchboard.common.config import (
    Channel,
    ConfigFollower,
    ConfigSettings,
    ModelPrice,
    Tenant,
    TwilioAccount,
    UndecodableConfig,
    WhatsAppAccount,
    decode,
    encode,
    encode_tombstone,
)
from switchboard.common.crypto import Cipher
from switchboard.common.settings import KafkaSettings

RING = Cipher({"d1": base64.b64encode(b"d" * 32).decode()}, "d1")
OTHER = Cipher({"d1": base64.b64encode(b"e" * 32).decode()}, "d1")
SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token-0001"


def twilio(**overrides: object) -> TwilioAccount:
    values: dict[str, object] = {"id": SID, "tenants": ["acme"], "auth_tokens": [TOKEN]}
    return TwilioAccount.model_validate({**values, **overrides})


def test_keys_name_the_entity() -> None:
    assert Tenant(id="acme", name="Acme").key == "tenant/acme"
    assert twilio().key == f"account/twilio/{SID}"
    phone = Channel(kind="phone", id="+14155550100", tenant="acme", account_id=SID)
    assert phone.key == "channel/phone/+14155550100"
    assert phone.account_key == f"account/twilio/{SID}"


def test_a_model_price_travels_and_refuses_negative_prices() -> None:
    model = ModelPrice(
        id="gpt-4o-mini", input_per_1k_usd=Decimal("0.00015"), output_per_1k_usd=Decimal("0.0006")
    )
    assert model.key == "model/gpt-4o-mini"
    key, value, headers = encode(model, RING)
    assert decode(key.decode(), value, None) == model  # no secrets: no ring needed
    assert headers["ce_type"] == b"switchboard.config.model.v1"
    with pytest.raises(ValidationError, match="input_per_1k_usd"):
        ModelPrice(id="m", input_per_1k_usd=Decimal(-1), output_per_1k_usd=Decimal(0))


@pytest.mark.parametrize("secrets", [[""], ["short"], ["x" * 15]])
def test_secrets_under_16_characters_are_refused_naming_the_field(secrets) -> None:
    with pytest.raises(ValidationError) as caught:
        twilio(auth_tokens=secrets)
    error = caught.value.errors()[0]
    assert error["loc"] == ("auth_tokens", 0)
    assert "at least 16 characters" in error["msg"]


def test_a_secret_list_is_never_empty_where_it_verifies() -> None:
    with pytest.raises(ValidationError):
        twilio(auth_tokens=[])


def test_channels_check_their_id_shape() -> None:
    with pytest.raises(ValidationError, match=r"E\.164"):
        Channel(kind="phone", id="4155550100", tenant="acme", account_id=SID)
    with pytest.raises(ValidationError, match="waba_id"):
        Channel(kind="whatsapp", id="200000000000001", tenant="acme", account_id="app")
    Channel(kind="whatsapp", id="200000000000001", tenant="acme", account_id="app", waba_id="1")


def test_secrets_are_masked_in_plain_dumps_and_repr() -> None:
    account = twilio()
    assert TOKEN not in repr(account)
    assert TOKEN not in account.model_dump_json()


def test_secrets_travel_sealed_and_come_back() -> None:
    account = twilio(api_keys=[{"sid": "SK" + "2" * 32, "secret": "api-key-secret-000001"}])
    key, value, headers = encode(account, RING)
    assert key == account.key.encode()
    assert TOKEN.encode() not in value and b"api-key-secret" not in value
    assert headers["ce_type"] == b"switchboard.config.account.v1"
    back = decode(account.key, value, RING)
    assert isinstance(back, TwilioAccount)
    assert back.auth_tokens[0].get_secret_value() == TOKEN
    assert back.api_keys[0].secret.get_secret_value() == "api-key-secret-000001"


def test_a_sealed_secret_opens_only_under_its_key_and_with_the_ring() -> None:
    account = twilio()
    _, value, _ = encode(account, RING)
    with pytest.raises(UndecodableConfig):
        decode(account.key, value, OTHER)  # a ring without the key
    with pytest.raises(UndecodableConfig):
        decode(account.key, value, None)  # no ring at all
    # the same value replayed under another entity's key
    moved = json.loads(value)
    moved["id"] = "AC" + "9" * 32
    with pytest.raises(UndecodableConfig):
        decode(f"account/twilio/{moved['id']}", json.dumps(moved).encode(), RING)
    with pytest.raises(UndecodableConfig, match="does not decrypt"):
        decode("account/twilio/AC" + "9" * 32, value, RING)
    _, tenant, _ = encode(Tenant(id="acme", name="Acme"), RING)
    with pytest.raises(UndecodableConfig, match="is the entity tenant/acme"):
        decode("tenant/globex", tenant, RING)


def test_tombstones_have_no_value() -> None:
    _, value, headers = encode_tombstone("channel/phone/+14155550100")
    assert value is None
    assert headers["ce_type"] == b"switchboard.config.channel.deleted.v1"


def follower(prefixes: tuple[str, ...] = ("",)) -> ConfigFollower:
    return ConfigFollower(KafkaSettings(), ConfigSettings(), prefixes=prefixes, cipher=RING)


def test_the_view_applies_changes_deletions_and_notifies() -> None:
    view = follower()
    seen: list[tuple[str, bool]] = []
    view.listen(lambda c: seen.append((c.key, c.new is not None)), prefix="account/")
    wa = WhatsAppAccount(
        id="app1", tenants=["acme"], app_secrets=["app-secret-0000001"], waba_ids=["100"]
    )
    for entity in (Tenant(id="acme", name="Acme"), twilio(), wa):
        key, value, _ = encode(entity, RING)
        view.apply(key.decode(), value)
    assert set(view.tenants()) == {"tenant/acme"}
    assert set(view.accounts("twilio")) == {twilio().key}
    assert set(view.accounts()) == {twilio().key, wa.key}
    version = view.version
    view.apply(twilio().key, None)
    assert twilio().key not in view.accounts()
    assert view.version == version + 1
    assert seen == [(twilio().key, True), (wa.key, True), (twilio().key, False)]


def test_an_unreadable_record_removes_the_entity_until_a_readable_one_comes() -> None:
    view = follower()
    key, value, _ = encode(twilio(), RING)
    view.apply(key.decode(), value)
    _, foreign, _ = encode(twilio(), OTHER)
    view.apply(key.decode(), foreign)
    assert view.get(key.decode()) is None
    assert key.decode() in view.undecodable
    view.apply(key.decode(), value)
    assert view.get(key.decode()) is not None and not view.undecodable


def test_a_follower_keeps_only_its_prefixes() -> None:
    view = follower(prefixes=("tenant/",))
    for entity in (Tenant(id="acme", name="Acme"), twilio()):
        key, value, _ = encode(entity, RING)
        view.apply(key.decode(), value)
    assert list(view.items()) == ["tenant/acme"]
