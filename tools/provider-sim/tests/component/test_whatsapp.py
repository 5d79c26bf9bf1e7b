"""WhatsApp Cloud API: signed, batched Meta-shaped webhooks; the send endpoint; statuses."""

import hashlib
import hmac
import json

PHONE_ID = "200000000000001"
WA_TOKEN = "local-wa-token"
SECRET = "wa-test-secret"


def meta_signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """Meta's algorithm, written independently of the simulator's."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


def configure(sim, receiver, **extra):
    sim.configure(whatsapp={"webhook_url": receiver.url + "/wa", "app_secret": SECRET, **extra})


def test_inbound_scenario_sends_signed_batched_meta_payloads(sim, receiver, wait):
    configure(sim, receiver, batch_max=4)
    started = sim.http.post(
        "/_sim/scenarios/whatsapp", json={"count": 25, "users": 5, "rate": 0, "text": "hi"}
    )
    assert started.status_code == 202
    name = started.json()["scenario"]
    wait(lambda: sim.http.get("/_sim/scenarios").json()[name] == "done")

    posts = receiver.on("wa")
    assert all(
        meta_signature_ok(p.body, p.headers.get("x-hub-signature-256"), SECRET) for p in posts
    )
    assert not meta_signature_ok(
        posts[0].body + b" ", posts[0].headers["x-hub-signature-256"], SECRET
    )
    messages, senders, batch_sizes = [], set(), []
    for post in posts:
        payload = json.loads(post.body)
        assert payload["object"] == "whatsapp_business_account"
        for entry in payload["entry"]:
            for change in entry["changes"]:
                value = change["value"]
                assert change["field"] == "messages"
                assert value["messaging_product"] == "whatsapp"
                assert value["metadata"]["phone_number_id"] == PHONE_ID
                contacts = {c["wa_id"] for c in value["contacts"]}
                batch_sizes.append(len(value["messages"]))
                for message in value["messages"]:
                    assert message["from"] in contacts
                    assert message["id"].startswith("wamid.")
                    assert message["type"] == "text" and message["text"]["body"].startswith("hi")
                    senders.add(message["from"])
                    messages.append(message["id"])
    assert len(messages) == len(set(messages)) == 25
    assert len(senders) == 5
    assert max(batch_sizes) > 1  # Meta batches
    assert sim.stats()["counters"]["whatsapp.inbound"] == 25


def test_reply_needs_the_numbers_token_and_gets_statuses(sim, receiver, wait):
    configure(sim, receiver)
    body = {
        "messaging_product": "whatsapp",
        "to": "15550001111",
        "type": "text",
        "text": {"body": "Thanks!"},
    }
    refused = sim.http.post(
        f"/v21.0/{PHONE_ID}/messages", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == 190
    assert refused.json()["error"]["type"] == "OAuthException"

    sent = sim.http.post(
        f"/v21.0/{PHONE_ID}/messages", json=body, headers={"Authorization": f"Bearer {WA_TOKEN}"}
    )
    assert sent.status_code == 200
    answer = sent.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "15550001111", "wa_id": "15550001111"}]
    wamid = answer["messages"][0]["id"]

    wait(lambda: len(receiver.on("wa")) == 3)
    statuses = []
    for post in receiver.on("wa"):
        assert meta_signature_ok(post.body, post.headers["x-hub-signature-256"], SECRET)
        for entry in json.loads(post.body)["entry"]:
            for change in entry["changes"]:
                statuses += change["value"]["statuses"]
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert {s["id"] for s in statuses} == {wamid}
    replies = sim.http.get("/_sim/messages").json()["whatsapp_replies"]
    assert [r["text"]["body"] for r in replies] == ["Thanks!"]


def test_unknown_number_is_a_meta_error(sim):
    answer = sim.http.post("/v21.0/999/messages", json={}, headers={"Authorization": "Bearer x"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
