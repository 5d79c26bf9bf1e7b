"""WhatsApp Cloud API: signed, batched Meta-shaped webhooks; the send endpoint; statuses."""

import base64
import hashlib
import hmac
import json
import time

import pytest

PHONE_ID = "200000000000001"
WA_TOKEN = "local-wa-access-token"
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


def statuses_of(receiver) -> list[dict]:
    found = []
    for post in receiver.on("wa"):
        assert meta_signature_ok(post.body, post.headers["x-hub-signature-256"], SECRET)
        for entry in json.loads(post.body)["entry"]:
            for change in entry["changes"]:
                found += change["value"].get("statuses", [])
    return found


def send(sim, body, token=WA_TOKEN):
    return sim.http.post(
        f"/v21.0/{PHONE_ID}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def user_writes(sim, wa_id="15550001111", **message):
    spec = message or {"type": "text", "text": {"body": "Hello"}}
    answer = sim.http.post("/_sim/whatsapp/inbound", json={"wa_id": wa_id, "messages": [spec]})
    assert answer.status_code == 202, answer.text
    return answer.json()["ids"][0]


TEXT = {
    "messaging_product": "whatsapp",
    "to": "15550001111",
    "type": "text",
    "text": {"body": "Thanks!"},
}


def test_reply_needs_the_numbers_token_and_gets_statuses(sim, receiver, wait):
    configure(sim, receiver)
    user_writes(sim)
    refused = send(sim, TEXT, token="nope")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == 190
    assert refused.json()["error"]["type"] == "OAuthException"

    sent = send(sim, TEXT)
    assert sent.status_code == 200
    answer = sent.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "15550001111", "wa_id": "15550001111"}]
    wamid = answer["messages"][0]["id"]

    wait(lambda: len(statuses_of(receiver)) == 3)
    statuses = statuses_of(receiver)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert {s["id"] for s in statuses} == {wamid}
    replies = sim.http.get("/_sim/messages").json()["whatsapp_replies"]
    assert [r["text"]["body"] for r in replies] == ["Thanks!"]


def test_free_text_outside_the_24_hour_window_is_refused_with_131047(sim, receiver):
    configure(sim, receiver)
    never_wrote = send(sim, TEXT)
    assert never_wrote.status_code == 400
    error = never_wrote.json()["error"]
    assert error["code"] == 131047
    assert error["message"] == "(#131047) Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]
    day_ago = int(time.time()) - 25 * 3600
    user_writes(sim, type="text", text={"body": "old"}, timestamp=day_ago)
    assert send(sim, TEXT).status_code == 400  # the last message is 25 hours old
    user_writes(sim)
    assert send(sim, TEXT).status_code == 200  # a new message renews the window
    rejected = sim.http.get("/_sim/messages").json()["whatsapp_rejected"]
    assert [r["code"] for r in rejected] == [131047, 131047]


def test_a_template_goes_out_without_a_window_if_it_is_approved(sim, receiver):
    configure(sim, receiver, approved_templates={"order_followup": ["en_US"]})
    template = {
        "messaging_product": "whatsapp",
        "to": "15550002222",
        "type": "template",
        "template": {
            "name": "order_followup",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}],
        },
    }
    assert send(sim, template).status_code == 200
    template["template"]["language"]["code"] = "de_DE"
    unknown = send(sim, template)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == 132001


def test_window_error_as_a_failed_status(sim, receiver, wait):
    configure(sim, receiver, window_error="status")
    accepted = send(sim, TEXT)
    assert accepted.status_code == 200
    wamid = accepted.json()["messages"][0]["id"]
    wait(lambda: len(statuses_of(receiver)) == 1)
    [failed] = statuses_of(receiver)
    assert (failed["id"], failed["status"]) == (wamid, "failed")
    assert failed["errors"][0]["code"] == 131047
    assert failed["errors"][0]["title"] == "Re-engagement message"


def test_every_message_type_is_sent_as_meta_shapes_it(sim, receiver, wait):
    configure(sim, receiver)
    kinds = [
        {"type": "image", "image": {"id": "1", "mime_type": "image/jpeg", "caption": "hi"}},
        {"type": "location", "location": {"latitude": 1.5, "longitude": 2.5, "name": "Here"}},
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "b", "title": "Yes"}},
            "context": {"id": "wamid.ours"},
        },
        {"type": "reaction", "reaction": {"message_id": "wamid.ours", "emoji": "👍"}},
    ]
    answer = sim.http.post("/_sim/whatsapp/inbound", json={"wa_id": "1555", "messages": kinds})
    assert answer.status_code == 202
    wait(lambda: len(receiver.on("wa")) == 1)
    [post] = receiver.on("wa")
    assert meta_signature_ok(post.body, post.headers["x-hub-signature-256"], SECRET)
    messages = json.loads(post.body)["entry"][0]["changes"][0]["value"]["messages"]
    assert [m["type"] for m in messages] == ["image", "location", "interactive", "reaction"]
    assert [m["id"] for m in messages] == answer.json()["ids"]
    assert messages[2]["context"] == {"id": "wamid.ours"}
    assert all(m["from"] == "1555" and m["timestamp"] for m in messages)


def test_read_receipts_are_recorded(sim, receiver):
    configure(sim, receiver)
    wamid = user_writes(sim)
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    answer = send(sim, read)
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert send(sim, {"messaging_product": "whatsapp", "status": "read"}).status_code == 400
    reads = sim.http.get("/_sim/messages").json()["whatsapp_reads"]
    assert [r["message_id"] for r in reads] == [wamid]


def test_media_are_served_by_id_then_url_with_the_token(sim):
    data = b"\x89PNG fake image"
    created = sim.http.post(
        "/_sim/whatsapp/media",
        json={"mime_type": "image/png", "data_base64": base64.b64encode(data).decode()},
    )
    media_id = created.json()["id"]
    auth = {"Authorization": f"Bearer {WA_TOKEN}"}
    info = sim.http.get(f"/v21.0/{media_id}", headers=auth)
    assert info.status_code == 200
    body = info.json()
    assert (body["mime_type"], body["file_size"], body["id"]) == (
        "image/png",
        str(len(data)),
        media_id,
    )
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    url = body["url"].removeprefix(sim.url)
    assert sim.http.get(url).status_code == 401
    download = sim.http.get(url, headers=auth)
    assert download.content == data and download.headers["content-type"].startswith("image/png")
    assert sim.http.get("/v21.0/999", headers=auth).json()["error"]["code"] == 100
    assert (
        sim.http.get(f"/v21.0/{media_id}", headers={"Authorization": "Bearer x"}).json()["error"][
            "code"
        ]
        == 190
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (130429, 400),
        (131056, 400),
        (80007, 400),
        (131026, 400),
        (190, 401),
        (10, 403),
        (131000, 500),
        (100, 400),
    ],
)
def test_queued_meta_errors_answer_the_next_send(sim, receiver, code, status):
    configure(sim, receiver)
    user_writes(sim)
    sim.http.post("/_sim/whatsapp/errors", json={"codes": [code]})
    refused = send(sim, TEXT)
    assert refused.status_code == status
    error = refused.json()["error"]
    assert error["code"] == code and error["message"].startswith(f"(#{code}) ")
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert send(sim, TEXT).status_code == 200  # only the next one


def test_unknown_number_is_a_meta_error(sim):
    answer = sim.http.post("/v21.0/999/messages", json={}, headers={"Authorization": "Bearer x"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
