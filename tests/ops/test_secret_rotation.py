"""The runbook's zero-downtime secret rotation, step by step, against the real ingress process.

docs/operations/runbooks.md, "Rotate a provider secret with zero downtime":
1. ``rotate-secret.sh add`` puts the new Twilio auth token / WhatsApp app secret next to the
   old one; roll the ingress (here: stop the process, start one with the new values);
2. the provider switches to the new secret: webhooks signed with either are accepted;
3. ``rejected_signature`` stays flat meanwhile;
4. ``rotate-secret.sh remove`` drops the old one; roll again: the old signature gets 403.
"""

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from switchboard.common.testing import ServiceProcess, twilio_signature

pytestmark = pytest.mark.integration

ACCOUNT = "AC" + uuid.uuid4().hex
TENANT = "rotation-tenant"
TWILIO_PATH = "/webhooks/twilio/voice/status"
WHATSAPP_PATH = "/webhooks/whatsapp"
OLD_TOKEN, NEW_TOKEN = "old-" + uuid.uuid4().hex, "new-" + uuid.uuid4().hex
OLD_APP_SECRET, NEW_APP_SECRET = "old-" + uuid.uuid4().hex, "new-" + uuid.uuid4().hex
# A notification the ingress verifies and acknowledges without publishing an event.
WHATSAPP_BODY = json.dumps(
    {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"e": "x"}}]}],
    }
).encode()


def twilio_callback(ingress: ServiceProcess, token: str) -> int:
    url = ingress.url + TWILIO_PATH
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": "CA" + uuid.uuid4().hex,
        "CallStatus": "ringing",
        "SequenceNumber": "0",
        "From": "+15005550006",
        "To": "+14155550100",
        "Direction": "outbound-api",
    }
    response = httpx.post(
        url,
        content=urlencode(params).encode(),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url, params, token),
        },
        timeout=30,
    )
    return response.status_code


def whatsapp_notification(ingress: ServiceProcess, secret: str) -> int:
    digest = hmac.new(secret.encode(), WHATSAPP_BODY, hashlib.sha256).hexdigest()
    response = httpx.post(
        ingress.url + WHATSAPP_PATH,
        content=WHATSAPP_BODY,
        headers={"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"},
        timeout=30,
    )
    return response.status_code


def rejected_signatures(scrape: Callable[[ServiceProcess], Any], ingress: ServiceProcess) -> float:
    samples = scrape(ingress).get("switchboard_ingress_webhooks_total", {})
    return sum(v for labels, v in samples.items() if ("outcome", "rejected_signature") in labels)


def test_rotation_runbook_against_the_running_ingress(
    ops_script: Any, start_service: Any, scrape_metrics: Any, tmp_path: Path
) -> None:
    # The ingress Secret's two values as they are before the rotation.
    twilio = json.dumps({ACCOUNT: {"auth_tokens": [OLD_TOKEN], "tenant": TENANT}})
    whatsapp = json.dumps([{"secrets": [OLD_APP_SECRET], "tenant": TENANT}])

    def roll(previous: ServiceProcess | None, twilio_value: str, whatsapp_value: str) -> Any:
        """Stop the running ingress (if any) and start one with the Secret's current values."""
        if previous is not None:
            previous.stop()
        return start_service(
            "ingress",
            ["switchboard.ingress", "serve"],
            {
                "SWITCHBOARD_TWILIO__ACCOUNTS": twilio_value,
                "SWITCHBOARD_WHATSAPP__APPS": whatsapp_value,
                "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path / "spool"),
            },
        )

    def rotate(action: str, kind: str, selector: str, value: str, secret: str) -> str:
        done = ops_script(
            "rotate-secret.sh", action, kind, selector, env={"SECRET": secret}, stdin=value
        )
        assert done.returncode == 0, done.stderr
        assert secret not in done.args  # the secret never appears on the command line
        return str(done.stdout)

    ingress = roll(None, twilio, whatsapp)
    ingress.wait_ready()
    assert twilio_callback(ingress, OLD_TOKEN) == 204
    assert whatsapp_notification(ingress, OLD_APP_SECRET) == 200
    assert twilio_callback(ingress, NEW_TOKEN) == 403  # not configured yet

    # 1. Add the new secrets next to the old ones; roll the ingress.
    twilio = rotate("add", "twilio", ACCOUNT, twilio, NEW_TOKEN)
    whatsapp = rotate("add", "whatsapp", TENANT, whatsapp, NEW_APP_SECRET)
    ingress = roll(ingress, twilio, whatsapp)
    ingress.wait_ready()

    # 2. The provider switches over; in-flight retries still carry the old signature.
    for token, secret in ((OLD_TOKEN, OLD_APP_SECRET), (NEW_TOKEN, NEW_APP_SECRET)):
        assert twilio_callback(ingress, token) == 204
        assert whatsapp_notification(ingress, secret) == 200
    # 3. No signature was rejected during the switch.
    assert rejected_signatures(scrape_metrics, ingress) == 0

    # 4. Remove the old secrets; roll again: only the new ones verify.
    twilio = rotate("remove", "twilio", ACCOUNT, twilio, OLD_TOKEN)
    whatsapp = rotate("remove", "whatsapp", TENANT, whatsapp, OLD_APP_SECRET)
    assert OLD_TOKEN not in twilio
    assert OLD_APP_SECRET not in whatsapp
    ingress = roll(ingress, twilio, whatsapp)
    ingress.wait_ready()
    assert twilio_callback(ingress, NEW_TOKEN) == 204
    assert whatsapp_notification(ingress, NEW_APP_SECRET) == 200
    assert twilio_callback(ingress, OLD_TOKEN) == 403
    assert whatsapp_notification(ingress, OLD_APP_SECRET) == 403
    assert rejected_signatures(scrape_metrics, ingress) == 2


def test_rotate_secret_refuses_mistakes(ops_script: Any) -> None:
    value = json.dumps({ACCOUNT: {"auth_tokens": ["only"], "tenant": TENANT}})
    cases = [
        (("remove", "twilio", ACCOUNT), "only", "only secret"),
        (("add", "twilio", ACCOUNT), "only", "already configured"),
        (("add", "twilio", "AC-unknown"), "x", "no Twilio account"),
        (("remove", "twilio", ACCOUNT), "absent", "not configured"),
        (("add", "twilio", ACCOUNT), "", "SECRET is empty"),
    ]
    for args, secret, message in cases:
        done = ops_script("rotate-secret.sh", *args, env={"SECRET": secret}, stdin=value)
        assert done.returncode == 1, args
        assert message in done.stderr, (args, done.stderr)
        assert done.stdout == ""
    two_apps = json.dumps([{"secrets": ["a"], "tenant": "t"}, {"secrets": ["b"], "tenant": "t"}])
    done = ops_script(
        "rotate-secret.sh", "add", "whatsapp", "t", env={"SECRET": "c"}, stdin=two_apps
    )
    assert done.returncode == 1
    assert "2 whatsapp entries" in done.stderr
