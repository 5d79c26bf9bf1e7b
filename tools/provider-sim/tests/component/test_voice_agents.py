"""Vapi and ElevenLabs: end-of-call webhooks signed as each provider does, and fetch APIs."""

import hashlib
import hmac
import json
import time


def elevenlabs_signature_ok(body: bytes, header: str, secret: str, tolerance_s: int = 1800) -> bool:
    """ElevenLabs' documented scheme, written independently of the simulator's."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}.{body.decode()}".encode(), hashlib.sha256)
    return hmac.compare_digest(parts["v0"], mac.hexdigest())


def test_vapi_calls_post_status_updates_and_reports_and_are_fetchable(sim, receiver, wait):
    sim.configure(vapi={"webhook_url": receiver.url + "/vapi", "secret": "vs", "api_key": "vk"})
    started = sim.http.post("/_sim/scenarios/vapi", json={"count": 3, "rate": 0, "duration_s": 60})
    name = started.json()["scenario"]
    wait(lambda: sim.http.get("/_sim/scenarios").json()[name] == "done")

    posts = receiver.on("vapi")
    assert len(posts) == 9
    assert all(p.headers["x-vapi-secret"] == "vs" for p in posts)
    messages = [json.loads(p.body)["message"] for p in posts]
    reports = [m for m in messages if m["type"] == "end-of-call-report"]
    assert len(reports) == 3
    for report in reports:
        assert report["call"]["status"] == "ended" and report["endedReason"]
        assert report["artifact"]["transcript"] and report["durationSeconds"] == 60
        assert report["call"]["phoneCallProviderId"].startswith("CA")
    call_id = reports[0]["call"]["id"]
    fetched = sim.http.get(f"/call/{call_id}", headers={"Authorization": "Bearer vk"})
    assert fetched.status_code == 200 and fetched.json()["status"] == "ended"
    assert (
        sim.http.get(f"/call/{call_id}", headers={"Authorization": "Bearer x"}).status_code == 401
    )
    assert sim.http.get("/call/nope", headers={"Authorization": "Bearer vk"}).status_code == 404


def test_elevenlabs_post_call_transcription_is_signed_and_fetchable(sim, receiver, wait):
    sim.configure(elevenlabs={"webhook_url": receiver.url + "/el", "secret": "es", "api_key": "ek"})
    started = sim.http.post("/_sim/scenarios/elevenlabs", json={"count": 2, "rate": 0})
    name = started.json()["scenario"]
    wait(lambda: sim.http.get("/_sim/scenarios").json()[name] == "done")

    posts = receiver.on("el")
    assert len(posts) == 2
    for post in posts:
        assert elevenlabs_signature_ok(post.body, post.headers["elevenlabs-signature"], "es")
        assert not elevenlabs_signature_ok(post.body, post.headers["elevenlabs-signature"], "x")
        event = json.loads(post.body)
        assert event["type"] == "post_call_transcription"
        data = event["data"]
        assert data["status"] == "done" and data["transcript"]
        assert data["metadata"]["call_duration_secs"] == 30
        assert data["metadata"]["phone_call"]["call_sid"].startswith("CA")
    conversation_id = json.loads(posts[0].body)["data"]["conversation_id"]
    url = f"/v1/convai/conversations/{conversation_id}"
    fetched = sim.http.get(url, headers={"xi-api-key": "ek"})
    assert fetched.status_code == 200 and fetched.json()["status"] == "done"
    assert sim.http.get(url, headers={"xi-api-key": "bad"}).status_code == 401
