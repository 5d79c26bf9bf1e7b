"""``switchboard-control bootstrap``: the local install's file applies on the real PostgreSQL,
twice without a change, and reaches control.config."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.common.config import TwilioAccount, WhatsAppAccount
from switchboard.common.testing import eventually
from switchboard.control import bootstrap

pytestmark = pytest.mark.integration

LOCAL = Path(__file__).resolve().parents[4] / "scripts/local/bootstrap.yaml"


def cli_env(settings) -> dict[str, str]:
    """The settings as the environment a CLI process reads."""
    pg, crypto = settings.postgres, settings.crypto
    return {
        **os.environ,
        "SWITCHBOARD_DATABASE": settings.database,
        "SWITCHBOARD_POSTGRES__HOST": pg.host,
        "SWITCHBOARD_POSTGRES__PORT": str(pg.port),
        "SWITCHBOARD_CRYPTO__KEYS": json.dumps(
            {k: v.get_secret_value() for k, v in crypto.keys.items()}
        ),
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": crypto.current_key_id,
        "SWITCHBOARD_LOG__JSON_OUTPUT": "false",
    }


def run_cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard.control", *args],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_local_file_applies_once_then_changes_nothing(
    settings, open_runtime, start_api, follow
) -> None:
    first = run_cli(settings, "bootstrap", str(LOCAL))
    assert first.returncode == 0, first.stderr
    assert "tenants: 1 changed" in first.stdout and "channels: 9 changed" in first.stdout
    async with open_runtime() as rt:
        pending = await rt.outbox.pending()
        again = await bootstrap.apply(rt.plane, bootstrap.load(LOCAL, {}))
        assert again.changed == 0
        assert await rt.outbox.pending() == pending  # no outbox row for an unchanged entity
    second = run_cli(settings, "bootstrap", str(LOCAL))
    assert "0 changed" in second.stdout and " 1 changed" not in second.stdout

    # the running control plane distributes it; services read the local tenant from the topic
    async with start_api(), follow() as follower:
        await eventually(lambda: len(follower.channels()) == 9, timeout_s=30)
        twilio = follower.get("account/twilio/AC00000000000000000000000000000000")
        assert isinstance(twilio, TwilioAccount) and twilio.cps == 5
        assert twilio.auth_tokens[0].get_secret_value() == "local-dev-auth-token"
        whatsapp = follower.get("account/whatsapp/local-whatsapp-app")
        assert isinstance(whatsapp, WhatsAppAccount) and whatsapp.waba_ids == ("100000000000001",)
        assert follower.channels("whatsapp")["channel/whatsapp/200000000000001"].tenant == "local"


async def test_secrets_come_from_the_environment(settings, open_runtime) -> None:
    env = {"SWITCHBOARD_LOCAL_TWILIO_AUTH_TOKEN": "from-the-environment-01"}
    async with open_runtime() as rt:
        await bootstrap.apply(rt.plane, bootstrap.load(LOCAL, env))
        account = await rt.plane.account("twilio", "AC00000000000000000000000000000000")
    assert isinstance(account, TwilioAccount)
    assert account.auth_tokens[0].get_secret_value() == "from-the-environment-01"


def test_a_bad_file_stops_with_the_place_named(settings, tmp_path) -> None:
    bad = tmp_path / "bootstrap.yaml"
    bad.write_text(
        "tenants: [{id: acme, name: Acme}]\n"
        "accounts:\n"
        "  - {provider: twilio, id: AC00000000000000000000000000000000, tenants: [acme],\n"
        '     auth_tokens: [""]}\n'
    )
    done = run_cli(settings, "bootstrap", str(bad))
    assert done.returncode == 2
    assert "accounts.0.twilio.auth_tokens.0" in done.stderr and "16 characters" in done.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text('tenants: [{id: acme, name: "${NOT_SET_ANYWHERE}"}]\n')
    done = run_cli(settings, "bootstrap", str(missing))
    assert done.returncode == 2 and "${NOT_SET_ANYWHERE} is not set" in done.stderr


def test_cli_commands_print_only_their_result_on_stdout(settings) -> None:
    """``KEY=$(switchboard-control create-operator-key)`` must capture the key alone: the
    command's log lines (migrations, "api key created") go to stderr. Before, they were on
    stdout, in front of the key."""
    done = run_cli(settings, "create-operator-key", "--name", "scripted")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sbk_"), done.stdout
    assert "api key created" in done.stderr
