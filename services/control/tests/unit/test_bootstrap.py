"""The bootstrap document: shape, environment references, idempotent apply (fakes)."""

from pathlib import Path

import pytest

from switchboard.common.config import TwilioAccount
from switchboard.control.bootstrap import BootstrapError, apply, expand, load, parse

LOCAL = Path(__file__).resolve().parents[4] / "scripts/local/bootstrap.yaml"


def test_environment_references_expand_with_defaults_and_fail_when_unset() -> None:
    env = {"TOKEN": "from-env"}
    assert expand({"a": ["${TOKEN}", "x${MISSING:-fallback}y"]}, env) == {
        "a": ["from-env", "xfallbacky"]
    }
    with pytest.raises(BootstrapError, match=r"a\.0: \$\{MISSING\} is not set"):
        expand({"a": ["${MISSING}"]}, env)


def test_invalid_documents_name_the_place() -> None:
    with pytest.raises(BootstrapError, match="mapping"):
        parse("- just a list", {})
    with pytest.raises(BootstrapError, match=r"tenants\.0\.id"):
        parse("tenants: [{id: 'Not A Slug', name: x}]", {})
    with pytest.raises(BootstrapError, match="Extra inputs"):
        parse("tenant: []", {})


def test_the_local_file_is_valid_and_json_works_too() -> None:
    document = load(LOCAL, {})
    assert [t.id for t in document.tenants] == ["local"]
    twilio = document.accounts[0]
    assert isinstance(twilio, TwilioAccount) and (twilio.cps, twilio.max_concurrent) == (5, 20)
    assert parse('{"version": 1, "tenants": [{"id": "a", "name": "A"}]}', {}).tenants[0].id == "a"


async def test_applying_twice_changes_nothing(plane) -> None:
    document = load(LOCAL, {})
    first = await apply(plane, document)
    assert first.counts == {
        "model": [2, 0],
        "tenant": [1, 0],
        "account": [4, 0],
        "channel": [9, 0],
    }
    written = list(plane.entities.outbox)
    second = await apply(plane, load(LOCAL, {}))
    assert second.changed == 0 and plane.entities.outbox == written
    assert "channels: 0 changed, 9 unchanged" in second.summary()
