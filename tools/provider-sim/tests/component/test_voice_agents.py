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


# --- GET /v1/convai/conversations ----------------------------------------------------------------

T0 = 1_790_000_000
LIST = "/v1/convai/conversations"


def run_conversations(sim, wait, count: int, duration_s: float = 30) -> list[str]:
    """``count`` finished ElevenLabs conversations (webhooks unsent); their ids."""
    before = set(sim.state.elevenlabs_conversations)
    started = sim.http.post(
        "/_sim/scenarios/elevenlabs", json={"count": count, "rate": 0, "duration_s": duration_s}
    )
    name = started.json()["scenario"]
    wait(lambda: sim.http.get("/_sim/scenarios").json()[name] == "done")
    return [c for c in sim.state.elevenlabs_conversations if c not in before]


def restart(sim, conversation_id: str, start: int, agent_id: str = "agent_provider_sim") -> None:
    """Move a conversation's start time and agent (the simulator starts all of them now)."""
    conversation = sim.state.elevenlabs_conversations[conversation_id]
    conversation["metadata"]["start_time_unix_secs"] = start
    conversation["agent_id"] = agent_id


def listing(sim, key: str = "ek", **params):
    return sim.http.get(LIST, params=params, headers={"xi-api-key": key})


def ids(body) -> list[str]:
    return [row["conversation_id"] for row in body["conversations"]]


def test_elevenlabs_conversation_list_refuses_a_missing_or_wrong_key(sim, wait):
    sim.configure(elevenlabs={"api_key": "ek"})
    run_conversations(sim, wait, 1)
    refused = {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
    for response in (sim.http.get(LIST), listing(sim, "bad"), listing(sim, "")):
        assert response.status_code == 401 and response.json() == refused
    assert listing(sim).status_code == 200


def test_elevenlabs_conversation_list_summarises_each_conversation(sim, wait):
    sim.configure(elevenlabs={"api_key": "ek"})
    [done] = run_conversations(sim, wait, 1)
    sim.http.post("/_sim/scenarios/elevenlabs", json={"count": 1, "duration_s": 600_000})
    wait(lambda: len(sim.state.elevenlabs_conversations) == 2)
    [live] = [c for c in sim.state.elevenlabs_conversations if c != done]
    restart(sim, done, T0 + 10)
    restart(sim, live, T0 + 20)

    response = listing(sim)
    assert response.status_code == 200
    body = response.json()
    assert body["has_more"] is False and body["next_cursor"] is None
    assert body["conversations"] == [
        {
            "agent_id": "agent_provider_sim",
            "agent_name": "sim agent",
            "conversation_id": live,
            "start_time_unix_secs": T0 + 20,
            "call_duration_secs": 0,
            "message_count": 0,
            "status": "in-progress",
            "call_successful": None,
        },
        {
            "agent_id": "agent_provider_sim",
            "agent_name": "sim agent",
            "conversation_id": done,
            "start_time_unix_secs": T0 + 10,
            "call_duration_secs": 30,
            "message_count": 4,
            "status": "done",
            "call_successful": "success",
        },
    ]


def test_elevenlabs_conversation_list_filters_by_start_time_and_agent(sim, wait):
    sim.configure(elevenlabs={"api_key": "ek"})
    made = run_conversations(sim, wait, 6)
    for i, conversation_id in enumerate(made):  # starts T0, T0+10, … T0+50; agents a, b, a, …
        restart(sim, conversation_id, T0 + 10 * i, "agent_a" if i % 2 == 0 else "agent_b")
    newest_first = made[::-1]

    assert ids(listing(sim).json()) == newest_first
    # both bounds are inclusive
    window = listing(sim, call_start_after_unix=T0 + 10, call_start_before_unix=T0 + 30).json()
    assert ids(window) == [made[3], made[2], made[1]]
    assert ids(listing(sim, call_start_after_unix=T0 + 41).json()) == [made[5]]
    assert ids(listing(sim, call_start_before_unix=T0 + 9).json()) == [made[0]]
    assert ids(listing(sim, call_start_after_unix=T0 + 51).json()) == []
    assert ids(listing(sim, agent_id="agent_b").json()) == [made[5], made[3], made[1]]
    both = listing(sim, agent_id="agent_a", call_start_after_unix=T0 + 20).json()
    assert ids(both) == [made[4], made[2]]
    assert {row["agent_id"] for row in both["conversations"]} == {"agent_a"}
    assert ids(listing(sim, agent_id="agent_c").json()) == []


def test_elevenlabs_conversation_list_pages_newest_first_until_has_more_is_false(sim, wait):
    sim.configure(elevenlabs={"api_key": "ek"})
    made = run_conversations(sim, wait, 7)
    for i, conversation_id in enumerate(made):
        restart(sim, conversation_id, T0 + 100 - i)  # the first made is the newest
    restart(sim, made[6], T0 + 95)  # a tie with made[5]: ordered by id

    pages, params = [], {"page_size": 3}
    while True:
        response = listing(sim, **params)
        assert response.status_code == 200
        body = response.json()
        pages.append(body)
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        assert isinstance(body["next_cursor"], str) and body["next_cursor"]
        params["cursor"] = body["next_cursor"]
        assert len(pages) < 10, "the cursor does not advance"
    assert [len(p["conversations"]) for p in pages] == [3, 3, 1]
    listed = [row for page in pages for row in page["conversations"]]
    assert [row["conversation_id"] for row in listed] == made[:5] + sorted(made[5:])
    starts = [row["start_time_unix_secs"] for row in listed]
    assert starts == sorted(starts, reverse=True)


def test_elevenlabs_conversation_list_pages_30_by_default_and_at_most_100(sim, wait):
    sim.configure(elevenlabs={"api_key": "ek"})
    made = run_conversations(sim, wait, 101, duration_s=0)
    first = listing(sim).json()
    assert len(first["conversations"]) == 30 and first["has_more"] is True
    capped = listing(sim, page_size=500).json()
    assert len(capped["conversations"]) == 100 and capped["has_more"] is True
    rest = listing(sim, page_size=500, cursor=capped["next_cursor"]).json()
    assert len(rest["conversations"]) == 1 and rest["has_more"] is False
    assert sorted(ids(capped) + ids(rest)) == sorted(made)


def test_elevenlabs_conversation_list_rejects_malformed_numbers(sim, wait):
    sim.configure(elevenlabs={"api_key": "ek"})
    for params in ({"page_size": "x"}, {"page_size": 0}, {"cursor": "-1"}, {"cursor": "nope"}):
        response = listing(sim, **params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]
    assert listing(sim, call_start_after_unix="soon").status_code == 422
